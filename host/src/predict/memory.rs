//! How much memory prediction may use, and how much a forward pass takes: measured, because a
//! plugin network's activations cannot be known from outside it.
//!
//! On the CPU the peak is the process's resident high-water mark (`VmHWM`), which Linux resets
//! on request (`/proc/self/clear_refs`); on CUDA it is the device memory the caching allocator
//! has reserved since before the first probe (`cudaMemGetInfo`; the allocator keeps what it
//! reserved, so against that start each probe counts its own peak, not only its growth).

use super::tiling::MemoryModel;
use crate::allocator::AllocationPolicy;
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

/// Probe shapes start here and double one side at a time, up to the image.
const FIRST_PROBE: [i64; 3] = [16, 32, 32];

/// Successive slopes that agree this closely say the activations now dominate the peak.
const SLOPE_AGREEMENT: f64 = 0.1;

/// Probes stop at an eighth of the image (or 16 × 64 × 64 voxels, if more), so that measuring
/// costs about a quarter of one whole-image pass: probing on to half of an Allen-size image made
/// an fp32 prediction take 22.9 s instead of 12.1 s.
const LARGEST_PROBE_FRACTION: i64 = 8;
const LARGEST_PROBE_FLOOR: i64 = 16 * 64 * 64;

/// Forward passes on zeros of growing size, measured until the peak grows linearly.
///
/// A small tile's peak is dominated by what does not grow with it (weights laid out for the
/// kernels, the deepest levels' buffers): through two small probes a paper-size U-Net seemed to
/// take 170 bytes per voxel where large tiles take 640. So probes double until two successive
/// slopes agree, an eighth of the image is reached, or the next probe would exceed the budget;
/// the line through the last two is then accurate up to the largest probe, and beyond it as far
/// as the peak stays linear.
pub struct Probes {
    device: Device,
    /// (voxels, peak bytes), smallest first.
    points: Vec<(i64, u64)>,
    last_shape: [i64; 3],
    settled: bool,
    /// Free CUDA memory before the first probe: the caching allocator keeps what a probe
    /// reserved, so each probe is measured against this, never against the previous one.
    cuda_free_at_start: Option<u64>,
}

impl Probes {
    pub fn new(device: Device) -> Self {
        Self {
            device,
            points: Vec::new(),
            last_shape: FIRST_PROBE,
            settled: false,
            cuda_free_at_start: None,
        }
    }

    /// The memory model for tiles of an image padded to `padded`, probing further where the
    /// probes so far do not cover it. `forward` runs the network on zeros of a (Z, Y, X) shape.
    pub fn model(
        &mut self,
        padded: [i64; 3],
        budget: u64,
        mut forward: impl FnMut([i64; 3]) -> Result<()>,
    ) -> Result<(MemoryModel, String)> {
        if self.points.is_empty() {
            self.start(&mut forward)?;
        }
        while !self.settled {
            let Some(next) = grow(self.last_shape, padded) else {
                break;
            };
            let voxels: i64 = next.iter().product();
            let largest =
                (padded.iter().product::<i64>() / LARGEST_PROBE_FRACTION).max(LARGEST_PROBE_FLOOR);
            if voxels > largest {
                break;
            }
            if self.points.len() >= 2 && self.line().bytes(voxels) > budget as f64 {
                // Tiles will be no larger than the probes already made.
                break;
            }
            let bytes = self.peak(|| forward(next))?;
            self.points.push((voxels, bytes));
            self.last_shape = next;
            if let [.., a, b, c] = self.points[..] {
                let (earlier, later) = (slope(a, b), slope(b, c));
                self.settled = (later - earlier).abs() <= SLOPE_AGREEMENT * later.abs();
            }
        }
        let [z, y, x] = self.last_shape;
        Ok((
            self.line(),
            format!("{} probes up to {z}×{y}×{x}", self.points.len()),
        ))
    }

    fn start(&mut self, forward: &mut impl FnMut([i64; 3]) -> Result<()>) -> Result<()> {
        if let Device::Cuda(index) = self.device {
            self.cuda_free_at_start = Some(cuda_memory(index)?.0);
        } else {
            AllocationPolicy::MapLargeBuffers.apply();
            // The first pass also allocates what every later one reuses (thread scratch,
            // kernel caches); measured, it would count as memory per voxel.
            forward(FIRST_PROBE)?;
        }
        let bytes = self.peak(|| forward(FIRST_PROBE))?;
        self.points.push((FIRST_PROBE.iter().product(), bytes));
        Ok(())
    }

    fn line(&self) -> MemoryModel {
        match self.points[..] {
            [.., a, b] => MemoryModel::fit(a, b),
            [(voxels, bytes)] => MemoryModel {
                fixed: 0.0,
                per_voxel: bytes as f64 / voxels as f64,
            },
            [] => unreachable!("the first probe is measured before any line"),
        }
    }

    /// The peak memory `f` takes on the device above what was in use before it (on CUDA,
    /// before the first probe).
    fn peak(&self, f: impl FnOnce() -> Result<()>) -> Result<u64> {
        match self.device {
            Device::Cuda(index) => {
                f()?;
                let (free_after, _) = cuda_memory(index)?;
                Ok(self
                    .cuda_free_at_start
                    .unwrap_or(free_after)
                    .saturating_sub(free_after))
            }
            _ => {
                let status = || -> Result<String> {
                    fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")
                };
                // Freed heap pages that stay resident would be reused without raising the
                // high-water mark, hiding part of the pass: hand them back first.
                // SAFETY: malloc_trim only releases free memory of glibc's arenas.
                unsafe { libc::malloc_trim(0) };
                fs::write("/proc/self/clear_refs", "5").context(
                    "cannot reset the peak-memory mark (/proc/self/clear_refs); pass --tile",
                )?;
                let before = kib_field(&status()?, "VmRSS:").context("no VmRSS")?;
                f()?;
                let peak = kib_field(&status()?, "VmHWM:").context("no VmHWM")?;
                Ok(peak.saturating_sub(before) * 1024)
            }
        }
    }
}

fn slope((v0, b0): (i64, u64), (v1, b1): (i64, u64)) -> f64 {
    (b1 as f64 - b0 as f64) / (v1 - v0) as f64
}

/// `shape` with its side furthest from the image's doubled (or grown to the image's side);
/// `None` once it is the image.
fn grow(shape: [i64; 3], padded: [i64; 3]) -> Option<[i64; 3]> {
    let axis = (0..3).filter(|&a| shape[a] < padded[a]).min_by(|&a, &b| {
        let ratio = |a: usize| shape[a] as f64 / padded[a] as f64;
        ratio(a).total_cmp(&ratio(b))
    })?;
    let mut next = shape;
    next[axis] = (shape[axis] * 2).min(padded[axis]);
    Some(next)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_double_the_side_furthest_from_the_image_and_stop_at_it() {
        let padded = [32, 96, 96];
        let mut shape = FIRST_PROBE;
        let mut shapes = vec![shape];
        while let Some(next) = grow(shape, padded) {
            assert_eq!(
                next.iter().product::<i64>(),
                shape.iter().product::<i64>() * 2,
                "{shape:?} → {next:?} doubles while the image allows"
            );
            shape = next;
            shapes.push(shape);
            if shapes.len() == 4 {
                break;
            }
        }
        assert_eq!(
            shapes,
            [[16, 32, 32], [16, 64, 32], [16, 64, 64], [32, 64, 64]]
        );
        let mut shape = [32, 64, 64];
        while let Some(next) = grow(shape, padded) {
            shape = next;
        }
        assert_eq!(shape, padded, "probes end at the image");
    }
}
