use crate::cli::{interrupted, one_line, DeviceArg, Global};
use anyhow::{Context, Result};
use silico::{
    bench::{
        cell::{record_failure, CellRun},
        runner,
    },
    train::StopSignal,
};
use std::{path::PathBuf, process::ExitCode};

/// Run one cell of a prepared benchmark folder (what `bench run` starts per cell, locally or as
/// a Slurm array task).
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico bench cell --out bench/demo --cell unet-tiny/nucleoli/seed0"
)]
pub struct Args {
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The cell: MODEL/STRUCTURE/seedK.
    #[arg(long)]
    cell: String,
    #[command(flatten)]
    device: DeviceArg,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    // First: `bench run` passes SIGTERM on as soon as it stops, maybe while this one starts.
    let stop = StopSignal::on_ctrl_c()?;
    let (registry, plugins) = global.plugins()?;
    let plan = runner::load_plan(&args.out, &registry)?;
    let cells = plan.cells();
    let cell = cells
        .iter()
        .find(|c| c.id() == args.cell)
        .with_context(|| {
            format!(
                "{}: the plan has no cell `{}` (cells are MODEL/STRUCTURE/seedK)",
                args.out.display(),
                args.cell
            )
        })?;
    let run = CellRun {
        plugins: &plugins,
        registry: &registry,
        plan: &plan,
        out: &args.out,
        device: args.device.device()?,
    };
    match run.run(cell, &stop) {
        Ok(Some(_)) => Ok(ExitCode::SUCCESS),
        Ok(None) => Ok(interrupted(format_args!(
            "interrupted; cell {} saved its training in {}; `silico bench run` continues it",
            cell.id(),
            cell.dir(&args.out).join("run").display()
        ))),
        Err(error) => {
            record_failure(cell, &args.out, &one_line(&format!("{error:#}")))?;
            Err(error)
        }
    }
}
