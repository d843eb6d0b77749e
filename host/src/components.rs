//! The host's handles on plugin components: plain Rust methods over the ABI objects, with
//! errors that say which component failed.

use crate::plugins::into_result;
use abi_stable::std_types::{RVec, Tuple2};
use anyhow::{Context, Result};
use silico_plugin_api::{
    ffi::{LossBox, MetricBox, NetworkBox},
    LossInputs, MetricInputs, RTensor, Table,
};
use tch::{Device, Tensor};

/// A generator or discriminator living in a plugin.
pub struct Network {
    /// e.g. "generator `unet3d`", for messages.
    pub(crate) label: String,
    pub(crate) inner: NetworkBox,
}

impl Network {
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn forward_t(&self, input: &Tensor, train: bool) -> Result<Tensor> {
        let output = into_result(
            self.inner
                .forward(&RTensor::from(input.shallow_clone()), train),
        )
        .with_context(|| format!("{} forward", self.label))?;
        Ok(output.into_tensor())
    }

    pub fn parameters(&self) -> Result<Vec<Tensor>> {
        let parameters = into_result(self.inner.parameters())
            .with_context(|| format!("{} parameters", self.label))?;
        Ok(parameters.into_iter().map(RTensor::into_tensor).collect())
    }

    /// Every variable by name (sorted), as saved in checkpoints.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let state =
            into_result(self.inner.state()).with_context(|| format!("{} state", self.label))?;
        Ok(state
            .into_iter()
            .map(|Tuple2(name, t)| (name.into_string(), t.into_tensor()))
            .collect())
    }

    pub fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let state: RVec<_> = state
            .iter()
            .map(|(name, t)| Tuple2(name.as_str().into(), RTensor::from(t.shallow_clone())))
            .collect();
        into_result(self.inner.load_state(state))
            .with_context(|| format!("{} loading state", self.label))
    }

    pub fn set_device(&mut self, device: Device) -> Result<()> {
        into_result(self.inner.set_device(device.into()))
            .with_context(|| format!("{} moving to {device:?}", self.label))
    }
}

/// A weighted term of a model's objective.
pub struct LossTerm {
    pub(crate) name: String,
    pub(crate) inner: LossBox,
}

impl LossTerm {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn generator_term(&self, inputs: &LossInputs) -> Result<Tensor> {
        let term = into_result(self.inner.generator_term(inputs))
            .with_context(|| format!("loss `{}`", self.name))?;
        Ok(term.into_tensor())
    }

    pub fn discriminator_term(&self, inputs: &LossInputs) -> Result<Option<Tensor>> {
        let term = into_result(self.inner.discriminator_term(inputs))
            .with_context(|| format!("loss `{}` (discriminator term)", self.name))?;
        Ok(term.into_option().map(RTensor::into_tensor))
    }
}

/// An evaluator living in a plugin.
pub struct Metric {
    pub(crate) name: String,
    pub(crate) inner: MetricBox,
}

impl Metric {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes in one image; returns its own values.
    pub fn update(&mut self, inputs: &MetricInputs) -> Result<Vec<(String, f64)>> {
        let values = into_result(self.inner.update(inputs))
            .with_context(|| format!("metric `{}`", self.name))?;
        Ok(named(values))
    }

    /// The values over every image taken in.
    pub fn finish(&mut self) -> Result<Vec<(String, f64)>> {
        let values =
            into_result(self.inner.finish()).with_context(|| format!("metric `{}`", self.name))?;
        Ok(named(values))
    }

    /// The tables over every image taken in (rows per object, structure, …); after `finish`.
    pub fn tables(&mut self) -> Result<Vec<Table>> {
        let tables = into_result(self.inner.tables())
            .with_context(|| format!("metric `{}` tables", self.name))?;
        Ok(tables.into_vec())
    }
}

fn named(values: RVec<Tuple2<abi_stable::std_types::RString, f64>>) -> Vec<(String, f64)> {
    values
        .into_iter()
        .map(|Tuple2(name, v)| (name.into_string(), v))
        .collect()
}
