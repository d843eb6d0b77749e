//! Training data as tensors: a manifest's training rows, loaded and z-scored once, cut into
//! seeded random patches (silico-imaging's sampler, after pytorch_fnet).

use anyhow::{bail, Context, Result};
use silico_imaging::{
    dataset::{
        crop, refuse_non_finite, same_voxel_size, LoadOptions, Manifest, PatchSampler, SplitSpec,
        VoxelSize,
    },
    tiff, Volume,
};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// The manifest for `structure` under `data`: `data` itself if it is a file, else
/// `data/<structure>.csv` (as `silico synth` writes them).
pub fn manifest_path(data: &Path, structure: &str) -> PathBuf {
    if data.is_dir() {
        data.join(format!("{structure}.csv"))
    } else {
        data.to_path_buf()
    }
}

/// Train/test rows: the manifest's `split` column where every row has one, else pytorch_fnet's
/// seeded 75/25 split.
pub fn split_spec(manifest: &Manifest) -> SplitSpec {
    if manifest.rows.iter().all(|r| r.split.is_some()) {
        SplitSpec::Column
    } else {
        SplitSpec::TrainFraction(0.75)
    }
}

/// How every image is prepared, in training and in prediction alike; `voxel_size` is what to
/// take for files that give none.
pub fn load_options(voxel_size: VoxelSize) -> LoadOptions {
    LoadOptions {
        voxel_size,
        ..LoadOptions::default()
    }
}

/// One training batch, each tensor (N, 1, Z, Y, X).
pub struct Batch {
    pub signal: Tensor,
    pub target: Tensor,
    /// The voxel-wise maximum of the other structures' predictions, where the run has them.
    pub others: Option<Tensor>,
}

pub struct TrainingData {
    sampler: PatchSampler,
    /// Per training image, the voxel-wise maximum of the other structures' predictions of it.
    others: Option<Vec<Volume>>,
    patch: [i64; 3],
    seed: u64,
    voxel_um: Option<[f32; 3]>,
}

impl TrainingData {
    /// The training rows of `structure`'s manifest under `data`. With `others` (folders of
    /// `silico predict` output, one per other structure), each patch also carries the same crop
    /// of those structures' predictions of its image, for the exclusivity loss. `options`: how
    /// each image is loaded (see [`load_options`]).
    pub fn open(
        data: &Path,
        structure: &str,
        patch: [i64; 3],
        seed: u64,
        others: &[PathBuf],
        options: LoadOptions,
    ) -> Result<Self> {
        let csv = manifest_path(data, structure);
        let manifest = Manifest::load(&csv).with_context(|| {
            format!("no training data for `{structure}`; pass --data with a folder holding {structure}.csv or a manifest CSV")
        })?;
        manifest.check_files()?;
        let rows = manifest.split(split_spec(&manifest), seed)?;
        let pairs = manifest.load_rows(&rows.train, options)?;
        let voxel_um = training_voxel_size(&manifest, &pairs)?;
        let others = if others.is_empty() {
            None
        } else {
            let names = manifest.image_names();
            let mut maxima = Vec::with_capacity(pairs.len());
            for pair in &pairs {
                let row = manifest
                    .rows
                    .iter()
                    .position(|r| r.line == pair.line)
                    .expect("a loaded pair comes from a manifest row");
                maxima.push(others_maximum(
                    others,
                    &names[row],
                    pair.signal.spatial_shape(),
                )?);
            }
            Some(maxima)
        };
        let sampler = PatchSampler::new(pairs, patch.map(|n| n as usize), seed)
            .with_context(|| format!("{}: training patches {patch:?}", csv.display()))?;
        Ok(Self {
            sampler,
            others,
            patch,
            seed,
            voxel_um,
        })
    }

    /// The voxel size of the training images (z, y, x) in µm; `None` where a file gave none.
    pub fn voxel_um(&self) -> Option<[f32; 3]> {
        self.voxel_um
    }

    /// The batch of `iteration`: the same for the same seed and iteration, whatever ran before.
    pub fn batch(&mut self, iteration: u64, size: usize, device: Device) -> Result<Batch> {
        self.sampler.reseed(self.seed, iteration);
        let patch = self.patch.map(|n| n as usize);
        let len: usize = patch.iter().product();
        let mut signal = Vec::with_capacity(size * len);
        let mut target = Vec::with_capacity(size * len);
        let mut others = self.others.as_ref().map(|_| Vec::with_capacity(size * len));
        for _ in 0..size {
            let p = self.sampler.sample();
            signal.extend_from_slice(&p.signal);
            target.extend_from_slice(&p.target);
            if let (Some(buffer), Some(maxima)) = (&mut others, &self.others) {
                buffer.extend(crop(&maxima[p.source], p.origin, patch));
            }
        }
        let shape = [size as i64, 1, self.patch[0], self.patch[1], self.patch[2]];
        let tensor = |values: &[f32]| -> Result<Tensor> {
            Ok(Tensor::from_slice(values)
                .f_view(shape)?
                .f_to_device(device)?)
        };
        Ok(Batch {
            signal: tensor(&signal)?,
            target: tensor(&target)?,
            others: others.as_deref().map(tensor).transpose()?,
        })
    }
}

/// The one voxel size of all training signals, `None` if any file gave none; training images
/// of different voxel sizes are refused, since the model learns one scale.
fn training_voxel_size(
    manifest: &Manifest,
    pairs: &[silico_imaging::dataset::ImagePair],
) -> Result<Option<[f32; 3]>> {
    let Some(first) = pairs.first() else {
        return Ok(None);
    };
    if pairs.iter().any(|p| !p.signal.voxel_known) {
        return Ok(None);
    }
    let path_of = |line: usize| {
        manifest
            .rows
            .iter()
            .find(|r| r.line == line)
            .map(|r| r.signal.path.display().to_string())
            .unwrap_or_default()
    };
    for pair in pairs {
        if !same_voxel_size(pair.signal.voxel_um, first.signal.voxel_um) {
            bail!(
                "{}: voxel size {:?} µm, but {} has {:?}; resample the training images to one voxel size",
                path_of(pair.line),
                pair.signal.voxel_um,
                path_of(first.line),
                first.signal.voxel_um
            );
        }
    }
    Ok(Some(first.signal.voxel_um))
}

/// The voxel-wise maximum over `folders` of each one's `<image>.tif`, which must be `shape`.
fn others_maximum(folders: &[PathBuf], image: &str, shape: [usize; 3]) -> Result<Volume> {
    let mut maximum: Option<Volume> = None;
    for folder in folders {
        let path = folder.join(format!("{image}.tif"));
        if !path.exists() {
            bail!(
                "{}: missing; retraining needs every structure's prediction of each training image (predict all rows of every manifest, which must list the same bright-field images)",
                path.display()
            );
        }
        let volume = tiff::read_volume(&path)?;
        refuse_non_finite(
            &volume,
            &path,
            "predict this structure again with a model that trained to finite losses",
        )?;
        if volume.shape != [1, shape[0], shape[1], shape[2]] {
            bail!(
                "{}: shape {:?} (C, Z, Y, X), but its bright-field image is (Z, Y, X) {shape:?}",
                path.display(),
                volume.shape
            );
        }
        match &mut maximum {
            None => maximum = Some(volume),
            Some(m) => {
                for (a, b) in m.data.iter_mut().zip(&volume.data) {
                    *a = a.max(*b);
                }
            }
        }
    }
    maximum.context("no other structures' predictions were given")
}
