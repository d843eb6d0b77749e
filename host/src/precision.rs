//! Numeric precision of the forward passes: fp32, or mixed precision through libtorch's autocast
//! (bf16 or fp16 for the convolutions and matrix products, fp32 where autocast keeps it), with
//! fp32 master weights, fp32 optimizer state and fp32 checkpoints. fp16 training scales its
//! loss dynamically ([`LossScaler`]), as `torch.amp.GradScaler` does, because fp16 gradients
//! underflow; bf16 has fp32's range and needs no scaling.
//!
//! Also the channels-last-3d memory format, which lets oneDNN's and cuDNN's 3D convolutions run
//! without reordering their input at every layer.

use crate::Network;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::{ffi::CStr, fmt, os::raw::c_char};
use tch::{Device, Kind, Tensor};

extern "C" {
    fn silico_autocast_enter(
        cuda: bool,
        dtype: i32,
        was_enabled: *mut bool,
        was_dtype: *mut i32,
        error: *mut *const c_char,
    ) -> bool;
    fn silico_autocast_exit(
        cuda: bool,
        enabled: bool,
        dtype: i32,
        error: *mut *const c_char,
    ) -> bool;
    fn silico_to_channels_last_3d(
        tensor: *mut torch_sys::C_tensor,
        error: *mut *const c_char,
    ) -> bool;
    fn silico_channels_last_3d_copy(
        tensor: *mut torch_sys::C_tensor,
        out: *mut *mut torch_sys::C_tensor,
        error: *mut *const c_char,
    ) -> bool;
    fn silico_is_channels_last_3d(tensor: *mut torch_sys::C_tensor) -> bool;
}

/// The precision of forward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Fp32,
    Bf16,
    Fp16,
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
        })
    }
}

impl Precision {
    /// The autocast dtype as its `at::ScalarType` code, `None` for fp32.
    fn scalar_type(self) -> Option<i32> {
        match self {
            Precision::Fp32 => None,
            Precision::Bf16 => Some(15),
            Precision::Fp16 => Some(5),
        }
    }

    /// Runs `f` with autocast to this precision on `device` (plain fp32 for [`Precision::Fp32`]).
    pub fn run<T>(self, device: Device, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let Some(scalar_type) = self.scalar_type() else {
            return f();
        };
        let _guard = Autocast::enter(device, scalar_type, self)?;
        f()
    }

    /// The precision `auto` picks for prediction on `device`: bf16 where the hardware computes
    /// it natively (a CPU with AVX-512 BF16, a CUDA GPU of compute capability 8.0 or
    /// newer), fp32 elsewhere; with the reason, for the user.
    pub fn native(device: Device) -> (Self, &'static str) {
        match device {
            // Native from Ampere (compute capability 8.0) on; older GPUs want --precision fp16.
            Device::Cuda(_) => (
                Precision::Bf16,
                "CUDA computes bf16 natively from Ampere on",
            ),
            _ if cpu_has_native_bf16() => (Precision::Bf16, "this CPU computes bf16 natively"),
            _ => (Precision::Fp32, "this CPU has no native bf16"),
        }
    }
}

fn cpu_has_native_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // Every CPU with AMX-BF16 also has AVX-512 BF16.
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("bf16")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

fn error_text(error: *const c_char) -> String {
    if error.is_null() {
        return "unknown libtorch error".into();
    }
    // SAFETY: the shim hands out a NUL-terminated thread-local buffer.
    let text = unsafe { CStr::from_ptr(error) }.to_string_lossy();
    text.lines().next().unwrap_or_default().to_string()
}

/// Autocast enabled on one device type for the current thread until dropped; nests.
struct Autocast {
    cuda: bool,
    was_enabled: bool,
    was_dtype: i32,
}

impl Autocast {
    fn enter(device: Device, scalar_type: i32, precision: Precision) -> Result<Self> {
        let cuda = device.is_cuda();
        let (mut was_enabled, mut was_dtype, mut error) = (false, 0, std::ptr::null());
        // SAFETY: plain values and out-pointers to locals.
        let ok = unsafe {
            silico_autocast_enter(
                cuda,
                scalar_type,
                &mut was_enabled,
                &mut was_dtype,
                &mut error,
            )
        };
        if !ok {
            bail!("cannot enable {precision} autocast: {}", error_text(error));
        }
        Ok(Self {
            cuda,
            was_enabled,
            was_dtype,
        })
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        let mut error = std::ptr::null();
        // SAFETY: restores the values `enter` read; the shim catches every exception.
        let ok = unsafe {
            silico_autocast_exit(self.cuda, self.was_enabled, self.was_dtype, &mut error)
        };
        debug_assert!(ok, "autocast exit failed: {}", error_text(error));
    }
}

