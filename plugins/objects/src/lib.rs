//! Object-based evaluation metrics (Sun et al. 2022, Sections 2.5, 3.1 and 3.3): thin wrappers
//! over [`silico_segmentation`] and [`silico_evaluation::objects`], which hold the algorithms
//! and their tests.
//!
//! # `jaccard` (Fig. 3)
//!
//! Inputs per image: `target` (the real fluorescence) and `prediction`, single-channel volumes of
//! one shape. Both are segmented with the structure's workflow (`structure`, with overrides in
//! the `segmentation` table, keyed by structure) and compared.
//! - `update`: `jaccard` (|A ∩ B| / |A ∪ B|; 1 when both are empty), `voxels/real`,
//!   `voxels/prediction`.
//! - `finish`: `images`, `mean`, `median`.
//!
//! # `objects` (Fig. 7, Supplementary Tables S3–S5)
//!
//! Inputs per image: `target` and `prediction` as above, and the cells: either `cells` and
//! `nuclei` (instance labels, e.g. supplied by the user), or the real `cell_membrane` and `dna`
//! fluorescence, from which they are segmented. Cells touching the x/y border are dropped with
//! their objects (`cells.drop_border_cells`).
//! - `update`: `cells`, `objects/real`, `objects/synthetic` of the image.
//! - `finish`: over all images —
//!   - `cells`, and per set S in {`real`, `synthetic`}: `objects/S`, `excluded/S` (no shape
//!     descriptor, e.g. not genus 0), `objects_per_cell/S`, `hausdorff_um/S` (mean);
//!   - per k of `compare.k`: `shape_divergence/k<k>`, its permutation p-values
//!     `shape_p_real_halves/k<k>` (CellOrganizer's null: random halves of the real set) and
//!     `shape_p_pooled_labels/k<k>` (real/synthetic labels permuted over the pooled objects),
//!     `shape_weak/k<k>` (1 where 2·k ≥ the smaller set, the test then being weak), and
//!     `spatial_knn/k<k>`;
//!   - `shape_n/real`, `shape_n/synthetic`: the objects the shape tests compared (those with a
//!     descriptor);
//!   - `spatial_kl`, `spatial_p_real_halves`, `spatial_p_pooled_labels`, and `spatial_n/real`,
//!     `spatial_n/synthetic` (the objects inside their cells);
//!   - `r2/real`, `r2/synthetic`.
//! - `tables`: `objects`, one row per object, image by image (its real objects, then its
//!   synthetic ones): `set` (`real` or `synthetic`), `image` (u64, the index of its `update`
//!   call), `cell` and `voxels` (u64), `x`, `y`, `z` and `radius` (f64, normalized position),
//!   `inside` (bool: inside its cell), `label` (u64, its id in the image's object
//!   segmentation), `hausdorff_um` and `degree` (f64, of its SPHARM fit; NaN without one),
//!   `pc1`… (f64, shape-space scores, `compare.components` of them), `d0`… (f64, the shape
//!   descriptor the PCA took: (x, y, z) per harmonic of degrees 1..=`degree`; NaN without
//!   one).
//!
//! A value that could not be computed (too few objects, no shape) is NaN.

use silico_evaluation::objects::{
    ObjectComparison, ObjectEvaluation, ObjectRecord, ObjectSettings, Shape, TestedStatistic,
};
use silico_evaluation::permutation::Null;
use silico_plugin_api::prelude::*;
use silico_segmentation::{
    jaccard::overlap, segment, segment_cells, segment_objects, CellConfig, CellSegmentation,
    Labels, SegmentationConfig,
};

pub const TARGET: &str = "target";
pub const PREDICTION: &str = "prediction";

fn error(e: impl std::fmt::Display) -> PluginError {
    PluginError::new(e.to_string())
}

/// The structure's workflows, with the `segmentation` table's overrides.
fn workflows(structure: &str, overrides: &toml::Table) -> Result<SegmentationConfig, PluginError> {
    if structure.is_empty() {
        return Err(PluginError::new(
            "key `structure`: missing; name the structure to segment, e.g. structure = \"nucleoli\"",
        ));
    }
    let config = SegmentationConfig::from_toml(&overrides.to_string(), "key `segmentation`")
        .map_err(error)?;
    config.workflow(structure).map_err(error)?;
    Ok(config)
}

