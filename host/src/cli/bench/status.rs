use crate::cli::Global;
use anyhow::Result;
use silico::bench::{cell, runner, slurm};
use std::{path::PathBuf, process::ExitCode};

/// Show each cell of a benchmark folder: pending, queued or running (Slurm), started, done, or
/// failed with its reason.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  silico bench status bench/demo")]
pub struct Args {
    /// A folder `silico bench run` wrote.
    out: PathBuf,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let registry = global.registry()?;
    let plan = runner::load_plan(&args.out, &registry)?;
    let cells = plan.cells();
    let queue = slurm::states(&args.out)?;
    let mut done = 0;
    for c in &cells {
        let state = cell::state(c, &args.out);
        done += usize::from(state == cell::CellState::Done);
        let shown = match (&state, queue.get(&c.id())) {
            (cell::CellState::Done | cell::CellState::Failed(_), _) | (_, None) => {
                state.to_string()
            }
            (_, Some(job)) if job == "RUNNING" => "running (Slurm)".to_string(),
            (_, Some(job)) if slurm::is_active(job) => format!("queued (Slurm {job})"),
            (_, Some(job)) => {
                let log = slurm::task_log(&args.out, &c.id())?
                    .and_then(|log| std::fs::read_to_string(log).ok())
                    .and_then(|text| text.lines().last().map(str::to_string))
                    .unwrap_or_default();
                format!("failed: Slurm ended it {job} {log}")
            }
        };
        println!("{:<48} {shown}", c.id());
    }
    println!("{done} of {} cells done", cells.len());
    Ok(ExitCode::SUCCESS)
}
