//! Precision and memory layout end to end: mixed-precision and channels-last runs resume to
//! exactly the weights of uninterrupted ones; a bf16 prediction is close to the fp32 one; a
//! memory budget chooses the tiles, and the tiled prediction matches the whole-image one.

mod common;

use common::{
    ok, predict_args, run_silico, scratch_registry, synth_small, train_args, ScratchRegistry,
};
use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

const MODELS: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"

[models.micro]
generator = { component = "unet3d", depth = 2, mult_chan = 4 }
losses = [{ component = "mse" }]
train = { iterations = 8, batch = 2, patch = [8, 32, 32], lr = 3e-3, checkpoint_every = 4, seed = 3 }

[models.micro-cl]
generator = { component = "unet3d", depth = 2, mult_chan = 4 }
losses = [{ component = "mse" }]
train = { iterations = 8, batch = 2, patch = [8, 32, 32], lr = 3e-3, checkpoint_every = 4, seed = 3, memory_format = "channels-last" }
"#;

fn dataset() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("silico-precision-test-{}", std::process::id()));
        synth_small(&dir, 2, 5, &[]);
        dir
    })
}

fn train(registry: &ScratchRegistry, model: &str, out: &Path, extra: &[&str]) -> String {
    ok(&run_silico(
        registry,
        &train_args(model, "nucleoli", dataset(), out, extra),
    ))
}

fn generator_bytes(run: &Path) -> Vec<u8> {
    std::fs::read(run.join("checkpoint/generator.safetensors")).unwrap()
}

#[test]
fn mixed_precision_and_channels_last_runs_resume_exactly() {
    let registry = scratch_registry(MODELS);
    for (model, precision) in [
        ("micro", "bf16"),
        ("micro-cl", "fp32"),
        ("micro-cl", "bf16"),
    ] {
        let root = registry.dir.path().join(format!("{model}-{precision}"));
        let (straight, resumed) = (root.join("straight"), root.join("resumed"));
        train(&registry, model, &straight, &["--precision", precision]);
        train(
            &registry,
            model,
            &resumed,
            &["--precision", precision, "--iterations", "4"],
        );
        train(
            &registry,
            model,
            &resumed,
            &["--precision", precision, "--resume"],
        );
        assert_eq!(
            generator_bytes(&resumed),
            generator_bytes(&straight),
            "{model} at {precision}: the same final weights, byte for byte"
        );
        let meta = std::fs::read_to_string(straight.join("checkpoint/checkpoint.json")).unwrap();
        assert!(
            meta.contains(&format!("precision = \\\"{precision}\\\"")),
            "the checkpoint records the precision: {meta}"
        );
    }
}

fn read(path: &Path) -> Vec<f32> {
    silico_imaging::tiff::read_volume(path).unwrap().data
}

/// How two predictions of one image agree.
struct Agreement {
    pearson: f64,
    /// Largest and mean absolute difference, in standard deviations of the first.
    max: f64,
    mean: f64,
}

fn compare(a: &[f32], b: &[f32]) -> Agreement {
    let n = a.len() as f64;
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb, mut max, mut sum) = (0.0, 0.0, 0.0, 0.0f64, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
        let difference = (x as f64 - y as f64).abs();
        max = max.max(difference);
        sum += difference;
    }
    let sd = (saa / n).sqrt();
    Agreement {
        pearson: sab / (saa * sbb).sqrt(),
        max: max / sd,
        mean: sum / n / sd,
    }
}