/// One single-channel (Z, Y, X) volume of the inputs.
fn channel<'a>(inputs: &'a MetricInputs, name: &str) -> Result<&'a Volume, PluginError> {
    let volume = inputs.volume(name)?;
    if volume.shape()[0] != 1 {
        return Err(PluginError::new(format!(
            "`{name}` has {} channels; give one",
            volume.shape()[0]
        )));
    }
    Ok(volume)
}

fn spatial(volume: &Volume) -> [usize; 3] {
    let [_, z, y, x] = volume.shape();
    [z, y, x]
}

/// `target` and `prediction`, checked to have one shape.
fn pair(inputs: &MetricInputs) -> Result<(&Volume, &Volume), PluginError> {
    let (target, prediction) = (channel(inputs, TARGET)?, channel(inputs, PREDICTION)?);
    if target.shape() != prediction.shape() {
        return Err(PluginError::new(format!(
            "`{PREDICTION}` has shape {:?} but `{TARGET}` has {:?}",
            prediction.shape(),
            target.shape()
        )));
    }
    Ok((target, prediction))
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default, deny_unknown_fields)]
pub struct JaccardConfig {
    pub structure: String,
    /// Workflow overrides, one table per structure (`silico-segmentation`'s keys).
    pub segmentation: toml::Table,
}

pub struct SegmentationJaccard {
    structure: String,
    workflows: SegmentationConfig,
    values: Vec<f64>,
}

impl Component for SegmentationJaccard {
    const NAME: &'static str = "jaccard";
    const SUMMARY: &'static str =
        "Jaccard index between the segmentations of the real and the predicted image";
    type Config = JaccardConfig;
}

impl Metric for SegmentationJaccard {
    fn build(config: JaccardConfig) -> Result<Self, PluginError> {
        Ok(Self {
            workflows: workflows(&config.structure, &config.segmentation)?,
            structure: config.structure,
            values: Vec::new(),
        })
    }

    fn update(&mut self, inputs: &MetricInputs) -> Result<Vec<(String, f64)>, PluginError> {
        let (target, prediction) = pair(inputs)?;
        let shape = spatial(target);
        let mask = |v: &Volume| {
            segment(
                &self.structure,
                v.data(),
                shape,
                v.voxel_um(),
                &self.workflows,
            )
            .map_err(error)
        };
        let (real, predicted) = (mask(target)?, mask(prediction)?);
        let (intersection, union) = overlap(&real, &predicted).map_err(error)?;
        let jaccard = if union == 0 {
            1.0
        } else {
            intersection as f64 / union as f64
        };
        self.values.push(jaccard);
        Ok(vec![
            ("jaccard".into(), jaccard),
            ("voxels/real".into(), real.count() as f64),
            ("voxels/prediction".into(), predicted.count() as f64),
        ])
    }

