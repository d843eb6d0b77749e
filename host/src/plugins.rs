//! Opening plugin libraries, checking that they fit this host, and building their components.

use crate::{
    components::{LossTerm, Metric, Network},
    registry::{ComponentRef, Registry},
};
use abi_stable::library::{lib_header_from_path, LibraryError};
use anyhow::{anyhow, bail, Context, Result};
use silico_plugin_api::{
    ffi::{Manifest, PluginLibraryRef},
    ComponentKind, NetworkSpec, PLUGIN_API_VERSION, TORCH_VERSION,
};
use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

static COMPUTE_THREADS: OnceLock<usize> = OnceLock::new();

/// Sizes the compute pool of every plugin library opened from now on, as `--threads` sizes the
/// host's: each library links its own copy of rayon, whose pool the host's cannot reach. The
/// first call wins.
pub fn set_compute_threads(threads: usize) {
    let _ = COMPUTE_THREADS.set(threads);
}

/// One opened plugin library.
pub struct Library {
    pub name: String,
    pub path: PathBuf,
    pub manifest: Manifest,
    module: PluginLibraryRef,
}

impl Library {
    /// Opens the library at `path` and checks its ABI, plugin-api and torch versions.
    pub fn open(name: &str, path: &Path) -> Result<Self> {
        let fail = |what: String| anyhow!("plugin library `{name}` ({}): {what}", path.display());
        if !path.exists() {
            return Err(fail("no such file; build the plugins with `cargo build --release --workspace` or fix the path in [plugins]".into()));
        }
        let module = lib_header_from_path(path)
            .and_then(|header| header.init_root_module::<PluginLibraryRef>())
            .map_err(|e| fail(describe_load_error(&e)))?;
        let manifest = into_result(module.manifest()())
            .map_err(|e| fail(format!("its manifest failed: {e}")))?;
        if !api_compatible(&manifest.plugin_api_version, PLUGIN_API_VERSION) {
            return Err(fail(format!(
                "built against silico-plugin-api {}, but this host uses {PLUGIN_API_VERSION}; rebuild the plugin against plugin-api {PLUGIN_API_VERSION}",
                manifest.plugin_api_version
            )));
        }
        if manifest.torch_version.as_str() != TORCH_VERSION {
            return Err(fail(format!(
                "built against torch {}, but this host uses torch {TORCH_VERSION}; rebuild the plugin with the same libtorch",
                manifest.torch_version
            )));
        }
        if let Some(&threads) = COMPUTE_THREADS.get() {
            into_result(module.set_threads()(threads))
                .map_err(|e| fail(format!("cannot size its compute threads: {e}")))?;
        }
        Ok(Self {
            name: name.to_string(),
            path: path.to_path_buf(),
            manifest,
            module,
        })
    }

    fn provides(&self, kind: ComponentKind, component: &str) -> bool {
        self.manifest
            .components
            .iter()
            .any(|c| c.kind == kind && c.name == component)
    }
}

/// One line for each way abi_stable can refuse a library; its layout mismatch report alone
/// runs to a thousand lines.
fn describe_load_error(error: &LibraryError) -> String {
    match error {
        LibraryError::OpenError { err, .. } => {
            format!("not a loadable shared library ({})", first_line(&err.to_string()))
        }
        LibraryError::GetSymbolError { .. } => {
            "a shared library, but not a silico plugin (it exports no plugin root module)".into()
        }
        LibraryError::IncompatibleVersionNumber { expected_version, actual_version, .. } => format!(
            "built against silico-plugin-api {actual_version}, but this host uses {expected_version}; rebuild the plugin"
        ),
        LibraryError::AbiInstability(report) => format!(
            "its plugin ABI layout differs from this host's although the versions match ({}); rebuild the plugin from the same plugin-api",
            report.to_string().lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim()
        ),
        LibraryError::InvalidAbiHeader(_) | LibraryError::InvalidCAbi { .. } => {
            "built with an incompatible abi_stable or Rust ABI; rebuild the plugin with this workspace".into()
        }
        LibraryError::RootModule { err, .. } => format!("failed to initialise: {}", first_line(&err.to_string())),
        other => first_line(&other.to_string()),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}

/// Same major version, and for 0.x the same minor: the plugin-api's semver promise.
fn api_compatible(plugin: &str, host: &str) -> bool {
    let key = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
        let (major, minor) = (parts.next()??, parts.next()??);
        Some(if major == 0 { (0, minor) } else { (major, 0) })
    };
    key(plugin).is_some() && key(plugin) == key(host)
}

