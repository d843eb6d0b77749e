use super::{progress_visible, VoxelArg};
use anyhow::Result;
use silico::shape::{shape_report, ShapeRequest};
use silico_evaluation::spharm::SpharmSettings;
use std::{path::PathBuf, process::ExitCode};

/// SPHARM shape of every object of an instance label image (SPHARM-RPDM, as `evaluate objects`
/// fits them): genus check, coefficients, descriptors, reconstruction error and surface mesh.
#[derive(clap::Args)]
#[command(after_help = "\
Writes into --out:
  objects.csv       one row per label: voxels, status (ok / refused) and reason (refused: not
                    genus 0, with its euler_characteristic, 2 for a sphere), degree
                    (--degree, for every object), hausdorff_um (the
                    fit's: voxel surface against the reconstruction), mesh_hausdorff_um (the
                    mesh's vertices against the voxel surface), unfolding_sweeps, folded_faces,
                    and the voxels the topology repair removed or added.
  coefficients.csv  label, l, m, x, y, z: the real orthonormal harmonics' coefficients of the
                    x, y and z expansions in the object's aligned frame (centred on its surface,
                    x along its major axis), l = 0..degree, m = -l..l (m > 0: cos m·phi, m < 0:
                    sin |m|·phi).
  descriptors.csv   label, a0..aN: the aligned descriptor, the one evaluate objects compares
                    (coefficients of degrees 1..--degree, (x, y, z) per (l, m), scaled to unit
                    length): invariant to position,
                    orientation, mirroring and size. u0..uN: the same turned back to the
                    image's axes, which changes as the object turns.
  meshes/label_<id>.ply
                    the reconstructed surface, triangles wound outwards, x y z in µm along the
                    image's x (columns), y (rows) and z (planes) axes with voxel centres at
                    index × voxel size (napari's convention), for napari, ParaView, meshio and
                    trimesh.
The voxel surface is the corners, edge midpoints and centres of the faces of the object's
voxels (after the topology repair, if any).

Example:
  silico shape nucleoli-labels.tif --degree 16 --out shapes")]
pub struct Args {
    /// An instance label image (TIFF or OME-Zarr) of integer ids, 0 = background.
    #[arg(value_name = "LABELS")]
    labels: PathBuf,
    /// Harmonic degree of every object's fit (the paper's: 31), small objects included.
    #[arg(long, value_name = "L", default_value_t = 31,
          value_parser = clap::value_parser!(u32).range(1..))]
    degree: u32,
    /// The folder to write into (created if missing; meshes of labels not fitted this time are
    /// removed from its meshes/).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    voxel: VoxelArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let request = ShapeRequest {
        labels: args.labels,
        voxel_size: args.voxel.get()?,
        settings: SpharmSettings {
            degree: args.degree as usize,
            ..SpharmSettings::default()
        },
        out: args.out,
        progress: progress_visible(),
    };
    let summary = shape_report(&request)?;
    let refusals = match summary.commonest_refusal {
        Some((kind, n)) if n == summary.refused => {
            format!(", {} refused ({kind})", summary.refused)
        }
        Some((kind, n)) => format!(
            ", {} refused ({n} {kind}, see objects.csv)",
            summary.refused
        ),
        None => String::new(),
    };
    let objects = if summary.fitted == 1 {
        "object"
    } else {
        "objects"
    };
    println!(
        "{} {objects} fitted{refusals}; wrote {}",
        summary.fitted,
        request.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
