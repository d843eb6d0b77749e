//! `silico evaluate jaccard` and `silico evaluate objects`: the object-based evaluation of Sun et
//! al. 2022 (Sections 2.5, 3.1 and 3.3; Figs. 3 and 7; Supplementary Tables S3–S5), through the
//! `jaccard` and `objects` metric plugins.
//!
//! Each prediction set is a folder as `silico predict` writes it (`<structure>/<image>.tif`),
//! labelled by `NAME=` or by its folder name. The real images come from the data folder's
//! manifests (`<structure>.csv`, whose rows name the same images); the cells of an image are
//! segmented from its real `cell_membrane` and `dna` images. Images are streamed one at a time.

mod permutation_notes;
mod report;

pub use permutation_notes::permutation_text;

use super::{
    metric_volume, prediction_files, prediction_of, read_label_volume, read_one_channel, table,
    ImagePaths, PredictionSource,
};
use crate::{data::manifest_path, registry::ComponentRef, Plugins};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use silico_imaging::dataset::Manifest;
use silico_imaging::dataset::VoxelSize;
use silico_plugin_api::{MetricInputs, Table, Volume};
use std::{
    collections::{BTreeMap, HashMap},
    fs,
    path::{Path, PathBuf},
};

/// The structures whose objects the paper compares (Section 2.5).
pub const OBJECT_STRUCTURES: [&str; 4] = ["nucleoli", "mitochondria", "golgi", "desmosomes"];

/// The metric components, and the `objects` metric's table of objects.
const JACCARD_METRIC: &str = "jaccard";
const OBJECTS_METRIC: &str = "objects";
const OBJECTS_TABLE: &str = "objects";

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
    /// What to take for real image files that give no voxel size.
    pub voxel_size: VoxelSize,
}

/// The real images of a data folder, by structure and image name.
struct RealImages {
    data: PathBuf,
    voxel_size: VoxelSize,
    manifests: HashMap<String, BTreeMap<String, PathBuf>>,
}

/// A real image as stored, and its file.
struct RealImage {
    volume: silico_imaging::Volume,
    path: PathBuf,
}

impl RealImage {
    fn metric(self) -> Result<Volume> {
        metric_volume(self.volume, &self.path)
    }
}

impl RealImages {
    fn new(data: &Path, voxel_size: VoxelSize) -> Self {
        Self {
            data: data.to_path_buf(),
            voxel_size,
            manifests: HashMap::new(),
        }
    }

