//! The benchmark's report, `OUT/report.html`: one self-contained page (inline CSS, inline SVG
//! figures, no script, nothing fetched) that opens from disk. It holds the leaderboard (each
//! model on each structure: mean ± sd over seeds of every metric and cost, the best model per
//! structure and metric marked, and those not significantly worse than it, see [`stats`]),
//! Table 1 (organelle exclusivity) per model, Fig. 3 (Jaccard box plots), Fig. 7 (shape against
//! spatial divergence), the training curves of every cell, the plan and the versions.
//!
//! Rows and figures follow the plan's models, structures and seeds; results of cells the plan
//! no longer has are left out.

mod stats;
mod svg;

use super::{
    plan::Plan,
    results::{BenchResults, CellResult, ImageScores},
};
use crate::files::write_atomic;
use anyhow::{Context, Result};
use silico_evaluation::paired::mean_sd;
use silico_plot::{axis::Axis, box_stats};
use stats::{Candidate, Mark, MIN_PAIRED_IMAGES, SIGNIFICANCE};
use std::{collections::BTreeMap, fmt::Write, path::Path};
use svg::{Chart, Marker};

/// What produced the numbers, for the report's last section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Versions {
    pub silico: String,
    /// libtorch.
    pub torch: String,
    /// Plugin library → its version.
    pub libraries: Vec<(String, String)>,
    pub device: String,
}

/// Writes `out/report.html` (atomically) for `plan` from `results`; the training curves come
/// from each cell's `run/losses.csv` under `out`.
pub fn write_report(
    out: &Path,
    plan: &Plan,
    results: &BenchResults,
    versions: &Versions,
) -> Result<()> {
    let html = Report::new(out, plan, results).page(versions);
    write_atomic(&out.join("report.html"), html.as_bytes()).context("writing the benchmark report")
}

/// `text` with the characters that mean something in HTML (text and attribute values) escaped.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The metric name of organelle exclusivity in `results.csv`; its values come from
/// [`BenchResults::exclusivity`], not from the cells.
const EXCLUSIVITY: &str = "organelle_exclusivity";

/// A metric of the leaderboard the report knows: its column heading, what it is, and which way
/// is better. Metrics of a cell not listed here get a column of their own, unmarked.
struct KnownMetric {
    key: &'static str,
    label: &'static str,
    help: &'static str,
    higher_is_better: bool,
}

const KNOWN_METRICS: [KnownMetric; 9] = [
    KnownMetric {
        key: "pearson_r",
        label: "r",
        help: "Pearson correlation of prediction and target",
        higher_is_better: true,
    },
    KnownMetric {
        key: "r_over_noise_ceiling",
        label: "r/Cmax",
        help: "r over the target's noise ceiling C_max (Ounkomol et al. 2018), where the noise-free target is known",
        higher_is_better: true,
    },
    KnownMetric {
        key: "mse",
        label: "MSE",
        help: "mean squared error of the z-scored images",
        higher_is_better: false,
    },
    KnownMetric {
        key: "ssim",
        label: "SSIM",
        help: "structural similarity (scikit-image's)",
        higher_is_better: true,
    },
    KnownMetric {
        key: "psnr",
        label: "PSNR",
        help: "peak signal-to-noise ratio in dB, with the target's range",
        higher_is_better: true,
    },
    KnownMetric {
        key: "jaccard",
        label: "Jaccard",
        help: "Jaccard index of the segmented prediction and the segmented target (Fig. 3)",
        higher_is_better: true,
    },
    KnownMetric {
        key: EXCLUSIVITY,
        label: "exclusivity",
        help: "organelle exclusivity across the model's structures (Table 1)",
        higher_is_better: true,
    },
    KnownMetric {
        key: "shape_divergence",
        label: "shape div.",
        help: "kNN divergence of the predicted objects' shapes from the real ones (Fig. 7)",
        higher_is_better: false,
    },
    KnownMetric {
        key: "spatial_kl",
        label: "spatial KL",
        help: "KL divergence of the predicted objects' position density from the real one (Fig. 7)",
        higher_is_better: false,
    },
];

/// The score of one test image on `metric`, where the metric has per-image scores.
fn image_score(metric: &str, scores: &ImageScores) -> Option<f64> {
    match metric {
        "pearson_r" => Some(scores.pearson_r),
        "mse" => Some(scores.mse),
        "ssim" => Some(scores.ssim),
        "psnr" => Some(scores.psnr),
        "jaccard" => scores.jaccard,
        "r_over_noise_ceiling" => scores.r_over_noise_ceiling,
        _ => None,
    }
}

/// A metric column of the leaderboard.
struct Column {
    key: String,
    label: String,
    help: String,
    /// `None` for metrics the report does not know: no best is marked.
    higher_is_better: Option<bool>,
}

/// The plan's grid and the results found for it.
struct Report<'a> {
    out: &'a Path,
    plan: &'a Plan,
    results: &'a BenchResults,
    models: Vec<&'a str>,
    structures: Vec<&'a str>,
    /// (model, structure) → its finished cells, by seed.
    cells: BTreeMap<(String, String), Vec<&'a CellResult>>,
    columns: Vec<Column>,
    /// (structure, metric) → each model's mark, in the order of `models`.
    marks: BTreeMap<(&'a str, String), Vec<Mark>>,
}

/// The state of a plan's cell.
enum CellState<'a> {
    Done,
    Failed(&'a str),
    Pending,
}

