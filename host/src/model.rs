//! A model: a generator, an optional discriminator and weighted loss terms, composed from
//! plugin components as a registry entry says, with its training settings.

use crate::{
    components::{LossTerm, Network},
    plugins::Plugins,
    registry::{ModelSpec, TrainSettings},
};
use anyhow::{bail, Context, Result};
use silico_plugin_api::{ComponentKind, LossInputs, NetworkSpec};
use tch::{Device, Kind, Tensor};

pub struct Model {
    pub name: String,
    pub generator: Network,
    pub discriminator: Option<Network>,
    /// (term, weight)
    pub losses: Vec<(LossTerm, f64)>,
    pub train: TrainSettings,
}

/// A loss term that came out NaN or infinite, which no step can follow (an error of its own,
/// so that training can say where it stopped and why).
#[derive(Debug)]
pub struct NonFiniteLoss {
    pub term: String,
    pub value: f64,
    pub iteration: u64,
}

impl std::fmt::Display for NonFiniteLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "loss `{}` is {} at iteration {}",
            self.term, self.value, self.iteration
        )
    }
}

impl std::error::Error for NonFiniteLoss {}

/// One evaluation of an objective: the weighted sum to back-propagate, and each term's value.
pub struct Objective {
    pub total: Tensor,
    pub terms: Vec<(String, f64)>,
}

impl Model {
    /// Builds every component of `spec` for data with `in_channels` → `out_channels`, and moves
    /// the networks to `device` (plugins build their variables on the CPU).
    pub fn build(
        plugins: &Plugins,
        name: &str,
        spec: &ModelSpec,
        in_channels: i64,
        out_channels: i64,
        device: Device,
    ) -> Result<Self> {
        let context = |part: &str| format!("models.{name}.{part}");
        let mut generator = plugins
            .build_network(
                ComponentKind::Generator,
                &spec.generator,
                NetworkSpec {
                    in_channels,
                    out_channels,
                },
            )
            .with_context(|| context("generator"))?;
        // A conditional discriminator sees the transmitted light next to the fluorescence.
        let mut discriminator = spec
            .discriminator
            .as_ref()
            .map(|d| {
                let spec = NetworkSpec {
                    in_channels: in_channels + out_channels,
                    out_channels: 1,
                };
                plugins.build_network(ComponentKind::Discriminator, d, spec)
            })
            .transpose()
            .with_context(|| context("discriminator"))?;
        generator.set_device(device)?;
        if let Some(d) = &mut discriminator {
            d.set_device(device)?;
        }
        let losses = spec
            .losses
            .iter()
            .enumerate()
            .map(|(i, term)| {
                let loss = plugins
                    .build_loss(&term.component)
                    .with_context(|| context(&format!("losses[{i}]")))?;
                Ok((loss, term.weight))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            name: name.to_string(),
            generator,
            discriminator,
            losses,
            train: spec.train.clone(),
        })
    }

    /// The generator's objective: Σ weight · term. A non-finite term is a [`NonFiniteLoss`].
    pub fn generator_objective(&self, inputs: &LossInputs) -> Result<Objective> {
        self.objective(inputs, |loss, inputs| loss.generator_term(inputs).map(Some))
    }

    /// The discriminator's objective, from the adversarial terms only; `None` without any.
    pub fn discriminator_objective(&self, inputs: &LossInputs) -> Result<Option<Objective>> {
        let objective = self.objective(inputs, LossTerm::discriminator_term)?;
        Ok((!objective.terms.is_empty()).then_some(objective))
    }

    fn objective(
        &self,
        inputs: &LossInputs,
        term_of: impl Fn(&LossTerm, &LossInputs) -> Result<Option<Tensor>>,
    ) -> Result<Objective> {
        let mut total: Option<Tensor> = None;
        let mut terms = Vec::new();
        for (loss, weight) in &self.losses {
            let Some(term) = term_of(loss, inputs)? else {
                continue;
            };
            if term.numel() != 1 {
                bail!(
                    "loss `{}` returned a tensor of shape {:?}, not a scalar",
                    loss.name(),
                    term.size()
                );
            }
            let value = term.to_kind(Kind::Double).f_double_value(&[])?;
            if !value.is_finite() {
                return Err(NonFiniteLoss {
                    term: loss.name().to_string(),
                    value,
                    iteration: inputs.iteration(),
                }
                .into());
            }
            terms.push((loss.name().to_string(), value));
            let weighted = term.reshape([] as [i64; 0]) * *weight;
            total = Some(match total {
                Some(sum) => sum + weighted,
                None => weighted,
            });
        }
        Ok(Objective {
            total: total.unwrap_or_else(|| Tensor::from(0.0f32)),
            terms,
        })
    }
}
