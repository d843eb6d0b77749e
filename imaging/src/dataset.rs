//! Training data from CSV manifests in the style of pytorch_fnet.
//!
//! A manifest has one row per image and either `path_signal,path_target` columns (fnet's
//! `TiffDataset`) or one `path` column with `channel_signal,channel_target` indices into a
//! multi-channel file (fnet's `CziDataset` / `MultiChTiffDataset`; in the Allen 7-channel files
//! membrane is 1, structure 3, DNA 5, bright-field 6). Both forms may carry channel columns,
//! each value an index or a channel name the file stores. A path names a TIFF or an OME-Zarr
//! image (`*.ome.zarr`, or a plate field such as `plate.zarr/A/1/0`).
//! Either form may name each target's noise-free version (`silico synth --noise-free` writes
//! it): a `path_target_noise_free` column, a `channel_target_noise_free` column (a channel of
//! the target's file unless a `path_target_noise_free` names another), or both.
//! Relative paths resolve against the CSV's folder. An optional `split` column (`train`/`test`)
//! fixes the split; otherwise a seeded shuffle makes it (the paper: 60 train / 20 test per
//! structure; fnet: 75/25). Images are z-scored per image (fnet's `normalize`) and optionally
//! resampled to a voxel size (fnet's `Resizer`); patches are uniform random crops (fnet's
//! `BufferedPatchDataset`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::channel::ChannelSelector;
use crate::error::{ImagingError, Result};
use crate::files::write_atomic_with;
use crate::image::{image_exists, read_image};
use crate::resample::resample_to_voxel;
use crate::rng::Rng;
use crate::volume::Volume;

/// One image named by a manifest: a file and, for multi-channel files, a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub path: PathBuf,
    pub channel: Option<ChannelSelector>,
}

/// Which part of the data a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// The word in a manifest's `split` column.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl serde::Serialize for Split {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One manifest row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    /// Line number in the CSV (the header is line 1), for error messages.
    pub line: usize,
    pub signal: ImageRef,
    pub target: ImageRef,
    /// The target without its noise, where the manifest names it.
    pub target_noise_free: Option<ImageRef>,
    pub split: Option<Split>,
}

/// One row of a `path_signal,path_target[,path_target_noise_free],split` manifest, as
/// [`write_manifest`] writes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManifestEntry {
    /// Relative paths resolve against the manifest's folder when it is read.
    pub path_signal: PathBuf,
    pub path_target: PathBuf,
    /// The column is written only when entries name one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_target_noise_free: Option<PathBuf>,
    pub split: Split,
}

/// Writes a manifest that [`Manifest::load`] reads back, atomically; fields are quoted where
/// they need it (a comma or a quote in a path). Either every entry names a noise-free target
/// or none does.
pub fn write_manifest(csv: &Path, entries: &[ManifestEntry]) -> Result<()> {
    let with_noise_free = entries
        .iter()
        .filter(|e| e.path_target_noise_free.is_some())
        .count();
    if with_noise_free != 0 && with_noise_free != entries.len() {
        return Err(ImagingError::Manifest {
            csv: csv.to_path_buf(),
            detail: format!(
                "{with_noise_free} of {} entries name a path_target_noise_free; name one for every entry or for none",
                entries.len()
            ),
        });
    }
    write_atomic_with(csv, |out| {
        let mut writer = csv::Writer::from_writer(out);
        for entry in entries {
            writer.serialize(entry)?;
        }
        writer.flush()
    })
}

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub csv: PathBuf,
    pub rows: Vec<ManifestRow>,
}

/// How to divide a manifest into train and test rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SplitSpec {
    /// Use the manifest's `split` column.
    Column,
    /// Seeded shuffle, then this many train and test rows (the paper: 60 and 20).
    Counts { train: usize, test: usize },
    /// Seeded shuffle, then this fraction (rounded) for training and the rest for testing.
    TrainFraction(f64),
}

/// Rows divided by [`Manifest::split`], each part in manifest order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRows {
    pub train: Vec<ManifestRow>,
    pub test: Vec<ManifestRow>,
}

