//! The trainer: the one place where a model meets its optimizers. It builds the model on its
//! device, owns the generator's and the discriminator's Adam, takes a training step, and saves
//! and restores checkpoints. `silico train`, `retrain` (through train), `bench`, `check` and
//! `import` all go through it.
//!
//! The networks are built on the CPU under the run's seed, so that a seed gives the same initial
//! weights on every device, then moved to the device before the optimizers exist: Adam's moments
//! are `zeros_like` the parameters, so they are born on the device too. Checkpoints are written
//! from CPU copies and load onto any device.
//!
//! Mixed precision (`precision = "bf16" | "fp16"`) runs the networks' forward passes under
//! autocast and everything else in fp32: the losses (on fp32 copies of the outputs), the
//! master weights, Adam's moments and the checkpoints. fp16 scales each optimizer's loss
//! dynamically; the scales are checkpointed, so a resumed fp16 run continues exactly too.

use crate::{
    allocator::AllocationPolicy,
    checkpoint::{self, CheckpointMeta, OptimizerState},
    data::Batch,
    model::Model,
    optim::Adam,
    plugins::Plugins,
    precision::{LossScaler, Numerics, Precision},
    registry::ModelSpec,
};
use anyhow::{bail, Context, Result};
use silico_plugin_api::{names, LossInputs};
use std::path::Path;
use tch::{Device, Tensor};

pub struct Trainer {
    model: Model,
    generator_optimizer: Adam,
    discriminator_optimizer: Option<Adam>,
    numerics: Numerics,
    /// fp16 only: the loss scales of the generator's and the discriminator's updates.
    generator_scaler: Option<LossScaler>,
    discriminator_scaler: Option<LossScaler>,
    /// fp16 only: whether the last step's gradients overflowed, so that it was skipped.
    overflowed: bool,
}

/// Where one tensor of a trainer lives, for checks that everything is on its device.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// e.g. "generator `unet3d` state net_recurse.bn0.running_mean", "generator optimizer m.3".
    pub tensor: String,
    pub device: Device,
}

impl Trainer {
    /// Builds the model `name` (`spec`) for single-channel data, seeding libtorch's generator with
    /// `seed` first so that initial weights repeat, and places it and its optimizers on `device`.
    pub fn build(
        plugins: &Plugins,
        name: &str,
        spec: &ModelSpec,
        seed: u64,
        device: Device,
    ) -> Result<Self> {
        AllocationPolicy::ReuseFreedMemory.apply();
        tch::manual_seed(seed as i64);
        let model = Model::build(plugins, name, spec, 1, 1, device)?;
        let settings = &spec.train;
        let numerics = Numerics::new(device, settings.precision, settings.memory_format);
        for network in std::iter::once(&model.generator).chain(&model.discriminator) {
            numerics.lay_out(network)?;
        }
        let scaler = (settings.precision == Precision::Fp16).then(LossScaler::default);
        let generator_optimizer =
            Adam::new(model.generator.parameters()?, settings.lr, settings.betas);
        let discriminator_optimizer = model
            .discriminator
            .as_ref()
            .map(|d| anyhow::Ok(Adam::new(d.parameters()?, settings.lr, settings.betas)))
            .transpose()?;
        Ok(Self {
            discriminator_scaler: scaler.filter(|_| model.discriminator.is_some()),
            model,
            generator_optimizer,
            discriminator_optimizer,
            numerics,
            generator_scaler: scaler,
            overflowed: false,
        })
    }

