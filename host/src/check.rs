//! `silico check`: build every model of a registry and push one tiny batch through it, forward
//! and backward, so that a broken plugin or registry entry shows up before a long run.

use crate::{model::Model, plugins::Plugins, registry::Registry};
use anyhow::{bail, Result};
use silico_plugin_api::{names, LossInputs};
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

fn check_model(model: &mut Model, device: Device) -> Result<String> {
    let started = Instant::now();
    tch::manual_seed(0);
    model.generator.set_device(device)?;
    let signal = Tensor::randn(CHECK_SHAPE, (Kind::Float, device));
    let target = Tensor::randn(CHECK_SHAPE, (Kind::Float, device));
    let prediction = model.generator.forward_t(&signal, true)?;
    if prediction.size() != target.size() {
        bail!(
            "{} maps {:?} to {:?}, expected {:?}",
            model.generator.label(),
            signal.size(),
            prediction.size(),
            target.size()
        );
    }
    let mut inputs = LossInputs::new(0)
        .with(names::SIGNAL, &signal)
        .with(names::PREDICTION, &prediction)
        .with(names::TARGET, &target);
    if let Some(discriminator) = &mut model.discriminator {
        discriminator.set_device(device)?;
        let fake = discriminator.forward_t(&Tensor::cat(&[&signal, &prediction], 1), true)?;
        let real = discriminator.forward_t(&Tensor::cat(&[&signal, &target], 1), true)?;
        inputs = inputs
            .with(names::DISC_FAKE, &fake)
            .with(names::DISC_REAL, &real);
    }
    let generator_parameters = model.generator.parameters()?;
    let objective = model.generator_objective(&inputs)?;
    objective.total.f_backward()?;
    check_gradients(model.generator.label(), &generator_parameters)?;
    let mut summary = format!(
        "{} ({} parameters)",
        model.generator.label(),
        parameter_count(&generator_parameters)
    );
    if let Some(discriminator) = &model.discriminator {
        let detached = prediction.detach();
        let fake = discriminator.forward_t(&Tensor::cat(&[&signal, &detached], 1), true)?;
        let real = discriminator.forward_t(&Tensor::cat(&[&signal, &target], 1), true)?;
        let inputs = LossInputs::new(0)
            .with(names::SIGNAL, &signal)
            .with(names::PREDICTION, &detached)
            .with(names::TARGET, &target)
            .with(names::DISC_FAKE, &fake)
            .with(names::DISC_REAL, &real);
        let parameters = discriminator.parameters()?;
        match model.discriminator_objective(&inputs)? {
            Some(objective) => {
                objective.total.f_backward()?;
                check_gradients(discriminator.label(), &parameters)?;
            }
            None => bail!(
                "{} has no adversarial loss term to train it; add one to `losses`",
                discriminator.label()
            ),
        }
        summary += &format!(
            ", {} ({} parameters)",
            discriminator.label(),
            parameter_count(&parameters)
        );
    }
    let terms: Vec<String> = objective
        .terms
        .iter()
        .map(|(name, value)| format!("{name} {value:.4}"))
        .collect();
    Ok(format!(
        "{summary}; loss terms: {}; gradients finite; {:.2} s",
        terms.join(", "),
        started.elapsed().as_secs_f64()
    ))
}
