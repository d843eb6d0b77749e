use anyhow::Result;
use silico_imaging::synth::{self, Recipe, SynthOptions};
use std::{path::PathBuf, process::ExitCode};

/// Write a dataset of synthetic cells: bright-field, twelve fluorescent structures, ground
/// truth, previews, and one training manifest per structure.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  silico synth --out data/synth --fields 8 --seed 1")]
pub struct Args {
    /// A recipe TOML [default: the built-in `default` recipe]; or a preset: default, small, full.
    #[arg(long, value_name = "FILE|PRESET")]
    recipe: Option<String>,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[arg(long, default_value_t = 4)]
    fields: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write each structure's noise-free fluorescence (the expectation of its camera
    /// counts) as fields/<field>/noise_free/<structure>.tif, named by a path_target_noise_free
    /// manifest column, for the noise ceiling. Off by default; every other file is the same
    /// with or without it.
    #[arg(long)]
    noise_free: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let recipe = match args.recipe.as_deref() {
        None => Recipe::default(),
        Some(name @ ("default" | "small" | "full")) => Recipe::preset(name)?,
        Some(file) => Recipe::from_file(std::path::Path::new(file))?,
    };
    println!(
        "{}",
        synth::generate(
            &recipe,
            &args.out,
            args.fields,
            args.seed,
            SynthOptions {
                noise_free: args.noise_free,
            },
        )?
    );
    Ok(ExitCode::SUCCESS)
}
