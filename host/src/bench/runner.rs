//! Setting a benchmark's folder up and finding its work: the folder belongs to one plan file;
//! every model of the plan must build; every cell's folder must hold that cell (or be new); the
//! plan is copied in, so that cells run anywhere (a Slurm node) read the plan they were given.

use super::{
    cell::{self, CellState},
    plan::{Cell, Plan},
};
use crate::{
    files::{write_atomic, LOCK_FILE},
    Plugins, Registry, Trainer,
};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    path::{Path, PathBuf},
};
use tch::Device;

const FOLDER_FILE: &str = "bench.json";
const PLAN_COPY: &str = "plan.toml";

/// What `OUT/bench.json` records: whose folder this is, and on which data it last ran.
#[derive(Serialize, Deserialize)]
struct BenchFolder {
    /// The plan file, absolute.
    plan: PathBuf,
    /// The data folder, absolute.
    data: PathBuf,
}

/// Checks and prepares `out` for `plan`; returns the cells still to run, in plan order.
pub fn prepare(
    plugins: &Plugins,
    plan: &Plan,
    out: &Path,
    rerun_changed: bool,
) -> Result<Vec<Cell>> {
    let plan_file = fs::canonicalize(&plan.path)
        .with_context(|| format!("cannot find {}", plan.path.display()))?;
    let record = out.join(FOLDER_FILE);
    if let Ok(text) = fs::read_to_string(&record) {
        let folder: BenchFolder = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a silico bench folder", record.display()))?;
        if folder.plan != plan_file {
            bail!(
                "{} holds the benchmark of {}, not of {}; choose another --out",
                out.display(),
                folder.plan.display(),
                plan_file.display()
            );
        }
    } else if out.exists()
        && fs::read_dir(out)?
            .flatten()
            .any(|entry| entry.file_name() != LOCK_FILE)
    {
        bail!(
            "{} exists and is not a silico bench folder; choose another --out",
            out.display()
        );
    }
    // Every model builds (its components exist and take their configuration) before any cell
    // starts, so that a typo fails now, not hours into a run.
    for model in &plan.models {
        let spec = crate::registry::ModelSpec::from_table(&model.name, &model.definition)?;
        Trainer::build(plugins, &model.name, &spec, 0, Device::Cpu)
            .with_context(|| format!("{}: key `models.{}`", plan.path.display(), model.name))?;
    }
    let cells = plan.cells();
    for c in &cells {
        cell::prepare(c, plan, out, rerun_changed)?;
    }
    write_atomic(&out.join(PLAN_COPY), plan.text.as_bytes())?;
    let data = fs::canonicalize(&plan.data)
        .with_context(|| format!("cannot find {}", plan.data.display()))?;
    write_atomic(
        &record,
        serde_json::to_string_pretty(&BenchFolder {
            plan: plan_file,
            data,
        })?
        .as_bytes(),
    )?;
    Ok(cells
        .into_iter()
        .filter(|c| cell::state(c, out) != CellState::Done)
        .collect())
}

/// The plan a bench folder was last run with: its copy, on the data it ran on.
pub fn load_plan(out: &Path, registry: &Registry) -> Result<Plan> {
    let record = out.join(FOLDER_FILE);
    let text = fs::read_to_string(&record).with_context(|| {
        format!(
            "{}: not a silico bench folder (no {FOLDER_FILE}); run `silico bench run PLAN --out {}` first",
            out.display(),
            out.display()
        )
    })?;
    let folder: BenchFolder = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a silico bench folder", record.display()))?;
    Plan::load(&out.join(PLAN_COPY), Some(&folder.data), registry)
}
