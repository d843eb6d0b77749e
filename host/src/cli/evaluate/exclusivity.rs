use crate::cli::Global;
use anyhow::Result;
use silico::evaluate::{self, ImagePaths};
use std::{path::PathBuf, process::ExitCode};

/// Organelle exclusivity (Sun et al. 2022, Section 2.3): overall, per organelle and pairwise,
/// over the predictions of every structure for the same bright-field images; writes
/// exclusivity.json, exclusivity.csv and a pairwise heat map to --out.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico evaluate exclusivity --predictions predictions --out report"
)]
pub struct Args {
    /// One folder per structure, each with one TIFF per image (as `silico predict` writes);
    /// NAME=DIR or DIR, repeat to evaluate several sets (each into --out/NAME).
    #[arg(long = "predictions", value_name = "NAME=DIR", required = true)]
    predictions: Vec<String>,
    /// Count only the non-zero voxels of each image's mask: a path with {image} for the
    /// image's name, e.g. data/fields/{image}/labels/cells.tif (inside cells).
    #[arg(long, value_name = "PATH")]
    masks: Option<String>,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let (_, plugins) = global.plugins()?;
    let masks = args
        .masks
        .map(|m| ImagePaths::parse(&m, "--masks"))
        .transpose()?;
    let predictions = args
        .predictions
        .iter()
        .map(|p| evaluate::PredictionSource::parse(p))
        .collect::<Result<Vec<_>>>()?;
    let reports = evaluate::exclusivity_report(&plugins, &predictions, masks.as_ref(), &args.out)?;
    for (name, report) in &reports {
        if reports.len() > 1 {
            println!("{name}:");
        }
        println!(
            "overall exclusivity {:.4} over {} voxels of {} images (means over all voxels of all images)",
            report.overall,
            report.voxels,
            report.images.len()
        );
        for (structure, value) in report.structures.iter().zip(&report.organelle) {
            println!("  {structure:<24} {value:.4}");
        }
    }
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
