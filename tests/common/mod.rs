//! Shared by the end-to-end tests: where the built binary and plugins are, and scratch
//! registries that point at them.

#![allow(dead_code)] // each test crate uses its own part

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output},
    time::{Duration, Instant},
};

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
/// `{patchgan3d}`, `{exclusivity}`, `{objects}` and `{fixture:NAME}` in `text` become the built libraries'
/// paths.
pub struct ScratchRegistry {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn scratch_registry(text: &str) -> ScratchRegistry {
    let mut text = text.to_string();
    for plugin in [
        "losses",
        "unet3d",
        "r2unet3d",
        "patchgan3d",
        "exclusivity",
        "objects",
    ] {
        let key = format!("{{{plugin}}}");
        if text.contains(&key) {
            let path = library(&format!("silico_{plugin}"));
            text = text.replace(&key, path.to_str().unwrap());
        }
    }
    for fixture in ["old_plugin_api", "old_abi", "other_torch", "panicking"] {
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

/// Runs `silico ARGS --threads 1 --registry REGISTRY`. One libtorch thread per process: the test
/// harness runs several at once, and a single thread makes each run deterministic.
pub fn run_silico(registry: &ScratchRegistry, args: &[&str]) -> Output {
    Command::new(silico_bin())
        .args(args)
        .args(["--threads", "1", "--registry"])
        .arg(&registry.path)
        .output()
        .unwrap()
}

/// The standard output of a run that must succeed.
pub fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The arguments of `silico predict` for one checkpoint, input and output folder, then `extra`.
pub fn predict_args<'a>(
    checkpoint: &'a Path,
    input: &'a Path,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "predict",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    args
}

/// The arguments of `silico train` of `model` on `structure` of the data in `data` into `out`,
/// then `extra`.
pub fn train_args<'a>(
    model: &'a str,
    structure: &'a str,
    data: &'a Path,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--model",
        model,
        "--structure",
        structure,
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    args
}

/// Waits until `ready` holds (at most `limit`), then interrupts `child` as Ctrl-C would, and
/// returns what it printed.
pub fn interrupt_when(child: Child, ready: impl Fn() -> bool, limit: Duration) -> Output {
    signal_when(child, "INT", ready, limit)
}

/// Waits until `ready` holds (at most `limit`), then sends `child` the signal named `signal`
/// (as `kill -SIGNAL` takes it: `INT`, `TERM`, `HUP`, `KILL`), and returns what it printed.
pub fn signal_when(
    child: Child,
    signal: &str,
    ready: impl Fn() -> bool,
    limit: Duration,
) -> Output {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < limit,
            "not ready to interrupt after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait_with_output().unwrap()
}

/// `silico synth --recipe small --fields FIELDS --seed SEED EXTRA --out OUT`, which must succeed.
pub fn synth_small(out: &Path, fields: usize, seed: u64, extra: &[&str]) {
    let output = Command::new(silico_bin())
        .args(["synth", "--recipe", "small", "--fields"])
        .arg(fields.to_string())
        .arg("--seed")
        .arg(seed.to_string())
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The Python that `scripts/env.sh` names in `var`: `SILICO_PYTHON` (torch and the reference
/// libraries), `SILICO_ZARR2_PYTHON` or `SILICO_ZARR3_PYTHON` (zarr 2 / zarr 3 and OME-Zarr).
pub fn python_of(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: source scripts/env.sh, which installs it"))
}

/// Runs the inline `script` with the Python of `var` and `args`; returns its standard output,
/// and panics with its standard error if it fails.
pub fn run_python(var: &str, script: &str, args: &[&Path]) -> String {
    let output = Command::new(python_of(var))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
