//! The generator of Vox2Vox-RU (Sun et al., Bioinformatics 2022, Section 2.2 and Supplementary
//! Figure S1): a 3D R2U-Net (Alom et al., "Recurrent residual U-Net for medical image
//! segmentation", J. Med. Imaging 2019; 2D original code: LeeJunHyun/Image_Segmentation
//! `network.py`, `RRCNN_block`, `Recurrent_block`, `up_conv`).
//!
//! Every convolution block of the U-Net is a recurrent residual convolutional unit (RRCU): a
//! 1×1×1 conv to the block's width, then two recurrent layers, each one 3×3×3 conv + norm +
//! ReLU applied with shared weights first to x and then `t` times to (x + its last output), and
//! a residual sum around the two. Recurrence deepens the network without adding parameters.
//! Levels go down by 2×2×2 max-pooling and up by nearest ×2 upsampling + conv + norm + ReLU,
//! with skip concatenation; a 1×1×1 conv maps to the output channels, without activation.

use silico_layers::{check_input, conv3d, Norm3d, NormKind};
use silico_plugin_api::prelude::*;
use tch::nn::{self, Module};

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct R2UNet3dConfig {
    /// Channels of the top level; doubled at every level below (R2U-Net: 64).
    pub base_channels: i64,
    /// Number of down/up levels (R2U-Net: 4).
    pub depth: u32,
    /// Extra applications of each recurrent layer's conv (R2U-Net: 2).
    pub t: u32,
    pub norm: NormKind,
}

impl Default for R2UNet3dConfig {
    fn default() -> Self {
        // Narrower than R2U-Net's 64 so that training fits a CPU; the registry sets the size.
        Self {
            base_channels: 16,
            depth: 3,
            t: 2,
            norm: NormKind::Batch,
        }
    }
}

/// conv 3×3×3 → norm → ReLU, applied to x and then `t` times to x + its last output.
struct RecurrentLayer {
    conv: nn::Conv3D,
    norm: Norm3d,
    t: u32,
}

impl RecurrentLayer {
    fn new(p: nn::Path, channels: i64, t: u32, norm: NormKind) -> Self {
        Self {
            conv: conv3d(&p / "conv", channels, channels, 3, 1, 1),
            norm: Norm3d::new(&p / "norm", norm, channels),
            t,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let unit = |input: &Tensor| self.norm.forward_t(&self.conv.forward(input), train).relu();
        let mut out = unit(x);
        for _ in 0..self.t {
            out = unit(&(x + &out));
        }
        out
    }
}

/// The recurrent residual convolutional unit (`RRCNN_block`).
struct Rrcu {
    widen: nn::Conv3D,
    first: RecurrentLayer,
    second: RecurrentLayer,
}

impl Rrcu {
    fn new(p: nn::Path, c_in: i64, c_out: i64, config: &R2UNet3dConfig) -> Self {
        Self {
            widen: conv3d(&p / "conv1x1", c_in, c_out, 1, 1, 0),
            first: RecurrentLayer::new(&p / "rec1", c_out, config.t, config.norm),
            second: RecurrentLayer::new(&p / "rec2", c_out, config.t, config.norm),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = self.widen.forward(x);
        let inner = self
            .second
            .forward_t(&self.first.forward_t(&x, train), train);
        x + inner
    }
}

/// Nearest ×2 upsampling → conv 3×3×3 → norm → ReLU (`up_conv`).
struct UpConv {
    conv: nn::Conv3D,
    norm: Norm3d,
}

impl UpConv {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let size = x.size();
        let up = x.upsample_nearest3d([size[2] * 2, size[3] * 2, size[4] * 2], None, None, None);
        self.norm.forward_t(&self.conv.forward(&up), train).relu()
    }
}

pub struct R2UNet3d {
    store: nn::VarStore,
    encoders: Vec<Rrcu>,
    ups: Vec<UpConv>,
    decoders: Vec<Rrcu>,
    head: nn::Conv3D,
    multiple: i64,
}

impl Component for R2UNet3d {
    const NAME: &'static str = "r2unet3d";
    const SUMMARY: &'static str =
        "Vox2Vox-RU generator: 3D R2U-Net with recurrent residual conv units (Alom et al. 2019)";
    type Config = R2UNet3dConfig;
}

impl Network for R2UNet3d {
    fn build(config: R2UNet3dConfig, spec: NetworkSpec) -> Result<Self, PluginError> {
        if config.base_channels < 1 || config.depth > 6 {
            return Err(PluginError::new(format!(
                "key `base_channels` must be ≥ 1 and `depth` ≤ 6, got base_channels = {}, depth = {}",
                config.base_channels, config.depth
            )));
        }
        let store = nn::VarStore::new(Device::Cpu);
        let root = store.root();
        let width = |level: u32| config.base_channels << level;
        let encoders = (0..=config.depth)
            .map(|level| {
                let c_in = if level == 0 {
                    spec.in_channels
                } else {
                    width(level - 1)
                };
                Rrcu::new(&root / "encoders" / level, c_in, width(level), &config)
            })
            .collect();
        let (mut ups, mut decoders) = (Vec::new(), Vec::new());
        for level in (0..config.depth).rev() {
            let p = &root / "ups" / level;
            ups.push(UpConv {
                conv: conv3d(&p / "conv", width(level + 1), width(level), 3, 1, 1),
                norm: Norm3d::new(&p / "norm", config.norm, width(level)),
            });
            decoders.push(Rrcu::new(
                &root / "decoders" / level,
                2 * width(level),
                width(level),
                &config,
            ));
        }
        let head = conv3d(&root / "head", width(0), spec.out_channels, 1, 1, 0);
        Ok(Self {
            store,
            encoders,
            ups,
            decoders,
            head,
            multiple: 1 << config.depth,
        })
    }

