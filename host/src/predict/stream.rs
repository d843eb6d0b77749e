//! Predicting an OME-Zarr image larger than memory: tile by tile from the store to a store.
//!
//! The in-memory path blends overlapping tiles with triangular weights over the whole image;
//! streaming keeps one batch of tiles instead, so each tile contributes the part of it nearest
//! its centre: neighbouring tiles meet in the middle of their overlap, where both saw at least
//! half the overlap of context (the overlap-crop stitching of tiled inference). The z-score
//! comes from a slab-wise pass over the image first, as the whole image's would. In memory at
//! once: one slab of tile depth over the whole y, x extent, and one batch of tiles.

use super::{tiling, ChosenTiles, Predictor};
use anyhow::{bail, Context, Result};
use silico_imaging::{
    dataset::{NonFinite, NonFiniteVoxels, REPAIR_ADVICE},
    zarr::{OmeZarrImage, OmeZarrWriteOptions, OmeZarrWriter},
};
use std::path::Path;
use tch::{Device, Tensor};

/// Slices read at once for the z-score pass.
const STATISTICS_SLAB: usize = 8;

/// The z-score (mean, 1 / sd) of channel `c`, read slab by slab; a constant image gets scale 0,
/// as `silico_imaging::dataset::z_score` does. NaN and infinite voxels are refused, or with
/// [`NonFinite::Repair`] taken as the finite mean (as a loaded image's are replaced by it).
fn z_score_of(image: &OmeZarrImage, c: usize, non_finite: NonFinite) -> Result<(f64, f64)> {
    let [_, z, y, x] = image.shape();
    let (mut sum, mut count) = (0f64, 0usize);
    let mut found = NonFiniteVoxels::default();
    let mut slabs = Vec::new();
    for z0 in (0..z).step_by(STATISTICS_SLAB) {
        let depth = STATISTICS_SLAB.min(z - z0);
        slabs.push((z0, depth));
        let data = image.read_region(c, [z0, 0, 0], [depth, y, x])?;
        found = found.then(NonFiniteVoxels::of(&data, [depth, y, x]), z0);
        sum += data
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| v as f64)
            .sum::<f64>();
        count += data.len();
    }
    let path = image.path().display();
    match (non_finite, found.is_empty()) {
        (_, true) => {}
        (NonFinite::Refuse, false) => bail!("{path}: {}; {REPAIR_ADVICE}", found.describe()),
        (NonFinite::Repair, false) if found.total() == count => {
            bail!("{path}: all {count} voxels are NaN or infinite; there is no finite value to repair them with")
        }
        (NonFinite::Repair, false) => {}
    }
    let mean = sum / (count - found.total()).max(1) as f64;
    if !found.is_empty() {
        eprintln!(
            "note: {path}: {}; replaced them with the image's finite mean {}",
            found.describe(),
            mean as f32
        );
    }
    // A second pass for the variance, as z_score computes it (no cancellation); a repaired
    // voxel, at the mean, adds nothing to it.
    let mut squares = 0f64;
    for (z0, depth) in slabs {
        let data = image.read_region(c, [z0, 0, 0], [depth, y, x])?;
        squares += data
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>();
    }
    let std = (squares / count.max(1) as f64).sqrt();
    Ok((mean, if std > 0.0 { 1.0 / std } else { 0.0 }))
}

/// The part of each tile along one axis that it writes: tiles at `starts` of side `tile` over
/// an axis of `size` voxels meet in the middle of their overlaps. (start of core, end of core).
fn cores(starts: &[i64], tile: i64, size: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let lo = if i == 0 {
            0
        } else {
            (starts[i - 1] + tile + start) / 2
        };
        let hi = match starts.get(i + 1) {
            Some(&next) => (start + tile + next) / 2,
            None => start + tile,
        };
        out.push((lo.min(size), hi.min(size)));
    }
    out
}

