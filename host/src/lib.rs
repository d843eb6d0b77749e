//! silico: label-free prediction of organelle fluorescence from transmitted-light z-stacks,
//! and its evaluation beyond pixel error (Sun et al., Bioinformatics 2022).
//!
//! The host composes plugin libraries (generators, discriminators, losses, metrics built on
//! `silico-plugin-api`) into models as a registry file says, and runs them.

pub mod bench;
pub mod check;
pub mod checkpoint;
pub mod components;
pub mod data;
pub mod evaluate;
pub mod export;
pub mod files;
pub mod import;
pub mod model;
pub mod optim;
pub mod plugins;
pub mod precision;
pub mod predict;
pub mod registry;
pub mod retrain;
pub mod tensorboard;
pub mod train;
pub mod trainer;

mod device;
pub use device::parse_device;

pub use components::{LossTerm, Metric, Network};
pub use model::Model;
pub use plugins::{Library, Plugins};
pub use registry::Registry;
pub use trainer::Trainer;

/// The registry used when neither `--registry` nor `SILICO_REGISTRY` names one: the project's
/// own `registry.toml`, so that `silico` works from any folder.
pub fn default_registry_path() -> std::path::PathBuf {
    match std::env::var_os("SILICO_REGISTRY") {
        Some(path) => path.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the host crate lives inside the workspace")
            .join("registry.toml"),
    }
}

/// The name of the `i`-th compute thread of silico's thread pool, as `/proc/<pid>/task/*/comm`
/// shows it (Linux keeps 15 bytes, so the prefix is short enough to keep the index).
pub fn compute_thread_name(i: usize) -> String {
    format!("silico-pool-{i}")
}
