//! Opening plugin libraries, checking that they fit this host, and building their components.
//!
//! A plugin library is native code, and opening it runs its load-time constructors: so its file
//! is checked before it is opened (a regular file, with the SHA-256 the registry pins if it pins
//! one, a complete ELF shared object for this machine), and a file that fails is never opened.

use crate::{
    components::{LossTerm, Metric, Network},
    registry::{ComponentRef, Registry},
};
use abi_stable::library::{lib_header_from_path, LibraryError};
use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use silico_plugin_api::{
    ffi::{Manifest, PluginLibraryRef},
    ComponentKind, NetworkSpec, PLUGIN_API_VERSION, TORCH_VERSION,
};
use std::{
    fs::{File, Metadata},
    os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt},
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
    /// The SHA-256 of its file in lowercase hex, where it was computed: for a pinned library,
    /// and for every library opened to be pinned.
    pub sha256: Option<String>,
    pub manifest: Manifest,
    module: PluginLibraryRef,
}

/// What a library's file must hash to before it is opened.
#[derive(Clone, Copy)]
pub enum Pin<'a> {
    /// The SHA-256 the registry pins, if it pins one: a file that differs is refused.
    Expect(Option<&'a str>),
    /// Whatever the file holds, hashed to be pinned (`silico plugins --pin`).
    Record,
}

impl Library {
    /// Opens the library at `path` once its file passes [`check_file`], then checks its ABI,
    /// plugin-api and torch versions.
    pub fn open(name: &str, path: &Path, pin: Pin) -> Result<Self> {
        let fail = |what: String| anyhow!("plugin library `{name}` ({}): {what}", path.display());
        let sha256 = check_file(path, pin).map_err(fail)?;
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
            sha256,
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

/// Checks a library's file before anything opens it as a library: a regular file (a FIFO would
/// block, a device may act on being opened), with the hash `pin` asks for, and a complete ELF
/// shared object for this machine (a truncated one would crash the loader with SIGBUS). Returns
/// the file's SHA-256 where `pin` needs it.
fn check_file(path: &Path, pin: Pin) -> Result<Option<String>, String> {
    let metadata = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file; build the plugins with `cargo build --release --workspace` or fix the path in [plugins]".to_string(),
        _ => format!("cannot read it: {e}"),
    })?;
    require_regular_file(&metadata)?;
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read it: {e}"))?;
    // The file opened may have replaced the one looked at.
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    require_regular_file(&metadata)?;
    let sha256 = match pin {
        Pin::Expect(None) => None,
        Pin::Expect(Some(expected)) => {
            let found = sha256_of(&file)?;
            if found != expected {
                return Err(format!(
                    "its SHA-256 is {found}, but the registry pins {expected}: the file changed since it was pinned; if the new file is the one to use, accept it with `silico plugins --pin`"
                ));
            }
            Some(found)
        }
        Pin::Record => Some(sha256_of(&file)?),
    };
    check_elf(&file, metadata.len()).map_err(|e| format!("not a loadable shared library ({e})"))?;
    Ok(sha256)
}

fn require_regular_file(metadata: &Metadata) -> Result<(), String> {
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "a special file"
    };
    Err(format!(
        "{what}, not a regular file; [plugins] must name a shared library's file"
    ))
}

/// The SHA-256 of the whole file, in lowercase hex.
fn sha256_of(mut file: &File) -> Result<String, String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| format!("cannot read it: {e}"))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// The ELF machine this host loads libraries for.
#[cfg(target_arch = "x86_64")]
const HOST_MACHINE: u16 = 62;
#[cfg(target_arch = "aarch64")]
const HOST_MACHINE: u16 = 183;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("the plugin library check knows the ELF machine of x86_64 and aarch64 hosts only");

