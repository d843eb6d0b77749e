use crate::cli::{DeviceArg, Global, PrecisionArg};
use anyhow::Result;
use silico::{bench::speed::bench_training, precision::MemoryFormat};
use std::process::ExitCode;

/// Time training iterations of a registry model on random data of its batch and patch size
/// (scripts/bench compares with PyTorch).
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  silico bench speed --model unet-tiny --iterations 5 --threads 2"
)]
pub struct Args {
    #[arg(long)]
    model: String,
    #[arg(long, default_value_t = 3)]
    iterations: u64,
    /// Untimed iterations first.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    #[command(flatten)]
    device: DeviceArg,
    #[command(flatten)]
    precision: PrecisionArg,
    /// Memory layout of weights and activations [default: the model's `train.memory_format`].
    #[arg(long, value_enum)]
    memory_format: Option<MemoryFormat>,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let (registry, plugins) = global.plugins()?;
    let registry = args.precision.apply(registry);
    let mut spec = registry.model(&args.model)?.clone();
    if let Some(format) = args.memory_format {
        spec.train.memory_format = format;
    }
    let result = bench_training(
        &plugins,
        &args.model,
        &spec,
        args.warmup,
        args.iterations,
        args.device.device()?,
    )?;
    println!(
        "{:.6} s/iteration over {} iterations of `{}` ({}{})",
        result.seconds_per_iteration,
        result.iterations,
        args.model,
        spec.train.precision,
        if result.channels_last {
            ", channels-last"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
