use crate::cli::{interrupted, DeviceArg, Global};
use anyhow::{Context, Result};
use silico::{
    bench::{
        local::{run_cells, CellCommand, CellOutcome},
        runner,
        slurm::{self, SlurmSettings},
        summary, Cell, Plan,
    },
    files::FolderLock,
    train::StopSignal,
};
use std::{io::Write, path::PathBuf, process::ExitCode};

/// Run a benchmark plan: every cell (model × structure × seed) is trained, predicts its test
/// images and is evaluated; then each model's exclusivity across structures, and the results.
/// Rerunning skips finished cells and resumes interrupted ones; a cell whose definition changed
/// is refused unless --rerun-changed. Ctrl-C, SIGTERM or SIGHUP stops the running cells with
/// their checkpoints (exit status 130); rerun the same command to continue.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico bench run examples/bench.toml --out bench/demo --jobs 2"
)]
pub struct Args {
    /// The plan (TOML; see examples/bench.toml).
    plan: PathBuf,
    /// The data folder, replacing the plan's `data`.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Where cells run: `local` (child processes here) or `slurm` (one job array, and a report
    /// job after it; the plan's [slurm] table gives the resources).
    #[arg(long, value_enum, default_value_t = Executor::Local)]
    executor: Executor,
    /// Cells run at once by the local executor, each with its share of --threads.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Run again, from scratch, the cells whose definition or data changed since they ran.
    #[arg(long)]
    rerun_changed: bool,
    #[command(flatten)]
    device: DeviceArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Executor {
    Local,
    Slurm,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let stop = StopSignal::on_ctrl_c()?;
    let (registry, plugins) = global.plugins()?;
    args.device.device()?;
    let plan = Plan::load(&args.plan, args.data.as_deref(), &registry)?;
    let slurm_settings = SlurmSettings::from_table(plan.slurm.as_ref())
        .with_context(|| args.plan.display().to_string())?;
    let _lock = FolderLock::acquire(&args.out)?;
    let todo = runner::prepare(&plugins, &plan, &args.out, args.rerun_changed)?;
    let total = plan.cells().len();
    println!(
        "{total} cells ({} models × {} structures × {} seeds); {} to run",
        plan.models.len(),
        plan.structures.len(),
        plan.seeds.len(),
        todo.len()
    );
    let silico = std::env::current_exe().context("cannot find the silico executable")?;
    if let (Executor::Slurm, false) = (args.executor, todo.is_empty()) {
        let command = CellCommand {
            silico,
            registry: global.registry_path()?,
            threads: global
                .threads()
                .or(slurm_settings.cpus_per_task.map(|n| n as usize))
                .unwrap_or(1),
            device: args.device.as_given().to_string(),
        };
        let cells: Vec<String> = todo.iter().map(Cell::id).collect();
        let submission = slurm::submit(&args.out, &cells, &slurm_settings, &command)?;
        println!(
            "submitted {} cells as job array {}, and the report as job {} after it; follow them with `silico bench status {}`",
            cells.len(),
            submission.array,
            submission.report,
            args.out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let jobs = args.jobs.max(1);
    let threads = global
        .threads()
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let command = CellCommand {
        silico,
        registry: global.registry_path()?,
        threads: (threads / jobs).max(1),
        device: args.device.as_given().to_string(),
    };
    let mut finished = 0;
    let ended = run_cells(&args.out, &todo, jobs, &command, &stop, |done| {
        finished += 1;
        let line = match &done.outcome {
            CellOutcome::Done => format!("done    {}", done.cell),
            CellOutcome::Interrupted => format!("stopped {}", done.cell),
            CellOutcome::Failed(reason) => format!("FAILED  {}: {reason}", done.cell),
        };
        // Not println!: after SIGHUP the terminal is gone, and the cells must still be awaited.
        let _ = writeln!(std::io::stdout(), "[{finished}/{}] {line}", todo.len());
    })?;
    if stop.raised() {
        let done = ended
            .iter()
            .filter(|f| matches!(f.outcome, CellOutcome::Done))
            .count();
        return Ok(interrupted(format_args!(
            "interrupted: {done} of the {} cells to run finished, the others stopped with their checkpoints in {}; continue with the same command",
            todo.len(),
            args.out.display()
        )));
    }
    let results = summary::summarize(&plugins, &plan, &args.out)?;
    println!(
        "{} of {total} cells done, {} failed; results in {}",
        results.cells.len(),
        results.failed.len(),
        args.out.join("results.csv").display()
    );
    Ok(if results.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
