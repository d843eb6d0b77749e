//! `silico evaluate exclusivity`: organelle exclusivity of a set of predictions (Sun et al.
//! 2022, Section 2.3, Fig. 4, Table 1), through the `exclusivity` metric plugin.
//!
//! A prediction set is laid out as `silico predict` writes it for several models: one folder
//! per structure, named after it, each holding one TIFF per bright-field image, with the same
//! file names in every folder. Images are streamed one at a time (each image's file from every
//! structure folder), so a test set never has to fit in memory; the means are over all voxels
//! of all images. The report's files ([`write_report`]) go into the output folder for one set,
//! into a sub-folder named after each set for several.

mod report;

pub use report::write_report;

use super::{prediction_files, read_single_channel, table, ImagePaths, PredictionSource};
use crate::{registry::ComponentRef, Plugins};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use silico_plugin_api::MetricInputs;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs,
    path::{Path, PathBuf},
};

/// The metric component that computes the measures.
pub const EXCLUSIVITY_METRIC: &str = "exclusivity";
/// The metric's tables: one row per structure, and the pairwise matrix.
const STRUCTURES_TABLE: &str = "structures";
const PAIRWISE_TABLE: &str = "pairwise";

/// One image's own overall exclusivity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageExclusivity {
    /// The file name, the same in every structure folder.
    pub image: String,
    #[serde(serialize_with = "report::finite_or_null")]
    pub overall: f64,
    pub voxels: u64,
}

/// The measures over a whole prediction set.
#[derive(Debug, Clone, PartialEq)]
pub struct ExclusivityReport {
    /// Structure names in name order; every per-structure vector and matrix follows it.
    pub structures: Vec<String>,
    pub images: Vec<ImageExclusivity>,
    pub voxels: u64,
    pub overall: f64,
    /// Organelle exclusivity per structure (NaN where it is never highest).
    pub organelle: Vec<f64>,
    /// Voxels where each structure is highest.
    pub highest_voxels: Vec<u64>,
    /// `pairwise[a][b]`: mean of (a − b) over the voxels where a is highest; NaN on the diagonal.
    pub pairwise: Vec<Vec<f64>>,
}

impl ExclusivityReport {
    /// Structure → its organelle exclusivity.
    pub fn organelle_by_structure(&self) -> BTreeMap<String, f64> {
        self.structures
            .iter()
            .cloned()
            .zip(self.organelle.iter().copied())
            .collect()
    }
}

/// Computes the exclusivity of each prediction set and writes its three files: into `out` for
/// one set, into `out/<label>` for each of several. Returns the reports by label, in the order
/// given.
pub fn exclusivity_report(
    plugins: &Plugins,
    predictions: &[PredictionSource],
    masks: Option<&ImagePaths>,
    out: &Path,
) -> Result<Vec<(String, ExclusivityReport)>> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut sets = Vec::with_capacity(predictions.len());
    for (i, source) in predictions.iter().enumerate() {
        let report_folder = match predictions {
            [_] => out.to_path_buf(),
            _ => {
                let label = &source.label;
                if Path::new(label).file_name() != Some(label.as_ref()) {
                    bail!(
                        "--predictions {label}={}: the name becomes the folder {}; give a plain folder name",
                        source.folder.display(),
                        out.join(label).display()
                    );
                }
                if predictions[..i].iter().any(|p| &p.label == label) {
                    bail!(
                        "--predictions: the name `{label}` is given twice; name each set NAME=DIR"
                    );
                }
                out.join(label)
            }
        };
        // Every set's folders are checked before any is computed.
        sets.push((
            source,
            structure_folders(&source.folder, out)?,
            report_folder,
        ));
    }
    let mut reports = Vec::with_capacity(sets.len());
    for (source, folders, report_folder) in sets {
        let report = exclusivity(plugins, &folders, masks)?;
        write_report(&report, &report_folder)?;
        reports.push((source.label.clone(), report));
    }
    Ok(reports)
}

/// The exclusivity of the predictions in `folders` (structure name → its folder of TIFFs, one
/// per image, the same names in every folder), streamed one image at a time. `masks` (named by
/// each image's file stem) restricts each image to the non-zero voxels of its mask.
pub fn exclusivity(
    plugins: &Plugins,
    folders: &[(String, PathBuf)],
    masks: Option<&ImagePaths>,
) -> Result<ExclusivityReport> {
    let set = PredictionSet::new(folders)?;
    let mut metric = plugins.build_metric(&ComponentRef {
        component: EXCLUSIVITY_METRIC.into(),
        config: toml::Table::new(),
    })?;
    let mut images = Vec::with_capacity(set.images.len());
    for image in &set.images {
        let mut inputs = set.read_image(image)?;
        if let Some(masks) = masks {
            let stem = image
                .rsplit_once('.')
                .map_or(image.as_str(), |(stem, _)| stem);
            let path = masks.path(stem);
            let mask =
                read_single_channel(&path).with_context(|| format!("the mask of image {image}"))?;
            // An empty mask leaves no voxel to average over: every measure would be NaN.
            if mask.data().iter().all(|&v| v == 0.0) {
                bail!(
                    "{}: the mask of image {image} selects no voxel (all zero); give a mask with the voxels to count non-zero",
                    path.display()
                );
            }
            inputs = inputs.with("mask", mask);
        }
        let values: HashMap<String, f64> = metric
            .update(&inputs)
            .with_context(|| format!("image {image}"))?
            .into_iter()
            .collect();
        images.push(ImageExclusivity {
            image: image.clone(),
            overall: value(&values, "overall")?,
            voxels: value(&values, "voxels")? as u64,
        });
    }
    let values: HashMap<String, f64> = metric.finish()?.into_iter().collect();
    let tables = metric.tables()?;
    let per_structure = table(&tables, STRUCTURES_TABLE, EXCLUSIVITY_METRIC)?;
    let structures: Vec<String> = per_structure
        .strs("structure")?
        .into_iter()
        .map(String::from)
        .collect();
    let organelle = per_structure.f64s("organelle")?.to_vec();
    let highest_voxels = per_structure.u64s("highest_voxels")?.to_vec();
    let matrix = table(&tables, PAIRWISE_TABLE, EXCLUSIVITY_METRIC)?;
    if matrix.rows() != structures.len() {
        bail!(
            "the `{EXCLUSIVITY_METRIC}` metric's table `{PAIRWISE_TABLE}` has {} rows for {} structures",
            matrix.rows(),
            structures.len()
        );
    }
    let columns = structures
        .iter()
        .map(|b| matrix.f64s(b))
        .collect::<Result<Vec<_>, _>>()?;
    let pairwise = (0..structures.len())
        .map(|a| columns.iter().map(|column| column[a]).collect())
        .collect();
    Ok(ExclusivityReport {
        overall: value(&values, "overall")?,
        voxels: value(&values, "voxels")? as u64,
        structures,
        images,
        organelle,
        highest_voxels,
        pairwise,
    })
}