/// How a model's forward passes compute: where, at which precision, in which layout. The
/// trainer and the predictor share it, so that a model predicts as it was trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numerics {
    pub device: Device,
    pub precision: Precision,
    pub channels_last: bool,
}

impl Numerics {
    pub fn new(device: Device, precision: Precision, memory_format: MemoryFormat) -> Self {
        Self {
            device,
            precision,
            channels_last: memory_format == MemoryFormat::ChannelsLast,
        }
    }

    /// Stores `network`'s convolution weights in this layout, in place (before any optimizer
    /// exists, whose moments take the parameters' layout).
    pub fn lay_out(&self, network: &Network) -> Result<()> {
        if self.channels_last {
            to_channels_last_3d(&network.parameters()?)?;
        }
        Ok(())
    }

    /// `network`'s forward pass at this precision and layout; the output in fp32.
    pub fn forward(&self, network: &Network, input: &Tensor, train: bool) -> Result<Tensor> {
        let input = if self.channels_last {
            channels_last_3d(input)?
        } else {
            input.shallow_clone()
        };
        let output = self
            .precision
            .run(self.device, || network.forward_t(&input, train))?;
        Ok(output.f_to_kind(Kind::Float)?)
    }
}

/// Stores every 5-D tensor of `tensors` (convolution weights) in channels-last-3d order, in
/// place: the networks holding them see the new layout.
pub fn to_channels_last_3d(tensors: &[Tensor]) -> Result<()> {
    let _no_grad = tch::no_grad_guard();
    for tensor in tensors {
        let mut error = std::ptr::null();
        // SAFETY: a live tensor; `set_data` keeps its identity for the network that owns it.
        if !unsafe { silico_to_channels_last_3d(tensor.as_ptr() as *mut _, &mut error) } {
            bail!("cannot store a weight channels-last: {}", error_text(error));
        }
    }
    Ok(())
}

/// A channels-last-3d copy of a 5-D (N, C, D, H, W) tensor.
pub fn channels_last_3d(tensor: &Tensor) -> Result<Tensor> {
    let (mut out, mut error) = (std::ptr::null_mut(), std::ptr::null());
    // SAFETY: a live tensor in, a new owned tensor out.
    if !unsafe { silico_channels_last_3d_copy(tensor.as_ptr() as *mut _, &mut out, &mut error) } {
        bail!(
            "cannot make a channels-last copy of a {:?} tensor: {}",
            tensor.size(),
            error_text(error)
        );
    }
    // SAFETY: the shim allocated `out` with `new at::Tensor`, which tch frees with `delete`.
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// Whether a tensor is 5-D and stored channels-last-3d.
pub fn is_channels_last_3d(tensor: &Tensor) -> bool {
    // SAFETY: a read-only query of a live tensor.
    unsafe { silico_is_channels_last_3d(tensor.as_ptr() as *mut _) }
}

/// Dynamic loss scaling for fp16 training (Micikevicius et al. 2018; `torch.amp.GradScaler`'s
/// defaults): the loss is multiplied by `scale` before the backward pass, the gradients divided
/// by it before the step; a step whose gradients overflow is skipped and halves the scale, and
/// every 2000 good steps in a row double it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    pub scale: f64,
    /// Good steps since the scale last changed.
    pub good_steps: u64,
}

impl Default for LossScaler {
    fn default() -> Self {
        Self {
            scale: 65536.0,
            good_steps: 0,
        }
    }
}

const GROWTH_INTERVAL: u64 = 2000;

impl LossScaler {
    /// Divides the gradients of `parameters` by the scale; returns false (and backs the scale
    /// off) when one of them is not finite, in which case the step must be skipped.
    pub fn unscale(&mut self, parameters: &[Tensor]) -> Result<bool> {
        let _no_grad = tch::no_grad_guard();
        // One device-to-host read for all gradients, not one per tensor.
        let mut non_finite: Option<Tensor> = None;
        for p in parameters {
            let mut grad = p.grad();
            if !grad.defined() {
                continue;
            }
            let _ = grad.f_div_scalar_(self.scale)?;
            let bad = grad.f_isfinite()?.f_logical_not()?.f_any()?;
            non_finite = Some(match non_finite {
                Some(sum) => sum.f_logical_or(&bad)?,
                None => bad,
            });
        }
        let finite = non_finite.is_none_or(|t| t.int64_value(&[]) == 0);
        if finite {
            self.good_steps += 1;
            if self.good_steps == GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            self.scale /= 2.0;
            self.good_steps = 0;
        }
        Ok(finite)
    }
}

