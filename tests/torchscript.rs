//! A generator written in PyTorch (examples/torchscript/make_net.py: Conv3d + BatchNorm3d +
//! ReLU, scripted and saved with torch.jit.save) trained by silico through the `torchscript`
//! plugin, from a registry that names the `.pt` relative to its own folder: the loss falls, a
//! resumed run ends byte for byte where an uninterrupted one does, `silico predict` gives what
//! PyTorch gives with the saved weights, and `silico check` accepts it.

mod common;

use common::{
    library, ok, predict_args, run_silico, scratch_registry, synth_small, train_args,
    ScratchRegistry,
};
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

const SCRIPTED: &str = r#"
[plugins]
losses = "{losses}"
torchscript = "{torchscript}"

[models.scripted]
generator = { component = "torchscript", path = "net.pt" }
losses = [{ component = "mse" }]
train = { iterations = 30, batch = 2, patch = [8, 32, 32], lr = 3e-3, checkpoint_every = 10, seed = 7 }
"#;

fn python() -> String {
    common::python_of("SILICO_PYTHON")
}

/// Runs a Python `code` with `args`; it must succeed.
fn run_python(code: &str, args: &[&Path]) -> Output {
    let output = Command::new(python())
        .args(["-c", code])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A scratch registry of `text` with the example's `net.pt` beside it.
fn registry(text: &str) -> ScratchRegistry {
    let torchscript = library("silico_torchscript");
    let registry = scratch_registry(&text.replace("{torchscript}", torchscript.to_str().unwrap()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/torchscript/make_net.py");
    let net = registry.dir.path().join("net.pt");
    let output = Command::new(python())
        .arg(script)
        .arg(&net)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    registry
}

/// A small synthetic dataset, made once for all tests of this file.
fn dataset() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("silico-torchscript-{}", std::process::id()));
        synth_small(&dir, 2, 5, &[]);
        dir
    })
}

/// `silico train --model scripted` on nucleoli into `out`; the working directory is not the
/// registry's folder, so the `.pt` is found through the registry.
fn train(registry: &ScratchRegistry, out: &Path, extra: &[&str]) -> Output {
    run_silico(
        registry,
        &train_args("scripted", "nucleoli", dataset(), out, extra),
    )
}

fn losses(run: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(run.join("losses.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

fn weights(run: &Path) -> Vec<u8> {
    std::fs::read(run.join("checkpoint/generator.safetensors")).unwrap()
}

/// Loads silico's saved state into the scripted module (strictly: every parameter and buffer
/// under its PyTorch name), runs it in eval mode on the input as silico prepares it (z-score
/// of the whole image, zero padding up to multiples of 16) and prints the largest absolute
/// difference from silico's prediction.
const COMPARE: &str = r#"
import sys
import numpy as np, tifffile, torch
from safetensors.torch import load_file
net_path, weights, image_path, prediction = sys.argv[1:]
net = torch.jit.load(net_path)
net.load_state_dict(load_file(weights), strict=True)
net.eval()
image = tifffile.imread(image_path).astype(np.float64)
image = ((image - image.mean()) / image.std()).astype(np.float32)
size = image.shape
x = np.zeros([(n + 15) // 16 * 16 for n in size], np.float32)
x[: size[0], : size[1], : size[2]] = image
with torch.no_grad():
    out = net(torch.from_numpy(x)[None, None])[0, 0].numpy()[: size[0], : size[1], : size[2]]
silico = tifffile.imread(prediction).astype(np.float32)
print(float(np.abs(out - silico).max()), float(np.abs(out).max()))
"#;

/// The mean squared error of `run`'s predictions over the dataset's images (each whole),
/// from the `predictions.csv` that `silico predict` writes.
fn prediction_mse(registry: &ScratchRegistry, run: &Path) -> f64 {
    let out = run.join("predictions");
    ok(&run_silico(
        registry,
        &predict_args(run, dataset(), &out, &[]),
    ));
    let csv = std::fs::read_to_string(out.join("nucleoli/predictions.csv")).unwrap();
    let errors: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    errors.iter().sum::<f64>() / errors.len() as f64
}

#[test]
fn a_scripted_network_learns_and_predicts_as_pytorch_does() {
    let registry = registry(SCRIPTED);
    let root = registry.dir.path();
    let run = root.join("trained");
    ok(&train(&registry, &run, &[]));
    assert_eq!(losses(&run).len(), 30);
    // Random patches make the training curve noisy; whole images measure what was learned.
    let one_step = root.join("one-step");
    ok(&train(&registry, &one_step, &["--iterations", "1"]));
    let (before, after) = (
        prediction_mse(&registry, &one_step),
        prediction_mse(&registry, &run),
    );
    assert!(
        after < 0.8 * before,
        "30 iterations lower the error over whole images: {before} → {after}"
    );

    let image = dataset().join("fields/field_000/brightfield.tif");
    let out = root.join("predictions");
    let extra = ["--tile", "32,96,96", "--precision", "fp32"];
    ok(&run_silico(
        &registry,
        &predict_args(&run, &image, &out, &extra),
    ));
    let printed = run_python(
        COMPARE,
        &[
            &root.join("net.pt"),
            &run.join("checkpoint/generator.safetensors"),
            &image,
            &out.join("nucleoli/brightfield.tif"),
        ],
    );
    let printed = String::from_utf8_lossy(&printed.stdout);
    let numbers: Vec<f64> = printed
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let [difference, magnitude] = numbers[..] else {
        panic!("{printed}")
    };
    assert!(
        magnitude > 0.1,
        "a prediction that is not all zeros: {printed}"
    );
    assert!(
        difference < 1e-4,
        "silico and PyTorch differ by {difference}"
    );
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let registry = registry(&SCRIPTED.replace("iterations = 30", "iterations = 12"));
    let straight = registry.dir.path().join("straight");
    ok(&train(&registry, &straight, &[]));
    let resumed = registry.dir.path().join("resumed");
    ok(&train(&registry, &resumed, &["--iterations", "5"]));
    ok(&train(&registry, &resumed, &["--resume"]));
    assert_eq!(losses(&resumed), losses(&straight), "the same loss curve");
    let state: Vec<String> =
        silico::checkpoint::read_tensors(&resumed.join("checkpoint/generator.safetensors"))
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
    assert!(
        state.iter().any(|n| n == "body.0.1.running_mean")
            && state.iter().any(|n| n == "body.1.1.num_batches_tracked"),
        "the buffers are checkpointed: {state:?}"
    );
    assert_eq!(
        weights(&resumed),
        weights(&straight),
        "the same final weights and statistics, byte for byte"
    );
}

#[test]
fn check_accepts_it_and_a_missing_file_is_named() {
    let registry = registry(SCRIPTED);
    let stdout = ok(&run_silico(&registry, &["check"]));
    for precision in ["fp32", "bf16", "fp16"] {
        assert!(
            stdout.contains(&format!(
                "ok    scripted {precision}: generator `torchscript`"
            )),
            "{stdout}"
        );
    }

    let missing = registry.dir.path().join("missing.pt");
    std::fs::write(
        &registry.path,
        std::fs::read_to_string(&registry.path)
            .unwrap()
            .replace("\"net.pt\"", "\"missing.pt\""),
    )
    .unwrap();
    let run = registry.dir.path().join("never");
    let output = train(&registry, &run, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}: no such file", missing.display())),
        "{stderr}"
    );
}
