//! Reading an OME-Zarr image group level by level, whole channels or boxes of one.
//!
//! A box decodes only the chunks it touches, so a volume larger than memory can be read tile
//! by tile. A chunk missing from the store reads as the array's fill value, as the Zarr spec
//! says; a chunk that is present but does not decode is an error.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zarrs::array::data_type::{
    Float32DataType, Float64DataType, Int16DataType, Int32DataType, Int64DataType, Int8DataType,
    UInt16DataType, UInt32DataType, UInt64DataType, UInt8DataType,
};
use zarrs::array::{Array, ArrayCreateError, ArrayError};
use zarrs::filesystem::FilesystemStore;
use zarrs::plugin::{ExtensionName, ZarrVersion};

use super::metadata::{axis_layout, read_group_attributes, AxisLayout, Multiscale, NgffVersion};
use crate::channel::ChannelSelector;
use crate::error::{ImagingError, Result};
use crate::limits::check_fits;
use crate::volume::Volume;

/// One resolution level of an OME-Zarr image, opened for reading.
pub struct OmeZarrImage {
    path: PathBuf,
    version: NgffVersion,
    multiscale: Multiscale,
    layout: AxisLayout,
    level: usize,
    array: Array<FilesystemStore>,
    /// (C, Z, Y, X) of this level.
    shape: [usize; 4],
    channel_names: Vec<String>,
}

