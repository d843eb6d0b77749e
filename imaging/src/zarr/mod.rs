//! OME-Zarr (OME-NGFF) images in and out: NGFF 0.4 on Zarr v2 and NGFF 0.5 on Zarr v3.
//!
//! Reading takes an image group's `multiscales` (axes (t,) (c,) z, y, x; a t axis only of
//! size 1), its per-level voxel size in µm from the scale transforms and axis units, and its
//! `omero` channel labels; any integer or float sample type reads as f32, whole or box by box.
//! An HCS plate lists its fields with [`plate_fields`]; each field opens as an image. Writing
//! streams f32 boxes into level 0 of a hidden temporary store, then adds a mean-pooled pyramid
//! and the metadata and renames the store into place.

mod metadata;
mod read;
mod write;

pub use metadata::{plate_fields, FieldRef, NgffVersion};
pub use read::OmeZarrImage;
pub use write::{write_volume, OmeZarrWriteOptions, OmeZarrWriter};
