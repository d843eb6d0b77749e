//! `silico evaluate jaccard` and `silico evaluate objects`: the object-based evaluation of Sun et
//! al. 2022 (Sections 2.5, 3.1 and 3.3; Figs. 3 and 7; Supplementary Tables S3–S5), through the
//! `jaccard` and `objects` metric plugins.
//!
//! Each prediction set is a folder as `silico predict` writes it (`<structure>/<image>.tif`),
//! labelled by `NAME=` or by its folder name. The real images come from the data folder's
//! manifests (`<structure>.csv`, whose rows name the same images); the cells of an image are
//! segmented from its real `cell_membrane` and `dna` images. Images are streamed one at a time.

use super::{read_single_channel, ImagePaths};
use crate::{
    data::manifest_path, files::write_atomic, predict::manifest_image_names,
    registry::ComponentRef, Plugins,
};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use silico_imaging::dataset::Manifest;
use silico_plot::{
    panel, Axis, BoxPlot, BoxSeries, Chart, Histogram, HistogramLayout, HistogramSeries,
    ScatterChart, ScatterSeries,
};
use silico_plugin_api::{MetricInputs, Volume};
use std::{
    collections::{BTreeMap, HashMap},
    fs,
    path::{Path, PathBuf},
};

/// The structures whose objects the paper compares (Section 2.5).
pub const OBJECT_STRUCTURES: [&str; 4] = ["nucleoli", "mitochondria", "golgi", "desmosomes"];

/// One model's predictions: a label and a folder of structure folders.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionSource {
    pub label: String,
    pub folder: PathBuf,
}

impl PredictionSource {
    /// `NAME=DIR`, or `DIR` labelled by its folder name.
    pub fn parse(text: &str) -> Result<Self> {
        let (label, folder) = match text.split_once('=') {
            Some((label, folder)) if !label.is_empty() => {
                (label.to_string(), PathBuf::from(folder))
            }
            _ => {
                let folder = PathBuf::from(text);
                let label = folder
                    .file_name()
                    .and_then(|n| n.to_str())
                    .with_context(|| format!("--predictions {text}: name it as NAME=DIR"))?
                    .to_string();
                (label, folder)
            }
        };
        Ok(Self { label, folder })
    }
}

/// What an evaluation was asked to do.
pub struct ObjectRequest {
    pub data: PathBuf,
    pub predictions: Vec<PredictionSource>,
    /// Structures to evaluate; empty: every structure folder found (for `objects`, those of
    /// [`OBJECT_STRUCTURES`]).
    pub structures: Vec<String>,
    /// Extra keys of the metric's configuration (TOML), beside `structure`.
    pub config: toml::Table,
    /// Cell and nucleus instance labels supplied by the user instead of segmented from the real
    /// membrane and DNA images.
    pub cell_labels: Option<(ImagePaths, ImagePaths)>,
    pub out: PathBuf,
}

/// The real images of a data folder, by structure and image name.
struct RealImages {
    data: PathBuf,
    manifests: HashMap<String, BTreeMap<String, PathBuf>>,
}

impl RealImages {
    fn new(data: &Path) -> Self {
        Self {
            data: data.to_path_buf(),
            manifests: HashMap::new(),
        }
    }

    /// The real image of `structure` for `image`, as stored (not normalized).
    fn load(&mut self, structure: &str, image: &str) -> Result<Volume> {
        if !self.manifests.contains_key(structure) {
            let csv = manifest_path(&self.data, structure);
            let manifest = Manifest::load(&csv).with_context(|| {
                format!("the real `{structure}` images: pass --data with a folder holding {structure}.csv")
            })?;
            let names = manifest_image_names(&manifest);
            let rows = names
                .into_iter()
                .zip(&manifest.rows)
                .map(|(name, row)| (name, row.target.path.clone()))
                .collect();
            self.manifests.insert(structure.to_string(), rows);
        }
        let rows = &self.manifests[structure];
        let path = rows.get(image).with_context(|| {
            format!(
                "{}: no row for image `{image}`; the predictions must be of the manifest's images",
                manifest_path(&self.data, structure).display()
            )
        })?;
        read_single_channel(path)
    }
}

