//! silico: label-free prediction of organelle fluorescence from transmitted-light z-stacks,
//! and its evaluation beyond pixel error (Sun et al., Bioinformatics 2022).
//!
//! The host composes plugin libraries (generators, discriminators, losses, metrics built on
//! `silico-plugin-api`) into models as a registry file says, and runs them.

pub mod allocator;
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
pub mod names;
pub mod optim;
pub mod plugins;
pub mod precision;
pub mod predict;
mod progress;
pub mod registry;
pub mod retrain;
pub mod shape;
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

/// The registry's file name where none is named.
const REGISTRY_FILE: &str = "registry.toml";

/// The registry used when `--registry` names none, found at run time (never from a path fixed
/// at build time, so a copied or installed binary does not use another checkout's registry):
/// 1. the file `$SILICO_REGISTRY` names (if set and not empty);
/// 2. `registry.toml` in the executable's folder or the nearest folder above it that has one
///    (`target/release/silico` finds its checkout's `registry.toml` two folders up);
/// 3. `registry.toml` in the working directory or the nearest folder above it that has one.
///
/// Each climb stops at a checkout's root (a folder holding `.git`) or at the filesystem's root.
/// When none is found, the error names every folder it looked in.
pub fn default_registry_path() -> anyhow::Result<std::path::PathBuf> {
    use std::path::{Path, PathBuf};
    if let Some(path) = std::env::var_os("SILICO_REGISTRY").filter(|path| !path.is_empty()) {
        return Ok(path.into());
    }
    let executable_folder = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let starts = [
        ("the executable's folder and above", executable_folder),
        (
            "the working directory and above",
            std::env::current_dir().ok(),
        ),
    ];
    let mut looked: Vec<PathBuf> = Vec::new();
    let mut places = Vec::new();
    for (what, start) in starts {
        let Some(start) = start else {
            places.push(format!("{what}: unknown"));
            continue;
        };
        let first = looked.len();
        for folder in start.ancestors() {
            // The climb from a folder already looked in goes on as it did then.
            if looked.iter().any(|seen| seen == folder) {
                break;
            }
            let candidate = folder.join(REGISTRY_FILE);
            if candidate.is_file() {
                return Ok(candidate);
            }
            looked.push(folder.to_path_buf());
            if folder.join(".git").exists() {
                break;
            }
        }
        let folders: Vec<String> = looked[first..]
            .iter()
            .map(|folder| folder.display().to_string())
            .collect();
        if !folders.is_empty() {
            places.push(format!("{what}: {}", folders.join(", ")));
        }
    }
    anyhow::bail!(
        "no registry: --registry is not given, SILICO_REGISTRY is not set, and no {REGISTRY_FILE} is in {}; pass --registry FILE or set SILICO_REGISTRY",
        places.join("; ")
    )
}

/// The name of the `i`-th compute thread of silico's thread pool, as `/proc/<pid>/task/*/comm`
/// shows it (Linux keeps 15 bytes, so the prefix is short enough to keep the index).
pub fn compute_thread_name(i: usize) -> String {
    format!("silico-pool-{i}")
}
