use super::{one_line, DeviceArg, Global, PrecisionArg};
use anyhow::Result;
use silico::{check, precision::Precision};
use std::process::ExitCode;

/// Load every plugin, build every model on the device, and run one tiny training step through
/// each at every precision (fp32, bf16, fp16; or only --precision); exits non-zero if any fails.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  silico check --device cuda")]
pub struct Args {
    #[command(flatten)]
    device: DeviceArg,
    #[command(flatten)]
    precision: PrecisionArg,
    /// Check only these models.
    #[arg(long = "model", value_name = "MODEL")]
    models: Vec<String>,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let (registry, plugins) = global.plugins()?;
    let device = args.device.device()?;
    for name in &args.models {
        registry.model(name)?;
    }
    println!(
        "registry {}: {} plugin libraries, {} models",
        registry.path.display(),
        plugins.libraries.len(),
        registry.models.len()
    );
    let precisions = match args.precision.get() {
        Some(precision) => vec![precision],
        None => vec![Precision::Fp32, Precision::Bf16, Precision::Fp16],
    };
    let reports = check::check_all(&registry, &plugins, device, &args.models, &precisions);
    let mut failed = 0;
    for report in &reports {
        match &report.outcome {
            Ok(summary) => println!("ok    {} {}: {summary}", report.model, report.precision),
            Err(error) => {
                failed += 1;
                println!(
                    "FAIL  {} {}: {}",
                    report.model,
                    report.precision,
                    one_line(&format!("{error:#}"))
                );
            }
        }
    }
    println!(
        "{} of {} checks passed ({} models × {} precisions), {failed} failed",
        reports.len() - failed,
        reports.len(),
        reports.len() / precisions.len().max(1),
        precisions.len()
    );
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