/// The structure folders of `source` to evaluate, each with its image names (file stems).
fn structure_images(
    source: &PredictionSource,
    wanted: &[String],
    default: Option<&[&str]>,
) -> Result<Vec<(String, Vec<String>)>> {
    let entries = fs::read_dir(&source.folder).with_context(|| {
        format!(
            "cannot read the predictions folder {} (one folder of TIFFs per structure)",
            source.folder.display()
        )
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if let (true, Some(name)) = (path.is_dir(), path.file_name().and_then(|n| n.to_str())) {
            found.push(name.to_string());
        }
    }
    found.sort();
    let structures: Vec<String> = if wanted.is_empty() {
        found
            .into_iter()
            .filter(|s| default.is_none_or(|d| d.contains(&s.as_str())))
            .collect()
    } else {
        for s in wanted {
            if !found.contains(s) {
                bail!(
                    "{}: missing; predict `{s}` there or drop --structure {s}",
                    source.folder.join(s).display()
                );
            }
        }
        wanted.to_vec()
    };
    let mut out = Vec::new();
    for structure in structures {
        let dir = source.folder.join(&structure);
        let mut images = Vec::new();
        for entry in fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tif" || e == "tiff") {
                if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                    images.push(stem.to_string());
                }
            }
        }
        images.sort();
        if images.is_empty() {
            bail!("{}: holds no TIFF files", dir.display());
        }
        out.push((structure, images));
    }
    if out.is_empty() {
        bail!(
            "{}: no structure folders to evaluate{}",
            source.folder.display(),
            default.map_or(String::new(), |d| format!(" (looked for {})", d.join(", ")))
        );
    }
    Ok(out)
}

fn prediction(source: &PredictionSource, structure: &str, image: &str) -> Result<Volume> {
    read_single_channel(&source.folder.join(structure).join(format!("{image}.tif")))
}

fn metric_config(request: &ObjectRequest, structure: &str) -> toml::Table {
    let mut config = request.config.clone();
    config.insert("structure".into(), structure.into());
    config
}

fn value(values: &HashMap<String, f64>, name: &str, metric: &str) -> Result<f64> {
    values
        .get(name)
        .copied()
        .with_context(|| format!("the `{metric}` metric did not report `{name}`"))
}

/// Jaccard of one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageJaccard {
    pub model: String,
    pub structure: String,
    pub image: String,
    pub jaccard: f64,
    pub voxels_real: u64,
    pub voxels_prediction: u64,
}

/// `silico evaluate jaccard`: writes `jaccard.csv`, `jaccard_summary.csv` and `jaccard.png`.
pub fn jaccard_report(plugins: &Plugins, request: &ObjectRequest) -> Result<Vec<ImageJaccard>> {
    fs::create_dir_all(&request.out)
        .with_context(|| format!("cannot create {}", request.out.display()))?;
    let mut real = RealImages::new(&request.data);
    let mut rows = Vec::new();
    let mut summary = String::from("model,structure,images,mean,median\n");
    for source in &request.predictions {
        for (structure, images) in structure_images(source, &request.structures, None)? {
            let mut metric = plugins.build_metric(&ComponentRef {
                component: "jaccard".into(),
                config: metric_config(request, &structure),
            })?;
            for image in images {
                let inputs = MetricInputs::default()
                    .with("target", real.load(&structure, &image)?)
                    .with("prediction", prediction(source, &structure, &image)?);
                let values: HashMap<String, f64> = metric
                    .update(&inputs)
                    .with_context(|| format!("{} {structure} {image}", source.label))?
                    .into_iter()
                    .collect();
                rows.push(ImageJaccard {
                    model: source.label.clone(),
                    structure: structure.clone(),
                    image,
                    jaccard: value(&values, "jaccard", "jaccard")?,
                    voxels_real: value(&values, "voxels/real", "jaccard")? as u64,
                    voxels_prediction: value(&values, "voxels/prediction", "jaccard")? as u64,
                });
            }
            let values: HashMap<String, f64> = metric.finish()?.into_iter().collect();
            summary += &format!(
                "{},{structure},{},{:.6},{:.6}\n",
                source.label,
                value(&values, "images", "jaccard")?,
                value(&values, "mean", "jaccard")?,
                value(&values, "median", "jaccard")?
            );
        }
    }
    let mut csv = String::from("model,structure,image,jaccard,voxels_real,voxels_prediction\n");
    for r in &rows {
        csv += &format!(
            "{},{},{},{:.6},{},{}\n",
            r.model, r.structure, r.image, r.jaccard, r.voxels_real, r.voxels_prediction
        );
    }
    write_atomic(&request.out.join("jaccard.csv"), csv.as_bytes())?;
    write_atomic(&request.out.join("jaccard_summary.csv"), summary.as_bytes())?;
    write_atomic(&request.out.join("jaccard.png"), &jaccard_png(&rows)?)?;
    Ok(rows)
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

/// The comparison of one model's objects of one structure with the real ones.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectSummary {
    pub model: String,
    pub structure: String,
    pub images: usize,
    /// Every value the `objects` metric reported, except the per-object rows.
    pub values: BTreeMap<String, f64>,
    #[serde(skip)]
    pub objects: Vec<BTreeMap<String, f64>>,
    #[serde(skip)]
    pub image_names: Vec<String>,
}

