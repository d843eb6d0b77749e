//! `silico info FILE`: what a user checks first about an image file.
//!
//! Real lab files go wrong in predictable ways (channels read as z, a missing voxel size, the
//! bright-field in an unexpected channel: pytorch_fnet issue #172; NaN or inf voxels that turn
//! a prediction into NaN), so this reports how the file was interpreted next to per-channel
//! value ranges over the finite samples and counts of the NaN and infinite ones. TIFF files and
//! OME-Zarr images (level 0) are both described.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::image::is_zarr;
use crate::tiff::read_tiff;
use crate::volume::{ValueRange, Volume};
use crate::zarr::OmeZarrImage;

/// A description of one image file.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub path: PathBuf,
    /// How the file stores the image, e.g. "ImageJ hyperstack, 3 page(s), compression
    /// deflate" or "OME-Zarr (NGFF 0.5), level 0 of 3".
    pub format: String,
    /// Axes as stored in the file, slowest first.
    pub file_axes: String,
    pub sample_type: String,
    /// (C, Z, Y, X) as silico reads it.
    pub shape: [usize; 4],
    /// (z, y, x) in µm.
    pub voxel_um: [f32; 3],
    /// Which of (z, y, x) came from the file rather than the 1 µm default.
    pub voxel_known: [bool; 3],
    pub channel_names: Vec<String>,
    /// Over all channels; its `nan` and `inf` count the samples it leaves out.
    pub range: ValueRange,
    pub channel_ranges: Vec<ValueRange>,
}

/// Reads `path` (a TIFF or an OME-Zarr image) and describes it.
pub fn image_info(path: &Path) -> Result<ImageInfo> {
    if is_zarr(path) {
        let image = OmeZarrImage::open(path)?;
        let volume = image.read_volume()?;
        let format = format!(
            "OME-Zarr (NGFF {}), level 0 of {}",
            image.version(),
            image.levels()
        );
        let known = image.voxel_um().is_some();
        return Ok(describe(
            path,
            format,
            image.axis_names().join(""),
            image.data_type(),
            &volume,
            [known; 3],
        ));
    }
    let (volume, description) = read_tiff(path)?;
    let format = format!(
        "{}{}, {} page(s), compression {}",
        description.layout.flavour,
        if description.bigtiff {
            " (BigTIFF)"
        } else {
            ""
        },
        description.pages,
        description.compression
    );
    Ok(describe(
        path,
        format,
        description.layout.axes.clone(),
        description.sample_type.clone(),
        &volume,
        description.layout.voxel_known,
    ))
}

fn describe(
    path: &Path,
    format: String,
    file_axes: String,
    sample_type: String,
    volume: &Volume,
    voxel_known: [bool; 3],
) -> ImageInfo {
    ImageInfo {
        path: path.to_path_buf(),
        format,
        file_axes,
        sample_type,
        shape: volume.shape,
        voxel_um: volume.voxel_um,
        voxel_known,
        channel_names: volume.channel_names.clone(),
        range: volume.value_range(),
        channel_ranges: (0..volume.channels())
            .map(|c| volume.channel_range(c))
            .collect(),
    }
}

impl fmt::Display for ImageInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [c, z, y, x] = self.shape;
        writeln!(f, "{}", self.path.display())?;
        writeln!(f, "  format       {}", self.format)?;
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
        writeln!(f, "  value range  {}", self.range)?;
        writeln!(
            f,
            "  not finite   {} NaN, {} inf",
            self.range.nan, self.range.inf
        )?;
        for (i, r) in self.channel_ranges.iter().enumerate() {
            let name = self.channel_names.get(i).filter(|n| !n.is_empty());
            writeln!(
                f,
                "  channel {i:<3} {:<16} {r}",
                name.map_or("-", |n| n.as_str())
            )?;
        }
        Ok(())
    }
}