/// What to do to each image as it is loaded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadOptions {
    /// Z-score each image (fnet's `normalize`).
    pub normalize: bool,
    /// Resample to this (z, y, x) voxel size in µm before normalizing.
    pub resample_to_um: Option<[f32; 3]>,
    /// What to take for files that give no voxel size.
    pub voxel_size: VoxelSize,
    /// What to do with NaN or infinite voxels of a signal (a target's are always refused).
    pub non_finite: NonFinite,
}

/// What to do with the NaN and infinite voxels of an image as it is loaded: z-scoring spreads
/// a single one over the whole image, so they are never passed on silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NonFinite {
    /// Refuse the image in one line naming the file, how many voxels and the first one.
    #[default]
    Refuse,
    /// Replace them by the mean of the image's finite voxels, saying how many
    /// (`--repair-non-finite`).
    Repair,
}

/// The NaN and infinite voxels of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NonFiniteVoxels {
    pub nan: usize,
    pub infinite: usize,
    /// (z, y, x) of the first in storage order (within its channel).
    pub first: Option<[usize; 3]>,
}

impl NonFiniteVoxels {
    /// Those of `data`, one or more channels of (Z, Y, X) `shape`, row-major.
    pub fn of(data: &[f32], shape: [usize; 3]) -> Self {
        let mut found = Self::default();
        // The common case, all finite, in one vectorizable pass.
        if data.iter().all(|v| v.is_finite()) {
            return found;
        }
        let [_, y, x] = shape;
        let channel = shape.iter().product::<usize>().max(1);
        for (i, v) in data.iter().enumerate().filter(|(_, v)| !v.is_finite()) {
            if v.is_nan() {
                found.nan += 1;
            } else {
                found.infinite += 1;
            }
            if found.first.is_none() {
                let i = i % channel;
                found.first = Some([i / (y * x), i / x % y, i % x]);
            }
        }
        found
    }

    /// These and those of a block read after them whose first slice is slice `z0`.
    pub fn then(self, later: Self, z0: usize) -> Self {
        Self {
            nan: self.nan + later.nan,
            infinite: self.infinite + later.infinite,
            first: self.first.or(later.first.map(|[z, y, x]| [z + z0, y, x])),
        }
    }

    pub fn total(&self) -> usize {
        self.nan + self.infinite
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// e.g. "3 voxels are NaN or infinite (2 NaN, 1 infinite; the first at z,y,x = 0,4,7)".
    pub fn describe(&self) -> String {
        let first = self
            .first
            .map(|[z, y, x]| format!("; the first at z,y,x = {z},{y},{x}"))
            .unwrap_or_default();
        let (voxels, are) = match self.total() {
            1 => ("voxel", "is"),
            _ => ("voxels", "are"),
        };
        format!(
            "{} {voxels} {are} NaN or infinite ({} NaN, {} infinite{first})",
            self.total(),
            self.nan,
            self.infinite
        )
    }
}

/// Fails, in one line naming `path`, how many voxels and the first one, then `advice`, when
/// `volume` (read from `path`) has a NaN or infinite voxel.
pub fn refuse_non_finite(volume: &Volume, path: &Path, advice: &str) -> Result<()> {
    let found = NonFiniteVoxels::of(&volume.data, volume.spatial_shape());
    if found.is_empty() {
        return Ok(());
    }
    Err(ImagingError::Invalid(format!(
        "{}: {}; {advice}",
        path.display(),
        found.describe()
    )))
}

/// What a refused signal's message advises.
pub const REPAIR_ADVICE: &str =
    "pass --repair-non-finite (train, predict) to replace them with the image's finite mean";
/// What a refused target's message advises: a target is ground truth, so it is not made up.
const TARGET_ADVICE: &str = "a target is not repaired; fix the file or drop its row";

impl NonFinite {
    /// Applies this policy to `volume`, read from `path`; the error names the file.
    fn apply(self, volume: &mut Volume, path: &Path) -> Result<()> {
        if self == NonFinite::Refuse {
            return refuse_non_finite(volume, path, REPAIR_ADVICE);
        }
        let found = NonFiniteVoxels::of(&volume.data, volume.spatial_shape());
        if found.is_empty() {
            return Ok(());
        }
        let count = volume.data.len() - found.total();
        if count == 0 {
            return Err(ImagingError::Invalid(format!(
                "{}: all {} voxels are NaN or infinite; there is no finite value to repair them with",
                path.display(),
                volume.data.len()
            )));
        }
        let sum: f64 = volume
            .data
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| v as f64)
            .sum();
        let mean = (sum / count as f64) as f32;
        for v in volume.data.iter_mut().filter(|v| !v.is_finite()) {
            *v = mean;
        }
        tell_repaired(
            path,
            format!(
                "note: {}: {}; replaced them with the image's finite mean {mean}",
                path.display(),
                found.describe()
            ),
        );
        Ok(())
    }
}

