//! Writing an OME-Zarr image: level 0 box by box (so a prediction can stream tile by tile),
//! then a mean-pooled pyramid and the NGFF metadata.
//!
//! Everything goes into a hidden sibling folder (`.name.tmp-<pid>`) that
//! [`OmeZarrWriter::finish`] renames to the destination, so a reader never sees half a store;
//! a writer dropped before `finish` (an error, a panic) removes its folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use zarrs::array::{Array, ArrayError};
use zarrs::filesystem::FilesystemStore;

use super::metadata::{array_file, group_files, image_attributes, ImageDescription, NgffVersion};
use crate::error::{ImagingError, Result};
use crate::files::write_atomic;
use crate::volume::Volume;

/// How [`OmeZarrWriter`] lays out a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OmeZarrWriteOptions {
    pub version: NgffVersion,
    /// Chunk shape (z, y, x), clipped to the image; `None`: up to 32 × 256 × 256.
    pub chunks: Option<[usize; 3]>,
    /// Replace an existing store at the destination instead of refusing.
    pub overwrite: bool,
    /// Pyramid levels (2× coarser in y and x each) are added while both y and x of the next
    /// level stay at least this large.
    pub pyramid_min_size: usize,
}

impl Default for OmeZarrWriteOptions {
    /// NGFF 0.4, which more viewers and libraries read today than 0.5.
    fn default() -> Self {
        OmeZarrWriteOptions {
            version: NgffVersion::V04,
            chunks: None,
            overwrite: false,
            pyramid_min_size: 64,
        }
    }
}

const DEFAULT_CHUNKS: [usize; 3] = [32, 256, 256];

/// An OME-Zarr image being written; nothing appears at its path until [`finish`](Self::finish).
pub struct OmeZarrWriter {
    destination: PathBuf,
    temporary: TemporaryStore,
    options: OmeZarrWriteOptions,
    shape: [usize; 4],
    voxel_um: [f32; 3],
    channel_names: Vec<String>,
    /// (C, Z, Y, X) chunk shape of level 0.
    chunks: [usize; 4],
    level0: Array<FilesystemStore>,
    /// Per channel (min, max) of what was written, NaNs ignored.
    ranges: Vec<(f32, f32)>,
}

/// The hidden folder a store is written into, removed when dropped unless it was moved into
/// place.
struct TemporaryStore {
    path: PathBuf,
    moved: bool,
}

