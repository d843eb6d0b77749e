use super::{one_line, DeviceArg, Global};
use anyhow::Result;
use silico::check;
use std::process::ExitCode;

/// Load every plugin, build every model on the device, and run one tiny training step through
/// each; exits non-zero if any model fails.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  silico check --device cuda")]
pub struct Args {
    #[command(flatten)]
    device: DeviceArg,
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
    let reports = check::check_all(&registry, &plugins, device, &args.models);
    let mut failed = 0;
    for report in &reports {
        match &report.outcome {
            Ok(summary) => println!("ok    {}: {summary}", report.model),
            Err(error) => {
                failed += 1;
                println!(
                    "FAIL  {}: {}",
                    report.model,
                    one_line(&format!("{error:#}"))
                );
            }
        }
    }
    println!("{} models passed, {failed} failed", reports.len() - failed);
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