/// Says once per file that its voxels were repaired (an image is read again by later steps).
fn tell_repaired(path: &Path, line: String) {
    use std::sync::{Mutex, OnceLock};
    static TOLD: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let mut told = TOLD
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if told.insert(path.to_path_buf()) {
        eprintln!("{line}");
    }
}

/// The voxel size to take for an image whose file gives none.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum VoxelSize {
    /// Files must say; one that does not is warned about once and keeps an unknown 1 µm.
    #[default]
    FromFile,
    /// Given by the user (`--voxel-size`), for files that do not say.
    Given([f32; 3]),
    /// Another's voxel size, for files that do not say: a model's training voxel size, or the
    /// real image's for its prediction (noted once per file, naming `from`, e.g. "the model's").
    Like { um: [f32; 3], from: &'static str },
}

impl VoxelSize {
    /// Gives `volume`, read from `path`, a voxel size if its file had none, saying once per
    /// file what was taken (or that nothing was).
    pub fn settle(self, volume: &mut Volume, path: &Path) {
        use std::sync::{Mutex, OnceLock};
        static TOLD: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
        let tell = |line: String| {
            let mut told = TOLD
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if told.insert(path.to_path_buf()) {
                eprintln!("{line}");
            }
        };
        let um = |v: [f32; 3]| format!("{}×{}×{} µm", v[0], v[1], v[2]);
        match (self, volume.voxel_known) {
            (VoxelSize::Given(given), true) if !same_voxel_size(given, volume.voxel_um) => {
                tell(format!(
                    "note: {} says its voxels are {}; --voxel-size {} applies to files without one",
                    path.display(),
                    um(volume.voxel_um),
                    um(given)
                ))
            }
            (_, true) => {}
            (VoxelSize::FromFile, false) => tell(format!(
                "warning: {} gives no voxel size; taking 1 µm (pass --voxel-size Z,Y,X in µm)",
                path.display()
            )),
            (VoxelSize::Given(given), false) => {
                volume.voxel_um = given;
                volume.voxel_known = true;
            }
            (VoxelSize::Like { um: like, from }, false) => {
                tell(format!(
                    "note: {} gives no voxel size; taking {from} {}",
                    path.display(),
                    um(like)
                ));
                volume.voxel_um = like;
                volume.voxel_known = true;
            }
        }
    }
}

/// Whether two voxel sizes agree to 1 % on every axis (the precision TIFF resolutions and
/// ImageJ spacings round trip at).
pub fn same_voxel_size(a: [f32; 3], b: [f32; 3]) -> bool {
    a.iter()
        .zip(&b)
        .all(|(x, y)| (x - y).abs() <= 0.01 * x.abs().max(y.abs()))
}

impl LoadOptions {
    /// Resamples and normalizes one loaded single-channel image as these options say.
    pub fn prepare(&self, volume: Volume) -> Volume {
        self.prepare_measured(volume).0
    }

    /// [`LoadOptions::prepare`], also returning the z-score it applied (`None` without
    /// `normalize`).
    fn prepare_measured(&self, volume: Volume) -> (Volume, Option<ZScore>) {
        let mut volume = self.resample(volume);
        let applied = self.normalize.then(|| ZScore::of(&volume.data));
        if let Some(z) = applied {
            z.apply(&mut volume.data);
        }
        (volume, applied)
    }

    /// Resamples as [`LoadOptions::prepare`] does, then applies another image's z-score.
    fn prepare_as(&self, volume: Volume, z_score: Option<ZScore>) -> Volume {
        let mut volume = self.resample(volume);
        if let Some(z) = z_score {
            z.apply(&mut volume.data);
        }
        volume
    }

