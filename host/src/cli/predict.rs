use super::{DeviceArg, Global};
use anyhow::{anyhow, Result};
use silico::predict::{self, PredictRequest, Rows};
use std::{path::PathBuf, process::ExitCode};

/// Predict whole images of any size with a trained model, tile by tile; writes
/// OUT/<structure>/<image>.tif and predictions.csv (Pearson r and MSE where targets exist).
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico predict --checkpoint runs/nucleoli --input data/synth --test-only --out predictions"
)]
pub struct Args {
    /// A run folder or its checkpoint folder.
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// A bright-field TIFF, a manifest CSV, or a folder holding `<structure>.csv`.
    #[arg(long, value_name = "FILE|DIR")]
    input: PathBuf,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Tile size z,y,x (multiples of 16).
    #[arg(long, value_delimiter = ',', default_values_t = predict::DEFAULT_TILE)]
    tile: Vec<i64>,
    /// Overlap of neighbouring tiles z,y,x.
    #[arg(long, value_delimiter = ',', default_values_t = predict::DEFAULT_OVERLAP)]
    overlap: Vec<i64>,
    /// Average over flips in x and y (test-time augmentation).
    #[arg(long)]
    flips: bool,
    /// Only the manifest's test rows.
    #[arg(long)]
    test_only: bool,
    #[command(flatten)]
    device: DeviceArg,
}

fn xyz(values: &[i64], what: &str) -> Result<[i64; 3]> {
    values
        .try_into()
        .map_err(|_| anyhow!("--{what} takes three numbers z,y,x, got {values:?}"))
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let (_, plugins) = global.plugins()?;
    let request = PredictRequest {
        checkpoint: args.checkpoint,
        input: args.input,
        out: args.out,
        tile: xyz(&args.tile, "tile")?,
        overlap: xyz(&args.overlap, "overlap")?,
        flips: args.flips,
        rows: if args.test_only {
            Rows::Test
        } else {
            Rows::All
        },
        device: args.device.device()?,
    };
    for p in predict::predict(&plugins, &request)? {
        let score = match (p.pearson, p.mse) {
            (Some(r), Some(mse)) => format!("  Pearson r {r:.3}  MSE {mse:.4}"),
            _ => String::new(),
        };
        println!("{}{score}", p.path.display());
    }
    Ok(ExitCode::SUCCESS)
}
