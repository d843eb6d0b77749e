//! `silico check`: build every model of a registry and push one tiny batch through it, forward
//! and backward, so that a broken plugin or registry entry shows up before a long run.

use crate::{data::Batch, plugins::Plugins, registry::Registry, trainer::Trainer};
use anyhow::{bail, Result};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// The batch `silico check` uses: one 32³ patch, deep enough for a 4-level U-Net and a
/// 4-layer PatchGAN, small enough to take a second on a laptop CPU.
pub const CHECK_SHAPE: [i64; 5] = [1, 1, 32, 32, 32];

/// What one model's check found.
pub struct ModelReport {
    pub model: String,
    pub outcome: Result<String>,
}

/// Checks every model (or only those named in `only`); one failing model does not stop the
/// others.
pub fn check_all(
    registry: &Registry,
    plugins: &Plugins,
    device: Device,
    only: &[String],
) -> Vec<ModelReport> {
    registry
        .models
        .iter()
        .filter(|(name, _)| only.is_empty() || only.contains(name))
        .map(|(name, spec)| ModelReport {
            model: name.clone(),
            outcome: Trainer::build(plugins, name, spec, spec.train.seed, device)
                .and_then(|mut trainer| check_model(&mut trainer)),
        })
        .collect()
}

fn parameter_count(parameters: &[Tensor]) -> i64 {
    parameters.iter().map(Tensor::numel).sum::<usize>() as i64
}

/// Every parameter must receive a finite gradient: otherwise part of the network is
/// disconnected from the loss, or the backward pass broke.
fn check_gradients(label: &str, parameters: &[Tensor]) -> Result<()> {
    for (i, p) in parameters.iter().enumerate() {
        let grad = p.grad();
        if !grad.defined() {
            bail!(
                "{label}: parameter {i} (shape {:?}) received no gradient",
                p.size()
            );
        }
        if grad.isfinite().logical_not().any().int64_value(&[]) != 0 {
            bail!(
                "{label}: parameter {i} (shape {:?}) has a non-finite gradient",
                p.size()
            );
        }
    }
    Ok(())
}

/// One training step of the model, as `silico train` takes it, on random data on the trainer's
/// device; then every tensor's device and every parameter's gradient are checked.
fn check_model(trainer: &mut Trainer) -> Result<String> {
    let started = Instant::now();
    trainer.check_placement()?;
    let device = trainer.device();
    // `others` too, so that a model with the exclusivity term is checked like any other.
    let batch = Batch {
        signal: Tensor::randn(CHECK_SHAPE, (Kind::Float, device)),
        target: Tensor::randn(CHECK_SHAPE, (Kind::Float, device)),
        others: Some(Tensor::randn(CHECK_SHAPE, (Kind::Float, device))),
    };
    let losses = trainer.step(&batch, 0)?;
    trainer.check_placement()?;
    let (generator_parameters, discriminator_parameters) = trainer.parameters()?;
    let model = trainer.model();
    check_gradients(model.generator.label(), &generator_parameters)?;
    let mut summary = format!(
        "{} ({} parameters)",
        model.generator.label(),
        parameter_count(&generator_parameters)
    );
    if let (Some(discriminator), Some(parameters)) =
        (&model.discriminator, &discriminator_parameters)
    {
        check_gradients(discriminator.label(), parameters)?;
        summary += &format!(
            ", {} ({} parameters)",
            discriminator.label(),
            parameter_count(parameters)
        );
    }
    let terms: Vec<String> = losses
        .iter()
        .map(|(name, value)| format!("{name} {value:.4}"))
        .collect();
    Ok(format!(
        "{summary}; loss terms: {}; gradients finite; every tensor on {device:?}; {:.2} s",
        terms.join(", "),
        started.elapsed().as_secs_f64()
    ))
}
