//! Connected components: labelling (scipy `ndimage.label` / skimage `measure.label` order) and
//! removing small objects (skimage `remove_small_objects`).

use serde::{Deserialize, Serialize};

use crate::volume::{Grid, Labels, Mask};

/// Which voxels touch: faces only (6, skimage `connectivity=1`), or faces, edges and corners
/// (26, `connectivity=3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Connectivity {
    #[serde(rename = "6")]
    Faces,
    #[serde(rename = "26")]
    Full,
}

impl Connectivity {
    /// Neighbour offsets (dz, dy, dx).
    pub fn offsets(self) -> Vec<[i64; 3]> {
        let mut out = Vec::new();
        for dz in -1..=1i64 {
            for dy in -1..=1i64 {
                for dx in -1..=1i64 {
                    let steps = dz.abs() + dy.abs() + dx.abs();
                    let keep = match self {
                        Connectivity::Faces => steps == 1,
                        Connectivity::Full => steps >= 1,
                    };
                    if keep {
                        out.push([dz, dy, dx]);
                    }
                }
            }
        }
        out
    }
}

/// Neighbour enumeration with the border checks done once per voxel.
pub(crate) struct Neighbourhood {
    grid: Grid,
    offsets: Vec<([i64; 3], isize)>,
}

impl Neighbourhood {
    pub(crate) fn new(shape: [usize; 3], connectivity: Connectivity) -> Self {
        let grid = Grid::new(shape);
        let [sz, sy, _] = grid.strides();
        let offsets = connectivity
            .offsets()
            .into_iter()
            .map(|o| {
                (
                    o,
                    o[0] as isize * sz as isize + o[1] as isize * sy as isize + o[2] as isize,
                )
            })
            .collect();
        Neighbourhood { grid, offsets }
    }

    /// Calls `visit` with each in-bounds neighbour of voxel `i`.
    #[inline]
    pub(crate) fn for_each(&self, i: usize, mut visit: impl FnMut(usize)) {
        let c = self.grid.coords(i);
        let s = self.grid.shape;
        let interior = (0..3).all(|a| c[a] >= 1 && c[a] + 1 < s[a]);
        for &(o, delta) in &self.offsets {
            if interior
                || (0..3).all(|a| {
                    let p = c[a] as i64 + o[a];
                    p >= 0 && p < s[a] as i64
                })
            {
                visit((i as isize + delta) as usize);
            }
        }
    }
}

/// Labels the connected components of `mask` 1..=n in raster order of their first voxel, as
/// scipy and scikit-image number them.
pub fn label(mask: &Mask, connectivity: Connectivity) -> Labels {
    let neighbourhood = Neighbourhood::new(mask.shape, connectivity);
    let mut labels = vec![0u32; mask.data.len()];
    let mut next = 0u32;
    let mut stack = Vec::new();
    for start in 0..mask.data.len() {
        if !mask.data[start] || labels[start] != 0 {
            continue;
        }
        next += 1;
        labels[start] = next;
        stack.push(start);
        while let Some(i) = stack.pop() {
            neighbourhood.for_each(i, |j| {
                if mask.data[j] && labels[j] == 0 {
                    labels[j] = next;
                    stack.push(j);
                }
            });
        }
    }
    Labels {
        shape: mask.shape,
        data: labels,
    }
}

/// Removes connected components of fewer than `min_size` voxels (skimage's
/// `remove_small_objects(min_size=...)`: objects of exactly `min_size` stay).
pub fn remove_small_objects(mask: &Mask, min_size: usize, connectivity: Connectivity) -> Mask {
    if min_size <= 1 {
        return mask.clone();
    }
    let labels = label(mask, connectivity);
    let sizes = labels.sizes();
    Mask {
        shape: mask.shape,
        data: labels
            .data
            .iter()
            .map(|&l| l != 0 && sizes[l as usize] >= min_size)
            .collect(),
    }
}
