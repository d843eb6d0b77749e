//! The organelle exclusivity metric (Sun et al. 2022, Section 2.3, Fig. 4, Table 1) as a metric
//! plugin: a thin wrapper over [`silico_evaluation::Exclusivity`], which holds the algorithm and
//! its tests.
//!
//! # Inputs, per bright-field image
//!
//! - `prediction/<structure>`: one single-channel volume (1, Z, Y, X) per structure, the
//!   prediction of that structure's model; at least two, all of the same shape, and the same
//!   structures for every image. Structure names must be non-empty and free of `/`.
//! - `mask` (optional): a (1, Z, Y, X) volume; only voxels where it is non-zero count.
//!
//! Structures are ordered by name (byte order), whatever order the host gives them in, so every
//! image is ranked channel by channel in the same order; ties for the highest value go to the
//! structure whose name sorts first.
//!
//! # Values
//!
//! - `update`: the image's own `overall` exclusivity and its counted `voxels`.
//! - `finish`: over all voxels of all images (not a mean of per-image means): `overall`,
//!   `voxels`.
//! - `tables`, over the same voxels, one row per structure in name order:
//!   - `structures`: `structure` (string), `organelle` (f64, its organelle exclusivity) and
//!     `highest_voxels` (u64, the voxels where it is highest);
//!   - `pairwise`: the directed matrix, one f64 column per structure B, named B; row A (in the
//!     order of the columns) holds the mean of A − B over the voxels where A is highest, NaN on
//!     the diagonal.
//!
//! A mean over no voxels is NaN.

use silico_evaluation::{Exclusivity, ExclusivityError, Mask};
use silico_plugin_api::prelude::*;

/// Names of the prediction volumes start with this, followed by the structure.
pub const PREDICTION_PREFIX: &str = "prediction/";
/// The optional volume restricting the measures to the voxels where it is non-zero.
pub const MASK: &str = "mask";
/// The per-structure table: organelle exclusivity and highest voxels.
pub const STRUCTURES_TABLE: &str = "structures";
/// The pairwise matrix as a table.
pub const PAIRWISE_TABLE: &str = "pairwise";

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ExclusivityConfig {
    /// Threads per image; 0 (default) uses every core.
    pub threads: usize,
}

pub struct OrganelleExclusivity {
    threads: usize,
    /// The structures, in name order, fixed by the first image.
    structures: Vec<String>,
    accumulator: Option<Exclusivity>,
}

impl Component for OrganelleExclusivity {
    const NAME: &'static str = "exclusivity";
    const SUMMARY: &'static str =
        "Organelle exclusivity of several structures' predictions: overall, per organelle, pairwise";
    type Config = ExclusivityConfig;
}

/// The prediction volumes of one image, ordered by structure name, checked for shape.
fn predictions(inputs: &MetricInputs) -> Result<Vec<(&str, &Volume)>, PluginError> {
    let mut predictions: Vec<(&str, &Volume)> = inputs
        .iter()
        .filter_map(|(name, volume)| name.strip_prefix(PREDICTION_PREFIX).map(|s| (s, volume)))
        .collect();
    predictions.sort_by(|a, b| a.0.cmp(b.0));
    if predictions.len() < 2 {
        return Err(PluginError::new(format!(
            "needs the predictions of at least 2 structures as volumes named `{PREDICTION_PREFIX}<structure>`, got {}",
            predictions.len()
        )));
    }
    for (name, volume) in &predictions {
        if name.is_empty() || name.contains('/') {
            return Err(PluginError::new(format!(
                "`{PREDICTION_PREFIX}{name}`: a structure name must be non-empty and contain no `/`"
            )));
        }
        if volume.shape()[0] != 1 {
            return Err(PluginError::new(format!(
                "`{PREDICTION_PREFIX}{name}` has {} channels; give one single-channel volume per structure",
                volume.shape()[0]
            )));
        }
    }
    if let Some(pair) = predictions.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(PluginError::new(format!(
            "`{PREDICTION_PREFIX}{}` is given twice",
            pair[0].0
        )));
    }
    let (first, first_volume) = predictions[0];
    for (name, volume) in &predictions[1..] {
        if volume.shape() != first_volume.shape() {
            return Err(PluginError::new(format!(
                "`{PREDICTION_PREFIX}{name}` has shape {:?} but `{PREDICTION_PREFIX}{first}` has {:?}",
                volume.shape(),
                first_volume.shape()
            )));
        }
    }
    Ok(predictions)
}

