use crate::cli::Global;
use anyhow::Result;
use silico::bench::{runner, summary};
use std::{path::PathBuf, process::ExitCode};

/// Rebuild a benchmark folder's results (results.csv, results.json and the report) from the
/// cells finished so far.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  silico bench report bench/demo")]
pub struct Args {
    /// A folder `silico bench run` wrote.
    out: PathBuf,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let (registry, plugins) = global.plugins()?;
    let plan = runner::load_plan(&args.out, &registry)?;
    let results = summary::summarize(&plugins, &plan, &args.out)?;
    println!(
        "{} of {} cells done, {} failed; wrote {}",
        results.cells.len(),
        plan.cells().len(),
        results.failed.len(),
        args.out.join("results.csv").display()
    );
    Ok(ExitCode::SUCCESS)
}
