//! The 3D U-Net of Ounkomol et al., "Label-free prediction of three-dimensional fluorescence
//! images from transmitted-light microscopy", Nature Methods 2018; original code:
//! pytorch_fnet, `fnet/nn_modules/fnet_nn_3d_params.py` (`Net`, `_Net_recurse`, `SubNet2Conv`).
//!
//! Each level applies two 3×3×3 conv + BatchNorm + ReLU, goes down by a 2×2×2 stride-2 conv
//! (no max-pool), recurses, comes back up by a 2×2×2 stride-2 transposed conv, concatenates the
//! skip and applies two more convs. The top level widens 1 → `mult_chan` channels, every deeper
//! level doubles them; a final 3×3×3 conv maps to the output channels, without activation.
//! Inputs must be multiples of 2^`depth` along each axis.
//!
//! Variables carry pytorch_fnet's state-dict names (`net_recurse.sub_2conv_more.conv1.weight`,
//! …, `conv_out.bias`), so weights move between silico and PyTorch by safetensors.

use silico_layers::{check_input, conv3d};
use silico_plugin_api::prelude::*;
use tch::nn::{self, ModuleT};

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct UNet3dConfig {
    /// Number of down/up levels (pytorch_fnet: 4).
    pub depth: u32,
    /// Channels of the top level (pytorch_fnet: 32); doubled at every level below.
    pub mult_chan: i64,
}

impl Default for UNet3dConfig {
    fn default() -> Self {
        Self {
            depth: 4,
            mult_chan: 32,
        }
    }
}

/// [conv 3×3×3 → BN → ReLU] × 2 (`SubNet2Conv`).
fn two_convs(p: nn::Path, c_in: i64, c_out: i64) -> nn::FuncT<'static> {
    let conv1 = conv3d(&p / "conv1", c_in, c_out, 3, 1, 1);
    let bn1 = nn::batch_norm3d(&p / "bn1", c_out, Default::default());
    let conv2 = conv3d(&p / "conv2", c_out, c_out, 3, 1, 1);
    let bn2 = nn::batch_norm3d(&p / "bn2", c_out, Default::default());
    // Each step replaces the last, so that (without autograd) only two activations are alive
    // at a time: a method chain would keep every temporary until the closure returns.
    nn::func_t(move |x, train| {
        let mut x = x.apply(&conv1);
        x = x.apply_t(&bn1, train);
        x = x.relu();
        x = x.apply(&conv2);
        x = x.apply_t(&bn2, train);
        x.relu()
    })
}

/// One level of the recursion (`_Net_recurse`): `c_in` → `c_in · mult_chan` channels.
fn level(p: nn::Path, c_in: i64, mult_chan: i64, depth: u32) -> nn::FuncT<'static> {
    let c_out = c_in * mult_chan;
    let more = two_convs(&p / "sub_2conv_more", c_in, c_out);
    if depth == 0 {
        return more;
    }
    let less = two_convs(&p / "sub_2conv_less", 2 * c_out, c_out);
    let down = conv3d(&p / "conv_down", c_out, c_out, 2, 2, 0);
    let bn0 = nn::batch_norm3d(&p / "bn0", c_out, Default::default());
    let up_config = nn::ConvTransposeConfig {
        stride: 2,
        ..Default::default()
    };
    let up = nn::conv_transpose3d(&p / "convt", 2 * c_out, c_out, 2, up_config);
    let bn1 = nn::batch_norm3d(&p / "bn1", c_out, Default::default());
    let below = level(&p / "sub_u", c_out, 2, depth - 1);
    nn::func_t(move |x, train| {
        let skip = x.apply_t(&more, train);
        // Replaced step by step, so that the down path's activations are freed before the
        // levels below run.
        let mut x = skip.apply(&down);
        x = x.apply_t(&bn0, train);
        x = x.relu();
        x = x.apply_t(&below, train);
        x = x.apply(&up);
        x = x.apply_t(&bn1, train);
        x = x.relu();
        x = Tensor::cat(&[skip, x], 1);
        x.apply_t(&less, train)
    })
}

