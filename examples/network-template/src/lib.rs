//! A complete network plugin in one file, to copy: two levels of the 3D U-Net of Çiçek et al.,
//! "3D U-Net: Learning Dense Volumetric Segmentation from Sparse Annotation", MICCAI 2016
//! (Fig. 1), which has four: one analysis level, one max-pool down, one synthesis level.
//!
//! ```text
//! input ─ [conv 3³ → norm → ReLU] × 2 ─────────── skip ───────────┐
//!           (channels)                                            concat ─ [conv 3³ → norm → ReLU] × 2 ─ conv 1³ ─ output
//!           └ max-pool 2³ ─ [conv 3³ → norm → ReLU] × 2 ─ up-conv 2³ ┘       (channels)
//!                             (2 · channels)
//! ```
//!
//! Inputs must be even along Z, Y and X. A plugin author writes a config struct, a type
//! implementing `Component` and `Network` (its variables live in a `tch` `VarStore`, which
//! the host saves, loads and moves to the device), and one `export_plugin!`; the shared
//! building blocks come from `silico_layers`.

use silico_layers::{check_input, conv3d, Norm3d, NormKind};
use silico_plugin_api::prelude::*;

/// Every key a registry may set on this component; unset keys take these defaults.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct TwoLevelUNet3dConfig {
    /// Channels of the top level; the bottom level has twice as many (Çiçek et al.: 32).
    pub channels: i64,
    /// Normalization after every 3×3×3 conv: `"batch"` (Çiçek et al.), `"instance"` or
    /// `"none"`.
    pub norm: NormKind,
}

impl Default for TwoLevelUNet3dConfig {
    fn default() -> Self {
        Self {
            channels: 16,
            norm: NormKind::Batch,
        }
    }
}

/// [conv 3×3×3 → norm → ReLU] × 2.
struct DoubleConv {
    conv1: nn::Conv3D,
    norm1: Norm3d,
    conv2: nn::Conv3D,
    norm2: Norm3d,
}

impl DoubleConv {
    /// Variables are named `p.conv1.weight`, `p.norm1.running_mean`, … (what checkpoints store).
    fn new(p: nn::Path, c_in: i64, c_out: i64, norm: NormKind) -> Self {
        Self {
            conv1: conv3d(&p / "conv1", c_in, c_out, 3, 1, 1),
            norm1: Norm3d::new(&p / "norm1", norm, c_out),
            conv2: conv3d(&p / "conv2", c_out, c_out, 3, 1, 1),
            norm2: Norm3d::new(&p / "norm2", norm, c_out),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = self.norm1.forward_t(&x.apply(&self.conv1), train).relu();
        self.norm2.forward_t(&x.apply(&self.conv2), train).relu()
    }
}

pub struct TwoLevelUNet3d {
    store: nn::VarStore,
    encoder: DoubleConv,
    bottom: DoubleConv,
    up: nn::ConvTranspose3D,
    decoder: DoubleConv,
    head: nn::Conv3D,
}

impl Component for TwoLevelUNet3d {
    /// The name a registry uses: `generator = { component = "two-level-unet3d", channels = 8 }`.
    const NAME: &'static str = "two-level-unet3d";
    const SUMMARY: &'static str = "Two-level 3D U-Net (Çiçek et al. 2016), the network template";
    type Config = TwoLevelUNet3dConfig;
}

impl Network for TwoLevelUNet3d {
    fn build(config: TwoLevelUNet3dConfig, spec: NetworkSpec) -> Result<Self, PluginError> {
        if config.channels < 1 {
            return Err(PluginError::new(format!(
                "key `channels` must be at least 1, got {}",
                config.channels
            )));
        }
        // Built on the CPU; the host moves the store to the training device.
        let store = nn::VarStore::new(Device::Cpu);
        let root = store.root();
        let (top, bottom) = (config.channels, 2 * config.channels);
        let up_config = nn::ConvTransposeConfig {
            stride: 2,
            ..Default::default()
        };
        Ok(Self {
            encoder: DoubleConv::new(&root / "encoder", spec.in_channels, top, config.norm),
            bottom: DoubleConv::new(&root / "bottom", top, bottom, config.norm),
            up: nn::conv_transpose3d(&root / "up", bottom, top, 2, up_config),
            decoder: DoubleConv::new(&root / "decoder", 2 * top, top, config.norm),
            head: conv3d(&root / "head", top, spec.out_channels, 1, 1, 0),
            store,
        })
    }

    /// `input` is (N, C, Z, Y, X); the output has the same grid and `spec.out_channels`.
    fn forward_t(&self, input: &Tensor, train: bool) -> Result<Tensor, PluginError> {
        check_input(&input.size(), 2).map_err(PluginError::new)?;
        let skip = self.encoder.forward_t(input, train);
        let down = skip.max_pool3d([2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], false);
        let up = self.bottom.forward_t(&down, train).apply(&self.up);
        let merged = Tensor::cat(&[skip, up], 1);
        Ok(self.decoder.forward_t(&merged, train).apply(&self.head))
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.store
    }

    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.store
    }
}

silico_plugin_api::export_plugin! {
    generators: [TwoLevelUNet3d],
}

// The tests build the network as the host does (from its registry table as TOML) and check
// output shapes, finite gradients for every parameter, the state round trip and that a
// misspelt key is refused; each case takes milliseconds at these sizes.
#[cfg(test)]
mod tests {
    use super::*;
    use silico_plugin_api::testing::check_network;

    fn spec(out_channels: i64) -> NetworkSpec {
        NetworkSpec {
            in_channels: 1,
            out_channels,
        }
    }

    #[test]
    fn output_keeps_the_input_grid() {
        for (config, [n, c, z, y, x], out_channels) in [
            ("channels = 2", [1, 1, 4, 4, 4], 1),
            ("channels = 3\nnorm = \"instance\"", [2, 1, 6, 4, 8], 2),
            ("channels = 1\nnorm = \"none\"", [1, 1, 2, 2, 2], 1),
        ] {
            check_network::<TwoLevelUNet3d>(
                config,
                spec(out_channels),
                [n, c, z, y, x],
                [n, out_channels, z, y, x],
            )
            .unwrap();
        }
    }

    #[test]
    fn variables_are_named_by_block() {
        let report = check_network::<TwoLevelUNet3d>(
            "channels = 2",
            spec(1),
            [1, 1, 4, 4, 4],
            [1, 1, 4, 4, 4],
        )
        .unwrap();
        for name in [
            "encoder.conv1.weight",
            "bottom.norm2.running_var",
            "up.weight",
            "decoder.conv1.weight",
            "head.bias",
        ] {
            assert!(report.state_names.iter().any(|n| n == name), "{name}");
        }
    }

    #[test]
    fn odd_sizes_and_empty_levels_are_refused() {
        let net = TwoLevelUNet3d::build(Default::default(), spec(1)).unwrap();
        let input = Tensor::zeros([1, 1, 4, 3, 4], (Kind::Float, Device::Cpu));
        let err = net.forward_t(&input, false).unwrap_err();
        assert!(err.message().contains("multiples of 2"), "{err}");
        let config = TwoLevelUNet3dConfig {
            channels: 0,
            ..Default::default()
        };
        let err = TwoLevelUNet3d::build(config, spec(1)).err().unwrap();
        assert_eq!(err.message(), "key `channels` must be at least 1, got 0");
    }
}