/// A few ELF machine numbers by name, for messages.
fn machine_name(machine: u16) -> String {
    match machine {
        3 => "x86".into(),
        40 => "ARM".into(),
        62 => "x86-64".into(),
        183 => "AArch64".into(),
        243 => "RISC-V".into(),
        other => format!("machine {other}"),
    }
}

/// Checks that the `len` bytes of `file` are a 64-bit little-endian ELF shared object for this
/// machine whose program headers, loaded segments and section headers all lie inside the file.
fn check_elf(file: &impl FileExt, len: u64) -> Result<(), String> {
    let inside = |offset: u64, size: u64| offset.checked_add(size).is_some_and(|end| end <= len);
    let truncated =
        |what: &str| format!("truncated: its {len} bytes are too few for {what}; rebuild it");
    let read = |offset: u64, size: u64, what: &str| -> Result<Vec<u8>, String> {
        if !inside(offset, size) {
            return Err(truncated(what));
        }
        let mut bytes = vec![0; size as usize];
        file.read_exact_at(&mut bytes, offset)
            .map_err(|e| format!("cannot read {what}: {e}"))?;
        Ok(bytes)
    };
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());

    if len < 4 || read(0, 4, "its magic number")? != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let header = read(0, 64, "its ELF header")?;
    if header[4] != 2 {
        return Err("a 32-bit ELF file; this host loads 64-bit libraries".into());
    }
    if header[5] != 1 {
        return Err("a big-endian ELF file; this host loads little-endian libraries".into());
    }
    match u16_at(&header, 16) {
        3 => {}
        2 => return Err("an ELF executable, not a shared library".into()),
        1 => return Err("an ELF object file, not a shared library; link it as a cdylib".into()),
        other => return Err(format!("an ELF file of type {other}, not a shared library")),
    }
    let machine = u16_at(&header, 18);
    if machine != HOST_MACHINE {
        return Err(format!(
            "built for {}, but this host is {}",
            machine_name(machine),
            machine_name(HOST_MACHINE)
        ));
    }
    let (program_offset, program_size, program_count) = (
        u64_at(&header, 32),
        u64::from(u16_at(&header, 54)),
        u16_at(&header, 56),
    );
    let (section_offset, section_size, section_count) = (
        u64_at(&header, 40),
        u64::from(u16_at(&header, 58)),
        u64::from(u16_at(&header, 60)),
    );
    // More sections than 16 bits count: the first section header's size holds the number.
    let section_count = if section_count == 0 && section_offset != 0 {
        u64_at(&read(section_offset, 64, "its section headers")?, 32)
    } else {
        section_count
    };
    if section_count > 0 && section_size != 64 {
        return Err(format!(
            "malformed: section headers of {section_size} bytes, not 64"
        ));
    }
    let sections = section_count
        .checked_mul(section_size)
        .ok_or("malformed: its section header table is too large")?;
    if !inside(section_offset, sections) {
        return Err(truncated("its section headers"));
    }
    if program_count == u16::MAX {
        return Err("malformed: 65535 or more program headers".into());
    }
    if program_count > 0 && program_size != 56 {
        return Err(format!(
            "malformed: program headers of {program_size} bytes, not 56"
        ));
    }
    let programs = read(
        program_offset,
        u64::from(program_count) * program_size,
        "its program headers",
    )?;
    for segment in programs.chunks_exact(56) {
        const LOADED: u32 = 1;
        if u32_at(segment, 0) != LOADED {
            continue;
        }
        let (offset, size) = (u64_at(segment, 8), u64_at(segment, 32));
        if !inside(offset, size) {
            return Err(truncated("its loaded segments"));
        }
    }
    Ok(())
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
    /// Every library of `registry`; one whose file differs from the hash the registry pins is
    /// refused before it is opened.
    pub fn load(registry: &Registry) -> Result<Self> {
        Self::open_all(registry, false)
    }

    /// Every library of `registry` as its file is now, whatever the registry pins, each with its
    /// file's hash: to pin them.
    pub fn load_to_pin(registry: &Registry) -> Result<Self> {
        Self::open_all(registry, true)
    }

    fn open_all(registry: &Registry, record: bool) -> Result<Self> {
        let libraries = registry
            .plugins
            .iter()
            .map(|(name, file)| {
                let pin = match record {
                    true => Pin::Record,
                    false => Pin::Expect(file.sha256.as_deref()),
                };
                Library::open(name, &file.path, pin)
            })
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
        let default = Registry::load(&crate::default_registry_path().ok()?).ok()?;
        default
            .plugins
            .into_iter()
            .filter(|(_, file)| {
                file.path.exists() && !self.libraries.iter().any(|l| l.path == file.path)
            })
            .find(|(name, file)| {
                Library::open(name, &file.path, Pin::Expect(file.sha256.as_deref()))
                    .is_ok_and(|library| library.provides(kind, component))
            })
            .map(|(name, file)| (name, file.path))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A minimal ELF shared object header for this host: one loaded segment over the whole
    /// file, one section header at its end.
    fn shared_object() -> Vec<u8> {
        let mut bytes = vec![0u8; 64 + 56 + 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[16..18].copy_from_slice(&3u16.to_le_bytes());
        bytes[18..20].copy_from_slice(&HOST_MACHINE.to_le_bytes());
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes());
        bytes[40..48].copy_from_slice(&120u64.to_le_bytes());
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes());
        bytes[56..58].copy_from_slice(&1u16.to_le_bytes());
        bytes[58..60].copy_from_slice(&64u16.to_le_bytes());
        bytes[60..62].copy_from_slice(&1u16.to_le_bytes());
        bytes[64..68].copy_from_slice(&1u32.to_le_bytes());
        bytes[96..104].copy_from_slice(&184u64.to_le_bytes());
        bytes
    }

    fn check(bytes: &[u8]) -> Result<(), String> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        check_elf(&file, bytes.len() as u64)
    }

    #[test]
    fn a_complete_shared_object_for_this_machine_passes() {
        assert_eq!(check(&shared_object()), Ok(()));
    }

    #[test]
    fn foreign_or_incomplete_files_are_named_for_what_they_are() {
        let with = |at: usize, value: &[u8]| {
            let mut bytes = shared_object();
            bytes[at..at + value.len()].copy_from_slice(value);
            check(&bytes).unwrap_err()
        };
        assert_eq!(check(b"just some text\n").unwrap_err(), "not an ELF file");
        assert_eq!(check(b"\x7fEL").unwrap_err(), "not an ELF file");
        assert_eq!(
            check(&shared_object()[..40]).unwrap_err(),
            "truncated: its 40 bytes are too few for its ELF header; rebuild it"
        );
        assert!(with(4, &[1]).starts_with("a 32-bit ELF file"));
        assert!(with(5, &[2]).starts_with("a big-endian ELF file"));
        assert!(with(16, &2u16.to_le_bytes()).starts_with("an ELF executable"));
        let foreign = if HOST_MACHINE == 62 { 183u16 } else { 62 };
        assert_eq!(
            with(18, &foreign.to_le_bytes()),
            format!(
                "built for {}, but this host is {}",
                machine_name(foreign),
                machine_name(HOST_MACHINE)
            )
        );
        assert_eq!(
            check(&shared_object()[..150]).unwrap_err(),
            "truncated: its 150 bytes are too few for its section headers; rebuild it"
        );
        assert_eq!(
            with(96, &185u64.to_le_bytes()),
            "truncated: its 184 bytes are too few for its loaded segments; rebuild it"
        );
        assert_eq!(
            with(40, &u64::MAX.to_le_bytes()),
            "truncated: its 184 bytes are too few for its section headers; rebuild it",
            "offsets that overflow are outside the file"
        );
        assert!(with(54, &40u16.to_le_bytes()).starts_with("malformed: program headers"));
    }
}
