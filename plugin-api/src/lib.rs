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
//! [`export_plugin!`], called once per library, takes one section per kind, alone or several
//! at once; one of:
//!
//! ```ignore
//! silico_plugin_api::export_plugin! { generators: [UNet3d] }         // impl Network
//! silico_plugin_api::export_plugin! { discriminators: [PatchGan3d] } // impl Network
//! silico_plugin_api::export_plugin! { losses: [Huber] }              // impl Loss
//! silico_plugin_api::export_plugin! { metrics: [Exclusivity] }       // impl Metric
//! silico_plugin_api::export_plugin! {
//!     generators: [UNet3d, R2UNet3d],
//!     discriminators: [PatchGan3d],
//!     losses: [MeanSquaredError, MeanAbsoluteError],
//!     metrics: [Exclusivity],
//! }
//! ```
//!
//! `examples/plugin-template` (a loss) and `examples/network-template` (a small 3D U-Net) are
//! complete libraries to copy; [`testing`] checks a component in process, as the host would
//! use it, in an ordinary `cargo test`; the `silico-layers` crate (`plugins/layers`) holds the
//! convolutions and normalizations the network plugins share.
//!
//! - [`Network`]: generators and discriminators, built on a `tch` `VarStore`; the host drives
//!   forward passes, parameters, named state and device moves through it.
//! - [`Loss`]: a scalar, differentiable term over named tensors ([`LossInputs`]).
//! - [`Metric`]: named numbers over plain f32 [`Volume`]s; needs no torch. Rows (one per
//!   object, per structure, …) come back as [`Table`]s of named, typed columns from
//!   [`Metric::tables`], built with [`Table::builder`] (see [`Table`] for the whole API).
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
mod table;
mod tensor;
/// An in-process test kit: builds a component as the host does and checks shapes, gradients,
/// state round trips and config refusal in an ordinary `cargo test`.
pub mod testing;
mod volume;

pub use component::{
    Component, ComponentKind, Loss, LossInputs, Metric, MetricInputs, Network, NetworkSpec,
};
pub use config::{parse_config, NoConfig};
pub use error::PluginError;
pub use table::{ColumnValue, Table, TableBuilder};
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
    /// The voxel-wise maximum of the other structures' current predictions of the same patches,
    /// shaped like `prediction` (one channel): what the exclusivity loss compares against.
    pub const OTHERS: &str = "others";
}

/// Everything a plugin author needs in scope.
pub mod prelude {
    pub use crate::{
        names, Component, Loss, LossInputs, Metric, MetricInputs, Network, NetworkSpec, NoConfig,
        PluginError, Table, Volume,
    };
    pub use serde::{Deserialize, Serialize};
    pub use tch::{nn, Device, Kind, Tensor};
}

#[doc(hidden)]
pub mod __private {
    pub use crate::ffi::*;
    pub use abi_stable;
}
