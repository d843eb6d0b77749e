//! `silico import` of state dicts saved straight from PyTorch: `torch.save(net.state_dict())`,
//! checkpoint dicts around one, DataParallel's prefixed names and safetensors with BatchNorm's
//! `num_batches_tracked`, all of the PyTorch twin (python/silico_reference.py), import without
//! editing and predict what PyTorch predicts; a state dict of another network fails in one line.

mod common;

use common::{ok, predict_args, run_silico, scratch_registry, silico_bin, ScratchRegistry};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

const REGISTRY: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"

[models.unet]
generator = { component = "unet3d", depth = 2, mult_chan = 4 }
losses = [{ component = "mse" }]
"#;

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../python")
}

fn python() -> String {
    common::python_of("SILICO_PYTHON")
}

/// Runs `code` with the twins importable; returns its standard output.
fn torch(code: &str) -> String {
    let output = Command::new(python())
        .args(["-c", code])
        .env("PYTHONPATH", python_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Saves, in `dir`, the state of a PyTorch `FnetUNet(depth=2, mult_chan)` (seeded weights,
/// randomised BatchNorm statistics, some steps counted) in the ways PyTorch code saves it.
/// Returns how many `num_batches_tracked` it has.
fn save_twin(dir: &Path, mult_chan: u32) -> usize {
    let printed = torch(&format!(
        r#"
import os, torch
from safetensors.torch import save_file
from silico_reference import FnetUNet
torch.manual_seed(5)
net = FnetUNet(depth=2, mult_chan={mult_chan})
with torch.no_grad():
    for name, tensor in net.state_dict().items():
        if name.endswith("running_mean"):
            tensor.normal_(0.0, 0.1)
        elif name.endswith("running_var"):
            tensor.uniform_(0.5, 1.5)
        elif name.endswith("num_batches_tracked"):
            tensor.fill_(17)
state = net.state_dict()
out = {dir:?}
torch.save(state, os.path.join(out, "net.pt"))
torch.save({{"model_state_dict": {{"module." + k: v for k, v in state.items()}}, "epoch": 3}}, os.path.join(out, "data_parallel.pth"))
torch.save({{"nn_name": "fnet_nn_3d_params", "nn_state": state, "count_iter": 7}}, os.path.join(out, "model.p"))
torch.save({{"state_dict": state}}, os.path.join(out, "lightning.ckpt"), _use_new_zipfile_serialization=False)
save_file({{k: v.contiguous() for k, v in state.items()}}, os.path.join(out, "state.safetensors"))
print(sum(k.endswith("num_batches_tracked") for k in state))
"#
    ));
    printed.trim().parse().unwrap()
}

fn import(registry: &ScratchRegistry, weights: &Path, out: &Path) -> Output {
    run_silico(
        registry,
        &[
            "import",
            "--weights",
            weights.to_str().unwrap(),
            "--model",
            "unet",
            "--structure",
            "nucleoli",
            "--out",
            out.to_str().unwrap(),
        ],
    )
}

fn generator(run: &Path) -> BTreeMap<String, tch::Tensor> {
    silico::checkpoint::read_tensors(&run.join("checkpoint/generator.safetensors"))
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn pytorch_state_dicts_import_without_editing() {
    let registry = scratch_registry(REGISTRY);
    let root = registry.dir.path();
    let counters = save_twin(root, 4);
    assert_eq!(counters, 14, "the twin's BatchNorms");

    let run = root.join("net");
    let output = import(&registry, &root.join("net.pt"), &run);
    ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        format!("note: ignored {counters} bookkeeping buffers the network does not keep (num_batches_tracked)")
    );

    // The same weights, however they were wrapped, give the same checkpoint.
    let reference = generator(&run);
    for file in [
        "data_parallel.pth",
        "model.p",
        "lightning.ckpt",
        "state.safetensors",
    ] {
        let other = root.join(format!("imported-{file}"));
        ok(&import(&registry, &root.join(file), &other));
        let tensors = generator(&other);
        assert!(
            tensors.keys().eq(reference.keys()),
            "{file}: {:?}",
            tensors.keys()
        );
        for (name, tensor) in &tensors {
            assert!(tensor.equal(&reference[name]), "{file}: {name} differs");
        }
    }

    // silico's prediction with the imported weights is PyTorch's.
    let data = root.join("data");
    let synth = Command::new(silico_bin())
        .args(["synth", "--recipe", "small", "--fields", "1", "--out"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(synth.status.success());
    let image = data.join("fields/field_000/brightfield.tif");
    let predictions = root.join("predictions");
    ok(&run_silico(
        &registry,
        &predict_args(
            &run,
            &image,
            &predictions,
            &["--tile", "32,96,96", "--precision", "fp32"],
        ),
    ));
    let compared = Command::new(python())
        .arg(python_dir().join("check_pytorch.py"))
        .args([
            "compare",
            "--component",
            "unet3d",
            "--config",
            r#"{"depth": 2, "mult_chan": 4}"#,
            "--tolerance",
            "1e-4",
            "--weights",
        ])
        .arg(root.join("state.safetensors"))
        .arg("--input")
        .arg(&image)
        .arg("--prediction")
        .arg(predictions.join("nucleoli/brightfield.tif"))
        .output()
        .unwrap();
    assert!(
        compared.status.success(),
        "{}{}",
        String::from_utf8_lossy(&compared.stdout),
        String::from_utf8_lossy(&compared.stderr)
    );
}

/// The one line `silico import` fails with, after checking that it made no run.
fn refusal(registry: &ScratchRegistry, weights: &Path) -> String {
    let out = registry.dir.path().join("refused");
    let output = import(registry, weights, &out);
    assert!(!output.status.success());
    assert!(!out.join("checkpoint").exists());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn a_state_dict_of_another_network_fails_naming_the_key() {
    let registry = scratch_registry(REGISTRY);
    let root = registry.dir.path();
    save_twin(root, 8);
    let wider = refusal(&registry, &root.join("net.pt"));
    assert!(
        wider.contains("does not fit model `unet`'s generator `unet3d`: `conv_out.weight` has shape [1, 8, 3, 3, 3] in the file but [1, 4, 3, 3, 3] in the network ("),
        "{wider}"
    );

    let lacking = root.join("lacking.pt");
    torch(&format!(
        r#"
import torch
from silico_reference import FnetUNet
state = FnetUNet(depth=2, mult_chan=4).state_dict()
del state["net_recurse.bn0.running_var"]
torch.save(state, {lacking:?})
"#
    ));
    let missing = refusal(&registry, &lacking);
    assert!(
        missing
            .contains("the network's `net_recurse.bn0.running_var` [4] is missing from the file"),
        "{missing}"
    );

    let module = root.join("module.pt");
    torch(&format!(
        "import torch\nfrom torch import nn\ntorch.save(nn.Conv3d(1, 1, 3), {module:?})"
    ));
    let pickled_module = refusal(&registry, &module);
    assert!(
        pickled_module.contains("cannot read it")
            && pickled_module.contains("save net.state_dict()"),
        "{pickled_module}"
    );
}