/// Predicts the first field's bright-field; returns the prediction and stderr.
fn predict(
    registry: &ScratchRegistry,
    run: &Path,
    name: &str,
    extra: &[&str],
) -> (Vec<f32>, String) {
    let image = dataset().join("fields/field_000/brightfield.tif");
    let out = registry.dir.path().join(name);
    let output = run_silico(registry, &predict_args(run, &image, &out, extra));
    ok(&output);
    (
        read(&out.join("nucleoli/brightfield.tif")),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bf16_prediction_is_close_to_fp32_and_channels_last_equal_to_contiguous() {
    let registry = scratch_registry(MODELS);
    let run = registry.dir.path().join("run");
    train(&registry, "micro", &run, &[]);
    let (fp32, stderr) = predict(&registry, &run, "fp32", &["--precision", "fp32"]);
    assert!(stderr.contains("fp32"), "{stderr}");
    let (bf16, stderr) = predict(&registry, &run, "bf16", &["--precision", "bf16"]);
    assert!(stderr.contains("bf16"), "{stderr}");
    // bf16 keeps 8 bits of mantissa: about 0.4 % per operation.
    let bf16 = compare(&fp32, &bf16);
    assert!(
        bf16.pearson >= 0.999,
        "bf16 against fp32: Pearson r {}",
        bf16.pearson
    );
    assert!(
        bf16.max < 0.25,
        "bf16 against fp32: max |diff| {} sd",
        bf16.max
    );
    let (channels_last, stderr) = predict(
        &registry,
        &run,
        "channels-last",
        &["--precision", "fp32", "--memory-format", "channels-last"],
    );
    assert!(stderr.contains("channels-last"), "{stderr}");
    let layouts = compare(&fp32, &channels_last);
    assert!(
        layouts.max < 1e-3,
        "channels-last against contiguous: max |diff| {} sd",
        layouts.max
    );
}

#[test]
fn a_memory_budget_chooses_the_tiles_and_tiles_match_the_whole_image() {
    let registry = scratch_registry(MODELS);
    let run = registry.dir.path().join("run");
    train(&registry, "micro", &run, &[]);
    let fp32 = ["--precision", "fp32"];
    let (whole, stderr) = predict(&registry, &run, "whole", &fp32);
    // The 24 × 96 × 96 field pads to 32 × 96 × 96, which fits half of any machine's memory.
    assert!(
        stderr.contains(
            "tiles [32, 96, 96] overlapping [0, 0, 0], 1 per forward pass (memory budget"
        ),
        "{stderr}"
    );
    // It measured the network; a budget for 80 % of the image (measurements vary by a few
    // percent between processes) cuts it in two.
    let measured = stderr
        .split("a forward pass takes ")
        .nth(1)
        .unwrap_or_else(|| panic!("{stderr}"));
    let numbers: Vec<f64> = measured
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (fixed_mib, per_voxel) = (numbers[0], numbers[1]);
    let budget_mib = fixed_mib + per_voxel * 0.8 * (32.0 * 96.0 * 96.0) / (1 << 20) as f64;
    let budget = format!("{budget_mib:.0}M");
    let (tight, stderr) = predict(
        &registry,
        &run,
        "tight",
        &["--precision", "fp32", "--memory-budget", &budget],
    );
    assert!(
        stderr.contains("tiles [32, 96, 64] overlapping [0, 0, 32]")
            || stderr.contains("tiles [32, 64, 96] overlapping [0, 32, 0]"),
        "a budget of {budget} cuts the image in two: {stderr}"
    );
    // Tiles see zero padding where the whole image sees more of the cell; the triangular window
    // gives those borders little weight, so the seams differ a little and the rest hardly.
    let seams_ok = |agreement: &Agreement, what: &str| {
        assert!(
            agreement.pearson > 0.999,
            "{what}: Pearson r {}",
            agreement.pearson
        );
        assert!(
            agreement.mean < 0.02,
            "{what}: mean |diff| {} sd",
            agreement.mean
        );
        assert!(
            agreement.max < 0.6,
            "{what}: max |diff| {} sd",
            agreement.max
        );
    };
    seams_ok(
        &compare(&whole, &tight),
        "budget tiles against the whole image",
    );

    let (tiled, _) = predict(
        &registry,
        &run,
        "tiled",
        &[
            "--precision",
            "fp32",
            "--tile",
            "32,48,48",
            "--overlap",
            "0,24,24",
        ],
    );
    seams_ok(
        &compare(&whole, &tiled),
        "3 × 3 tiles against the whole image",
    );

    let refused = run_silico(
        &registry,
        &predict_args(
            &run,
            &dataset().join("fields/field_000/brightfield.tif"),
            &registry.dir.path().join("refused"),
            &["--tile", "16,0,16"],
        ),
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("every side must be positive"), "{stderr}");
}
