//! `silico evaluate jaccard` and `silico evaluate objects` end to end on a small synthetic
//! dataset, with the real images themselves standing in for a perfect model and another
//! structure's images for a wrong one: the measures must tell them apart.

mod common;

use common::{component, ok, run_silico, scratch_registry, ScratchRegistry};
use silico::{Plugins, Registry};
use silico_plugin_api::{MetricInputs, Volume};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::OnceLock,
};

const REGISTRY: &str = r#"
[plugins]
objects = "{objects}"
"#;

/// Data, and two prediction sets: `perfect` (nucleoli = the real nucleoli images) and `wrong`
/// (nucleoli = the real golgi images).
fn setup() -> &'static (ScratchRegistry, PathBuf, PathBuf, PathBuf) {
    static SETUP: OnceLock<(ScratchRegistry, PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let registry = scratch_registry(REGISTRY);
        let data = registry.dir.path().join("data");
        ok(&run_silico(
            &registry,
            &[
                "synth",
                "--fields",
                "2",
                "--seed",
                "11",
                "--out",
                data.to_str().unwrap(),
            ],
        ));
        let perfect = registry.dir.path().join("perfect");
        let wrong = registry.dir.path().join("wrong");
        for field in ["field_000", "field_001"] {
            for (set, source) in [(&perfect, "nucleoli"), (&wrong, "golgi")] {
                let dir = set.join("nucleoli");
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::copy(
                    data.join("fields")
                        .join(field)
                        .join(format!("{source}.tif")),
                    dir.join(format!("{field}.tif")),
                )
                .unwrap();
            }
        }
        (registry, data, perfect, wrong)
    })
}

fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Runs `silico evaluate WHAT` on both prediction sets into the folder `out`.
fn evaluate(what: &str, out: &str, extra: &[&str]) -> PathBuf {
    let (registry, data, perfect, wrong) = setup();
    let out = registry.dir.path().join(out);
    let perfect = format!("perfect={}", perfect.display());
    let wrong = format!("wrong={}", wrong.display());
    let mut args = vec![
        "evaluate",
        what,
        "--data",
        data.to_str().unwrap(),
        "--predictions",
        &perfect,
        "--predictions",
        &wrong,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    ok(&run_silico(registry, &args));
    out
}

#[test]
fn jaccard_is_one_for_the_real_images_and_low_for_another_structure() {
    let out = evaluate("jaccard", "jaccard", &[]);
    let rows = csv_rows(&out.join("jaccard.csv"));
    assert_eq!(rows.len(), 4, "two models × two images");
    for row in &rows {
        let jaccard: f64 = row["jaccard"].parse().unwrap();
        match row["model"].as_str() {
            "perfect" => assert_eq!(jaccard, 1.0, "{row:?}"),
            _ => assert!(jaccard < 0.2, "{row:?}"),
        }
        assert!(row["voxels_real"].parse::<u64>().unwrap() > 0);
    }
    assert_eq!(csv_rows(&out.join("jaccard_summary.csv")).len(), 2);
    let png = std::fs::read(out.join("jaccard.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn objects_of_the_real_images_match_and_another_structures_do_not() {
    let out = evaluate("objects", "objects", &["--structure", "nucleoli"]);
    let summary = csv_rows(&out.join("summary.csv"));
    let by_model: HashMap<&str, &HashMap<String, String>> =
        summary.iter().map(|r| (r["model"].as_str(), r)).collect();
    let value = |model: &str, key: &str| -> f64 { by_model[model][key].parse().unwrap() };

    // The same images give the same objects, descriptors and positions.
    assert!(value("perfect", "cells") >= 2.0);
    assert_eq!(
        value("perfect", "objects/real"),
        value("perfect", "objects/synthetic")
    );
    assert!(value("perfect", "objects/real") >= 8.0);
    assert_eq!(value("perfect", "spatial_kl"), 0.0);
    assert!(value("perfect", "shape_divergence/k4") < 0.1);
    // Golgi are fewer, larger, and sit beside the nucleus, not in it.
    assert!(value("wrong", "spatial_kl") > 10.0 * value("perfect", "spatial_kl") + 0.05);
    assert!(value("wrong", "shape_divergence/k4") > value("perfect", "shape_divergence/k4"));
    // Each p-value names its null; the tests state the sizes they compared.
    assert_eq!(
        value("perfect", "shape_n/real"),
        value("perfect", "objects/real") - value("perfect", "excluded/real")
    );
    let text = std::fs::read_to_string(out.join("permutation.txt")).unwrap();
    for model in ["perfect", "wrong"] {
        for null in ["real_halves", "pooled_labels"] {
            let p = value(model, &format!("spatial_p_{null}"));
            assert!(p > 0.0 && p <= 1.0, "{model} {null}: {p}");
        }
        assert!(
            text.contains(&format!("{model} nucleoli:\n  shape k = 4")),
            "{text}"
        );
    }
    let n = format!(
        "n = {} real, {} synthetic",
        value("perfect", "shape_n/real"),
        value("perfect", "shape_n/synthetic")
    );
    assert!(text.contains(&n), "{n} in {text}");
    assert!(text.contains("p (real halves) = ") && text.contains("p (pooled labels) = "));
    // Relabelling identical sets changes nothing much; golgi are told from nucleoli at the
    // smallest p 50 permutations give.
    assert!(value("perfect", "shape_p_pooled_labels/k4") > 0.5);
    assert_eq!(value("wrong", "shape_p_pooled_labels/k4"), 0.019608);

    let objects = csv_rows(&out.join("objects.csv"));
    let perfect: Vec<&HashMap<String, String>> =
        objects.iter().filter(|o| o["model"] == "perfect").collect();
    let (real, synthetic): (Vec<_>, Vec<_>) = perfect.into_iter().partition(|o| o["set"] == "real");
    assert_eq!(real.len(), synthetic.len());
    for (r, s) in real.iter().zip(&synthetic) {
        for field in ["cell", "voxels", "x", "y", "z", "hausdorff_um"] {
            assert_eq!(r[field], s[field], "{field}");
        }
        let radius: f64 = r["radius"].parse().unwrap();
        assert!((0.0..=1.0).contains(&radius), "{r:?}");
    }
    // Every object with a shape has its full descriptor, unit length, in descriptors.csv.
    let descriptors = csv_rows(&out.join("descriptors.csv"));
    let with_shape = objects.iter().filter(|o| !o["degree"].is_empty()).count();
    assert_eq!(descriptors.len(), with_shape);
    // The two files join on the object's name, its label included.
    let key = |row: &HashMap<String, String>| {
        ["model", "structure", "set", "image", "cell", "label"].map(|f| row[f].clone())
    };
    let shaped: std::collections::HashSet<_> = objects
        .iter()
        .filter(|o| !o["degree"].is_empty())
        .map(key)
        .collect();
    assert_eq!(shaped.len(), with_shape, "object names are unique");
    assert!(descriptors.iter().all(|row| shaped.contains(&key(row))));
    for row in &descriptors {
        let d: Vec<f64> = (0..3 * (32 * 32 - 1))
            .map(|i| row[&format!("d{i}")].parse().unwrap())
            .collect();
        let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-9, "{norm}");
    }
    for picture in [
        "divergence.png",
        "embedding-perfect-nucleoli.png",
        "radial-wrong-nucleoli.png",
    ] {
        let png = std::fs::read(out.join(picture)).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{picture}");
    }
}

#[test]
fn supplied_cell_labels_replace_the_segmented_cells() {
    let (_, data, _, _) = setup();
    let labels = |name: &str| format!("{}/fields/{{image}}/labels/{name}.tif", data.display());
    let (cells, nuclei) = (labels("cells"), labels("nuclei"));
    let out = evaluate(
        "objects",
        "objects-given-cells",
        &[
            "--structure",
            "nucleoli",
            "--cells",
            &cells,
            "--nuclei",
            &nuclei,
        ],
    );
    let summary = csv_rows(&out.join("summary.csv"));
    for row in &summary {
        // The ground-truth cells, less those touching the border: as many as segmented.
        assert!(row["cells"].parse::<f64>().unwrap() >= 2.0, "{row:?}");
        assert!(
            row["objects/real"].parse::<f64>().unwrap() >= 8.0,
            "{row:?}"
        );
    }
}

/// Five cells per field with uint32 ids 2^24+1 ..= 2^24+5, each holding a nucleus, written
/// by tifffile beside the data as `big-ids/{field}/{cells,nuclei}.tif`.
fn five_cells_with_ids_above_two_to_the_24(data: &Path) -> PathBuf {
    let out = data.parent().unwrap().join("big-ids");
    common::run_python(
        "SILICO_PYTHON",
        r#"
import sys, pathlib, numpy, tifffile
data, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for field in ["field_000", "field_001"]:
    z, y, x = tifffile.imread(data / "fields" / field / "nucleoli.tif").shape[-3:]
    cells = numpy.zeros((z, y, x), "uint32")
    nuclei = numpy.zeros((z, y, x), "uint32")
    width = (x - 4) // 5
    for i in range(5):
        x0 = 2 + i * width
        cells[:, 2 : y - 2, x0 : x0 + width - 1] = 2**24 + 1 + i
        nuclei[:, y // 3 : 2 * y // 3, x0 + 2 : x0 + width - 3] = 2**24 + 1 + i
    (out / field).mkdir(parents=True, exist_ok=True)
    for name, labels in [("cells", cells), ("nuclei", nuclei)]:
        tifffile.imwrite(out / field / f"{name}.tif", labels, photometric="minisblack")
"#,
        &[data, &out],
    );
    out
}

#[test]
fn uint32_cell_ids_above_two_to_the_24_stay_distinct_cells() {
    let (_, data, _, _) = setup();
    let labels = five_cells_with_ids_above_two_to_the_24(data);
    let cells = format!("{}/{{image}}/cells.tif", labels.display());
    let nuclei = format!("{}/{{image}}/nuclei.tif", labels.display());
    let out = evaluate(
        "objects",
        "objects-big-ids",
        &[
            "--structure",
            "nucleoli",
            "--cells",
            &cells,
            "--nuclei",
            &nuclei,
        ],
    );
    // Through f32 the five ids were three (2^24+3 and 2^24+5 round to 2^24+4).
    for row in &csv_rows(&out.join("summary.csv")) {
        assert_eq!(row["images"], "2", "{row:?}");
        assert_eq!(row["cells"].parse::<f64>().unwrap(), 10.0, "{row:?}");
    }
}

#[test]
fn a_prediction_of_an_unknown_image_is_named() {
    let (registry, data, perfect, _) = setup();
    let stray = registry.dir.path().join("stray");
    std::fs::create_dir_all(stray.join("nucleoli")).unwrap();
    std::fs::copy(
        perfect.join("nucleoli/field_000.tif"),
        stray.join("nucleoli/field_999.tif"),
    )
    .unwrap();
    let output = run_silico(
        registry,
        &[
            "evaluate",
            "jaccard",
            "--data",
            data.to_str().unwrap(),
            "--predictions",
            stray.to_str().unwrap(),
            "--out",
            registry.dir.path().join("stray-out").to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("nucleoli.csv: no row for image `field_999`"),
        "{stderr}"
    );
}

#[test]
fn segment_writes_instance_labels_and_names_unknown_structures() {
    let (registry, data, _, _) = setup();
    let input = data.join("fields/field_000/nucleoli.tif");
    let out = registry.dir.path().join("nucleoli-labels.tif");
    let stdout = ok(&run_silico(
        registry,
        &[
            "segment",
            "--structure",
            "nucleoli",
            "--input",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    let count: u32 = stdout.split_whitespace().next().unwrap().parse().unwrap();
    assert!(count >= 2, "{stdout}");
    let labels = silico_imaging::tiff::read_volume(&out).unwrap();
    let highest = labels.data.iter().fold(0.0f32, |m, &v| m.max(v));
    assert_eq!(highest as u32, count);

    let output = run_silico(
        registry,
        &[
            "segment",
            "--structure",
            "nucleolus",
            "--input",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("`nucleolus`") && stderr.contains("nucleoli"),
        "{stderr}"
    );
}

#[test]
fn the_objects_metric_returns_its_rows_as_a_typed_table() {
    let (registry, data, _, _) = setup();
    let plugins = Plugins::load(&Registry::load(&registry.path).unwrap()).unwrap();
    let mut metric = plugins
        .build_metric(&component(
            "component = \"objects\"\nstructure = \"nucleoli\"",
        ))
        .unwrap();
    let volume = |name: &str| {
        let path = data.join("fields/field_000").join(format!("{name}.tif"));
        let v = silico_imaging::tiff::read_volume(&path).unwrap();
        Volume::new(v.shape, v.voxel_um, v.data).unwrap()
    };
    let inputs = MetricInputs::default()
        .with("target", volume("nucleoli"))
        .with("prediction", volume("nucleoli"))
        .with("cell_membrane", volume("cell_membrane"))
        .with("dna", volume("dna"));
    metric.update(&inputs).unwrap();
    assert_eq!(
        format!("{:#}", metric.tables().unwrap_err()),
        "metric `objects` tables: the tables come after `finish`; call it first"
    );
    let values: HashMap<String, f64> = metric.finish().unwrap().into_iter().collect();
    assert!(
        values.keys().all(|name| !name.starts_with("object/")),
        "no rows encoded in names: {values:?}"
    );
    let tables = metric.tables().unwrap();
    assert_eq!(tables.len(), 1);
    let objects = &tables[0];
    assert_eq!(objects.name(), "objects");
    let names: Vec<&str> = objects.column_names().collect();
    assert_eq!(
        names[..15],
        [
            "set",
            "image",
            "cell",
            "voxels",
            "x",
            "y",
            "z",
            "radius",
            "inside",
            "label",
            "hausdorff_um",
            "degree",
            "pc1",
            "pc2",
            "pc3"
        ]
    );
    // Then the descriptor: (x, y, z) per harmonic of degrees 1..=31.
    let descriptor: Vec<String> = (0..3 * (32 * 32 - 1)).map(|d| format!("d{d}")).collect();
    assert_eq!(names[15..], descriptor);
    let sets = objects.strs("set").unwrap();
    let real = sets.iter().filter(|s| **s == "real").count();
    assert!(real >= 2, "{sets:?}");
    assert_eq!(real as f64, values["objects/real"]);
    assert_eq!(
        objects.rows() as f64,
        real as f64 + values["objects/synthetic"]
    );
    assert!(objects.u64s("image").unwrap().iter().all(|&i| i == 0));
    assert!(objects.u64s("voxels").unwrap().iter().all(|&v| v > 0));
    assert!(objects
        .bools("inside")
        .unwrap()
        .iter()
        .any(|&inside| inside));
    // The same image twice: each real object has its synthetic twin, shape scores included.
    let pc1 = objects.f64s("pc1").unwrap();
    assert_eq!(
        pc1[..real].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        pc1[real..].iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}
