//! Binary morphology: hole filling (scipy `binary_fill_holes`, in 3D or per z slice as the
//! Segmenter's `hole_filling(fill_2d=True)`), the exact Euclidean distance transform (scipy
//! `distance_transform_edt` with `sampling`), and h-maxima markers (skimage `h_maxima`).

use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use crate::label::{label, Connectivity, Neighbourhood};
use crate::volume::{Grid, Labels, Mask};

/// Where holes are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoleFill {
    /// Background regions enclosed in 3D (6-connected background).
    Volume,
    /// Background regions enclosed within each z slice (4-connected background), which also
    /// closes tubes and cups open along z, like a nucleus whose envelope is cut by the stack.
    Slice,
}

/// Fills background regions not connected to the border of the volume (or of the slice),
/// holding at most `max_hole` voxels (`None`: any size).
pub fn fill_holes(mask: &Mask, mode: HoleFill, max_hole: Option<usize>) -> Mask {
    match mode {
        HoleFill::Volume => fill_holes_3d(mask, max_hole),
        HoleFill::Slice => {
            let [nz, ny, nx] = mask.shape;
            let plane = ny * nx;
            let mut out = mask.clone();
            for z in 0..nz {
                let slice = Mask {
                    shape: [1, ny, nx],
                    data: mask.data[z * plane..(z + 1) * plane].to_vec(),
                };
                let filled = fill_holes_3d(&slice, max_hole);
                out.data[z * plane..(z + 1) * plane].copy_from_slice(&filled.data);
            }
            out
        }
    }
}

/// In a one-slice volume, 6-connectivity is 4-connectivity in the slice and "border" means the
/// slice's edges, so this serves both modes.
fn fill_holes_3d(mask: &Mask, max_hole: Option<usize>) -> Mask {
    let grid = Grid::new(mask.shape);
    let background = Mask {
        shape: mask.shape,
        data: mask.data.iter().map(|&v| !v).collect(),
    };
    let regions = label(&background, Connectivity::Faces);
    let sizes = regions.sizes();
    let mut open = vec![false; sizes.len()];
    for (i, &r) in regions.data.iter().enumerate() {
        if r != 0 {
            let c = grid.coords(i);
            let on_border =
                (0..3).any(|a| mask.shape[a] > 1 && (c[a] == 0 || c[a] + 1 == mask.shape[a]));
            open[r as usize] |= on_border;
        }
    }
    let fill =
        |r: u32| r != 0 && !open[r as usize] && max_hole.is_none_or(|m| sizes[r as usize] <= m);
    Mask {
        shape: mask.shape,
        data: mask
            .data
            .iter()
            .zip(&regions.data)
            .map(|(&v, &r)| v || fill(r))
            .collect(),
    }
}

/// Exact Euclidean distance (µm, or voxels for unit `sampling`) from every foreground voxel to
/// the nearest background voxel; 0 on the background, infinite everywhere when the mask has no
/// background at all.
///
/// Felzenszwalb & Huttenlocher's separable lower-envelope algorithm, O(n) per axis.
pub fn distance_transform(mask: &Mask, sampling: [f64; 3]) -> Vec<f64> {
    let mut squared: Vec<f64> = mask
        .data
        .iter()
        .map(|&v| if v { f64::INFINITY } else { 0.0 })
        .collect();
    let shape = mask.shape;
    let (mut line, mut result) = (Vec::new(), Vec::new());
    for axis in (0..3).rev() {
        let len = shape[axis];
        let inner: usize = shape[axis + 1..].iter().product();
        let outer: usize = shape[..axis].iter().product();
        for o in 0..outer {
            for k in 0..inner {
                let base = o * len * inner + k;
                line.clear();
                line.extend((0..len).map(|i| squared[base + i * inner]));
                lower_envelope(&line, sampling[axis], &mut result);
                for (i, &v) in result.iter().enumerate() {
                    squared[base + i * inner] = v;
                }
            }
        }
    }
    squared.iter().map(|v| v.sqrt()).collect()
}

