//! `silico info FILE`: what a user checks first about an image file.
//!
//! Real lab files go wrong in predictable ways (channels read as z, a missing voxel size, the
//! bright-field in an unexpected channel: pytorch_fnet issue #172), so this reports how the
//! file was interpreted next to per-channel value ranges.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::tiff::{read_tiff, TiffFlavour};
use crate::volume::ValueRange;

/// A description of one image file.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub path: PathBuf,
    pub flavour: TiffFlavour,
    pub bigtiff: bool,
    /// Axes as stored in the file, slowest first.
    pub file_axes: String,
    pub pages: usize,
    pub compression: String,
    pub sample_type: String,
    /// (C, Z, Y, X) as silico reads it.
    pub shape: [usize; 4],
    /// (z, y, x) in µm.
    pub voxel_um: [f32; 3],
    /// Which of (z, y, x) came from the file rather than the 1 µm default.
    pub voxel_known: [bool; 3],
    pub channel_names: Vec<String>,
    pub range: ValueRange,
    pub channel_ranges: Vec<ValueRange>,
}

/// Reads `path` and describes it.
pub fn image_info(path: &Path) -> Result<ImageInfo> {
    let (volume, description) = read_tiff(path)?;
    Ok(ImageInfo {
        path: path.to_path_buf(),
        flavour: description.layout.flavour,
        bigtiff: description.bigtiff,
        file_axes: description.layout.axes.clone(),
        pages: description.pages,
        compression: description.compression.clone(),
        sample_type: description.sample_type.clone(),
        shape: volume.shape,
        voxel_um: volume.voxel_um,
        voxel_known: description.layout.voxel_known,
        channel_names: volume.channel_names.clone(),
        range: volume.value_range(),
        channel_ranges: (0..volume.channels())
            .map(|c| volume.channel_range(c))
            .collect(),
    })
}

impl fmt::Display for ImageInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [c, z, y, x] = self.shape;
        writeln!(f, "{}", self.path.display())?;
        writeln!(
            f,
            "  format       {}{}, {} page(s), compression {}",
            self.flavour,
            if self.bigtiff { " (BigTIFF)" } else { "" },
            self.pages,
            self.compression
        )?;
        writeln!(f, "  file axes    {}", self.file_axes)?;
        writeln!(
            f,
            "  shape        C={c} Z={z} Y={y} X={x}  (read as C,Z,Y,X)"
        )?;
        writeln!(f, "  sample type  {}", self.sample_type)?;
        let size = |i: usize| {
            if self.voxel_known[i] {
                format!("{}", self.voxel_um[i])
            } else {
                format!("{} (not in file)", self.voxel_um[i])
            }
        };
        writeln!(
            f,
            "  voxel (µm)   z={} y={} x={}",
            size(0),
            size(1),
            size(2)
        )?;
        writeln!(
            f,
            "  value range  {} .. {} (mean {:.4}, std {:.4})",
            self.range.min, self.range.max, self.range.mean, self.range.std
        )?;
        for (i, r) in self.channel_ranges.iter().enumerate() {
            let name = self.channel_names.get(i).filter(|n| !n.is_empty());
            writeln!(
                f,
                "  channel {i:<3} {:<16} {} .. {} (mean {:.4}, std {:.4})",
                name.map_or("-", |n| n.as_str()),
                r.min,
                r.max,
                r.mean,
                r.std
            )?;
        }
        Ok(())
    }
}