impl std::fmt::Debug for OmeZarrImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmeZarrImage")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("level", &self.level)
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl OmeZarrImage {
    /// Opens the finest level of the image group at `path` (an `.ome.zarr` folder, or one
    /// field of an HCS plate such as `plate.zarr/A/1/0`).
    pub fn open(path: &Path) -> Result<OmeZarrImage> {
        let attributes = read_group_attributes(path)?;
        let multiscale = attributes.multiscale()?;
        let layout = axis_layout(&multiscale.axes, &attributes.file)?;
        Self::open_parsed(path, attributes.version, multiscale, layout, 0)
    }

    /// The same image at resolution level `level` (0 is the finest).
    pub fn open_level(&self, level: usize) -> Result<OmeZarrImage> {
        if level >= self.levels() {
            return Err(ImagingError::zarr(
                &self.path,
                format!(
                    "level {level} requested but the image has {} level(s) (0..{})",
                    self.levels(),
                    self.levels() - 1
                ),
            ));
        }
        Self::open_parsed(
            &self.path,
            self.version,
            self.multiscale.clone(),
            self.layout,
            level,
        )
    }

    fn open_parsed(
        path: &Path,
        version: NgffVersion,
        multiscale: Multiscale,
        layout: AxisLayout,
        level: usize,
    ) -> Result<OmeZarrImage> {
        let level_path = multiscale.levels[level].path.clone();
        let array_folder = path.join(&level_path);
        let store = FilesystemStore::new(path)
            .map_err(|e| ImagingError::zarr(path, format!("cannot open as a Zarr store ({e})")))?;
        let array = Array::open(
            Arc::new(store),
            &format!("/{}", level_path.trim_matches('/')),
        )
        .map_err(|e| open_error(&array_folder, e))?;
        let dims = array.shape();
        if dims.len() != layout.dimensions() {
            return Err(ImagingError::zarr(
                &array_folder,
                format!(
                    "array has {} dimensions but the image's axes are {} ({}); write the store again",
                    dims.len(),
                    layout.dimensions(),
                    multiscale
                        .axes
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Some(t) = layout.t {
            if dims[t] != 1 {
                return Err(ImagingError::zarr(
                    &array_folder,
                    format!(
                        "has {} time points; silico reads one (a t axis of size 1): save the time point to use as its own image",
                        dims[t]
                    ),
                ));
            }
        }
        let size = |i: usize| dims[i] as usize;
        let channels = layout.c.map_or(1, size);
        let shape = [
            channels,
            size(layout.z),
            size(layout.z + 1),
            size(layout.z + 2),
        ];
        let mut channel_names = multiscale.channel_labels.clone();
        channel_names.resize(channels, String::new());
        Ok(OmeZarrImage {
            path: path.to_path_buf(),
            version,
            multiscale,
            layout,
            level,
            array,
            shape,
            channel_names,
        })
    }

    /// The image group's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// NGFF 0.4 (Zarr v2) or 0.5 (Zarr v3).
    pub fn version(&self) -> NgffVersion {
        self.version
    }

    /// Number of resolution levels.
    pub fn levels(&self) -> usize {
        self.multiscale.levels.len()
    }

    /// The level this handle reads (0 is the finest).
    pub fn level(&self) -> usize {
        self.level
    }

    /// (C, Z, Y, X) of this level.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Voxel size of this level in µm (z, y, x); `None` where the metadata lacks a scale or a
    /// length unit (see [`OmeZarrImage::voxel_unknown_reason`]).
    pub fn voxel_um(&self) -> Option<[f32; 3]> {
        self.multiscale.levels[self.level].voxel_um.clone().ok()
    }

    /// Why the voxel size is unknown, e.g. "axis z has no unit"; `None` where it is known.
    pub fn voxel_unknown_reason(&self) -> Option<&str> {
        self.multiscale.levels[self.level]
            .voxel_um
            .as_ref()
            .err()
            .map(String::as_str)
    }

    /// The axes as the metadata names them, slowest first (e.g. `["c", "z", "y", "x"]`).
    pub fn axis_names(&self) -> Vec<&str> {
        self.multiscale
            .axes
            .iter()
            .map(|a| a.name.as_str())
            .collect()
    }

    /// One name per channel from `omero.channels[].label`; empty where there is none.
    pub fn channel_names(&self) -> &[String] {
        &self.channel_names
    }

    /// The index of the channel `selector` names, or one line listing the channels there are.
    pub fn channel_index(&self, selector: &ChannelSelector) -> Result<usize> {
        selector
            .resolve(&self.channel_names)
            .map_err(|detail| ImagingError::zarr(&self.path, detail))
    }

    /// The stored sample type by its Zarr v3 name, e.g. "uint16".
    pub fn data_type(&self) -> String {
        let data_type = self.array.data_type();
        data_type
            .name(ZarrVersion::V3)
            .map_or_else(|| data_type.to_string(), |name| name.into_owned())
    }

    /// All channels of this level as f32; where the voxel size is unknown it is a 1 µm
    /// stand-in with `voxel_known` false.
    pub fn read_volume(&self) -> Result<Volume> {
        let [channels, z, y, x] = self.shape;
        let data = self.read_box(0..channels, [0, 0, 0], [z, y, x])?;
        self.volume(data, self.shape, self.channel_names.clone())
    }

    /// Channel `c` of this level as a one-channel f32 volume.
    pub fn read_channel(&self, c: usize) -> Result<Volume> {
        self.check_channel(c)?;
        let [_, z, y, x] = self.shape;
        let data = self.read_box(c..c + 1, [0, 0, 0], [z, y, x])?;
        self.volume(data, [1, z, y, x], vec![self.channel_names[c].clone()])
    }

    /// The (Z, Y, X) box of channel `c` at `origin` of `size`, row-major, decoding only the
    /// chunks it touches.
    pub fn read_region(&self, c: usize, origin: [usize; 3], size: [usize; 3]) -> Result<Vec<f32>> {
        self.check_channel(c)?;
        let spatial = [self.shape[1], self.shape[2], self.shape[3]];
        if (0..3).any(|a| origin[a] + size[a] > spatial[a]) {
            return Err(ImagingError::zarr(
                &self.path,
                format!(
                    "region at {origin:?} of size {size:?} (z, y, x) reaches past the level-{} image of {spatial:?}",
                    self.level
                ),
            ));
        }
        self.read_box(c..c + 1, origin, size)
    }

    fn check_channel(&self, c: usize) -> Result<()> {
        ChannelSelector::Index(c)
            .resolve(&self.channel_names)
            .map(|_| ())
            .map_err(|detail| ImagingError::zarr(&self.path, detail))
    }

    fn volume(&self, data: Vec<f32>, shape: [usize; 4], names: Vec<String>) -> Result<Volume> {
        let mut volume = Volume::from_data(data, shape, self.voxel_um().unwrap_or([1.0; 3]))?;
        volume.voxel_known = self.voxel_um().is_some();
        volume.channel_names = names;
        Ok(volume)
    }

    /// Channel `c` of this level as label ids: integer samples only, each from 0 to
    /// `u32::MAX` (one line naming the first that is not).
    pub fn read_labels(&self, c: usize) -> Result<Vec<u32>> {
        self.check_channel(c)?;
        let [_, z, y, x] = self.shape;
        let ranges = self.subset(c..c + 1, [0, 0, 0], [z, y, x], 4)?;
        let array = &self.array;
        let data_type = array.data_type();
        let folder = self.path.join(self.level_path());
        let failed = |e: ArrayError| read_error(&folder, e);
        macro_rules! ids {
            ($($zarr_type:ty => $element:ty),* $(,)?) => {
                $(
                    if data_type.is::<$zarr_type>() {
                        let samples: Vec<$element> =
                            array.retrieve_array_subset(&ranges).map_err(failed)?;
                        return samples
                            .into_iter()
                            .map(|v| {
                                u32::try_from(v).map_err(|_| {
                                    ImagingError::zarr(
                                        &folder,
                                        format!("holds the value {v}, which is not a label id (0 to {})", u32::MAX),
                                    )
                                })
                            })
                            .collect();
                    }
                )*
            };
        }
        if data_type.is::<UInt32DataType>() {
            return array.retrieve_array_subset(&ranges).map_err(failed);
        }
        ids!(
            UInt8DataType => u8,
            UInt16DataType => u16,
            UInt64DataType => u64,
            Int8DataType => i8,
            Int16DataType => i16,
            Int32DataType => i32,
            Int64DataType => i64,
        );
        Err(ImagingError::zarr(
            &folder,
            format!(
                "holds {} samples, but labels are integer ids: store them as uint16 or uint32",
                self.data_type()
            ),
        ))
    }

    /// The array subset of `channels` × the (z, y, x) box, refused when it decodes to more than
    /// the memory budget: its samples as stored plus `out_bytes` per sample as returned.
    fn subset(
        &self,
        channels: Range<usize>,
        origin: [usize; 3],
        size: [usize; 3],
        out_bytes: u64,
    ) -> Result<Vec<Range<u64>>> {
        let samples =
            (channels.len() as u64).saturating_mul(size.iter().map(|&n| n as u64).product::<u64>());
        let stored = self.array.data_type().fixed_size().unwrap_or(8) as u64;
        // A stored type of the returned width is returned as decoded, without a second copy.
        let per_sample = if stored == out_bytes {
            out_bytes
        } else {
            stored + out_bytes
        };
        check_fits(
            &self.path.join(self.level_path()),
            samples.saturating_mul(per_sample),
            || {
                format!(
                    "{} channel(s) of {}x{}x{} (z, y, x) {}",
                    channels.len(),
                    size[0],
                    size[1],
                    size[2],
                    self.data_type()
                )
            },
        )?;
        let mut ranges: Vec<Range<u64>> = vec![0..1; self.layout.dimensions()];
        if let Some(c) = self.layout.c {
            ranges[c] = channels.start as u64..channels.end as u64;
        }
        for a in 0..3 {
            ranges[self.layout.z + a] = origin[a] as u64..(origin[a] + size[a]) as u64;
        }
        Ok(ranges)
    }

    /// Samples of `channels` × the (z, y, x) box, converted to f32.
    fn read_box(
        &self,
        channels: Range<usize>,
        origin: [usize; 3],
        size: [usize; 3],
    ) -> Result<Vec<f32>> {
        let ranges = self.subset(channels, origin, size, 4)?;
        let array = &self.array;
        let data_type = array.data_type();
        let failed = |e: ArrayError| read_error(&self.path.join(self.level_path()), e);
        macro_rules! convert {
            ($($zarr_type:ty => $element:ty),* $(,)?) => {
                $(
                    if data_type.is::<$zarr_type>() {
                        let samples: Vec<$element> =
                            array.retrieve_array_subset(&ranges).map_err(failed)?;
                        return Ok(samples.into_iter().map(|v| v as f32).collect());
                    }
                )*
            };
        }
        if data_type.is::<Float32DataType>() {
            return array.retrieve_array_subset(&ranges).map_err(failed);
        }
        convert!(
            UInt8DataType => u8,
            UInt16DataType => u16,
            UInt32DataType => u32,
            UInt64DataType => u64,
            Int8DataType => i8,
            Int16DataType => i16,
            Int32DataType => i32,
            Int64DataType => i64,
            Float64DataType => f64,
        );
        Err(ImagingError::zarr(
            &self.path.join(self.level_path()),
            format!(
                "sample type {data_type} is not supported; store 8 to 64-bit integers or 32/64-bit floats"
            ),
        ))
    }

    fn level_path(&self) -> &str {
        &self.multiscale.levels[self.level].path
    }
}

/// One line for an array that does not open: what is wrong and what to do.
fn open_error(array_folder: &Path, error: ArrayCreateError) -> ImagingError {
    let detail = one_line(&error.to_string());
    let detail = match error {
        ArrayCreateError::MissingMetadata => {
            "the image lists this level but it holds no Zarr array (no zarr.json or .zarray); write the store again".to_string()
        }
        // zarrs reports a Zarr v2 array it cannot convert (an unknown compressor or filter
        // among them) as one unsupported-array error.
        ArrayCreateError::CodecsCreateError(_) => format!(
            "uses a codec silico cannot decode ({detail}); re-save it with blosc, zstd or gzip"
        ),
        ArrayCreateError::UnsupportedZarrV2Array(ref what) if what.contains("codec") => format!(
            "uses a codec silico cannot decode ({detail}); re-save it with blosc, zstd or gzip"
        ),
        ArrayCreateError::UnsupportedZarrV2Array(_) => format!(
            "is a Zarr v2 array silico cannot read ({detail}); re-save it with blosc, zstd or gzip and integer or float samples"
        ),
        ArrayCreateError::DataTypeCreateError(_) => format!(
            "has a sample type silico cannot read ({detail}); store integers or floats"
        ),
        _ => format!("broken Zarr array metadata ({detail}); write the store again"),
    };
    ImagingError::zarr(array_folder, detail)
}

/// One line for a read that fails: a chunk that does not decode, or the store.
fn read_error(array_folder: &Path, error: ArrayError) -> ImagingError {
    let detail = one_line(&error.to_string());
    let detail = match error {
        ArrayError::CodecError(_) => format!(
            "a chunk does not decode ({detail}); it is truncated or corrupt: write the store again"
        ),
        ArrayError::StorageError(_) => format!("cannot read a chunk ({detail})"),
        _ => format!("cannot read ({detail})"),
    };
    ImagingError::zarr(array_folder, detail)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
