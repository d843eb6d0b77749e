//! Building blocks shared by silico's network plugins, one place for each: 3D convolutions with
//! PyTorch's defaults, the normalization choices of the three model families (BatchNorm in
//! pytorch_fnet's U-Net and R2U-Net, InstanceNorm in Vox2Vox), LeakyReLU, and the input-size
//! check every down-sampling network needs.
//!
//! Every tensor is (N, C, Z, Y, X). Layers take a `tch` [`nn::Path`] into the network's
//! `VarStore`, which names their variables as a PyTorch state dict would (`p.weight`,
//! `p.bias`, `p.running_mean`, …), so checkpoints and PyTorch weights line up. A plugin outside
//! `plugins/` depends on this crate by path (`silico-layers = { path = "<silico>/plugins/layers" }`;
//! examples/network-template does).
//!
//! ```
//! use silico_layers::{check_input, conv3d, leaky_relu, Norm3d, NormKind};
//! use tch::{nn, Device, Kind, Tensor};
//!
//! let store = nn::VarStore::new(Device::Cpu);
//! let p = store.root() / "block";
//! let conv = conv3d(&p / "conv", 1, 4, 3, 1, 1); // 3×3×3, stride 1, padding 1
//! let norm = Norm3d::new(&p / "norm", NormKind::Batch, 4);
//!
//! let x = Tensor::randn([2, 1, 8, 8, 8], (Kind::Float, Device::Cpu));
//! check_input(&x.size(), 4).unwrap(); // Z, Y, X divisible by 4, e.g. for two levels
//! let y = leaky_relu(&norm.forward_t(&x.apply(&conv), true));
//! assert_eq!(y.size(), [2, 4, 8, 8, 8]);
//! assert!(store.variables().contains_key("block.norm.running_mean"));
//! ```

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

/// `Conv3d(c_in, c_out, kernel, stride, padding)` with a bias, as PyTorch builds it: a cubic
/// kernel, the same stride and zero padding along Z, Y and X, and PyTorch's default
/// (Kaiming-uniform) initialization. Its variables are `p.weight` (c_out, c_in, k, k, k) and
/// `p.bias` (c_out).
pub fn conv3d(
    p: nn::Path,
    c_in: i64,
    c_out: i64,
    kernel: i64,
    stride: i64,
    padding: i64,
) -> nn::Conv3D {
    let config = nn::ConvConfig {
        stride,
        padding,
        ..Default::default()
    };
    nn::conv3d(p, c_in, c_out, kernel, config)
}

/// Which normalization follows a convolution; in a registry table, `"batch"`, `"instance"` or
/// `"none"`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// `BatchNorm3d`: learned scale and shift, running statistics for evaluation.
    Batch,
    /// `InstanceNorm3d(affine=False)`: per-sample statistics, no parameters (Vox2Vox).
    Instance,
    None,
}

/// A normalization layer over (N, C, Z, Y, X).
#[derive(Debug)]
pub enum Norm3d {
    Batch(nn::BatchNorm),
    Instance,
    None,
}

impl Norm3d {
    /// A norm over `channels` channels. Variables of a batch norm are named `p.weight`,
    /// `p.bias`, `p.running_mean`, `p.running_var`, as in a PyTorch state dict; the other kinds
    /// have none.
    pub fn new(p: nn::Path, kind: NormKind, channels: i64) -> Self {
        match kind {
            NormKind::Batch => Norm3d::Batch(nn::batch_norm3d(p, channels, Default::default())),
            NormKind::Instance => Norm3d::Instance,
            NormKind::None => Norm3d::None,
        }
    }

    /// Normalizes `x`. `train` selects batch statistics (and updates the running ones) or, in
    /// evaluation, the running statistics; instance norm always uses each sample's own.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Norm3d::Batch(bn) => nn::ModuleT::forward_t(bn, x, train),
            Norm3d::Instance => {
                x.instance_norm::<Tensor>(None, None, None, None, true, 0.1, 1e-5, false)
            }
            Norm3d::None => x.shallow_clone(),
        }
    }
}

