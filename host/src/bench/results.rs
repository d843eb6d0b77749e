//! What a benchmark measured: one [`CellResult`] per finished cell (`OUT/cells/<id>/result.json`),
//! the exclusivity of each model's structures per seed, and the table of every number,
//! `results.csv` / `results.json`, one row per cell and metric.

use super::plan::Plan;
use crate::files::write_atomic;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path};

/// A finished cell: its scores per test image, their means, and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub model: String,
    pub structure: String,
    pub seed: u64,
    pub images: Vec<ImageScores>,
    /// Metric name → value over the test images (means of the per-image scores; for objects,
    /// the set's divergences), e.g. `pearson_r`, `mse`, `ssim`, `psnr`, `jaccard`,
    /// `shape_divergence`, `spatial_kl`. NaN where undefined (too few objects).
    #[serde(with = "nullable_map")]
    pub metrics: BTreeMap<String, f64>,
    pub costs: Costs,
}

/// One test image's scores (z-scored intensities; SSIM and PSNR with the target's range).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageScores {
    pub image: String,
    #[serde(with = "nullable")]
    pub pearson_r: f64,
    #[serde(with = "nullable")]
    pub mse: f64,
    #[serde(with = "nullable")]
    pub ssim: f64,
    #[serde(with = "nullable")]
    pub psnr: f64,
    /// Where the Jaccard evaluation ran.
    pub jaccard: Option<f64>,
    /// C_max = 1/√(1 + var_noise/(var_target − var_noise)) (Ounkomol et al. 2018): the highest
    /// Pearson r any prediction can reach against this noisy target, where the data name the
    /// target's noise-free version (`silico synth --noise-free`).
    #[serde(default)]
    pub noise_ceiling: Option<f64>,
    /// r / C_max, where C_max is known.
    #[serde(default)]
    pub r_over_noise_ceiling: Option<f64>,
}

/// What a cell cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Costs {
    /// Over the iterations the last training process ran (a resumed run: those after resuming;
    /// NaN if the process that finished training died before recording it).
    #[serde(with = "nullable")]
    pub seconds_per_iteration: f64,
    /// The cell's last process, from its start to the result.
    pub wall_seconds: f64,
    /// The largest resident set of the cell's last process (VmHWM).
    pub peak_memory_bytes: u64,
    /// Trainable parameters per network (`generator`, `discriminator`).
    pub parameters: BTreeMap<String, u64>,
    pub device: String,
}

/// Organelle exclusivity of one model's predictions of every structure of the plan, one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelExclusivity {
    pub model: String,
    pub seed: u64,
    #[serde(with = "nullable")]
    pub overall: f64,
    /// Structure → its organelle exclusivity (NaN where it is never highest).
    #[serde(with = "nullable_map")]
    pub organelle: BTreeMap<String, f64>,
}

/// One number of the benchmark: `results.csv` and `results.json` hold one per cell and metric
/// (`structure` is `all` for a model-wide number such as overall exclusivity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub model: String,
    pub structure: String,
    pub seed: u64,
    pub metric: String,
    /// Empty in `results.csv` and null in `results.json` where undefined.
    #[serde(with = "nullable")]
    pub value: f64,
}

/// Everything finished so far, in the plan's order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchResults {
    pub cells: Vec<CellResult>,
    pub exclusivity: Vec<ModelExclusivity>,
    /// Cell id → the last line of its error, for cells that failed.
    pub failed: BTreeMap<String, String>,
}

/// The structure of a model-wide row.
pub const ALL_STRUCTURES: &str = "all";

impl BenchResults {
    /// Every number as a row: each cell's metrics and costs, and the exclusivity rows.
    pub fn rows(&self) -> Vec<ResultRow> {
        let mut rows = Vec::new();
        for cell in &self.cells {
            let row = |metric: &str, value: f64| ResultRow {
                model: cell.model.clone(),
                structure: cell.structure.clone(),
                seed: cell.seed,
                metric: metric.to_string(),
                value,
            };
            rows.extend(cell.metrics.iter().map(|(m, v)| row(m, *v)));
            let c = &cell.costs;
            rows.push(row("seconds_per_iteration", c.seconds_per_iteration));
            rows.push(row("wall_seconds", c.wall_seconds));
            rows.push(row("peak_memory_bytes", c.peak_memory_bytes as f64));
            for (network, count) in &c.parameters {
                rows.push(row(&format!("parameters_{network}"), *count as f64));
            }
        }
        for e in &self.exclusivity {
            let row = |structure: &str, metric: &str, value: f64| ResultRow {
                model: e.model.clone(),
                structure: structure.to_string(),
                seed: e.seed,
                metric: metric.to_string(),
                value,
            };
            rows.push(row(ALL_STRUCTURES, "overall_exclusivity", e.overall));
            rows.extend(
                e.organelle
                    .iter()
                    .map(|(s, v)| row(s, "organelle_exclusivity", *v)),
            );
        }
        rows
    }

    /// Writes `results.csv` and `results.json` into `out`.
    pub fn write(&self, plan: &Plan, out: &Path) -> Result<()> {
        let rows = self.rows();
        let mut writer = csv::Writer::from_writer(Vec::new());
        for row in &rows {
            writer.serialize(row)?;
        }
        write_atomic(&out.join("results.csv"), &writer.into_inner()?)?;
        #[derive(Serialize)]
        struct Json<'a> {
            plan: &'a str,
            rows: &'a [ResultRow],
            failed: &'a BTreeMap<String, String>,
        }
        let json = serde_json::to_string_pretty(&Json {
            plan: &plan.text,
            rows: &rows,
            failed: &self.failed,
        })
        .context("results.json")?;
        write_atomic(&out.join("results.json"), json.as_bytes())
    }
}

/// An f64 that is `null` in JSON (and empty in CSV) where it is not finite: JSON has no NaN.
pub(crate) mod nullable {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        match v.is_finite() {
            true => serializer.serialize_f64(*v),
            false => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
    }
}

/// [`nullable`] for every value of a map.
pub(crate) mod nullable_map {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, f64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        map.iter()
            .map(|(k, v)| (k, v.is_finite().then_some(*v)))
            .collect::<BTreeMap<_, _>>()
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, f64>, D::Error> {
        Ok(BTreeMap::<String, Option<f64>>::deserialize(deserializer)?
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
            .collect())
    }
}
