//! `silico check`: build every model of a registry and push one tiny batch through it, forward
//! and backward, at every precision, so that a broken plugin or registry entry shows up before a
//! long run.

use crate::{
    data::Batch, plugins::Plugins, precision::Precision, registry::Registry, trainer::Trainer,
};
use anyhow::{bail, Result};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// The batch `silico check` uses: one 32³ patch, deep enough for a 4-level U-Net and a
/// 4-layer PatchGAN, small enough to take a second on a laptop CPU.
pub const CHECK_SHAPE: [i64; 5] = [1, 1, 32, 32, 32];

/// fp16 steps skipped for overflow before the check gives up (the scale is then 2⁻⁸).
const MAX_OVERFLOWS: u32 = 24;

/// What one model's check found.
pub struct ModelReport {
    pub model: String,
    pub precision: Precision,
    pub outcome: Result<String>,
}

/// Checks every model (or only those named in `only`) at each of `precisions`; one failing
/// model does not stop the others.
pub fn check_all(
    registry: &Registry,
    plugins: &Plugins,
    device: Device,
    only: &[String],
    precisions: &[Precision],
) -> Vec<ModelReport> {
    let mut reports = Vec::new();
    for (name, spec) in &registry.models {
        if !(only.is_empty() || only.contains(name)) {
            continue;
        }
        for &precision in precisions {
            let mut spec = spec.clone();
            spec.train.precision = precision;
            reports.push(ModelReport {
                model: name.clone(),
                precision,
                outcome: Trainer::build(plugins, name, &spec, spec.train.seed, device)
                    .and_then(|mut trainer| check_model(&mut trainer)),
            });
        }
    }
    reports
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
    // fp16 starts at a loss scale of 2¹⁶, which overflows some networks' gradients; those
    // steps are skipped and halve the scale until one is taken, as in training.
    let mut losses = trainer.step(&batch, 0)?;
    let mut skipped = 0;
    while trainer.overflowed() {
        skipped += 1;
        if skipped == MAX_OVERFLOWS {
            bail!(
                "fp16: the gradients overflowed at every loss scale down to 2^{}",
                16 - MAX_OVERFLOWS as i32
            );
        }
        losses = trainer.step(&batch, 0)?;
    }
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