impl ObjectSummary {
    fn get(&self, name: &str) -> f64 {
        self.values.get(name).copied().unwrap_or(f64::NAN)
    }
}

/// `silico evaluate objects`: writes `objects.csv` (one row per object), `summary.csv` and
/// `summary.json` (one row per model and structure, like Supplementary Tables S3–S5),
/// `divergence.png` (Fig. 7), and per model and structure `embedding-*.png` (the shape space)
/// and `radial-*.png` (normalized radial positions).
pub fn objects_report(plugins: &Plugins, request: &ObjectRequest) -> Result<Vec<ObjectSummary>> {
    fs::create_dir_all(&request.out)
        .with_context(|| format!("cannot create {}", request.out.display()))?;
    let mut real = RealImages::new(&request.data);
    let mut summaries = Vec::new();
    for source in &request.predictions {
        for (structure, images) in
            structure_images(source, &request.structures, Some(&OBJECT_STRUCTURES))?
        {
            let mut metric = plugins.build_metric(&ComponentRef {
                component: "objects".into(),
                config: metric_config(request, &structure),
            })?;
            for image in &images {
                let inputs = MetricInputs::default()
                    .with("target", real.load(&structure, image)?)
                    .with("prediction", prediction(source, &structure, image)?);
                let inputs = match &request.cell_labels {
                    Some((cells, nuclei)) => inputs
                        .with("cells", read_single_channel(&cells.path(image))?)
                        .with("nuclei", read_single_channel(&nuclei.path(image))?),
                    None => inputs
                        .with("cell_membrane", real.load("cell_membrane", image)?)
                        .with("dna", real.load("dna", image)?),
                };
                metric
                    .update(&inputs)
                    .with_context(|| format!("{} {structure} {image}", source.label))?;
            }
            let mut values = BTreeMap::new();
            let mut objects: BTreeMap<usize, BTreeMap<String, f64>> = BTreeMap::new();
            for (name, v) in metric.finish()? {
                match name
                    .strip_prefix("object/")
                    .and_then(|rest| rest.split_once('/'))
                {
                    Some((index, field)) => {
                        let index: usize = index.parse().with_context(|| {
                            format!("the `objects` metric reported `{name}`, not object/<index>/<field>")
                        })?;
                        objects
                            .entry(index)
                            .or_default()
                            .insert(field.to_string(), v);
                    }
                    None => {
                        values.insert(name, v);
                    }
                }
            }
            summaries.push(ObjectSummary {
                model: source.label.clone(),
                structure,
                images: images.len(),
                values,
                objects: objects.into_values().collect(),
                image_names: images,
            });
        }
    }
    write_atomic(
        &request.out.join("objects.csv"),
        objects_csv(&summaries).as_bytes(),
    )?;
    write_atomic(
        &request.out.join("summary.csv"),
        summary_csv(&summaries).as_bytes(),
    )?;
    write_atomic(
        &request.out.join("summary.json"),
        serde_json::to_string_pretty(&summaries)?.as_bytes(),
    )?;
    write_atomic(
        &request.out.join("divergence.png"),
        &divergence_png(&summaries)?,
    )?;
    for s in &summaries {
        let stem = format!("{}-{}", s.model, s.structure);
        if let Some(png) = embedding_png(s)? {
            write_atomic(&request.out.join(format!("embedding-{stem}.png")), &png)?;
        }
        if let Some(png) = radial_png(s)? {
            write_atomic(&request.out.join(format!("radial-{stem}.png")), &png)?;
        }
    }
    Ok(summaries)
}

/// Counts and ids as integers, measures to six decimals, undefined values empty.
fn number(v: f64) -> String {
    if !v.is_finite() {
        String::new()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.6}")
    }
}

const OBJECT_FIELDS: [&str; 10] = [
    "cell",
    "voxels",
    "x",
    "y",
    "z",
    "radius",
    "inside",
    "hausdorff_um",
    "degree",
    "pc1",
];

