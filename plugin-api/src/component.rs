//! The four component kinds, as plain Rust traits for plugin authors.

use crate::{PluginError, RTensor, Table, Volume};
use abi_stable::{
    std_types::{RString, RVec, Tuple2},
    StableAbi,
};
use serde::{de::DeserializeOwned, Serialize};
use tch::{nn::VarStore, Tensor};

/// What a component is for the host.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    Generator,
    Discriminator,
    Loss,
    Metric,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Generator => "generator",
            ComponentKind::Discriminator => "discriminator",
            ComponentKind::Loss => "loss",
            ComponentKind::Metric => "metric",
        }
    }
}

impl std::fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What every component declares: its registry name, a one-line summary and its config type,
/// whose `Default` is the component's default configuration (listed in the manifest).
pub trait Component: Sized + Send + 'static {
    /// The name a registry uses in `component = "..."`.
    const NAME: &'static str;
    /// One line for `silico plugins`.
    const SUMMARY: &'static str;
    /// Built from the component's registry table; use `#[serde(default, deny_unknown_fields)]`.
    type Config: Serialize + DeserializeOwned + Default;
}

/// The shape of the data a network is built for.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkSpec {
    /// Channels of the network's input (for a conditional discriminator: signal + target).
    pub in_channels: i64,
    /// Channels of the network's output.
    pub out_channels: i64,
}

/// A generator or discriminator: a module over (N, C, Z, Y, X) tensors whose variables live in
/// a `VarStore`. The host reaches parameters, named state and the device through the store.
pub trait Network: Component {
    fn build(config: Self::Config, spec: NetworkSpec) -> Result<Self, PluginError>;
    /// `train` switches batch-norm statistics and dropout, as in `tch`'s `ModuleT`.
    fn forward_t(&self, input: &Tensor, train: bool) -> Result<Tensor, PluginError>;
    fn var_store(&self) -> &VarStore;
    fn var_store_mut(&mut self) -> &mut VarStore;
}

/// A differentiable loss term over named tensors (see [`crate::names`]).
pub trait Loss: Component {
    fn build(config: Self::Config) -> Result<Self, PluginError>;
    /// The term added to the generator's objective; a scalar.
    fn generator_term(&self, inputs: &LossInputs) -> Result<Tensor, PluginError>;
    /// The term added to the discriminator's objective, for adversarial losses only.
    fn discriminator_term(&self, _inputs: &LossInputs) -> Result<Option<Tensor>, PluginError> {
        Ok(None)
    }
}

/// An evaluator: named numbers and tables over a stream of images.
///
/// The host calls [`Metric::update`] once per image (with every volume that image has, e.g. the
/// predictions of all structures), then [`Metric::finish`] once, then [`Metric::tables`]. A
/// metric over a whole test set keeps running sums between calls, so no set ever has to fit in
/// memory. Scalars are values; anything with a row per object, structure or pair is a
/// [`Table`], never a family of names such as `object/<i>/<field>`.
pub trait Metric: Component {
    fn build(config: Self::Config) -> Result<Self, PluginError>;
    /// Takes in one image; returns its own values (may be empty).
    fn update(&mut self, inputs: &MetricInputs) -> Result<Vec<(String, f64)>, PluginError>;
    /// The values over every image seen so far.
    fn finish(&mut self) -> Result<Vec<(String, f64)>, PluginError>;
    /// The tables over every image seen so far; called after [`Metric::finish`], so a metric
    /// may build them from what `finish` computed. None by default.
    fn tables(&mut self) -> Result<Vec<Table>, PluginError> {
        Ok(Vec::new())
    }
}

/// The tensors a loss may use, by name, and the training iteration (for schedules).
#[repr(C)]
#[derive(StableAbi)]
pub struct LossInputs {
    tensors: RVec<Tuple2<RString, RTensor>>,
    iteration: u64,
}

impl LossInputs {
    pub fn new(iteration: u64) -> Self {
        Self {
            tensors: RVec::new(),
            iteration,
        }
    }

    /// Adds a tensor under `name`, sharing its storage and autograd history.
    pub fn with(mut self, name: &str, tensor: &Tensor) -> Self {
        self.tensors
            .push(Tuple2(name.into(), tensor.shallow_clone().into()));
        self
    }

    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The tensor called `name`; an error naming it if the host did not provide it.
    pub fn tensor(&self, name: &str) -> Result<Tensor, PluginError> {
        self.get(name).ok_or_else(|| {
            PluginError::new(format!(
                "needs the tensor `{name}`, which the host did not provide"
            ))
        })
    }

    pub fn get(&self, name: &str) -> Option<Tensor> {
        self.tensors
            .iter()
            .find(|t| t.0 == name)
            .map(|t| t.1.to_tensor())
    }
}

/// The volumes a metric evaluates, by name (e.g. `prediction`, `target`).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default)]
pub struct MetricInputs {
    volumes: RVec<Tuple2<RString, Volume>>,
}

impl MetricInputs {
    pub fn with(mut self, name: &str, volume: Volume) -> Self {
        self.volumes.push(Tuple2(name.into(), volume));
        self
    }

    /// The volume called `name`; an error naming it if the host did not provide it.
    pub fn volume(&self, name: &str) -> Result<&Volume, PluginError> {
        self.volumes
            .iter()
            .find(|v| v.0 == name)
            .map(|v| &v.1)
            .ok_or_else(|| {
                PluginError::new(format!(
                    "needs the volume `{name}`, which the host did not provide"
                ))
            })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Volume)> {
        self.volumes.iter().map(|v| (v.0.as_str(), &v.1))
    }
}
