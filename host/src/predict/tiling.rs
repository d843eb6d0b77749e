//! Tiles for prediction: where they start, how they are weighted, and how large they are when
//! a memory budget, not the user, decides.

use anyhow::{bail, Result};
use tch::Tensor;

/// Tile sides are multiples of this (the U-Net's 2⁴).
pub const MULTIPLE: i64 = 16;

/// Tiles batched into one forward pass at most: beyond this a GPU gains nothing more.
const MAX_TILES_PER_FORWARD: usize = 16;

/// How an image is cut: the tile, the overlap of neighbours, and how many tiles go through the
/// network together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePlan {
    pub tile: [i64; 3],
    pub overlap: [i64; 3],
    pub per_forward: usize,
}

/// The memory a forward pass takes: `fixed + per_voxel × voxels` (input voxels of the batch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryModel {
    pub fixed: f64,
    pub per_voxel: f64,
}

impl MemoryModel {
    /// The line through two measured (voxels, bytes) points; a slope that noise made negative
    /// is taken from the larger point alone (an overestimate, which is the safe side).
    pub fn fit(small: (i64, u64), large: (i64, u64)) -> Self {
        let slope = (large.1 as f64 - small.1 as f64) / (large.0 - small.0) as f64;
        if slope > 0.0 {
            Self {
                fixed: (small.1 as f64 - slope * small.0 as f64).max(0.0),
                per_voxel: slope,
            }
        } else {
            Self {
                fixed: 0.0,
                per_voxel: large.1 as f64 / large.0 as f64,
            }
        }
    }

    pub fn bytes(&self, voxels: i64) -> f64 {
        self.fixed + self.per_voxel * voxels as f64
    }
}

/// An image's size with each side rounded up to a multiple of 16, as it goes through the network.
pub fn padded(size: [i64; 3]) -> [i64; 3] {
    size.map(|n| round_up(n, MULTIPLE))
}

/// `n` rounded up to a multiple of `multiple`; a side too large to round is taken down to the
/// largest multiple instead of overflowing (it is capped at the image anyway).
pub fn round_up(n: i64, multiple: i64) -> i64 {
    n.saturating_add(multiple - 1) / multiple * multiple
}

/// Checks a user's tile and overlap: positive tiles, overlaps in [0, tile).
pub fn check_tile(tile: [i64; 3], overlap: [i64; 3]) -> Result<()> {
    if tile.iter().any(|&side| side <= 0) {
        bail!("--tile {tile:?}: every side must be positive (multiples of {MULTIPLE})");
    }
    for a in 0..3 {
        if overlap[a] < 0 || overlap[a] >= tile[a] {
            bail!("--overlap {overlap:?}: each overlap must lie in [0, tile side) for --tile {tile:?}");
        }
    }
    Ok(())
}

/// The user's tile, rounded up to multiples of 16 and capped at the padded image; an axis the
/// tile spans needs no overlap.
pub fn fixed_plan(padded: [i64; 3], tile: [i64; 3], overlap: [i64; 3]) -> TilePlan {
    let tile: [i64; 3] = std::array::from_fn(|a| round_up(tile[a], MULTIPLE).min(padded[a]));
    TilePlan {
        tile,
        overlap: std::array::from_fn(|a| axis_overlap(padded[a], tile[a], overlap[a])),
        per_forward: 1,
    }
}

fn axis_overlap(size: i64, tile: i64, overlap: i64) -> i64 {
    if tile >= size {
        0
    } else {
        overlap
    }
}

/// The tiling that computes the fewest voxels (the overlaps are computed twice) among those
/// whose forward pass fits `budget`; among equals, the largest tile. The whole padded image is
/// one tile when it fits. Along an axis it cuts, a tile is at least twice the overlap (and 16),
/// so that every voxel is predicted well inside some tile: thin tiles would fit more voxels
/// but predict them from zero padding. Tiles that fit several times over go through the
/// network together.
pub fn budget_plan(
    padded: [i64; 3],
    overlap: [i64; 3],
    memory: MemoryModel,
    budget: u64,
) -> Result<TilePlan> {
    let shortest: [i64; 3] = std::array::from_fn(|a| {
        round_up(overlap[a].saturating_mul(2).max(MULTIPLE), MULTIPLE).min(padded[a])
    });
    let sides = |a: usize| {
        (1..=padded[a] / MULTIPLE)
            .map(|k| k * MULTIPLE)
            .filter(move |&side| side >= shortest[a])
    };
    let mut best: Option<(i64, i64, TilePlan)> = None;
    for z in sides(0) {
        for y in sides(1) {
            for x in sides(2) {
                let tile = [z, y, x];
                let voxels = z * y * x;
                if memory.bytes(voxels) > budget as f64 {
                    continue;
                }
                let overlap: [i64; 3] =
                    std::array::from_fn(|a| axis_overlap(padded[a], tile[a], overlap[a]));
                let count: i64 = (0..3)
                    .map(|a| tile_starts(padded[a], tile[a], overlap[a]).len() as i64)
                    .product();
                let computed = count * voxels;
                let better = best
                    .as_ref()
                    .is_none_or(|(c, v, _)| computed < *c || (computed == *c && voxels > *v));
                if better {
                    let fits = ((budget as f64 - memory.fixed) / (memory.per_voxel * voxels as f64))
                        .floor()
                        .max(1.0) as usize;
                    let per_forward = fits.min(count as usize).min(MAX_TILES_PER_FORWARD);
                    best = Some((
                        computed,
                        voxels,
                        TilePlan {
                            tile,
                            overlap,
                            per_forward,
                        },
                    ));
                }
            }
        }
    }
    match best {
        Some((_, _, plan)) => Ok(plan),
        None => bail!(
            "the smallest tile, {shortest:?} (twice the overlap), needs {:.0} MiB, more than the memory budget of {:.0} MiB; raise --memory-budget, or pass a smaller --overlap or --tile",
            memory.bytes(shortest.iter().product()) / (1u64 << 20) as f64,
            budget as f64 / (1u64 << 20) as f64
        ),
    }
}

