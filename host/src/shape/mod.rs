//! `silico shape`: the SPHARM-RPDM shape of every object of an instance label image
//! ([`silico_evaluation::spharm`], as `evaluate objects` fits them), with everything a shape
//! analysis outside silico needs: the coefficients, the aligned and the unaligned descriptor,
//! the reconstruction's error and the reconstructed surface.

mod mesh;

use crate::{evaluate::csv_text, files::write_atomic, progress::progress_bar};
use anyhow::{bail, Context, Result};
use mesh::ImageFrame;
use rayon::prelude::*;
use silico_evaluation::spharm::{
    spharm, symmetric_hausdorff_um, BinaryObject, SpharmError, SpharmFit, SpharmSettings,
};
use silico_imaging::{dataset::VoxelSize, labels::Labels, Volume};
use std::{
    collections::{BTreeMap, HashMap},
    fs,
    path::{Path, PathBuf},
};

/// What `silico shape` was asked to do.
pub struct ShapeRequest {
    pub labels: PathBuf,
    /// For a label image that gives no voxel size.
    pub voxel_size: VoxelSize,
    pub settings: SpharmSettings,
    pub out: PathBuf,
    pub progress: bool,
}

/// What a run found.
#[derive(Debug)]
pub struct ShapeSummary {
    pub fitted: usize,
    pub refused: usize,
    /// The commonest kind of refusal and how many objects it refused.
    pub commonest_refusal: Option<(&'static str, usize)>,
}

/// An object's place in the image: its box (z, y, x) and size.
#[derive(Clone, Copy)]
struct Extent {
    min: [usize; 3],
    max: [usize; 3],
    voxels: usize,
}

/// What one object gave.
struct ObjectShape {
    label: u32,
    voxels: usize,
    outcome: Result<Fitted, SpharmError>,
}

struct Fitted {
    fit: SpharmFit,
    mesh_hausdorff_um: f64,
    unaligned: Vec<f64>,
}

/// Fits every object of `request.labels` and writes `objects.csv`, `coefficients.csv`,
/// `descriptors.csv` and `meshes/label_<id>.ply` into `request.out`.
pub fn shape_report(request: &ShapeRequest) -> Result<ShapeSummary> {
    let path = &request.labels;
    let mut labels = silico_imaging::read_labels(path)?;
    settle_voxel_size(request.voxel_size, &mut labels, path);
    let extents = extents(&labels);
    if extents.is_empty() {
        bail!("{}: holds no objects (every voxel is 0)", path.display());
    }
    let meshes = request.out.join("meshes");
    fs::create_dir_all(&meshes).with_context(|| format!("cannot create {}", meshes.display()))?;
    let voxel_um = labels.voxel_um.map(f64::from);
    let bar = progress_bar(request.progress, 0, extents.len() as u64, "objects");
    let shapes: Vec<ObjectShape> = extents
        .par_iter()
        .map(|(&label, extent)| {
            let shape = fit_object(&labels, label, extent, voxel_um, &request.settings, &meshes);
            bar.inc(1);
            shape
        })
        .collect::<Result<_>>()?;
    bar.finish_and_clear();
    remove_stale_meshes(&meshes, &shapes);
    write_atomic(&request.out.join("objects.csv"), &objects_csv(&shapes)?)?;
    write_atomic(
        &request.out.join("coefficients.csv"),
        &coefficients_csv(&shapes)?,
    )?;
    write_atomic(
        &request.out.join("descriptors.csv"),
        &descriptors_csv(&shapes, request.settings.unit_length)?,
    )?;
    let mut refusals: BTreeMap<&'static str, usize> = BTreeMap::new();
    for shape in &shapes {
        if let Err(error) = &shape.outcome {
            *refusals.entry(refusal_kind(error)).or_default() += 1;
        }
    }
    let refused = refusals.values().sum();
    Ok(ShapeSummary {
        fitted: shapes.len() - refused,
        refused,
        commonest_refusal: refusals.into_iter().max_by_key(|&(_, n)| n),
    })
}

/// A label image without a voxel size gets `--voxel-size` or a warning, as images do.
fn settle_voxel_size(voxel_size: VoxelSize, labels: &mut Labels, path: &Path) {
    let mut volume = Volume {
        data: Vec::new(),
        shape: [1, labels.shape[0], labels.shape[1], labels.shape[2]],
        voxel_um: labels.voxel_um,
        voxel_known: labels.voxel_known,
        channel_names: Vec::new(),
    };
    voxel_size.settle(&mut volume, path);
    labels.voxel_um = volume.voxel_um;
    labels.voxel_known = volume.voxel_known;
}

/// The box and size of every label, by label.
fn extents(labels: &Labels) -> BTreeMap<u32, Extent> {
    let [_, ny, nx] = labels.shape;
    let mut extents: HashMap<u32, Extent> = HashMap::new();
    for (i, &label) in labels.data.iter().enumerate() {
        if label == 0 {
            continue;
        }
        let at = [i / (ny * nx), (i / nx) % ny, i % nx];
        let extent = extents.entry(label).or_insert(Extent {
            min: at,
            max: at,
            voxels: 0,
        });
        extent.voxels += 1;
        for (axis, &v) in at.iter().enumerate() {
            extent.min[axis] = extent.min[axis].min(v);
            extent.max[axis] = extent.max[axis].max(v + 1);
        }
    }
    extents.into_iter().collect()
}

/// Fits one object, cropped to its box exactly as `evaluate objects` crops (the fit pads it),
/// and writes its mesh.
fn fit_object(
    labels: &Labels,
    label: u32,
    extent: &Extent,
    voxel_um: [f64; 3],
    settings: &SpharmSettings,
    meshes: &Path,
) -> Result<ObjectShape> {
    let [_, ny, nx] = labels.shape;
    let shape: [usize; 3] = std::array::from_fn(|a| extent.max[a] - extent.min[a]);
    let object = BinaryObject::from_fn(shape, voxel_um, |z, y, x| {
        let [z, y, x] = [z + extent.min[0], y + extent.min[1], x + extent.min[2]];
        labels.data[(z * ny + y) * nx + x] == label
    })
    .context("cropping an object")?;
    let outcome = match spharm(&object, settings) {
        Ok(fit) => {
            let frame = ImageFrame::new(&fit, extent.min, voxel_um);
            let mesh = frame.reconstruction(&fit);
            let mesh_hausdorff_um =
                symmetric_hausdorff_um(&mesh.vertices, &frame.voxel_surface(&fit));
            let comment = format!(
                "silico shape: label {label}, SPHARM degree {}; x y z in um along the image's \
                 x y z axes, voxel centres at index times voxel size",
                fit.degree
            );
            write_atomic(&mesh_path(meshes, label), &mesh.ply(&comment))?;
            Ok(Fitted {
                unaligned: frame.unaligned_descriptor(&fit, settings.unit_length),
                fit,
                mesh_hausdorff_um,
            })
        }
        Err(error) => Err(error),
    };
    Ok(ObjectShape {
        label,
        voxels: extent.voxels,
        outcome,
    })
}

fn mesh_path(meshes: &Path, label: u32) -> PathBuf {
    meshes.join(format!("label_{label}.ply"))
}

/// Removes the meshes an earlier run left of labels this one did not fit, so that the folder
/// holds this run's objects only.
fn remove_stale_meshes(meshes: &Path, shapes: &[ObjectShape]) {
    let Ok(entries) = fs::read_dir(meshes) else {
        return;
    };
    let fitted: std::collections::HashSet<PathBuf> = shapes
        .iter()
        .filter(|s| s.outcome.is_ok())
        .map(|s| mesh_path(meshes, s.label))
        .collect();
    for path in entries.filter_map(|e| Some(e.ok()?.path())) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("label_") && name.ends_with(".ply") && !fitted.contains(&path) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// A short name for a refusal, to count them by.
fn refusal_kind(error: &SpharmError) -> &'static str {
    match error {
        SpharmError::NotGenusZero { .. } => "not genus 0",
        SpharmError::FoldedParameterization { .. } => "folded parameterization",
        SpharmError::NonManifoldSurface { .. } => "non-manifold surface",
        SpharmError::EmptyObject
        | SpharmError::ShapeMismatch { .. }
        | SpharmError::InvalidVoxelSize { .. } => "invalid object",
    }
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn objects_csv(shapes: &[ObjectShape]) -> Result<Vec<u8>> {
    let header = strings(&[
        "label",
        "voxels",
        "status",
        "reason",
        "euler_characteristic",
        "degree",
        "hausdorff_um",
        "mesh_hausdorff_um",
        "unfolding_sweeps",
        "folded_faces",
        "repair_removed_voxels",
        "repair_added_voxels",
    ]);
    let rows = shapes.iter().map(|s| {
        let mut row = vec![s.label.to_string(), s.voxels.to_string()];
        match &s.outcome {
            Ok(Fitted {
                fit,
                mesh_hausdorff_um,
                ..
            }) => {
                let repair = &fit.repair;
                row.extend([
                    "ok".into(),
                    String::new(),
                    "2".into(),
                    fit.degree.to_string(),
                    fit.hausdorff_um.to_string(),
                    mesh_hausdorff_um.to_string(),
                    fit.parameterization.unfolding_sweeps.to_string(),
                    fit.parameterization.folded_faces.to_string(),
                    repair.removed_voxels.to_string(),
                    (repair.added_for_manifold + repair.added_cavity_voxels).to_string(),
                ]);
            }
            Err(error) => {
                let euler = match error {
                    SpharmError::NotGenusZero {
                        euler_characteristic,
                    } => euler_characteristic.to_string(),
                    _ => String::new(),
                };
                let folded = match error {
                    SpharmError::FoldedParameterization { folded_faces, .. } => {
                        folded_faces.to_string()
                    }
                    _ => String::new(),
                };
                row.extend(["refused".into(), error.to_string(), euler]);
                // degree, hausdorff_um, mesh_hausdorff_um, unfolding_sweeps
                row.extend(vec![String::new(); 4]);
                row.push(folded);
                row.extend(vec![String::new(); 2]);
            }
        }
        row
    });
    csv_text(&header, rows)
}

fn coefficients_csv(shapes: &[ObjectShape]) -> Result<Vec<u8>> {
    let header = strings(&["label", "l", "m", "x", "y", "z"]);
    let rows = shapes
        .iter()
        .filter_map(|s| Some((s.label, &s.outcome.as_ref().ok()?.fit)))
        .flat_map(|(label, fit)| {
            let degree = fit.degree as i64;
            (0..=degree).flat_map(move |l| {
                (-l..=l).map(move |m| {
                    let xyz = fit.coefficients[(l * l + l + m) as usize];
                    let mut row = vec![label.to_string(), l.to_string(), m.to_string()];
                    row.extend(xyz.iter().map(f64::to_string));
                    row
                })
            })
        });
    csv_text(&header, rows)
}

fn descriptors_csv(shapes: &[ObjectShape], unit_length: bool) -> Result<Vec<u8>> {
    let fitted: Vec<(u32, &Fitted)> = shapes
        .iter()
        .filter_map(|s| Some((s.label, s.outcome.as_ref().ok()?)))
        .collect();
    let length = fitted.first().map_or(0, |(_, f)| f.unaligned.len());
    let mut header = vec!["label".to_string()];
    header.extend((0..length).map(|i| format!("a{i}")));
    header.extend((0..length).map(|i| format!("u{i}")));
    let rows = fitted.into_iter().map(|(label, f)| {
        let mut row = vec![label.to_string()];
        row.extend(f.fit.descriptor(unit_length).iter().map(f64::to_string));
        row.extend(f.unaligned.iter().map(f64::to_string));
        row
    });
    csv_text(&header, rows)
}
