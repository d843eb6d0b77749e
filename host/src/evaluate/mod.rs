//! Evaluating predictions beyond pixel error (Sun et al. 2022): the evaluators' command logic,
//! over the metric plugins that compute the measures: organelle [`exclusivity`], and the
//! segmentation Jaccard and object comparison of [`objects`].

pub mod exclusivity;
pub mod objects;

pub use exclusivity::{exclusivity_report, ExclusivityReport, ImageExclusivity};
pub use objects::{jaccard_report, objects_report, ObjectRequest, PredictionSource};

use anyhow::{bail, Context, Result};
use silico_imaging::tiff::read_volume;
use silico_plugin_api::Volume;
use std::path::{Path, PathBuf};

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
    let volume = read_volume(path)?;
    if volume.shape[0] != 1 {
        bail!(
            "{}: has {} channels; each image file here holds one",
            path.display(),
            volume.shape[0]
        );
    }
    Volume::new(volume.shape, volume.voxel_um, volume.data)
        .with_context(|| path.display().to_string())
}
