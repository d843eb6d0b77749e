//! The one error type of the crate; every message says what to change.

use silico_imaging::dataset::NonFiniteVoxels;
use thiserror::Error;

pub type Result<T> = std::result::Result<T, SegmentationError>;

#[derive(Debug, Error)]
pub enum SegmentationError {
    /// Two inputs that must cover the same voxels do not.
    #[error("{what}: shapes differ, {left:?} (z, y, x) vs {right:?}; resample or crop one of them so both have the same shape")]
    ShapeMismatch {
        what: String,
        left: [usize; 3],
        right: [usize; 3],
    },
    /// A flat buffer whose length does not match its declared shape.
    #[error("{what} has {len} values but shape {shape:?} (z, y, x) needs {expected}; pass the shape the data was written with")]
    LengthMismatch {
        what: String,
        len: usize,
        shape: [usize; 3],
        expected: usize,
    },
    /// A parameter outside the range where the step is defined.
    #[error("invalid parameter `{name}`: {detail}")]
    InvalidParameter { name: String, detail: String },
    /// A segmentation config that does not parse.
    #[error("segmentation config {origin}: {detail}")]
    Config { origin: String, detail: String },
    /// A structure name with no workflow.
    #[error("no segmentation workflow for structure `{name}`; use one of: {known}")]
    UnknownStructure { name: String, known: String },
    /// An image with NaN or infinite voxels, which no threshold can order.
    #[error("{what}: {}; segmentation needs finite intensities (replace or mask them first)", found.describe())]
    NonFinite {
        what: String,
        found: NonFiniteVoxels,
    },
    /// A volume channel that is not there.
    #[error("channel {channel} requested but the volume has {channels} channel(s); pick one of 0..{channels}")]
    MissingChannel { channel: usize, channels: usize },
}

impl SegmentationError {
    pub(crate) fn invalid(name: &str, detail: impl Into<String>) -> Self {
        SegmentationError::InvalidParameter {
            name: name.to_string(),
            detail: detail.into(),
        }
    }
}

/// Fails unless `len` equals the voxel count of `shape`.
pub(crate) fn check_len(what: &str, len: usize, shape: [usize; 3]) -> Result<()> {
    let expected = shape.iter().product();
    if len == expected {
        Ok(())
    } else {
        Err(SegmentationError::LengthMismatch {
            what: what.to_string(),
            len,
            shape,
            expected,
        })
    }
}

/// Fails unless two shapes are equal.
pub(crate) fn check_same_shape(what: &str, left: [usize; 3], right: [usize; 3]) -> Result<()> {
    if left == right {
        Ok(())
    } else {
        Err(SegmentationError::ShapeMismatch {
            what: what.to_string(),
            left,
            right,
        })
    }
}

/// Fails unless every voxel of the (Z, Y, X) `image` is finite.
pub(crate) fn check_finite(what: &str, image: &[f32], shape: [usize; 3]) -> Result<()> {
    let found = NonFiniteVoxels::of(image, shape);
    if found.is_empty() {
        Ok(())
    } else {
        Err(SegmentationError::NonFinite {
            what: what.to_string(),
            found,
        })
    }
}
