use super::Global;
use anyhow::Result;
use silico::train::import_weights;
use std::{path::PathBuf, process::ExitCode};

/// Make a run folder from generator weights trained elsewhere (safetensors with the plugin's
/// variable names, e.g. from PyTorch or python/import_fnet.py).
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico import --weights fnet.safetensors --model unet --structure nucleoli --out runs/fnet"
)]
pub struct Args {
    #[arg(long, value_name = "FILE")]
    weights: PathBuf,
    #[arg(long)]
    model: String,
    #[arg(long)]
    structure: String,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let (registry, plugins) = global.plugins()?;
    let dir = import_weights(
        &registry,
        &plugins,
        &args.model,
        &args.structure,
        &args.weights,
        &args.out,
    )?;
    println!(
        "imported {} as model `{}` for `{}`: {}",
        args.weights.display(),
        args.model,
        args.structure,
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