pub(crate) fn into_result<T>(
    result: abi_stable::std_types::RResult<T, abi_stable::std_types::RString>,
) -> Result<T> {
    result.into_result().map_err(|e| anyhow!("{e}"))
}

/// "generators", "losses": for messages.
fn plural(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Generator => "generators",
        ComponentKind::Discriminator => "discriminators",
        ComponentKind::Loss => "losses",
        ComponentKind::Metric => "metrics",
    }
}

/// Every library of a registry, opened.
pub struct Plugins {
    pub libraries: Vec<Library>,
}

impl Plugins {
    pub fn load(registry: &Registry) -> Result<Self> {
        let libraries = registry
            .plugins
            .iter()
            .map(|(name, path)| Library::open(name, path))
            .collect::<Result<_>>()
            .with_context(|| registry.path.display().to_string())?;
        Ok(Self { libraries })
    }

    /// The one library that provides `component` as a `kind`.
    fn provider(&self, kind: ComponentKind, component: &str) -> Result<&Library> {
        let providers: Vec<&Library> = self
            .libraries
            .iter()
            .filter(|l| l.provides(kind, component))
            .collect();
        match providers.as_slice() {
            [one] => Ok(one),
            [] => {
                let known: Vec<&str> = self
                    .libraries
                    .iter()
                    .flat_map(|l| l.manifest.components.iter())
                    .filter(|c| c.kind == kind)
                    .map(|c| c.name.as_str())
                    .collect();
                let advice = match self.default_provider(kind, component) {
                    Some((name, path)) => format!(
                        "the project's library `{name}` provides it: add `{name} = \"{}\"` to [plugins]",
                        path.display()
                    ),
                    None => "check the name, or add its library to [plugins]".to_string(),
                };
                bail!(
                    "no plugin library provides a {kind} called `{component}` (known {}: {}); {advice}",
                    plural(kind),
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )
            }
            many => bail!(
                "the {kind} `{component}` is provided by several libraries ({}); keep one of them in [plugins]",
                many.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The library of the project's own registry that provides `component`, among those this
    /// registry does not load: where to find a component a user's registry lacks.
    fn default_provider(&self, kind: ComponentKind, component: &str) -> Option<(String, PathBuf)> {
        let default = Registry::load(&crate::default_registry_path()).ok()?;
        default
            .plugins
            .into_iter()
            .filter(|(_, path)| path.exists() && !self.libraries.iter().any(|l| &l.path == path))
            .find(|(name, path)| {
                Library::open(name, path).is_ok_and(|library| library.provides(kind, component))
            })
    }

    fn config_text(reference: &ComponentRef) -> String {
        reference.config.to_string()
    }

    pub fn build_network(
        &self,
        kind: ComponentKind,
        reference: &ComponentRef,
        spec: NetworkSpec,
    ) -> Result<Network> {
        let library = self.provider(kind, &reference.component)?;
        let build = library.module.build_network();
        let config = Self::config_text(reference);
        let inner = into_result(build(
            kind,
            reference.component.as_str().into(),
            config.as_str().into(),
            spec,
        ))
        .with_context(|| format!("{kind} `{}` (from `{}`)", reference.component, library.name))?;
        Ok(Network {
            label: format!("{kind} `{}`", reference.component),
            inner,
        })
    }

    pub fn build_loss(&self, reference: &ComponentRef) -> Result<LossTerm> {
        let library = self.provider(ComponentKind::Loss, &reference.component)?;
        let config = Self::config_text(reference);
        let inner = into_result(library.module.build_loss()(
            reference.component.as_str().into(),
            config.as_str().into(),
        ))
        .with_context(|| format!("loss `{}` (from `{}`)", reference.component, library.name))?;
        Ok(LossTerm {
            name: reference.component.clone(),
            inner,
        })
    }

    pub fn build_metric(&self, reference: &ComponentRef) -> Result<Metric> {
        let library = self.provider(ComponentKind::Metric, &reference.component)?;
        let config = Self::config_text(reference);
        let inner = into_result(library.module.build_metric()(
            reference.component.as_str().into(),
            config.as_str().into(),
        ))
        .with_context(|| format!("metric `{}` (from `{}`)", reference.component, library.name))?;
        Ok(Metric {
            name: reference.component.clone(),
            inner,
        })
    }
}
