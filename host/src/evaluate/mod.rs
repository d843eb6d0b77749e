//! Evaluating predictions beyond pixel error (Sun et al. 2022): the evaluators' command logic,
//! over the metric plugins that compute the measures.

pub mod exclusivity;

pub use exclusivity::{exclusivity_report, ExclusivityReport, ImageExclusivity};
