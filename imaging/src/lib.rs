//! silico's data layer: microscopy images (TIFF, OME-Zarr) in and out, training manifests, and synthetic cells.
//!
//! Everything here is plain Rust without torch, so the CLI, metric plugins and tests can use it
//! without linking libtorch.

pub mod channel;
pub mod dataset;
pub mod error;
pub mod files;
pub mod filter;
pub mod image;
pub mod info;
pub mod labels;
pub mod limits;
pub mod resample;
pub mod rng;
pub mod synth;
pub mod tiff;
pub mod volume;
pub mod zarr;

pub use channel::ChannelSelector;
pub use error::{ImagingError, Result};
pub use image::{read_image, read_image_channel};
pub use info::{image_info, ImageInfo};
pub use labels::{read_labels, Labels};
pub use limits::{memory_budget, set_memory_budget, MemoryBudget};
pub use volume::{value_range, ValueRange, Volume};
