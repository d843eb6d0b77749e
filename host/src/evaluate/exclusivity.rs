//! `silico evaluate exclusivity`: organelle exclusivity of a set of predictions (Sun et al.
//! 2022, Section 2.3, Fig. 4, Table 1), through the `exclusivity` metric plugin.
//!
//! The predictions are laid out as `silico predict` writes them for several models: one folder
//! per structure, named after it, each holding one TIFF per bright-field image, with the same
//! file names in every folder. Images are streamed one at a time (each image's file from every
//! structure folder), so a test set never has to fit in memory; the means are over all voxels
//! of all images. Writes, each atomically, `exclusivity.json` (structures, `overall`,
//! `organelle`, the `pairwise` matrix, per-image values), `exclusivity.csv` (the same table) and
//! `exclusivity_pairwise.png` (a heat map of the pairwise matrix).

use super::{read_single_channel, ImagePaths};
use crate::{files::write_atomic, registry::ComponentRef, Plugins};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use silico_plot::{heatmap_png, HeatMap};
use silico_plugin_api::MetricInputs;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs,
    path::{Path, PathBuf},
};

/// The metric component that computes the measures.
pub const EXCLUSIVITY_METRIC: &str = "exclusivity";

const MEANS_NOTE: &str = "Means are over all voxels of all images (running sums), not means of per-image means. \
organelle[A]: mean of (highest - second highest) over the voxels where A is highest. \
pairwise[A][B]: mean of (A - B) over the voxels where A (the row) is highest; directed, not symmetric. \
Ties for the highest go to the structure whose name sorts first. null: undefined (the diagonal; a structure never highest).";

/// One image's own overall exclusivity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageExclusivity {
    /// The file name, the same in every structure folder.
    pub image: String,
    #[serde(serialize_with = "finite_or_null")]
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

/// Computes the exclusivity of the prediction set in `predictions` and writes its three files
/// into `out` (created if needed).
pub fn exclusivity_report(
    plugins: &Plugins,
    predictions: &Path,
    masks: Option<&ImagePaths>,
    out: &Path,
) -> Result<ExclusivityReport> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let report = exclusivity(plugins, &structure_folders(predictions, out)?, masks)?;
    write_report(&report, out)?;
    Ok(report)
}

/// Writes `exclusivity.json`, `exclusivity.csv` and `exclusivity_pairwise.png` into `out`.
pub fn write_report(report: &ExclusivityReport, out: &Path) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write_atomic(&out.join("exclusivity.json"), json(report)?.as_bytes())?;
    write_atomic(&out.join("exclusivity.csv"), csv(report).as_bytes())?;
    let png = heatmap_png(&HeatMap {
        title: "Pairwise exclusivity",
        caption: "Row A, column B: mean of A - B over the voxels where A is highest",
        labels: &report.structures,
        values: &report.pairwise,
    })?;
    write_atomic(&out.join("exclusivity_pairwise.png"), &png)
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
            let mask = read_single_channel(&masks.path(stem))
                .with_context(|| format!("the mask of image {image}"))?;
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
    let structures: Vec<String> = set.folders.iter().map(|(s, _)| s.clone()).collect();
    let organelle = structures
        .iter()
        .map(|a| value(&values, &format!("organelle/{a}")))
        .collect::<Result<_>>()?;
    let highest_voxels = structures
        .iter()
        .map(|a| Ok(value(&values, &format!("voxels/{a}"))? as u64))
        .collect::<Result<_>>()?;
    let pairwise = structures
        .iter()
        .map(|a| {
            structures
                .iter()
                .map(|b| {
                    if a == b {
                        Ok(f64::NAN)
                    } else {
                        value(&values, &format!("pairwise/{a}/{b}"))
                    }
                })
                .collect::<Result<_>>()
        })
        .collect::<Result<_>>()?;
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
            let images = tiff_names(&dir)?;
            if images.is_empty() {
                bail!("{}: holds no TIFF files", dir.display());
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

/// The names of the `.tif`/`.tiff` files in `dir`, in name order.
fn tiff_names(dir: &Path) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        let is_tiff = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("tif") || e.eq_ignore_ascii_case("tiff"));
        if is_tiff && path.is_file() {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                bail!("{}: a prediction file's name must be UTF-8", path.display());
            };
            names.insert(name.to_string());
        }
    }
    Ok(names)
}

fn finite_or_null<S: serde::Serializer>(v: &f64, serializer: S) -> Result<S::Ok, S::Error> {
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

/// One row per structure (its organelle exclusivity, voxels where it is highest, and its row of
/// the pairwise matrix), then an `overall` row; empty cells where a value is undefined.
fn csv(report: &ExclusivityReport) -> String {
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
    header.extend(
        report
            .structures
            .iter()
            .map(|b| csv_field(&format!("pairwise_vs_{b}"))),
    );
    let mut lines = vec![header.join(",")];
    for (a, structure) in report.structures.iter().enumerate() {
        let mut row = vec![
            csv_field(structure),
            number(report.organelle[a]),
            report.highest_voxels[a].to_string(),
        ];
        row.extend(report.pairwise[a].iter().map(|&v| number(v)));
        lines.push(row.join(","));
    }
    let mut overall = vec![
        "overall".to_string(),
        number(report.overall),
        report.voxels.to_string(),
    ];
    overall.extend(report.structures.iter().map(|_| String::new()));
    lines.push(overall.join(","));
    lines.join("\n") + "\n"
}

/// Quotes a field that holds a comma, quote or line break (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
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
            csv(&report()),
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