/// Predicts channel `c` of `image` into a new OME-Zarr image at `out` (one channel named
/// `channel_name`, voxel size `voxel_um`), tile by tile as `tiles` says.
#[allow(clippy::too_many_arguments)]
pub(super) fn predict_streamed(
    predictor: &Predictor,
    image: &OmeZarrImage,
    c: usize,
    tiles: &ChosenTiles,
    flips: bool,
    out: &Path,
    voxel_um: [f32; 3],
    channel_name: &str,
    non_finite: NonFinite,
) -> Result<()> {
    let [_, z, y, x] = image.shape();
    let size = [z as i64, y as i64, x as i64];
    let padded: [i64; 3] = std::array::from_fn(|a| tiling::round_up(size[a], tiling::MULTIPLE));
    let plan = &tiles.plan;
    let (mean, scale) = z_score_of(image, c, non_finite)?;
    let starts: [Vec<i64>; 3] =
        std::array::from_fn(|a| tiling::tile_starts(padded[a], plan.tile[a], plan.overlap[a]));
    let cores: [Vec<(i64, i64)>; 3] =
        std::array::from_fn(|a| cores(&starts[a], plan.tile[a], size[a]));
    let mut writer = OmeZarrWriter::create(
        out,
        [1, z, y, x],
        voxel_um,
        &[channel_name.to_string()],
        &OmeZarrWriteOptions {
            version: image.version(),
            ..OmeZarrWriteOptions::default()
        },
    )?;
    let tile = plan.tile;
    let _no_grad = tch::no_grad_guard();
    let views: &[&[i64]] = if flips {
        &[&[], &[2], &[1], &[1, 2]]
    } else {
        &[&[]]
    };
    // One slab of tile depth is read at a time (each chunk is decoded about once per slab
    // that overlaps it, not once per tile), and its tiles are cut from it.
    for (iz, &sz) in starts[0].iter().enumerate() {
        let slab = read_slab(image, c, sz, tile[0], size, padded, mean, scale)?;
        let mut origins = Vec::new();
        for (iy, &sy) in starts[1].iter().enumerate() {
            for (ix, &sx) in starts[2].iter().enumerate() {
                let core = [cores[0][iz], cores[1][iy], cores[2][ix]];
                if core.iter().all(|(lo, hi)| lo < hi) {
                    origins.push(([sz, sy, sx], core));
                }
            }
        }
        for batch in origins.chunks(plan.per_forward) {
            let inputs: Vec<Tensor> = batch
                .iter()
                .map(|([_, y, x], _)| slab.narrow(1, *y, tile[1]).narrow(2, *x, tile[2]))
                .collect();
            let input = Tensor::stack(&inputs, 0).unsqueeze(1);
            let mut sum: Option<Tensor> = None;
            for dims in views {
                let flip = |t: &Tensor| {
                    if dims.is_empty() {
                        t.shallow_clone()
                    } else {
                        // Tiles are (N, 1, Z, Y, X): flip the image's y and x.
                        t.flip(dims.iter().map(|d| d + 2).collect::<Vec<_>>())
                    }
                };
                let output = predictor
                    .forward(&flip(&input).to_device(predictor.numerics.device))?
                    .to_device(Device::Cpu);
                let output = flip(&output);
                sum = Some(match sum {
                    Some(s) => s + output,
                    None => output,
                });
            }
            let output = sum.expect("at least one view") / views.len() as f64;
            for (i, (origin, core)) in batch.iter().enumerate() {
                let lengths: [i64; 3] = std::array::from_fn(|a| core[a].1 - core[a].0);
                let part = output
                    .get(i as i64)
                    .reshape(tile)
                    .narrow(0, core[0].0 - origin[0], lengths[0])
                    .narrow(1, core[1].0 - origin[1], lengths[1])
                    .narrow(2, core[2].0 - origin[2], lengths[2])
                    .contiguous();
                let data = Vec::<f32>::try_from(part.flatten(0, -1))?;
                writer.write_region(
                    0,
                    core.map(|(lo, _)| lo as usize),
                    lengths.map(|n| n as usize),
                    &data,
                )?;
            }
        }
    }
    writer
        .finish()
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// The z-scored slab of `depth` slices from `z0` (padded coordinates) over the whole padded
/// y, x extent: the part inside the image read from the store, the rest 0 (the z-scored mean,
/// as the in-memory path pads).
#[allow(clippy::too_many_arguments)]
fn read_slab(
    image: &OmeZarrImage,
    c: usize,
    z0: i64,
    depth: i64,
    size: [i64; 3],
    padded: [i64; 3],
    mean: f64,
    scale: f64,
) -> Result<Tensor> {
    let slab = Tensor::zeros(
        [depth, padded[1], padded[2]],
        (tch::Kind::Float, Device::Cpu),
    );
    let inside = (size[0] - z0).clamp(0, depth);
    if inside > 0 {
        let mut data = image.read_region(
            c,
            [z0 as usize, 0, 0],
            [inside as usize, size[1] as usize, size[2] as usize],
        )?;
        for v in &mut data {
            // Non-finite only where repaired (else refused): the mean, z-scored to 0.
            *v = match v.is_finite() {
                true => ((*v as f64 - mean) * scale) as f32,
                false => 0.0,
            };
        }
        slab.narrow(0, 0, inside)
            .narrow(1, 0, size[1])
            .narrow(2, 0, size[2])
            .f_copy_(&Tensor::from_slice(&data).f_view([inside, size[1], size[2]])?)?;
    }
    Ok(slab)
}

#[cfg(test)]
mod tests {
    use super::cores;

    #[test]
    fn cores_partition_the_axis_at_the_middle_of_each_overlap() {
        // Tiles of 32 every 16 over 64 voxels: [0,32) [16,48) [32,64).
        assert_eq!(
            cores(&[0, 16, 32], 32, 64),
            vec![(0, 24), (24, 40), (40, 64)]
        );
        // The padded axis is longer than the image: the last core stops at the image's end.
        assert_eq!(
            cores(&[0, 24, 48], 32, 70),
            vec![(0, 28), (28, 52), (52, 70)]
        );
        assert_eq!(cores(&[0], 32, 20), vec![(0, 20)]);
    }
}