/// One 1D pass: result[q] = min_p (f[p] + ((q − p)·step)²), infinite where every f is.
fn lower_envelope(f: &[f64], step: f64, result: &mut Vec<f64>) {
    let n = f.len();
    result.clear();
    result.resize(n, f64::INFINITY);
    let Some(first) = f.iter().position(|v| v.is_finite()) else {
        return;
    };
    let pos = |p: usize| p as f64 * step;
    // Parabola vertices of the lower envelope and the boundaries between them.
    let mut vertices = vec![first];
    let mut bounds = vec![f64::NEG_INFINITY, f64::INFINITY];
    for q in first + 1..n {
        if !f[q].is_finite() {
            continue;
        }
        loop {
            let p = *vertices.last().expect("the envelope is never empty");
            let s =
                ((f[q] + pos(q) * pos(q)) - (f[p] + pos(p) * pos(p))) / (2.0 * (pos(q) - pos(p)));
            let k = vertices.len() - 1;
            if s <= bounds[k] && k > 0 {
                vertices.pop();
                bounds.pop();
                continue;
            }
            if s <= bounds[k] {
                vertices[0] = q;
                bounds[1] = f64::INFINITY;
            } else {
                bounds[k + 1] = s;
                vertices.push(q);
                bounds.push(f64::INFINITY);
            }
            break;
        }
    }
    let mut k = 0usize;
    for (q, r) in result.iter_mut().enumerate() {
        while bounds[k + 1] < pos(q) {
            k += 1;
        }
        let d = pos(q) - pos(vertices[k]);
        *r = f[vertices[k]] + d * d;
    }
}

/// Markers at the maxima of `values` inside `mask` that rise at least `h` above every path to a
/// higher maximum (h-maxima): the regional maxima (plateaus with no higher neighbour) of the
/// morphological reconstruction by dilation of `values − h` under `values`. Two equal peaks
/// joined by a saddle less than `h` deep share one plateau there, so they make one marker.
/// Paths and plateaus follow `connectivity`, which should be the connectivity of the objects
/// being split so that every object gets at least one marker. Used to seed watershed splits
/// without cutting at every ripple.
pub fn h_maxima(values: &[f64], mask: &Mask, h: f64, connectivity: Connectivity) -> Labels {
    let neighbourhood = Neighbourhood::new(mask.shape, connectivity);
    let floor = f64::NEG_INFINITY;
    let limit: Vec<f64> = values
        .iter()
        .zip(&mask.data)
        .map(|(&v, &m)| if m { v } else { floor })
        .collect();
    let mut reconstruction: Vec<f64> = limit
        .iter()
        .map(|&v| if v == floor { floor } else { v - h })
        .collect();
    // Flood from the highest seeds down: each voxel takes the highest level that reaches it,
    // never above its own value.
    let mut heap: BinaryHeap<(Level, usize)> = reconstruction
        .iter()
        .enumerate()
        .filter(|(_, &v)| v > floor)
        .map(|(i, &v)| (Level(v), i))
        .collect();
    while let Some((Level(level), i)) = heap.pop() {
        if level < reconstruction[i] {
            continue;
        }
        neighbourhood.for_each(i, |j| {
            let candidate = level.min(limit[j]);
            if candidate > reconstruction[j] {
                reconstruction[j] = candidate;
                heap.push((Level(candidate), j));
            }
        });
    }
    // Regional maxima: voxels with a higher neighbour are not, nor is anything on the same
    // plateau as such a voxel.
    let inside = |i: usize| reconstruction[i] > floor;
    let mut lower = vec![false; reconstruction.len()];
    let mut stack = Vec::new();
    for i in (0..reconstruction.len()).filter(|&i| inside(i)) {
        let mut higher = false;
        neighbourhood.for_each(i, |j| higher |= reconstruction[j] > reconstruction[i]);
        if higher && !lower[i] {
            lower[i] = true;
            stack.push(i);
        }
    }
    while let Some(i) = stack.pop() {
        neighbourhood.for_each(i, |j| {
            if inside(j) && !lower[j] && reconstruction[j] == reconstruction[i] {
                lower[j] = true;
                stack.push(j);
            }
        });
    }
    let peaks = Mask {
        shape: mask.shape,
        data: (0..reconstruction.len())
            .map(|i| inside(i) && !lower[i])
            .collect(),
    };
    label(&peaks, connectivity)
}

/// A totally ordered f64 for the max-heap (NaN never enters).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Level(pub(crate) f64);

impl Eq for Level {}

impl PartialOrd for Level {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Level {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
