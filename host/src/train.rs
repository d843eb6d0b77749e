//! `silico train`: the training loop. The host owns it — optimizers, the adversarial
//! alternation, checkpoints, logging — and drives the plugin components of a model.
//!
//! Every iteration draws its batch and seeds libtorch from (seed, iteration) alone, and the
//! optimizer state is checkpointed, so a run resumed from a checkpoint continues exactly as the
//! uninterrupted run would have.

use crate::{
    checkpoint::{self, CheckpointMeta, OptimizerState},
    data::{Batch, TrainingData},
    files,
    model::Model,
    optim::Adam,
    plugins::Plugins,
    registry::{ModelSpec, Registry},
};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use silico_plugin_api::{names, LossInputs};
use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Instant,
};
use tch::{Device, Tensor};

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
}

/// How a run ended.
pub struct TrainOutcome {
    pub iterations: u64,
    pub checkpoint: PathBuf,
    pub last_losses: Vec<(String, f64)>,
    pub seconds_per_iteration: f64,
    pub interrupted: bool,
}

/// Stops a run at the next iteration boundary, after a checkpoint. Set by Ctrl-C.
#[derive(Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// A signal that Ctrl-C raises.
    pub fn on_ctrl_c() -> Result<Self> {
        let signal = Self::default();
        let flag = signal.0.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
        Ok(signal)
    }

    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn raised(&self) -> bool {
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
const CHECKPOINT_DIR: &str = "checkpoint";

pub fn checkpoint_dir(run: &Path) -> PathBuf {
    run.join(CHECKPOINT_DIR)
}

pub fn train(plugins: &Plugins, request: &TrainRequest, stop: &StopSignal) -> Result<TrainOutcome> {
    let spec = ModelSpec::from_table(&request.model, &request.definition)?;
    let mut settings = spec.train.clone();
    if let Some(iterations) = request.iterations {
        settings.iterations = iterations;
    }
    let mut data = TrainingData::open(
        &request.data,
        &request.structure,
        settings.patch,
        settings.seed,
        &request.others,
    )?;
    // Initial weights come from libtorch's generator: seed it first, so that runs repeat.
    tch::manual_seed(settings.seed as i64);
    let mut model = Model::build(plugins, &request.model, &spec, 1, 1)?;
    let meta = CheckpointMeta {
        iteration: 0,
        model: request.model.clone(),
        model_table: request.definition.to_string(),
        structure: request.structure.clone(),
        in_channels: 1,
        out_channels: 1,
    };
    let mut optimizer_g = Adam::new(model.generator.parameters()?, settings.lr, settings.betas);
    let mut optimizer_d = match &model.discriminator {
        Some(d) => Some(Adam::new(d.parameters()?, settings.lr, settings.betas)),
        None => None,
    };

    if let Some(init) = &request.init {
        fine_tune_from(init, &mut model, &mut optimizer_g, optimizer_d.as_mut())
            .with_context(|| format!("initial weights from {}", init.display()))?;
    }

    std::fs::create_dir_all(&request.out)
        .with_context(|| format!("cannot create {}", request.out.display()))?;
    let checkpoint = checkpoint_dir(&request.out);
    let mut start = 0;
    match (request.resume, checkpoint::locate(&checkpoint)) {
        (true, Some(found)) => {
            let (_, saved) = checkpoint::read_meta(&found)?;
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
            let state = checkpoint::load_into(&found, &mut model)?;
            restore_optimizer(&mut optimizer_g, &state, "generator", state.generator_steps)?;
            if let Some(adam) = &mut optimizer_d {
                restore_optimizer(adam, &state, "discriminator", state.discriminator_steps)?;
            }
            start = saved.iteration;
        }
        (true, None) => bail!(
            "{}: nothing to resume (no checkpoint); drop --resume to start a new run",
            request.out.display()
        ),
        (false, Some(_)) => bail!(
            "{} already holds a run; pass --resume to continue it, or choose another --out",
            request.out.display()
        ),
        (false, None) => {}
    }
    if start >= settings.iterations {
        bail!(
            "{}: the run already completed {start} of {} iterations",
            request.out.display(),
            settings.iterations
        );
    }

    let mut log = LossLog::open(&request.out.join(LOSSES_FILE), start)?;
    let progress = progress_bar(request.progress, start, settings.iterations);
    let started = Instant::now();
    let mut last_losses = Vec::new();
    let mut iteration = start;
    let save = |iteration: u64, model: &Model, g: &Adam, d: Option<&Adam>| {
        let state = optimizer_state(g, d);
        checkpoint::save(
            &checkpoint,
            &CheckpointMeta {
                iteration,
                ..meta.clone()
            },
            model,
            &state,
        )
    };
    while iteration < settings.iterations {
        if stop.raised() {
            break;
        }
        tch::manual_seed(iteration_seed(settings.seed, iteration));
        let batch = data.batch(iteration, settings.batch, request.device)?;
        let losses = step(
            &mut model,
            &mut optimizer_g,
            optimizer_d.as_mut(),
            &batch,
            iteration,
        )
        .with_context(|| {
            format!(
                "training stopped at iteration {iteration}; the last good checkpoint is kept in {}",
                checkpoint.display()
            )
        })?;
        iteration += 1;
        log.append(iteration, &losses, started.elapsed().as_secs_f64())?;
        progress.set_position(iteration);
        progress.set_message(format_losses(&losses));
        last_losses = losses;
        if iteration % settings.checkpoint_every == 0 || iteration == settings.iterations {
            log.flush()?;
            save(iteration, &model, &optimizer_g, optimizer_d.as_ref())?;
        }
    }
    progress.finish_and_clear();
    log.flush()?;
    let interrupted = iteration < settings.iterations;
    if interrupted {
        save(iteration, &model, &optimizer_g, optimizer_d.as_ref())?;
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

/// Starts from the networks of the checkpoint in `init` and continues its optimizers where it
/// left them, as more iterations of that run would (an imported checkpoint, with no steps taken,
/// starts them afresh).
fn fine_tune_from(
    init: &Path,
    model: &mut Model,
    optimizer_g: &mut Adam,
    optimizer_d: Option<&mut Adam>,
) -> Result<()> {
    let (found, _) = checkpoint::read_meta(init)?;
    checkpoint::load_networks(&found, model)?;
    let state = checkpoint::read_optimizer(&found)?;
    restore_optimizer(optimizer_g, &state, "generator", state.generator_steps)?;
    if let (Some(adam), true) = (optimizer_d, state.discriminator_steps > 0) {
        restore_optimizer(adam, &state, "discriminator", state.discriminator_steps)?;
    }
    Ok(())
}

fn restore_optimizer(
    adam: &mut Adam,
    state: &OptimizerState,
    prefix: &str,
    steps: u64,
) -> Result<()> {
    let moments: Vec<(String, Tensor)> = state
        .moments
        .iter()
        .filter_map(|(name, t)| {
            name.strip_prefix(&format!("{prefix}."))
                .map(|n| (n.to_string(), t.shallow_clone()))
        })
        .collect();
    adam.load_state(&moments, steps)
        .with_context(|| format!("{prefix} optimizer"))
}

pub(crate) fn optimizer_state(generator: &Adam, discriminator: Option<&Adam>) -> OptimizerState {
    let prefixed = |prefix: &str, adam: &Adam| {
        adam.state()
            .into_iter()
            .map(move |(name, t)| (format!("{prefix}.{name}"), t))
            .collect::<Vec<_>>()
    };
    let mut moments = prefixed("generator", generator);
    if let Some(d) = discriminator {
        moments.extend(prefixed("discriminator", d));
    }
    OptimizerState {
        moments,
        generator_steps: generator.steps(),
        discriminator_steps: discriminator.map_or(0, Adam::steps),
    }
}

/// One generator update and, for adversarial models, one discriminator update (pix2pix's
/// alternation). Returns every loss term by name; discriminator terms are prefixed `D/`.
pub(crate) fn step(
    model: &mut Model,
    optimizer_g: &mut Adam,
    optimizer_d: Option<&mut Adam>,
    batch: &Batch,
    iteration: u64,
) -> Result<Vec<(String, f64)>> {
    let (signal, target) = (&batch.signal, &batch.target);
    let prediction = model.generator.forward_t(signal, true)?;
    if prediction.size() != target.size() {
        bail!(
            "{} maps {:?} to {:?}, expected {:?}",
            model.generator.label(),
            signal.size(),
            prediction.size(),
            target.size()
        );
    }
    let mut inputs = LossInputs::new(iteration)
        .with(names::SIGNAL, signal)
        .with(names::PREDICTION, &prediction)
        .with(names::TARGET, target);
    if let Some(others) = &batch.others {
        inputs = inputs.with(names::OTHERS, others);
    }
    if let Some(d) = &model.discriminator {
        let fake = d.forward_t(&Tensor::cat(&[signal, &prediction], 1), true)?;
        inputs = inputs.with(names::DISC_FAKE, &fake);
    }
    let objective = model.generator_objective(&inputs)?;
    optimizer_g.zero_grad();
    objective.total.f_backward()?;
    optimizer_g.step()?;
    let mut losses = objective.terms;

    if let (Some(d), Some(optimizer_d)) = (&model.discriminator, optimizer_d) {
        let detached = prediction.detach();
        let fake = d.forward_t(&Tensor::cat(&[signal, &detached], 1), true)?;
        let real = d.forward_t(&Tensor::cat(&[signal, target], 1), true)?;
        let inputs = LossInputs::new(iteration)
            .with(names::SIGNAL, signal)
            .with(names::PREDICTION, &detached)
            .with(names::TARGET, target)
            .with(names::DISC_FAKE, &fake)
            .with(names::DISC_REAL, &real);
        let Some(objective) = model.discriminator_objective(&inputs)? else {
            bail!("the model has a discriminator but no adversarial loss term to train it; add one to `losses`");
        };
        optimizer_d.zero_grad();
        objective.total.f_backward()?;
        optimizer_d.step()?;
        losses.extend(
            objective
                .terms
                .into_iter()
                .map(|(name, value)| (format!("D/{name}"), value)),
        );
    }
    Ok(losses)
}

fn format_losses(losses: &[(String, f64)]) -> String {
    losses
        .iter()
        .map(|(name, value)| format!("{name} {value:.4}"))
        .collect::<Vec<_>>()
        .join("  ")
}

fn progress_bar(visible: bool, start: u64, total: u64) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_position(start);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len}  {per_sec}  ETA {eta}  {msg}")
            .expect("a valid progress template"),
    );
    bar
}

