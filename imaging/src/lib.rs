//! silico's data layer: microscopy images in and out, training manifests, and synthetic cells.
//!
//! Everything here is plain Rust without torch, so the CLI, metric plugins and tests can use it
//! without linking libtorch.

pub mod dataset;
pub mod error;
pub mod files;
pub mod filter;
pub mod info;
pub mod resample;
pub mod rng;
pub mod synth;
pub mod tiff;
pub mod volume;

pub use error::{ImagingError, Result};
pub use info::{image_info, ImageInfo};
pub use volume::{value_range, ValueRange, Volume};