    /// The real image of `structure` for `image`, as stored (not normalized).
    fn load(&mut self, structure: &str, image: &str) -> Result<RealImage> {
        if !self.manifests.contains_key(structure) {
            let csv = manifest_path(&self.data, structure);
            let manifest = Manifest::load(&csv).with_context(|| {
                format!("the real `{structure}` images: pass --data with a folder holding {structure}.csv")
            })?;
            let names = manifest.image_names();
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
        let mut volume = read_one_channel(path)?;
        self.voxel_size.settle(&mut volume, path);
        Ok(RealImage {
            volume,
            path: path.clone(),
        })
    }
}

/// The structure folders of `source` to evaluate, each with its predictions by image name.
fn structure_images(
    source: &PredictionSource,
    wanted: &[String],
    default: Option<&[&str]>,
) -> Result<Vec<(String, BTreeMap<String, PathBuf>)>> {
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
        let images = prediction_files(&dir)?;
        if images.is_empty() {
            bail!(
                "{}: holds no predictions (<image>.tif or <image>.ome.zarr)",
                dir.display()
            );
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

/// The target of `structure` in `image` and its prediction at `path`, as metric inputs.
fn real_and_predicted(
    real: &mut RealImages,
    structure: &str,
    image: &str,
    path: &Path,
) -> Result<(Volume, Volume)> {
    let target = real.load(structure, image)?;
    let predicted = prediction_of(path, &target.volume, &target.path)?;
    Ok((target.metric()?, predicted))
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

/// The Jaccard of one model's images of one structure, as the metric's `finish` gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct JaccardSummary {
    pub model: String,
    pub structure: String,
    pub images: usize,
    pub mean: f64,
    pub median: f64,
}

/// What `silico evaluate jaccard` computed: every image, and the summary per model and
/// structure.
#[derive(Debug, Clone)]
pub struct JaccardReport {
    pub images: Vec<ImageJaccard>,
    pub summaries: Vec<JaccardSummary>,
}

/// `silico evaluate jaccard`: writes `jaccard.csv`, `jaccard_summary.csv` and `jaccard.png`.
pub fn jaccard_report(plugins: &Plugins, request: &ObjectRequest) -> Result<JaccardReport> {
    fs::create_dir_all(&request.out)
        .with_context(|| format!("cannot create {}", request.out.display()))?;
    let mut real = RealImages::new(&request.data, request.voxel_size);
    let mut rows = Vec::new();
    let mut summaries = Vec::new();
    for source in &request.predictions {
        for (structure, images) in structure_images(source, &request.structures, None)? {
            let mut metric = plugins.build_metric(&ComponentRef {
                component: JACCARD_METRIC.into(),
                config: metric_config(request, &structure),
            })?;
            for (image, path) in images {
                let (target, predicted) = real_and_predicted(&mut real, &structure, &image, &path)?;
                let inputs = MetricInputs::default()
                    .with("target", target)
                    .with("prediction", predicted);
                let values: HashMap<String, f64> = metric
                    .update(&inputs)
                    .with_context(|| format!("{} {structure} {image}", source.label))?
                    .into_iter()
                    .collect();
                rows.push(ImageJaccard {
                    model: source.label.clone(),
                    structure: structure.clone(),
                    image,
                    jaccard: value(&values, "jaccard", JACCARD_METRIC)?,
                    voxels_real: value(&values, "voxels/real", JACCARD_METRIC)? as u64,
                    voxels_prediction: value(&values, "voxels/prediction", JACCARD_METRIC)? as u64,
                });
            }
            let values: HashMap<String, f64> = metric.finish()?.into_iter().collect();
            summaries.push(JaccardSummary {
                model: source.label.clone(),
                structure,
                images: value(&values, "images", JACCARD_METRIC)? as usize,
                mean: value(&values, "mean", JACCARD_METRIC)?,
                median: value(&values, "median", JACCARD_METRIC)?,
            });
        }
    }
    report::write_jaccard(&request.out, &rows, &summaries)?;
    Ok(JaccardReport {
        images: rows,
        summaries,
    })
}

/// The comparison of one model's objects of one structure with the real ones.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectSummary {
    pub model: String,
    pub structure: String,
    pub images: usize,
    /// Every value the `objects` metric reported.
    pub values: BTreeMap<String, f64>,
    /// The metric's table of objects, one per row.
    #[serde(skip)]
    pub objects: Vec<MeasuredObject>,
}

/// One object as the `objects` metric measured it (a row of its table).
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredObject {
    /// `real` or `synthetic`.
    pub set: String,
    /// The name of its image.
    pub image: String,
    pub cell: u64,
    pub voxels: u64,
    /// Normalized position in its cell: x, y, z.
    pub position: [f64; 3],
    pub radius: f64,
    pub inside: bool,
    /// Its id in its image's object segmentation.
    pub label: u64,
    /// Of its SPHARM fit; NaN without one.
    pub hausdorff_um: f64,
    pub degree: f64,
    /// Scores in the shape space: PC1, PC2, …; NaN without a shape.
    pub scores: Vec<f64>,
    /// The shape descriptor the PCA took; NaN without a shape.
    pub descriptor: Vec<f64>,
}

impl MeasuredObject {
    fn is_real(&self) -> bool {
        self.set == "real"
    }

    /// Every row of the `objects` table; `images` names the images in `update` order.
    fn from_table(table: &Table, images: &[String]) -> Result<Vec<Self>> {
        let (set, image, cell, voxels) = (
            table.strs("set")?,
            table.u64s("image")?,
            table.u64s("cell")?,
            table.u64s("voxels")?,
        );
        let position = [table.f64s("x")?, table.f64s("y")?, table.f64s("z")?];
        let (radius, inside, label) = (
            table.f64s("radius")?,
            table.bools("inside")?,
            table.u64s("label")?,
        );
        let (hausdorff_um, degree) = (table.f64s("hausdorff_um")?, table.f64s("degree")?);
        let scores = (1..)
            .map(|pc| format!("pc{pc}"))
            .take_while(|name| table.has_column(name))
            .map(|name| table.f64s(&name))
            .collect::<Result<Vec<_>, _>>()?;
        let descriptor = (0..)
            .map(|d| format!("d{d}"))
            .take_while(|name| table.has_column(name))
            .map(|name| table.f64s(&name))
            .collect::<Result<Vec<_>, _>>()?;
        (0..table.rows())
            .map(|i| {
                let image = images.get(image[i] as usize).with_context(|| {
                    format!(
                        "the `{OBJECTS_METRIC}` metric placed an object in image {} of {}",
                        image[i],
                        images.len()
                    )
                })?;
                Ok(Self {
                    set: set[i].to_string(),
                    image: image.clone(),
                    cell: cell[i],
                    voxels: voxels[i],
                    position: position.map(|axis| axis[i]),
                    radius: radius[i],
                    inside: inside[i],
                    label: label[i],
                    hausdorff_um: hausdorff_um[i],
                    degree: degree[i],
                    scores: scores.iter().map(|pc| pc[i]).collect(),
                    descriptor: descriptor.iter().map(|d| d[i]).collect(),
                })
            })
            .collect()
    }

    /// PC `n` (from 1); NaN where there is none.
    fn score(&self, n: usize) -> f64 {
        self.scores.get(n - 1).copied().unwrap_or(f64::NAN)
    }
}

impl ObjectSummary {
    /// The value the metric reported as `name`; NaN where it reported none.
    pub fn value(&self, name: &str) -> f64 {
        self.values.get(name).copied().unwrap_or(f64::NAN)
    }

    /// The k whose shape divergence Fig. 7 shows: 8 where it was computed, else the first
    /// reported (in name order); `None` where there is no shape divergence.
    pub fn figure_k(&self) -> Option<usize> {
        let ks: Vec<usize> = self
            .values
            .keys()
            .filter_map(|k| k.strip_prefix("shape_divergence/k")?.parse().ok())
            .collect();
        ks.iter().find(|&&k| k == 8).or(ks.first()).copied()
    }
}

/// `silico evaluate objects`: writes `objects.csv` (one row per object), `descriptors.csv`
/// (the shape descriptor of every object that has one), `summary.csv` and
/// `summary.json` (one row per model and structure, like Supplementary Tables S3–S5),
/// `permutation.txt` (each p-value with its null, n and k), `divergence.png` (Fig. 7), and per
/// model and structure `embedding-*.png` (the shape space) and `radial-*.png` (normalized
/// radial positions).
pub fn objects_report(plugins: &Plugins, request: &ObjectRequest) -> Result<Vec<ObjectSummary>> {
    fs::create_dir_all(&request.out)
        .with_context(|| format!("cannot create {}", request.out.display()))?;
    let mut real = RealImages::new(&request.data, request.voxel_size);
    let mut summaries = Vec::new();
    for source in &request.predictions {
        for (structure, images) in
            structure_images(source, &request.structures, Some(&OBJECT_STRUCTURES))?
        {
            let mut metric = plugins.build_metric(&ComponentRef {
                component: OBJECTS_METRIC.into(),
                config: metric_config(request, &structure),
            })?;
            for (image, path) in &images {
                let (target, predicted) = real_and_predicted(&mut real, &structure, image, path)?;
                let inputs = MetricInputs::default()
                    .with("target", target)
                    .with("prediction", predicted);
                let inputs = match &request.cell_labels {
                    Some((cells, nuclei)) => inputs
                        .with("cells", read_label_volume(&cells.path(image))?)
                        .with("nuclei", read_label_volume(&nuclei.path(image))?),
                    None => inputs
                        .with(
                            "cell_membrane",
                            real.load("cell_membrane", image)?.metric()?,
                        )
                        .with("dna", real.load("dna", image)?.metric()?),
                };
                metric
                    .update(&inputs)
                    .with_context(|| format!("{} {structure} {image}", source.label))?;
            }
            let values = metric.finish()?.into_iter().collect();
            let tables = metric.tables()?;
            let objects = table(&tables, OBJECTS_TABLE, OBJECTS_METRIC)?;
            summaries.push(ObjectSummary {
                model: source.label.clone(),
                structure,
                images: images.len(),
                values,
                objects: MeasuredObject::from_table(
                    objects,
                    &images.into_keys().collect::<Vec<_>>(),
                )
                .with_context(|| format!("the `{OBJECTS_METRIC}` metric's table"))?,
            });
        }
    }
    report::write_objects(&request.out, &summaries)?;
    Ok(summaries)
}
