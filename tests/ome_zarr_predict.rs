//! `silico predict` on OME-Zarr: an image read from a store, predictions written as OME-Zarr,
//! and a volume that needs several forward passes streamed from store to store tile by tile,
//! agreeing with the in-memory blended prediction of the same image.

mod common;

use common::{ok, predict_args, run_silico, scratch_registry, synth_small, train_args};
use std::path::Path;

const REGISTRY: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"
objects = "{objects}"

[models.unet-tiny]
generator = { component = "unet3d", depth = 3, mult_chan = 8 }
losses = [{ component = "mse" }]
train = { iterations = 10, batch = 2, patch = [16, 32, 32], lr = 2e-3, betas = [0.5, 0.999] }
"#;

/// Runs `script` with `$SILICO_ZARR3_PYTHON` (zarr 3, ome-zarr, tifffile); its standard output.
fn python(script: &str, args: &[&Path]) -> String {
    common::run_python("SILICO_ZARR3_PYTHON", script, args)
}

#[test]
fn ome_zarr_images_predict_in_memory_and_streamed() {
    let registry = scratch_registry(REGISTRY);
    let dir = registry.dir.path();
    let data = dir.join("data");
    synth_small(&data, 2, 5, &[]);
    let run = dir.join("run");
    ok(&run_silico(
        &registry,
        &train_args("unet-tiny", "dna", &data, &run, &[]),
    ));
    // The bright-field field as an NGFF 0.5 image with ome-zarr, in small chunks.
    let tiff = data.join("fields/field_000/brightfield.tif");
    let store = dir.join("field.ome.zarr");
    python(
        r#"
import sys, numpy as np, tifffile, zarr
from ome_zarr.io import parse_url
from ome_zarr.writer import write_image
a = tifffile.imread(sys.argv[1]).astype(np.float32)
root = zarr.open_group(sys.argv[2], mode="w")
write_image(a, root, axes="zyx", scaler=None, storage_options={"chunks": (8, 32, 32)},
            coordinate_transformations=[[{"type": "scale", "scale": [0.29, 0.29, 0.29]}]])
"#,
        &[&tiff, &store],
    );
    let predict = |input: &Path, out: &str, extra: &[&str]| {
        let out = dir.join(out);
        let mut args = predict_args(&run, input, &out, extra);
        args.extend(["--precision", "fp32"]);
        let output = run_silico(&registry, &args);
        ok(&output);
        (out, String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let tiles = ["--tile", "16,48,48", "--overlap", "8,16,16"];
    let (whole_tiff, _) = predict(&tiff, "whole_tiff", &[]);
    let (whole_zarr, log) = predict(&store, "whole_zarr", &["--format", "ome-zarr"]);
    assert!(!log.contains("streamed"), "{log}");
    let (blended, _) = predict(&tiff, "blended", &tiles);
    let mut streamed_args = vec!["--format", "ome-zarr"];
    streamed_args.extend(tiles);
    let (streamed, log) = predict(&store, "streamed", &streamed_args);
    assert!(log.contains("field: streamed tile by tile"), "{log}");

    let report = python(
        r#"
import sys, json, numpy as np, tifffile, zarr
def zarr_image(path):
    group = zarr.open_group(path, mode="r")
    attrs = group.attrs.asdict()
    ms = attrs.get("ome", attrs)["multiscales"][0]
    scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
    return np.asarray(group[ms["datasets"][0]["path"]])[0], scale, [a["name"] for a in ms["axes"]]
whole = tifffile.imread(sys.argv[1])
whole_zarr, scale, axes = zarr_image(sys.argv[2])
blended = tifffile.imread(sys.argv[3])
streamed, streamed_scale, _ = zarr_image(sys.argv[4])
sd = whole.std()
print(json.dumps({
    "axes": axes, "scale": scale, "streamed_scale": streamed_scale,
    "shapes": [list(whole.shape), list(whole_zarr.shape), list(streamed.shape)],
    "zarr_vs_tiff": float(np.abs(whole_zarr - whole).max()),
    "r_streamed_whole": float(np.corrcoef(streamed.ravel(), whole.ravel())[0, 1]),
    "mean_streamed_whole": float(np.abs(streamed - whole).mean() / sd),
    "r_blended_whole": float(np.corrcoef(blended.ravel(), whole.ravel())[0, 1]),
    "mean_blended_whole": float(np.abs(blended - whole).mean() / sd),
}))
"#,
        &[
            &whole_tiff.join("dna/brightfield.tif"),
            &whole_zarr.join("dna/field.ome.zarr"),
            &blended.join("dna/brightfield.tif"),
            &streamed.join("dna/field.ome.zarr"),
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let number = |key: &str| report[key].as_f64().unwrap();
    assert_eq!(
        report["axes"],
        serde_json::json!(["c", "z", "y", "x"]),
        "{report}"
    );
    for key in ["scale", "streamed_scale"] {
        let scale: Vec<f64> = serde_json::from_value(report[key].clone()).unwrap();
        assert!(
            (scale[1] - 0.29).abs() < 1e-6 && (scale[3] - 0.29).abs() < 1e-6,
            "{report}"
        );
    }
    let shapes = &report["shapes"];
    assert!(shapes[0] == shapes[1] && shapes[0] == shapes[2], "{report}");
    // The same numbers whatever the container.
    assert!(number("zarr_vs_tiff") < 1e-5, "{report}");
    // Streamed tiles meet in the middle of their overlaps where blended ones are weighted: both
    // are the whole-image prediction up to the seams, the streamed one no further from it.
    assert!(number("r_streamed_whole") > 0.998, "{report}");
    assert!(number("mean_streamed_whole") < 0.05, "{report}");
    assert!(
        number("r_streamed_whole") >= number("r_blended_whole") - 1e-3
            && number("mean_streamed_whole") <= number("mean_blended_whole") + 0.01,
        "{report}"
    );

    // The evaluators read OME-Zarr predictions as they read TIFF ones.
    let (tiff_set, _) = predict(&data, "set_tiff", &[]);
    let (zarr_set, _) = predict(&data, "set_zarr", &["--format", "ome-zarr"]);
    assert!(zarr_set.join("dna/field_000.ome.zarr").is_dir());
    let jaccard = |predictions: &Path, out: &str| {
        ok(&run_silico(
            &registry,
            &[
                "evaluate",
                "jaccard",
                "--data",
                data.to_str().unwrap(),
                "--predictions",
                &format!("m={}", predictions.display()),
                "--out",
                dir.join(out).to_str().unwrap(),
            ],
        ));
        std::fs::read_to_string(dir.join(out).join("jaccard.csv")).unwrap()
    };
    let from_tiff = jaccard(&tiff_set, "jaccard_tiff");
    assert_eq!(from_tiff.lines().count(), 3, "{from_tiff}");
    assert_eq!(jaccard(&zarr_set, "jaccard_zarr"), from_tiff);
}
