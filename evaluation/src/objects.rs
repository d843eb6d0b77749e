//! Object-based comparison of real and predicted images (Sun et al. 2022, Section 2.5, Fig. 7,
//! Supplementary Tables S3–S5), after CellOrganizer's `spharm_obj` model comparison
//! (murphygroup/cellorganizer `utilities/3D/spharm_obj_percell_3D.m`,
//! `utilities/models2report_v2.m`).
//!
//! Each image contributes the objects of its real and its predicted segmentation that lie in
//! complete cells (the caller removes border cells first). Every object gets a SPHARM shape
//! descriptor ([`crate::spharm`]; objects that are not genus 0 are counted as excluded) and a
//! position in its cell's normalized frame ([`crate::cell_frame`]). [`ObjectEvaluation::finish`]
//! then compares the two sets:
//!
//! - shape: joint PCA of the descriptors (3 components), the kNN-purity divergence of Eq. 2 for
//!   each k, with permutation p-values;
//! - place: KL divergence of the Gaussian-kernel densities of the normalized positions on
//!   CellOrganizer's grid, with its permutation p-values, and the kNN divergence of positions;
//! - the R² of shape PC1 regressed on position, per set (the paper: all below 0.1);
//! - objects per cell, per set.
//!
//! Each permutation-tested statistic ([`TestedStatistic`]) gets a p-value against both nulls of
//! [`crate::permutation`] (CellOrganizer's random halves of the real set, and the real/synthetic
//! labels permuted over the pooled set), with the set sizes and k it was computed at and a
//! [`TestedStatistic::weak`] flag for a k too large for the sets.
//!
//! A statistic the objects cannot support (too few of them) is an error with the reason.

use crate::cell_frame::{normalize_objects, CellFrameSettings, CellMasks};
use crate::knn_divergence::{knn_divergence, knn_divergence_test};
use crate::pca::{joint_pca, JointPca, PcaSettings};
use crate::permutation::{Null, PermutationOutcome, PermutationSettings};
use crate::points::{Points, StatsError};
use crate::spatial::{cellorganizer_grid, position_r_squared, spatial_kl_test, SpatialSettings};
use crate::spharm::{spharm, BinaryObject, SpharmSettings};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use silico_segmentation::{
    objects::BoundingBox, objects_in_cells, CellObject, CellSegmentation, Labels,
};
use std::{collections::BTreeMap, fmt};

/// How objects are described and compared. TOML keys: `k`, `permutations`, `seed`,
/// `components`, `bandwidth`, `floor`, and the tables `spharm` and `frame`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectSettings {
    pub spharm: SpharmSettings,
    pub frame: CellFrameSettings,
    /// Neighbour counts of the kNN divergences (the paper's Fig. 7 uses k = 8).
    pub k: Vec<usize>,
    /// Permutations of each null for the p-values (CellOrganizer: 50).
    pub permutations: usize,
    pub seed: u64,
    /// Principal components of the shape space (the paper: 3).
    pub components: usize,
    /// Kernel bandwidth and density floor of the spatial KL (CellOrganizer: 0.28, 1e-5).
    pub bandwidth: f64,
    pub floor: f64,
}

impl Default for ObjectSettings {
    fn default() -> Self {
        Self {
            spharm: SpharmSettings::default(),
            frame: CellFrameSettings::default(),
            k: vec![4, 8, 16],
            permutations: 50,
            seed: 0,
            components: 3,
            bandwidth: 0.28,
            floor: 1e-5,
        }
    }
}

/// Which image an object came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Set {
    Real,
    Synthetic,
}

impl Set {
    pub fn name(self) -> &'static str {
        match self {
            Set::Real => "real",
            Set::Synthetic => "synthetic",
        }
    }
}

