//! `silico shape` end to end on a label image of analytic shapes: the torus refused for its
//! Euler characteristic, the others fitted; the meshes opened by meshio and trimesh (closed,
//! wound outwards) with the Hausdorff distance to the voxel surface that Python measures; the
//! unaligned descriptor turning with the object while the aligned one stays; and the same
//! descriptors as `evaluate objects` computes for the same object.

#[path = "../evaluation/tests/analytic_shapes/mod.rs"]
mod analytic_shapes;
mod common;

use analytic_shapes::{bent_tube, ellipsoid};
use common::{ok, run_python, run_silico, scratch_registry, ScratchRegistry};
use std::{collections::HashMap, path::Path};

/// Each shape sits in a cube of this side, the cubes side by side along x.
const SIDE: usize = 25;
/// z, y, x in µm; x and y alike, so that a quarter turn about z on the grid is a rotation.
const VOXEL_UM: [f32; 3] = [0.5, 0.25, 0.25];

const ELLIPSOID_SMALL: u16 = 1;
const ELLIPSOID_LARGE: u16 = 2;
const TORUS: u16 = 3;
const TUBE: u16 = 4;
const TUBE_TURNED: u16 = 5;

/// The voxels of a cube of side [`SIDE`] whose centre (shifted off the grid by a fraction, as
/// evaluation/tests/spharm.rs does) satisfies `inside` at (x, y, z) in voxels from the centre.
fn voxelize(inside: impl Fn([f64; 3]) -> bool) -> Vec<bool> {
    let centre = (SIDE / 2) as f64 + 0.23;
    let mut cube = Vec::with_capacity(SIDE.pow(3));
    for z in 0..SIDE {
        for y in 0..SIDE {
            for x in 0..SIDE {
                cube.push(inside([
                    x as f64 - centre,
                    y as f64 - centre,
                    z as f64 - centre,
                ]));
            }
        }
    }
    cube
}

/// `cube` turned a quarter about z on the grid: voxel (z, y, x) takes (z, SIDE − 1 − x, y).
fn quarter_turn(cube: &[bool]) -> Vec<bool> {
    let at = |z: usize, y: usize, x: usize| (z * SIDE + y) * SIDE + x;
    let mut turned = vec![false; cube.len()];
    for z in 0..SIDE {
        for y in 0..SIDE {
            for x in 0..SIDE {
                turned[at(z, y, x)] = cube[at(z, SIDE - 1 - x, y)];
            }
        }
    }
    turned
}

/// The label image: one cube per shape, side by side along x.
fn write_label_image(path: &Path) {
    let tube = voxelize(bent_tube(7.0, 2.5, 1.5 * std::f64::consts::PI));
    let cubes = [
        (ELLIPSOID_SMALL, voxelize(ellipsoid([6.0, 4.0, 3.0]))),
        (ELLIPSOID_LARGE, voxelize(ellipsoid([10.0, 6.0, 4.5]))),
        (
            TORUS,
            voxelize(|[x, y, z]| (x.hypot(y) - 6.0).powi(2) + z * z <= 2.5 * 2.5),
        ),
        (TUBE_TURNED, quarter_turn(&tube)),
        (TUBE, tube),
    ];
    let nx = SIDE * cubes.len();
    let mut labels = vec![0u16; SIDE * SIDE * nx];
    for (k, (label, cube)) in cubes.iter().enumerate() {
        for z in 0..SIDE {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    if cube[(z * SIDE + y) * SIDE + x] {
                        labels[(z * SIDE + y) * nx + k * SIDE + x] = *label;
                    }
                }
            }
        }
    }
    silico_imaging::tiff::write_labels_u16(path, &labels, [SIDE, SIDE, nx], VOXEL_UM).unwrap();
}

