//! The local executor: each unfinished cell runs as a child `silico bench cell` process, `jobs`
//! at a time, each with its share of the threads; its output goes to the cell's `log.txt`. A
//! failed cell is recorded and the others go on. Child processes keep cells apart: a crash or a
//! kill of one loses nothing of the others, and each reports its own peak memory.

use super::{cell, plan::Cell};
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
    /// `None`: done; else the reason it failed.
    pub failure: Option<String>,
}

/// Runs `cells` under `out`, at most `jobs` at once; returns how each ended, in the order they
/// finished.
pub fn run_cells(
    out: &Path,
    cells: &[Cell],
    jobs: usize,
    command: &CellCommand,
    mut on_finish: impl FnMut(&Finished),
) -> Result<Vec<Finished>> {
    let mut waiting: Vec<&Cell> = cells.iter().rev().collect();
    let mut running: Vec<(&Cell, Child)> = Vec::new();
    let mut finished = Vec::new();
    while !waiting.is_empty() || !running.is_empty() {
        while running.len() < jobs.max(1) {
            let Some(cell) = waiting.pop() else { break };
            running.push((cell, command.spawn(out, cell)?));
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut still = Vec::with_capacity(running.len());
        for (cell, mut child) in running {
            match child.try_wait()? {
                None => still.push((cell, child)),
                Some(status) => {
                    let failure = match (status.success(), cell::state(cell, out)) {
                        (true, _) => None,
                        (false, cell::CellState::Failed(reason)) => Some(reason),
                        (false, _) => Some(format!(
                            "its process ended with {status}; see {}",
                            cell.dir(out).join("log.txt").display()
                        )),
                    };
                    let done = Finished {
                        cell: cell.id(),
                        failure,
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