/// One object and what was measured of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRecord {
    pub set: Set,
    /// Index of the image (order of [`ObjectEvaluation::add_image`] calls) and cell id in it.
    pub image: usize,
    pub cell: u32,
    /// Its id in its image's object segmentation (as `silico segment` writes it).
    pub label: u32,
    pub voxels: usize,
    /// Normalized position in the cell (x along its major axis) and its radius.
    pub position: [f64; 3],
    pub radius: f64,
    /// Whether the centroid lies inside the cell; positions of objects outside are not compared.
    pub inside_cell: bool,
    /// The shape descriptor, or why there is none (e.g. not genus 0).
    pub shape: Result<Shape, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub descriptor: Vec<f64>,
    pub degree: usize,
    /// Between the object's surface and its reconstruction (Supplementary Table S3).
    pub hausdorff_um: f64,
}

/// Objects of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageCounts {
    pub cells: usize,
    pub real: usize,
    pub synthetic: usize,
}

/// A statistic of the comparison with a permutation p-value against each [`Null`], and the
/// sizes (and k) it was computed at.
#[derive(Debug, Clone, PartialEq)]
pub struct TestedStatistic {
    /// The statistic between the real and the synthetic set.
    pub observed: f64,
    /// Against [`Null::RealHalves`] (CellOrganizer's), or why that null could not be drawn
    /// (a half of the real set too small for k).
    pub p_real_halves: Result<f64, String>,
    /// Against [`Null::PooledLabels`].
    pub p_pooled_labels: f64,
    /// Objects in the compared real and synthetic sets.
    pub n_real: usize,
    pub n_synthetic: usize,
    /// The neighbour count of a kNN statistic; `None` for the spatial KL.
    pub k: Option<usize>,
}

impl TestedStatistic {
    /// Whether k is at least half the smaller set: `2·k ≥ min(n_real, n_synthetic)` (so with
    /// 12 synthetic objects, k = 6 is weak and k = 5 is not). Such a neighbourhood holds half or
    /// more of the smaller set whatever the two distributions are, which pulls every kNN
    /// fraction towards its expected value and every divergence towards 0, so the test tells
    /// sets apart poorly. Never weak without a k.
    pub fn weak(&self) -> bool {
        self.k
            .is_some_and(|k| 2 * k >= self.n_real.min(self.n_synthetic))
    }
}

/// A tested statistic, or why it could not be computed.
pub type Tested = Result<TestedStatistic, String>;

/// Runs `test` against both nulls (the same permutation count and seed) and keeps the first
/// value of each outcome.
fn tested(
    permutation: PermutationSettings,
    k: Option<usize>,
    test: impl Fn(&PermutationSettings) -> Result<PermutationOutcome, StatsError>,
) -> Tested {
    let with = |null| PermutationSettings {
        null,
        ..permutation
    };
    // The pooled-label null permutes sets of the observed sizes, so it fails only where the
    // statistic itself does.
    let pooled = test(&with(Null::PooledLabels)).map_err(|e| e.to_string())?;
    let p_real_halves = test(&with(Null::RealHalves))
        .map(|halves| halves.p_values[0])
        .map_err(|e| e.to_string());
    Ok(TestedStatistic {
        observed: pooled.observed[0],
        p_real_halves,
        p_pooled_labels: pooled.p_values[0],
        n_real: pooled.n_real,
        n_synthetic: pooled.n_synthetic,
        k,
    })
}