/// How 5-D weights and activations are laid out in memory. Which one is faster depends on the
/// network, its widths and the device (oneDNN on 2 AVX-512 cores: channels-last trains the
/// paper U-Net 1.3× faster in fp32 and the tiny R2U-Net 7×, but the tiny U-Net 3× slower), so
/// it is a setting of each model, measured with `silico bench speed --memory-format`, and
/// never chosen by timing at run time, which would make a seed's result depend on the
/// machine's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryFormat {
    #[default]
    Contiguous,
    ChannelsLast,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(input: &Tensor, weight: &Tensor) -> Tensor {
        input.conv3d::<Tensor>(weight, None, [1, 1, 1], [1, 1, 1], [1, 1, 1], 1)
    }

    #[test]
    fn autocast_lowers_the_convolutions_inside_only_and_nests() {
        let input = Tensor::randn([1, 2, 4, 4, 4], (Kind::Float, Device::Cpu));
        let weight = Tensor::randn([3, 2, 3, 3, 3], (Kind::Float, Device::Cpu));
        let inside = Precision::Bf16
            .run(Device::Cpu, || {
                let nested = Precision::Bf16.run(Device::Cpu, || Ok(conv(&input, &weight)))?;
                // Still on after the inner guard ends.
                Ok((nested, conv(&input, &weight)))
            })
            .unwrap();
        assert_eq!(inside.0.kind(), Kind::BFloat16);
        assert_eq!(inside.1.kind(), Kind::BFloat16);
        assert_eq!(conv(&input, &weight).kind(), Kind::Float, "off again after");
        let fp32 = Precision::Fp32
            .run(Device::Cpu, || Ok(conv(&input, &weight)))
            .unwrap();
        assert_eq!(fp32.kind(), Kind::Float);
        let difference = (inside.0.to_kind(Kind::Float) - &fp32).abs().max();
        assert!(difference.double_value(&[]) < 0.1 * fp32.abs().max().double_value(&[]));
    }

    #[test]
    fn channels_last_keeps_values_and_identity() {
        let weight = Tensor::randn([3, 2, 3, 3, 3], (Kind::Float, Device::Cpu));
        let alias = weight.shallow_clone();
        let before = weight.copy();
        to_channels_last_3d(std::slice::from_ref(&weight)).unwrap();
        assert!(
            is_channels_last_3d(&alias),
            "the network's own tensor changed layout"
        );
        assert!(alias.equal(&before));
        let copy = channels_last_3d(&before).unwrap();
        assert!(is_channels_last_3d(&copy) && !is_channels_last_3d(&before));
        // A 1×1×1 kernel is contiguous in both layouts; it gets channels-last strides anyway,
        // as module.to(memory_format=torch.channels_last_3d) gives it, so that a convolution
        // with a contiguous input still answers in channels-last.
        let pointwise = Tensor::randn([16, 8, 1, 1, 1], (Kind::Float, Device::Cpu));
        to_channels_last_3d(std::slice::from_ref(&pointwise)).unwrap();
        assert_eq!(pointwise.stride(), [8, 1, 8, 8, 8]);
        let input = Tensor::randn([2, 8, 4, 4, 4], (Kind::Float, Device::Cpu));
        assert!(is_channels_last_3d(&input.conv3d(
            &pointwise,
            None::<Tensor>,
            [1, 1, 1],
            [0, 0, 0],
            [1, 1, 1],
            1
        )));
        // Tensors that are not 5-D are left as they are.
        let bias = Tensor::randn([3], (Kind::Float, Device::Cpu));
        to_channels_last_3d(std::slice::from_ref(&bias)).unwrap();
        assert!(!is_channels_last_3d(&bias));
    }

    fn with_gradient(values: &[f32]) -> Tensor {
        let p = Tensor::zeros([values.len() as i64], (Kind::Float, Device::Cpu))
            .set_requires_grad(true);
        (&p * Tensor::from_slice(values))
            .sum(Kind::Float)
            .backward();
        p
    }

    #[test]
    fn the_loss_scale_backs_off_on_overflow_and_grows_after_good_steps() {
        let mut scaler = LossScaler::default();
        let good = with_gradient(&[65536.0, -131072.0]);
        assert!(scaler.unscale(std::slice::from_ref(&good)).unwrap());
        assert_eq!(Vec::<f32>::try_from(good.grad()).unwrap(), vec![1.0, -2.0]);
        assert_eq!(scaler.good_steps, 1);
        let overflowed = with_gradient(&[f32::INFINITY, 1.0]);
        assert!(!scaler.unscale(&[good, overflowed]).unwrap());
        assert_eq!(scaler.scale, 32768.0);
        assert_eq!(scaler.good_steps, 0);
        for _ in 0..GROWTH_INTERVAL {
            assert!(scaler.unscale(&[with_gradient(&[1.0])]).unwrap());
        }
        assert_eq!(scaler.scale, 65536.0, "doubled after 2000 good steps");
        assert_eq!(scaler.good_steps, 0);
    }
}