/// `losses.csv`: one row per iteration (iteration, each loss term, elapsed seconds). On resume,
/// rows after the checkpoint are dropped: those iterations run again.
struct LossLog {
    path: PathBuf,
    header: Option<String>,
    rows: Vec<String>,
}

impl LossLog {
    fn open(path: &Path, keep_through: u64) -> Result<Self> {
        let mut log = Self {
            path: path.to_path_buf(),
            header: None,
            rows: Vec::new(),
        };
        if keep_through > 0 {
            if let Ok(text) = std::fs::read_to_string(path) {
                let mut lines = text.lines();
                log.header = lines.next().map(str::to_string);
                log.rows = lines
                    .filter(|l| {
                        l.split(',')
                            .next()
                            .and_then(|i| i.parse::<u64>().ok())
                            .is_some_and(|i| i <= keep_through)
                    })
                    .map(str::to_string)
                    .collect();
            }
        }
        Ok(log)
    }

    fn append(&mut self, iteration: u64, losses: &[(String, f64)], seconds: f64) -> Result<()> {
        let names: Vec<&str> = losses.iter().map(|(n, _)| n.as_str()).collect();
        let header = format!("iteration,{},seconds", names.join(","));
        match &self.header {
            Some(h) if *h != header => bail!(
                "{}: the loss terms changed from `{h}` to `{header}`",
                self.path.display()
            ),
            Some(_) => {}
            None => self.header = Some(header),
        }
        let values: Vec<String> = losses.iter().map(|(_, v)| format!("{v}")).collect();
        self.rows
            .push(format!("{iteration},{},{seconds:.3}", values.join(",")));
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        let Some(header) = &self.header else {
            return Ok(());
        };
        let mut text = header.clone();
        for row in &self.rows {
            text.push('\n');
            text.push_str(row);
        }
        text.push('\n');
        files::write_atomic(&self.path, text.as_bytes())
    }
}

