//! The retraining's report (`OUT/report/`): Table 1, the trajectory (Fig. 5, and Supplementary
//! Fig. S4 per structure), every candidate run, MSE against organelle exclusivity (Fig. 6) as
//! CSV and charts, the exclusivity reports before and after, and the terminal summary.

use super::state::{Measures, State};
use crate::{
    evaluate::exclusivity::{write_report, ExclusivityReport},
    files::write_atomic,
};
use anyhow::{Context, Result};
use serde::Serialize;
use silico_plot::{Axis, Chart, LineChart, LineSeries, ScatterChart, ScatterSeries, Segment};
use std::{collections::BTreeMap, fs, path::Path};

/// Writes the exclusivity report of the initial prediction set into `report/exclusivity-before`.
pub fn write_before(before: &ExclusivityReport, report: &Path) -> Result<()> {
    write_report(before, &report.join("exclusivity-before"))
}

/// Writes every file of the finished retraining into `report`; `after` is the exclusivity of
/// the final prediction set.
pub fn write(state: &State, after: &ExclusivityReport, report: &Path) -> Result<()> {
    fs::create_dir_all(report).with_context(|| format!("cannot create {}", report.display()))?;
    write_report(after, &report.join("exclusivity-after"))?;
    write_atomic(&report.join("table1.csv"), &table1_csv(state)?)?;
    write_atomic(&report.join("trajectory.csv"), &trajectory_csv(state)?)?;
    write_atomic(
        &report.join("organelle_trajectory.csv"),
        &organelle_trajectory_csv(state)?,
    )?;
    write_atomic(&report.join("candidates.csv"), &candidates_csv(state)?)?;
    write_atomic(
        &report.join("mse_vs_exclusivity.csv"),
        &mse_vs_exclusivity_csv(state)?,
    )?;
    write_atomic(&report.join("trajectory.png"), &trajectory_png(state)?)?;
    write_atomic(
        &report.join("mse_vs_exclusivity.png"),
        &mse_vs_exclusivity_png(state)?,
    )
}

/// Fig. 5: overall exclusivity / overall MSE after each step, each point labelled with its p.
fn trajectory_png(state: &State) -> Result<Vec<u8>> {
    let steps: Vec<(&str, String, &Measures)> =
        std::iter::once(("initial", String::new(), &state.before))
            .chain(
                state
                    .steps
                    .iter()
                    .map(|s| (s.structure.as_str(), format!("p={}", s.p), &s.measures)),
            )
            .collect();
    let chart = LineChart {
        title: format!("{}: retraining trajectory", state.model),
        x_axis: Axis {
            ticks: Some(
                steps
                    .iter()
                    .enumerate()
                    .map(|(k, (s, _, _))| (k as f64, s.to_string()))
                    .collect(),
            ),
            ..Axis::new("structure retrained")
        },
        y_axis: Axis::new("overall exclusivity / overall MSE"),
        x: (0..steps.len()).map(|k| k as f64).collect(),
        series: vec![LineSeries {
            name: "exclusivity / MSE".into(),
            y: steps.iter().map(|(_, _, m)| m.ratio()).collect(),
            point_labels: steps.iter().map(|(_, p, _)| p.clone()).collect(),
        }],
        // Room for every structure's name under its step.
        width: (180 * steps.len() + 300).max(720),
        ..LineChart::default()
    };
    Ok(chart.png()?)
}

/// Fig. 6: each structure's MSE against its organelle exclusivity, before and after, joined.
fn mse_vs_exclusivity_png(state: &State) -> Result<Vec<u8>> {
    let after = state.after();
    let point = |m: &Measures, s: &String| (m.organelle_exclusivity[s], m.mse[s]);
    let series = |name: &str, m: &Measures| ScatterSeries {
        name: name.into(),
        points: state.structures.iter().map(|s| point(m, s)).collect(),
        labels: state.structures.clone(),
    };
    let chart = ScatterChart {
        title: format!("{}: MSE and organelle exclusivity", state.model),
        x_axis: Axis::new("organelle exclusivity"),
        y_axis: Axis::new("MSE"),
        series: vec![series("before", &state.before), series("after", after)],
        segments: state
            .structures
            .iter()
            .map(|s| Segment {
                from: point(&state.before, s),
                to: point(after, s),
                arrow: true,
            })
            .collect(),
        ..ScatterChart::default()
    };
    Ok(chart.png()?)
}

/// What the retraining did, for the terminal: order, chosen p, overall before and after.
pub fn summary(state: &State) -> String {
    let after = state.after();
    let mut text = format!(
        "retrained {} ({}) in this order: {}\n",
        state.model,
        if state.skipped.is_empty() {
            "none skipped".to_string()
        } else {
            format!("skipped {}", state.skipped.join(", "))
        },
        state
            .steps
            .iter()
            .map(|s| format!("{} (p = {})", s.structure, s.p))
            .collect::<Vec<_>>()
            .join(", ")
    );
    text += &format!(
        "overall exclusivity {:.4} -> {:.4} ({:+.1}%), overall MSE {:.4} -> {:.4} ({:+.1}%)\n",
        state.before.overall_exclusivity,
        after.overall_exclusivity,
        change_percent(state.before.overall_exclusivity, after.overall_exclusivity),
        state.before.overall_mse,
        after.overall_mse,
        change_percent(state.before.overall_mse, after.overall_mse)
    );
    text
}

