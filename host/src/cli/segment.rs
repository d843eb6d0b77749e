use super::{read_table, Global, VoxelArg};
use anyhow::{bail, Context, Result};
use silico_segmentation::{segment_objects, SegmentationConfig};
use std::{path::PathBuf, process::ExitCode};

/// Segment one structure in an image with its classic workflow (after the Allen Cell &
/// Structure Segmenter, as `evaluate jaccard` and `evaluate objects` do); writes its objects as
/// u16 instance labels.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico segment --structure nucleoli --input data/fields/field_000/nucleoli.tif --out nucleoli-labels.tif"
)]
pub struct Args {
    /// A structure name, e.g. nucleoli (an unknown name gets the list).
    #[arg(long)]
    structure: String,
    /// A fluorescence TIFF, real or predicted.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// The channel of a multi-channel file.
    #[arg(long)]
    channel: Option<usize>,
    /// A TOML file of workflow overrides, one table per structure, e.g. [nucleoli] with
    /// min_size_um3 = 0.5, replacing the registry's `segmentation` tables.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    voxel: VoxelArg,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let registry = global.registry()?;
    let mut overrides = registry.segmentation.clone();
    overrides.extend(read_table(args.config.as_deref())?);
    let workflows =
        SegmentationConfig::from_toml(&overrides.to_string(), "the segmentation overrides")?;
    let mut volume = silico_imaging::tiff::read_volume(&args.input)?;
    // Object sizes are in µm, so the voxel size matters.
    args.voxel.get()?.settle(&mut volume, &args.input);
    let channel = match (args.channel, volume.channels()) {
        (Some(c), _) => c,
        (None, 1) => 0,
        (None, n) => bail!(
            "{}: has {n} channels; pick one with --channel",
            args.input.display()
        ),
    };
    let volume = volume
        .extract_channel(channel)
        .with_context(|| args.input.display().to_string())?;
    let shape = volume.spatial_shape();
    let labels = segment_objects(
        &args.structure,
        &volume.data,
        shape,
        volume.voxel_um,
        &workflows,
    )
    .with_context(|| args.input.display().to_string())?;
    let count = labels.max_label();
    let Some(data) = labels.to_u16() else {
        bail!("{count} objects do not fit 16-bit labels; segment a smaller image");
    };
    silico_imaging::tiff::write_labels_u16(&args.out, &data, shape, volume.voxel_um)?;
    println!(
        "{count} {} objects; labels written to {}",
        args.structure,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
