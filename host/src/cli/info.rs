use anyhow::Result;
use std::{path::PathBuf, process::ExitCode};

/// Describe image files (TIFF, OME-Zarr): axes, shape, sample type, voxel size, channel names,
/// value range and non-finite voxels.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  silico info data/synth/fields/field_000/brightfield.tif")]
pub struct Args {
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    for file in args.files {
        println!("{}", silico_imaging::image_info(&file)?);
    }
    Ok(ExitCode::SUCCESS)
}
