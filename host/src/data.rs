//! Training data as tensors: a manifest's training rows, loaded and z-scored once, cut into
//! seeded random patches (silico-imaging's sampler, after pytorch_fnet).

use anyhow::{Context, Result};
use silico_imaging::dataset::{LoadOptions, Manifest, PatchSampler, SplitSpec};
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

/// How every image is prepared, in training and in prediction alike.
pub fn load_options() -> LoadOptions {
    LoadOptions::default()
}

pub struct TrainingData {
    sampler: PatchSampler,
    patch: [i64; 3],
    seed: u64,
}

impl TrainingData {
    pub fn open(data: &Path, structure: &str, patch: [i64; 3], seed: u64) -> Result<Self> {
        let csv = manifest_path(data, structure);
        let manifest = Manifest::load(&csv).with_context(|| {
            format!("no training data for `{structure}`; pass --data with a folder holding {structure}.csv or a manifest CSV")
        })?;
        manifest.check_files()?;
        let rows = manifest.split(split_spec(&manifest), seed)?;
        let pairs = manifest.load_rows(&rows.train, load_options())?;
        let sampler = PatchSampler::new(pairs, patch.map(|n| n as usize), seed)
            .with_context(|| format!("{}: training patches {patch:?}", csv.display()))?;
        Ok(Self {
            sampler,
            patch,
            seed,
        })
    }

    /// The batch of `iteration`, (N, 1, Z, Y, X) signal and target: the same for the same seed
    /// and iteration, whatever ran before.
    pub fn batch(
        &mut self,
        iteration: u64,
        size: usize,
        device: Device,
    ) -> Result<(Tensor, Tensor)> {
        self.sampler.reseed(self.seed, iteration);
        let (signal, target) = self.sampler.sample_batch(size);
        let shape = [size as i64, 1, self.patch[0], self.patch[1], self.patch[2]];
        let tensor = |values: &[f32]| -> Result<Tensor> {
            Ok(Tensor::from_slice(values)
                .f_view(shape)?
                .f_to_device(device)?)
        };
        Ok((tensor(&signal)?, tensor(&target)?))
    }
}
