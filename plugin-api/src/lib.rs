//! The stable plugin ABI of silico, and the small SDK a plugin author uses.
//!
//! A plugin library is an ordinary `cdylib` crate that implements one or more of four component
//! kinds in plain Rust and exports them with one macro:
//!
//! ```ignore
//! use silico_plugin_api::prelude::*;
//!
//! pub struct MeanSquaredError { reduction: Reduction }
//! impl Component for MeanSquaredError {
//!     const NAME: &'static str = "mse";
//!     const SUMMARY: &'static str = "Mean squared error between prediction and target";
//!     type Config = ReductionConfig;
//! }
//! impl Loss for MeanSquaredError { /* build, generator_term */ }
//!
//! silico_plugin_api::export_plugin! { losses: [MeanSquaredError] }
//! ```
//!
//! - [`Network`]: generators and discriminators, built on a `tch` `VarStore`; the host drives
//!   forward passes, parameters, named state and device moves through it.
//! - [`Loss`]: a scalar, differentiable term over named tensors ([`LossInputs`]).
//! - [`Metric`]: named numbers over plain f32 [`Volume`]s; needs no torch.
//!
//! Tensors cross the boundary as [`RTensor`], an owned handle to a libtorch tensor: host and
//! plugins link the same shared libtorch, so one autograd graph spans the boundary. Everything
//! abi_stable-specific stays in this crate: plugin authors never name it, so the transport can
//! change without touching a plugin.

mod component;
mod config;
mod error;
#[doc(hidden)]
// `sabi_trait` expands to impls inside a const block, which this lint flags.
#[allow(non_local_definitions)]
pub mod ffi;
mod tensor;
mod volume;

pub use component::{
    Component, ComponentKind, Loss, LossInputs, Metric, MetricInputs, Network, NetworkSpec,
};
pub use config::{parse_config, NoConfig};
pub use error::PluginError;
pub use tch;
pub use tensor::{RDevice, RTensor};
pub use volume::Volume;

/// The version of this ABI crate; a plugin must be built against a compatible one.
pub const PLUGIN_API_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The libtorch release this crate was compiled against (from the torch installation tch used).
pub const TORCH_VERSION: &str = env!("SILICO_TORCH_VERSION");

/// Standard names of the tensors a host hands to losses.
pub mod names {
    /// The generator's output for the current batch.
    pub const PREDICTION: &str = "prediction";
    /// The ground-truth fluorescence for the current batch.
    pub const TARGET: &str = "target";
    /// The transmitted-light input for the current batch.
    pub const SIGNAL: &str = "signal";
    /// Discriminator logits on (signal, target).
    pub const DISC_REAL: &str = "disc_real";
    /// Discriminator logits on (signal, prediction).
    pub const DISC_FAKE: &str = "disc_fake";
    /// The other organelles' predictions for the same batch, stacked on the channel axis.
    pub const OTHERS: &str = "others";
}

/// Everything a plugin author needs in scope.
pub mod prelude {
    pub use crate::{
        names, Component, Loss, LossInputs, Metric, MetricInputs, Network, NetworkSpec, NoConfig,
        PluginError, Volume,
    };
    pub use serde::{Deserialize, Serialize};
    pub use tch::{nn, Device, Kind, Tensor};
}

#[doc(hidden)]
pub mod __private {
    pub use crate::ffi::*;
    pub use abi_stable;
}