fn value(values: &HashMap<String, f64>, name: &str) -> Result<f64> {
    values
        .get(name)
        .copied()
        .with_context(|| format!("the `{EXCLUSIVITY_METRIC}` metric did not report `{name}`"))
}

/// The structure folders of a prediction set and the image file names they share.
struct PredictionSet {
    /// Structure name → folder, in name order.
    folders: Vec<(String, PathBuf)>,
    /// In name order.
    images: Vec<String>,
}

/// The structure folders of `folder`: every visible sub-folder except `out`, in name order.
fn structure_folders(folder: &Path, out: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = fs::read_dir(folder).with_context(|| {
        format!(
            "cannot read the predictions folder {} (one folder of TIFFs per structure)",
            folder.display()
        )
    })?;
    let out = fs::canonicalize(out).ok();
    let mut structures = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read {}", folder.display()))?
            .path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            bail!(
                "{}: a structure folder's name must be UTF-8",
                path.display()
            );
        };
        if !path.is_dir() || name.starts_with('.') || fs::canonicalize(&path).ok() == out {
            continue;
        }
        structures.push((name, path));
    }
    structures.sort();
    if structures.len() < 2 {
        let names: Vec<&str> = structures.iter().map(|(s, _)| s.as_str()).collect();
        bail!(
                "{}: found {} structure folders ({}); exclusivity compares the predictions of at least 2 structures, one folder of TIFFs each",
                folder.display(),
                structures.len(),
                names.join(", ")
            );
    }
    Ok(structures)
}

impl PredictionSet {
    /// Checks that the folders hold the same TIFF names.
    fn new(folders: &[(String, PathBuf)]) -> Result<Self> {
        let mut folders = folders.to_vec();
        folders.sort();
        let mut first_images: Option<(PathBuf, BTreeSet<String>)> = None;
        for (_, dir) in &folders {
            let dir = dir.clone();
            let images = prediction_names(&dir)?;
            if images.is_empty() {
                bail!(
                    "{}: holds no predictions (<image>.tif or <image>.ome.zarr)",
                    dir.display()
                );
            }
            match &first_images {
                None => first_images = Some((dir, images)),
                Some((first_dir, first)) => {
                    if let Some(missing) = first.difference(&images).next() {
                        bail!(
                            "{}: missing, but {} exists",
                            dir.join(missing).display(),
                            first_dir.join(missing).display()
                        );
                    }
                    if let Some(extra) = images.difference(first).next() {
                        bail!(
                            "{}: has no counterpart {}",
                            dir.join(extra).display(),
                            first_dir.join(extra).display()
                        );
                    }
                }
            }
        }
        let Some((_, images)) = first_images else {
            bail!("no prediction folders to compare");
        };
        Ok(PredictionSet {
            folders,
            images: images.into_iter().collect(),
        })
    }

    /// One image's file from every structure folder, as `prediction/<structure>` volumes of one
    /// (Z, Y, X) shape.
    fn read_image(&self, image: &str) -> Result<MetricInputs> {
        let mut inputs = MetricInputs::default();
        let mut first: Option<(PathBuf, [usize; 4])> = None;
        for (structure, folder) in &self.folders {
            let path = folder.join(image);
            let volume = read_single_channel(&path)?;
            match &first {
                Some((first_path, shape)) if *shape != volume.shape() => bail!(
                    "{}: shape (Z, Y, X) {:?} differs from {:?} of {}",
                    path.display(),
                    &volume.shape()[1..],
                    &shape[1..],
                    first_path.display()
                ),
                Some(_) => {}
                None => first = Some((path.clone(), volume.shape())),
            }
            inputs = inputs.with(&format!("prediction/{structure}"), volume);
        }
        Ok(inputs)
    }
}

/// The file names of the predictions in `dir` (`.tif`, `.tiff`, `.ome.zarr`), in name order.
fn prediction_names(dir: &Path) -> Result<BTreeSet<String>> {
    Ok(prediction_files(dir)?
        .into_values()
        .filter_map(|path| path.file_name()?.to_str().map(String::from))
        .collect())
}
