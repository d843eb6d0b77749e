//! Evaluating predictions beyond pixel error (Sun et al. 2022): the evaluators' command logic,
//! over the metric plugins that compute the measures: organelle [`exclusivity`], and the
//! segmentation Jaccard and object comparison of [`objects`].

pub mod exclusivity;
pub mod objects;

pub use exclusivity::{exclusivity_report, ExclusivityReport, ImageExclusivity};
pub use objects::{
    jaccard_report, objects_report, ImageJaccard, JaccardReport, JaccardSummary, MeasuredObject,
    ObjectRequest, ObjectSummary,
};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use silico_imaging::{
    dataset::{refuse_non_finite, same_voxel_size, VoxelSize},
    read_image,
};
use silico_plugin_api::{Table, Volume};
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

/// One model's predictions: a label and a folder of structure folders.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionSource {
    pub label: String,
    pub folder: PathBuf,
}

impl PredictionSource {
    /// `NAME=DIR`, or `DIR` labelled by its folder name. A `NAME` becomes a report folder's
    /// name, so it must be a plain name (see [`crate::names::check_name`]).
    pub fn parse(text: &str) -> Result<Self> {
        let (label, folder) = match text.split_once('=') {
            Some((label, folder)) if !label.is_empty() => {
                crate::names::check_name("--predictions NAME", label)?;
                if folder.is_empty() {
                    bail!("--predictions {text}: give the folder after `=`, as NAME=DIR");
                }
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

/// A path with `{image}` where each image's name goes, e.g.
/// `data/fields/{image}/labels/cells.tif` (a mask or labels per image, as `silico synth` lays
/// them out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePaths(String);

impl ImagePaths {
    const PLACEHOLDER: &str = "{image}";

    /// Checks `template`; `option` names where it came from in the error.
    pub fn parse(template: &str, option: &str) -> Result<Self> {
        if !template.contains(Self::PLACEHOLDER) {
            bail!(
                "{option} `{template}`: put {} where the image name goes, e.g. masks/{}.tif",
                Self::PLACEHOLDER,
                Self::PLACEHOLDER
            );
        }
        Ok(Self(template.to_string()))
    }

    /// The path of `image` (a name without extension).
    pub fn path(&self, image: &str) -> PathBuf {
        PathBuf::from(self.0.replace(Self::PLACEHOLDER, image))
    }
}

/// A single-channel image file as a metric input volume.
fn read_single_channel(path: &Path) -> Result<Volume> {
    metric_volume(read_one_channel(path)?, path)
}

/// A single-channel image file as stored; NaN and infinite voxels are refused, since every
/// measure of them would be NaN or silently skewed.
fn read_one_channel(path: &Path) -> Result<silico_imaging::Volume> {
    let volume = read_image(path)?;
    if volume.shape[0] != 1 {
        bail!(
            "{}: has {} channels; each image file here holds one",
            path.display(),
            volume.shape[0]
        );
    }
    refuse_non_finite(
        &volume,
        path,
        "the evaluators need finite values (predict or export the image again)",
    )?;
    Ok(volume)
}

/// A label image (cell or nucleus ids) as a metric input: read as integers (a float file or an
/// id that is not one is refused) and numbered 1..=n in the order of the ids before becoming
/// f32, since metric inputs are f32 volumes and f32 merges ids past 2^24.
fn read_label_volume(path: &Path) -> Result<Volume> {
    let labels = silico_imaging::read_labels(path)?;
    let [z, y, x] = labels.shape;
    Volume::new([1, z, y, x], labels.voxel_um, labels.to_dense_f32(path)?)
        .with_context(|| path.display().to_string())
}

fn metric_volume(volume: silico_imaging::Volume, path: &Path) -> Result<Volume> {
    Volume::new(volume.shape, volume.voxel_um, volume.data)
        .with_context(|| path.display().to_string())
}

/// The predictions in `dir` as `silico predict` writes them, by image name, in name order:
/// `<image>.tif` (or `.tiff`) files and `<image>.ome.zarr` stores. An image written both ways
/// is refused, since either could be meant.
fn prediction_files(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            bail!("{}: a prediction file's name must be UTF-8", path.display());
        };
        let lower = name.to_ascii_lowercase();
        let stem = if path.is_file() && (lower.ends_with(".tif") || lower.ends_with(".tiff")) {
            &name[..name.rfind('.').unwrap_or(name.len())]
        } else if path.is_dir() && lower.ends_with(".ome.zarr") {
            &name[..name.len() - ".ome.zarr".len()]
        } else {
            continue;
        };
        if let Some(other) = files.insert(stem.to_string(), path.clone()) {
            bail!(
                "{} and {}: two predictions of image `{stem}`; keep one",
                other.display(),
                path.display()
            );
        }
    }
    Ok(files)
}

/// The prediction at `path` of the real image `real` read from `real_path`, as a metric input:
/// refused unless it has the real image's shape and voxel size. One whose file gives no voxel
/// size is taken at the real image's (said once), since objects are measured in µm.
fn prediction_of(path: &Path, real: &silico_imaging::Volume, real_path: &Path) -> Result<Volume> {
    let mut predicted = read_one_channel(path)?;
    if predicted.shape != real.shape {
        bail!(
            "{}: shape (Z, Y, X) {:?} differs from {:?} of the real image {}; predict the real images themselves (silico predict writes them on their grid)",
            path.display(),
            predicted.spatial_shape(),
            real.spatial_shape(),
            real_path.display()
        );
    }
    match (predicted.voxel_known, real.voxel_known) {
        (false, _) => VoxelSize::Like {
            um: real.voxel_um,
            from: "the real image's",
        }
        .settle(&mut predicted, path),
        (true, true) if !same_voxel_size(predicted.voxel_um, real.voxel_um) => bail!(
            "{}: voxel size {:?} µm differs from {:?} µm of the real image {}; predict at the real image's voxel size (silico predict resamples back to it)",
            path.display(),
            predicted.voxel_um,
            real.voxel_um,
            real_path.display()
        ),
        (true, _) => {}
    }
    metric_volume(predicted, path)
}

/// The table called `name` among a metric's `tables`.
fn table<'a>(tables: &'a [Table], name: &str, metric: &str) -> Result<&'a Table> {
    tables
        .iter()
        .find(|t| t.name() == name)
        .with_context(|| format!("the `{metric}` metric did not report the table `{name}`"))
}

