use super::{DeviceArg, Global, VoxelArg};
use anyhow::{anyhow, Result};
use silico::{
    precision::{MemoryFormat, Precision},
    predict::{self, OutputFormat, PredictRequest, Rows, Tiling},
};
use silico_imaging::{dataset::NonFinite, ChannelSelector};
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
    /// A bright-field TIFF or OME-Zarr image, a manifest CSV, or a folder holding
    /// `<structure>.csv`.
    #[arg(long, value_name = "FILE|DIR")]
    input: PathBuf,
    /// The channel of a lone multi-channel image: its index or its name.
    #[arg(long, value_name = "NAME|INDEX")]
    channel: Option<String>,
    /// The predictions' file format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Tiff)]
    format: OutputFormat,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Tile size z,y,x (rounded up to multiples of 16) [default: the tiling that computes least
    /// within the memory budget; the whole image when it fits].
    #[arg(long, value_name = "Z,Y,X", value_delimiter = ',')]
    tile: Option<Vec<i64>>,
    /// Overlap of neighbouring tiles z,y,x (none along an axis one tile spans).
    #[arg(
        long,
        value_name = "Z,Y,X",
        value_delimiter = ',',
        default_value = "16,32,32"
    )]
    overlap: Vec<i64>,
    /// Memory one forward pass may take, e.g. 4G or 512M [default: half the available RAM; on
    /// CUDA 80 % of the free GPU memory].
    #[arg(long, value_name = "BYTES")]
    memory_budget: Option<String>,
    /// Precision of the forward passes [default: auto, bf16 where the device computes it
    /// natively, else fp32; the choice is printed].
    #[arg(long, value_enum)]
    precision: Option<Precision>,
    /// Memory layout of weights and activations [default: the model's `train.memory_format`].
    #[arg(long, value_enum)]
    memory_format: Option<MemoryFormat>,
    /// Average over flips in x and y (test-time augmentation).
    #[arg(long)]
    flips: bool,
    /// Only the manifest's test rows.
    #[arg(long)]
    test_only: bool,
    /// Predict each image at its own voxel size, not resampled to the one the model was trained
    /// at (and back).
    #[arg(long)]
    no_resample: bool,
    #[command(flatten)]
    device: DeviceArg,
    /// Voxel size z,y,x in µm of image files that give none [default: the model's training
    /// voxel size, said once per file]
    #[arg(long = "voxel-size", value_name = "Z,Y,X", value_delimiter = ',')]
    voxel_size: Option<Vec<f32>>,
    /// Replace NaN and infinite voxels of a bright-field image by the mean of its finite ones
    /// (saying how many), instead of refusing the image. Targets are never repaired.
    #[arg(long)]
    repair_non_finite: bool,
}

fn xyz(values: &[i64], what: &str) -> Result<[i64; 3]> {
    values
        .try_into()
        .map_err(|_| anyhow!("--{what} takes three numbers z,y,x, got {values:?}"))
}

/// `4G`, `512M`, `100K` or plain bytes, as `SILICO_MEMORY_LIMIT` takes them.
fn parse_bytes(text: &str) -> Result<u64> {
    silico_imaging::limits::parse_size(text).map_err(|e| anyhow!("--memory-budget {e}"))
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let (_, plugins) = global.plugins()?;
    let device = args.device.device()?;
    let precision = match args.precision {
        Some(precision) => precision,
        None => {
            let (precision, why) = Precision::native(device);
            eprintln!("precision {precision} ({why}; --precision to choose)");
            precision
        }
    };
    let tiling = Tiling {
        tile: args.tile.as_deref().map(|t| xyz(t, "tile")).transpose()?,
        overlap: xyz(&args.overlap, "overlap")?,
        memory_budget: args.memory_budget.as_deref().map(parse_bytes).transpose()?,
    };
    let request = PredictRequest {
        checkpoint: args.checkpoint,
        input: args.input,
        out: args.out,
        tiling,
        flips: args.flips,
        rows: if args.test_only {
            Rows::Test
        } else {
            Rows::All
        },
        device,
        precision: Some(precision),
        memory_format: args.memory_format,
        verbose: true,
        voxel_size: VoxelArg::parse(args.voxel_size.as_deref())?,
        resample: !args.no_resample,
        channel: args.channel.as_deref().map(ChannelSelector::parse),
        format: args.format,
        non_finite: match args.repair_non_finite {
            true => NonFinite::Repair,
            false => NonFinite::Refuse,
        },
    };
    for p in predict::predict(&plugins, &request)? {
        let score = match (p.pearson, p.mse) {
            (Some(r), Some(mse)) => format!("  Pearson r {r:.3}  MSE {mse:.4}"),
            _ => String::new(),
        };
        println!("{}{score}  {:.2} s", p.path.display(), p.seconds);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn budgets_parse_with_units() {
        assert_eq!(parse_bytes("4G").unwrap(), 4 << 30);
        assert_eq!(parse_bytes("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("4X").is_err());
        assert!(parse_bytes("-1G").is_err());
        assert!(parse_bytes("G").is_err());
    }
}
