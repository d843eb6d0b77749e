use anyhow::{bail, Result};
use tch::{Cuda, Device};

/// `cpu`, `cuda` or `cuda:N`; CUDA must be visible to libtorch.
pub fn parse_device(text: &str) -> Result<Device> {
    let device = match text {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => Device::Cuda(0),
        _ => match text.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(index) => Device::Cuda(index),
            None => bail!("--device `{text}`: expected `cpu`, `cuda` or `cuda:N`"),
        },
    };
    let count = Cuda::device_count() as usize;
    if let Device::Cuda(index) = device {
        if index >= count {
            bail!("--device {text}: libtorch sees {count} CUDA device(s) on this machine; use --device cpu");
        }
    }
    Ok(device)
}