impl<'a> Report<'a> {
    fn new(out: &'a Path, plan: &'a Plan, results: &'a BenchResults) -> Self {
        let models: Vec<&str> = plan.models.iter().map(|m| m.name.as_str()).collect();
        let structures: Vec<&str> = plan.structures.iter().map(String::as_str).collect();
        let mut cells: BTreeMap<(String, String), Vec<&CellResult>> = BTreeMap::new();
        for &seed in &plan.seeds {
            for cell in results.cells.iter().filter(|c| c.seed == seed) {
                cells
                    .entry((cell.model.clone(), cell.structure.clone()))
                    .or_default()
                    .push(cell);
            }
        }
        let in_plan = |c: &CellResult| {
            models.contains(&c.model.as_str()) && structures.contains(&c.structure.as_str())
        };
        let present = |key: &str| {
            if key == EXCLUSIVITY {
                results
                    .exclusivity
                    .iter()
                    .any(|e| models.contains(&e.model.as_str()))
            } else {
                results
                    .cells
                    .iter()
                    .any(|c| in_plan(c) && c.metrics.contains_key(key))
            }
        };
        let mut columns: Vec<Column> = KNOWN_METRICS
            .iter()
            .filter(|m| present(m.key))
            .map(|m| Column {
                key: m.key.to_string(),
                label: m.label.to_string(),
                help: m.help.to_string(),
                higher_is_better: Some(m.higher_is_better),
            })
            .collect();
        let mut unknown: Vec<&str> = results
            .cells
            .iter()
            .filter(|c| in_plan(c))
            .flat_map(|c| c.metrics.keys().map(String::as_str))
            .filter(|key| KNOWN_METRICS.iter().all(|m| m.key != *key))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        columns.extend(unknown.into_iter().map(|key| Column {
            key: key.to_string(),
            label: key.replace('_', " "),
            help: key.to_string(),
            higher_is_better: None,
        }));
        let mut report = Self {
            out,
            plan,
            results,
            models,
            structures,
            cells,
            columns,
            marks: BTreeMap::new(),
        };
        for &structure in &report.structures {
            for column in &report.columns {
                let Some(higher_is_better) = column.higher_is_better else {
                    continue;
                };
                let candidates: Vec<Candidate> = report
                    .models
                    .iter()
                    .map(|model| report.candidate(model, structure, &column.key))
                    .collect();
                report.marks.insert(
                    (structure, column.key.clone()),
                    stats::marks(&candidates, higher_is_better),
                );
            }
        }
        report
    }