pub struct UNet3d {
    store: nn::VarStore,
    net: nn::FuncT<'static>,
    multiple: i64,
}

impl Component for UNet3d {
    const NAME: &'static str = "unet3d";
    const SUMMARY: &'static str =
        "3D U-Net of Ounkomol et al. 2018 (pytorch_fnet), BatchNorm, strided down/up convs";
    type Config = UNet3dConfig;
}

impl Network for UNet3d {
    fn build(config: UNet3dConfig, spec: NetworkSpec) -> Result<Self, PluginError> {
        if config.mult_chan < 1 || config.depth > 8 {
            return Err(PluginError::new(format!(
                "key `mult_chan` must be ≥ 1 and `depth` ≤ 8, got mult_chan = {}, depth = {}",
                config.mult_chan, config.depth
            )));
        }
        let store = nn::VarStore::new(Device::Cpu);
        let root = store.root();
        let body = level(
            &root / "net_recurse",
            spec.in_channels,
            config.mult_chan,
            config.depth,
        );
        let head = conv3d(
            &root / "conv_out",
            config.mult_chan * spec.in_channels,
            spec.out_channels,
            3,
            1,
            1,
        );
        let net = nn::func_t(move |x, train| x.apply_t(&body, train).apply(&head));
        Ok(Self {
            store,
            net,
            multiple: 1 << config.depth,
        })
    }

    fn forward_t(&self, input: &Tensor, train: bool) -> Result<Tensor, PluginError> {
        check_input(&input.size(), self.multiple).map_err(PluginError::new)?;
        Ok(self.net.forward_t(input, train))
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.store
    }

    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.store
    }
}

silico_plugin_api::export_plugin! {
    generators: [UNet3d],
}

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
    fn shapes_gradients_state_and_config_through_the_host_adapter() {
        for (config, [n, c, z, y, x], out_channels) in [
            ("depth = 1\nmult_chan = 2", [1, 1, 4, 4, 4], 1),
            ("depth = 2\nmult_chan = 3", [2, 1, 8, 4, 12], 2),
        ] {
            check_network::<UNet3d>(
                config,
                spec(out_channels),
                [n, c, z, y, x],
                [n, out_channels, z, y, x],
            )
            .unwrap();
        }
    }

    #[test]
    fn variables_carry_pytorch_fnet_names() {
        let report = check_network::<UNet3d>(
            "depth = 1\nmult_chan = 2",
            spec(1),
            [1, 1, 4, 4, 4],
            [1, 1, 4, 4, 4],
        )
        .unwrap();
        for name in [
            "net_recurse.sub_2conv_more.conv1.weight",
            "net_recurse.bn0.running_var",
            "net_recurse.sub_u.sub_2conv_more.bn2.running_mean",
            "net_recurse.convt.weight",
            "conv_out.bias",
        ] {
            assert!(report.state_names.iter().any(|n| n == name), "{name}");
        }
    }

    #[test]
    fn inputs_off_the_level_grid_and_bad_sizes_are_refused() {
        let net = UNet3d::build(
            UNet3dConfig {
                depth: 2,
                mult_chan: 1,
            },
            spec(1),
        )
        .unwrap();
        let input = Tensor::zeros([1, 1, 4, 4, 6], (Kind::Float, Device::Cpu));
        let err = net.forward_t(&input, false).unwrap_err();
        assert!(err.message().contains("multiples of 4"), "{err}");
        let err = UNet3d::build(
            UNet3dConfig {
                depth: 1,
                mult_chan: 0,
            },
            spec(1),
        )
        .err()
        .unwrap();
        assert!(
            err.message().starts_with("key `mult_chan` must be ≥ 1"),
            "{err}"
        );
    }
}