/// `silico import`: a run folder whose checkpoint (iteration 0) holds weights made elsewhere —
/// by PyTorch, or by pytorch_fnet through `python/import_fnet.py` — so that `silico predict`
/// uses them and `silico train --resume` fine-tunes them.
pub fn import_weights(
    registry: &Registry,
    plugins: &Plugins,
    model_name: &str,
    structure: &str,
    weights: &Path,
    out: &Path,
) -> Result<PathBuf> {
    let spec = registry.model(model_name)?;
    let mut model = Model::build(plugins, model_name, spec, 1, 1)?;
    model.discriminator = None;
    let state = checkpoint::read_tensors(weights)?;
    model
        .generator
        .load_state(&state)
        .with_context(|| weights.display().to_string())?;
    let dir = checkpoint_dir(out);
    if checkpoint::locate(&dir).is_some() {
        bail!(
            "{} already holds a run; choose another --out",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let meta = CheckpointMeta {
        iteration: 0,
        model: model_name.to_string(),
        model_table: registry.model_tables[model_name].to_string(),
        structure: structure.to_string(),
        in_channels: 1,
        out_channels: 1,
    };
    let optimizer = Adam::new(
        model.generator.parameters()?,
        spec.train.lr,
        spec.train.betas,
    );
    checkpoint::save(&dir, &meta, &model, &optimizer_state(&optimizer, None))?;
    Ok(dir)
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
