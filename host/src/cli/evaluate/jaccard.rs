use super::ObjectArgs;
use crate::cli::Global;
use anyhow::Result;
use silico::evaluate;
use std::process::ExitCode;

/// Segmentation Jaccard (Sun et al. 2022, Fig. 3): segments each real image and its prediction
/// with the structure's workflow and compares them image by image; writes jaccard.csv,
/// jaccard_summary.csv and a box plot to --out.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico evaluate jaccard --data data/synth --predictions predictions/unet-tiny --out report/jaccard"
)]
pub struct Args {
    #[command(flatten)]
    objects: ObjectArgs,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let (registry, plugins) = global.plugins()?;
    let request = args.objects.request(&registry, "jaccard")?;
    let report = evaluate::jaccard_report(&plugins, &request)?;
    println!("mean Jaccard index of real and predicted segmentations:");
    for s in &report.summaries {
        println!(
            "  {:<20} {:<24} {:.3} ({} images)",
            s.model, s.structure, s.mean, s.images
        );
    }
    println!("wrote {}", request.out.display());
    Ok(ExitCode::SUCCESS)
}