impl Drop for TemporaryStore {
    fn drop(&mut self) {
        if !self.moved {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

impl OmeZarrWriter {
    /// Starts a store for a (C, Z, Y, X) = `shape` f32 image; `channel_names` has one name per
    /// channel or is empty (unnamed). Unwritten voxels read as 0.
    pub fn create(
        path: &Path,
        shape: [usize; 4],
        voxel_um: [f32; 3],
        channel_names: &[String],
        options: &OmeZarrWriteOptions,
    ) -> Result<OmeZarrWriter> {
        let bad = |detail: String| ImagingError::zarr(path, detail);
        if shape.contains(&0) {
            return Err(bad(format!(
                "cannot write an empty image of shape {shape:?} (C, Z, Y, X)"
            )));
        }
        if !voxel_um.iter().all(|v| v.is_finite() && *v > 0.0) {
            return Err(bad(format!("voxel size {voxel_um:?} µm is not positive")));
        }
        let channel_names = match channel_names.len() {
            0 => vec![String::new(); shape[0]],
            n if n == shape[0] => channel_names.to_vec(),
            n => {
                return Err(bad(format!(
                    "{n} channel names for {} channels; give one per channel or none",
                    shape[0]
                )))
            }
        };
        if options.chunks.is_some_and(|c| c.contains(&0)) {
            return Err(bad(format!(
                "chunk shape {:?} has a zero axis",
                options.chunks
            )));
        }
        if path.exists() && !options.overwrite {
            return Err(bad(
                "already exists; remove it, choose another name or ask to overwrite it".into(),
            ));
        }
        let name = path
            .file_name()
            .ok_or_else(|| bad("not a folder name to write to".into()))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            return Err(bad(format!(
                "cannot write: the folder {} does not exist",
                parent.display()
            )));
        }
        let temporary = parent.join(format!(
            ".{}.tmp-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        if temporary.exists() {
            std::fs::remove_dir_all(&temporary)
                .map_err(|e| ImagingError::io(&temporary, "remove a stale temporary store", e))?;
        }
        std::fs::create_dir(&temporary).map_err(|e| ImagingError::io(&temporary, "create", e))?;
        let temporary = TemporaryStore {
            path: temporary,
            moved: false,
        };
        let chunk_zyx = options.chunks.unwrap_or(DEFAULT_CHUNKS);
        let chunks = [1, chunk_zyx[0], chunk_zyx[1], chunk_zyx[2]];
        let level0 = create_level(&temporary.path, options.version, chunks, "0", shape)?;
        Ok(OmeZarrWriter {
            destination: path.to_path_buf(),
            temporary,
            options: *options,
            shape,
            voxel_um,
            channel_names,
            chunks,
            level0,
            ranges: vec![(f32::INFINITY, f32::NEG_INFINITY); shape[0]],
        })
    }

    /// (C, Z, Y, X) of the image.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Writes the (Z, Y, X) box of channel `c` at `origin` of `size` from row-major `data`.
    /// Boxes aligned to the chunk shape are written fastest; others read-modify-write the
    /// chunks they share.
    pub fn write_region(
        &mut self,
        c: usize,
        origin: [usize; 3],
        size: [usize; 3],
        data: &[f32],
    ) -> Result<()> {
        let spatial = [self.shape[1], self.shape[2], self.shape[3]];
        if c >= self.shape[0] || (0..3).any(|a| origin[a] + size[a] > spatial[a]) {
            return Err(ImagingError::zarr(
                &self.destination,
                format!(
                    "region of channel {c} at {origin:?} of size {size:?} (z, y, x) lies outside the image of {} channel(s) × {spatial:?}",
                    self.shape[0]
                ),
            ));
        }
        if data.len() != size.iter().product::<usize>() {
            return Err(ImagingError::zarr(
                &self.destination,
                format!(
                    "region of size {size:?} needs {} samples but got {}",
                    size.iter().product::<usize>(),
                    data.len()
                ),
            ));
        }
        let ranges = [
            c as u64..c as u64 + 1,
            origin[0] as u64..(origin[0] + size[0]) as u64,
            origin[1] as u64..(origin[1] + size[1]) as u64,
            origin[2] as u64..(origin[2] + size[2]) as u64,
        ];
        self.level0
            .store_array_subset(&ranges, data)
            .map_err(|e| self.write_error(e))?;
        let (min, max) = &mut self.ranges[c];
        for &v in data.iter().filter(|v| !v.is_nan()) {
            *min = min.min(v);
            *max = max.max(v);
        }
        Ok(())
    }

    /// Adds the pyramid levels and the metadata, then moves the store to its destination
    /// (replacing an existing one only with `overwrite`).
    pub fn finish(mut self) -> Result<()> {
        let mut level_paths = vec!["0".to_string()];
        let mut finer_shape = self.shape;
        let mut finer: Option<Array<FilesystemStore>> = None;
        let min_size = self.options.pyramid_min_size.max(1);
        while finer_shape[2] / 2 >= min_size && finer_shape[3] / 2 >= min_size {
            let shape = [
                finer_shape[0],
                finer_shape[1],
                finer_shape[2] / 2,
                finer_shape[3] / 2,
            ];
            let path = level_paths.len().to_string();
            let coarser = create_level(
                &self.temporary.path,
                self.options.version,
                self.chunks,
                &path,
                shape,
            )?;
            self.pool_into(finer.as_ref().unwrap_or(&self.level0), &coarser, shape)?;
            level_paths.push(path);
            finer = Some(coarser);
            finer_shape = shape;
        }
        let name = self
            .destination
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = name
            .strip_suffix(".ome.zarr")
            .or_else(|| name.strip_suffix(".zarr"))
            .unwrap_or(&name)
            .to_string();
        let ranges: Vec<(f32, f32)> = self
            .ranges
            .iter()
            .map(|&(min, max)| if min <= max { (min, max) } else { (0.0, 0.0) })
            .collect();
        let attributes = image_attributes(
            self.options.version,
            &ImageDescription {
                name: &name,
                voxel_um: self.voxel_um,
                channel_names: &self.channel_names,
                channel_ranges: &ranges,
                level_paths: &level_paths,
            },
        );
        for (file, json) in group_files(self.options.version, attributes) {
            write_json(&self.temporary.path.join(file), &json)?;
        }
        self.move_into_place()?;
        self.temporary.moved = true;
        Ok(())
    }

    fn move_into_place(&self) -> Result<()> {
        let destination = &self.destination;
        let temporary = &self.temporary.path;
        if !destination.exists() {
            return std::fs::rename(temporary, destination).map_err(|e| {
                ImagingError::io(destination, "move the finished store into place", e)
            });
        }
        if !self.options.overwrite {
            return Err(ImagingError::zarr(
                destination,
                "appeared while it was being written; remove it, choose another name or ask to overwrite it",
            ));
        }
        // Renames are atomic but a folder cannot replace a non-empty one: move the old store
        // aside, the new one in, then delete the old.
        let old = temporary.with_file_name(format!(
            ".{}.old-{}",
            destination
                .file_name()
                .unwrap_or_default()
                .to_string_lossy(),
            std::process::id()
        ));
        std::fs::rename(destination, &old)
            .map_err(|e| ImagingError::io(destination, "move the old store aside", e))?;
        if let Err(e) = std::fs::rename(temporary, destination) {
            // Put the old store back so that a failure changes nothing.
            let _ = std::fs::rename(&old, destination);
            return Err(ImagingError::io(
                destination,
                "move the finished store into place",
                e,
            ));
        }
        if old.is_dir() {
            std::fs::remove_dir_all(&old)
                .map_err(|e| ImagingError::io(&old, "remove the replaced store", e))
        } else {
            std::fs::remove_file(&old)
                .map_err(|e| ImagingError::io(&old, "remove the replaced file", e))
        }
    }

    /// Fills `coarser` (of `shape`) with 2 × 2 means in (y, x) of `finer`, one output chunk at
    /// a time, so that only a chunk's worth of either level is in memory.
    fn pool_into(
        &self,
        finer: &Array<FilesystemStore>,
        coarser: &Array<FilesystemStore>,
        shape: [usize; 4],
    ) -> Result<()> {
        let step: [usize; 3] = std::array::from_fn(|a| self.chunks[a + 1].min(shape[a + 1]));
        for c in 0..shape[0] as u64 {
            for z0 in (0..shape[1]).step_by(step[0]) {
                for y0 in (0..shape[2]).step_by(step[1]) {
                    for x0 in (0..shape[3]).step_by(step[2]) {
                        let size = [
                            step[0].min(shape[1] - z0),
                            step[1].min(shape[2] - y0),
                            step[2].min(shape[3] - x0),
                        ];
                        let source = [
                            c..c + 1,
                            z0 as u64..(z0 + size[0]) as u64,
                            2 * y0 as u64..2 * (y0 + size[1]) as u64,
                            2 * x0 as u64..2 * (x0 + size[2]) as u64,
                        ];
                        let fine: Vec<f32> = finer
                            .retrieve_array_subset(&source)
                            .map_err(|e| self.write_error(e))?;
                        let pooled = mean_pool_yx(&fine, size);
                        let target = [
                            c..c + 1,
                            z0 as u64..(z0 + size[0]) as u64,
                            y0 as u64..(y0 + size[1]) as u64,
                            x0 as u64..(x0 + size[2]) as u64,
                        ];
                        coarser
                            .store_array_subset(&target, pooled)
                            .map_err(|e| self.write_error(e))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn write_error(&self, error: ArrayError) -> ImagingError {
        ImagingError::zarr(
            &self.destination,
            format!(
                "cannot write ({}); check the disk has space",
                error
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        )
    }
}

/// Creates the f32 array of one level, named `path`, of `shape` in the store at `store`.
fn create_level(
    store: &Path,
    version: NgffVersion,
    chunks: [usize; 4],
    path: &str,
    shape: [usize; 4],
) -> Result<Array<FilesystemStore>> {
    let folder = store.join(path);
    std::fs::create_dir(&folder).map_err(|e| ImagingError::io(&folder, "create", e))?;
    let chunks: [usize; 4] = std::array::from_fn(|a| chunks[a].min(shape[a]));
    let (file, json) = array_file(version, shape, chunks);
    write_json(&folder.join(file), &json)?;
    let opened = FilesystemStore::new(store)
        .map_err(|e| ImagingError::zarr(store, format!("cannot open as a Zarr store ({e})")))?;
    Array::open(Arc::new(opened), &format!("/{path}"))
        .map_err(|e| ImagingError::zarr(&folder, format!("cannot create the array ({e})")))
}

/// 2 × 2 means in (y, x) of a (z, 2y, 2x) block, giving (z, y, x) = `size`.
fn mean_pool_yx(fine: &[f32], size: [usize; 3]) -> Vec<f32> {
    let [nz, ny, nx] = size;
    let fine_x = 2 * nx;
    let fine_plane = 2 * ny * fine_x;
    let mut out = Vec::with_capacity(nz * ny * nx);
    for z in 0..nz {
        for y in 0..ny {
            let row = z * fine_plane + 2 * y * fine_x;
            for x in 0..nx {
                let at = row + 2 * x;
                let sum = f64::from(fine[at])
                    + f64::from(fine[at + 1])
                    + f64::from(fine[at + fine_x])
                    + f64::from(fine[at + fine_x + 1]);
                out.push((sum / 4.0) as f32);
            }
        }
    }
    out
}

fn write_json(path: &Path, json: &Value) -> Result<()> {
    let text = serde_json::to_vec_pretty(json).map_err(|e| ImagingError::BadWrite {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    write_atomic(path, &text)
}

/// Writes `volume` as an OME-Zarr image at `path` in one call.
pub fn write_volume(path: &Path, volume: &Volume, options: &OmeZarrWriteOptions) -> Result<()> {
    let mut writer = OmeZarrWriter::create(
        path,
        volume.shape,
        volume.voxel_um,
        &volume.channel_names,
        options,
    )?;
    let zyx = volume.spatial_shape();
    for c in 0..volume.channels() {
        writer.write_region(c, [0, 0, 0], zyx, volume.channel_data(c))?;
    }
    writer.finish()
}