    fn finished(&self, model: &str, structure: &str) -> &[&'a CellResult] {
        self.cells
            .get(&(model.to_string(), structure.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    fn state(&self, model: &str, structure: &str, seed: u64) -> CellState<'a> {
        if self
            .finished(model, structure)
            .iter()
            .any(|c| c.seed == seed)
        {
            return CellState::Done;
        }
        match self
            .results
            .failed
            .get(&format!("{model}/{structure}/seed{seed}"))
        {
            Some(reason) => CellState::Failed(reason),
            None => CellState::Pending,
        }
    }

    /// One model's scores on one structure and metric.
    fn candidate(&self, model: &str, structure: &str, metric: &str) -> Candidate {
        if metric == EXCLUSIVITY {
            return Candidate {
                per_seed: self
                    .results
                    .exclusivity
                    .iter()
                    .filter(|e| e.model == model && self.plan.seeds.contains(&e.seed))
                    .filter_map(|e| e.organelle.get(structure).copied())
                    .collect(),
                per_image: BTreeMap::new(),
            };
        }
        let cells = self.finished(model, structure);
        let mut per_image: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for image in cells.iter().flat_map(|c| &c.images) {
            if let Some(score) = image_score(metric, image) {
                per_image
                    .entry(image.image.clone())
                    .or_default()
                    .push(score);
            }
        }
        Candidate {
            per_seed: cells
                .iter()
                .filter_map(|c| c.metrics.get(metric).copied())
                .collect(),
            per_image,
        }
    }

    fn page(&self, versions: &Versions) -> String {
        let (mut done, mut failed, mut pending) = (0, 0, 0);
        for cell in self.plan.cells() {
            match self.state(&cell.model, &cell.structure, cell.seed) {
                CellState::Done => done += 1,
                CellState::Failed(_) => failed += 1,
                CellState::Pending => pending += 1,
            }
        }
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let mut summary = format!(
            "{} × {} × {}: {done} cells done",
            plural(self.models.len(), "model"),
            plural(self.structures.len(), "structure"),
            plural(self.plan.seeds.len(), "seed"),
        );
        if failed > 0 {
            let _ = write!(summary, ", {failed} failed");
        }
        if pending > 0 {
            let _ = write!(summary, ", {pending} not finished");
        }
        let sections = [
            ("leaderboard", "Leaderboard", self.leaderboard()),
            ("table-1", "Table 1: organelle exclusivity", self.table_1()),
            ("fig-3", "Fig. 3: Jaccard index per image", self.fig_3()),
            (
                "fig-7",
                "Fig. 7: shape and spatial divergence",
                self.fig_7(),
            ),
            ("training", "Training curves", self.training_curves()),
            ("plan", "Plan", self.plan_section()),
            ("versions", "Versions", versions_section(versions)),
        ];
        let mut nav = String::new();
        let mut body = String::new();
        for (id, title, content) in sections.iter().filter(|(_, _, c)| !c.is_empty()) {
            let _ = write!(nav, r##"<a href="#{id}">{}</a>"##, escape(title));
            let _ = write!(
                body,
                r#"<section id="{id}"><h2>{}</h2>{content}</section>"#,
                escape(title)
            );
        }
        format!(
            r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>silico benchmark: {title}</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>silico benchmark</h1><p class="summary">{plan} · {summary}</p><nav>{nav}</nav></header>
<main>
{body}
</main>
</body>
</html>
"#,
            title = escape(&file_name(&self.plan.path)),
            plan = escape(&self.plan.path.display().to_string()),
            summary = escape(&summary),
        )
    }

    fn leaderboard(&self) -> String {
        let mut html = format!(
            r#"<p class="note">Each row is one model on one structure: mean over the finished seeds, ± the sample sd
with two or more seeds. Per structure and metric <span class="key best">★ best</span> marks the best model
(highest r, SSIM, PSNR, Jaccard and exclusivity; lowest MSE and divergences) and
<span class="key tied">shading</span> the models not significantly worse than it: a two-sided Wilcoxon
signed-rank test paired over the test images, each image's score averaged over seeds first, p ≥ {SIGNIFICANCE}
(hover a value for its p-value). With fewer than {MIN_PAIRED_IMAGES} images scored under both models the test
is not run (<span class="untested-mark">†</span>); exclusivity and the divergences have one value per seed and no
per-image scores, so only their best is marked. Costs: seconds per training iteration, the cell's wall time
(train, predict, evaluate), the peak resident memory and the trainable parameters of each network.</p>"#
        );
        html.push_str(r#"<div class="table-wrap"><table class="leaderboard"><thead><tr><th>model</th><th title="finished seeds of the plan's">seeds</th>"#);
        for column in &self.columns {
            let arrow = match column.higher_is_better {
                Some(true) => " ↑",
                Some(false) => " ↓",
                None => "",
            };
            let _ = write!(
                html,
                r#"<th data-metric="{}" title="{}">{}{arrow}</th>"#,
                escape(&column.key),
                escape(&column.help),
                escape(&column.label)
            );
        }
        html.push_str(concat!(
            r#"<th title="seconds per training iteration">s / iteration</th>"#,
            r#"<th title="train, predict and evaluate, over every resumption">wall time</th>"#,
            r#"<th title="largest resident set of the cell's processes">peak memory</th>"#,
            r#"<th title="trainable parameters per network">parameters</th></tr></thead>"#,
        ));
        let width = 2 + self.columns.len() + 4;
        let mut untested: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for &structure in &self.structures {
            let _ = write!(
                html,
                r#"<tbody><tr class="group"><th colspan="{width}">{}</th></tr>"#,
                escape(structure)
            );
            for (m, &model) in self.models.iter().enumerate() {
                html.push_str(&self.leaderboard_row(m, model, structure, &mut untested));
            }
            html.push_str("</tbody>");
        }
        html.push_str("</table></div>");
        if untested.values().any(|metrics| !metrics.is_empty()) {
            html.push_str(
                r#"<p class="note"><span class="untested-mark">†</span> Paired test not run: "#,
            );
            let lines: Vec<String> = untested
                .iter()
                .filter(|(_, metrics)| !metrics.is_empty())
                .map(|(structure, metrics)| {
                    format!("{} ({})", escape(structure), escape(&metrics.join(", ")))
                })
                .collect();
            let _ = write!(
                html,
                "{}; fewer than {MIN_PAIRED_IMAGES} test images scored under both models.</p>",
                lines.join("; ")
            );
        }
        html.push_str(&self.paired_tests());
        html
    }

    fn leaderboard_row(
        &self,
        m: usize,
        model: &str,
        structure: &'a str,
        untested: &mut BTreeMap<&'a str, Vec<String>>,
    ) -> String {
        let cells = self.finished(model, structure);
        // Each failed seed gets a row of its own under the cell's, with its reason.
        let mut failures = String::new();
        for &seed in &self.plan.seeds {
            if let CellState::Failed(reason) = self.state(model, structure, seed) {
                let _ = write!(
                    failures,
                    r#"<tr class="failure" data-failed="{}"><td></td><td colspan="{}">seed {seed} failed: {}</td></tr>"#,
                    escape(&format!("{model}/{structure}/seed{seed}")),
                    self.columns.len() + 5,
                    escape(reason)
                );
            }
        }
        let seeds_class = if failures.is_empty() {
            ""
        } else {
            r#" class="failed""#
        };
        let mut html = format!(
            r#"<tr data-cell="{}"><th scope="row"><span class="dot" style="background:{}"></span>{}</th><td{seeds_class}>{}/{}</td>"#,
            escape(&format!("{model}/{structure}")),
            svg::color(m),
            escape(model),
            cells.len(),
            self.plan.seeds.len()
        );
        if cells.is_empty() {
            let (class, text) = if failures.is_empty() {
                ("pending", "not finished")
            } else {
                ("failed", "failed: no finished seed")
            };
            let _ = write!(
                html,
                r#"<td class="{class}" colspan="{}">{text}</td></tr>{failures}"#,
                self.columns.len() + 4
            );
            return html;
        }
        for column in &self.columns {
            let mut values = self.candidate(model, structure, &column.key).per_seed;
            values.retain(|v| v.is_finite());
            if values.is_empty() {
                let _ = write!(
                    html,
                    r#"<td data-metric="{}" class="na">–</td>"#,
                    escape(&column.key)
                );
                continue;
            }
            let marks = self.marks.get(&(structure, column.key.clone()));
            let best_model = marks
                .and_then(|marks| marks.iter().position(|mark| *mark == Mark::Best))
                .map(|b| self.models[b]);
            let (class, title, star) = match (marks.map(|marks| &marks[m]), best_model) {
                (Some(Mark::Best), _) => ("best", format!("best of the models on {structure}"), "★ "),
                (Some(Mark::NotWorse { p, pairs }), Some(best)) => (
                    "tied",
                    format!("not significantly worse than {best}: Wilcoxon signed-rank p = {} over {pairs} images", p_value(*p)),
                    "",
                ),
                (Some(Mark::Worse { p, pairs }), Some(best)) => (
                    "worse",
                    format!("significantly worse than {best}: Wilcoxon signed-rank p = {} over {pairs} images", p_value(*p)),
                    "",
                ),
                (Some(Mark::TooFewImages { pairs }), _) => {
                    let metrics = untested.entry(structure).or_default();
                    if !metrics.contains(&column.label) {
                        metrics.push(column.label.clone());
                    }
                    (
                        "untested",
                        format!("paired test not run: {pairs} images scored under both models, it needs {MIN_PAIRED_IMAGES}"),
                        "",
                    )
                }
                (Some(Mark::Untested(why)), _) => ("untested", format!("paired test not run: {why}"), ""),
                (Some(Mark::Unpaired), _) => ("unmarked", "one value per seed: no paired test".to_string(), ""),
                _ => ("", String::new(), ""),
            };
            let _ = write!(
                html,
                r#"<td data-metric="{}" class="{class}" title="{}">{star}{}</td>"#,
                escape(&column.key),
                escape(&title),
                mean_pm_sd(&values, Unit::Number)
            );
        }
        let costs = |f: fn(&CellResult) -> f64| cells.iter().map(|c| f(c)).collect::<Vec<f64>>();
        let devices: Vec<&str> = {
            let mut devices: Vec<&str> = cells.iter().map(|c| c.costs.device.as_str()).collect();
            devices.dedup();
            devices
        };
        let _ = write!(
            html,
            r#"<td title="on {}">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&devices.join(", ")),
            mean_pm_sd(&costs(|c| c.costs.seconds_per_iteration), Unit::Seconds),
            mean_pm_sd(&costs(|c| c.costs.wall_seconds), Unit::Duration),
            mean_pm_sd(&costs(|c| c.costs.peak_memory_bytes as f64), Unit::Bytes),
            parameters(cells[0])
        );
        html.push_str(&failures);
        html
    }

    fn column_label<'b>(&'b self, key: &'b str) -> &'b str {
        self.columns
            .iter()
            .find(|c| c.key == key)
            .map_or(key, |c| c.label.as_str())
    }

    /// Every paired test of the leaderboard, folded away.
    fn paired_tests(&self) -> String {
        let mut rows = String::new();
        for ((structure, key), marks) in &self.marks {
            let Some(best) = marks.iter().position(|mark| *mark == Mark::Best) else {
                continue;
            };
            for (m, mark) in marks.iter().enumerate() {
                let (pairs, p, verdict) = match mark {
                    Mark::NotWorse { p, pairs } => (
                        pairs.to_string(),
                        p_value(*p),
                        "not significantly worse".to_string(),
                    ),
                    Mark::Worse { p, pairs } => (
                        pairs.to_string(),
                        p_value(*p),
                        "significantly worse".to_string(),
                    ),
                    Mark::TooFewImages { pairs } => (
                        pairs.to_string(),
                        String::new(),
                        format!("not run: fewer than {MIN_PAIRED_IMAGES} images"),
                    ),
                    Mark::Untested(why) => {
                        (String::new(), String::new(), format!("not run: {why}"))
                    }
                    Mark::Best | Mark::Unpaired | Mark::Missing => continue,
                };
                let _ = write!(
                    rows,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{pairs}</td><td>{p}</td><td>{}</td></tr>",
                    escape(structure),
                    escape(self.column_label(key)),
                    escape(self.models[m]),
                    escape(self.models[best]),
                    escape(&verdict)
                );
            }
        }
        if rows.is_empty() {
            return String::new();
        }
        format!(
            r#"<details><summary>All paired tests (Wilcoxon signed-rank, two-sided, against the best model)</summary><table class="tests"><thead><tr><th>structure</th><th>metric</th><th>model</th><th>best</th><th>images</th><th>p</th><th>verdict</th></tr></thead><tbody>{rows}</tbody></table></details>"#
        )
    }

    fn table_1(&self) -> String {
        let mut tables = String::new();
        for &model in &self.models {
            let mut entries: Vec<_> = self
                .results
                .exclusivity
                .iter()
                .filter(|e| e.model == model && self.plan.seeds.contains(&e.seed))
                .collect();
            if entries.is_empty() {
                continue;
            }
            entries.sort_by_key(|e| e.seed);
            let summary = entries.len() >= 2;
            let _ = write!(
                tables,
                r#"<table class="table-1" data-model="{}"><caption>{}</caption><thead><tr><th>structure</th>"#,
                escape(model),
                escape(model)
            );
            for e in &entries {
                let _ = write!(tables, "<th>seed {}</th>", e.seed);
            }
            if summary {
                tables.push_str("<th>mean ± sd</th>");
            }
            tables.push_str("</tr></thead><tbody>");
            let mut rows: Vec<(String, Vec<f64>)> = self
                .structures
                .iter()
                .map(|s| {
                    let values = entries
                        .iter()
                        .map(|e| e.organelle.get(*s).copied().unwrap_or(f64::NAN));
                    (s.to_string(), values.collect())
                })
                .collect();
            rows.push((
                "overall".to_string(),
                entries.iter().map(|e| e.overall).collect(),
            ));
            for (i, (name, values)) in rows.iter().enumerate() {
                let class = if i + 1 == rows.len() {
                    r#" class="overall""#
                } else {
                    ""
                };
                let _ = write!(
                    tables,
                    r#"<tr{class}><th scope="row">{}</th>"#,
                    escape(name)
                );
                for v in values {
                    let _ = write!(tables, "<td>{}</td>", number(*v));
                }
                if summary {
                    let finite: Vec<f64> =
                        values.iter().copied().filter(|v| v.is_finite()).collect();
                    let _ = write!(tables, "<td>{}</td>", mean_pm_sd(&finite, Unit::Number));
                }
                tables.push_str("</tr>");
            }
            tables.push_str("</tbody></table>");
        }
        if tables.is_empty() {
            return String::new();
        }
        format!(
            r#"<p class="note">Organelle exclusivity of each model's predictions of every structure of the plan
(Sun et al. 2022, Section 2.3): per structure, and overall. Computed once all of a seed's structures are done.</p>
<div class="tables">{tables}</div>"#
        )
    }

    /// Each image's score on `metric` averaged over the seeds of a cell: the values a box shows.
    fn image_means(&self, model: &str, structure: &str, metric: &str) -> Vec<f64> {
        self.candidate(model, structure, metric)
            .per_image
            .values()
            .filter_map(|scores| {
                let finite: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
                (!finite.is_empty()).then(|| mean_sd(&finite).mean)
            })
            .collect()
    }

    fn fig_3(&self) -> String {
        let groups: Vec<&str> = self
            .structures
            .iter()
            .copied()
            .filter(|s| {
                self.models
                    .iter()
                    .any(|m| !self.image_means(m, s, "jaccard").is_empty())
            })
            .collect();
        if groups.is_empty() {
            return String::new();
        }
        let series = self.models.len();
        let width = (140.0 + (groups.len() * series) as f64 * 44.0).clamp(420.0, 1240.0);
        let x_axis = Axis {
            range: Some((-0.5, groups.len() as f64 - 0.5)),
            ticks: Some(
                groups
                    .iter()
                    .enumerate()
                    .map(|(g, s)| (g as f64, s.to_string()))
                    .collect(),
            ),
            ..Axis::new("structure")
        };
        let y_axis = Axis {
            range: Some((0.0, 1.0)),
            ..Axis::new("Jaccard index")
        };
        let Some(mut chart) = Chart::new(width, 340.0, &x_axis, &y_axis, &[0.0], &[0.0]) else {
            return String::new();
        };
        // As silico-plot's box plots: a group's boxes share 80 % of its width.
        let slot = 0.8 / series as f64;
        for (g, structure) in groups.iter().enumerate() {
            for (s, model) in self.models.iter().enumerate() {
                let values = self.image_means(model, structure, "jaccard");
                let Some(b) = box_stats(&values) else {
                    continue;
                };
                let centre = g as f64 - 0.4 + (s as f64 + 0.5) * slot;
                let (Some(left), Some(right), Some(mid)) = (
                    chart.x_pixel(centre - slot * 0.35),
                    chart.x_pixel(centre + slot * 0.35),
                    chart.x_pixel(centre),
                ) else {
                    continue;
                };
                let y = |v: f64| chart.y_pixel(v).unwrap_or(f64::NAN);
                let title = format!(
                    "{model} on {structure}: median {}, quartiles {} to {}, {} images",
                    number(b.median),
                    number(b.q1),
                    number(b.q3),
                    b.count
                );
                let mut svg = format!(
                    r##"<g><title>{}</title><line x1="{mid:.1}" y1="{:.1}" x2="{mid:.1}" y2="{:.1}" stroke="#000"/><line x1="{mid:.1}" y1="{:.1}" x2="{mid:.1}" y2="{:.1}" stroke="#000"/>"##,
                    escape(&title),
                    y(b.low_whisker),
                    y(b.q1),
                    y(b.q3),
                    y(b.high_whisker),
                );
                let cap = (right - left) * 0.25;
                for v in [b.low_whisker, b.high_whisker] {
                    let _ = write!(
                        svg,
                        r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#000"/>"##,
                        mid - cap,
                        y(v),
                        mid + cap,
                        y(v)
                    );
                }
                let _ = write!(
                    svg,
                    r##"<rect x="{left:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" stroke="#000"/><line x1="{left:.1}" y1="{:.1}" x2="{right:.1}" y2="{:.1}" stroke="#000" stroke-width="2"/>"##,
                    y(b.q3),
                    right - left,
                    (y(b.q1) - y(b.q3)).max(1.0),
                    svg::color(s),
                    y(b.median),
                    y(b.median)
                );
                for v in &b.outliers {
                    let _ = write!(
                        svg,
                        r##"<circle cx="{mid:.1}" cy="{:.1}" r="2.5" fill="none" stroke="#000"/>"##,
                        y(*v)
                    );
                }
                svg.push_str("</g>");
                chart.raw(&svg);
            }
        }
        let legend: Vec<(String, String)> = self
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| (svg::box_swatch(&svg::color(i)), m.to_string()))
            .collect();
        format!(
            r#"<figure class="side">{}<div class="aside">{}<figcaption>Jaccard index of the segmented prediction against the segmented target, one value
per test image (averaged over seeds); boxes from the first to the third quartile with the median, whiskers to the
most extreme values within 1.5 IQR, circles beyond.</figcaption></div></figure>"#,
            chart.finish("Box plots of the Jaccard index per structure and model"),
            svg::legend(&legend)
        )
    }

    fn fig_7(&self) -> String {
        let mut points = Vec::new();
        for (m, &model) in self.models.iter().enumerate() {
            for (s, &structure) in self.structures.iter().enumerate() {
                for cell in self.finished(model, structure) {
                    let (Some(&shape), Some(&spatial)) = (
                        cell.metrics.get("shape_divergence"),
                        cell.metrics.get("spatial_kl"),
                    ) else {
                        continue;
                    };
                    points.push((m, s, cell.seed, spatial, shape));
                }
            }
        }
        if points.is_empty() {
            return String::new();
        }
        let x_axis = Axis::log("spatial divergence (KL of position densities)");
        let y_axis = Axis::log("shape divergence (kNN)");
        let drawable: Vec<_> = points
            .iter()
            .filter(|p| p.3 > 0.0 && p.4 > 0.0 && p.3.is_finite() && p.4.is_finite())
            .collect();
        let xs: Vec<f64> = drawable.iter().map(|p| p.3).collect();
        let ys: Vec<f64> = drawable.iter().map(|p| p.4).collect();
        let hidden = points.len() - drawable.len();
        let note = if hidden > 0 {
            format!(
                " {} not drawn: a divergence ≤ 0 (the estimators can go below zero when the sets match closely) has no place on a log axis.",
                if hidden == 1 { "One cell is".to_string() } else { format!("{hidden} cells are") }
            )
        } else {
            String::new()
        };
        let chart = Chart::new(600.0, 420.0, &x_axis, &y_axis, &xs, &ys).map(|mut chart| {
            for &&(m, s, seed, spatial, shape) in &drawable {
                let title = format!(
                    "{} on {}, seed {seed}: shape {}, spatial {}",
                    self.models[m],
                    self.structures[s],
                    number(shape),
                    number(spatial)
                );
                chart.marker(spatial, shape, Marker::of_series(s), &svg::color(m), &title);
            }
            chart.finish("Shape divergence against spatial divergence per model and structure")
        });
        let mut legend: Vec<(String, String)> = self
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| {
                (
                    svg::marker_swatch(Marker::Circle, &svg::color(i)),
                    m.to_string(),
                )
            })
            .collect();
        let objects: Vec<usize> = (0..self.structures.len())
            .filter(|s| points.iter().any(|p| p.1 == *s))
            .collect();
        legend.extend(objects.iter().map(|&s| {
            (
                svg::marker_swatch(Marker::of_series(s), "#bbbbbb"),
                self.structures[s].to_string(),
            )
        }));
        format!(
            r#"<figure class="side">{}<div class="aside">{}<figcaption>Predicted against real objects of complete cells: the kNN divergence of their SPHARM shape
descriptors against the KL divergence of their position densities in the normalized cell, one point per cell
(model by colour, structure by shape; lower is better on both).{}</figcaption></div></figure>"#,
            chart.unwrap_or_default(),
            svg::legend(&legend),
            escape(&note)
        )
    }

    fn training_curves(&self) -> String {
        let mut figures = String::new();
        for &model in &self.models {
            for &structure in &self.structures {
                figures.push_str(&self.training_curve(model, structure));
            }
        }
        format!(
            r#"<p class="note">Each loss term of each cell as <code>losses.csv</code> logs it (unweighted; terms of the
discriminator prefixed <code>D/</code>), against the iteration; one colour per term, one line style per seed.
Long runs are shown as means over windows of iterations.</p><div class="figures">{figures}</div>"#
        )
    }

    fn training_curve(&self, model: &str, structure: &str) -> String {
        let mut notes = Vec::new();
        let mut curves = Vec::new();
        for &seed in &self.plan.seeds {
            let relative = Path::new("cells")
                .join(model)
                .join(structure)
                .join(format!("seed{seed}"))
                .join("run")
                .join("losses.csv");
            let path = self.out.join(&relative);
            if !path.is_file() {
                notes.push(format!("seed {seed}: no {}", relative.display()));
                continue;
            }
            match Curve::read(&path) {
                Ok(curve) if curve.iterations.is_empty() => notes.push(format!(
                    "seed {seed}: {} has no rows yet",
                    relative.display()
                )),
                Ok(curve) => curves.push((seed, curve)),
                Err(e) => notes.push(format!("seed {seed}: {}: {e:#}", relative.display())),
            }
        }
        let mut terms: Vec<&str> = Vec::new();
        for (_, curve) in &curves {
            for term in &curve.terms {
                if !terms.contains(&term.as_str()) {
                    terms.push(term);
                }
            }
        }
        let values = || {
            curves
                .iter()
                .flat_map(|(_, c)| c.values.iter().flatten().copied())
        };
        let log = values().filter(|v| v.is_finite()).all(|v| v > 0.0);
        let xs: Vec<f64> = curves
            .iter()
            .flat_map(|(_, c)| c.iterations.iter().copied())
            .collect();
        let ys: Vec<f64> = values().collect();
        let y_axis = if log {
            Axis::log("loss")
        } else {
            Axis::new("loss")
        };
        let chart = Chart::new(400.0, 240.0, &Axis::new("iteration"), &y_axis, &xs, &ys).map(
            |mut chart| {
                for (k, (seed, curve)) in curves.iter().enumerate() {
                    for (term, values) in curve.terms.iter().zip(&curve.values) {
                        let t = terms.iter().position(|x| x == term).unwrap_or(0);
                        let points: Vec<(f64, f64)> = curve
                            .iterations
                            .iter()
                            .copied()
                            .zip(values.iter().copied())
                            .collect();
                        chart.polyline(
                            &points,
                            &svg::color(t),
                            svg::dash(k),
                            &format!("{term}, seed {seed}"),
                        );
                    }
                }
                chart.finish(&format!("Training curves of {model} on {structure}"))
            },
        );
        let mut legend: Vec<(String, String)> = terms
            .iter()
            .enumerate()
            .map(|(t, term)| (svg::line_swatch(&svg::color(t), "none"), term.to_string()))
            .collect();
        if curves.len() > 1 {
            legend.extend(curves.iter().enumerate().map(|(k, (seed, _))| {
                (
                    svg::line_swatch("#444", svg::dash(k)),
                    format!("seed {seed}"),
                )
            }));
        }
        let notes: String = notes
            .iter()
            .map(|n| format!(r#"<div class="note">{}</div>"#, escape(n)))
            .collect();
        let chart = chart
            .unwrap_or_else(|| r#"<div class="empty">no training curve yet</div>"#.to_string());
        let windows: Vec<String> = curves
            .iter()
            .filter(|(_, c)| c.window > 1)
            .map(|(seed, c)| format!("seed {seed}: means over {} iterations", c.window))
            .collect();
        let windows = if windows.is_empty() {
            String::new()
        } else {
            format!(r#"<div class="note">{}</div>"#, escape(&windows.join("; ")))
        };
        format!(
            r#"<figure class="curve" data-curve="{}"><figcaption class="title">{} · {}</figcaption>{chart}{}{windows}{notes}</figure>"#,
            escape(&format!("{model}/{structure}")),
            escape(model),
            escape(structure),
            if legend.is_empty() {
                String::new()
            } else {
                svg::legend(&legend)
            }
        )
    }

    fn plan_section(&self) -> String {
        format!(
            r#"<p class="note">{} (data: {})</p><pre>{}</pre>"#,
            escape(&self.plan.path.display().to_string()),
            escape(&self.plan.data.display().to_string()),
            escape(&self.plan.text)
        )
    }
}

fn versions_section(versions: &Versions) -> String {
    let mut rows = vec![
        ("silico".to_string(), versions.silico.clone()),
        ("libtorch".to_string(), versions.torch.clone()),
        ("device".to_string(), versions.device.clone()),
    ];
    rows.extend(
        versions
            .libraries
            .iter()
            .map(|(name, version)| (format!("plugin library {name}"), version.clone())),
    );
    let mut html = String::from(r#"<table class="versions"><tbody>"#);
    for (name, value) in rows {
        let _ = write!(
            html,
            r#"<tr><th scope="row">{}</th><td>{}</td></tr>"#,
            escape(&name),
            escape(&value)
        );
    }
    html.push_str("</tbody></table>");
    html
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// A cell's training curve: each loss term of `losses.csv` against the iteration, as means over
/// windows of `window` rows so that a long run stays a light drawing.
struct Curve {
    terms: Vec<String>,
    iterations: Vec<f64>,
    /// `values[t][i]`: term `t` at `iterations[i]`.
    values: Vec<Vec<f64>>,
    window: usize,
}

/// The most points a training curve is drawn with.
const CURVE_POINTS: usize = 200;

impl Curve {
    fn read(path: &Path) -> Result<Self> {
        let mut reader = csv::Reader::from_path(path)?;
        let header = reader.headers()?.clone();
        let iteration = header
            .iter()
            .position(|h| h == "iteration")
            .context("no `iteration` column")?;
        let term_columns: Vec<usize> = (0..header.len())
            .filter(|&i| i != iteration && &header[i] != "seconds")
            .collect();
        let rows: Vec<Vec<f64>> = reader.deserialize().collect::<Result<_, _>>()?;
        let window = rows.len().div_ceil(CURVE_POINTS).max(1);
        let mean = |chunk: &[Vec<f64>], column: usize| {
            let finite: Vec<f64> = chunk
                .iter()
                .map(|r| r[column])
                .filter(|v| v.is_finite())
                .collect();
            mean_sd(&finite).mean
        };
        let chunks: Vec<&[Vec<f64>]> = rows.chunks(window).collect();
        Ok(Self {
            terms: term_columns
                .iter()
                .map(|&i| header[i].to_string())
                .collect(),
            iterations: chunks.iter().map(|c| mean(c, iteration)).collect(),
            values: term_columns
                .iter()
                .map(|&t| chunks.iter().map(|c| mean(c, t)).collect())
                .collect(),
            window,
        })
    }
}

/// How a leaderboard value is written.
#[derive(Clone, Copy)]
enum Unit {
    /// Three significant digits.
    Number,
    Seconds,
    /// Seconds as s, min or h.
    Duration,
    Bytes,
}

/// `values` as "mean ± sd" (the sd, in grey, with two or more values), sd in the mean's
/// precision and unit.
fn mean_pm_sd(values: &[f64], unit: Unit) -> String {
    let summary = mean_sd(values);
    let (scale, suffix) = match unit {
        Unit::Number => (1.0, ""),
        Unit::Seconds => (1.0, " s"),
        Unit::Duration if summary.mean >= 3600.0 => (3600.0, " h"),
        Unit::Duration if summary.mean >= 60.0 => (60.0, " min"),
        Unit::Duration => (1.0, " s"),
        Unit::Bytes if summary.mean >= 1024f64.powi(3) => (1024f64.powi(3), " GiB"),
        Unit::Bytes => (1024f64.powi(2), " MiB"),
    };
    let (mean, sd) = (summary.mean / scale, summary.sd / scale);
    let digits = decimals(mean);
    let mut text = format!("{}{suffix}", with_decimals(mean, digits));
    if sd.is_finite() {
        let _ = write!(
            text,
            r#" <span class="sd">± {}{suffix}</span>"#,
            with_decimals(sd, digits)
        );
    }
    text
}

/// The decimals that give `v` three significant digits; `None` for exponent notation.
fn decimals(v: f64) -> Option<usize> {
    if v == 0.0 || !v.is_finite() {
        return Some(3);
    }
    let magnitude = v.abs().log10().floor() as i32;
    (-4..6)
        .contains(&magnitude)
        .then(|| (2 - magnitude).max(0) as usize)
}

fn with_decimals(v: f64, decimals: Option<usize>) -> String {
    match decimals {
        _ if !v.is_finite() => "–".to_string(),
        Some(d) => format!("{v:.d$}"),
        None => format!("{v:.2e}"),
    }
}

fn number(v: f64) -> String {
    with_decimals(v, decimals(v))
}

fn p_value(p: f64) -> String {
    if p.is_nan() {
        "1 (no difference)".to_string()
    } else if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// Parameter counts per network, e.g. "1.23 M" or "G 1.23 M · D 2.77 M".
fn parameters(cell: &CellResult) -> String {
    let count = |n: u64| match n {
        n if n >= 1_000_000 => format!("{:.2} M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} k", n as f64 / 1e3),
        n => n.to_string(),
    };
    let networks = &cell.costs.parameters;
    if networks.len() == 1 {
        return networks.values().map(|&n| count(n)).collect();
    }
    // The generator first, as models are written.
    let mut ordered: Vec<(&String, &u64)> = networks.iter().collect();
    ordered.sort_by_key(|(name, _)| name.as_str() != "generator");
    let parts: Vec<String> = ordered
        .into_iter()
        .map(|(name, &n)| {
            let initial = name
                .chars()
                .next()
                .map(|c| c.to_ascii_uppercase())
                .unwrap_or('?');
            format!(
                r#"<span title="{}">{initial}</span> {}"#,
                escape(name),
                count(n)
            )
        })
        .collect();
    parts.join(" · ")
}

const STYLE: &str = r#"
:root { --ink: #1d2430; --muted: #5d6877; --line: #e1e5ea; --best: #bfe6d3; --tied: #e3f4ec;
  --worse: transparent; --bad: #a3330d; --panel: #ffffff; --page: #f4f6f8; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
header { background: var(--ink); color: #fff; padding: 18px 32px 12px; }
header h1 { margin: 0; font-size: 22px; font-weight: 600; letter-spacing: 0.01em; }
header .summary { margin: 4px 0 10px; color: #c9d1db; }
nav a { color: #fff; text-decoration: none; margin-right: 18px; font-size: 13px; opacity: 0.85; }
nav a:hover { opacity: 1; text-decoration: underline; }
main { max-width: 1400px; margin: 0 auto; padding: 4px 24px 40px; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 20px 18px;
  margin: 16px 0; }
h2 { font-size: 17px; margin: 0 0 6px; }
.note { color: var(--muted); font-size: 12.5px; margin: 4px 0 10px; max-width: 1100px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child { text-align: left; }
thead th { border-bottom: 2px solid var(--ink); font-weight: 600; vertical-align: bottom; }
tr.group th { background: #edf0f4; text-align: left; font-size: 13.5px; padding-top: 6px; }
tbody th[scope=row] { font-weight: 600; }
td.best { background: var(--best); font-weight: 700; }
td.tied { background: var(--tied); }
td.untested::after { content: " †"; color: var(--muted); }
td.failed { color: var(--bad); }
tr.failure td { color: var(--bad); text-align: left; font-size: 12px; border-bottom: 1px solid var(--line);
  padding-top: 0; white-space: normal; }
td.pending, td.na { color: var(--muted); text-align: left; }
td.na { text-align: right; }
.sd { display: block; color: var(--muted); font-weight: 400; font-size: 11px; line-height: 1.2; }
.table-1 .sd { display: inline; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; }
.key { padding: 0 4px; border-radius: 3px; }
.key.best { background: var(--best); font-weight: 700; }
.key.tied { background: var(--tied); }
.untested-mark { color: var(--muted); }
details { margin-top: 10px; font-size: 13px; }
summary { cursor: pointer; color: var(--muted); }
table.tests td { text-align: left; }
.tables { display: flex; flex-wrap: wrap; gap: 18px 28px; align-items: flex-start; }
caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
tr.overall th, tr.overall td { font-weight: 700; border-top: 2px solid var(--line); }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(400px, 1fr)); gap: 12px 18px; }
figure { margin: 0; }
figure.side { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: flex-start; }
figure.side .aside { flex: 1 1 260px; max-width: 520px; padding-top: 10px; }
figure.curve { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
figcaption { color: var(--muted); font-size: 12.5px; max-width: 1000px; }
figcaption.title { color: var(--ink); font-weight: 600; font-size: 13px; margin-bottom: 2px; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg.chart text { fill: #000; }
svg.chart .axis-label { font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 14px; font-size: 12px; margin: 4px 0; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.empty { color: var(--muted); padding: 30px 0; text-align: center; }
pre { background: #f3f5f7; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; overflow-x: auto;
  font: 12.5px/1.5 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
table.versions th { text-align: left; font-weight: 600; }
table.versions td { text-align: left; }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_training_log_is_drawn_as_window_means_of_its_loss_terms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("losses.csv");
        let mut text = String::from("iteration,mse,D/gan-bce,seconds\n");
        for i in 1..=450 {
            text.push_str(&format!("{i},{},0.5,{}\n", i % 3, i as f64 * 0.1));
        }
        std::fs::write(&path, text).unwrap();
        let curve = Curve::read(&path).unwrap();
        assert_eq!(curve.terms, ["mse", "D/gan-bce"]);
        assert_eq!((curve.window, curve.iterations.len()), (3, 150));
        assert_eq!(curve.iterations[..2], [2.0, 5.0]);
        assert!(curve.values[0].iter().all(|&v| v == 1.0));
        assert!(curve.values[1].iter().all(|&v| v == 0.5));
    }

    #[test]
    fn values_keep_three_significant_digits_and_the_sd_takes_the_mean_s_unit() {
        assert_eq!(mean_pm_sd(&[0.8123], Unit::Number), "0.812");
        assert_eq!(
            mean_pm_sd(&[0.0121, 0.0125], Unit::Number),
            r#"0.0123 <span class="sd">± 0.0003</span>"#
        );
        assert_eq!(
            mean_pm_sd(&[90.0, 150.0], Unit::Duration),
            r#"2.00 min <span class="sd">± 0.71 min</span>"#
        );
        assert_eq!(number(3.2e-6), "3.20e-6");
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