    /// The same trainer without its discriminator and that one's optimizer: a generator-only
    /// model, as `silico import` makes from weights trained elsewhere.
    pub fn without_discriminator(mut self) -> Self {
        self.model.discriminator = None;
        self.discriminator_optimizer = None;
        self
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn device(&self) -> Device {
        self.numerics.device
    }

    /// Whether the last step was skipped because its fp16 gradients overflowed (and the loss
    /// scale was halved).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Whether the convolutions' weights and inputs are stored channels-last-3d.
    pub fn channels_last(&self) -> bool {
        self.numerics.channels_last
    }

    /// One generator update and, for adversarial models, one discriminator update (pix2pix's
    /// alternation). Returns every loss term by name; discriminator terms are prefixed `D/`.
    pub fn step(&mut self, batch: &Batch, iteration: u64) -> Result<Vec<(String, f64)>> {
        let model = &self.model;
        let (signal, target) = (&batch.signal, &batch.target);
        let prediction = self.numerics.forward(&model.generator, signal, true)?;
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
        let fake;
        if let Some(d) = &model.discriminator {
            fake = self
                .numerics
                .forward(d, &Tensor::cat(&[signal, &prediction], 1), true)?;
            inputs = inputs.with(names::DISC_FAKE, &fake);
        }
        let objective = model.generator_objective(&inputs)?;
        self.overflowed = !update(
            &mut self.generator_optimizer,
            self.generator_scaler.as_mut(),
            &objective.total,
        )?;
        let mut losses = objective.terms;

        if let Some(d) = &model.discriminator {
            let detached = prediction.detach();
            let fake = self
                .numerics
                .forward(d, &Tensor::cat(&[signal, &detached], 1), true)?;
            let real = self
                .numerics
                .forward(d, &Tensor::cat(&[signal, target], 1), true)?;
            let inputs = LossInputs::new(iteration)
                .with(names::SIGNAL, signal)
                .with(names::PREDICTION, &detached)
                .with(names::TARGET, target)
                .with(names::DISC_FAKE, &fake)
                .with(names::DISC_REAL, &real);
            let Some(objective) = model.discriminator_objective(&inputs)? else {
                bail!("the model has a discriminator but no adversarial loss term to train it; add one to `losses`");
            };
            let optimizer = self
                .discriminator_optimizer
                .as_mut()
                .expect("a discriminator has an optimizer");
            self.overflowed |= !update(
                optimizer,
                self.discriminator_scaler.as_mut(),
                &objective.total,
            )?;
            losses.extend(
                objective
                    .terms
                    .into_iter()
                    .map(|(name, value)| (format!("D/{name}"), value)),
            );
        }
        Ok(losses)
    }

    /// Writes the networks and the optimizer state to the checkpoint folder `dir`, atomically.
    pub fn save(&self, dir: &Path, meta: &CheckpointMeta) -> Result<()> {
        checkpoint::save(dir, meta, &self.model, &self.optimizer_state())
    }

    /// Continues the run whose checkpoint is in `dir`: its networks and both optimizers.
    pub fn resume_from(&mut self, dir: &Path) -> Result<()> {
        let state = checkpoint::load_into(dir, &mut self.model)?;
        self.restore_optimizers(&state)
    }

    /// Starts from the networks of the checkpoint in `dir` and continues its optimizers where it
    /// left them, as more iterations of that run would (an imported checkpoint, with no steps
    /// taken, starts them afresh; one without a discriminator leaves this one's fresh).
    pub fn fine_tune_from(&mut self, dir: &Path) -> Result<()> {
        let (found, _) = checkpoint::read_meta(dir)?;
        checkpoint::load_networks(&found, &mut self.model)?;
        self.restore_optimizers(&checkpoint::read_optimizer(&found)?)
    }

    /// The optimizers' moments and step counts from a checkpoint; a discriminator that has
    /// taken no step there (a generator-only checkpoint) keeps its fresh optimizer.
    fn restore_optimizers(&mut self, state: &OptimizerState) -> Result<()> {
        restore(
            &mut self.generator_optimizer,
            state,
            "generator",
            state.generator_steps,
        )?;
        if let (Some(adam), true) = (
            &mut self.discriminator_optimizer,
            state.discriminator_steps > 0,
        ) {
            restore(adam, state, "discriminator", state.discriminator_steps)?;
        }
        // A run continued at fp16 keeps its scales; one switching to fp16 starts them afresh.
        if let (Some(scaler), Some(saved)) =
            (&mut self.generator_scaler, state.generator_loss_scale)
        {
            *scaler = saved;
        }
        if let (Some(scaler), Some(saved)) = (
            &mut self.discriminator_scaler,
            state.discriminator_loss_scale,
        ) {
            *scaler = saved;
        }
        Ok(())
    }

    /// Replaces the generator's variables by `state` (names and shapes must match exactly).
    pub fn load_generator(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        self.model.generator.load_state(state)
    }

    /// The trainable parameters of the generator and, if any, of the discriminator.
    pub fn parameters(&self) -> Result<(Vec<Tensor>, Option<Vec<Tensor>>)> {
        Ok((
            self.model.generator.parameters()?,
            self.model
                .discriminator
                .as_ref()
                .map(|d| d.parameters())
                .transpose()?,
        ))
    }

    /// The device of every variable (parameters and buffers) of both networks and of every
    /// optimizer moment.
    pub fn placements(&self) -> Result<Vec<Placement>> {
        let mut placements = Vec::new();
        let networks =
            std::iter::once(&self.model.generator).chain(self.model.discriminator.as_ref());
        for network in networks {
            for (name, tensor) in network.state()? {
                placements.push(Placement {
                    tensor: format!("{} state {name}", network.label()),
                    device: tensor.device(),
                });
            }
        }
        let optimizers = std::iter::once(("generator", &self.generator_optimizer)).chain(
            self.discriminator_optimizer
                .as_ref()
                .map(|adam| ("discriminator", adam)),
        );
        for (which, adam) in optimizers {
            for (name, tensor) in adam.state() {
                placements.push(Placement {
                    tensor: format!("{which} optimizer {name}"),
                    device: tensor.device(),
                });
            }
        }
        Ok(placements)
    }

    /// Fails, naming the first tensor, unless every tensor of [`Trainer::placements`] is on the
    /// trainer's device.
    pub fn check_placement(&self) -> Result<()> {
        if let Some(stray) = self
            .placements()?
            .into_iter()
            .find(|p| p.device != self.device())
        {
            bail!(
                "{} is on {:?}, not on {:?} with the rest of the model",
                stray.tensor,
                stray.device,
                self.device()
            );
        }
        Ok(())
    }

    fn optimizer_state(&self) -> OptimizerState {
        let prefixed = |prefix: &str, adam: &Adam| {
            adam.state()
                .into_iter()
                .map(move |(name, t)| (format!("{prefix}.{name}"), t))
                .collect::<Vec<_>>()
        };
        let mut moments = prefixed("generator", &self.generator_optimizer);
        if let Some(d) = &self.discriminator_optimizer {
            moments.extend(prefixed("discriminator", d));
        }
        OptimizerState {
            moments,
            generator_steps: self.generator_optimizer.steps(),
            discriminator_steps: self.discriminator_optimizer.as_ref().map_or(0, Adam::steps),
            generator_loss_scale: self.generator_scaler,
            discriminator_loss_scale: self.discriminator_scaler,
        }
    }
}

/// Backpropagates `loss` and steps `adam`; with a loss scaler (fp16), through the scaled loss,
/// skipping the step when the gradients overflowed. Returns whether the step was taken.
fn update(adam: &mut Adam, scaler: Option<&mut LossScaler>, loss: &Tensor) -> Result<bool> {
    adam.zero_grad();
    match scaler {
        None => {
            loss.f_backward()?;
            adam.step()?;
            Ok(true)
        }
        Some(scaler) => {
            (loss * scaler.scale).f_backward()?;
            let finite = scaler.unscale(adam.parameters())?;
            if finite {
                adam.step()?;
            }
            Ok(finite)
        }
    }
}

/// Restores the moments saved under `prefix` (`generator` or `discriminator`) into `adam`.
fn restore(adam: &mut Adam, state: &OptimizerState, prefix: &str, steps: u64) -> Result<()> {
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
