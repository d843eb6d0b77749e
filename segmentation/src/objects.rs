//! Objects per cell: every instance of a structure, assigned to the cell holding most of its
//! voxels, with its size, centroid, bounding box and binary crop (the input of a later
//! spherical-harmonic shape step, Sun et al. 2022 Section 2.5).

use crate::error::{check_same_shape, Result};
use crate::volume::{Grid, Labels, Mask};

/// Voxel index bounds, `max` exclusive, (z, y, x).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundingBox {
    pub min: [usize; 3],
    pub max: [usize; 3],
}

impl BoundingBox {
    pub fn shape(&self) -> [usize; 3] {
        std::array::from_fn(|a| self.max[a] - self.min[a])
    }
}

/// One object of a structure inside one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellObject {
    /// The object's label in the instance volume it came from.
    pub label: u32,
    /// The cell it was assigned to.
    pub cell: u32,
    pub voxels: usize,
    /// Mean voxel centre in µm (z, y, x), voxel (i, j, k) centred at ((i + ½)·dz, ...), the
    /// synthetic generator's coordinates.
    pub centroid_um: [f64; 3],
    pub bbox: BoundingBox,
    /// The object's voxels within `bbox`.
    pub crop: Mask,
}

/// Assigns every object of `objects` to the label of `cells` holding most of its voxels
/// (background 0 competes like a cell, ties go to the lower id). Objects that fall mostly
/// outside every cell, including cells removed for touching the border, are dropped with it.
/// Returned by object label.
pub fn objects_in_cells(
    objects: &Labels,
    cells: &Labels,
    voxel_um: [f32; 3],
) -> Result<Vec<CellObject>> {
    check_same_shape("objects vs cells", objects.shape, cells.shape)?;
    let grid = Grid::new(objects.shape);
    let count = objects.max_label() as usize + 1;
    let mut votes: Vec<Vec<(u32, usize)>> = vec![Vec::new(); count];
    let mut sums = vec![[0f64; 3]; count];
    let mut sizes = vec![0usize; count];
    let mut boxes = vec![
        BoundingBox {
            min: [usize::MAX; 3],
            max: [0; 3],
        };
        count
    ];
    for (i, (&o, &c)) in objects.data.iter().zip(&cells.data).enumerate() {
        if o == 0 {
            continue;
        }
        let o = o as usize;
        match votes[o].iter_mut().find(|(cell, _)| *cell == c) {
            Some(vote) => vote.1 += 1,
            None => votes[o].push((c, 1)),
        }
        let p = grid.coords(i);
        sizes[o] += 1;
        for a in 0..3 {
            sums[o][a] += p[a] as f64;
            boxes[o].min[a] = boxes[o].min[a].min(p[a]);
            boxes[o].max[a] = boxes[o].max[a].max(p[a] + 1);
        }
    }
    let mut out = Vec::new();
    for o in 1..count {
        if sizes[o] == 0 {
            continue;
        }
        let (cell, _) = votes[o]
            .iter()
            .copied()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .expect("a non-empty object has votes");
        if cell == 0 {
            continue;
        }
        let bbox = boxes[o];
        let crop_shape = bbox.shape();
        let mut crop = Mask::empty(crop_shape);
        let crop_grid = Grid::new(crop_shape);
        for z in bbox.min[0]..bbox.max[0] {
            for y in bbox.min[1]..bbox.max[1] {
                for x in bbox.min[2]..bbox.max[2] {
                    if objects.data[grid.index(z, y, x)] == o as u32 {
                        let j = crop_grid.index(z - bbox.min[0], y - bbox.min[1], x - bbox.min[2]);
                        crop.data[j] = true;
                    }
                }
            }
        }
        let n = sizes[o] as f64;
        out.push(CellObject {
            label: o as u32,
            cell,
            voxels: sizes[o],
            centroid_um: std::array::from_fn(|a| (sums[o][a] / n + 0.5) * voxel_um[a] as f64),
            bbox,
            crop,
        });
    }
    Ok(out)
}

/// Number of objects per cell id (index = cell id, entry 0 unused).
pub fn count_per_cell(objects: &[CellObject], cells: &Labels) -> Vec<usize> {
    let mut counts = vec![0usize; cells.max_label() as usize + 1];
    for object in objects {
        counts[object.cell as usize] += 1;
    }
    counts
}
