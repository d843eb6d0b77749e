//! One entry point for image files of any format silico reads: TIFF files and OME-Zarr
//! folders, told apart by what the path is.

use std::path::Path;

use crate::channel::ChannelSelector;
use crate::error::{ImagingError, Result};
use crate::tiff;
use crate::volume::Volume;
use crate::zarr::OmeZarrImage;

/// Whether `path` names a Zarr store: a `*.zarr` path (`*.ome.zarr` included) or a folder
/// holding Zarr group metadata (e.g. one field of a plate, `plate.zarr/A/1/0`).
pub fn is_zarr(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zarr"))
        || (path.is_dir()
            && ["zarr.json", ".zattrs", ".zgroup"]
                .iter()
                .any(|f| path.join(f).is_file()))
}

/// Whether an image exists at `path`: a file, or a Zarr folder.
pub fn image_exists(path: &Path) -> bool {
    path.is_file() || (path.is_dir() && is_zarr(path))
}

/// Reads an image as a (C, Z, Y, X) f32 volume: a TIFF, or level 0 of an OME-Zarr image
/// (`voxel_known` false where its metadata gives no voxel size).
pub fn read_image(path: &Path) -> Result<Volume> {
    if is_zarr(path) {
        OmeZarrImage::open(path)?.read_volume()
    } else {
        tiff::read_volume(path)
    }
}

/// Reads one channel of an image; from an OME-Zarr image only that channel is decoded.
pub fn read_image_channel(path: &Path, channel: &ChannelSelector) -> Result<Volume> {
    if is_zarr(path) {
        let image = OmeZarrImage::open(path)?;
        image.read_channel(image.channel_index(channel)?)
    } else {
        tiff::read_volume(path)?
            .select_channel(channel)
            .map_err(|e| ImagingError::Invalid(format!("{}: {e}", path.display())))
    }
}