/// Six decimals; empty where undefined.
fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.6}")
    } else {
        String::new()
    }
}

fn change_percent(before: f64, after: f64) -> f64 {
    100.0 * (after - before) / before.abs()
}

/// Serializes `rows` as CSV with a header from their field names.
fn rows_csv<R: Serialize>(rows: impl IntoIterator<Item = R>) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row)?;
    }
    Ok(writer.into_inner()?)
}

#[derive(Serialize)]
struct Table1Row<'a> {
    model: &'a str,
    structure: String,
    exclusivity_before: String,
    exclusivity_after: String,
    change_percent: String,
    mse_before: String,
    mse_after: String,
    /// The p kept, `skipped`, or empty on the overall row.
    p: String,
}

/// Table 1: organelle exclusivity per structure and overall, before and after.
pub fn table1_csv(state: &State) -> Result<Vec<u8>> {
    let after = state.after();
    let chosen: BTreeMap<&str, f64> = state
        .steps
        .iter()
        .map(|s| (s.structure.as_str(), s.p))
        .collect();
    let row = |structure: &str, before: f64, after: f64, mse: (f64, f64), p: String| Table1Row {
        model: &state.model,
        structure: structure.to_string(),
        exclusivity_before: number(before),
        exclusivity_after: number(after),
        change_percent: number(change_percent(before, after)),
        mse_before: number(mse.0),
        mse_after: number(mse.1),
        p,
    };
    let mut rows: Vec<Table1Row> = state
        .structures
        .iter()
        .map(|s| {
            row(
                s,
                state.before.organelle_exclusivity[s],
                after.organelle_exclusivity[s],
                (state.before.mse[s], after.mse[s]),
                chosen
                    .get(s.as_str())
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "skipped".into()),
            )
        })
        .collect();
    rows.push(row(
        "overall",
        state.before.overall_exclusivity,
        after.overall_exclusivity,
        (state.before.overall_mse, after.overall_mse),
        String::new(),
    ));
    rows_csv(rows)
}

#[derive(Serialize)]
struct TrajectoryRow<'a> {
    step: usize,
    structure: &'a str,
    p: String,
    overall_exclusivity: String,
    overall_mse: String,
    ratio: String,
}

/// The initial measures and those after each step: (step, structure retrained, its p).
fn trajectory(state: &State) -> impl Iterator<Item = (usize, &str, String, &Measures)> {
    std::iter::once((0, "initial", String::new(), &state.before)).chain(
        state
            .steps
            .iter()
            .enumerate()
            .map(|(k, s)| (k + 1, s.structure.as_str(), s.p.to_string(), &s.measures)),
    )
}

/// Fig. 5: overall exclusivity, overall MSE and their ratio after each step, with its p.
fn trajectory_csv(state: &State) -> Result<Vec<u8>> {
    rows_csv(
        trajectory(state).map(|(step, structure, p, m)| TrajectoryRow {
            step,
            structure,
            p,
            overall_exclusivity: number(m.overall_exclusivity),
            overall_mse: number(m.overall_mse),
            ratio: number(m.ratio()),
        }),
    )
}

/// Supplementary Fig. S4: every structure's organelle exclusivity after each step (one column
/// per structure, so rows are records rather than a fixed struct).
fn organelle_trajectory_csv(state: &State) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(
        ["step", "retrained"]
            .into_iter()
            .chain(state.structures.iter().map(String::as_str)),
    )?;
    for (step, retrained, _, m) in trajectory(state) {
        let mut record = vec![step.to_string(), retrained.to_string()];
        record.extend(
            state
                .structures
                .iter()
                .map(|s| number(m.organelle_exclusivity[s])),
        );
        writer.write_record(&record)?;
    }
    Ok(writer.into_inner()?)
}

#[derive(Serialize)]
struct CandidateRow<'a> {
    step: usize,
    structure: &'a str,
    /// As written in the registry's list (`Display`: 1 rather than 1.0).
    p: String,
    overall_exclusivity: String,
    overall_mse: String,
    ratio: String,
    kept: bool,
    run: String,
}

/// Every retraining run, with the one kept per step marked.
fn candidates_csv(state: &State) -> Result<Vec<u8>> {
    rows_csv(state.candidates.iter().map(|c| CandidateRow {
        step: c.step + 1,
        structure: &c.structure,
        p: c.p.to_string(),
        overall_exclusivity: number(c.measures.overall_exclusivity),
        overall_mse: number(c.measures.overall_mse),
        ratio: number(c.measures.ratio()),
        kept: state.steps.get(c.step).is_some_and(|s| s.run == c.run),
        run: c.run.display().to_string(),
    }))
}

#[derive(Serialize)]
struct MseExclusivityRow<'a> {
    structure: &'a str,
    mse_before: String,
    exclusivity_before: String,
    mse_after: String,
    exclusivity_after: String,
}

/// Fig. 6: each structure's MSE and organelle exclusivity, before and after.
fn mse_vs_exclusivity_csv(state: &State) -> Result<Vec<u8>> {
    let after = state.after();
    rows_csv(state.structures.iter().map(|s| MseExclusivityRow {
        structure: s,
        mse_before: number(state.before.mse[s]),
        exclusivity_before: number(state.before.organelle_exclusivity[s]),
        mse_after: number(after.mse[s]),
        exclusivity_after: number(after.organelle_exclusivity[s]),
    }))
}
