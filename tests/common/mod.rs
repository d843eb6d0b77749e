//! Shared by the end-to-end tests: where the built binary and plugins are, and scratch
//! registries that point at them.

#![allow(dead_code)] // each test crate uses its own part

use std::path::{Path, PathBuf};

/// The `silico` binary under test.
pub fn silico_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_silico"))
}

/// A plugin library built beside the binary, e.g. `library("silico_losses")`.
pub fn library(crate_name: &str) -> PathBuf {
    let path = silico_bin()
        .parent()
        .unwrap()
        .join(format!("lib{crate_name}.so"));
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --release --workspace)",
        path.display()
    );
    path
}

/// A registry file in a fresh temporary folder; `{losses}`, `{unet3d}`, `{r2unet3d}`,
/// `{patchgan3d}`, `{exclusivity}` and `{fixture:NAME}` in `text` become the built libraries'
/// paths.
pub struct ScratchRegistry {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn scratch_registry(text: &str) -> ScratchRegistry {
    let mut text = text.to_string();
    for plugin in ["losses", "unet3d", "r2unet3d", "patchgan3d", "exclusivity"] {
        let key = format!("{{{plugin}}}");
        if text.contains(&key) {
            let path = library(&format!("silico_{plugin}"));
            text = text.replace(&key, path.to_str().unwrap());
        }
    }
    for fixture in ["old_plugin_api", "other_torch", "panicking"] {
        let key = format!("{{fixture:{fixture}}}");
        if text.contains(&key) {
            let path = library(&format!("silico_fixture_{}", fixture));
            text = text.replace(&key, path.to_str().unwrap());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.toml");
    std::fs::write(&path, text).unwrap();
    ScratchRegistry { dir, path }
}

/// The registry the other tests vary: one tiny U-Net model.
pub const TINY: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"

[models.tiny]
generator = { component = "unet3d", depth = 2, mult_chan = 4 }
losses = [{ component = "mse" }, { component = "l1", weight = 0.5 }]
"#;

/// A component reference from its registry table, written as TOML.
pub fn component(text: &str) -> silico::registry::ComponentRef {
    let mut config: toml::Table = text.parse().unwrap();
    let component = config
        .remove("component")
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    silico::registry::ComponentRef { component, config }
}
