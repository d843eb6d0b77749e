//! `silico export --format bioimageio`: tiny trained runs become BioImage Model Zoo packages
//! that bioimageio.core's `test_model` passes (both weight formats reproduce silico's test
//! output, at several sizes and batch sizes), whose TorchScript gives silico's prediction of
//! the test input; runs that cannot be exported are refused in one line.

mod common;

use common::{library, ok, scratch_registry, silico_bin, synth_small};
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

/// A synthetic dataset of one field, made once for all tests of this file.
fn dataset() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("silico-export-test-{}", std::process::id()));
        synth_small(&dir, 1, 4, &[]);
        dir
    })
}

fn python() -> String {
    common::python_of("SILICO_PYTHON")
}

/// `silico ARGS --threads 1 --registry REGISTRY`.
fn silico(registry: &Path, args: &[&str]) -> Output {
    Command::new(silico_bin())
        .args(args)
        .args(["--threads", "1", "--registry"])
        .arg(registry)
        .env("SILICO_PYTHON", python())
        .output()
        .unwrap()
}

/// Trains `model` of `registry` on nucleoli for a few iterations (BatchNorm statistics move
/// off their initial values) into `root/run`.
fn train(registry: &Path, model: &str, root: &Path) -> PathBuf {
    let run = root.join("run");
    ok(&silico(
        registry,
        &[
            "train",
            "--model",
            model,
            "--structure",
            "nucleoli",
            "--data",
            dataset().to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--iterations",
            "2",
        ],
    ));
    run
}

/// Runs bioimageio.core's `test_model` on the package, and the package's TorchScript on its
/// test input (z-scored as silico does) against its test output; prints the largest difference.
const CHECK: &str = r#"
import io, sys, zipfile
import numpy as np, torch
from bioimageio.core import test_model

package = sys.argv[1]
summary = test_model(package)
if summary.status != "passed":
    details = summary.format(include_conda_list=False)
    if "index_key" in details:
        # pydantic 2.14 refuses what bioimageio.spec 0.5.12's serializers pass it.
        details += "\nbioimageio.spec 0.5.12 needs pydantic < 2.14 (scripts/env.sh pins it)"
    sys.exit("test_model: " + summary.status + "\n" + details)
with zipfile.ZipFile(package) as z:
    raw = np.load(io.BytesIO(z.read("test_input.npy"))).astype(np.float64)
    expected = np.load(io.BytesIO(z.read("test_output.npy")))
    net = torch.jit.load(io.BytesIO(z.read("weights.torchscript.pt")))
image = ((raw - raw.mean()) / raw.std()).astype(np.float32)
with torch.no_grad():
    out = net(torch.from_numpy(image)).numpy()
difference = float(np.abs(out - expected).max())
print(f"test_model passed; TorchScript off silico's test output by {difference:.3e}")
if out.shape != expected.shape or difference > 1e-4:
    sys.exit(f"TorchScript output {out.shape} differs from the test output {expected.shape} by {difference}")
"#;

fn export_and_check(model: &str, expected_callable: &str) {
    let root = tempfile::tempdir().unwrap();
    let registry = silico::default_registry_path().unwrap();
    let run = train(&registry, model, root.path());
    let package = root.path().join("packages/model.zip");
    let stdout = ok(&silico(
        &registry,
        &[
            "export",
            "--format",
            "bioimageio",
            run.to_str().unwrap(),
            "--out",
            package.to_str().unwrap(),
            "--voxel-size",
            "0.29,0.29,0.29",
        ],
    ));
    assert!(
        stdout.starts_with(&format!("exported `silico {model} nucleoli` to ")),
        "{stdout}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(package.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["model.zip"],
        "only the finished package is left"
    );

    let rdf = unzip_text(&package, "rdf.yaml");
    for expected in [
        "format_version: \"0.5.4\"",
        &format!("callable: \"{expected_callable}\""),
        "min: 8\n          step: 8",
        "unit: \"micrometer\"\n        scale: 0.29",
        "doi: \"10.1038/s41592-018-0111-2\"",
        "id: \"zero_mean_unit_variance\"",
    ] {
        assert!(
            rdf.contains(expected),
            "rdf.yaml lacks `{expected}`:\n{rdf}"
        );
    }

    let check = Command::new(python())
        .args(["-c", CHECK])
        .arg(&package)
        .env(
            "BIOIMAGEIO_CACHE_PATH",
            root.path().join("bioimageio-cache"),
        )
        .output()
        .unwrap();
    let printed = ok(&check);
    assert!(printed.contains("test_model passed"), "{printed}");
}

fn unzip_text(package: &Path, name: &str) -> String {
    let output = Command::new(python())
        .args([
            "-c",
            "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode(), end='')",
        ])
        .arg(package)
        .arg(name)
        .output()
        .unwrap();
    ok(&output)
}

#[test]
fn unet_tiny_exports_a_package_bioimageio_core_passes() {
    export_and_check("unet-tiny", "FnetUNet");
}

#[test]
fn vox2vox_ru_tiny_exports_a_package_bioimageio_core_passes() {
    export_and_check("vox2vox-ru-tiny", "R2UNet3d");
}

/// The one line of a failed run, and that it failed.
fn error_line(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    lines[0].to_string()
}

#[test]
fn a_bad_run_path_is_refused_in_one_line() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("no-such-run");
    let out = root.path().join("model.zip");
    let line = error_line(&silico(
        &silico::default_registry_path().unwrap(),
        &[
            "export",
            "--format",
            "bioimageio",
            missing.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    assert!(line.starts_with("error: "), "{line}");
    assert!(line.contains("no-such-run"), "{line}");
    assert!(!out.exists());
}

#[test]
fn a_generator_without_a_pytorch_twin_is_refused_in_one_line() {
    let registry = scratch_registry(&format!(
        "[plugins]\nlosses = \"{{losses}}\"\ntemplate = \"{}\"\n\n[models.third-party]\ngenerator = {{ component = \"two-level-unet3d\", channels = 2 }}\nlosses = [{{ component = \"mse\" }}]\ntrain = {{ batch = 1, patch = [8, 16, 16] }}\n",
        library("silico_network_template").display()
    ));
    let run = train(&registry.path, "third-party", registry.dir.path());
    let out = registry.dir.path().join("model.zip");
    let line = error_line(&silico(
        &registry.path,
        &[
            "export",
            "--format",
            "bioimageio",
            run.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    assert!(line.contains("`two-level-unet3d`"), "{line}");
    assert!(line.contains("no PyTorch twin"), "{line}");
    assert!(!out.exists());
}
