//! Voxel size travels with images and models: checkpoints record the voxel size a model was
//! trained at, `predict` resamples other images to it and back, files without one are said to
//! lack it, and evaluators measure a prediction without one at its real image's scale.

mod common;

use common::{ok, predict_args, run_silico, scratch_registry, train_args, ScratchRegistry};
use std::{
    path::{Path, PathBuf},
    process::Command,
};

const REGISTRY: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"
objects = "{objects}"

[models.unet-tiny]
generator = { component = "unet3d", depth = 3, mult_chan = 8 }
losses = [{ component = "mse" }]
train = { iterations = 30, batch = 4, patch = [16, 32, 32], lr = 2e-3, betas = [0.5, 0.999] }
"#;

/// Two fields of 24×64×64 voxels of 0.29 µm.
fn synth(dir: &Path) -> PathBuf {
    let recipe = dir.join("recipe.toml");
    std::fs::write(
        &recipe,
        "shape = [24, 64, 64]\nvoxel_um = [0.29, 0.29, 0.29]\ncells = 3\ncell_height_um = [4.0, 5.0]\n",
    )
    .unwrap();
    let data = dir.join("data");
    let output = Command::new(common::silico_bin())
        .args(["synth", "--fields", "2", "--seed", "3", "--recipe"])
        .arg(&recipe)
        .arg("--out")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    data
}

