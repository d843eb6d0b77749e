//! The conditional 3D PatchGAN discriminator of 3D Pix2Pix and Vox2Vox-RU (Sun et al.,
//! Bioinformatics 2022, Supplementary Figure S1; Isola et al., "Image-to-image translation with
//! conditional adversarial networks", CVPR 2017). Default layout of the public PyTorch Vox2Vox
//! (enochkan/vox2vox `models.py`, `Discriminator`): 4×4×4 stride-2 convs of 64, 128, 256 and
//! 512 channels, instance norm on all but the first, LeakyReLU 0.2, then a (1, 0) zero pad and
//! a 4×4×4 conv to one channel of patch logits.
//!
//! It sees the bright-field signal and the target (or a prediction) concatenated on the
//! channel axis, so it judges whether the fluorescence fits that cell.

use silico_layers::{check_input, conv3d, leaky_relu, Norm3d, NormKind};
use silico_plugin_api::prelude::*;
use tch::nn::{self, Module};

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct PatchGan3dConfig {
    /// Channels of the first conv; doubled at every layer (Vox2Vox: 64).
    pub base_channels: i64,
    /// Number of stride-2 convs (Vox2Vox: 4); inputs must be multiples of 2^layers.
    pub layers: u32,
    /// Normalization after every stride-2 conv but the first.
    pub norm: NormKind,
}

impl Default for PatchGan3dConfig {
    fn default() -> Self {
        Self {
            base_channels: 64,
            layers: 4,
            norm: NormKind::Instance,
        }
    }
}

struct DownBlock {
    conv: nn::Conv3D,
    norm: Norm3d,
}

pub struct PatchGan3d {
    store: nn::VarStore,
    blocks: Vec<DownBlock>,
    head: nn::Conv3D,
    multiple: i64,
}

impl Component for PatchGan3d {
    const NAME: &'static str = "patchgan3d";
    const SUMMARY: &'static str =
        "Conditional 3D PatchGAN discriminator (Vox2Vox layout), patch logits";
    type Config = PatchGan3dConfig;
}

impl Network for PatchGan3d {
    fn build(config: PatchGan3dConfig, spec: NetworkSpec) -> Result<Self, PluginError> {
        if config.base_channels < 1 || !(1..=6).contains(&config.layers) {
            return Err(PluginError::new(format!(
                "key `base_channels` must be ≥ 1 and `layers` in 1..=6, got base_channels = {}, layers = {}",
                config.base_channels, config.layers
            )));
        }
        let store = nn::VarStore::new(Device::Cpu);
        let root = store.root();
        let mut c_in = spec.in_channels;
        let blocks = (0..config.layers)
            .map(|i| {
                let c_out = config.base_channels << i;
                let p = &root / "blocks" / i;
                let norm = if i == 0 { NormKind::None } else { config.norm };
                let block = DownBlock {
                    conv: conv3d(&p / "conv", c_in, c_out, 4, 2, 1),
                    norm: Norm3d::new(&p / "norm", norm, c_out),
                };
                c_in = c_out;
                block
            })
            .collect();
        let head = conv3d(&root / "head", c_in, spec.out_channels, 4, 1, 1);
        Ok(Self {
            store,
            blocks,
            head,
            multiple: 1 << config.layers,
        })
    }

    fn forward_t(&self, input: &Tensor, train: bool) -> Result<Tensor, PluginError> {
        check_input(&input.size(), self.multiple).map_err(PluginError::new)?;
        let mut x = input.shallow_clone();
        for block in &self.blocks {
            x = leaky_relu(&block.norm.forward_t(&block.conv.forward(&x), train));
        }
        // Pad one voxel before each axis so the 4×4×4 head keeps the patch grid's size.
        Ok(self.head.forward(&x.constant_pad_nd([1, 0, 1, 0, 1, 0])))
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.store
    }

    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.store
    }
}

silico_plugin_api::export_plugin! {
    discriminators: [PatchGan3d],
}

#[cfg(test)]
mod tests {
    use super::*;
    use silico_plugin_api::testing::check_network;

    /// Bright-field signal and target in, one channel of patch logits out.
    const SPEC: NetworkSpec = NetworkSpec {
        in_channels: 2,
        out_channels: 1,
    };

    #[test]
    fn one_logit_per_patch_through_the_host_adapter() {
        for (config, input, patches) in [
            (
                "base_channels = 2\nlayers = 2",
                [1, 2, 8, 8, 8],
                [1, 1, 2, 2, 2],
            ),
            (
                "base_channels = 2\nlayers = 3\nnorm = \"batch\"",
                [2, 2, 16, 8, 8],
                [2, 1, 2, 1, 1],
            ),
        ] {
            check_network::<PatchGan3d>(config, SPEC, input, patches).unwrap();
        }
    }

    #[test]
    fn the_first_block_has_no_norm() {
        let report = check_network::<PatchGan3d>(
            "base_channels = 2\nlayers = 2\nnorm = \"batch\"",
            SPEC,
            [1, 2, 8, 8, 8],
            [1, 1, 2, 2, 2],
        )
        .unwrap();
        let norms: Vec<&str> = report
            .state_names
            .iter()
            .map(String::as_str)
            .filter(|n| n.contains(".norm."))
            .collect();
        assert!(
            norms.iter().all(|n| n.starts_with("blocks.1.norm.")),
            "{norms:?}"
        );
        assert!(norms.contains(&"blocks.1.norm.running_mean"), "{norms:?}");
    }

    #[test]
    fn layer_counts_outside_one_to_six_are_refused() {
        for layers in [0, 7] {
            let config = PatchGan3dConfig {
                layers,
                ..Default::default()
            };
            let err = PatchGan3d::build(config, SPEC).err().unwrap();
            assert!(err.message().contains("`layers` in 1..=6"), "{err}");
        }
    }
}
