//! Building blocks shared by the network plugins, one place for each: 3D convolutions with
//! PyTorch's defaults and the normalization choices of the three model families (BatchNorm in
//! pytorch_fnet's U-Net and R2U-Net, InstanceNorm in Vox2Vox).

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

/// `Conv3d(c_in, c_out, kernel, stride, padding)` with a bias, as PyTorch builds it.
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

/// Which normalization follows a convolution.
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
    /// Variables of a batch norm are named `p.weight`, `p.bias`, `p.running_mean`,
    /// `p.running_var`, as in a PyTorch state dict.
    pub fn new(p: nn::Path, kind: NormKind, channels: i64) -> Self {
        match kind {
            NormKind::Batch => Norm3d::Batch(nn::batch_norm3d(p, channels, Default::default())),
            NormKind::Instance => Norm3d::Instance,
            NormKind::None => Norm3d::None,
        }
    }

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

/// LeakyReLU with slope 0.2 for negative inputs (pix2pix, Vox2Vox).
pub fn leaky_relu(x: &Tensor) -> Tensor {
    x.maximum(&(x * 0.2))
}

/// Fails unless Z, Y and X of an (N, C, Z, Y, X) input are multiples of `multiple`.
pub fn check_input(size: &[i64], multiple: i64) -> Result<(), String> {
    if size.len() != 5 || size[2..].iter().any(|n| n % multiple != 0 || *n == 0) {
        return Err(format!(
            "input of shape {size:?}: expected (N, C, Z, Y, X) with Z, Y and X positive multiples of {multiple}"
        ));
    }
    Ok(())
}
