//! Everything finished so far, gathered: each done cell's result, each failed cell's reason,
//! and, for every (model, seed) whose cells of all the plan's structures are done, the
//! organelle exclusivity of its predictions (into `OUT/models/<model>/seed<k>/exclusivity/`).
//! Then `results.csv`, `results.json` and `report.html`.

use super::{
    cell::{self, CellState},
    html::{self, Versions},
    plan::Plan,
    results::{BenchResults, ModelExclusivity},
};
use crate::{
    evaluate::exclusivity::{exclusivity, write_report},
    Plugins,
};
use anyhow::Result;
use std::path::Path;

/// Gathers the results under `out` and writes `results.csv`, `results.json` and the report.
pub fn summarize(plugins: &Plugins, plan: &Plan, out: &Path) -> Result<BenchResults> {
    let mut results = BenchResults::default();
    let cells = plan.cells();
    for c in &cells {
        match cell::state(c, out) {
            CellState::Done => results.cells.extend(cell::result(c, out)?),
            CellState::Failed(reason) => {
                results.failed.insert(c.id(), reason);
            }
            CellState::Pending | CellState::Started => {}
        }
    }
    if plan.evaluate.exclusivity && plan.structures.len() >= 2 {
        for model in &plan.models {
            for &seed in &plan.seeds {
                let of_seed: Vec<_> = cells
                    .iter()
                    .filter(|c| c.model == model.name && c.seed == seed)
                    .collect();
                if !of_seed
                    .iter()
                    .all(|c| cell::state(c, out) == CellState::Done)
                {
                    continue;
                }
                let folders: Vec<_> = of_seed
                    .iter()
                    .map(|c| {
                        let folder = c.dir(out).join("predictions").join(&c.structure);
                        (c.structure.clone(), folder)
                    })
                    .collect();
                let report = exclusivity(plugins, &folders, None)?;
                let dir = out
                    .join("models")
                    .join(&model.name)
                    .join(format!("seed{seed}"))
                    .join("exclusivity");
                write_report(&report, &dir)?;
                results.exclusivity.push(ModelExclusivity {
                    model: model.name.clone(),
                    seed,
                    overall: report.overall,
                    organelle: report.organelle_by_structure(),
                });
            }
        }
    }
    results.write(plan, out)?;
    html::write_report(out, plan, &results, &versions(plugins, &results))?;
    Ok(results)
}

/// What the report says it was made with: the devices are those the finished cells ran on.
fn versions(plugins: &Plugins, results: &BenchResults) -> Versions {
    let mut devices: Vec<&str> = results
        .cells
        .iter()
        .map(|c| c.costs.device.as_str())
        .collect();
    devices.sort_unstable();
    devices.dedup();
    Versions {
        silico: env!("CARGO_PKG_VERSION").to_string(),
        torch: silico_plugin_api::TORCH_VERSION.to_string(),
        libraries: plugins
            .libraries
            .iter()
            .map(|l| (l.name.clone(), l.manifest.version.to_string()))
            .collect(),
        device: if devices.is_empty() {
            "no cell finished yet".into()
        } else {
            devices.join(", ")
        },
    }
}