/// CSV text: the `header` record, then one record per row, serialized in the header's order.
pub(crate) fn csv_text<R: Serialize>(
    header: &[String],
    rows: impl IntoIterator<Item = R>,
) -> Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record(header)?;
    for row in rows {
        writer.serialize(row)?;
    }
    Ok(writer.into_inner().map_err(|e| e.into_error())?)
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

    #[test]
    fn prediction_names_are_not_paths() {
        for text in ["../x=out", "a/b=out", "/abs=out", ".=out"] {
            let message = format!("{:#}", PredictionSource::parse(text).unwrap_err());
            assert!(message.contains("a name, not a path"), "{text}: {message}");
        }
        let message = format!("{:#}", PredictionSource::parse("named=").unwrap_err());
        assert!(message.contains("give the folder"), "{message}");
    }

    #[test]
    fn csv_quotes_names_with_commas_and_quotes_and_reads_back() {
        #[derive(Serialize)]
        struct Row<'a> {
            image: &'a str,
            values: Vec<String>,
        }
        let name = "field \"a\", 2";
        let header = ["image", "first", "second"].map(String::from);
        let text = csv_text(
            &header,
            [Row {
                image: name,
                values: vec!["1".into(), String::new()],
            }],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(text.clone()).unwrap(),
            "image,first,second\n\"field \"\"a\"\", 2\",1,\n"
        );
        let mut reader = csv::Reader::from_reader(text.as_slice());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[0], name);
        assert_eq!((&record[1], &record[2]), ("1", ""));
    }
}
