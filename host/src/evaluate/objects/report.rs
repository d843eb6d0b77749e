//! The files of the object-based evaluations, each written atomically: `jaccard.csv`,
//! `jaccard_summary.csv` and `jaccard.png` (Fig. 3); `objects.csv` (one row per object),
//! `descriptors.csv` (the shape descriptor of each), `summary.csv` and `summary.json` (one row
//! per model and structure, like Supplementary Tables S3–S5), `permutation.txt` (the
//! permutation tests in words), `divergence.png` (Fig. 7), and per model and structure
//! `embedding-*.png` (the shape space) and `radial-*.png` (normalized radial positions).

use super::{ImageJaccard, JaccardSummary, ObjectSummary};
use crate::{evaluate::csv_text, files::write_atomic};
use anyhow::Result;
use serde::{Serialize, Serializer};
use silico_plot::{
    panel, Axis, BoxPlot, BoxSeries, Chart, Histogram, HistogramLayout, HistogramSeries,
    ScatterChart, ScatterSeries,
};
use std::path::Path;

/// Writes the Jaccard files into `out`.
pub fn write_jaccard(
    out: &Path,
    rows: &[ImageJaccard],
    summaries: &[JaccardSummary],
) -> Result<()> {
    write_atomic(&out.join("jaccard.csv"), &jaccard_csv(rows)?)?;
    write_atomic(
        &out.join("jaccard_summary.csv"),
        &jaccard_summary_csv(summaries)?,
    )?;
    write_atomic(&out.join("jaccard.png"), &jaccard_png(rows)?)
}

/// Writes the object files into `out`.
pub fn write_objects(out: &Path, summaries: &[ObjectSummary]) -> Result<()> {
    write_atomic(&out.join("objects.csv"), &objects_csv(summaries)?)?;
    write_atomic(&out.join("descriptors.csv"), &descriptors_csv(summaries)?)?;
    write_atomic(&out.join("summary.csv"), &summary_csv(summaries)?)?;
    write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(summaries)?.as_bytes(),
    )?;
    write_atomic(
        &out.join("permutation.txt"),
        super::permutation_text(summaries).as_bytes(),
    )?;
    write_atomic(&out.join("divergence.png"), &divergence_png(summaries)?)?;
    for s in summaries {
        let stem = format!("{}-{}", s.model, s.structure);
        if let Some(png) = embedding_png(s)? {
            write_atomic(&out.join(format!("embedding-{stem}.png")), &png)?;
        }
        if let Some(png) = radial_png(s)? {
            write_atomic(&out.join(format!("radial-{stem}.png")), &png)?;
        }
    }
    Ok(())
}

/// Six decimals, as the Jaccard CSVs write measures.
fn six_decimals<S: Serializer>(v: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("{v:.6}"))
}

fn jaccard_csv(rows: &[ImageJaccard]) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Row<'a> {
        model: &'a str,
        structure: &'a str,
        image: &'a str,
        #[serde(serialize_with = "six_decimals")]
        jaccard: f64,
        voxels_real: u64,
        voxels_prediction: u64,
    }
    let header = [
        "model",
        "structure",
        "image",
        "jaccard",
        "voxels_real",
        "voxels_prediction",
    ]
    .map(String::from);
    csv_text(
        &header,
        rows.iter().map(|r| Row {
            model: &r.model,
            structure: &r.structure,
            image: &r.image,
            jaccard: r.jaccard,
            voxels_real: r.voxels_real,
            voxels_prediction: r.voxels_prediction,
        }),
    )
}

fn jaccard_summary_csv(summaries: &[JaccardSummary]) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Row<'a> {
        model: &'a str,
        structure: &'a str,
        images: usize,
        #[serde(serialize_with = "six_decimals")]
        mean: f64,
        #[serde(serialize_with = "six_decimals")]
        median: f64,
    }
    let header = ["model", "structure", "images", "mean", "median"].map(String::from);
    csv_text(
        &header,
        summaries.iter().map(|s| Row {
            model: &s.model,
            structure: &s.structure,
            images: s.images,
            mean: s.mean,
            median: s.median,
        }),
    )
}

/// Fig. 3: the image-wise Jaccard per structure (groups) and model (series).
fn jaccard_png(rows: &[ImageJaccard]) -> Result<Vec<u8>> {
    let mut groups: Vec<String> = rows.iter().map(|r| r.structure.clone()).collect();
    groups.sort();
    groups.dedup();
    let mut models: Vec<String> = Vec::new();
    for r in rows {
        if !models.contains(&r.model) {
            models.push(r.model.clone());
        }
    }
    let series = models
        .iter()
        .map(|m| BoxSeries {
            name: m.clone(),
            values: groups
                .iter()
                .map(|g| {
                    rows.iter()
                        .filter(|r| &r.model == m && &r.structure == g)
                        .map(|r| r.jaccard)
                        .collect()
                })
                .collect(),
        })
        .collect();
    let chart = BoxPlot {
        title: "Jaccard index of real and predicted segmentations".into(),
        x_label: "structure".into(),
        y_axis: Axis {
            range: Some((0.0, 1.0)),
            ..Axis::new("Jaccard index")
        },
        groups,
        series,
        ..BoxPlot::default()
    };
    Ok(chart.png()?)
}

