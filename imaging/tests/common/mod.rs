//! Helpers shared by the integration tests: a scratch folder and the Python with tifffile.

#![allow(dead_code)]

pub mod cpu;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh, empty folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("silico-imaging-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The Python interpreter the round-trip tests drive: `SILICO_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("SILICO_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Runs an inline Python script with `args`; panics with a clear message if Python or
/// tifffile is missing or the script fails. Returns its stdout.
pub fn run_python(script: &str, args: &[&Path]) -> String {
    let py = python();
    let output = Command::new(&py)
        .arg("-c")
        .arg(format!("import numpy, tifffile, sys, json\n{script}"))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{py}` ({e}); set SILICO_PYTHON to a Python with numpy and tifffile (pip install numpy tifffile)")
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named") {
        panic!("`{py}` lacks a module the TIFF round-trip tests need: {stderr}\nInstall it with `{py} -m pip install numpy tifffile` or set SILICO_PYTHON");
    }
    assert!(
        output.status.success(),
        "python script failed:\n{stderr}\n--- script ---\n{script}"
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every file under `dir` by its relative path, with its bytes.
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                found.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    found
}
