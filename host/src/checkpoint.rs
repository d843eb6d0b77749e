//! Training checkpoints: a folder holding the weights as safetensors (loadable by PyTorch with
//! `safetensors.torch.load_file`, with the plugins' own variable names), the optimizer state,
//! and `checkpoint.json` with the iteration and the model's definition, so that prediction and
//! resuming need nothing but the checkpoint and the plugin libraries.

use crate::{files, model::Model, precision::LossScaler};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Tensor;

pub const GENERATOR_FILE: &str = "generator.safetensors";
pub const DISCRIMINATOR_FILE: &str = "discriminator.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const META_FILE: &str = "checkpoint.json";
const CHECKPOINT_DIR: &str = "checkpoint";

/// The checkpoint folder of a run folder.
pub fn checkpoint_dir(run: &Path) -> PathBuf {
    run.join(CHECKPOINT_DIR)
}

/// What `checkpoint.json` records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckpointMeta {
    /// Iterations completed.
    pub iteration: u64,
    /// The registry name of the model and its table, as TOML.
    pub model: String,
    pub model_table: String,
    /// The structure the generator predicts (e.g. `nucleoli`).
    pub structure: String,
    pub in_channels: i64,
    pub out_channels: i64,
    /// The voxel size (z, y, x) in µm of the images the model was trained on, where their
    /// files gave one; prediction resamples other images to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voxel_um: Option<[f32; 3]>,
}

/// The tensors of a checkpoint besides the networks' own state.
pub struct OptimizerState {
    /// Named moments, prefixed `generator.` or `discriminator.`.
    pub moments: Vec<(String, Tensor)>,
    pub generator_steps: u64,
    pub discriminator_steps: u64,
    /// fp16 training's loss scales, where the run has them.
    pub generator_loss_scale: Option<LossScaler>,
    pub discriminator_loss_scale: Option<LossScaler>,
}

#[derive(Serialize, Deserialize)]
struct MetaFile {
    #[serde(flatten)]
    meta: CheckpointMeta,
    generator_steps: u64,
    discriminator_steps: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generator_loss_scale: Option<LossScaler>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    discriminator_loss_scale: Option<LossScaler>,
}

/// Writes the checkpoint folder `dir` atomically.
pub fn save(
    dir: &Path,
    meta: &CheckpointMeta,
    model: &Model,
    optimizer: &OptimizerState,
) -> Result<()> {
    let generator = model.generator.state()?;
    let discriminator = model
        .discriminator
        .as_ref()
        .map(|d| d.state())
        .transpose()?;
    files::replace_dir(dir, |tmp| {
        write_tensors(&tmp.join(GENERATOR_FILE), &generator)?;
        if let Some(state) = &discriminator {
            write_tensors(&tmp.join(DISCRIMINATOR_FILE), state)?;
        }
        write_tensors(&tmp.join(OPTIMIZER_FILE), &optimizer.moments)?;
        let file = MetaFile {
            meta: meta.clone(),
            generator_steps: optimizer.generator_steps,
            discriminator_steps: optimizer.discriminator_steps,
            generator_loss_scale: optimizer.generator_loss_scale,
            discriminator_loss_scale: optimizer.discriminator_loss_scale,
        };
        std::fs::write(tmp.join(META_FILE), serde_json::to_string_pretty(&file)?)?;
        Ok(())
    })
}

fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    // safetensors stores contiguous CPU data.
    let cpu: Vec<(&str, Tensor)> = tensors
        .iter()
        .map(|(name, t)| (name.as_str(), t.to_device(tch::Device::Cpu).contiguous()))
        .collect();
    Tensor::write_safetensors(&cpu, path)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn read_tensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    Tensor::read_safetensors(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {}: {}",
            path.display(),
            e.to_string().lines().next().unwrap_or_default()
        )
    })
}

/// The checkpoint folder to read: `dir`, or the previous one if a crash interrupted its
/// replacement.
pub fn locate(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), files::previous(dir)]
        .into_iter()
        .find(|d| d.join(META_FILE).exists())
}

/// Reads `checkpoint.json` of the checkpoint in (or replacing) `dir`.
pub fn read_meta(dir: &Path) -> Result<(PathBuf, CheckpointMeta)> {
    let Some(found) = locate(dir) else {
        bail!(
            "{}: no checkpoint here (expected {META_FILE}); pass a run's checkpoint folder",
            dir.display()
        );
    };
    let path = found.join(META_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let file: MetaFile = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a silico checkpoint", path.display()))?;
    // Prediction makes a folder of the structure: a hostile file must not choose where.
    crate::names::check_name("structure", &file.meta.structure)
        .with_context(|| format!("{}: key `structure`", path.display()))?;
    Ok((found, file.meta))
}

/// Loads the networks' weights and, for resuming, returns the optimizer state.
pub fn load_into(dir: &Path, model: &mut Model) -> Result<OptimizerState> {
    if model.discriminator.is_some() && !dir.join(DISCRIMINATOR_FILE).exists() {
        bail!(
            "{}: missing; a checkpoint of an adversarial model holds its discriminator",
            dir.join(DISCRIMINATOR_FILE).display()
        );
    }
    load_networks(dir, model)?;
    read_optimizer(dir)
}

/// The optimizer state saved with the checkpoint in `dir`.
pub fn read_optimizer(dir: &Path) -> Result<OptimizerState> {
    let path = dir.join(META_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let file: MetaFile = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a silico checkpoint", path.display()))?;
    Ok(OptimizerState {
        moments: read_tensors(&dir.join(OPTIMIZER_FILE))?,
        generator_steps: file.generator_steps,
        discriminator_steps: file.discriminator_steps,
        generator_loss_scale: file.generator_loss_scale,
        discriminator_loss_scale: file.discriminator_loss_scale,
    })
}

/// Loads the generator's weights and, where the checkpoint has one, the discriminator's (an
/// imported checkpoint holds only a generator): the start of a fine-tuning run.
pub fn load_networks(dir: &Path, model: &mut Model) -> Result<()> {
    let dir = locate(dir).unwrap_or_else(|| dir.to_path_buf());
    let path = dir.join(GENERATOR_FILE);
    model
        .generator
        .load_state(&read_tensors(&path)?)
        .with_context(|| path.display().to_string())?;
    let path = dir.join(DISCRIMINATOR_FILE);
    if let (Some(discriminator), true) = (&mut model.discriminator, path.exists()) {
        discriminator
            .load_state(&read_tensors(&path)?)
            .with_context(|| path.display().to_string())?;
    }
    Ok(())
}