/// A number as the object CSVs write it: whole numbers (counts, ids) as integers, others to six
/// decimals, undefined values empty.
struct Number(f64);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if !v.is_finite() {
            serializer.serialize_str("")
        } else if v.fract() == 0.0 && v.abs() < 1e15 {
            serializer.serialize_str(&format!("{v:.0}"))
        } else {
            serializer.serialize_str(&format!("{v:.6}"))
        }
    }
}

fn objects_csv(summaries: &[ObjectSummary]) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Row<'a> {
        model: &'a str,
        structure: &'a str,
        set: &'a str,
        image: &'a str,
        cell: u64,
        label: u64,
        voxels: u64,
        x: Number,
        y: Number,
        z: Number,
        radius: Number,
        inside: u8,
        hausdorff_um: Number,
        degree: Number,
        pc1: Number,
        pc2: Number,
        pc3: Number,
    }
    let header = [
        "model",
        "structure",
        "set",
        "image",
        "cell",
        "label",
        "voxels",
        "x",
        "y",
        "z",
        "radius",
        "inside",
        "hausdorff_um",
        "degree",
        "pc1",
        "pc2",
        "pc3",
    ]
    .map(String::from);
    let rows = summaries.iter().flat_map(|s| {
        s.objects.iter().map(|o| {
            let [x, y, z] = o.position.map(Number);
            Row {
                model: &s.model,
                structure: &s.structure,
                set: &o.set,
                image: &o.image,
                cell: o.cell,
                label: o.label,
                voxels: o.voxels,
                x,
                y,
                z,
                radius: Number(o.radius),
                inside: u8::from(o.inside),
                hausdorff_um: Number(o.hausdorff_um),
                degree: Number(o.degree),
                pc1: Number(o.score(1)),
                pc2: Number(o.score(2)),
                pc3: Number(o.score(3)),
            }
        })
    });
    csv_text(&header, rows)
}

/// `descriptors.csv`: one row per object with a shape, named as in `objects.csv` (and by its
/// label in the image's segmentation), then `d0`… of the descriptor the PCA took, in full
/// precision (shortest round-trip decimal), so the shape statistics can be recomputed.
fn descriptors_csv(summaries: &[ObjectSummary]) -> Result<Vec<u8>> {
    let length = summaries
        .iter()
        .flat_map(|s| &s.objects)
        .map(|o| o.descriptor.len())
        .max()
        .unwrap_or(0);
    let mut header: Vec<String> = [
        "model",
        "structure",
        "set",
        "image",
        "cell",
        "label",
        "degree",
    ]
    .map(String::from)
    .into();
    header.extend((0..length).map(|d| format!("d{d}")));
    let rows = summaries.iter().flat_map(|s| {
        s.objects.iter().filter(|o| o.degree.is_finite()).map(|o| {
            let mut row = vec![
                s.model.clone(),
                s.structure.clone(),
                o.set.clone(),
                o.image.clone(),
                o.cell.to_string(),
                o.label.to_string(),
                format!("{:.0}", o.degree),
            ];
            row.extend(o.descriptor.iter().map(f64::to_string));
            row
        })
    });
    csv_text(&header, rows)
}

/// The columns of the summary, after model, structure and images.
fn summary_columns(summaries: &[ObjectSummary]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for s in summaries {
        for name in s.values.keys() {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
    }
    columns
}

fn summary_csv(summaries: &[ObjectSummary]) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Row<'a> {
        model: &'a str,
        structure: &'a str,
        images: usize,
        values: Vec<Number>,
    }
    let columns = summary_columns(summaries);
    let mut header = ["model", "structure", "images"].map(String::from).to_vec();
    header.extend(columns.iter().cloned());
    csv_text(
        &header,
        summaries.iter().map(|s| Row {
            model: &s.model,
            structure: &s.structure,
            images: s.images,
            values: columns.iter().map(|c| Number(s.value(c))).collect(),
        }),
    )
}