/// A CSV file as rows of column → value.
fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|record| {
            header
                .iter()
                .zip(record.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The columns `prefix0`, `prefix1`, … of `row`, as numbers.
fn vector(row: &HashMap<String, String>, prefix: &str) -> Vec<f64> {
    (0..)
        .map(|i| row.get(&format!("{prefix}{i}")))
        .take_while(Option::is_some)
        .map(|v| v.unwrap().parse().unwrap())
        .collect()
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn by_label(rows: Vec<HashMap<String, String>>) -> HashMap<u16, HashMap<String, String>> {
    rows.into_iter()
        .map(|row| (row["label"].parse().unwrap(), row))
        .collect()
}

/// Opens every mesh with trimesh and meshio, and measures the symmetric Hausdorff distance
/// between its vertices and the label's voxel surface (python/voxel_surface.py, voxel centres
/// at index × voxel size; the python folder comes as the last argument). Prints `label watertight winding
/// volume meshio_points meshio_triangles trimesh_points trimesh_triangles hausdorff`.
const CHECK_MESHES: &str = r#"
import sys, glob, os
sys.path.insert(0, sys.argv.pop())
from voxel_surface import voxel_surface
import numpy as np, tifffile, trimesh, meshio
from scipy.spatial import cKDTree

labels_path, meshes, vz, vy, vx = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:6])
labels = tifffile.imread(labels_path)
for path in sorted(glob.glob(os.path.join(meshes, "label_*.ply"))):
    label = int(os.path.basename(path)[len("label_"):-len(".ply")])
    mesh = trimesh.load(path, process=False)
    other = meshio.read(path)
    surface = voxel_surface(labels == label)[0] * np.array([vx, vy, vz])
    vertices = np.asarray(mesh.vertices)
    hausdorff = max(
        cKDTree(surface).query(vertices)[0].max(), cKDTree(vertices).query(surface)[0].max()
    )
    print(label, int(mesh.is_watertight), int(mesh.is_winding_consistent), repr(float(mesh.volume)),
          len(other.points), len(other.cells_dict["triangle"]), len(vertices), len(mesh.faces),
          repr(float(hausdorff)))
"#;

#[test]
fn shape_fits_genus_zero_objects_refuses_the_torus_and_writes_meshes_that_match() {
    let registry = scratch_registry("");
    let dir = registry.dir.path();
    let labels = dir.join("labels.tif");
    write_label_image(&labels);
    let out = dir.join("shape");
    let stdout = ok(&run_silico(
        &registry,
        &[
            "shape",
            labels.to_str().unwrap(),
            "--degree",
            "8",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    assert!(
        stdout.contains("4 objects fitted, 1 refused (not genus 0)"),
        "{stdout}"
    );

    let objects = by_label(csv_rows(&out.join("objects.csv")));
    assert_eq!(objects.len(), 5);
    let torus = &objects[&TORUS];
    assert_eq!(torus["status"], "refused", "{torus:?}");
    assert_eq!(torus["euler_characteristic"], "0", "{torus:?}");
    assert!(
        torus["reason"].contains("Euler characteristic 0"),
        "{torus:?}"
    );
    let fitted = [ELLIPSOID_SMALL, ELLIPSOID_LARGE, TUBE, TUBE_TURNED];
    for label in fitted {
        let row = &objects[&label];
        assert_eq!(row["status"], "ok", "{row:?}");
        assert_eq!(row["euler_characteristic"], "2", "{row:?}");
        assert_eq!(row["degree"], "8", "{row:?}");
        assert_eq!(row["folded_faces"], "0", "{row:?}");
        // Within a voxel's diagonal of the voxel surface (µm).
        let hausdorff: f64 = row["mesh_hausdorff_um"].parse().unwrap();
        assert!(hausdorff > 0.0 && hausdorff < 0.6, "{row:?}");
    }

    let coefficients = csv_rows(&out.join("coefficients.csv"));
    for label in fitted {
        let rows: Vec<_> = coefficients
            .iter()
            .filter(|r| r["label"] == label.to_string())
            .collect();
        assert_eq!(rows.len(), 9 * 9, "label {label}");
        assert_eq!((rows[0]["l"].as_str(), rows[0]["m"].as_str()), ("0", "0"));
        assert_eq!((rows[80]["l"].as_str(), rows[80]["m"].as_str()), ("8", "8"));
    }
    assert!(coefficients.iter().all(|r| r["label"] != TORUS.to_string()));

    let meshes = out.join("meshes");
    let voxel = VOXEL_UM.map(|v| v.to_string());
    let printed = run_python(
        "SILICO_PYTHON",
        CHECK_MESHES,
        &[
            &labels,
            &meshes,
            Path::new(&voxel[0]),
            Path::new(&voxel[1]),
            Path::new(&voxel[2]),
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../python"),
        ],
    );
    let lines: Vec<Vec<&str>> = printed.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), fitted.len(), "{printed}");
    for line in lines {
        let label: u16 = line[0].parse().unwrap();
        assert!(fitted.contains(&label), "{printed}");
        assert_eq!(
            &line[1..3],
            ["1", "1"],
            "watertight, wound consistently: {line:?}"
        );
        let volume: f64 = line[3].parse().unwrap();
        let voxels: f64 = objects[&label]["voxels"].parse().unwrap();
        let voxel_volume: f64 = VOXEL_UM.iter().map(|&v| f64::from(v)).product();
        assert!(
            (volume / (voxels * voxel_volume) - 1.0).abs() < 0.1,
            "outward, about the object's volume: {line:?}, {voxels} voxels"
        );
        assert_eq!(
            line[4..6],
            line[6..8],
            "meshio and trimesh read alike: {line:?}"
        );
        let python: f64 = line[8].parse().unwrap();
        let reported: f64 = objects[&label]["mesh_hausdorff_um"].parse().unwrap();
        eprintln!("label {label}: mesh Hausdorff Python {python}, silico {reported}");
        assert!(
            (python - reported).abs() < 1e-6,
            "label {label}: Python {python}, silico {reported}"
        );
    }

    let descriptors = by_label(csv_rows(&out.join("descriptors.csv")));
    assert_eq!(descriptors.len(), fitted.len());
    let (tube, turned) = (&descriptors[&TUBE], &descriptors[&TUBE_TURNED]);
    let aligned = distance(&vector(tube, "a"), &vector(turned, "a"));
    let unaligned = distance(&vector(tube, "u"), &vector(turned, "u"));
    let other_shape = distance(
        &vector(tube, "a"),
        &vector(&descriptors[&ELLIPSOID_LARGE], "a"),
    );
    eprintln!(
        "tube turned: aligned {aligned}, unaligned {unaligned}; tube to ellipsoid {other_shape}"
    );
    assert_eq!(vector(tube, "a").len(), 3 * (9 * 9 - 1));
    assert!(
        unaligned > 0.5,
        "the unaligned descriptor turns: {unaligned}"
    );
    assert!(aligned < unaligned && aligned < other_shape, "{aligned}");
}

#[test]
fn shape_refuses_an_image_without_objects_in_one_line() {
    let registry = scratch_registry("");
    let labels = registry.dir.path().join("empty.tif");
    silico_imaging::tiff::write_labels_u16(&labels, &[0; 8], [2, 2, 2], VOXEL_UM).unwrap();
    let output = run_silico(
        &registry,
        &[
            "shape",
            labels.to_str().unwrap(),
            "--out",
            registry.dir.path().join("out").to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "error: {}: holds no objects (every voxel is 0)",
            labels.display()
        )
    );
}

/// `silico synth`'s one field, its real nucleoli standing in for a perfect prediction; the
/// descriptors `evaluate objects` writes for its real objects and those `silico shape` writes
/// for `silico segment`'s labels of the same image must be the same vectors.
#[test]
fn shape_and_evaluate_objects_give_the_same_descriptors() {
    let registry: ScratchRegistry = scratch_registry("[plugins]\nobjects = \"{objects}\"\n");
    let dir = registry.dir.path();
    let data = dir.join("data");
    let run = |args: &[&str]| ok(&run_silico(&registry, args));
    run(&[
        "synth",
        "--fields",
        "1",
        "--seed",
        "11",
        "--out",
        data.to_str().unwrap(),
    ]);
    let nucleoli = data.join("fields/field_000/nucleoli.tif");
    // One field: its image is named after the file stem of its bright-field signal.
    let predictions = dir.join("perfect/nucleoli");
    std::fs::create_dir_all(&predictions).unwrap();
    std::fs::copy(&nucleoli, predictions.join("brightfield.tif")).unwrap();
    let config = dir.join("objects.toml");
    std::fs::write(
        &config,
        "[compare]\nk = [1]\npermutations = 2\nspharm = { degree = 8 }\n",
    )
    .unwrap();
    let evaluated = dir.join("evaluated");
    let perfect = format!("perfect={}", dir.join("perfect").display());
    run(&[
        "evaluate",
        "objects",
        "--data",
        data.to_str().unwrap(),
        "--predictions",
        &perfect,
        "--structure",
        "nucleoli",
        "--config",
        config.to_str().unwrap(),
        "--out",
        evaluated.to_str().unwrap(),
    ]);
    let labels = dir.join("nucleoli-labels.tif");
    run(&[
        "segment",
        "--structure",
        "nucleoli",
        "--input",
        nucleoli.to_str().unwrap(),
        "--out",
        labels.to_str().unwrap(),
    ]);
    let shapes = dir.join("shapes");
    run(&[
        "shape",
        labels.to_str().unwrap(),
        "--degree",
        "8",
        "--out",
        shapes.to_str().unwrap(),
    ]);
    let shape_descriptors = by_label(csv_rows(&shapes.join("descriptors.csv")));
    let shape_objects = by_label(csv_rows(&shapes.join("objects.csv")));
    let evaluated: Vec<_> = csv_rows(&evaluated.join("descriptors.csv"))
        .into_iter()
        .filter(|row| row["set"] == "real")
        .collect();
    assert!(evaluated.len() >= 2, "{evaluated:?}");
    for row in &evaluated {
        let label: u16 = row["label"].parse().unwrap();
        let from_shape = &shape_descriptors[&label];
        let (d, a) = (vector(row, "d"), vector(from_shape, "a"));
        assert_eq!(d.len(), 3 * (9 * 9 - 1));
        let worst = d
            .iter()
            .zip(&a)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-9, "label {label}: differs by {worst}");
        assert_eq!(
            row["degree"], shape_objects[&label]["degree"],
            "label {label}"
        );
    }
}
