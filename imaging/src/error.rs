//! The one error type of the crate.
//!
//! Every message names the file, manifest row or recipe key at fault and says what to do, so
//! that the CLI can print it as a single line and exit non-zero.

use std::path::{Path, PathBuf};

/// Everything that can go wrong when reading, writing or generating images.
#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    /// The I/O error is part of the message and not also the error's `source()`: callers print
    /// the whole chain (`{:#}`), which showed it twice.
    #[error("{}: cannot {action}: {cause}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        cause: std::io::Error,
    },

    #[error("{}: not a readable TIFF ({detail}); the file may be truncated or corrupt, export it again", path.display())]
    CorruptTiff { path: PathBuf, detail: String },

    #[error("{}: unsupported TIFF content ({detail}); save it as uncompressed, LZW or deflate 8/16-bit integer or 32-bit float (Fiji: File > Save As > Tiff, or Python tifffile)", path.display())]
    UnsupportedTiff { path: PathBuf, detail: String },

    /// An image whose decoded size is above the memory budget; `detail` gives both sizes.
    #[error("{}: too large to read: {detail}", path.display())]
    TooLarge { path: PathBuf, detail: String },

    #[error("{}: inconsistent image metadata ({detail})", path.display())]
    BadMetadata { path: PathBuf, detail: String },

    /// An OME-Zarr store that cannot be read or written as asked; `detail` says what to do.
    #[error("{}: {detail}", path.display())]
    Zarr { path: PathBuf, detail: String },

    #[error("{}: cannot write image ({detail})", path.display())]
    BadWrite { path: PathBuf, detail: String },

    #[error("{}: {detail}", csv.display())]
    Manifest { csv: PathBuf, detail: String },

    #[error("{}, row {row}: {detail}", csv.display())]
    ManifestRow {
        csv: PathBuf,
        /// 1-based line number in the CSV file, the header being line 1.
        row: usize,
        detail: String,
    },

    #[error("recipe {origin}: {detail}")]
    Recipe { origin: String, detail: String },

    #[error("{0}")]
    Invalid(String),
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, ImagingError>;

impl ImagingError {
    pub(crate) fn io(path: &Path, action: &'static str, cause: std::io::Error) -> Self {
        ImagingError::Io {
            path: path.to_path_buf(),
            action,
            cause,
        }
    }

    pub(crate) fn zarr(path: &Path, detail: impl Into<String>) -> Self {
        ImagingError::Zarr {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }

    pub(crate) fn metadata(path: &Path, detail: impl Into<String>) -> Self {
        ImagingError::BadMetadata {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}