/// LeakyReLU with slope 0.2 for negative inputs (pix2pix, Vox2Vox), as one fused kernel: tch's
/// `leaky_relu` fixes the slope at 0.01, and `max(x, 0.2·x)` takes 3.5× as long (backward
/// included), so it is PReLU with a constant weight.
pub fn leaky_relu(x: &Tensor) -> Tensor {
    x.prelu(&Tensor::full([1], 0.2, (x.kind(), x.device())))
}

/// Fails unless Z, Y and X of an (N, C, Z, Y, X) input are positive multiples of `multiple`
/// (2^levels for a network that halves the grid `levels` times), with a message naming the
/// shape; a network's `forward_t` calls it first so that a bad patch size is one clear line.
pub fn check_input(size: &[i64], multiple: i64) -> Result<(), String> {
    if size.len() != 5 || size[2..].iter().any(|n| n % multiple != 0 || *n == 0) {
        return Err(format!(
            "input of shape {size:?}: expected (N, C, Z, Y, X) with Z, Y and X positive multiples of {multiple}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::Module, Device, Kind};

    #[test]
    fn conv3d_keeps_or_strides_the_grid() {
        let store = nn::VarStore::new(Device::Cpu);
        let x = Tensor::randn([1, 2, 8, 6, 4], (Kind::Float, Device::Cpu));
        let same = conv3d(store.root() / "same", 2, 3, 3, 1, 1);
        let down = conv3d(store.root() / "down", 2, 3, 2, 2, 0);
        assert_eq!(same.forward(&x).size(), [1, 3, 8, 6, 4]);
        assert_eq!(down.forward(&x).size(), [1, 3, 4, 3, 2]);
        assert_eq!(store.variables()["same.weight"].size(), [3, 2, 3, 3, 3]);
        assert_eq!(store.variables()["down.bias"].size(), [3]);
    }

    #[test]
    fn norms_normalize_and_name_their_variables() {
        let store = nn::VarStore::new(Device::Cpu);
        let x = Tensor::randn([2, 3, 4, 4, 4], (Kind::Float, Device::Cpu)) * 5.0 + 2.0;
        for kind in [NormKind::Batch, NormKind::Instance] {
            let norm = Norm3d::new(store.root() / "norm", kind, 3);
            let y = norm.forward_t(&x, true);
            assert!(
                y.mean(Kind::Float).double_value(&[]).abs() < 1e-4,
                "{kind:?}"
            );
        }
        let none = Norm3d::new(store.root() / "none", NormKind::None, 3);
        assert!(none.forward_t(&x, true).equal(&x));
        let mut names: Vec<String> = store.variables().into_keys().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "norm.bias",
                "norm.running_mean",
                "norm.running_var",
                "norm.weight"
            ]
        );
    }

    #[test]
    fn leaky_relu_scales_negatives_by_a_fifth() {
        let y = leaky_relu(&Tensor::from_slice(&[-1.0f32, 0.0, 2.0]));
        assert_eq!(Vec::<f32>::try_from(y).unwrap(), [-0.2, 0.0, 2.0]);
    }

    #[test]
    fn check_input_wants_five_axes_of_positive_multiples() {
        assert!(check_input(&[1, 1, 8, 4, 12], 4).is_ok());
        for bad in [&[1, 1, 8, 4, 6][..], &[1, 1, 0, 4, 4], &[1, 8, 4, 4]] {
            let err = check_input(bad, 4).unwrap_err();
            assert!(
                err.starts_with(&format!("input of shape {bad:?}: expected")),
                "{err}"
            );
        }
    }

    #[test]
    fn norm_kinds_are_lowercase_in_a_registry() {
        #[derive(Deserialize)]
        struct Table {
            norm: NormKind,
        }
        let table: Table = toml::from_str("norm = \"instance\"").unwrap();
        assert_eq!(table.norm, NormKind::Instance);
    }
}
