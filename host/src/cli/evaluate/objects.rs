use super::ObjectArgs;
use crate::cli::Global;
use anyhow::Result;
use silico::evaluate;
use std::process::ExitCode;

/// Object-based evaluation (Sun et al. 2022, Section 2.5, Fig. 7): objects of the real and the
/// predicted images in complete cells, their SPHARM shapes and normalized positions, compared
/// by kNN divergence and KL with permutation p-values; writes objects.csv, descriptors.csv (every
/// object's full SPHARM descriptor, as the PCA took it), summary.csv/.json and pictures to --out.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico evaluate objects --data data/synth --predictions predictions/unet-tiny --structure nucleoli --out report/objects"
)]
pub struct Args {
    #[command(flatten)]
    objects: ObjectArgs,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let (registry, plugins) = global.plugins()?;
    let request = args.objects.request(&registry, "objects")?;
    let summaries = evaluate::objects_report(&plugins, &request)?;
    // The shape divergence at the k of the figure (8 where it was computed); the notes below
    // give every k, the sizes and the null of each p-value.
    let k = summaries.iter().find_map(|s| s.figure_k()).unwrap_or(8);
    println!(
        "{:<20} {:<14} {:>5} {:>11} {:>11} {:>9} {:>8} {:>8} {:>10} {:>8} {:>8}",
        "model",
        "structure",
        "cells",
        "objects r/s",
        "excluded",
        format!("shape k{k}"),
        "p halves",
        "p pooled",
        "spatial KL",
        "p halves",
        "p pooled"
    );
    for s in &summaries {
        println!(
            "{:<20} {:<14} {:>5} {:>5}/{:<5} {:>5}/{:<5} {:>9.4} {:>8.3} {:>8.3} {:>10.4} {:>8.3} {:>8.3}",
            s.model,
            s.structure,
            s.value("cells"),
            s.value("objects/real"),
            s.value("objects/synthetic"),
            s.value("excluded/real"),
            s.value("excluded/synthetic"),
            s.value(&format!("shape_divergence/k{k}")),
            s.value(&format!("shape_p_real_halves/k{k}")),
            s.value(&format!("shape_p_pooled_labels/k{k}")),
            s.value("spatial_kl"),
            s.value("spatial_p_real_halves"),
            s.value("spatial_p_pooled_labels")
        );
    }
    print!("{}", evaluate::objects::permutation_text(&summaries));
    println!("wrote {}", request.out.display());
    Ok(ExitCode::SUCCESS)
}
