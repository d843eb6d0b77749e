use anyhow::Result;
use clap::{Parser, Subcommand};
use silico::{check, parse_device, Plugins, Registry};
use std::{path::PathBuf, process::ExitCode};

/// Label-free prediction of organelle fluorescence from transmitted light, and its evaluation.
#[derive(Parser)]
#[command(name = "silico", version, about, long_about = None)]
struct Cli {
    /// The registry of plugin libraries and models [default: $SILICO_REGISTRY, else the
    /// project's registry.toml]
    #[arg(long, global = true, value_name = "FILE")]
    registry: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every plugin library and component with kind, version and summary.
    #[command(after_help = "Example:\n  silico plugins --registry examples/registry.toml")]
    Plugins {
        /// Also print each component's default configuration.
        #[arg(long)]
        defaults: bool,
    },
    /// Load every plugin, build every model, and run one tiny forward and backward pass
    /// through each; exits non-zero if any model fails.
    #[command(after_help = "Example:\n  silico check --device cuda")]
    Check {
        /// `cpu`, `cuda` or `cuda:N`.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // One line: the context chain, outermost first.
            let message = format!("{error:#}");
            eprintln!(
                "error: {}",
                message.lines().map(str::trim).collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let registry_path = cli.registry.unwrap_or_else(silico::default_registry_path);
    let registry = Registry::load(&registry_path)?;
    let plugins = Plugins::load(&registry)?;
    match cli.command {
        Command::Plugins { defaults } => {
            print_plugins(&plugins, defaults);
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { device } => {
            let device = parse_device(&device)?;
            println!(
                "registry {}: {} plugin libraries, {} models",
                registry.path.display(),
                plugins.libraries.len(),
                registry.models.len()
            );
            let reports = check::check_all(&registry, &plugins, device);
            let mut failed = 0;
            for report in &reports {
                match &report.outcome {
                    Ok(summary) => println!("ok    {}: {summary}", report.model),
                    Err(error) => {
                        failed += 1;
                        println!(
                            "FAIL  {}: {}",
                            report.model,
                            format!("{error:#}").lines().collect::<Vec<_>>().join(" ")
                        );
                    }
                }
            }
            println!("{} models passed, {failed} failed", reports.len() - failed);
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn print_plugins(plugins: &Plugins, defaults: bool) {
    for library in &plugins.libraries {
        let m = &library.manifest;
        println!(
            "{} — {} {} ({}; plugin-api {}, torch {})",
            library.name,
            m.name,
            m.version,
            library.path.display(),
            m.plugin_api_version,
            m.torch_version
        );
        for component in m.components.iter() {
            println!(
                "  {:<14} {:<14} {}",
                component.kind.as_str(),
                component.name.as_str(),
                component.summary
            );
            if defaults && !component.default_config.is_empty() {
                for line in component.default_config.lines() {
                    println!("  {:<14} {:<14}   {line}", "", "");
                }
            }
        }
    }
}
