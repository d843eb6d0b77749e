//! The retraining's report (`OUT/report/`): Table 1, the trajectory (Fig. 5, and Supplementary
//! Fig. S4 per structure), every candidate run, MSE against organelle exclusivity (Fig. 6) as
//! CSV and charts, the exclusivity reports before and after, and the terminal summary.
//!
//! Before → after mixes two effects: the exclusivity term's and that of training longer (a
//! fine-tuned model that was still learning improves at p = 0 too). So Table 1, Fig. 6 and the
//! summary set each structure's kept run beside its p = 0 control: the run of the same step
//! without the exclusivity term, started from the same models against the same predictions of
//! the others, so kept minus control is the term's own effect.

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

/// The p = 0 control of a step.
enum Control<'a> {
    /// A p = 0 run of the step beside the kept one.
    Separate(&'a Measures),
    /// The kept p is 0: the kept run is its own control (differences 0).
    Kept(&'a Measures),
    /// The step's p list has no 0: there is nothing to compare with.
    Missing,
}

impl<'a> Control<'a> {
    fn of(state: &'a State, step: usize) -> Self {
        let kept = &state.steps[step];
        if kept.p == 0.0 {
            return Control::Kept(&kept.measures);
        }
        state
            .candidates
            .iter()
            .find(|c| c.step == step && c.p == 0.0)
            .map_or(Control::Missing, |c| Control::Separate(&c.measures))
    }

    fn measures(&self) -> Option<&'a Measures> {
        match self {
            Control::Separate(m) | Control::Kept(m) => Some(m),
            Control::Missing => None,
        }
    }

    /// Table 1's `control` column.
    fn name(&self) -> &'static str {
        match self {
            Control::Separate(_) => "separate",
            Control::Kept(_) => "kept",
            Control::Missing => "none",
        }
    }
}

/// A retrained structure at its step: the p kept, the kept run's and the control's
/// (organelle exclusivity, MSE) of that structure, each measured with the others' predictions
/// of that step.
struct Retrained<'a> {
    structure: &'a str,
    p: f64,
    kept: (f64, f64),
    control: Control<'a>,
}

impl Retrained<'_> {
    fn control_values(&self) -> Option<(f64, f64)> {
        self.control
            .measures()
            .map(|m| own_values(m, self.structure))
    }
}

/// A structure's own (organelle exclusivity, MSE) in `measures`.
fn own_values(measures: &Measures, structure: &str) -> (f64, f64) {
    (
        measures.organelle_exclusivity[structure],
        measures.mse[structure],
    )
}

/// Every step's structure with its kept run and its control, in retraining order.
fn retrained(state: &State) -> impl Iterator<Item = Retrained<'_>> {
    state.steps.iter().enumerate().map(|(k, step)| Retrained {
        structure: &step.structure,
        p: step.p,
        kept: own_values(&step.measures, &step.structure),
        control: Control::of(state, k),
    })
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