fn objects_csv(summaries: &[ObjectSummary]) -> String {
    let mut text = format!(
        "model,structure,set,image,{},pc2,pc3\n",
        OBJECT_FIELDS.join(",")
    );
    for s in summaries {
        for o in &s.objects {
            let get = |f: &str| o.get(f).copied().unwrap_or(f64::NAN);
            let set = if get("set") == 0.0 {
                "real"
            } else {
                "synthetic"
            };
            let image = s
                .image_names
                .get(get("image") as usize)
                .map_or("", String::as_str);
            let fields: Vec<String> = OBJECT_FIELDS
                .iter()
                .chain(&["pc2", "pc3"])
                .map(|f| number(get(f)))
                .collect();
            text += &format!(
                "{},{},{set},{image},{}\n",
                s.model,
                s.structure,
                fields.join(",")
            );
        }
    }
    text
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

fn summary_csv(summaries: &[ObjectSummary]) -> String {
    let columns = summary_columns(summaries);
    let mut text = format!("model,structure,images,{}\n", columns.join(","));
    for s in summaries {
        let values: Vec<String> = columns.iter().map(|c| number(s.get(c))).collect();
        text += &format!(
            "{},{},{},{}\n",
            s.model,
            s.structure,
            s.images,
            values.join(",")
        );
    }
    text
}

/// The k whose shape divergence Fig. 7 shows: 8 where it was computed, else the first.
fn figure_k(s: &ObjectSummary) -> Option<String> {
    let ks: Vec<&str> = s
        .values
        .keys()
        .filter_map(|k| k.strip_prefix("shape_divergence/"))
        .collect();
    ks.iter()
        .find(|k| **k == "k8")
        .or(ks.first())
        .map(|k| k.to_string())
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
        .find_map(figure_k)
        .unwrap_or_else(|| "k8".into());
    let series = models
        .iter()
        .map(|m| {
            let of: Vec<&ObjectSummary> = summaries.iter().filter(|s| s.model == *m).collect();
            ScatterSeries {
                name: m.to_string(),
                points: of
                    .iter()
                    .map(|s| (s.get(&format!("shape_divergence/{k}")), s.get("spatial_kl")))
                    .collect(),
                labels: of.iter().map(|s| s.structure.clone()).collect(),
            }
        })
        .collect();
    let chart = ScatterChart {
        title: format!("Shape and spatial divergence from the real objects ({k})"),
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

/// Per-set points of two fields of the objects that have both.
fn points(s: &ObjectSummary, x: &str, y: &str) -> [Vec<(f64, f64)>; 2] {
    let mut sets = [Vec::new(), Vec::new()];
    for o in &s.objects {
        let (Some(&vx), Some(&vy), Some(&set)) = (o.get(x), o.get(y), o.get("set")) else {
            continue;
        };
        if vx.is_finite() && vy.is_finite() {
            sets[usize::from(set != 0.0)].push((vx, vy));
        }
    }
    sets
}

/// The shape space, real against synthetic: PC1–PC2, PC1–PC3 and PC2–PC3.
fn embedding_png(s: &ObjectSummary) -> Result<Option<Vec<u8>>> {
    let charts: Vec<ScatterChart> = [("pc1", "pc2"), ("pc1", "pc3"), ("pc2", "pc3")]
        .into_iter()
        .map(|(x, y)| {
            let [real, synthetic] = points(s, x, y);
            ScatterChart {
                title: format!("{} vs {}", y.to_uppercase(), x.to_uppercase()),
                x_axis: Axis::new(x.to_uppercase()),
                y_axis: Axis::new(y.to_uppercase()),
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
    let radii = |set: f64| -> Vec<f64> {
        s.objects
            .iter()
            .filter(|o| o.get("set") == Some(&set) && o.get("inside") == Some(&1.0))
            .filter_map(|o| o.get("radius").copied())
            .filter(|r| r.is_finite())
            .collect()
    };
    let (real, synthetic) = (radii(0.0), radii(1.0));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prediction_sources_take_a_name_or_their_folder_name() {
        let named = PredictionSource::parse("retrained=out/predictions/test").unwrap();
        assert_eq!(named.label, "retrained");
        assert_eq!(named.folder, Path::new("out/predictions/test"));
        let plain = PredictionSource::parse("demo/predictions/unet-tiny").unwrap();
        assert_eq!(plain.label, "unet-tiny");
    }
}