    fn resample(&self, volume: Volume) -> Volume {
        match self.resample_to_um {
            Some(voxel) => resample_to_voxel(&volume, voxel),
            None => volume,
        }
    }
}

/// Loads one image outside a manifest (e.g. a lone bright-field file to predict) as a manifest
/// row's signal is loaded: its channel (`None`: the file must have one), then
/// [`LoadOptions::prepare`].
pub fn load_image(image: &ImageRef, options: LoadOptions) -> Result<Volume> {
    let mut volume = read_image(&image.path)?;
    options.voxel_size.settle(&mut volume, &image.path);
    let mut volume = match (&image.channel, volume.channels()) {
        (Some(c), _) => volume
            .select_channel(c)
            .map_err(|e| ImagingError::Invalid(format!("{}: {e}", image.path.display())))?,
        (None, 1) => volume,
        (None, n) => {
            return Err(ImagingError::Invalid(format!(
            "{}: has {n} channels; name the one to use (a manifest's channel_signal or channel_target column)",
            image.path.display()
        )))
        }
    };
    options.non_finite.apply(&mut volume, &image.path)?;
    Ok(options.prepare(volume))
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            normalize: true,
            resample_to_um: None,
            voxel_size: VoxelSize::FromFile,
            non_finite: NonFinite::Refuse,
        }
    }
}

/// A loaded signal/target pair, each one channel, of equal shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePair {
    pub line: usize,
    pub signal: Volume,
    pub target: Volume,
}

impl Manifest {
    /// Reads and checks a manifest; paths are made absolute against its folder but files are
    /// not opened yet (see [`Manifest::check_files`]).
    pub fn load(csv: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(csv).map_err(|e| ImagingError::Manifest {
            csv: csv.to_path_buf(),
            detail: format!("cannot read manifest: {e}"),
        })?;
        Self::parse(csv, &text)
    }

