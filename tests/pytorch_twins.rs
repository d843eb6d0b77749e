//! silico's networks against their PyTorch twins (python/silico_reference.py), in both
//! directions: weights trained by silico give PyTorch the prediction `silico predict` gives,
//! and weights made in PyTorch, imported by silico, give silico PyTorch's prediction.

mod common;

use common::{
    ok, predict_args, run_silico, scratch_registry, silico_bin, train_args, ScratchRegistry,
};
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

const TWINS: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"
r2unet3d = "{r2unet3d}"

[models.unet]
generator = { component = "unet3d", depth = 2, mult_chan = 4 }
losses = [{ component = "mse" }]
train = { iterations = 3, batch = 2, patch = [16, 32, 32] }

[models.r2unet]
generator = { component = "r2unet3d", base_channels = 4, depth = 2, t = 2 }
losses = [{ component = "mse" }]
train = { iterations = 3, batch = 2, patch = [16, 32, 32] }
"#;

/// The generator configs above, as the twins take them.
const UNET_CONFIG: &str = r#"{"depth": 2, "mult_chan": 4}"#;
const R2UNET_CONFIG: &str = r#"{"base_channels": 4, "depth": 2, "t": 2}"#;

fn python() -> String {
    std::env::var("SILICO_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn reference(args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/check_pytorch.py");
    let output = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the PyTorch check failed (needs torch, safetensors and tifffile in SILICO_PYTHON; scripts/env.sh installs them): {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A synthetic dataset of one field (24 × 96 × 96, sides not all multiples of 16).
fn dataset(root: &Path) -> PathBuf {
    let out = root.join("data");
    let status = Command::new(silico_bin())
        .args(["synth", "--recipe", "small", "--fields", "1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success());
    out
}

/// `silico predict` of one image in a single tile, so that the comparison sees the network
/// alone (tile blending is tested on its own).
fn predict(registry: &ScratchRegistry, run: &Path, image: &Path, out: &Path) -> PathBuf {
    ok(&run_silico(
        registry,
        &predict_args(
            run,
            image,
            out,
            &["--tile", "32,96,96", "--precision", "fp32"],
        ),
    ));
    out.join("nucleoli/brightfield.tif")
}

/// PyTorch's twin with `weights`, run on `image`, agrees with silico's `prediction` to 1e-4.
fn compare(component: &str, config: &str, weights: &Path, image: &Path, prediction: &Path) {
    let printed = reference(&[
        "compare",
        "--component",
        component,
        "--config",
        config,
        "--weights",
        weights.to_str().unwrap(),
        "--input",
        image.to_str().unwrap(),
        "--prediction",
        prediction.to_str().unwrap(),
        "--tolerance",
        "1e-4",
    ]);
    assert!(String::from_utf8_lossy(&printed.stdout).starts_with("max abs difference"));
}

fn twins_agree(model: &str, component: &str, config: &str) {
    let registry = scratch_registry(TWINS);
    let root = registry.dir.path();
    let data = dataset(root);
    let image = data.join("fields/field_000/brightfield.tif");

    // silico → PyTorch: train a few steps, so BatchNorm statistics are not the initial ones.
    let run = root.join("trained");
    ok(&run_silico(
        &registry,
        &train_args(model, "nucleoli", &data, &run, &[]),
    ));
    let prediction = predict(&registry, &run, &image, &root.join("silico-predictions"));
    let weights = run.join("checkpoint/generator.safetensors");
    compare(component, config, &weights, &image, &prediction);

    // PyTorch → silico: weights initialised by PyTorch, imported, predicted by silico.
    let torch_weights = root.join("torch.safetensors");
    reference(&[
        "random-weights",
        "--component",
        component,
        "--config",
        config,
        "--seed",
        "5",
        "--out",
        torch_weights.to_str().unwrap(),
    ]);
    let imported = root.join("imported");
    let stdout = ok(&run_silico(
        &registry,
        &[
            "import",
            "--weights",
            torch_weights.to_str().unwrap(),
            "--model",
            model,
            "--structure",
            "nucleoli",
            "--out",
            imported.to_str().unwrap(),
        ],
    ));
    assert!(stdout.starts_with("imported "), "{stdout}");
    let prediction = predict(
        &registry,
        &imported,
        &image,
        &root.join("imported-predictions"),
    );
    compare(component, config, &torch_weights, &image, &prediction);
}

#[test]
fn unet3d_matches_pytorch_fnet_both_ways() {
    twins_agree("unet", "unet3d", UNET_CONFIG);
}

#[test]
fn r2unet3d_matches_its_pytorch_twin_both_ways() {
    twins_agree("r2unet", "r2unet3d", R2UNET_CONFIG);
}

#[test]
fn patchgan3d_matches_its_pytorch_twin() {
    let registry = scratch_registry("[plugins]\npatchgan3d = \"{patchgan3d}\"\n");
    let root = registry.dir.path();
    let config = r#"{"base_channels": 4, "layers": 3}"#;
    let weights = root.join("torch.safetensors");
    reference(&[
        "random-weights",
        "--component",
        "patchgan3d",
        "--config",
        config,
        "--seed",
        "3",
        "--out",
        weights.to_str().unwrap(),
    ]);
    let plugins = silico::Plugins::load(&silico::Registry::load(&registry.path).unwrap()).unwrap();
    let spec = silico_plugin_api::NetworkSpec {
        in_channels: 2,
        out_channels: 1,
    };
    let table = common::component("component = \"patchgan3d\"\nbase_channels = 4\nlayers = 3");
    let mut discriminator = plugins
        .build_network(
            silico_plugin_api::ComponentKind::Discriminator,
            &table,
            spec,
        )
        .unwrap();
    discriminator
        .load_state(&silico::checkpoint::read_tensors(&weights).unwrap())
        .unwrap();
    tch::manual_seed(11);
    let input = tch::Tensor::randn([2, 2, 16, 24, 32], (tch::Kind::Float, tch::Device::Cpu));
    let output = tch::no_grad(|| discriminator.forward_t(&input, false)).unwrap();
    assert_eq!(output.size(), vec![2, 1, 2, 3, 4], "one logit per 8³ patch");
    let tensors = root.join("tensors.safetensors");
    tch::Tensor::write_safetensors(&[("input", &input), ("output", &output)], &tensors).unwrap();
    reference(&[
        "compare-tensors",
        "--component",
        "patchgan3d",
        "--config",
        config,
        "--weights",
        weights.to_str().unwrap(),
        "--tensors",
        tensors.to_str().unwrap(),
    ]);
}
