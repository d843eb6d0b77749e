use super::{interrupted, progress_visible, DeviceArg, Global, PrecisionArg, VoxelArg};
use anyhow::Result;
use silico::{
    retrain::{self, RetrainRequest},
    train::StopSignal,
};
use std::{path::PathBuf, process::ExitCode};

/// Retrain every structure's model in turn for organelle exclusivity (Sun et al. 2022, Section
/// 2.4): each with its loss plus p times the exclusivity term, for each p of the registry's
/// `retrain` table, keeping the p with the best overall exclusivity / MSE. Writes Table 1, the
/// trajectory (Fig. 5) and MSE against exclusivity (Fig. 6) under OUT/report. Ctrl-C, SIGTERM or
/// SIGHUP stops it with a checkpoint (exit status 130); continue with --resume.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico retrain --model unet-tiny --data data/synth --initial runs/unet-tiny --out retrain/unet-tiny"
)]
pub struct Args {
    #[arg(long)]
    model: String,
    /// A folder holding `<structure>.csv` for every structure (as `silico synth` writes).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// A folder of run folders named after their structures (`silico train --out
    /// INITIAL/<structure>`), all of --model.
    #[arg(long, value_name = "DIR")]
    initial: PathBuf,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Use only these structures [default: every run folder in --initial].
    #[arg(long = "structure", value_name = "NAME")]
    structures: Vec<String>,
    /// Iterations per retraining run [default: the registry's `retrain.iterations`].
    #[arg(long)]
    iterations: Option<u64>,
    /// Continue an interrupted retraining in --out.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    device: DeviceArg,
    #[command(flatten)]
    voxel: VoxelArg,
    #[command(flatten)]
    precision: PrecisionArg,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let (registry, plugins) = global.plugins()?;
    let registry = args.precision.apply(registry);
    let request = RetrainRequest {
        model: args.model,
        data: args.data,
        initial: args.initial,
        out: args.out,
        structures: args.structures,
        iterations: args.iterations,
        resume: args.resume,
        device: args.device.device()?,
        progress: progress_visible(),
        voxel_size: args.voxel.get()?,
    };
    let stop = StopSignal::on_ctrl_c()?;
    let outcome = retrain::retrain(&registry, &plugins, &request, &stop)?;
    if outcome.interrupted {
        return Ok(interrupted(format_args!(
            "interrupted; progress saved in {}; continue with the same command and --resume",
            request.out.display()
        )));
    }
    print!("{}", retrain::summary(&outcome.state));
    println!("wrote {}", request.out.join("report").display());
    Ok(ExitCode::SUCCESS)
}
