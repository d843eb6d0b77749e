//! Evaluation measures for silico in plain Rust, without torch, so that they have fast unit
//! tests and can be wrapped by metric plugins (which, as `cdylib`s, cannot run their own tests)
//! and used by the host alike.
//!
//! - [`exclusivity`]: the organelle exclusivity measures of Sun et al. 2022 (Section 2.3, Fig. 4):
//!   how distinct the predictions of several organelle models for the same image are.

pub mod exclusivity;

pub use exclusivity::{Exclusivity, ExclusivityError, ExclusivitySummary, ImageExclusivity, Mask};