impl Metric for OrganelleExclusivity {
    fn build(config: ExclusivityConfig) -> Result<Self, PluginError> {
        Ok(Self {
            threads: config.threads,
            structures: Vec::new(),
            accumulator: None,
        })
    }

    fn update(&mut self, inputs: &MetricInputs) -> Result<Vec<(String, f64)>, PluginError> {
        let predictions = predictions(inputs)?;
        let structures: Vec<String> = predictions.iter().map(|(s, _)| s.to_string()).collect();
        let (first, first_volume) = predictions[0];
        let mask = match inputs.iter().find(|(name, _)| *name == MASK) {
            Some((_, mask)) if mask.shape() != first_volume.shape() => {
                return Err(PluginError::new(format!(
                    "`{MASK}` has shape {:?} but `{PREDICTION_PREFIX}{first}` has {:?}",
                    mask.shape(),
                    first_volume.shape()
                )))
            }
            Some((_, mask)) => Some(
                mask.data()
                    .iter()
                    .map(|&v| u8::from(v != 0.0))
                    .collect::<Vec<u8>>(),
            ),
            None => None,
        };
        let accumulator = match &mut self.accumulator {
            Some(accumulator) => {
                if structures != self.structures {
                    return Err(PluginError::new(format!(
                        "this image has the structures [{}] but the first image had [{}]",
                        structures.join(", "),
                        self.structures.join(", ")
                    )));
                }
                accumulator
            }
            None => {
                let accumulator = Exclusivity::new(structures.len())
                    .map_err(|e| PluginError::new(e.to_string()))?;
                let accumulator = if self.threads > 0 {
                    accumulator.with_threads(self.threads)
                } else {
                    accumulator
                };
                self.structures = structures;
                self.accumulator.insert(accumulator)
            }
        };
        let channels: Vec<&[f32]> = predictions.iter().map(|(_, v)| v.data()).collect();
        let image = accumulator
            .update(&channels, mask.as_deref().map(Mask::Byte))
            .map_err(|e| match e {
                ExclusivityError::NonFinite { channel, voxel } => PluginError::new(format!(
                    "`{PREDICTION_PREFIX}{}` has a NaN or infinite value at voxel {voxel}",
                    predictions[channel].0
                )),
                other => PluginError::new(other.to_string()),
            })?;
        Ok(vec![
            ("overall".into(), image.overall),
            ("voxels".into(), image.voxels as f64),
        ])
    }

    fn finish(&mut self) -> Result<Vec<(String, f64)>, PluginError> {
        let summary = self.accumulator()?.summary();
        Ok(vec![
            ("overall".to_string(), summary.overall),
            ("voxels".to_string(), summary.voxels as f64),
        ])
    }

    fn tables(&mut self) -> Result<Vec<Table>, PluginError> {
        let summary = self.accumulator()?.summary();
        let structures = Table::builder(STRUCTURES_TABLE)
            .column("structure", self.structures.iter().map(String::as_str))
            .column("organelle", summary.organelle.iter().copied())
            .column("highest_voxels", summary.highest_voxels.iter().copied())
            .build()?;
        let pairwise = self
            .structures
            .iter()
            .enumerate()
            .fold(Table::builder(PAIRWISE_TABLE), |table, (b, name)| {
                table.column(name, summary.pairwise.iter().map(|row| row[b]))
            })
            .build()?;
        Ok(vec![structures, pairwise])
    }
}

impl OrganelleExclusivity {
    fn accumulator(&self) -> Result<&Exclusivity, PluginError> {
        self.accumulator
            .as_ref()
            .ok_or_else(|| PluginError::new("no images were given"))
    }
}

silico_plugin_api::export_plugin! {
    metrics: [OrganelleExclusivity],
}
