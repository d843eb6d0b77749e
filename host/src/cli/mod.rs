//! The commands of `silico`, one file each (as cargo's `commands/<name>.rs`): its arguments
//! and its `run`. What several commands share is here: the global options and `--device`.

pub mod bench;
pub mod check;
pub mod evaluate;
pub mod export;
pub mod import;
pub mod info;
pub mod plugins;
pub mod predict;
pub mod retrain;
pub mod segment;
pub mod shape;
pub mod synth;
pub mod train;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use silico::{parse_device, precision::Precision, Plugins, Registry};
use silico_imaging::dataset::VoxelSize;
use std::path::{Path, PathBuf};

/// Label-free prediction of organelle fluorescence from transmitted light, and its evaluation.
#[derive(Parser)]
#[command(name = "silico", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    Synth(synth::Args),
    Info(info::Args),
    Plugins(plugins::Args),
    Check(check::Args),
    Train(train::Args),
    #[command(subcommand)]
    Bench(bench::Command),
    Import(import::Args),
    Retrain(retrain::Args),
    Segment(segment::Args),
    Shape(shape::Args),
    #[command(subcommand)]
    Evaluate(evaluate::Command),
    Predict(predict::Args),
    Export(export::Args),
}

/// The options every command takes.
#[derive(clap::Args)]
pub struct Global {
    /// The registry of plugin libraries and models [default: $SILICO_REGISTRY, else the first
    /// registry.toml in the executable's folder and the folders above it, else in the working
    /// directory and the folders above it; each climb stops at a checkout's root (a folder
    /// holding .git)]
    #[arg(long, global = true, value_name = "FILE")]
    registry: Option<PathBuf>,
    /// Compute threads, for libtorch and for silico's own parallel work; at most one per core
    /// [default: one per core]
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
}

impl Global {
    /// Sizes libtorch's threads and silico's one thread pool by `--threads`, clamped (with a
    /// notice) to the cores this process may use: thousands of threads crash libgomp or slow
    /// training down hundreds of times.
    pub fn apply(&self) -> Result<()> {
        let pool = rayon::ThreadPoolBuilder::new().thread_name(silico::compute_thread_name);
        let pool = match self.threads {
            Some(given) => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                let threads = (given as usize).min(cores);
                if threads < given as usize {
                    eprintln!("note: --threads {given} is more than the {cores} cores here; using {cores}");
                }
                tch::set_num_threads(threads as i32);
                silico::plugins::set_compute_threads(threads);
                pool.num_threads(threads)
            }
            None => pool,
        };
        pool.build_global()
            .context("cannot start the compute thread pool")
    }

    /// The registry file's path: `--registry`, else the one `silico::default_registry_path`
    /// finds (see there for the search order).
    pub fn registry_path(&self) -> Result<PathBuf> {
        match &self.registry {
            Some(path) => Ok(path.clone()),
            None => silico::default_registry_path(),
        }
    }

    /// The registry file.
    pub fn registry(&self) -> Result<Registry> {
        Registry::load(&self.registry_path()?)
    }

    /// `--threads` as given (not clamped: a Slurm cell runs on a node with its own cores).
    pub fn threads(&self) -> Option<usize> {
        self.threads.map(|n| n as usize)
    }

    /// The registry and its plugin libraries, opened.
    pub fn plugins(&self) -> Result<(Registry, Plugins)> {
        let registry = self.registry()?;
        let plugins = Plugins::load(&registry)?;
        Ok((registry, plugins))
    }
}

/// `--device`, for the commands that compute with libtorch.
#[derive(clap::Args)]
pub struct DeviceArg {
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
}

impl DeviceArg {
    pub fn device(&self) -> Result<tch::Device> {
        parse_device(&self.device)
    }

    /// As given, to pass on to child processes.
    pub fn as_given(&self) -> &str {
        &self.device
    }
}

/// `--precision`, for the commands that train.
#[derive(clap::Args)]
pub struct PrecisionArg {
    /// Precision of the forward passes (autocast); weights, optimizer state and checkpoints stay
    /// fp32 [default: each model's `train.precision`, fp32 unless the registry says otherwise].
    #[arg(long, value_enum)]
    precision: Option<Precision>,
}

impl PrecisionArg {
    /// The registry with every model trained at `--precision`, if given.
    pub fn apply(&self, mut registry: Registry) -> Registry {
        if let Some(precision) = self.precision {
            registry.set_precision(precision);
        }
        registry
    }

    pub fn get(&self) -> Option<Precision> {
        self.precision
    }
}

/// `--voxel-size`, for the commands that read images.
#[derive(clap::Args)]
pub struct VoxelArg {
    /// Voxel size z,y,x in µm of image files that give none [default: each such file is warned
    /// about and taken as 1 µm]
    #[arg(long = "voxel-size", value_name = "Z,Y,X", value_delimiter = ',')]
    voxel_size: Option<Vec<f32>>,
}

impl VoxelArg {
    /// What to take for files without a voxel size.
    pub fn get(&self) -> Result<VoxelSize> {
        Self::parse(self.voxel_size.as_deref())
    }

    /// `--voxel-size` values, for a command that documents its own default.
    pub fn parse(values: Option<&[f32]>) -> Result<VoxelSize> {
        let Some(values) = values else {
            return Ok(VoxelSize::FromFile);
        };
        let voxel: [f32; 3] = values.try_into().map_err(|_| {
            anyhow::anyhow!("--voxel-size takes three sizes z,y,x in µm, got {values:?}")
        })?;
        if voxel.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            anyhow::bail!("--voxel-size {values:?}: sizes must be positive µm");
        }
        Ok(VoxelSize::Given(voxel))
    }
}

/// A TOML file's table, or an empty one.
pub fn read_table(path: Option<&Path>) -> Result<toml::Table> {
    match path {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --config {}", path.display()))?
            .parse::<toml::Table>()
            .with_context(|| format!("{}: invalid TOML", path.display())),
        None => Ok(toml::Table::new()),
    }
}

/// A message on one line: its lines trimmed and joined.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether to draw progress bars: only for a person watching.
pub fn progress_visible() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// The exit status of a run stopped by a signal after saving its work (as a shell reports
/// SIGINT); SIGTERM and SIGHUP stop it as Ctrl-C does, so they give it too.
pub const INTERRUPTED: u8 = 130;

/// Says on stderr that a run stopped after saving its work, and gives [`INTERRUPTED`]. Not
/// `eprintln!`, which panics when stderr is gone, as the terminal is after SIGHUP.
pub fn interrupted(message: std::fmt::Arguments) -> std::process::ExitCode {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{message}");
    std::process::ExitCode::from(INTERRUPTED)
}
