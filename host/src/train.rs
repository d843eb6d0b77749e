//! `silico train`: the training loop. The host owns it — optimizers, the adversarial
//! alternation, checkpoints, logging — and drives the plugin components of a model.
//!
//! Every iteration draws its batch and seeds libtorch from (seed, iteration) alone, and the
//! optimizer state is checkpointed, so a run resumed from a checkpoint continues exactly as the
//! uninterrupted run would have.

use crate::{
    checkpoint::{self, checkpoint_dir, CheckpointMeta},
    data::{load_options, TrainingData},
    files,
    model::NonFiniteLoss,
    plugins::Plugins,
    precision::Precision,
    progress::progress_bar,
    registry::ModelSpec,
    tensorboard::{EventWriter, TENSORBOARD_DIR},
    trainer::Trainer,
};
use anyhow::{bail, Context, Result};
use silico_imaging::dataset::{LoadOptions, NonFinite, VoxelSize};
use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Instant,
};
use tch::Device;

/// What `silico train` was asked to do.
pub struct TrainRequest {
    pub model: String,
    /// The model's definition: its registry table, or one derived from it (as retraining adds
    /// the exclusivity term). Checkpoints carry it, so that prediction rebuilds the same model.
    pub definition: toml::Table,
    pub structure: String,
    /// A folder with `<structure>.csv`, or a manifest CSV.
    pub data: PathBuf,
    pub out: PathBuf,
    pub iterations: Option<u64>,
    pub device: Device,
    pub resume: bool,
    /// Start from this checkpoint's network weights (fine-tuning) instead of fresh ones.
    pub init: Option<PathBuf>,
    /// Folders of the other structures' predictions (`silico predict` output) whose voxel-wise
    /// maximum reaches the loss terms as `others`; empty when the model needs none.
    pub others: Vec<PathBuf>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// What to take for image files that give no voxel size.
    pub voxel_size: VoxelSize,
    /// What to do with NaN or infinite voxels of a bright-field image.
    pub non_finite: NonFinite,
}

/// How a run ended.
pub struct TrainOutcome {
    pub iterations: u64,
    pub checkpoint: PathBuf,
    pub last_losses: Vec<(String, f64)>,
    pub seconds_per_iteration: f64,
    pub interrupted: bool,
}

/// Stops a run at the next iteration boundary, after a checkpoint. Set by Ctrl-C, SIGTERM or
/// SIGHUP.
#[derive(Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// A signal that Ctrl-C (SIGINT), SIGTERM and SIGHUP raise: schedulers, `timeout` and a
    /// closed terminal stop a run as a person at the keyboard does, without losing it.
    pub fn on_ctrl_c() -> Result<Self> {
        let signal = Self::default();
        let flag = signal.0.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .context("cannot install the handler of Ctrl-C, SIGTERM and SIGHUP")?;
        Ok(signal)
    }

    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The seed of libtorch's generator for one iteration: a splitmix of (seed, iteration).
