use super::{interrupted, progress_visible, DeviceArg, Global, PrecisionArg, VoxelArg};
use anyhow::Result;
use silico::train::{self, StopSignal, TrainRequest};
use silico_imaging::dataset::NonFinite;
use std::{path::PathBuf, process::ExitCode};

/// Train a registry model to predict one structure from bright-field patches; writes
/// checkpoints (safetensors) and losses.csv to --out. Ctrl-C, SIGTERM or SIGHUP stops it at the
/// next iteration with a checkpoint (exit status 130). One process at a time writes --out.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico train --model unet-tiny --structure nucleoli --data data/synth --out runs/nucleoli"
)]
pub struct Args {
    #[arg(long)]
    model: String,
    /// The structure to predict, e.g. nucleoli (names the manifest `<structure>.csv`).
    #[arg(long)]
    structure: String,
    /// A folder holding `<structure>.csv` (as `silico synth` writes), or a manifest CSV.
    #[arg(long, value_name = "DIR|CSV")]
    data: PathBuf,
    /// The run folder [default: runs/<model>-<structure>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Override the registry's iteration count.
    #[arg(long)]
    iterations: Option<u64>,
    #[command(flatten)]
    device: DeviceArg,
    #[command(flatten)]
    precision: PrecisionArg,
    #[command(flatten)]
    voxel: VoxelArg,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Replace NaN and infinite voxels of a bright-field image by the mean of its finite ones
    /// (saying how many), instead of refusing the image. Targets are never repaired.
    #[arg(long)]
    repair_non_finite: bool,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    // The structure names the run folder, and every prediction folder of the checkpoint.
    silico::names::check_name("--structure", &args.structure)?;
    let (registry, plugins) = global.plugins()?;
    let registry = args.precision.apply(registry);
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from("runs").join(format!("{}-{}", args.model, args.structure))
    });
    let request = TrainRequest {
        definition: registry.model_table(&args.model)?.clone(),
        model: args.model,
        structure: args.structure,
        data: args.data,
        out,
        iterations: args.iterations,
        device: args.device.device()?,
        resume: args.resume,
        init: None,
        others: Vec::new(),
        progress: progress_visible(),
        voxel_size: args.voxel.get()?,
        non_finite: match args.repair_non_finite {
            true => NonFinite::Repair,
            false => NonFinite::Refuse,
        },
    };
    let stop = StopSignal::on_ctrl_c()?;
    let outcome = train::train(&plugins, &request, &stop)?;
    if outcome.interrupted {
        return Ok(interrupted(format_args!(
            "interrupted at iteration {}; checkpoint saved in {}; continue with the same command and --resume",
            outcome.iterations,
            outcome.checkpoint.display()
        )));
    }
    let losses: Vec<String> = outcome
        .last_losses
        .iter()
        .map(|(n, v)| format!("{n} {v:.4}"))
        .collect();
    println!(
        "trained {} iterations ({:.3} s/iteration); last losses: {}; checkpoint: {}",
        outcome.iterations,
        outcome.seconds_per_iteration,
        losses.join(", "),
        outcome.checkpoint.display()
    );
    Ok(ExitCode::SUCCESS)
}