    fn forward_t(&self, input: &Tensor, train: bool) -> Result<Tensor, PluginError> {
        check_input(&input.size(), self.multiple).map_err(PluginError::new)?;
        let mut skips = Vec::with_capacity(self.encoders.len());
        let mut x = input.shallow_clone();
        for (level, encoder) in self.encoders.iter().enumerate() {
            if level > 0 {
                x = x.max_pool3d([2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], false);
            }
            x = encoder.forward_t(&x, train);
            skips.push(x.shallow_clone());
        }
        skips.pop();
        for (up, decoder) in self.ups.iter().zip(&self.decoders) {
            let skip = skips.pop().expect("one skip per decoder level");
            x = decoder.forward_t(&Tensor::cat(&[skip, up.forward_t(&x, train)], 1), train);
        }
        Ok(self.head.forward(&x))
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.store
    }

    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.store
    }
}

silico_plugin_api::export_plugin! {
    generators: [R2UNet3d],
}

#[cfg(test)]
mod tests {
    use super::*;
    use silico_plugin_api::testing::check_network;

    const SPEC: NetworkSpec = NetworkSpec {
        in_channels: 1,
        out_channels: 2,
    };

    #[test]
    fn shapes_gradients_state_and_config_through_the_host_adapter() {
        for (config, [n, c, z, y, x]) in [
            ("base_channels = 2\ndepth = 1\nt = 1", [1, 1, 4, 4, 4]),
            (
                "base_channels = 2\ndepth = 2\nt = 2\nnorm = \"instance\"",
                [2, 1, 8, 4, 8],
            ),
            (
                "base_channels = 1\ndepth = 0\nt = 0\nnorm = \"none\"",
                [1, 1, 3, 2, 5],
            ),
        ] {
            check_network::<R2UNet3d>(config, SPEC, [n, c, z, y, x], [n, 2, z, y, x]).unwrap();
        }
    }

    #[test]
    fn variables_are_named_by_level_and_layer() {
        let report = check_network::<R2UNet3d>(
            "base_channels = 2\ndepth = 1\nt = 1",
            SPEC,
            [1, 1, 4, 4, 4],
            [1, 2, 4, 4, 4],
        )
        .unwrap();
        for name in [
            "encoders.0.conv1x1.weight",
            "encoders.1.rec2.norm.running_var",
            "ups.0.conv.bias",
            "decoders.0.rec1.conv.weight",
            "head.weight",
        ] {
            assert!(report.state_names.iter().any(|n| n == name), "{name}");
        }
    }

    #[test]
    fn recurrence_adds_no_parameters() {
        let parameters = |t: u32| {
            check_network::<R2UNet3d>(
                &format!("base_channels = 2\ndepth = 1\nt = {t}"),
                SPEC,
                [1, 1, 4, 4, 4],
                [1, 2, 4, 4, 4],
            )
            .unwrap()
            .parameter_values
        };
        assert_eq!(parameters(0), parameters(3));
    }
}
