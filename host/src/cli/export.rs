use super::Global;
use anyhow::{anyhow, Result};
use silico::export::{default_python, export_bioimageio, ExportRequest};
use std::{path::PathBuf, process::ExitCode};

/// Package a trained run's generator for other tools: a BioImage Model Zoo model (format 0.5)
/// with PyTorch state-dict and TorchScript weights, a synthetic test image and silico's
/// prediction of it.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico export --format bioimageio runs/unet-tiny/nucleoli --out unet-tiny-nucleoli.zip --voxel-size 0.29,0.108,0.108\n\nThe PyTorch parts run in $SILICO_PYTHON (else python3), which needs torch and safetensors\n(source scripts/env.sh)."
)]
pub struct Args {
    /// The package format.
    #[arg(long, value_enum)]
    format: Format,
    /// A run folder or its checkpoint folder.
    #[arg(value_name = "RUN")]
    run: PathBuf,
    /// The package to write.
    #[arg(long, value_name = "FILE.zip")]
    out: PathBuf,
    /// Voxel size z,y,x in µm of the images the run was trained on [default: the run's, where
    /// its images gave one; else the package's axes carry scale 1 and no unit].
    #[arg(long, value_name = "Z,Y,X", value_delimiter = ',')]
    voxel_size: Option<Vec<f32>>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// BioImage Model Zoo model package (bioimage.io, format 0.5).
    Bioimageio,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let Format::Bioimageio = args.format;
    let voxel_um = args
        .voxel_size
        .map(|v| {
            <[f32; 3]>::try_from(v.as_slice())
                .ok()
                .filter(|v| v.iter().all(|&s| s.is_finite() && s > 0.0))
                .ok_or_else(|| {
                    anyhow!("--voxel-size takes three positive numbers z,y,x in µm, got {v:?}")
                })
        })
        .transpose()?;
    let (_, plugins) = global.plugins()?;
    let exported = export_bioimageio(
        &plugins,
        &ExportRequest {
            run: args.run,
            out: args.out,
            voxel_um,
            python: default_python(),
        },
    )?;
    println!(
        "exported `{}` to {}: input sizes multiples of {}, test image {:?}, TorchScript within {:.1e} of silico",
        exported.name,
        exported.path.display(),
        exported.step,
        exported.test_shape,
        exported.max_difference
    );
    if exported.voxel_um.is_none() {
        eprintln!("notice: the run's training images gave no voxel size, so the package's space axes have scale 1 and no unit; --voxel-size Z,Y,X sets them");
    }
    Ok(ExitCode::SUCCESS)
}
