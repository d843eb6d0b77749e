//! `silico evaluate <measure>`: one file per measure; the options of the object-based ones
//! (Jaccard and objects) are shared here.

pub mod exclusivity;
pub mod jaccard;
pub mod objects;

use super::{read_table, VoxelArg};
use anyhow::{bail, Result};
use clap::Subcommand;
use silico::{evaluate, Registry};
use std::path::PathBuf;

/// Evaluate predictions beyond pixel error.
#[derive(Subcommand)]
pub enum Command {
    Exclusivity(exclusivity::Args),
    Jaccard(jaccard::Args),
    Objects(objects::Args),
}

#[derive(clap::Args)]
pub struct ObjectArgs {
    /// The real images: a folder holding `<structure>.csv` for every structure evaluated and
    /// for cell_membrane and dna (as `silico synth` writes).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// A model's predictions (`silico predict --out`), as NAME=DIR or DIR (named after the
    /// folder); repeat to compare models.
    #[arg(long, value_name = "[NAME=]DIR", required = true)]
    predictions: Vec<String>,
    /// Evaluate only these structures [default: every structure folder; for objects, those
    /// among nucleoli, mitochondria, golgi and desmosomes].
    #[arg(long = "structure", value_name = "NAME")]
    structures: Vec<String>,
    /// A TOML file of the metric's settings (see `silico plugins --defaults`), replacing the
    /// registry's `[metrics.<metric>]` keys, e.g. `compare = { k = [8], permutations = 100 }`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Cell instance labels to use instead of segmenting the real membrane and DNA images (for
    /// `objects`): a path with {image} for the image name, e.g.
    /// data/fields/{image}/labels/cells.tif. Needs --nuclei.
    #[arg(long, value_name = "PATH", requires = "nuclei")]
    cells: Option<String>,
    /// Nucleus instance labels, as --cells.
    #[arg(long, value_name = "PATH", requires = "cells")]
    nuclei: Option<String>,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    voxel: VoxelArg,
}

impl ObjectArgs {
    /// The request for metric `component`: its configuration from the registry, overridden by
    /// --config.
    fn request(self, registry: &Registry, component: &str) -> Result<evaluate::ObjectRequest> {
        let config = registry.metric_config(component, &read_table(self.config.as_deref())?);
        if config.contains_key("structure") {
            bail!("--config: key `structure`: set by --structure, not in the file");
        }
        Ok(evaluate::ObjectRequest {
            data: self.data,
            predictions: self
                .predictions
                .iter()
                .map(|p| evaluate::PredictionSource::parse(p))
                .collect::<Result<_>>()?,
            structures: self.structures,
            config,
            cell_labels: match (&self.cells, &self.nuclei) {
                (Some(cells), Some(nuclei)) => Some((
                    evaluate::ImagePaths::parse(cells, "--cells")?,
                    evaluate::ImagePaths::parse(nuclei, "--nuclei")?,
                )),
                _ => None,
            },
            out: self.out,
            voxel_size: self.voxel.get()?,
        })
    }
}
