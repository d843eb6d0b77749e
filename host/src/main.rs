//! `silico`: the table of commands. Each command is a file in `cli/` with its arguments and
//! its `run`; errors come back here and are printed on one line.

mod cli;

use clap::Parser;
use cli::{bench, evaluate, Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Cli { global, command } = Cli::parse();
    let outcome = global.apply().and_then(|()| match command {
        Command::Synth(args) => cli::synth::run(args),
        Command::Info(args) => cli::info::run(args),
        Command::Plugins(args) => cli::plugins::run(args, &global),
        Command::Check(args) => cli::check::run(args, &global),
        Command::Train(args) => cli::train::run(args, &global),
        Command::Bench(bench::Command::Run(args)) => bench::run::run(args, &global),
        Command::Bench(bench::Command::Cell(args)) => bench::cell::run(args, &global),
        Command::Bench(bench::Command::Status(args)) => bench::status::run(args, &global),
        Command::Bench(bench::Command::Report(args)) => bench::report::run(args, &global),
        Command::Bench(bench::Command::Speed(args)) => bench::speed::run(args, &global),
        Command::Import(args) => cli::import::run(args, &global),
        Command::Retrain(args) => cli::retrain::run(args, &global),
        Command::Segment(args) => cli::segment::run(args, &global),
        Command::Shape(args) => cli::shape::run(args),
        Command::Predict(args) => cli::predict::run(args, &global),
        Command::Export(args) => cli::export::run(args, &global),
        Command::Evaluate(evaluate::Command::Exclusivity(args)) => {
            evaluate::exclusivity::run(args, &global)
        }
        Command::Evaluate(evaluate::Command::Jaccard(args)) => {
            evaluate::jaccard::run(args, &global)
        }
        Command::Evaluate(evaluate::Command::Objects(args)) => {
            evaluate::objects::run(args, &global)
        }
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            // One line: the context chain, outermost first.
            eprintln!("error: {}", cli::one_line(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}
