//! Microscopy TIFF in and out.
//!
//! Reading turns ImageJ hyperstacks, OME-TIFF and plain multi-page stacks (classic or BigTIFF,
//! any compression and integer/float sample type the `tiff` crate decodes) into a (C, Z, Y, X)
//! f32 [`Volume`](crate::Volume) with its voxel size. Writing produces f32 (or u8/u16 label)
//! ImageJ hyperstacks that Fiji, napari and Python's tifffile open with the right shape and
//! voxel size, atomically, switching to BigTIFF past 4 GB. Before decoding a pixel, the reader
//! sums what every page decodes to and refuses a file above the memory budget
//! ([`crate::limits`]) or whose pages share their strips (a decompression bomb).

mod metadata;
mod read;
mod write;

pub use metadata::{FileLayout, TiffFlavour};
pub(crate) use read::decode_file;
pub use read::{read_tiff, read_tiff_bytes, read_volume, TiffDescription};
pub use write::{
    write_labels_u16, write_mask_u8, write_volume, write_volume_with, TiffWriteOptions,
};