/// Tile origins along one axis: every `tile − overlap`, the last flush with the end.
pub fn tile_starts(size: i64, tile: i64, overlap: i64) -> Vec<i64> {
    let step = (tile - overlap).max(1);
    let last = size - tile;
    let mut starts: Vec<i64> = (0..=last).step_by(step as usize).collect();
    if *starts.last().expect("tile fits the padded image") != last {
        starts.push(last);
    }
    starts
}

/// scipy.signal.windows.triang(n) along each axis, multiplied: positive everywhere, highest at
/// the centre.
pub fn triangular_window(tile: [i64; 3]) -> Tensor {
    let axis = |n: i64| {
        let values: Vec<f32> = (0..n)
            .map(|k| {
                let (k, n) = (k as f64, n as f64);
                let half = if n as i64 % 2 == 0 { n } else { n + 1.0 };
                (1.0 - (2.0 * k + 1.0 - n).abs() / half) as f32
            })
            .collect();
        Tensor::from_slice(&values)
    };
    let (z, y, x) = (axis(tile[0]), axis(tile[1]), axis(tile[2]));
    z.view([-1, 1, 1]) * y.view([1, -1, 1]) * x.view([1, 1, -1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_axis_and_end_flush() {
        assert_eq!(tile_starts(64, 32, 16), vec![0, 16, 32]);
        assert_eq!(tile_starts(80, 32, 8), vec![0, 24, 48]);
        assert_eq!(tile_starts(32, 32, 16), vec![0]);
    }

    #[test]
    fn window_matches_scipy_triang() {
        // scipy.signal.windows.triang(4) = [0.25, 0.75, 0.75, 0.25]; triang(3) = [0.5, 1, 0.5].
        let w = triangular_window([4, 3, 1]);
        let values = Vec::<f32>::try_from(w.flatten(0, -1)).unwrap();
        assert_eq!(&values[..3], &[0.125, 0.25, 0.125]);
        assert_eq!(&values[3..6], &[0.375, 0.75, 0.375]);
    }

    #[test]
    fn degenerate_tiles_are_refused() {
        assert!(check_tile([0, 16, 16], [0, 0, 0]).is_err());
        assert!(check_tile([16, -16, 16], [0, 0, 0]).is_err());
        assert!(check_tile([16, 16, 16], [16, 0, 0]).is_err());
        assert!(check_tile([16, 16, 16], [8, 8, 8]).is_ok());
    }

    #[test]
    fn sides_too_large_to_round_are_capped_without_overflow() {
        let huge = i64::MAX;
        check_tile([huge, 16, 16], [16, 8, 8]).unwrap();
        let plan = fixed_plan([32, 64, 64], [huge, 16, 16], [16, 8, 8]);
        assert_eq!(plan.tile, [32, 16, 16]);
        assert_eq!(plan.overlap, [0, 8, 8]);
        let memory = MemoryModel {
            fixed: 0.0,
            per_voxel: 1.0,
        };
        let plan = budget_plan([32, 64, 64], [huge, huge, 8], memory, 1 << 30).unwrap();
        assert_eq!(plan.tile, [32, 64, 64]);
    }

    #[test]
    fn the_whole_image_is_one_tile_when_it_fits() {
        let memory = MemoryModel {
            fixed: 1e6,
            per_voxel: 100.0,
        };
        let padded = [64, 256, 256];
        let plan = budget_plan(padded, [16, 32, 32], memory, 1 << 32).unwrap();
        assert_eq!(plan.tile, padded);
        assert_eq!(plan.overlap, [0, 0, 0]);
        assert_eq!(plan.per_forward, 1);
    }

    #[test]
    fn a_tight_budget_gives_the_tiling_that_recomputes_least() {
        let memory = MemoryModel {
            fixed: 0.0,
            per_voxel: 100.0,
        };
        let padded = [64, 256, 256];
        // Room for a quarter of the image.
        let budget = (100 * 64 * 256 * 256 / 4) as u64;
        let plan = budget_plan(padded, [16, 32, 32], memory, budget).unwrap();
        let voxels: i64 = plan.tile.iter().product();
        assert!(memory.bytes(voxels) <= budget as f64);
        let computed = |plan: &TilePlan| -> i64 {
            (0..3)
                .map(|a| tile_starts(padded[a], plan.tile[a], plan.overlap[a]).len() as i64)
                .product::<i64>()
                * plan.tile.iter().product::<i64>()
        };
        // No tiling of fnet's 32×128×128 recomputes less than the chosen one.
        let fnet = fixed_plan(padded, [32, 128, 128], [16, 32, 32]);
        assert!(computed(&plan) <= computed(&fnet), "{plan:?} vs {fnet:?}");
        assert!(budget_plan(padded, [16, 32, 32], memory, 1000).is_err());
    }

    #[test]
    fn a_line_through_two_probes() {
        let m = MemoryModel::fit((1000, 3_000_000), (3000, 7_000_000));
        assert_eq!(m.per_voxel, 2000.0);
        assert_eq!(m.fixed, 1_000_000.0);
        let noisy = MemoryModel::fit((1000, 3_000_000), (3000, 2_000_000));
        assert_eq!(noisy.fixed, 0.0);
        assert!(noisy.per_voxel > 0.0);
    }
}
