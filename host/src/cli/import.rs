use super::Global;
use anyhow::Result;
use silico::import::{bookkeeping_kinds, import_weights};
use std::{path::PathBuf, process::ExitCode};

/// Make a run folder from generator weights trained elsewhere (a PyTorch state dict).
///
/// The state dict is safetensors or a `torch.save` file (`.pt`, `.pth`, pytorch_fnet's
/// `model.p`; read by $SILICO_PYTHON with weights_only). BatchNorm's `num_batches_tracked` and
/// DataParallel's `module.` prefix are dropped; any other difference from the network fails,
/// naming the key.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico import --weights saved_models/nucleoli/model.p --model unet --structure nucleoli --out runs/fnet"
)]
pub struct Args {
    #[arg(long, value_name = "FILE")]
    weights: PathBuf,
    #[arg(long)]
    model: String,
    #[arg(long)]
    structure: String,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    // The checkpoint's structure names the folders its predictions go to.
    silico::names::check_name("--structure", &args.structure)?;
    let (registry, plugins) = global.plugins()?;
    let imported = import_weights(
        &registry,
        &plugins,
        &args.model,
        &args.structure,
        &args.weights,
        &args.out,
    )?;
    if !imported.ignored.is_empty() {
        eprintln!(
            "note: ignored {} bookkeeping buffers the network does not keep ({})",
            imported.ignored.len(),
            bookkeeping_kinds(&imported.ignored).join(", ")
        );
    }
    println!(
        "imported {} as model `{}` for `{}`: {}",
        args.weights.display(),
        args.model,
        args.structure,
        imported.checkpoint.display()
    );
    Ok(ExitCode::SUCCESS)
}