    /// Parses manifest text as if it were the file `csv`.
    pub fn parse(csv: &Path, text: &str) -> Result<Manifest> {
        let manifest_error = |detail: String| ImagingError::Manifest {
            csv: csv.to_path_buf(),
            detail,
        };
        let base = csv.parent().unwrap_or(Path::new("")).to_path_buf();
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| manifest_error(format!("cannot read the header: {e}")))?
            .clone();
        let columns: HashMap<&str, usize> =
            headers.iter().enumerate().map(|(i, h)| (h, i)).collect();
        let column = |names: &[&str]| names.iter().find_map(|n| columns.get(n).copied());
        let path_single = column(&["path", "path_tiff", "path_czi"]);
        let (signal_col, target_col) = match (column(&["path_signal"]), column(&["path_target"]), path_single) {
            (Some(s), Some(t), _) => (s, t),
            (None, None, Some(p)) => (p, p),
            _ => {
                return Err(manifest_error(format!(
                    "header has columns [{}]; a manifest needs path_signal,path_target or path,channel_signal,channel_target",
                    headers.iter().collect::<Vec<_>>().join(", ")
                )))
            }
        };
        let channel_signal = column(&["channel_signal"]);
        let channel_target = column(&["channel_target"]);
        let noise_free_col = column(&["path_target_noise_free"]);
        let channel_noise_free = column(&["channel_target_noise_free"]);
        if signal_col == target_col && (channel_signal.is_none() || channel_target.is_none()) {
            return Err(manifest_error(
                "a single `path` column needs channel_signal and channel_target columns (channel indices from 0, or channel names)".into(),
            ));
        }
        let split_col = column(&["split"]);

        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let row_error = |detail: String| ImagingError::ManifestRow {
                csv: csv.to_path_buf(),
                row: line,
                detail,
            };
            let record = record.map_err(|e| row_error(format!("malformed CSV: {e}")))?;
            let field = |col: usize, name: &str| -> Result<&str> {
                match record.get(col) {
                    Some(v) if !v.is_empty() => Ok(v),
                    _ => Err(row_error(format!("empty `{name}`"))),
                }
            };
            let channel = |col: Option<usize>, name: &str| -> Result<Option<ChannelSelector>> {
                let Some(col) = col else { return Ok(None) };
                Ok(Some(ChannelSelector::parse(field(col, name)?)))
            };
            let resolve = |p: &str| {
                let p = Path::new(p);
                if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    base.join(p)
                }
            };
            let split = match split_col {
                None => None,
                Some(col) => match record.get(col).unwrap_or("").to_ascii_lowercase().as_str() {
                    "train" => Some(Split::Train),
                    "test" => Some(Split::Test),
                    other => {
                        return Err(row_error(format!(
                            "`split` is \"{other}\"; use train or test"
                        )))
                    }
                },
            };
            let signal = ImageRef {
                path: resolve(field(signal_col, &headers[signal_col])?),
                channel: channel(channel_signal, "channel_signal")?,
            };
            let target = ImageRef {
                path: resolve(field(target_col, &headers[target_col])?),
                channel: channel(channel_target, "channel_target")?,
            };
            let target_noise_free = if noise_free_col.is_some() || channel_noise_free.is_some() {
                Some(ImageRef {
                    path: match noise_free_col {
                        Some(col) => resolve(field(col, "path_target_noise_free")?),
                        None => target.path.clone(),
                    },
                    channel: channel(channel_noise_free, "channel_target_noise_free")?,
                })
            } else {
                None
            };
            rows.push(ManifestRow {
                line,
                signal,
                target,
                target_noise_free,
                split,
            });
        }
        if rows.is_empty() {
            return Err(manifest_error("manifest has no rows".into()));
        }
        Ok(Manifest {
            csv: csv.to_path_buf(),
            rows,
        })
    }

    /// Fails on the first row whose signal, target or noise-free target file does not exist.
    pub fn check_files(&self) -> Result<()> {
        for row in &self.rows {
            let noise_free = row
                .target_noise_free
                .as_ref()
                .map(|image| ("target_noise_free", image));
            let images = [("signal", &row.signal), ("target", &row.target)];
            for (what, image) in images.into_iter().chain(noise_free) {
                if !image_exists(&image.path) {
                    return Err(self.row_error(
                        row.line,
                        format!("{what} file {} does not exist", image.path.display()),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Divides the rows into train and test; the same seed gives the same split.
    pub fn split(&self, spec: SplitSpec, seed: u64) -> Result<SplitRows> {
        let n = self.rows.len();
        let mut order: Vec<usize> = (0..n).collect();
        let (train_n, test_n) = match spec {
            SplitSpec::Column => {
                if let Some(row) = self.rows.iter().find(|r| r.split.is_none()) {
                    return Err(self.row_error(
                        row.line,
                        "no `split` value; add a split column with train or test".into(),
                    ));
                }
                let pick = |s: Split| {
                    self.rows
                        .iter()
                        .filter(|r| r.split == Some(s))
                        .cloned()
                        .collect()
                };
                return Ok(SplitRows {
                    train: pick(Split::Train),
                    test: pick(Split::Test),
                });
            }
            SplitSpec::Counts { train, test } => {
                if train + test > n {
                    return Err(ImagingError::Manifest {
                        csv: self.csv.clone(),
                        detail: format!("split asks for {train} train + {test} test rows but the manifest has {n}"),
                    });
                }
                (train, test)
            }
            SplitSpec::TrainFraction(f) => {
                if !(0.0..=1.0).contains(&f) {
                    return Err(ImagingError::Invalid(format!(
                        "train fraction {f} is not between 0 and 1"
                    )));
                }
                let train = (n as f64 * f).round() as usize;
                (train, n - train)
            }
        };
        Rng::new(seed).shuffle(&mut order);
        let mut train_idx = order[..train_n].to_vec();
        let mut test_idx = order[train_n..train_n + test_n].to_vec();
        train_idx.sort_unstable();
        test_idx.sort_unstable();
        Ok(SplitRows {
            train: train_idx.iter().map(|&i| self.rows[i].clone()).collect(),
            test: test_idx.iter().map(|&i| self.rows[i].clone()).collect(),
        })
    }

    /// Loads one row as a normalized signal/target pair.
    pub fn load_pair(&self, row: &ManifestRow, options: LoadOptions) -> Result<ImagePair> {
        let (signal, target, _) = self.read_row(row, false, options)?;
        Ok(ImagePair {
            line: row.line,
            signal: options.prepare(signal),
            target: options.prepare(target),
        })
    }

    /// Loads one row as [`Manifest::load_pair`] does, and its noise-free target (`None` where
    /// the row names none) prepared as its noisy target is: resampled alike, then z-scored with
    /// the *noisy* target's mean and standard deviation, so that `target − noise_free` is the
    /// target's noise in the target's units.
    pub fn load_pair_with_noise_free(
        &self,
        row: &ManifestRow,
        options: LoadOptions,
    ) -> Result<(ImagePair, Option<Volume>)> {
        let (signal, target, noise_free) = self.read_row(row, true, options)?;
        let (target, target_z_score) = options.prepare_measured(target);
        let noise_free = noise_free.map(|v| options.prepare_as(v, target_z_score));
        let pair = ImagePair {
            line: row.line,
            signal: options.prepare(signal),
            target,
        };
        Ok((pair, noise_free))
    }

    /// One row's signal, target and (with `noise_free`, where the row names one) noise-free
    /// target as stored, one channel each, of equal shape, their NaN and infinite voxels
    /// refused (or the signal's repaired, as `options` say).
    fn read_row(
        &self,
        row: &ManifestRow,
        noise_free: bool,
        options: LoadOptions,
    ) -> Result<(Volume, Volume, Option<Volume>)> {
        let row_error = |detail: String| self.row_error(row.line, detail);
        let read = |path: &Path| -> Result<Volume> {
            let mut volume = read_image(path)?;
            options.voxel_size.settle(&mut volume, path);
            Ok(volume)
        };
        let finite = |what: &str, volume: &mut Volume, image: &ImageRef| -> Result<()> {
            let checked = match what {
                "signal" => options.non_finite.apply(volume, &image.path),
                _ => refuse_non_finite(volume, &image.path, TARGET_ADVICE),
            };
            checked.map_err(|e| row_error(format!("{what} {e}")))
        };
        let load = |what: &str, image: &ImageRef, cache: Option<&Volume>| -> Result<Volume> {
            let volume = match cache {
                Some(v) => v.clone(),
                None => {
                    if !image_exists(&image.path) {
                        return Err(row_error(format!(
                            "{what} file {} does not exist",
                            image.path.display()
                        )));
                    }
                    read(&image.path).map_err(|e| row_error(format!("{what}: {e}")))?
                }
            };
            match &image.channel {
                Some(c) => volume
                    .select_channel(c)
                    .map_err(|e| row_error(format!("{what} {}: {e}", image.path.display()))),
                None if volume.channels() == 1 => Ok(volume),
                None => Err(row_error(format!(
                    "{what} file {} has {} channels; add a channel_{what} column to pick one",
                    image.path.display(),
                    volume.channels()
                ))),
            }
        };
        let signal_file = if row.signal.path == row.target.path {
            if !image_exists(&row.signal.path) {
                return Err(row_error(format!(
                    "file {} does not exist",
                    row.signal.path.display()
                )));
            }
            Some(read(&row.signal.path).map_err(|e| row_error(e.to_string()))?)
        } else {
            None
        };
        let mut signal = load("signal", &row.signal, signal_file.as_ref())?;
        let mut target = load("target", &row.target, signal_file.as_ref())?;
        if signal.shape != target.shape {
            return Err(row_error(format!(
                "signal shape (C,Z,Y,X) {:?} differs from target shape {:?}",
                signal.shape, target.shape
            )));
        }
        finite("signal", &mut signal, &row.signal)?;
        finite("target", &mut target, &row.target)?;
        let noise_free = match row.target_noise_free.as_ref().filter(|_| noise_free) {
            None => None,
            Some(image) => {
                let shared = signal_file
                    .as_ref()
                    .filter(|_| image.path == row.signal.path);
                let mut volume = load("target_noise_free", image, shared)?;
                if volume.shape != target.shape {
                    return Err(row_error(format!(
                        "noise-free target shape (C,Z,Y,X) {:?} differs from target shape {:?}",
                        volume.shape, target.shape
                    )));
                }
                finite("target_noise_free", &mut volume, image)?;
                Some(volume)
            }
        };
        Ok((signal, target, noise_free))
    }

    /// Loads the given rows in order.
    pub fn load_rows(&self, rows: &[ManifestRow], options: LoadOptions) -> Result<Vec<ImagePair>> {
        rows.iter().map(|r| self.load_pair(r, options)).collect()
    }

    /// Every row's image name, from the whole manifest's signal paths (see [`image_names`]), so
    /// that an image is called the same whichever of its rows are read.
    pub fn image_names(&self) -> Vec<String> {
        let signals: Vec<&Path> = self.rows.iter().map(|r| r.signal.path.as_path()).collect();
        image_names(&signals)
    }

    fn row_error(&self, line: usize, detail: String) -> ImagingError {
        ImagingError::ManifestRow {
            csv: self.csv.clone(),
            row: line,
            detail,
        }
    }
}

/// Names for images, one per path: each file's stem, or its folder's name where stems repeat
/// (as for `silico synth`'s `field_000/brightfield.tif`).
pub fn image_names<P: AsRef<Path>>(paths: &[P]) -> Vec<String> {
    let stem = |p: &Path| image_stem(p);
    let stems: Vec<String> = paths.iter().map(|p| stem(p.as_ref())).collect();
    let unique = stems.iter().collect::<HashSet<_>>().len() == stems.len();
    if unique {
        return stems;
    }
    paths
        .iter()
        .map(|p| {
            let p = p.as_ref();
            let folder = p
                .parent()
                .and_then(|d| d.file_name())
                .map(|d| d.to_string_lossy().into_owned());
            folder.unwrap_or_else(|| stem(p))
        })
        .collect()
}

/// A file's name without its extension: `x.tif` and `x.ome.zarr` are `x`; a field of an HCS
/// plate, `plate.zarr/B/3/0`, is `plate_B_3_0`.
fn image_stem(path: &Path) -> String {
    let zarr_stem = |name: &str| {
        let lower = name.to_ascii_lowercase();
        [".ome.zarr", ".zarr"]
            .iter()
            .find(|ext| lower.ends_with(*ext))
            .map(|ext| name[..name.len() - ext.len()].to_string())
    };
    let components: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    // Inside a store: the store's stem and the path within it.
    if let Some(store) = components[..components.len().saturating_sub(1)]
        .iter()
        .rposition(|c| zarr_stem(c).is_some())
    {
        let mut parts = vec![zarr_stem(&components[store]).unwrap_or_default()];
        parts.extend(components[store + 1..].iter().cloned());
        return parts.join("_");
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    zarr_stem(&name).unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

/// Subtracts the mean and divides by the standard deviation, in place (fnet's `normalize`);
/// a constant image becomes all zeros rather than NaN.
pub fn z_score(data: &mut [f32]) {
    ZScore::of(data).apply(data);
}

/// The shift and scale [`z_score`] applies to one image, to apply to another.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ZScore {
    mean: f64,
    /// 1 / standard deviation; 0 for a constant image.
    scale: f64,
}

impl ZScore {
    fn of(data: &[f32]) -> ZScore {
        if data.is_empty() {
            return ZScore {
                mean: 0.0,
                scale: 1.0,
            };
        }
        let n = data.len() as f64;
        let mean = data.iter().map(|&v| v as f64).sum::<f64>() / n;
        let variance = data.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let std = variance.sqrt();
        let scale = if std > 0.0 { 1.0 / std } else { 0.0 };
        ZScore { mean, scale }
    }

    fn apply(self, data: &mut [f32]) {
        for v in data.iter_mut() {
            *v = ((*v as f64 - self.mean) * self.scale) as f32;
        }
    }
}

/// A (signal, target) crop, each (Z, Y, X) row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub signal: Vec<f32>,
    pub target: Vec<f32>,
    pub shape: [usize; 3],
    /// Index of the source pair and the crop's (z, y, x) corner in it.
    pub source: usize,
    pub origin: [usize; 3],
}

/// Seeded uniform random crops from a set of loaded pairs.
pub struct PatchSampler {
    pairs: Vec<ImagePair>,
    patch: [usize; 3],
    rng: Rng,
}

impl PatchSampler {
    /// Fails if any image is smaller than the patch along an axis, naming its manifest line.
    pub fn new(pairs: Vec<ImagePair>, patch: [usize; 3], seed: u64) -> Result<Self> {
        if pairs.is_empty() {
            return Err(ImagingError::Invalid(
                "no images to sample patches from".into(),
            ));
        }
        if patch.contains(&0) {
            return Err(ImagingError::Invalid(format!(
                "patch size {patch:?} has a zero axis"
            )));
        }
        for pair in &pairs {
            let shape = pair.signal.spatial_shape();
            if (0..3).any(|a| shape[a] < patch[a]) {
                return Err(ImagingError::Invalid(format!(
                    "image of manifest line {} is {:?} (Z,Y,X), smaller than the patch {:?}; use a smaller patch or pad the image",
                    pair.line, shape, patch
                )));
            }
        }
        Ok(PatchSampler {
            pairs,
            patch,
            rng: Rng::new(seed),
        })
    }

    pub fn pairs(&self) -> &[ImagePair] {
        &self.pairs
    }

    /// Restarts the patch sequence at stream `stream` of `seed`, so that a training iteration
    /// draws the same patches whatever came before it (exact resume after a checkpoint).
    pub fn reseed(&mut self, seed: u64, stream: u64) {
        self.rng = Rng::derive(seed, stream);
    }

    /// The next random patch.
    pub fn sample(&mut self) -> Patch {
        let source = self.rng.below(self.pairs.len());
        let pair = &self.pairs[source];
        let shape = pair.signal.spatial_shape();
        let origin: [usize; 3] =
            std::array::from_fn(|a| self.rng.below(shape[a] - self.patch[a] + 1));
        Patch {
            signal: crop(&pair.signal, origin, self.patch),
            target: crop(&pair.target, origin, self.patch),
            shape: self.patch,
            source,
            origin,
        }
    }
}

/// Copies the (Z, Y, X) box at `origin` of size `size` from channel 0.
pub fn crop(volume: &Volume, origin: [usize; 3], size: [usize; 3]) -> Vec<f32> {
    let mut out = Vec::with_capacity(size.iter().product());
    for z in origin[0]..origin[0] + size[0] {
        for y in origin[1]..origin[1] + size[1] {
            let start = volume.index(0, z, y, origin[2]);
            out.extend_from_slice(&volume.data[start..start + size[2]]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_voxels_are_counted_and_the_first_located() {
        let mut data = vec![1.0f32; 2 * 3 * 4];
        data[4 + 3] = f32::INFINITY; // z 0, y 1, x 3
        data[12 + 2] = f32::NAN;
        let found = NonFiniteVoxels::of(&data, [2, 3, 4]);
        assert_eq!(
            (found.nan, found.infinite, found.first),
            (1, 1, Some([0, 1, 3]))
        );
        assert_eq!(
            found.describe(),
            "2 voxels are NaN or infinite (1 NaN, 1 infinite; the first at z,y,x = 0,1,3)"
        );
        // A later block's first voxel is offset by the slices before it.
        let later = NonFiniteVoxels::default().then(found, 5);
        assert_eq!(later.first, Some([5, 1, 3]));
        assert!(NonFiniteVoxels::of(&[0.0, 1.0], [1, 1, 2]).is_empty());
    }

    #[test]
    fn repair_replaces_non_finite_voxels_by_the_finite_mean_and_refuse_names_the_file() {
        let path = Path::new("bf.tif");
        let mut volume = Volume::from_data(
            vec![1.0, f32::NAN, 3.0, f32::NEG_INFINITY],
            [1, 1, 2, 2],
            [1.0; 3],
        )
        .unwrap();
        let refused = NonFinite::Refuse
            .apply(&mut volume.clone(), path)
            .unwrap_err();
        assert!(
            refused.to_string().starts_with("bf.tif: 2 voxels are NaN"),
            "{refused}"
        );
        NonFinite::Repair.apply(&mut volume, path).unwrap();
        assert_eq!(volume.data, vec![1.0, 2.0, 3.0, 2.0]);
        let mut hopeless = Volume::from_data(vec![f32::NAN; 2], [1, 1, 1, 2], [1.0; 3]).unwrap();
        assert!(NonFinite::Repair.apply(&mut hopeless, path).is_err());
    }
}
