//! Records which libtorch this crate is compiled against, so every plugin carries the torch
//! version in its manifest and the host can refuse a plugin built against another one
//! (abi_stable cannot see inside a tensor handle). Also gives this crate's own test binaries an
//! rpath to libtorch.
use std::path::Path;

fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report its libtorch directory (DEP_TCH_LIBTORCH_LIB)");
    // Through the `.libtorch` link to the installed wheel; the binaries keep the real path.
    let lib = std::fs::canonicalize(&lib).map_or(lib, |p| p.display().to_string());
    let version = torch_version(Path::new(&lib)).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SILICO_TORCH_VERSION={version}");
    println!("cargo:rustc-link-arg=-Wl,-rpath={lib}");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}

/// The release number ("2.13.0") of the libtorch in `lib`: from the Python wheel's
/// `torch/version.py`, or from the `build-version` file of a libtorch archive.
fn torch_version(lib: &Path) -> Option<String> {
    let root = lib.parent()?;
    let raw = if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        let line = text.lines().find(|l| l.starts_with("__version__"))?;
        line.split(['\'', '"']).nth(1)?.to_string()
    } else {
        std::fs::read_to_string(root.join("build-version")).ok()?
    };
    // A local suffix such as "+cu130" names the CUDA build, not a different C++ API.
    Some(raw.trim().split('+').next()?.to_string())
}
