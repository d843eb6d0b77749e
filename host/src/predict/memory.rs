//! How much memory prediction may use, and how much a forward pass takes: measured, because a
//! plugin network's activations cannot be known from outside it.
//!
//! On the CPU the peak is the process's resident high-water mark (`VmHWM`), which Linux resets
//! on request (`/proc/self/clear_refs`); on CUDA it is the device memory the caching allocator
//! reserved during the pass (`cudaMemGetInfo` before and after; the allocator keeps what it
//! reserved, so the difference is the pass's peak).

use anyhow::{bail, Context, Result};
use std::{fs, path::Path};
use tch::Device;

/// Bytes prediction may use on `device` unless told, with where the number came from.
pub fn default_budget(device: Device) -> Result<(u64, String)> {
    match device {
        Device::Cuda(index) => {
            let (free, total) = cuda_memory(index)?;
            // cuDNN workspaces and fragmentation come on top of the measured activations.
            let budget = free / 10 * 8;
            Ok((
                budget,
                format!(
                    "80 % of the {:.1} GiB free of cuda:{index}'s {:.1} GiB",
                    gib(free),
                    gib(total)
                ),
            ))
        }
        _ => {
            let available = available_ram()?;
            Ok((
                available / 2,
                format!("half of the {:.1} GiB of memory available", gib(available)),
            ))
        }
    }
}

pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// `MemAvailable`, or less where a cgroup (a Slurm job, a container) limits the process.
fn available_ram() -> Result<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").context("cannot read /proc/meminfo")?;
    let available = kib_field(&meminfo, "MemAvailable:")
        .context("/proc/meminfo has no MemAvailable line")?
        * 1024;
    Ok(cgroup_headroom().map_or(available, |room| room.min(available)))
}

/// The memory left under this process's cgroup v2 limit, if it has one.
fn cgroup_headroom() -> Option<u64> {
    let cgroup = fs::read_to_string("/proc/self/cgroup").ok()?;
    let relative = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = Path::new("/sys/fs/cgroup").join(relative.trim_start_matches('/'));
    let max: u64 = fs::read_to_string(dir.join("memory.max"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let current: u64 = fs::read_to_string(dir.join("memory.current"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(max.saturating_sub(current))
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The peak memory `f` takes on `device` above what was in use before it.
pub fn peak_of<T>(device: Device, f: impl FnOnce() -> Result<T>) -> Result<(T, u64)> {
    match device {
        Device::Cuda(index) => {
            let (free_before, _) = cuda_memory(index)?;
            let value = f()?;
            let (free_after, _) = cuda_memory(index)?;
            Ok((value, free_before.saturating_sub(free_after)))
        }
        _ => {
            let status = || -> Result<String> {
                fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")
            };
            fs::write("/proc/self/clear_refs", "5")
                .context("cannot reset the peak-memory mark (/proc/self/clear_refs); pass --tile or --memory-budget")?;
            let before = kib_field(&status()?, "VmRSS:").context("no VmRSS")?;
            let value = f()?;
            let peak = kib_field(&status()?, "VmHWM:").context("no VmHWM")?;
            Ok((value, peak.saturating_sub(before) * 1024))
        }
    }
}

/// Free and total bytes of a CUDA device, through the CUDA runtime libtorch already loaded.
fn cuda_memory(index: usize) -> Result<(u64, u64)> {
    type SetDevice = unsafe extern "C" fn(i32) -> i32;
    type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> i32;
    let maps = fs::read_to_string("/proc/self/maps").context("cannot read /proc/self/maps")?;
    let Some(path) = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| {
            p.rsplit('/')
                .next()
                .is_some_and(|f| f.starts_with("libcudart.so"))
        })
    else {
        bail!("cannot find the CUDA runtime libtorch loaded, to read free GPU memory; pass --memory-budget or --tile");
    };
    // SAFETY: the library is already mapped; both symbols have these C signatures in every
    // CUDA runtime since 4.0.
    unsafe {
        let library =
            libloading::Library::new(path).with_context(|| format!("cannot open {path}"))?;
        let set_device: libloading::Symbol<SetDevice> = library.get(b"cudaSetDevice")?;
        let mem_get_info: libloading::Symbol<MemGetInfo> = library.get(b"cudaMemGetInfo")?;
        let (mut free, mut total) = (0usize, 0usize);
        let status = set_device(index as i32);
        if status != 0 {
            bail!("cudaSetDevice({index}) failed with CUDA error {status}");
        }
        let status = mem_get_info(&mut free, &mut total);
        if status != 0 {
            bail!("cudaMemGetInfo failed with CUDA error {status}");
        }
        Ok((free as u64, total as u64))
    }
}
