//! Cell and nucleus instance segmentation from the membrane (`cell_membrane`) and DNA
//! channels, standing in for the Segmenter Model Zoo the paper used (Sun et al. 2022,
//! Section 2.5):
//!
//! 1. Nuclei: the `dna` workflow (smooth, Otsu, fill holes) with touching nuclei split at
//!    distance-transform peaks.
//! 2. Foreground: cells of a monolayer sit on the glass and reach up to their apical membrane,
//!    so every (y, x) column counts as cell between the lowest and highest voxel where the
//!    smoothed membrane image is above its Otsu threshold (or a nucleus is). This deliberately
//!    loose mask only bounds the cells; the `cell_membrane` workflow's tighter one would leave
//!    columns without membrane and cut cells short.
//! 3. Cells: a seeded watershed of the smoothed membrane image, one basin per nucleus, within
//!    the foreground minus the membrane mask, so a basin cannot leak through a closed membrane
//!    into a neighbour whose nucleus lies outside the field; then each cell grows into the
//!    membrane around it by up to `membrane_reach_um`, claiming its half of the membrane.
//! 4. Border: cells touching the x/y border of the field are partial and dropped with their
//!    nuclei, as in the paper. The z borders do not count: a field's stack usually starts at the
//!    glass, where every cell touches it.
//!
//! Cell `k` and nucleus `k` are the same cell. User-supplied label volumes enter through
//! [`CellSegmentation::from_labels`].

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, check_len, check_same_shape, Result};
use crate::filters::gaussian_smooth;
use crate::label::{Connectivity, Neighbourhood};
use crate::normalize::{normalize, Normalization};
use crate::objects::objects_in_cells;
use crate::threshold::otsu;
use crate::volume::{Grid, Labels, Mask};
use crate::watershed::watershed;
use crate::workflows::{segment_objects, SegmentationConfig};

/// Cell segmentation settings. TOML keys: `membrane_sigma_um`, `foreground_otsu_scale`,
/// `membrane_reach_um`, `min_cell_um3`, `drop_border_cells`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CellConfig {
    /// Gaussian σ of the membrane image the watershed floods, µm.
    pub membrane_sigma_um: f64,
    /// Membrane voxels bounding the foreground are those above this × the Otsu threshold of
    /// the smoothed membrane image.
    pub foreground_otsu_scale: f64,
    /// How far (µm, in steps of one voxel along x) cells grow from their interior into the
    /// membrane mask.
    pub membrane_reach_um: f64,
    /// Cells smaller than this are dropped with their nuclei, µm³.
    pub min_cell_um3: f64,
    /// Drop cells touching the x/y border of the field.
    pub drop_border_cells: bool,
}

impl Default for CellConfig {
    fn default() -> Self {
        CellConfig {
            membrane_sigma_um: 0.3,
            foreground_otsu_scale: 1.0,
            membrane_reach_um: 0.9,
            min_cell_um3: 20.0,
            drop_border_cells: true,
        }
    }
}

/// Cells and their nuclei; nucleus `k` lies in cell `k`, ids run 1..=n.
#[derive(Debug, Clone, PartialEq)]
pub struct CellSegmentation {
    pub cells: Labels,
    pub nuclei: Labels,
}

impl CellSegmentation {
    /// Wraps user-supplied labels (e.g. Segmenter Model Zoo output or ground truth): each
    /// nucleus takes the id of the cell holding most of its voxels; nuclei mostly outside every
    /// cell are dropped, and cells keep their ids.
    pub fn from_labels(cells: Labels, nuclei: &Labels) -> Result<Self> {
        check_same_shape("cells vs nuclei", cells.shape, nuclei.shape)?;
        let assigned = objects_in_cells(nuclei, &cells, [1.0; 3])?;
        let mut owner = vec![0u32; nuclei.max_label() as usize + 1];
        for nucleus in &assigned {
            owner[nucleus.label as usize] = nucleus.cell;
        }
        let nuclei = Labels {
            shape: nuclei.shape,
            data: nuclei.data.iter().map(|&l| owner[l as usize]).collect(),
        };
        Ok(CellSegmentation { cells, nuclei })
    }

