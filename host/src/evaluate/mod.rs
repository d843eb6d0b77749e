//! Evaluating predictions beyond pixel error (Sun et al. 2022): the evaluators' command logic,
//! over the metric plugins that compute the measures: organelle [`exclusivity`], and the
//! segmentation Jaccard and object comparison of [`objects`].

pub mod exclusivity;
pub mod objects;

pub use exclusivity::{exclusivity_report, ExclusivityReport, ImageExclusivity};
pub use objects::{jaccard_report, objects_report, ObjectRequest, PredictionSource};
