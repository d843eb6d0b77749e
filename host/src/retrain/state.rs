//! The resumable state of a retraining (`OUT/state.json`): every finished run and step, with
//! the exclusivity and MSE it measured. Written atomically after each run, so an interrupted
//! retraining resumes with the run it stopped in.

use crate::{evaluate::ExclusivityReport, files::write_atomic};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

/// The state file in a retraining's folder.
pub const STATE_FILE: &str = "state.json";

/// Exclusivity and MSE of one prediction set on the test images.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measures {
    pub overall_exclusivity: f64,
    /// Mean over structures of each one's test MSE.
    pub overall_mse: f64,
    pub organelle_exclusivity: BTreeMap<String, f64>,
    pub mse: BTreeMap<String, f64>,
}

impl Measures {
    /// The measures of a prediction set: its exclusivity report and each structure's test MSE.
    pub fn of(report: &ExclusivityReport, mse: BTreeMap<String, f64>) -> Self {
        Self {
            overall_exclusivity: report.overall,
            overall_mse: mse.values().sum::<f64>() / mse.len() as f64,
            organelle_exclusivity: report.organelle_by_structure(),
            mse,
        }
    }

    /// The selection criterion of Section 3.2.
    pub fn ratio(&self) -> f64 {
        self.overall_exclusivity / self.overall_mse
    }
}

/// One retraining run of one structure with one p.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    /// Index of the step (0-based) in the retraining order.
    pub step: usize,
    pub structure: String,
    pub p: f64,
    pub run: PathBuf,
    pub measures: Measures,
}

/// A finished step: the structure retrained, the p kept, and the measures after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub structure: String,
    pub p: f64,
    pub run: PathBuf,
    pub measures: Measures,
}

/// Everything a retraining has done so far; `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub model: String,
    /// The model's registry table, as TOML, when the retraining began.
    pub definition: String,
    pub iterations: u64,
    pub structures: Vec<String>,
    /// The structures to retrain, in order, and those kept as they are.
    pub order: Vec<String>,
    pub skipped: Vec<String>,
    /// Structure → the run folder of its current model.
    pub current: BTreeMap<String, PathBuf>,
    pub before: Measures,
    pub candidates: Vec<Candidate>,
    pub steps: Vec<Step>,
}

impl State {
    /// The measures after the last finished step (before any: the initial ones).
    pub fn after(&self) -> &Measures {
        self.steps.last().map_or(&self.before, |s| &s.measures)
    }

    /// Reads the state of an interrupted retraining, refusing one of another model, definition
    /// or iteration count than `model`, `table` and `iterations`.
    pub fn resume(path: &Path, model: &str, table: &toml::Table, iterations: u64) -> Result<Self> {
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let state: State = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a silico retraining state", path.display()))?;
        if state.model != model
            || state.definition != table.to_string()
            || state.iterations != iterations
        {
            bail!(
                "{}: this retraining is of model `{}` ({} iterations per run) with another definition than asked; resume with the same --model, registry and --iterations, or choose another --out",
                path.display(),
                state.model,
                state.iterations
            );
        }
        Ok(state)
    }

    /// Writes `state.json` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, serde_json::to_string_pretty(self)?.as_bytes())
    }
}
