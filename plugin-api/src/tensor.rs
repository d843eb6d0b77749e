//! Tensors and devices at the boundary.

use abi_stable::StableAbi;
use std::ffi::c_void;
use tch::{Device, Tensor};

/// An owned libtorch tensor crossing the plugin boundary.
///
/// It holds the pointer to a heap `torch::Tensor` (itself a reference-counted handle), so
/// moving it between host and plugin copies no data and keeps the autograd history: both sides
/// link the same shared libtorch.
#[repr(transparent)]
#[derive(StableAbi)]
pub struct RTensor {
    handle: *mut c_void,
}

// SAFETY: a `torch::Tensor` handle may move between threads (`tch::Tensor` is `Send`).
unsafe impl Send for RTensor {}

impl From<Tensor> for RTensor {
    fn from(mut tensor: Tensor) -> Self {
        let handle = tensor.as_mut_ptr().cast::<c_void>();
        // Ownership of the handle moves into `RTensor`; its `Drop` frees it.
        std::mem::forget(tensor);
        Self { handle }
    }
}

impl RTensor {
    /// Takes the tensor back, without a copy.
    pub fn into_tensor(self) -> Tensor {
        let handle = self.handle;
        std::mem::forget(self);
        // SAFETY: `handle` came from a live `Tensor` whose ownership we held.
        unsafe { Tensor::from_ptr(handle.cast()) }
    }

    /// A new handle sharing storage and autograd history with this one (no data copy).
    pub fn to_tensor(&self) -> Tensor {
        // SAFETY: `handle` is live for as long as `self`.
        unsafe { Tensor::clone_from_ptr(self.handle.cast()) }
    }
}

impl Clone for RTensor {
    fn clone(&self) -> Self {
        self.to_tensor().into()
    }
}

impl Drop for RTensor {
    fn drop(&mut self) {
        // SAFETY: we own `handle`; rebuilding the `Tensor` frees it exactly once.
        drop(unsafe { Tensor::from_ptr(self.handle.cast()) });
    }
}

/// A compute device, as it crosses the boundary.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RDevice {
    Cpu,
    Cuda(u32),
}

impl From<Device> for RDevice {
    fn from(device: Device) -> Self {
        match device {
            Device::Cuda(index) => RDevice::Cuda(index as u32),
            _ => RDevice::Cpu,
        }
    }
}

impl From<RDevice> for Device {
    fn from(device: RDevice) -> Self {
        match device {
            RDevice::Cpu => Device::Cpu,
            RDevice::Cuda(index) => Device::Cuda(index as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_storage_and_autograd() {
        let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0]).set_requires_grad(true);
        let crossed = RTensor::from(x.shallow_clone()).into_tensor();
        assert_eq!(crossed.data_ptr(), x.data_ptr(), "no copy");
        (&crossed * &crossed).sum(tch::Kind::Float).backward();
        assert_eq!(Vec::<f32>::try_from(x.grad()).unwrap(), vec![2.0, 4.0, 6.0]);
    }

    #[test]
    fn shared_handle_outlives_original() {
        let handle = RTensor::from(Tensor::from_slice(&[5i64]));
        let view = handle.to_tensor();
        drop(handle);
        assert_eq!(view.int64_value(&[0]), 5);
    }
}