/// Fig. 6: each structure's MSE against its organelle exclusivity, before and after, joined,
/// and its p = 0 control (see [`mse_vs_exclusivity_csv`]).
fn mse_vs_exclusivity_png(state: &State) -> Result<Vec<u8>> {
    let after = state.after();
    let point = |m: &Measures, s: &String| (m.organelle_exclusivity[s], m.mse[s]);
    let series = |name: &str, m: &Measures| ScatterSeries {
        name: name.into(),
        points: state.structures.iter().map(|s| point(m, s)).collect(),
        labels: state.structures.clone(),
    };
    // A kept p = 0 lies on or beside its after point, whose label names it already.
    let (control_labels, control_points) = retrained(state)
        .filter_map(|r| {
            let label = match r.control {
                Control::Kept(_) => String::new(),
                _ => r.structure.to_string(),
            };
            Some((label, r.control_values()?))
        })
        .unzip();
    let control = ScatterSeries {
        name: "p = 0 control".into(),
        points: control_points,
        labels: control_labels,
    };
    let chart = ScatterChart {
        title: format!("{}: MSE and organelle exclusivity", state.model),
        x_axis: Axis::new("organelle exclusivity"),
        y_axis: Axis::new("MSE"),
        series: vec![
            series("before", &state.before),
            series("after", after),
            control,
        ],
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

/// What the retraining did, for the terminal: order, chosen p, overall before and after, and
/// each structure's kept run against its p = 0 control.
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
    text += "organelle exclusivity and MSE at each step, kept p against p = 0 (same start, no exclusivity term):\n";
    let mut missing = Vec::new();
    for r in retrained(state) {
        let (exclusivity, mse) = r.kept;
        text += &format!(
            "  {}, p = {}: exclusivity {exclusivity:.4}, MSE {mse:.4}",
            r.structure, r.p
        );
        text += &match r.control {
            Control::Separate(control) => {
                let (control_exclusivity, control_mse) = own_values(control, r.structure);
                format!(
                    "; p = 0: {control_exclusivity:.4}, {control_mse:.4}; difference {:+.4}, {:+.4}\n",
                    exclusivity - control_exclusivity,
                    mse - control_mse
                )
            }
            Control::Kept(_) => " (p = 0 kept: its own control)\n".to_string(),
            Control::Missing => {
                missing.push(r.structure);
                "\n".to_string()
            }
        };
    }
    if !missing.is_empty() {
        text += &format!(
            "no p = 0 control for {}: add 0 to the p list\n",
            missing.join(", ")
        );
    }
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
    /// The structure's organelle exclusivity with the kept run, measured at its step as the
    /// control is; `exclusivity_after` is measured on the final set, where the later steps have
    /// changed the others' predictions. (`mse_after` is the kept run's: a structure's MSE
    /// changes only at its own step.)
    exclusivity_kept: String,
    /// `separate` (a p = 0 run of the same step), `kept` (the kept p is 0, so the control is
    /// the kept run and the differences are 0) or `none` (no 0 in the step's p list: the
    /// control columns are empty). Empty on skipped structures and on the overall row, which
    /// has no control: each structure's control was run at its own step against other
    /// predictions of the others, so no one set of predictions holds them all, and none was
    /// measured overall.
    control: String,
    exclusivity_control: String,
    mse_control: String,
    /// `exclusivity_kept - exclusivity_control`: the exclusivity term's own effect.
    exclusivity_kept_minus_control: String,
    /// `mse_after - mse_control`.
    mse_kept_minus_control: String,
}

/// Table 1: organelle exclusivity per structure and overall, before and after, and each
/// retrained structure's kept run against its p = 0 control.
pub fn table1_csv(state: &State) -> Result<Vec<u8>> {
    let after = state.after();
    let retrained: BTreeMap<&str, Retrained> = retrained(state).map(|r| (r.structure, r)).collect();
    let row = |structure: &str, before: f64, after: f64, mse: (f64, f64)| Table1Row {
        model: &state.model,
        structure: structure.to_string(),
        exclusivity_before: number(before),
        exclusivity_after: number(after),
        change_percent: number(change_percent(before, after)),
        mse_before: number(mse.0),
        mse_after: number(mse.1),
        p: String::new(),
        exclusivity_kept: String::new(),
        control: String::new(),
        exclusivity_control: String::new(),
        mse_control: String::new(),
        exclusivity_kept_minus_control: String::new(),
        mse_kept_minus_control: String::new(),
    };
    let mut rows: Vec<Table1Row> = state
        .structures
        .iter()
        .map(|s| {
            let mut row = row(
                s,
                state.before.organelle_exclusivity[s],
                after.organelle_exclusivity[s],
                (state.before.mse[s], after.mse[s]),
            );
            let Some(r) = retrained.get(s.as_str()) else {
                row.p = "skipped".into();
                return row;
            };
            row.p = r.p.to_string();
            row.exclusivity_kept = number(r.kept.0);
            row.control = r.control.name().into();
            if let Some((exclusivity, mse)) = r.control_values() {
                row.exclusivity_control = number(exclusivity);
                row.mse_control = number(mse);
                row.exclusivity_kept_minus_control = number(r.kept.0 - exclusivity);
                row.mse_kept_minus_control = number(r.kept.1 - mse);
            }
            row
        })
        .collect();
    rows.push(row(
        "overall",
        state.before.overall_exclusivity,
        after.overall_exclusivity,
        (state.before.overall_mse, after.overall_mse),
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
    /// The p = 0 control's, measured at the structure's step (Table 1's `control`); empty
    /// where there is none.
    mse_control: String,
    exclusivity_control: String,
}

/// Fig. 6: each structure's MSE and organelle exclusivity, before, after, and of its p = 0
/// control. The control's exclusivity is measured against the others' predictions at its
/// step, the after point's against the final ones; Table 1's `exclusivity_kept` is the kept
/// run's at the step.
fn mse_vs_exclusivity_csv(state: &State) -> Result<Vec<u8>> {
    let after = state.after();
    let controls: BTreeMap<&str, (f64, f64)> = retrained(state)
        .filter_map(|r| Some((r.structure, r.control_values()?)))
        .collect();
    rows_csv(state.structures.iter().map(|s| {
        let control = controls.get(s.as_str());
        MseExclusivityRow {
            structure: s,
            mse_before: number(state.before.mse[s]),
            exclusivity_before: number(state.before.organelle_exclusivity[s]),
            mse_after: number(after.mse[s]),
            exclusivity_after: number(after.organelle_exclusivity[s]),
            mse_control: control.map_or_else(String::new, |c| number(c.1)),
            exclusivity_control: control.map_or_else(String::new, |c| number(c.0)),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrain::state::{Candidate, Step};
    use std::path::PathBuf;

    const STRUCTURES: [&str; 4] = ["actin", "dna", "golgi", "nucleoli"];

    /// Measures where structure k has organelle exclusivity `base + k / 10` and MSE
    /// `base / 2 + k / 100`, so every value in the tables is distinct.
    fn measures(base: f64) -> Measures {
        let own = |k: usize| (base + k as f64 / 10.0, base / 2.0 + k as f64 / 100.0);
        let mse: BTreeMap<String, f64> = STRUCTURES
            .iter()
            .enumerate()
            .map(|(k, s)| (s.to_string(), own(k).1))
            .collect();
        Measures {
            overall_exclusivity: base,
            overall_mse: mse.values().sum::<f64>() / mse.len() as f64,
            organelle_exclusivity: STRUCTURES
                .iter()
                .enumerate()
                .map(|(k, s)| (s.to_string(), own(k).0))
                .collect(),
            mse,
        }
    }

    fn candidate(step: usize, structure: &str, p: f64, base: f64) -> Candidate {
        Candidate {
            step,
            structure: structure.into(),
            p,
            run: PathBuf::from(format!("steps/{}-{structure}/p{p}", step + 1)),
            measures: measures(base),
        }
    }

    fn kept(c: &Candidate) -> Step {
        Step {
            structure: c.structure.clone(),
            p: c.p,
            run: c.run.clone(),
            measures: c.measures.clone(),
        }
    }

    /// dna kept p = 2 beside a p = 0 run; golgi kept p = 0; actin's list had no 0; nucleoli
    /// skipped.
    fn state() -> State {
        let candidates = vec![
            candidate(0, "dna", 0.0, 0.30),
            candidate(0, "dna", 2.0, 0.40),
            candidate(1, "golgi", 0.0, 0.50),
            candidate(1, "golgi", 1.0, 0.45),
            candidate(2, "actin", 3.0, 0.60),
        ];
        State {
            model: "m".into(),
            definition: String::new(),
            iterations: 1,
            structures: STRUCTURES.iter().map(|s| s.to_string()).collect(),
            order: vec!["dna".into(), "golgi".into(), "actin".into()],
            skipped: vec!["nucleoli".into()],
            current: BTreeMap::new(),
            before: measures(0.1),
            steps: [1, 2, 4].iter().map(|&k| kept(&candidates[k])).collect(),
            candidates,
        }
    }

    /// The CSV's rows as header → value maps.
    fn records(bytes: &[u8]) -> Vec<BTreeMap<String, String>> {
        let mut reader = csv::Reader::from_reader(bytes);
        let header = reader.headers().unwrap().clone();
        reader
            .records()
            .map(|r| {
                header
                    .iter()
                    .zip(r.unwrap().iter())
                    .map(|(h, v)| (h.into(), v.into()))
                    .collect()
            })
            .collect()
    }

    fn value(row: &BTreeMap<String, String>, column: &str) -> f64 {
        row[column]
            .parse()
            .unwrap_or_else(|_| panic!("{column}: {:?}", row[column]))
    }

    #[test]
    fn table1_sets_the_p0_control_beside_the_kept_p() {
        let rows = records(&table1_csv(&state()).unwrap());
        assert_eq!(rows.len(), 5);
        let row = |s: &str| rows.iter().find(|r| r["structure"] == s).unwrap();

        // dna (index 1): kept p = 2 at base 0.40, control p = 0 at base 0.30.
        let dna = row("dna");
        assert_eq!(
            (dna["p"].as_str(), dna["control"].as_str()),
            ("2", "separate")
        );
        assert!((value(dna, "exclusivity_kept") - 0.50).abs() < 1e-9);
        assert!((value(dna, "exclusivity_control") - 0.40).abs() < 1e-9);
        assert!((value(dna, "mse_control") - 0.16).abs() < 1e-9);
        assert!((value(dna, "exclusivity_kept_minus_control") - 0.10).abs() < 1e-9);
        assert!((value(dna, "mse_kept_minus_control") - 0.05).abs() < 1e-9);
        // The final set is actin's step (base 0.60): after differs from the kept run's at its step.
        assert!((value(dna, "exclusivity_after") - 0.70).abs() < 1e-9);

        // golgi (index 2) kept p = 0: its own control, differences 0.
        let golgi = row("golgi");
        assert_eq!(
            (golgi["p"].as_str(), golgi["control"].as_str()),
            ("0", "kept")
        );
        assert_eq!(golgi["exclusivity_control"], golgi["exclusivity_kept"]);
        assert!((value(golgi, "exclusivity_control") - 0.70).abs() < 1e-9);
        assert_eq!(value(golgi, "exclusivity_kept_minus_control"), 0.0);
        assert_eq!(value(golgi, "mse_kept_minus_control"), 0.0);

        let actin = row("actin");
        assert_eq!(
            (actin["p"].as_str(), actin["control"].as_str()),
            ("3", "none")
        );
        let nucleoli = row("nucleoli");
        assert_eq!(nucleoli["p"], "skipped");
        let overall = row("overall");
        for r in [actin, nucleoli, overall] {
            for column in [
                "exclusivity_control",
                "mse_control",
                "exclusivity_kept_minus_control",
                "mse_kept_minus_control",
            ] {
                assert_eq!(r[column], "", "{} {column}", r["structure"]);
            }
        }
        assert_eq!(
            (nucleoli["control"].as_str(), overall["control"].as_str()),
            ("", "")
        );
    }

    #[test]
    fn the_summary_gives_each_structure_its_control_once() {
        let text = summary(&state());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7, "{text}");
        assert_eq!(
            lines[3],
            "  dna, p = 2: exclusivity 0.5000, MSE 0.2100; p = 0: 0.4000, 0.1600; difference +0.1000, +0.0500",
        );
        assert_eq!(
            lines[4],
            "  golgi, p = 0: exclusivity 0.7000, MSE 0.2700 (p = 0 kept: its own control)"
        );
        assert_eq!(lines[5], "  actin, p = 3: exclusivity 0.6000, MSE 0.3000");
        assert_eq!(lines[6], "no p = 0 control for actin: add 0 to the p list");
        assert!(
            lines[1].starts_with("overall exclusivity 0.1000 -> 0.6000"),
            "{text}"
        );
    }

    #[test]
    fn fig6_has_the_control_as_a_third_point() {
        let state = state();
        let rows = records(&mse_vs_exclusivity_csv(&state).unwrap());
        let row = |s: &str| rows.iter().find(|r| r["structure"] == s).unwrap();
        assert!((value(row("dna"), "exclusivity_control") - 0.40).abs() < 1e-9);
        assert!((value(row("dna"), "mse_control") - 0.16).abs() < 1e-9);
        assert!((value(row("golgi"), "mse_control") - 0.27).abs() < 1e-9);
        for s in ["actin", "nucleoli"] {
            assert_eq!(
                (
                    row(s)["mse_control"].as_str(),
                    row(s)["exclusivity_control"].as_str()
                ),
                ("", "")
            );
        }
        assert_eq!(&mse_vs_exclusivity_png(&state).unwrap()[1..4], b"PNG");
    }
}