    fn finish(&mut self) -> Result<Vec<(String, f64)>, PluginError> {
        if self.values.is_empty() {
            return Err(PluginError::new("no images were given"));
        }
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Ok(vec![
            ("images".into(), n as f64),
            ("mean".into(), sorted.iter().sum::<f64>() / n as f64),
            ("median".into(), median),
        ])
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectsConfig {
    pub structure: String,
    /// Workflow overrides, one table per structure (`silico-segmentation`'s keys); `dna`'s
    /// workflow finds the nuclei.
    pub segmentation: toml::Table,
    pub cells: CellConfig,
    pub compare: ObjectSettings,
}

pub struct ObjectsMetric {
    structure: String,
    workflows: SegmentationConfig,
    cells: CellConfig,
    components: usize,
    evaluation: ObjectEvaluation,
    /// What `finish` compared, for `tables`.
    comparison: Option<ObjectComparison>,
}

impl Component for ObjectsMetric {
    const NAME: &'static str = "objects";
    const SUMMARY: &'static str =
        "Real against predicted objects: SPHARM shape and normalized-cell position divergences";
    type Config = ObjectsConfig;
}

impl ObjectsMetric {
    fn cells(
        &self,
        inputs: &MetricInputs,
        shape: [usize; 3],
    ) -> Result<CellSegmentation, PluginError> {
        let labels = |name: &str| -> Result<Labels, PluginError> {
            let v = channel(inputs, name)?;
            if spatial(v) != shape {
                return Err(PluginError::new(format!(
                    "`{name}` has shape {:?} but `{TARGET}` has {shape:?}",
                    spatial(v)
                )));
            }
            let data = v
                .data()
                .iter()
                .map(|&l| {
                    if l >= 0.0 && l.fract() == 0.0 {
                        Ok(l as u32)
                    } else {
                        Err(l)
                    }
                })
                .collect::<Result<Vec<u32>, f32>>()
                .map_err(|l| {
                    PluginError::new(format!(
                        "`{name}` holds {l}; instance labels are whole numbers ≥ 0"
                    ))
                })?;
            Labels::new(shape, data).map_err(error)
        };
        let cells = if inputs.iter().any(|(n, _)| n == "cells") {
            CellSegmentation::from_labels(labels("cells")?, &labels("nuclei")?).map_err(error)?
        } else {
            let (membrane, dna) = (channel(inputs, "cell_membrane")?, channel(inputs, "dna")?);
            for (name, v) in [("cell_membrane", membrane), ("dna", dna)] {
                if spatial(v) != shape {
                    return Err(PluginError::new(format!(
                        "`{name}` has shape {:?} but `{TARGET}` has {shape:?}",
                        spatial(v)
                    )));
                }
            }
            segment_cells(
                membrane.data(),
                dna.data(),
                shape,
                membrane.voxel_um(),
                &self.workflows,
                &self.cells,
            )
            .map_err(error)?
        };
        Ok(if self.cells.drop_border_cells {
            cells.without_border_cells()
        } else {
            cells
        })
    }
}

impl Metric for ObjectsMetric {
    fn build(config: ObjectsConfig) -> Result<Self, PluginError> {
        // A k of 0 has no neighbours to count (its divergence would be 0/0); a k too large for
        // the objects found is only known later, and is reported as not computable.
        if config.compare.k.contains(&0) {
            return Err(PluginError::new(format!(
                "key `compare.k`: {:?}: each k counts neighbours, so must be at least 1 (and below the number of objects)",
                config.compare.k
            )));
        }
        Ok(Self {
            workflows: workflows(&config.structure, &config.segmentation)?,
            structure: config.structure,
            cells: config.cells,
            components: config.compare.components,
            evaluation: ObjectEvaluation::new(config.compare),
            comparison: None,
        })
    }

    fn update(&mut self, inputs: &MetricInputs) -> Result<Vec<(String, f64)>, PluginError> {
        let (target, prediction) = pair(inputs)?;
        let shape = spatial(target);
        let objects = |v: &Volume| {
            segment_objects(
                &self.structure,
                v.data(),
                shape,
                v.voxel_um(),
                &self.workflows,
            )
            .map_err(error)
        };
        let (real, synthetic) = (objects(target)?, objects(prediction)?);
        let cells = self.cells(inputs, shape)?;
        let counts = self
            .evaluation
            .add_image(&real, &synthetic, &cells, target.voxel_um())
            .map_err(error)?;
        Ok(vec![
            ("cells".into(), counts.cells as f64),
            ("objects/real".into(), counts.real as f64),
            ("objects/synthetic".into(), counts.synthetic as f64),
        ])
    }

    fn finish(&mut self) -> Result<Vec<(String, f64)>, PluginError> {
        let comparison = self.comparison.insert(self.evaluation.finish());
        Ok(values(comparison))
    }

    fn tables(&mut self) -> Result<Vec<Table>, PluginError> {
        let comparison = self
            .comparison
            .as_ref()
            .ok_or_else(|| PluginError::new("the tables come after `finish`; call it first"))?;
        Ok(vec![objects_table(
            &self.evaluation,
            comparison,
            self.components,
        )?])
    }
}

fn values(c: &ObjectComparison) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = vec![("cells".into(), c.cells as f64)];
    for (s, set) in ["real", "synthetic"].iter().enumerate() {
        out.push((format!("objects/{set}"), c.objects[s] as f64));
        out.push((format!("excluded/{set}"), c.excluded[s] as f64));
        out.push((
            format!("objects_per_cell/{set}"),
            c.objects[s] as f64 / c.cells as f64,
        ));
        out.push((format!("hausdorff_um/{set}"), c.hausdorff_um[s]));
    }
    for (i, k) in c.k.iter().enumerate() {
        let shape = c.shape_divergence[i].as_ref().ok();
        out.extend(tested_values(
            "shape_divergence",
            "shape",
            &format!("/k{k}"),
            shape,
        ));
        out.push((
            format!("shape_weak/k{k}"),
            shape.map_or(f64::NAN, |t| f64::from(u8::from(t.weak()))),
        ));
        let knn = c.spatial_knn[i].as_ref().ok();
        out.push((
            format!("spatial_knn/k{k}"),
            knn.copied().unwrap_or(f64::NAN),
        ));
    }
    let first_shape = c.shape_divergence.iter().find_map(|t| t.as_ref().ok());
    out.extend(sizes("shape", first_shape));
    let kl = c.spatial_kl.as_ref().ok();
    out.extend(tested_values("spatial_kl", "spatial", "", kl));
    out.extend(sizes("spatial", kl));
    out.push((
        "r2/real".into(),
        *c.r_squared[0].as_ref().unwrap_or(&f64::NAN),
    ));
    out.push((
        "r2/synthetic".into(),
        *c.r_squared[1].as_ref().unwrap_or(&f64::NAN),
    ));
    out
}

/// `<statistic><suffix>` and its p-value against each null, `<what>_p_<null><suffix>`; NaN
/// where not computed.
fn tested_values(
    statistic: &str,
    what: &str,
    suffix: &str,
    tested: Option<&TestedStatistic>,
) -> Vec<(String, f64)> {
    let p = |null: Null| {
        tested.map_or(f64::NAN, |t| match null {
            Null::RealHalves => t.p_real_halves.clone().unwrap_or(f64::NAN),
            Null::PooledLabels => t.p_pooled_labels,
        })
    };
    let mut out = vec![(
        format!("{statistic}{suffix}"),
        tested.map_or(f64::NAN, |t| t.observed),
    )];
    out.extend(Null::ALL.map(|null| (format!("{what}_p_{}{suffix}", null.name()), p(null))));
    out
}

/// `<what>_n/real` and `<what>_n/synthetic`: the objects the tests compared.
fn sizes(what: &str, tested: Option<&TestedStatistic>) -> [(String, f64); 2] {
    [
        (
            format!("{what}_n/real"),
            tested.map_or(f64::NAN, |t| t.n_real as f64),
        ),
        (
            format!("{what}_n/synthetic"),
            tested.map_or(f64::NAN, |t| t.n_synthetic as f64),
        ),
    ]
}

/// One row per object: where it is, its shape fit, and its scores in the shape space.
fn objects_table(
    evaluation: &ObjectEvaluation,
    c: &ObjectComparison,
    components: usize,
) -> Result<Table, PluginError> {
    let objects = evaluation.objects();
    // Each object's row of the shape space, where it has one.
    let mut scores = vec![None; objects.len()];
    if let Ok(e) = &c.embedding {
        for (set, points) in [&e.first, &e.second].into_iter().enumerate() {
            for (row, &i) in c.shape_rows[set].iter().enumerate() {
                scores[i] = Some(points.point(row));
            }
        }
    }
    let shape =
        |o: &ObjectRecord, measure: fn(&Shape) -> f64| o.shape.as_ref().map_or(f64::NAN, measure);
    let mut table = Table::builder("objects")
        .column("set", objects.iter().map(|o| o.set.name()))
        .column("image", objects.iter().map(|o| o.image as u64))
        .column("cell", objects.iter().map(|o| u64::from(o.cell)))
        .column("voxels", objects.iter().map(|o| o.voxels as u64));
    for (axis, name) in ["x", "y", "z"].into_iter().enumerate() {
        table = table.column(name, objects.iter().map(|o| o.position[axis]));
    }
    table = table
        .column("radius", objects.iter().map(|o| o.radius))
        .column("inside", objects.iter().map(|o| o.inside_cell))
        .column("label", objects.iter().map(|o| u64::from(o.label)))
        .column(
            "hausdorff_um",
            objects.iter().map(|o| shape(o, |s| s.hausdorff_um)),
        )
        .column(
            "degree",
            objects.iter().map(|o| shape(o, |s| s.degree as f64)),
        );
    for pc in 0..components {
        table = table.column(
            &format!("pc{}", pc + 1),
            scores
                .iter()
                .map(|s| s.and_then(|s| s.get(pc).copied()).unwrap_or(f64::NAN)),
        );
    }
    // Every descriptor has the same length (degrees up to `degree`, zero-padded).
    let descriptor_len = objects
        .iter()
        .find_map(|o| o.shape.as_ref().ok())
        .map_or(0, |s| s.descriptor.len());
    for d in 0..descriptor_len {
        table = table.column(
            &format!("d{d}"),
            objects
                .iter()
                .map(|o| o.shape.as_ref().map_or(f64::NAN, |s| s.descriptor[d])),
        );
    }
    table.build()
}

silico_plugin_api::export_plugin! {
    metrics: [SegmentationJaccard, ObjectsMetric],
}