fn iteration_seed(seed: u64, iteration: u64) -> i64 {
    let mut z =
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ iteration.wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

const LOSSES_FILE: &str = "losses.csv";

pub fn train(plugins: &Plugins, request: &TrainRequest, stop: &StopSignal) -> Result<TrainOutcome> {
    let spec = ModelSpec::from_table(&request.model, &request.definition)?;
    let mut settings = spec.train.clone();
    if let Some(iterations) = request.iterations {
        if iterations == 0 {
            bail!("--iterations 0: a run trains at least 1 iteration");
        }
        settings.iterations = iterations;
    }
    let mut meta = CheckpointMeta {
        iteration: 0,
        model: request.model.clone(),
        model_table: request.definition.to_string(),
        structure: request.structure.clone(),
        in_channels: 1,
        out_channels: 1,
        voxel_um: None,
    };
    // Refused before anything is built: a batch the machine cannot hold aborts on allocation.
    let budget = silico_imaging::memory_budget()?;
    let channels = (meta.in_channels + meta.out_channels) as u64;
    settings
        .check_memory(channels, budget.bytes, &budget.source)
        .map_err(|e| anyhow::anyhow!("key `models.{}.train`: {e}", request.model))?;
    // The run folder is locked, then checked, before anything is built or loaded.
    let _lock = files::FolderLock::acquire(&request.out)?;
    let checkpoint = checkpoint_dir(&request.out);
    files::remove_stale_temporaries(&checkpoint);
    let resume_from = resumable_checkpoint(request, &meta, &checkpoint)?;
    let start = match &resume_from {
        Some((_, saved)) => saved.iteration,
        None => 0,
    };
    if start >= settings.iterations {
        bail!(
            "{}: the run already completed {start} of {} iterations",
            request.out.display(),
            settings.iterations
        );
    }

    let mut trainer = Trainer::build(
        plugins,
        &request.model,
        &spec,
        settings.seed,
        request.device,
    )?;
    if let Some(init) = &request.init {
        trainer
            .fine_tune_from(init)
            .with_context(|| format!("initial weights from {}", init.display()))?;
    }
    if let Some((found, _)) = &resume_from {
        trainer.resume_from(found)?;
    }
    let mut data = TrainingData::open(
        &request.data,
        &request.structure,
        settings.patch,
        settings.seed,
        &request.others,
        LoadOptions {
            non_finite: request.non_finite,
            ..load_options(request.voxel_size)
        },
    )?;
    meta.voxel_um = data.voxel_um();

    let mut log = LossLog::open(&request.out.join(LOSSES_FILE), start)?;
    let mut board = EventWriter::create(&request.out.join(TENSORBOARD_DIR), start)?;
    let progress = progress_bar(request.progress, start, settings.iterations, "");
    let started = Instant::now();
    let mut last_losses = Vec::new();
    let mut iteration = start;
    let save = |iteration: u64, trainer: &Trainer| {
        trainer.save(
            &checkpoint,
            &CheckpointMeta {
                iteration,
                ..meta.clone()
            },
        )
    };
    while iteration < settings.iterations {
        if stop.raised() {
            break;
        }
        let iteration_started = Instant::now();
        tch::manual_seed(iteration_seed(settings.seed, iteration));
        let batch = data.batch(iteration, settings.batch, trainer.device())?;
        let losses = trainer
            .step(&batch, iteration)
            .map_err(|error| stopped_at(error, iteration, &checkpoint, settings.precision))?;
        iteration += 1;
        let seconds = started.elapsed().as_secs_f64();
        log.append(iteration, &losses, seconds)?;
        board.scalars(
            iteration,
            &board_scalars(
                &losses,
                seconds,
                settings.lr,
                iteration_started.elapsed().as_secs_f64(),
            ),
        )?;
        progress.set_position(iteration);
        progress.set_message(format_losses(&losses));
        last_losses = losses;
        if iteration % settings.checkpoint_every == 0 || iteration == settings.iterations {
            log.flush()?;
            save(iteration, &trainer)?;
        }
    }
    progress.finish_and_clear();
    log.flush()?;
    let interrupted = iteration < settings.iterations;
    if interrupted {
        save(iteration, &trainer)?;
    }
    let done = (iteration - start).max(1);
    Ok(TrainOutcome {
        iterations: iteration,
        checkpoint,
        last_losses,
        seconds_per_iteration: started.elapsed().as_secs_f64() / done as f64,
        interrupted,
    })
}

/// The error that stopped a run at `iteration`, saying which checkpoint is left (none before the
/// first is written) and, for a NaN or infinite loss, where it came from: the training images
/// were checked finite when loaded, so from the model.
fn stopped_at(
    error: anyhow::Error,
    iteration: u64,
    checkpoint: &Path,
    precision: Precision,
) -> anyhow::Error {
    let kept = match checkpoint::locate(checkpoint).map(|found| checkpoint::read_meta(&found)) {
        Some(Ok((found, saved))) => format!(
            "the checkpoint of iteration {} is kept in {}",
            saved.iteration,
            found.display()
        ),
        Some(Err(_)) => format!("the checkpoint in {} is kept", checkpoint.display()),
        None => "no checkpoint was written".to_string(),
    };
    let stopped = format!("training stopped at iteration {iteration}; {kept}");
    let Some(loss) = error.downcast_ref::<NonFiniteLoss>() else {
        return error.context(stopped);
    };
    let cause = if iteration == 0 {
        "the model's first forward pass made it: check the model's components"
    } else {
        "training diverged: lower `lr` in the model's train table"
    };
    let fp32 = match precision {
        Precision::Fp32 => "",
        _ => ", or train at precision = \"fp32\"",
    };
    anyhow::anyhow!(
        "{stopped}: {loss}; the training images are finite (checked when loaded), so {cause}{fp32}"
    )
}

/// What TensorBoard shows of an iteration: the columns of its `losses.csv` row, under the
/// same names, then the learning rate and the iteration's own time.
fn board_scalars(
    losses: &[(String, f64)],
    seconds: f64,
    lr: f64,
    seconds_per_iteration: f64,
) -> Vec<(&str, f64)> {
    losses
        .iter()
        .map(|(name, value)| (name.as_str(), *value))
        .chain([
            ("seconds", seconds),
            ("lr", lr),
            ("seconds_per_iteration", seconds_per_iteration),
        ])
        .collect()
}

/// The checkpoint to resume and what it records, after checking that `--resume` and the run
/// folder agree and that the checkpoint is of the model and structure asked for.
fn resumable_checkpoint(
    request: &TrainRequest,
    meta: &CheckpointMeta,
    checkpoint: &Path,
) -> Result<Option<(PathBuf, CheckpointMeta)>> {
    match (request.resume, checkpoint::locate(checkpoint)) {
        (true, Some(found)) => {
            let (found, saved) = checkpoint::read_meta(&found)?;
            if saved.model != meta.model
                || saved.structure != meta.structure
                || saved.model_table != meta.model_table
            {
                bail!(
                    "{}: this checkpoint is of model `{}` for `{}`, with another definition or structure than asked; resume with the same --model and --structure, or start a new --out",
                    found.display(),
                    saved.model,
                    saved.structure
                );
            }
            Ok(Some((found, saved)))
        }
        (true, None) => bail!(
            "{}: nothing to resume (no checkpoint); drop --resume to start a new run",
            request.out.display()
        ),
        (false, Some(_)) => bail!(
            "{} already holds a run; pass --resume to continue it, or choose another --out",
            request.out.display()
        ),
        (false, None) => Ok(None),
    }
}

fn format_losses(losses: &[(String, f64)]) -> String {
    losses
        .iter()
        .map(|(name, value)| format!("{name} {value:.4}"))
        .collect::<Vec<_>>()
        .join("  ")
}

/// `losses.csv`: one row per iteration (iteration, each loss term, elapsed seconds). On resume,
/// rows after the checkpoint are dropped: those iterations run again.
struct LossLog {
    path: PathBuf,
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
}

impl LossLog {
    fn open(path: &Path, keep_through: u64) -> Result<Self> {
        let mut log = Self {
            path: path.to_path_buf(),
            header: None,
            rows: Vec::new(),
        };
        if keep_through == 0 || !path.exists() {
            return Ok(log);
        }
        let unreadable = || {
            format!(
                "{}: not a losses.csv written by silico train; move it away to resume",
                path.display()
            )
        };
        let mut reader = csv::Reader::from_path(path).with_context(unreadable)?;
        log.header = Some(
            reader
                .headers()
                .with_context(unreadable)?
                .iter()
                .map(str::to_string)
                .collect(),
        );
        for record in reader.records() {
            let record = record.with_context(unreadable)?;
            let kept = record
                .get(0)
                .and_then(|i| i.parse::<u64>().ok())
                .is_some_and(|i| i <= keep_through);
            if kept {
                log.rows.push(record.iter().map(str::to_string).collect());
            }
        }
        Ok(log)
    }

    fn append(&mut self, iteration: u64, losses: &[(String, f64)], seconds: f64) -> Result<()> {
        let header: Vec<String> = std::iter::once("iteration".to_string())
            .chain(losses.iter().map(|(name, _)| name.clone()))
            .chain(std::iter::once("seconds".to_string()))
            .collect();
        match &self.header {
            Some(h) if *h != header => bail!(
                "{}: the loss terms changed from `{}` to `{}`",
                self.path.display(),
                h.join(","),
                header.join(",")
            ),
            Some(_) => {}
            None => self.header = Some(header),
        }
        let row = std::iter::once(iteration.to_string())
            .chain(losses.iter().map(|(_, v)| v.to_string()))
            .chain(std::iter::once(format!("{seconds:.3}")))
            .collect();
        self.rows.push(row);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        let Some(header) = &self.header else {
            return Ok(());
        };
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(header)?;
        for row in &self.rows {
            writer.write_record(row)?;
        }
        files::write_atomic(&self.path, &writer.into_inner()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_seeds_differ_and_repeat() {
        assert_eq!(iteration_seed(0, 5), iteration_seed(0, 5));
        assert_ne!(iteration_seed(0, 5), iteration_seed(0, 6));
        assert_ne!(iteration_seed(1, 5), iteration_seed(0, 5));
        assert!(iteration_seed(u64::MAX, u64::MAX) >= 0);
    }
}
