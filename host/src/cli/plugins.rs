use super::Global;
use anyhow::{bail, Context, Result};
use silico::Plugins;
use std::{io::Write, path::Path, process::ExitCode};
use toml_edit::{DocumentMut, InlineTable, Item, Value};

/// List every plugin library and component with kind, version and summary.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  silico plugins --registry examples/registry.toml")]
pub struct Args {
    /// Also print each component's default configuration.
    #[arg(long)]
    defaults: bool,
    /// Pin every library: write the SHA-256 of each one's file into the registry's [plugins]
    /// table (`name = { path = "…", sha256 = "…" }`), so that a library whose file later
    /// differs is refused before it is opened. Run it after building or updating the libraries
    /// (each is opened, and pinned, as its file is now).
    #[arg(long)]
    pin: bool,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let plugins = if args.pin {
        let registry = global.registry()?;
        let plugins = Plugins::load_to_pin(&registry)?;
        write_pins(&registry.path, &plugins)
            .with_context(|| format!("cannot pin the registry {}", registry.path.display()))?;
        eprintln!(
            "pinned {} libraries in {}",
            plugins.libraries.len(),
            registry.path.display()
        );
        plugins
    } else {
        global.plugins()?.1
    };
    print_plugins(&plugins, args.defaults);
    Ok(ExitCode::SUCCESS)
}

/// Writes each library's hash into the registry file's [plugins] table, keeping its comments
/// and layout as far as toml_edit can: `name = "file.so"` becomes
/// `name = { path = "file.so", sha256 = "…" }`. The registry's real file (a symlink's target)
/// is replaced at once, by renaming a finished copy over it, so it is never half-written.
fn write_pins(registry: &Path, plugins: &Plugins) -> Result<()> {
    let real = std::fs::canonicalize(registry)?;
    let mut document: DocumentMut = std::fs::read_to_string(&real)?.parse()?;
    let Some(table) = document
        .get_mut("plugins")
        .and_then(Item::as_table_like_mut)
    else {
        bail!("it has no [plugins] table");
    };
    for library in &plugins.libraries {
        let (Some(entry), Some(hash)) = (table.get_mut(&library.name), &library.sha256) else {
            bail!("its [plugins] table has no `{}`", library.name);
        };
        set_sha256(entry, hash).with_context(|| format!("key `plugins.{}`", library.name))?;
    }
    let folder = real.parent().unwrap_or(Path::new("."));
    let mut copy = tempfile::NamedTempFile::new_in(folder)?;
    copy.write_all(document.to_string().as_bytes())?;
    copy.as_file()
        .set_permissions(std::fs::metadata(&real)?.permissions())?;
    copy.as_file().sync_all()?;
    copy.persist(&real)?;
    Ok(())
}

/// Sets the `sha256` of one [plugins] entry, turning a plain file name into a table.
fn set_sha256(entry: &mut Item, hash: &str) -> Result<()> {
    if let Item::Value(Value::String(path)) = entry {
        let decor = path.decor().clone();
        let mut path = path.clone();
        path.decor_mut().clear();
        let mut pinned = InlineTable::new();
        pinned.insert("path", Value::String(path));
        pinned.insert("sha256", hash.into());
        pinned.fmt();
        let mut pinned = Value::InlineTable(pinned);
        *pinned.decor_mut() = decor;
        *entry = Item::Value(pinned);
        return Ok(());
    }
    let Some(table) = entry.as_table_like_mut() else {
        bail!("neither a file name nor a table");
    };
    match table.get_mut("sha256") {
        Some(Item::Value(old)) => {
            let decor = old.decor().clone();
            *old = hash.into();
            *old.decor_mut() = decor;
        }
        _ => {
            table.insert("sha256", toml_edit::value(hash));
        }
    }
    Ok(())
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
