//! The files of an exclusivity report: `exclusivity.json` (structures, `overall`, `organelle`,
//! the `pairwise` matrix, per-image values), `exclusivity.csv` (the same table) and
//! `exclusivity_pairwise.png` (a heat map of the pairwise matrix), each written atomically.

use super::{ExclusivityReport, ImageExclusivity};
use crate::{evaluate::csv_text, files::write_atomic};
use anyhow::{Context, Result};
use serde::Serialize;
use silico_plot::{heatmap_png, HeatMap};
use std::{collections::BTreeMap, fs, path::Path};

const MEANS_NOTE: &str = "Means are over all voxels of all images (running sums), not means of per-image means. \
organelle[A]: mean of (highest - second highest) over the voxels where A is highest. \
pairwise[A][B]: mean of (A - B) over the voxels where A (the row) is highest; directed, not symmetric. \
Ties for the highest go to the structure whose name sorts first. null: undefined (the diagonal; a structure never highest).";

/// Writes `exclusivity.json`, `exclusivity.csv` and `exclusivity_pairwise.png` into `out`.
pub fn write_report(report: &ExclusivityReport, out: &Path) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write_atomic(&out.join("exclusivity.json"), json(report)?.as_bytes())?;
    write_atomic(&out.join("exclusivity.csv"), csv(report)?.as_bytes())?;
    let png = heatmap_png(&HeatMap {
        title: "Pairwise exclusivity",
        caption: "Row A, column B: mean of A - B over the voxels where A is highest",
        labels: &report.structures,
        values: &report.pairwise,
    })?;
    write_atomic(&out.join("exclusivity_pairwise.png"), &png)
}

pub(super) fn finite_or_null<S: serde::Serializer>(
    v: &f64,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    finite(*v).serialize(serializer)
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn json(report: &ExclusivityReport) -> Result<String> {
    #[derive(Serialize)]
    struct Json<'a> {
        measure: &'static str,
        note: &'static str,
        structures: &'a [String],
        voxels: u64,
        overall: Option<f64>,
        organelle: BTreeMap<&'a str, Option<f64>>,
        highest_voxels: BTreeMap<&'a str, u64>,
        pairwise: Vec<Vec<Option<f64>>>,
        images: &'a [ImageExclusivity],
    }
    let by_structure = |values: &[f64]| {
        report
            .structures
            .iter()
            .map(String::as_str)
            .zip(values.iter().map(|v| finite(*v)))
            .collect()
    };
    let text = serde_json::to_string_pretty(&Json {
        measure: "organelle exclusivity (Sun et al. 2022, Section 2.3)",
        note: MEANS_NOTE,
        structures: &report.structures,
        voxels: report.voxels,
        overall: finite(report.overall),
        organelle: by_structure(&report.organelle),
        highest_voxels: report
            .structures
            .iter()
            .map(String::as_str)
            .zip(report.highest_voxels.iter().copied())
            .collect(),
        pairwise: report
            .pairwise
            .iter()
            .map(|row| row.iter().map(|v| finite(*v)).collect())
            .collect(),
        images: &report.images,
    })?;
    Ok(text + "\n")
}

/// A row of `exclusivity.csv`.
#[derive(Serialize)]
struct CsvRow<'a> {
    structure: &'a str,
    organelle_exclusivity: String,
    highest_voxels: u64,
    pairwise: Vec<String>,
}

/// One row per structure (its organelle exclusivity, voxels where it is highest, and its row of
/// the pairwise matrix), then an `overall` row; empty cells where a value is undefined.
fn csv(report: &ExclusivityReport) -> Result<String> {
    let number = |v: f64| {
        if v.is_finite() {
            v.to_string()
        } else {
            String::new()
        }
    };
    let mut header = vec![
        "structure".to_string(),
        "organelle_exclusivity".into(),
        "highest_voxels".into(),
    ];
    header.extend(report.structures.iter().map(|b| format!("pairwise_vs_{b}")));
    let rows = report
        .structures
        .iter()
        .enumerate()
        .map(|(a, structure)| CsvRow {
            structure,
            organelle_exclusivity: number(report.organelle[a]),
            highest_voxels: report.highest_voxels[a],
            pairwise: report.pairwise[a].iter().map(|&v| number(v)).collect(),
        })
        .chain([CsvRow {
            structure: "overall",
            organelle_exclusivity: number(report.overall),
            highest_voxels: report.voxels,
            pairwise: vec![String::new(); report.structures.len()],
        }]);
    Ok(String::from_utf8(csv_text(&header, rows)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ExclusivityReport {
        ExclusivityReport {
            structures: vec!["dna".into(), "er, smooth".into()],
            images: vec![],
            voxels: 4,
            overall: 1.5,
            organelle: vec![2.0, f64::NAN],
            highest_voxels: vec![4, 0],
            pairwise: vec![vec![f64::NAN, 2.0], vec![f64::NAN, f64::NAN]],
        }
    }

    #[test]
    fn csv_has_a_row_per_structure_and_an_overall_row() {
        assert_eq!(
            csv(&report()).unwrap(),
            "structure,organelle_exclusivity,highest_voxels,pairwise_vs_dna,\"pairwise_vs_er, smooth\"\n\
             dna,2,4,,2\n\
             \"er, smooth\",,0,,\n\
             overall,1.5,4,,\n"
        );
    }

    #[test]
    fn json_writes_undefined_values_as_null() {
        let parsed: serde_json::Value = serde_json::from_str(&json(&report()).unwrap()).unwrap();
        assert_eq!(parsed["overall"], 1.5);
        assert_eq!(parsed["organelle"]["dna"], 2.0);
        assert!(parsed["organelle"]["er, smooth"].is_null());
        assert_eq!(
            parsed["pairwise"],
            serde_json::json!([[null, 2.0], [null, null]])
        );
        assert!(parsed["note"]
            .as_str()
            .unwrap()
            .contains("all voxels of all images"));
    }
}