/// The comparison of the real and the synthetic objects.
#[derive(Debug, Clone)]
pub struct ObjectComparison {
    pub k: Vec<usize>,
    pub cells: usize,
    /// Objects per set, and those without a shape descriptor.
    pub objects: [usize; 2],
    pub excluded: [usize; 2],
    /// Mean Hausdorff distance of the descriptors' reconstructions, µm, per set.
    pub hausdorff_um: [f64; 2],
    /// The joint shape space; its rows follow [`ObjectComparison::shape_rows`].
    pub embedding: Result<JointPca, String>,
    /// Indices into [`ObjectEvaluation::objects`] of the real and the synthetic rows of the
    /// embedding (objects with a descriptor).
    pub shape_rows: [Vec<usize>; 2],
    /// kNN divergence of the shape embedding, with its p-values, per k (each k on its own, so
    /// that a k too large for few objects spoils only itself).
    pub shape_divergence: Vec<Tested>,
    /// KL divergence of the position densities, with its p-values.
    pub spatial_kl: Tested,
    /// kNN divergence of the positions per k.
    pub spatial_knn: Vec<Result<f64, String>>,
    /// R² of shape PC1 on position, per set.
    pub r_squared: [Result<f64, String>; 2],
}

#[derive(Debug, Clone, PartialEq)]
pub enum ObjectError {
    ShapeMismatch {
        what: &'static str,
        expected: [usize; 3],
        got: [usize; 3],
    },
    Segmentation(String),
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectError::ShapeMismatch { what, expected, got } => write!(
                f,
                "{what} is {got:?} (Z, Y, X) but the cells are {expected:?}; give volumes of one field"
            ),
            ObjectError::Segmentation(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ObjectError {}

/// Collects the objects of a set of images, then compares them.
pub struct ObjectEvaluation {
    settings: ObjectSettings,
    objects: Vec<ObjectRecord>,
    cells: usize,
    images: usize,
}

impl ObjectEvaluation {
    pub fn new(settings: ObjectSettings) -> Self {
        Self {
            settings,
            objects: Vec::new(),
            cells: 0,
            images: 0,
        }
    }

    pub fn objects(&self) -> &[ObjectRecord] {
        &self.objects
    }

    /// Adds one image: the instance labels of its real and its synthetic segmentation and its
    /// complete cells. Objects mostly outside every cell are dropped.
    pub fn add_image(
        &mut self,
        real: &Labels,
        synthetic: &Labels,
        cells: &CellSegmentation,
        voxel_um: [f32; 3],
    ) -> Result<ImageCounts, ObjectError> {
        let shape = cells.cells.shape;
        for (what, labels) in [
            ("the real objects", real),
            ("the synthetic objects", synthetic),
        ] {
            if labels.shape != shape {
                return Err(ObjectError::ShapeMismatch {
                    what,
                    expected: shape,
                    got: labels.shape,
                });
            }
        }
        let image = self.images;
        self.images += 1;
        let cell_ids = cells.cells.ids();
        self.cells += cell_ids.len();
        let boxes = label_boxes(&cells.cells);
        let mut counts = ImageCounts {
            cells: cell_ids.len(),
            real: 0,
            synthetic: 0,
        };
        for (set, labels) in [(Set::Real, real), (Set::Synthetic, synthetic)] {
            let objects = objects_in_cells(labels, &cells.cells, voxel_um)
                .map_err(|e| ObjectError::Segmentation(e.to_string()))?;
            let records = self.describe(set, image, &objects, cells, &boxes, voxel_um);
            match set {
                Set::Real => counts.real = records.len(),
                Set::Synthetic => counts.synthetic = records.len(),
            }
            self.objects.extend(records);
        }
        Ok(counts)
    }

    /// Shape and position of each object, the SPHARM fits spread over the current rayon pool.
    fn describe(
        &self,
        set: Set,
        image: usize,
        objects: &[CellObject],
        cells: &CellSegmentation,
        boxes: &[Option<BoundingBox>],
        voxel_um: [f32; 3],
    ) -> Vec<ObjectRecord> {
        let voxel = voxel_um.map(f64::from);
        let shapes: Vec<Result<Shape, String>> = objects
            .par_iter()
            .map(|object| {
                let crop = BinaryObject::new(object.bbox.shape(), object.crop.data.clone(), voxel)
                    .map_err(|e| e.to_string())?;
                let fit = spharm(&crop, &self.settings.spharm).map_err(|e| e.to_string())?;
                Ok(Shape {
                    descriptor: fit.descriptor(self.settings.spharm.unit_length),
                    degree: fit.degree,
                    hausdorff_um: fit.hausdorff_um,
                })
            })
            .collect();
        // One frame per cell, shared by all its objects. A cell without a nucleus has no frame:
        // its objects get no position.
        let mut placed = vec![([f64::NAN; 3], f64::NAN, false); objects.len()];
        let mut by_cell: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (k, object) in objects.iter().enumerate() {
            by_cell.entry(object.cell).or_default().push(k);
        }
        for (id, members) in by_cell {
            let b = boxes[id as usize].expect("an object's cell has voxels");
            let (cell, nucleus) = cell_crops(cells, id, b);
            let masks = CellMasks {
                shape: b.shape(),
                voxel_um: voxel,
                cell: &cell,
                nucleus: &nucleus,
            };
            // Segmentation centroids put voxel (0, 0, 0)'s centre at half a voxel; the cell
            // frame puts it at 0, in the crop's box.
            let centroids: Vec<[f64; 3]> = members
                .iter()
                .map(|&k| {
                    std::array::from_fn(|a| {
                        objects[k].centroid_um[a] - voxel[a] * (b.min[a] as f64 + 0.5)
                    })
                })
                .collect();
            if let Ok(normalized) = normalize_objects(&masks, &centroids, &self.settings.frame) {
                for (&k, o) in members.iter().zip(&normalized.objects) {
                    placed[k] = (o.point, o.radius, o.inside_cell);
                }
            }
        }
        objects
            .iter()
            .zip(shapes)
            .zip(placed)
            .map(
                |((object, shape), (position, radius, inside_cell))| ObjectRecord {
                    set,
                    image,
                    cell: object.cell,
                    label: object.label,
                    voxels: object.voxels,
                    position,
                    radius,
                    inside_cell,
                    shape,
                },
            )
            .collect()
    }

    /// Compares the real and the synthetic objects collected so far.
    pub fn finish(&self) -> ObjectComparison {
        let s = &self.settings;
        let permutation = PermutationSettings {
            permutations: s.permutations,
            seed: s.seed,
            ..PermutationSettings::default()
        };
        let of = |set: Set| {
            self.objects
                .iter()
                .enumerate()
                .filter(move |(_, o)| o.set == set)
        };
        let shape_rows = [Set::Real, Set::Synthetic].map(|set| {
            of(set)
                .filter(|(_, o)| o.shape.is_ok())
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        });
        let descriptors = |rows: &[usize]| -> Result<Points, String> {
            let list: Vec<Vec<f64>> = rows
                .iter()
                .map(|&i| {
                    self.objects[i]
                        .shape
                        .as_ref()
                        .expect("rows have shapes")
                        .descriptor
                        .clone()
                })
                .collect();
            let dim = list.first().map_or(1, Vec::len);
            Points::from_rows(dim, &list).map_err(|e| e.to_string())
        };
        let embedding = descriptors(&shape_rows[0]).and_then(|real| {
            let synthetic = descriptors(&shape_rows[1])?;
            joint_pca(
                &real,
                &synthetic,
                &PcaSettings {
                    components: s.components,
                    // The descriptors are already scaled as `spharm.unit_length` says.
                    unit_length_rows: false,
                },
            )
            .map_err(|e| e.to_string())
        });
        let shape_divergence =
            s.k.iter()
                .map(|&k| {
                    let e = embedding.as_ref().map_err(Clone::clone)?;
                    tested(permutation, Some(k), |settings| {
                        knn_divergence_test(&e.first, &e.second, &[k], settings)
                    })
                })
                .collect();

        let positions = |set: Set| {
            let rows: Vec<Vec<f64>> = of(set)
                .filter(|(_, o)| o.inside_cell)
                .map(|(_, o)| o.position.to_vec())
                .collect();
            Points::from_rows(3, &rows).map_err(|e| e.to_string())
        };
        let (real_positions, synthetic_positions) =
            (positions(Set::Real), positions(Set::Synthetic));
        let spatial = SpatialSettings {
            bandwidth: s.bandwidth,
            floor: s.floor,
        };
        let both = || -> Result<(Points, Points), String> {
            Ok((real_positions.clone()?, synthetic_positions.clone()?))
        };
        let spatial_kl = both().and_then(|(r, y)| {
            let grid = cellorganizer_grid();
            tested(permutation, None, |settings| {
                spatial_kl_test(&r, &y, &grid, &spatial, settings)
            })
        });
        let spatial_knn =
            s.k.iter()
                .map(|&k| {
                    let (r, y) = both()?;
                    Ok(knn_divergence(&r, &y, &[k]).map_err(|e| e.to_string())?[0])
                })
                .collect();
        let r_squared = [0, 1].map(|set| {
            let e = embedding.as_ref().map_err(Clone::clone)?;
            let scores = if set == 0 { &e.first } else { &e.second };
            let (mut rows, mut pc1) = (Vec::new(), Vec::new());
            for (k, &i) in shape_rows[set].iter().enumerate() {
                let o = &self.objects[i];
                if o.inside_cell {
                    rows.push(o.position.to_vec());
                    pc1.push(scores.point(k)[0]);
                }
            }
            let positions = Points::from_rows(3, &rows).map_err(|e| e.to_string())?;
            position_r_squared(&positions, &pc1).map_err(|e| e.to_string())
        });
        let count = |set: Set| of(set).count();
        let excluded = |set: Set| of(set).filter(|(_, o)| o.shape.is_err()).count();
        let hausdorff = |set: Set| {
            let values: Vec<f64> = of(set)
                .filter_map(|(_, o)| o.shape.as_ref().ok().map(|s| s.hausdorff_um))
                .collect();
            values.iter().sum::<f64>() / values.len() as f64
        };
        ObjectComparison {
            k: s.k.clone(),
            cells: self.cells,
            objects: [count(Set::Real), count(Set::Synthetic)],
            excluded: [excluded(Set::Real), excluded(Set::Synthetic)],
            hausdorff_um: [hausdorff(Set::Real), hausdorff(Set::Synthetic)],
            embedding,
            shape_rows,
            shape_divergence,
            spatial_kl,
            spatial_knn,
            r_squared,
        }
    }
}

/// The bounding box of every label, indexed by label.
fn label_boxes(labels: &Labels) -> Vec<Option<BoundingBox>> {
    let [_, ny, nx] = labels.shape;
    let mut boxes: Vec<Option<BoundingBox>> = vec![None; labels.max_label() as usize + 1];
    for (i, &l) in labels.data.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let at = [i / (ny * nx), (i / nx) % ny, i % nx];
        let b = boxes[l as usize].get_or_insert(BoundingBox {
            min: at,
            max: at.map(|v| v + 1),
        });
        for (a, &v) in at.iter().enumerate() {
            b.min[a] = b.min[a].min(v);
            b.max[a] = b.max[a].max(v + 1);
        }
    }
    boxes
}

/// The masks of cell `id` and of its nucleus within `b`.
fn cell_crops(cells: &CellSegmentation, id: u32, b: BoundingBox) -> (Vec<bool>, Vec<bool>) {
    let [_, ny, nx] = cells.cells.shape;
    let len: usize = b.shape().iter().product();
    let (mut cell, mut nucleus) = (Vec::with_capacity(len), Vec::with_capacity(len));
    for z in b.min[0]..b.max[0] {
        for y in b.min[1]..b.max[1] {
            let row = (z * ny + y) * nx;
            for i in row + b.min[2]..row + b.max[2] {
                cell.push(cells.cells.data[i] == id);
                nucleus.push(cells.nuclei.data[i] == id);
            }
        }
    }
    (cell, nucleus)
}
