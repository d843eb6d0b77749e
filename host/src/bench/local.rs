//! The local executor: each unfinished cell runs as a child `silico bench cell` process, `jobs`
//! at a time, each with its share of the threads; its output goes to the cell's `log.txt`. A
//! failed cell is recorded and the others go on. Child processes keep cells apart: a crash or a
//! kill of one loses nothing of the others, and each reports its own peak memory.
//!
//! When Ctrl-C, SIGTERM or SIGHUP reaches the executor, it starts no further cell and passes
//! SIGTERM on to the running ones, which checkpoint and end as `interrupted`; a rerun resumes
//! them.

use super::{cell, plan::Cell};
use crate::train::StopSignal;
use anyhow::{Context, Result};
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// How to start `silico bench cell` for one cell.
pub struct CellCommand {
    /// The `silico` executable.
    pub silico: PathBuf,
    pub registry: PathBuf,
    /// Threads for each cell's process.
    pub threads: usize,
    pub device: String,
}

impl CellCommand {
    fn spawn(&self, out: &Path, cell: &Cell) -> Result<Child> {
        let log = cell.dir(out).join("log.txt");
        let file =
            fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        Command::new(&self.silico)
            .args(["bench", "cell", "--out"])
            .arg(out)
            .args(["--cell", &cell.id(), "--registry"])
            .arg(&self.registry)
            .args([
                "--threads",
                &self.threads.to_string(),
                "--device",
                &self.device,
            ])
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {}", self.silico.display()))
    }
}

/// How one cell's process ended.
pub struct Finished {
    pub cell: String,
    pub outcome: CellOutcome,
}

pub enum CellOutcome {
    Done,
    /// Stopped by a signal; its checkpoint is saved, and a rerun resumes it.
    Interrupted,
    /// The reason it failed.
    Failed(String),
}

/// The exit status of `silico bench cell` interrupted after saving its checkpoint.
const CELL_INTERRUPTED: i32 = 130;

/// Runs `cells` under `out`, at most `jobs` at once, until all ended or `stop` is raised;
/// returns how each ended, in the order they finished.
pub fn run_cells(
    out: &Path,
    cells: &[Cell],
    jobs: usize,
    command: &CellCommand,
    stop: &StopSignal,
    mut on_finish: impl FnMut(&Finished),
) -> Result<Vec<Finished>> {
    let mut waiting: Vec<&Cell> = cells.iter().rev().collect();
    let mut running: Vec<(&Cell, Child)> = Vec::new();
    let mut finished = Vec::new();
    let mut passed_on = false;
    while !waiting.is_empty() || !running.is_empty() {
        while running.len() < jobs.max(1) && !stop.raised() {
            let Some(cell) = waiting.pop() else { break };
            running.push((cell, command.spawn(out, cell)?));
        }
        std::thread::sleep(Duration::from_millis(100));
        if stop.raised() && !passed_on {
            // A signal sent to the whole process group (Ctrl-C at a terminal) reached the
            // cells already; one sent to this process alone (`kill`, a scheduler) did not.
            waiting.clear();
            for (_, child) in &running {
                terminate(child);
            }
            passed_on = true;
        }
        let mut still = Vec::with_capacity(running.len());
        for (cell, mut child) in running {
            match child.try_wait()? {
                None => still.push((cell, child)),
                Some(status) => {
                    let outcome = match (status.success(), cell::state(cell, out)) {
                        (true, _) => CellOutcome::Done,
                        (false, cell::CellState::Failed(reason)) => CellOutcome::Failed(reason),
                        // Ended by the signal before it could install its handler, or after.
                        (false, _) if stop.raised() || status.code() == Some(CELL_INTERRUPTED) => {
                            CellOutcome::Interrupted
                        }
                        (false, _) => CellOutcome::Failed(format!(
                            "its process ended with {status}; see {}",
                            cell.dir(out).join("log.txt").display()
                        )),
                    };
                    let done = Finished {
                        cell: cell.id(),
                        outcome,
                    };
                    on_finish(&done);
                    finished.push(done);
                }
            }
        }
        running = still;
    }
    Ok(finished)
}

/// Asks a cell's process to stop as SIGTERM asks `silico bench cell`: at the next iteration
/// boundary, with a checkpoint.
fn terminate(child: &Child) {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill only sends a signal; the child is not yet reaped, so `pid` is still ours.
    // A child that has just ended makes it fail harmlessly.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}
