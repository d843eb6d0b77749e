//! `silico bench <action>`: run a benchmark plan, one of its cells, its status, its report; and
//! the training-speed measurement.

pub mod cell;
pub mod report;
pub mod run;
pub mod speed;
pub mod status;

use clap::Subcommand;

/// Benchmark plugin combinations: models × structures × seeds on one dataset, into one report.
#[derive(Subcommand)]
pub enum Command {
    Run(run::Args),
    Cell(cell::Args),
    Status(status::Args),
    Report(report::Args),
    Speed(speed::Args),
}
