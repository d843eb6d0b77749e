//! One cell of a benchmark: train the model for the structure with the seed (resuming an
//! interrupted run from its checkpoint), predict the test images, score them, run the plan's
//! per-structure evaluations, and write `result.json` last, atomically. A cell killed at any
//! moment reruns to the same result: training resumes exactly, and every other step is redone.

use super::{
    plan::{Cell, Plan},
    results::{CellResult, Costs, ImageScores},
};
use crate::{
    checkpoint::{self, checkpoint_dir},
    data::{load_options, manifest_path},
    evaluate::{self, ObjectRequest, PredictionSource},
    files::{write_atomic, FolderLock},
    predict::{self, OutputFormat, PredictRequest, Rows, Tiling},
    registry::ModelSpec,
    train::{self, StopSignal, TrainRequest},
    Plugins, Registry, Trainer,
};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use silico_evaluation::{
    data_range, noise_ceiling, noise_ceiling::variance, noise_variance, normalized_r, pixel_metrics,
};
use silico_imaging::{
    dataset::{load_image, refuse_non_finite, ImageRef, LoadOptions, Manifest, NonFinite},
    tiff,
};
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    time::Instant,
};
use tch::Device;

const RECORD_FILE: &str = "cell.json";
const RESULT_FILE: &str = "result.json";
const FAILURE_FILE: &str = "failure.txt";
const TRAINING_FILE: &str = "training.json";

/// What `cell.json` records: what the cell is, so that a changed plan is noticed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    pub model: String,
    pub structure: String,
    pub seed: u64,
    pub data: PathBuf,
    /// The model's table as TOML, with the seed and overrides.
    pub definition: String,
}

impl CellRecord {
    fn of(cell: &Cell, plan: &Plan) -> Self {
        Self {
            model: cell.model.clone(),
            structure: cell.structure.clone(),
            seed: cell.seed,
            data: fs::canonicalize(&plan.data).unwrap_or_else(|_| plan.data.clone()),
            definition: cell.definition.to_string(),
        }
    }
}

/// Where a cell stands.
#[derive(Debug, Clone, PartialEq)]
pub enum CellState {
    /// Nothing run yet.
    Pending,
    /// Started (a checkpoint or predictions exist) but not finished.
    Started,
    Done,
    /// Its last run failed with this line.
    Failed(String),
}

impl std::fmt::Display for CellState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CellState::Pending => f.write_str("pending"),
            CellState::Started => f.write_str("started"),
            CellState::Done => f.write_str("done"),
            CellState::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

/// The state of `cell` under `out`.
pub fn state(cell: &Cell, out: &Path) -> CellState {
    let dir = cell.dir(out);
    if dir.join(RESULT_FILE).is_file() {
        CellState::Done
    } else if let Ok(reason) = fs::read_to_string(dir.join(FAILURE_FILE)) {
        CellState::Failed(reason.trim().to_string())
    } else if dir.join("run").exists() {
        CellState::Started
    } else {
        CellState::Pending
    }
}

