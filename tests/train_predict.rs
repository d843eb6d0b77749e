//! Training and prediction end to end, on a small synthetic dataset and a very small U-Net:
//! the loss falls, an interrupted run resumes to exactly the weights of an uninterrupted one,
//! a NaN loss stops the run with the last good checkpoint kept, and prediction writes whole
//! images of any size.

mod common;

use common::{
    interrupt_when, ok, predict_args, run_silico, scratch_registry, silico_bin, synth_small,
    train_args, ScratchRegistry,
};
use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::OnceLock,
    time::Duration,
};

const MICRO: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"

[models.micro]
generator = { component = "unet3d", depth = 2, mult_chan = 4 }
losses = [{ component = "mse" }]
train = { iterations = 40, batch = 2, patch = [8, 32, 32], lr = 3e-3, checkpoint_every = 10, seed = 7 }

[models.small]
generator = { component = "unet3d", depth = 3, mult_chan = 8 }
losses = [{ component = "mse" }]
train = { iterations = 80, batch = 4, patch = [16, 32, 32], lr = 1e-3, seed = 7 }

[models.exploding]
generator = { component = "unet3d", depth = 1, mult_chan = 2 }
losses = [{ component = "mse" }]
train = { iterations = 20, batch = 1, patch = [8, 16, 16], lr = 1e30, checkpoint_every = 1 }
"#;

/// A small synthetic dataset, made once for all tests of this file.
fn dataset() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("silico-train-test-{}", std::process::id()));
        synth_small(&dir, 3, 3, &[]);
        dir
    })
}

fn train(registry: &ScratchRegistry, model: &str, out: &Path, extra: &[&str]) -> Output {
    train_structure(registry, model, "nucleoli", out, extra)
}