/// Runs `script` with `$SILICO_PYTHON` (numpy, tifffile, torch); its standard output.
fn python(script: &str, args: &[&Path]) -> String {
    common::run_python("SILICO_PYTHON", script, args)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// What `silico info` says of a file's voxel size line.
fn voxel_line(registry: &ScratchRegistry, path: &Path) -> String {
    let info = ok(&run_silico(registry, &["info", path.to_str().unwrap()]));
    info.lines()
        .find(|l| l.contains("voxel"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn predict_resamples_to_the_training_voxel_size_and_back() {
    let registry = scratch_registry(REGISTRY);
    let dir = registry.dir.path();
    let data = synth(dir);
    let run = dir.join("run");
    ok(&run_silico(
        &registry,
        &train_args("unet-tiny", "dna", &data, &run, &[]),
    ));
    let meta = std::fs::read_to_string(run.join("checkpoint/checkpoint.json")).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    let voxel: Vec<f64> = serde_json::from_value(meta["voxel_um"].clone()).unwrap();
    assert!(
        voxel.iter().all(|v| (v - 0.29).abs() < 1e-4),
        "checkpoint voxel size {voxel:?}"
    );

    // The same field at 0.29 × 0.58 × 0.58 µm (2×2 block means in y, x, as a camera binning
    // would give), and as a plain TIFF without any voxel size.
    let field = data.join("fields/field_000/brightfield.tif");
    let binned = dir.join("binned.tif");
    let plain = dir.join("plain.tif");
    python(
        r#"
import sys, numpy as np, tifffile
a = tifffile.imread(sys.argv[1]).astype(np.float32)
z, y, x = a.shape
b = a.reshape(z, y // 2, 2, x // 2, 2).mean(axis=(2, 4))
tifffile.imwrite(sys.argv[2], b, imagej=True, resolution=(1 / 0.58, 1 / 0.58),
                 metadata={"spacing": 0.29, "unit": "micron", "axes": "ZYX"})
tifffile.imwrite(sys.argv[3], a)
"#,
        &[&field, &binned, &plain],
    );
    let predict = |input: &Path, out: &Path, extra: &[&str]| {
        let mut args = predict_args(&run, input, out, extra);
        args.extend(["--precision", "fp32"]);
        run_silico(&registry, &args)
    };
    let resampled = dir.join("resampled");
    let output = predict(&binned, &resampled, &[]);
    ok(&output);
    assert!(
        stderr(&output)
            .contains("resampled from 0.29×0.58×0.58 µm to the model's 0.29×0.29×0.29 µm"),
        "{}",
        stderr(&output)
    );
    let not_resampled = dir.join("not_resampled");
    let output = predict(&binned, &not_resampled, &["--no-resample"]);
    ok(&output);
    assert!(!stderr(&output).contains("resampled"));

    // The reference: PyTorch's linear interpolation (pixel centres aligned) up to the model's
    // grid, a prediction there, and the same interpolation back down.
    let upsampled = dir.join("upsampled.tif");
    python(
        r#"
import sys, numpy as np, tifffile, torch
b = torch.from_numpy(tifffile.imread(sys.argv[1]))[None, None]
up = torch.nn.functional.interpolate(b, size=(24, 64, 64), mode="trilinear", align_corners=False)
tifffile.imwrite(sys.argv[2], up[0, 0].numpy(), imagej=True, resolution=(1 / 0.29, 1 / 0.29),
                 metadata={"spacing": 0.29, "unit": "micron", "axes": "ZYX"})
"#,
        &[&binned, &upsampled],
    );
    let at_model = dir.join("at_model");
    ok(&predict(&upsampled, &at_model, &[]));
    let scores = python(
        r#"
import sys, numpy as np, tifffile, torch
with tifffile.TiffFile(sys.argv[2]) as t:
    b = t.asarray(); spacing = t.imagej_metadata["spacing"]
    xres = t.pages[0].tags["XResolution"].value
print(b.shape, spacing, round(xres[1] / xres[0], 4))
a = torch.from_numpy(tifffile.imread(sys.argv[1]))[None, None]
ref = torch.nn.functional.interpolate(a, size=(24, 32, 32), mode="trilinear", align_corners=False)
ref = ref.numpy().ravel()
for path in sys.argv[2:]:
    print(np.corrcoef(ref, tifffile.imread(path).ravel())[0, 1])
"#,
        &[
            &at_model.join("dna/upsampled.tif"),
            &resampled.join("dna/binned.tif"),
            &not_resampled.join("dna/binned.tif"),
        ],
    );
    let lines: Vec<&str> = scores.lines().collect();
    assert_eq!(lines[0], "(24, 32, 32) 0.29 0.58", "{scores}");
    let r_resampled: f64 = lines[1].parse().unwrap();
    let r_not: f64 = lines[2].parse().unwrap();
    assert!(
        r_resampled > 0.9999 && r_not < 0.95,
        "r with resampling {r_resampled}, without {r_not}"
    );

    // A file without a voxel size is taken at the model's, said so, and its prediction says
    // that voxel size.
    let taken = dir.join("taken");
    let output = predict(&plain, &taken, &[]);
    ok(&output);
    assert!(
        stderr(&output)
            .contains("plain.tif gives no voxel size; taking the model's 0.29×0.29×0.29 µm"),
        "{}",
        stderr(&output)
    );
    assert!(
        voxel_line(&registry, &taken.join("dna/plain.tif")).contains("z=0.29 y=0.29 x=0.29"),
        "{}",
        voxel_line(&registry, &taken.join("dna/plain.tif"))
    );
    // --voxel-size says otherwise: the plain file is then resampled as the binned one was.
    let given = dir.join("given");
    let output = predict(&plain, &given, &["--voxel-size", "0.29,0.145,0.145"]);
    ok(&output);
    assert!(stderr(&output).contains("resampled from 0.29×0.145×0.145 µm"));
    let output = predict(&plain, &given, &["--voxel-size", "0.29,0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--voxel-size takes three sizes"));
}

#[test]
fn training_on_files_without_voxel_size_warns_and_records_none() {
    let registry = scratch_registry(REGISTRY);
    let dir = registry.dir.path();
    let data = synth(dir);
    // The bright-field images rewritten without any voxel size.
    for field in ["field_000", "field_001"] {
        let path = data.join("fields").join(field).join("brightfield.tif");
        python(
            "import sys, tifffile; tifffile.imwrite(sys.argv[1], tifffile.imread(sys.argv[1]))",
            &[&path],
        );
    }
    let run = dir.join("run");
    let output = run_silico(
        &registry,
        &train_args("unet-tiny", "dna", &data, &run, &["--iterations", "2"]),
    );
    ok(&output);
    let warnings: Vec<String> = stderr(&output)
        .lines()
        .filter(|l| l.contains("voxel size"))
        .map(String::from)
        .collect();
    assert!(!warnings.is_empty(), "{}", stderr(&output));
    for warning in &warnings {
        assert!(
            warning.starts_with("warning: ")
                && warning.ends_with(
                    "brightfield.tif gives no voxel size; taking 1 µm (pass --voxel-size Z,Y,X in µm)"
                ),
            "{warning}"
        );
    }
    let meta = std::fs::read_to_string(run.join("checkpoint/checkpoint.json")).unwrap();
    assert!(!meta.contains("voxel_um"), "{meta}");
    // Given on the command line, the voxel size is recorded and nothing is warned.
    let run = dir.join("given");
    let output = run_silico(
        &registry,
        &train_args(
            "unet-tiny",
            "dna",
            &data,
            &run,
            &["--iterations", "2", "--voxel-size", "0.29,0.29,0.29"],
        ),
    );
    ok(&output);
    assert!(
        !stderr(&output).contains("voxel size"),
        "{}",
        stderr(&output)
    );
    let meta = std::fs::read_to_string(run.join("checkpoint/checkpoint.json")).unwrap();
    assert!(meta.contains("\"voxel_um\""), "{meta}");
}

#[test]
fn evaluators_measure_a_prediction_without_voxel_size_at_the_real_scale() {
    let registry = scratch_registry(REGISTRY);
    let dir = registry.dir.path();
    let data = synth(dir);
    // "Predictions" that are the real nucleoli images themselves: once as stored, once without
    // a voxel size, once claiming 0.5 µm voxels, once cropped.
    let folders = ["as_stored", "no_voxel", "other_voxel", "cropped"].map(|f| dir.join(f));
    for folder in &folders {
        std::fs::create_dir_all(folder.join("nucleoli")).unwrap();
    }
    for field in ["field_000", "field_001"] {
        let real = data.join("fields").join(field).join("nucleoli.tif");
        let name = format!("{field}.tif");
        std::fs::copy(&real, folders[0].join("nucleoli").join(&name)).unwrap();
        python(
            r#"
import sys, tifffile
a = tifffile.imread(sys.argv[1])
tifffile.imwrite(sys.argv[2], a)
tifffile.imwrite(sys.argv[3], a, imagej=True, resolution=(2.0, 2.0),
                 metadata={"spacing": 0.5, "unit": "micron", "axes": "ZYX"})
tifffile.imwrite(sys.argv[4], a[:, :32], imagej=True, resolution=(1 / 0.29, 1 / 0.29),
                 metadata={"spacing": 0.29, "unit": "micron", "axes": "ZYX"})
"#,
            &[
                &real,
                &folders[1].join("nucleoli").join(&name),
                &folders[2].join("nucleoli").join(&name),
                &folders[3].join("nucleoli").join(&name),
            ],
        );
    }
    let jaccard = |predictions: &Path, out: &str| {
        run_silico(
            &registry,
            &[
                "evaluate",
                "jaccard",
                "--data",
                data.to_str().unwrap(),
                "--predictions",
                predictions.to_str().unwrap(),
                "--structure",
                "nucleoli",
                "--out",
                dir.join(out).to_str().unwrap(),
            ],
        )
    };
    let read_jaccard = |out: &str| -> Vec<(f64, u64)> {
        let mut reader = csv::Reader::from_path(dir.join(out).join("jaccard.csv")).unwrap();
        let headers = reader.headers().unwrap().clone();
        let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (j, v) = (at("jaccard"), at("voxels_prediction"));
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[j].parse().unwrap(), r[v].parse().unwrap())
            })
            .collect()
    };
    ok(&jaccard(&folders[0], "eval_stored"));
    let output = jaccard(&folders[1], "eval_no_voxel");
    ok(&output);
    assert!(
        stderr(&output).contains("gives no voxel size; taking the real image's 0.29×0.29×0.29 µm"),
        "{}",
        stderr(&output)
    );
    let stored = read_jaccard("eval_stored");
    assert_eq!(read_jaccard("eval_no_voxel"), stored);
    assert!(
        stored.iter().all(|(j, v)| *j == 1.0 && *v > 0),
        "{stored:?}"
    );

    let output = jaccard(&folders[2], "eval_other");
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(
        message.contains(
            "voxel size [0.5, 0.5, 0.5] µm differs from [0.29, 0.29, 0.29] µm of the real image"
        ),
        "{message}"
    );
    let output = jaccard(&folders[3], "eval_cropped");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("shape (Z, Y, X) [24, 32, 64] differs from [24, 64, 64]"),
        "{}",
        stderr(&output)
    );
}