    /// Drops cells touching the x/y faces of the field, with their nuclei, and renumbers the
    /// rest 1..=n in the order of their old ids.
    pub fn without_border_cells(&self) -> CellSegmentation {
        let grid = Grid::new(self.cells.shape);
        let [nz, ny, nx] = self.cells.shape;
        let mut border = vec![false; self.cells.max_label() as usize + 1];
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    if y == 0 || x == 0 || y + 1 == ny || x + 1 == nx {
                        border[self.cells.data[grid.index(z, y, x)] as usize] = true;
                    }
                }
            }
        }
        let keep = |l: u32| !border[l as usize];
        self.keep_cells(keep)
    }

    /// Keeps the cells `keep` accepts, renumbered 1..=n by old id.
    fn keep_cells(&self, keep: impl Fn(u32) -> bool) -> CellSegmentation {
        let mut map = vec![0u32; self.cells.max_label() as usize + 1];
        let mut next = 0;
        for id in self.cells.ids() {
            if keep(id) {
                next += 1;
                map[id as usize] = next;
            }
        }
        let remap = |labels: &Labels| Labels {
            shape: labels.shape,
            data: labels
                .data
                .iter()
                .map(|&l| map.get(l as usize).copied().unwrap_or(0))
                .collect(),
        };
        CellSegmentation {
            cells: remap(&self.cells),
            nuclei: remap(&self.nuclei),
        }
    }

    /// Number of cells.
    pub fn count(&self) -> usize {
        self.cells.ids().len()
    }
}

/// Segments nuclei and cells from the membrane and DNA images of one field.
pub fn segment_cells(
    membrane: &[f32],
    dna: &[f32],
    shape: [usize; 3],
    voxel_um: [f32; 3],
    config: &SegmentationConfig,
    cell_config: &CellConfig,
) -> Result<CellSegmentation> {
    check_len("membrane image", membrane.len(), shape)?;
    check_len("DNA image", dna.len(), shape)?;
    check_finite("membrane image", membrane, shape)?;
    check_finite("DNA image", dna, shape)?;
    let nuclei = segment_objects("dna", dna, shape, voxel_um, config)?;
    let sigma = voxel_um.map(|v| cell_config.membrane_sigma_um / v as f64);
    let normalized = normalize(membrane, Normalization::MinMax)?;
    let smoothed = gaussian_smooth(&normalized, shape, sigma);
    let level = otsu(&smoothed).unwrap_or(0.0) * cell_config.foreground_otsu_scale;
    let membrane_mask = Mask::from_threshold(shape, &smoothed, level)?;
    let foreground = column_hull(&membrane_mask, &nuclei);
    let landscape: Vec<f64> = smoothed.iter().map(|&v| v as f64).collect();
    let interior = Mask {
        shape,
        data: foreground
            .data
            .iter()
            .zip(&membrane_mask.data)
            .map(|(&f, &m)| f && !m)
            .collect(),
    };
    let cores = watershed(
        &landscape,
        &nuclei,
        Some(&interior),
        Connectivity::Faces,
        false,
    )?;
    let steps = (cell_config.membrane_reach_um / voxel_um[2] as f64).round() as usize;
    let cells = grow_within(&cores, &foreground, steps);

    let voxel_volume: f64 = voxel_um.iter().map(|&v| v as f64).product();
    let min_voxels = (cell_config.min_cell_um3 / voxel_volume).ceil() as usize;
    let sizes = cells.sizes();
    let segmentation = CellSegmentation { cells, nuclei }
        .keep_cells(|l| sizes.get(l as usize).is_some_and(|&n| n >= min_voxels));
    Ok(if cell_config.drop_border_cells {
        segmentation.without_border_cells()
    } else {
        segmentation
    })
}

/// Grows labels by `steps` layers of 6-neighbours into unlabelled voxels of `within`; a voxel
/// reached by several labels in the same layer takes the lowest.
fn grow_within(labels: &Labels, within: &Mask, steps: usize) -> Labels {
    let neighbourhood = Neighbourhood::new(labels.shape, Connectivity::Faces);
    let mut out = labels.clone();
    let mut frontier: Vec<usize> = (0..out.data.len()).filter(|&i| out.data[i] != 0).collect();
    for _ in 0..steps {
        let mut claims: Vec<(usize, u32)> = Vec::new();
        for &i in &frontier {
            neighbourhood.for_each(i, |j| {
                if within.data[j] && out.data[j] == 0 {
                    claims.push((j, out.data[i]));
                }
            });
        }
        claims.sort_unstable();
        frontier.clear();
        for (j, l) in claims {
            if out.data[j] == 0 {
                out.data[j] = l;
                frontier.push(j);
            }
        }
    }
    out
}

/// Per (y, x) column, every voxel from the lowest to the highest voxel of `membrane` or
/// `nuclei` in that column.
fn column_hull(membrane: &Mask, nuclei: &Labels) -> Mask {
    let grid = Grid::new(membrane.shape);
    let [nz, ny, nx] = membrane.shape;
    let mut out = Mask::empty(membrane.shape);
    for y in 0..ny {
        for x in 0..nx {
            let inside = |z: usize| {
                let i = grid.index(z, y, x);
                membrane.data[i] || nuclei.data[i] != 0
            };
            let (Some(low), Some(high)) =
                ((0..nz).find(|&z| inside(z)), (0..nz).rfind(|&z| inside(z)))
            else {
                continue;
            };
            for z in low..=high {
                out.data[grid.index(z, y, x)] = true;
            }
        }
    }
    out
}