fn train_structure(
    registry: &ScratchRegistry,
    model: &str,
    structure: &str,
    out: &Path,
    extra: &[&str],
) -> Output {
    run_silico(
        registry,
        &train_args(model, structure, dataset(), out, extra),
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

#[test]
fn loss_falls() {
    let registry = scratch_registry(MICRO);
    let run = registry.dir.path().join("dna");
    ok(&train_structure(&registry, "small", "dna", &run, &[]));
    let curve = losses(&run);
    assert_eq!(curve.len(), 80);
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    assert!(
        mean(&curve[60..]) < 0.8 * mean(&curve[..20]),
        "the loss falls: {curve:?}"
    );
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let registry = scratch_registry(&MICRO.replace("iterations = 40", "iterations = 12"));
    let straight = registry.dir.path().join("straight");
    ok(&train(&registry, "micro", &straight, &[]));
    let resumed = registry.dir.path().join("resumed");
    ok(&train(&registry, "micro", &resumed, &["--iterations", "5"]));
    let refused = train(&registry, "micro", &resumed, &[]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already holds a run; pass --resume"));
    ok(&train(&registry, "micro", &resumed, &["--resume"]));
    assert_eq!(losses(&resumed), losses(&straight), "the same loss curve");
    assert_eq!(
        weights(&resumed),
        weights(&straight),
        "the same final weights, byte for byte"
    );
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_resume_finishes() {
    let registry = scratch_registry(&MICRO.replace("iterations = 40", "iterations = 100000"));
    let run = registry.dir.path().join("run");
    let child = Command::new(silico_bin())
        .args(train_args("micro", "nucleoli", dataset(), &run, &[]))
        .args(["--threads", "1", "--registry"])
        .arg(&registry.path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = interrupt_when(
        child,
        || run.join("checkpoint/checkpoint.json").exists(),
        Duration::from_secs(120),
    );
    assert_eq!(
        output.status.code(),
        Some(130),
        "interrupted runs exit with 130"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("interrupted at iteration") && stderr.contains("--resume"),
        "{stderr}"
    );
    let meta = std::fs::read_to_string(run.join("checkpoint/checkpoint.json")).unwrap();
    let iteration: u64 = meta
        .split("\"iteration\": ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(iteration >= 10, "{meta}");
    assert_eq!(
        losses(&run).len() as u64,
        iteration,
        "the log matches the checkpoint"
    );
    let target = (iteration + 3).to_string();
    ok(&train(
        &registry,
        "micro",
        &run,
        &["--resume", "--iterations", &target],
    ));
    assert_eq!(losses(&run).len() as u64, iteration + 3);
}

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let registry = scratch_registry(MICRO);
    let run = registry.dir.path().join("exploding");
    let output = train(&registry, "exploding", &run, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("training stopped at iteration "),
        "{stderr}"
    );
    assert!(
        stderr.contains("the checkpoint of iteration 1 is kept in"),
        "{stderr}"
    );
    assert!(stderr.contains("loss `mse` is "), "{stderr}");
    let meta = std::fs::read_to_string(run.join("checkpoint/checkpoint.json")).unwrap();
    assert!(meta.contains("\"iteration\": "), "{meta}");
}

#[test]
fn prediction_covers_whole_images_of_any_size() {
    let registry = scratch_registry(MICRO);
    let run = registry.dir.path().join("for-predict");
    ok(&train(&registry, "micro", &run, &["--iterations", "5"]));
    // An image whose sides are not multiples of 16: a crop of a synthetic bright-field.
    let source = dataset().join("fields/field_000/brightfield.tif");
    let out = registry.dir.path().join("predictions");
    let extra = ["--tile", "16,48,48", "--overlap", "8,16,16", "--flips"];
    let stdout = ok(&run_silico(
        &registry,
        &predict_args(&run, &source, &out, &extra),
    ));
    assert!(stdout.contains("nucleoli/brightfield.tif"), "{stdout}");
    let info = ok(&Command::new(silico_bin())
        .arg("info")
        .arg(out.join("nucleoli/brightfield.tif"))
        .output()
        .unwrap());
    assert!(
        info.contains("C=1 Z=24 Y=96 X=96"),
        "same shape as the input: {info}"
    );
    assert!(
        info.contains("z=0.29 y=0.29 x=0.29"),
        "same voxel size: {info}"
    );

    let manifest_out = registry.dir.path().join("manifest-predictions");
    let stdout = ok(&run_silico(
        &registry,
        &predict_args(&run, dataset(), &manifest_out, &[]),
    ));
    assert_eq!(stdout.lines().count(), 3, "one line per field: {stdout}");
    assert!(
        stdout.contains("nucleoli/field_000.tif  Pearson r "),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(manifest_out.join("nucleoli/predictions.csv")).unwrap();
    assert!(
        csv.starts_with("image,path,pearson_r,mse\nfield_000,"),
        "{csv}"
    );
}

#[test]
fn tiles_blend_without_seams() {
    let registry = scratch_registry(MICRO);
    let run = registry.dir.path().join("for-tiles");
    ok(&train(&registry, "micro", &run, &["--iterations", "5"]));
    let image = dataset().join("fields/field_000/brightfield.tif");
    let predict = |name: &str, tile: &str, overlap: &str| {
        let out = registry.dir.path().join(name);
        let extra = ["--tile", tile, "--overlap", overlap];
        ok(&run_silico(
            &registry,
            &predict_args(&run, &image, &out, &extra),
        ));
        silico_imaging::tiff::read_volume(&out.join("nucleoli/brightfield.tif"))
            .unwrap()
            .data
    };
    // One tile covers the whole (padded) 24 × 96 × 96 image; the other cuts it into 3 × 5 × 5
    // overlapping tiles.
    let whole = predict("whole", "32,96,96", "0,0,0");
    let tiled = predict("tiled", "16,32,32", "8,16,16");
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let (mw, mt) = (mean(&whole), mean(&tiled));
    let covariance: f64 = whole
        .iter()
        .zip(&tiled)
        .map(|(&a, &b)| (a as f64 - mw) * (b as f64 - mt))
        .sum();
    let spread = |v: &[f32], m: f64| {
        v.iter()
            .map(|&x| (x as f64 - m).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let r = covariance / (spread(&whole, mw) * spread(&tiled, mt));
    assert!(
        r > 0.97,
        "tiled and whole-image predictions agree (Pearson r {r})"
    );
}
