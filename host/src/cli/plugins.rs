use super::Global;
use anyhow::Result;
use silico::Plugins;
use std::process::ExitCode;

/// List every plugin library and component with kind, version and summary.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  silico plugins --registry examples/registry.toml")]
pub struct Args {
    /// Also print each component's default configuration.
    #[arg(long)]
    defaults: bool,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let (_, plugins) = global.plugins()?;
    print_plugins(&plugins, args.defaults);
    Ok(ExitCode::SUCCESS)
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
