//! `silico check`: build every model of a registry and push one tiny batch through it, forward
//! and backward, so that a broken plugin or registry entry shows up before a long run.

use crate::{
    data::Batch, model::Model, optim::Adam, plugins::Plugins, registry::Registry, train::step,
};
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
        .map(|(name, spec)| {
            let outcome = Model::build(plugins, name, spec, 1, 1)
                .and_then(|mut model| check_model(&mut model, device));
            ModelReport {
                model: name.clone(),
                outcome,
            }
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

/// One training step of the model, as `silico train` takes it, on random data; then every
/// parameter's gradient is checked.
fn check_model(model: &mut Model, device: Device) -> Result<String> {
    let started = Instant::now();
    tch::manual_seed(0);
    model.generator.set_device(device)?;
    if let Some(discriminator) = &mut model.discriminator {
        discriminator.set_device(device)?;
    }
    // `others` too, so that a model with the exclusivity term is checked like any other.
    let batch = Batch {
        signal: Tensor::randn(CHECK_SHAPE, (Kind::Float, device)),
        target: Tensor::randn(CHECK_SHAPE, (Kind::Float, device)),
        others: Some(Tensor::randn(CHECK_SHAPE, (Kind::Float, device))),
    };
    let (lr, betas) = (model.train.lr, model.train.betas);
    let generator_parameters = model.generator.parameters()?;
    let discriminator_parameters = model
        .discriminator
        .as_ref()
        .map(|d| d.parameters())
        .transpose()?;
    let mut optimizer_g = Adam::new(
        generator_parameters
            .iter()
            .map(Tensor::shallow_clone)
            .collect(),
        lr,
        betas,
    );
    let mut optimizer_d = discriminator_parameters
        .as_ref()
        .map(|ps| Adam::new(ps.iter().map(Tensor::shallow_clone).collect(), lr, betas));
    let losses = step(model, &mut optimizer_g, optimizer_d.as_mut(), &batch, 0)?;
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
        "{summary}; loss terms: {}; gradients finite; {:.2} s",
        terms.join(", "),
        started.elapsed().as_secs_f64()
    ))
}