/// Fig. 7: log shape divergence against log spatial divergence, per model and structure.
fn divergence_png(summaries: &[ObjectSummary]) -> Result<Vec<u8>> {
    let mut models: Vec<&str> = Vec::new();
    for s in summaries {
        if !models.contains(&s.model.as_str()) {
            models.push(&s.model);
        }
    }
    let k = summaries
        .iter()
        .find_map(ObjectSummary::figure_k)
        .unwrap_or(8);
    let series = models
        .iter()
        .map(|m| {
            let of: Vec<&ObjectSummary> = summaries.iter().filter(|s| s.model == *m).collect();
            ScatterSeries {
                name: m.to_string(),
                points: of
                    .iter()
                    .map(|s| {
                        (
                            s.value(&format!("shape_divergence/k{k}")),
                            s.value("spatial_kl"),
                        )
                    })
                    .collect(),
                labels: of.iter().map(|s| s.structure.clone()).collect(),
            }
        })
        .collect();
    let chart = ScatterChart {
        title: format!("Shape and spatial divergence from the real objects (k{k})"),
        x_axis: Axis::log("shape divergence (kNN, Eq. 2)"),
        y_axis: Axis::log("spatial divergence (KL)"),
        series,
        ..ScatterChart::default()
    };
    // With no finite divergence (too few objects everywhere) there is nothing to draw yet.
    match chart.png() {
        Ok(png) => Ok(png),
        Err(silico_plot::PlotError::NoData { .. }) => Ok(empty_note(&chart.title)?),
        Err(e) => Err(e.into()),
    }
}

/// A blank chart saying why it is blank.
fn empty_note(title: &str) -> Result<Vec<u8>> {
    let mut image = silico_plot::Image::new(720, 120);
    let black = silico_plot::canvas::BLACK;
    image.text(16, 16, title, 2, black);
    image.text(
        16,
        64,
        "no finite values: too few objects to compare",
        2,
        black,
    );
    Ok(image.to_png()?)
}

/// Per-set points of two shape-space scores (numbered from 1) of the objects that have both.
fn points(s: &ObjectSummary, x: usize, y: usize) -> [Vec<(f64, f64)>; 2] {
    let mut sets = [Vec::new(), Vec::new()];
    for o in &s.objects {
        let (vx, vy) = (o.score(x), o.score(y));
        if vx.is_finite() && vy.is_finite() {
            sets[usize::from(!o.is_real())].push((vx, vy));
        }
    }
    sets
}

/// The shape space, real against synthetic: PC1–PC2, PC1–PC3 and PC2–PC3.
fn embedding_png(s: &ObjectSummary) -> Result<Option<Vec<u8>>> {
    let charts: Vec<ScatterChart> = [(1, 2), (1, 3), (2, 3)]
        .into_iter()
        .map(|(x, y)| {
            let [real, synthetic] = points(s, x, y);
            ScatterChart {
                title: format!("PC{y} vs PC{x}"),
                x_axis: Axis::new(format!("PC{x}")),
                y_axis: Axis::new(format!("PC{y}")),
                series: vec![
                    ScatterSeries {
                        name: "real".into(),
                        points: real,
                        labels: Vec::new(),
                    },
                    ScatterSeries {
                        name: s.model.clone(),
                        points: synthetic,
                        labels: Vec::new(),
                    },
                ],
                width: 480,
                height: 420,
                ..ScatterChart::default()
            }
        })
        .collect();
    if charts
        .iter()
        .all(|c| c.series.iter().all(|s| s.points.is_empty()))
    {
        return Ok(None);
    }
    let refs: Vec<&dyn Chart> = charts.iter().map(|c| c as &dyn Chart).collect();
    Ok(Some(panel(
        &format!("{} {}: SPHARM shape space", s.model, s.structure),
        3,
        &refs,
    )?))
}

/// Normalized radial positions of the real and the synthetic objects.
fn radial_png(s: &ObjectSummary) -> Result<Option<Vec<u8>>> {
    let radii = |real: bool| -> Vec<f64> {
        s.objects
            .iter()
            .filter(|o| o.is_real() == real && o.inside)
            .map(|o| o.radius)
            .filter(|r| r.is_finite())
            .collect()
    };
    let (real, synthetic) = (radii(true), radii(false));
    if real.is_empty() && synthetic.is_empty() {
        return Ok(None);
    }
    let chart = Histogram {
        title: format!(
            "{} {}: position from nucleus centre to membrane",
            s.model, s.structure
        ),
        x_axis: Axis {
            range: Some((0.0, 1.0)),
            ..Axis::new("normalized radius")
        },
        y_axis: Axis::new("fraction of objects"),
        series: vec![
            HistogramSeries {
                name: "real".into(),
                values: real,
            },
            HistogramSeries {
                name: s.model.clone(),
                values: synthetic,
            },
        ],
        bins: silico_plot::Bins::Edges((0..=10).map(|i| i as f64 / 10.0).collect()),
        layout: HistogramLayout::SideBySide,
        normalize: true,
        ..Histogram::default()
    };
    Ok(Some(chart.png()?))
}