/// The finished result of `cell`, if it has one.
pub fn result(cell: &Cell, out: &Path) -> Result<Option<CellResult>> {
    let path = cell.dir(out).join(RESULT_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let result = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a silico cell result", path.display()))?;
    Ok(Some(result))
}

/// Makes the cell's folder hold this cell: a new one gets its `cell.json`; one that ran with
/// another definition (or data) is refused, or with `rerun_changed` emptied for a fresh start.
pub fn prepare(cell: &Cell, plan: &Plan, out: &Path, rerun_changed: bool) -> Result<()> {
    let dir = cell.dir(out);
    let record = CellRecord::of(cell, plan);
    let path = dir.join(RECORD_FILE);
    if let Ok(text) = fs::read_to_string(&path) {
        let saved: CellRecord = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a silico cell record", path.display()))?;
        if saved == record {
            return Ok(());
        }
        if !rerun_changed {
            bail!(
                "{}: cell {} ran with another definition or data than the plan now gives; pass --rerun-changed to run it again, or use another --out",
                dir.display(),
                cell.id()
            );
        }
        fs::remove_dir_all(&dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_atomic(&path, serde_json::to_string_pretty(&record)?.as_bytes())
}

/// Records that the cell's last run failed, for `bench status` and the report.
pub fn record_failure(cell: &Cell, out: &Path, reason: &str) -> Result<()> {
    let dir = cell.dir(out);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_atomic(&dir.join(FAILURE_FILE), format!("{reason}\n").as_bytes())
}

/// What training measured, kept beside the run so that a cell resumed after training still
/// reports it.
#[derive(Serialize, Deserialize)]
struct Training {
    #[serde(with = "super::results::nullable")]
    seconds_per_iteration: f64,
}

/// Everything a cell needs from the benchmark.
pub struct CellRun<'a> {
    pub plugins: &'a Plugins,
    pub registry: &'a Registry,
    pub plan: &'a Plan,
    pub out: &'a Path,
    pub device: Device,
}

impl CellRun<'_> {
    /// Runs `cell` to its `result.json`; `None` when `stop` interrupted its training (the
    /// checkpoint is saved).
    pub fn run(&self, cell: &Cell, stop: &StopSignal) -> Result<Option<CellResult>> {
        let started = Instant::now();
        let dir = cell.dir(self.out);
        let _lock = FolderLock::acquire(&dir)?;
        let _ = fs::remove_file(dir.join(FAILURE_FILE));
        let spec = ModelSpec::from_table(&cell.model, &cell.definition)?;
        let run = dir.join("run");
        let Some(training) = self.train(cell, &spec, &run, stop)? else {
            return Ok(None);
        };
        let predictions = dir.join("predictions");
        predict::predict(
            self.plugins,
            &PredictRequest {
                checkpoint: run.clone(),
                input: self.plan.data.clone(),
                out: predictions.clone(),
                tiling: Tiling::default(),
                flips: false,
                rows: Rows::Test,
                device: self.device,
                precision: None,
                memory_format: None,
                verbose: false,
                voxel_size: self.plan.voxel_size,
                non_finite: NonFinite::Refuse,
                resample: true,
                channel: None,
                format: OutputFormat::Tiff,
            },
        )?;
        let mut images = self.score(cell, &predictions)?;
        let mut metrics = BTreeMap::new();
        let mean = |f: fn(&ImageScores) -> f64, images: &[ImageScores]| {
            images.iter().map(f).sum::<f64>() / images.len() as f64
        };
        metrics.insert("pearson_r".into(), mean(|s| s.pearson_r, &images));
        metrics.insert("mse".into(), mean(|s| s.mse, &images));
        metrics.insert("ssim".into(), mean(|s| s.ssim, &images));
        metrics.insert("psnr".into(), mean(|s| s.psnr, &images));
        // Only where every test image's target has a known noise ceiling.
        let ceilings: Option<Vec<(f64, f64)>> = images
            .iter()
            .map(|s| s.noise_ceiling.zip(s.r_over_noise_ceiling))
            .collect();
        if let Some(ceilings) = ceilings {
            let n = ceilings.len() as f64;
            metrics.insert(
                "noise_ceiling".into(),
                ceilings.iter().map(|c| c.0).sum::<f64>() / n,
            );
            metrics.insert(
                "r_over_noise_ceiling".into(),
                ceilings.iter().map(|c| c.1).sum::<f64>() / n,
            );
        }
        let source = PredictionSource {
            label: cell.model.clone(),
            folder: predictions,
        };
        if self.plan.evaluate.jaccard {
            metrics.insert(
                "jaccard".into(),
                self.jaccard(cell, &source, &dir, &mut images)?,
            );
        }
        if self.plan.evaluate.objects.contains(&cell.structure) {
            metrics.extend(self.objects(cell, &source, &dir)?);
        }
        let result = CellResult {
            model: cell.model.clone(),
            structure: cell.structure.clone(),
            seed: cell.seed,
            images,
            metrics,
            costs: Costs {
                seconds_per_iteration: training.seconds_per_iteration,
                wall_seconds: started.elapsed().as_secs_f64(),
                peak_memory_bytes: peak_memory_bytes(),
                parameters: self.parameters(cell, &spec)?,
                device: format!("{:?}", self.device),
            },
        };
        write_atomic(
            &dir.join(RESULT_FILE),
            serde_json::to_string_pretty(&result)?.as_bytes(),
        )?;
        Ok(Some(result))
    }

    /// Trains the cell's run to its last iteration, resuming from its checkpoint; skips a
    /// finished run.
    fn train(
        &self,
        cell: &Cell,
        spec: &ModelSpec,
        run: &Path,
        stop: &StopSignal,
    ) -> Result<Option<Training>> {
        let training_file = run.with_file_name(TRAINING_FILE);
        let done = checkpoint::locate(&checkpoint_dir(run))
            .map(|dir| checkpoint::read_meta(&dir))
            .transpose()?
            .map(|(_, meta)| meta.iteration);
        if done.is_some_and(|done| done >= spec.train.iterations) {
            // Recorded by the process that finished training; unknown if it died before that.
            return match fs::read_to_string(&training_file) {
                Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
                    format!("{}: not a silico training record", training_file.display())
                })?)),
                Err(_) => Ok(Some(Training {
                    seconds_per_iteration: f64::NAN,
                })),
            };
        }
        let outcome = train::train(
            self.plugins,
            &TrainRequest {
                model: cell.model.clone(),
                definition: cell.definition.clone(),
                structure: cell.structure.clone(),
                data: self.plan.data.clone(),
                out: run.to_path_buf(),
                iterations: None,
                device: self.device,
                resume: done.is_some(),
                init: None,
                others: Vec::new(),
                progress: false,
                voxel_size: self.plan.voxel_size,
                non_finite: NonFinite::Refuse,
            },
            stop,
        )?;
        if outcome.interrupted {
            return Ok(None);
        }
        let training = Training {
            seconds_per_iteration: outcome.seconds_per_iteration,
        };
        write_atomic(&training_file, serde_json::to_string(&training)?.as_bytes())?;
        Ok(Some(training))
    }

    /// Pearson r, MSE, SSIM and PSNR of each predicted test image against its target, both as
    /// training sees them (z-scored); SSIM and PSNR take the target's range. Where the data name
    /// the target's noise-free version, or the plan names images of unlabelled cells, also its
    /// noise ceiling C_max and r / C_max.
    fn score(&self, cell: &Cell, predictions: &Path) -> Result<Vec<ImageScores>> {
        let manifest = Manifest::load(&manifest_path(&self.plan.data, &cell.structure))?;
        let names = manifest.image_names();
        let folder = predictions.join(&cell.structure);
        // fnet's estimate where no noise-free target exists: the mean variance of images of
        // unlabelled cells.
        let wild_type_noise = match self.plan.noise_images.as_slice() {
            [] => None,
            images => Some(
                images
                    .iter()
                    .map(|path| {
                        raw_variance(&ImageRef {
                            path: path.clone(),
                            channel: None,
                        })
                    })
                    .sum::<Result<f64>>()?
                    / images.len() as f64,
            ),
        };
        let mut scores = Vec::new();
        for (row, name) in manifest.rows.iter().zip(names) {
            let path = folder.join(format!("{name}.tif"));
            if !path.is_file() {
                continue;
            }
            let (pair, noise_free) =
                manifest.load_pair_with_noise_free(row, load_options(self.plan.voxel_size))?;
            let target = pair.target;
            let prediction = tiff::read_volume(&path)?;
            refuse_non_finite(
                &prediction,
                &path,
                "a model that predicts them cannot be scored",
            )?;
            let shape = target.spatial_shape();
            let m = pixel_metrics(
                &target.data,
                &prediction.data,
                shape,
                data_range(&target.data),
            )
            .with_context(|| path.display().to_string())?;
            let ceiling = match (noise_free, &wild_type_noise) {
                (Some(clean), _) => noise_ceiling(
                    variance(&target.data),
                    noise_variance(&target.data, &clean.data),
                ),
                // In raw units: the target is z-scored, the unlabelled images are not.
                (None, Some(var_noise)) => noise_ceiling(raw_variance(&row.target)?, *var_noise),
                (None, None) => None,
            };
            scores.push(ImageScores {
                image: name,
                pearson_r: m.pearson_r,
                mse: m.mse,
                ssim: m.ssim,
                psnr: m.psnr,
                jaccard: None,
                noise_ceiling: ceiling,
                r_over_noise_ceiling: normalized_r(m.pearson_r, ceiling),
            });
        }
        if scores.is_empty() {
            bail!("{}: no test predictions to score", folder.display());
        }
        Ok(scores)
    }

    fn request(
        &self,
        cell: &Cell,
        source: &PredictionSource,
        metric: &str,
        out: PathBuf,
    ) -> ObjectRequest {
        ObjectRequest {
            data: self.plan.data.clone(),
            predictions: vec![source.clone()],
            structures: vec![cell.structure.clone()],
            config: self.registry.metric_config(metric, &toml::Table::new()),
            cell_labels: None,
            out,
            voxel_size: self.plan.voxel_size,
        }
    }

    /// The segmentation Jaccard of every test image (into `images`) and their mean.
    fn jaccard(
        &self,
        cell: &Cell,
        source: &PredictionSource,
        dir: &Path,
        images: &mut [ImageScores],
    ) -> Result<f64> {
        let request = self.request(cell, source, "jaccard", dir.join("jaccard"));
        let report = evaluate::jaccard_report(self.plugins, &request)?;
        for image in images.iter_mut() {
            image.jaccard = report
                .images
                .iter()
                .find(|j| j.image == image.image)
                .map(|j| j.jaccard);
        }
        report
            .summaries
            .first()
            .map(|s| s.mean)
            .context("the jaccard evaluation returned no summary")
    }

    /// The shape divergence (at the figure's k) and the spatial divergence of the objects.
    fn objects(
        &self,
        cell: &Cell,
        source: &PredictionSource,
        dir: &Path,
    ) -> Result<BTreeMap<String, f64>> {
        let request = self.request(cell, source, "objects", dir.join("objects"));
        let summaries = evaluate::objects_report(self.plugins, &request)?;
        let summary = summaries
            .first()
            .context("the objects evaluation returned no summary")?;
        let k = summary.figure_k().unwrap_or(8);
        Ok(BTreeMap::from([
            (
                "shape_divergence".to_string(),
                summary.value(&format!("shape_divergence/k{k}")),
            ),
            ("spatial_kl".to_string(), summary.value("spatial_kl")),
        ]))
    }

    /// Trainable parameters per network of the cell's model.
    fn parameters(&self, cell: &Cell, spec: &ModelSpec) -> Result<BTreeMap<String, u64>> {
        let trainer = Trainer::build(self.plugins, &cell.model, spec, cell.seed, Device::Cpu)?;
        let (generator, discriminator) = trainer.parameters()?;
        let count = |ps: &[tch::Tensor]| ps.iter().map(|p| p.numel() as u64).sum::<u64>();
        let mut counts = BTreeMap::from([("generator".to_string(), count(&generator))]);
        if let Some(d) = discriminator {
            counts.insert("discriminator".into(), count(&d));
        }
        Ok(counts)
    }
}

/// The variance of an image as stored (one channel), in its own units.
fn raw_variance(image: &ImageRef) -> Result<f64> {
    let as_stored = LoadOptions {
        normalize: false,
        resample_to_um: None,
        ..LoadOptions::default()
    };
    Ok(variance(&load_image(image, as_stored)?.data))
}

/// The largest resident set of this process so far (Linux's VmHWM; 0 where unknown).
fn peak_memory_bytes() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}
