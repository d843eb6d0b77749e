//! Normalized-cell coordinates: analytic radii in a spherical cell, rotation invariance of an
//! elongated cell's frame, flags for objects outside the cell, and settings parsing.

use nalgebra::{Rotation3, Vector3};
use serde::de::value::{Error as ValueError, MapDeserializer};
use serde::Deserialize;
use silico_evaluation::cell_frame::{
    normalize_objects, pooled_points, CellFrameError, CellFrameSettings, CellMasks, RadialOrigin,
};
use silico_evaluation::spatial::{cellorganizer_grid, spatial_kl, SpatialSettings};

/// Masks of `shape` (z, y, x) from predicates on voxel centres in µm as (x, y, z) (plain
/// arrays, which keep unoptimized test builds quick).
fn masks_from(
    shape: [usize; 3],
    voxel_um: [f64; 3],
    cell: impl Fn([f64; 3]) -> bool,
    nucleus: impl Fn([f64; 3]) -> bool,
) -> (Vec<bool>, Vec<bool>) {
    let [nz, ny, nx] = shape;
    let mut cell_mask = Vec::with_capacity(nz * ny * nx);
    let mut nucleus_mask = Vec::with_capacity(nz * ny * nx);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let p = [
                    x as f64 * voxel_um[2],
                    y as f64 * voxel_um[1],
                    z as f64 * voxel_um[0],
                ];
                cell_mask.push(cell(p));
                nucleus_mask.push(nucleus(p));
            }
        }
    }
    (cell_mask, nucleus_mask)
}

fn zyx(p: Vector3<f64>) -> [f64; 3] {
    [p.z, p.y, p.x]
}

/// Distance between two points.
fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

const VOXEL: f64 = 0.5;
const SHAPE: [usize; 3] = [44, 44, 44];
const CELL_RADIUS: f64 = 10.0;
const NUCLEUS_RADIUS: f64 = 4.0;

fn sphere_centre() -> Vector3<f64> {
    Vector3::repeat(21.5 * VOXEL)
}

/// A spherical cell (radius 10 µm) with a concentric nucleus (radius 4 µm), 0.5 µm voxels.
fn spherical_cell() -> (Vec<bool>, Vec<bool>) {
    let c = [21.5 * VOXEL; 3];
    masks_from(
        SHAPE,
        [VOXEL; 3],
        |p| distance(p, c) <= CELL_RADIUS,
        |p| distance(p, c) <= NUCLEUS_RADIUS,
    )
}

fn directions() -> Vec<Vector3<f64>> {
    [
        [1.0, 0.0, 0.0],
        [0.0, -1.0, 0.0],
        [0.0, 0.0, 1.0],
        [1.0, 1.0, 0.0],
        [-1.0, 2.0, 0.5],
        [0.3, -0.4, -1.0],
        [1.0, 1.0, 1.0],
    ]
    .iter()
    .map(|d| Vector3::new(d[0], d[1], d[2]).normalize())
    .collect()
}

#[test]
fn halfway_objects_in_a_spherical_cell_get_the_analytic_radius() {
    let (cell, nucleus) = spherical_cell();
    let masks = CellMasks {
        shape: SHAPE,
        voxel_um: [VOXEL; 3],
        cell: &cell,
        nucleus: &nucleus,
    };
    // The interpolated boundary of a voxelized sphere lies well within half a voxel of the true
    // one (here within a quarter).
    let boundary_tolerance = VOXEL / 2.0;
    for (origin, halfway, expected) in [
        (RadialOrigin::FromNuclearCenter, CELL_RADIUS / 2.0, 0.5),
        (
            RadialOrigin::FromNuclearEdge,
            (CELL_RADIUS + NUCLEUS_RADIUS) / 2.0,
            0.5,
        ),
        // The other setting at the same points.
        (RadialOrigin::FromNuclearEdge, CELL_RADIUS / 2.0, 1.0 / 6.0),
        (
            RadialOrigin::FromNuclearCenter,
            (CELL_RADIUS + NUCLEUS_RADIUS) / 2.0,
            0.7,
        ),
    ] {
        let settings = CellFrameSettings {
            radius: origin,
            ..CellFrameSettings::default()
        };
        let centroids: Vec<[f64; 3]> = directions()
            .iter()
            .map(|u| zyx(sphere_centre() + u * halfway))
            .collect();
        let normalized = normalize_objects(&masks, &centroids, &settings).unwrap();
        for (object, u) in normalized.objects.iter().zip(directions()) {
            assert!(object.inside_cell);
            assert!(
                (object.cell_radius_um - CELL_RADIUS).abs() <= boundary_tolerance,
                "{object:?}"
            );
            assert!(
                (object.nucleus_radius_um - NUCLEUS_RADIUS).abs() <= boundary_tolerance,
                "{object:?}"
            );
            assert!((object.distance_um - halfway).abs() < 1e-9);
            assert!(
                (object.radius - expected).abs() < 0.025,
                "{origin:?} along {u:?}: {} vs {expected}",
                object.radius
            );
            let norm = object.point.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - object.radius.abs()).abs() < 1e-9);
        }
    }
}

#[test]
fn radius_grows_along_a_ray_and_is_negative_inside_the_nucleus_from_its_edge() {
    let (cell, nucleus) = spherical_cell();
    let masks = CellMasks {
        shape: SHAPE,
        voxel_um: [VOXEL; 3],
        cell: &cell,
        nucleus: &nucleus,
    };
    let u = Vector3::new(1.0, 2.0, -0.5).normalize();
    let distances: Vec<f64> = (0..20).map(|k| 0.25 + 0.5 * k as f64).collect();
    let centroids: Vec<[f64; 3]> = distances
        .iter()
        .map(|&t| zyx(sphere_centre() + u * t))
        .collect();
    for origin in [
        RadialOrigin::FromNuclearCenter,
        RadialOrigin::FromNuclearEdge,
    ] {
        let settings = CellFrameSettings {
            radius: origin,
            ..CellFrameSettings::default()
        };
        let radii: Vec<f64> = normalize_objects(&masks, &centroids, &settings)
            .unwrap()
            .objects
            .iter()
            .map(|o| o.radius)
            .collect();
        assert!(
            radii.windows(2).all(|w| w[1] > w[0]),
            "{origin:?}: {radii:?}"
        );
        assert!(radii[radii.len() - 1] <= 1.0);
        if origin == RadialOrigin::FromNuclearEdge {
            for (&t, &r) in distances.iter().zip(&radii) {
                if t < NUCLEUS_RADIUS - 0.5 {
                    assert!(r < 0.0, "{t}: {r}");
                } else if t > NUCLEUS_RADIUS + 0.5 {
                    assert!(r > 0.0, "{t}: {r}");
                }
            }
        } else {
            assert!(radii[0] > 0.0 && radii[0] < 0.05);
        }
    }
}

#[test]
fn objects_outside_the_cell_are_flagged_and_clamped() {
    let (cell, nucleus) = spherical_cell();
    let masks = CellMasks {
        shape: SHAPE,
        voxel_um: [VOXEL; 3],
        cell: &cell,
        nucleus: &nucleus,
    };
    let u = Vector3::new(0.0, 1.0, 0.0);
    let centroids = [
        zyx(sphere_centre() + u * 5.0),
        zyx(sphere_centre() + u * 10.75),
    ];
    let clamped = normalize_objects(&masks, &centroids, &CellFrameSettings::default()).unwrap();
    assert!(clamped.objects[0].inside_cell);
    assert!(!clamped.objects[1].inside_cell);
    assert_eq!(clamped.objects[1].radius, 1.0);
    assert_eq!(clamped.points().len(), 2);
    assert_eq!(clamped.points_inside().len(), 1);
    assert_eq!(clamped.points_inside().point(0), clamped.points().point(0));
    let kept = normalize_objects(
        &masks,
        &centroids,
        &CellFrameSettings {
            clamp_outside: false,
            ..CellFrameSettings::default()
        },
    )
    .unwrap();
    assert!(!kept.objects[1].inside_cell);
    assert!(
        (kept.objects[1].radius - 10.75 / CELL_RADIUS).abs() < 0.04,
        "{:?}",
        kept.objects[1]
    );
    assert_eq!(pooled_points(&[clamped.clone(), kept], true).len(), 2);
    // The points feed the spatial statistics directly.
    let points = clamped.points();
    let kl = spatial_kl(
        &points,
        &points,
        &cellorganizer_grid(),
        &SpatialSettings::default(),
    )
    .unwrap();
    assert!(kl.abs() < 1e-12);
}

/// An egg-shaped cell (an ellipsoid 12 × 7 × 5 µm with a sphere bulging at +x) and an
/// off-centre nucleus, in canonical coordinates.
fn egg_cell(p: [f64; 3]) -> bool {
    let e = (p[0] / 12.0).powi(2) + (p[1] / 7.0).powi(2) + (p[2] / 5.0).powi(2) <= 1.0;
    e || distance(p, [6.0, 0.0, 0.0]) <= 5.5
}

fn egg_nucleus(p: [f64; 3]) -> bool {
    distance(p, [-3.0, 1.5, 0.5]) <= 3.5
}

/// Objects in canonical coordinates: in the cytoplasm, in the nucleus, near the membrane.
fn egg_objects() -> Vec<Vector3<f64>> {
    [
        [8.0, 0.0, 0.0],
        [-8.0, 1.0, 0.0],
        [0.0, 5.0, 0.0],
        [2.0, -3.0, 2.5],
        [-2.0, 2.5, 1.0],
        [5.0, 2.0, -3.0],
        [-1.0, -4.0, -2.0],
    ]
    .iter()
    .map(|p| Vector3::new(p[0], p[1], p[2]))
    .collect()
}

/// The egg rotated by `rotation` into an anisotropic volume: (major axis in the image, points).
fn normalized_egg(rotation: Rotation3<f64>) -> (Vector3<f64>, Vec<[f64; 3]>) {
    let voxel_um = [0.6, 0.4, 0.4];
    let shape = [44, 66, 66];
    let centre = Vector3::new(33.0 * 0.4, 33.0 * 0.4, 22.0 * 0.6);
    let inverse = rotation.inverse();
    let m: [[f64; 3]; 3] = std::array::from_fn(|r| std::array::from_fn(|c| inverse[(r, c)]));
    let c = [centre.x, centre.y, centre.z];
    let canonical = |p: [f64; 3]| -> [f64; 3] {
        let d = [p[0] - c[0], p[1] - c[1], p[2] - c[2]];
        std::array::from_fn(|r| m[r][0] * d[0] + m[r][1] * d[1] + m[r][2] * d[2])
    };
    let (cell, nucleus) = masks_from(
        shape,
        voxel_um,
        |p| egg_cell(canonical(p)),
        |p| egg_nucleus(canonical(p)),
    );
    let masks = CellMasks {
        shape,
        voxel_um,
        cell: &cell,
        nucleus: &nucleus,
    };
    let centroids: Vec<[f64; 3]> = egg_objects()
        .iter()
        .map(|p| zyx(centre + rotation * p))
        .collect();
    let normalized = normalize_objects(&masks, &centroids, &CellFrameSettings::default()).unwrap();
    assert!(normalized.objects.iter().all(|o| o.inside_cell));
    let [x, _, _] = normalized.frame.axes;
    (
        Vector3::new(x[0], x[1], x[2]),
        normalized.objects.iter().map(|o| o.point).collect(),
    )
}

#[test]
fn normalized_points_do_not_depend_on_the_cells_orientation() {
    let rotations = [
        Rotation3::identity(),
        Rotation3::from_euler_angles(0.3, -0.5, 0.9),
        Rotation3::from_euler_angles(-1.2, 0.4, 2.5),
    ];
    let results: Vec<_> = rotations.iter().map(|&r| normalized_egg(r)).collect();
    for (rotation, (major, _)) in rotations.iter().zip(&results) {
        // The frame's x axis is the egg's long axis, wherever it points in the image.
        let long = rotation * Vector3::x();
        assert!(major.dot(&long).abs() > 0.995, "{major:?} vs {long:?}");
    }
    let reference = &results[0].1;
    for (_, points) in &results[1..] {
        for (a, b) in reference.iter().zip(points) {
            let gap = a
                .iter()
                .zip(b)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(gap < 0.04, "{a:?} vs {b:?}");
        }
    }
    // Radii are fractions: the objects lie inside the unit ball, the one at +8 µm along the
    // long axis on the +x side of the nucleus in every orientation.
    for (_, points) in &results {
        assert!(points
            .iter()
            .all(|p| p.iter().map(|v| v * v).sum::<f64>() <= 1.0 + 1e-9));
    }
    let sign = results[0].1[0][0].signum();
    assert!(results
        .iter()
        .all(|(_, p)| p[0][0].signum() == sign && p[0][0].abs() > 0.5));
}

#[test]
fn settings_parse_with_defaults_and_reject_unknown_fields() {
    let parse = |entries: Vec<(&str, &str)>| {
        CellFrameSettings::deserialize(MapDeserializer::<_, ValueError>::new(entries.into_iter()))
    };
    let settings = parse(vec![("radius", "from_nuclear_edge")]).unwrap();
    assert_eq!(settings.radius, RadialOrigin::FromNuclearEdge);
    assert_eq!(settings.step_fraction, 0.1);
    assert!(settings.clamp_outside);
    assert_eq!(parse(vec![]).unwrap(), CellFrameSettings::default());
    assert_eq!(
        CellFrameSettings::default().radius,
        RadialOrigin::FromNuclearCenter
    );
    let err = parse(vec![("radius_from", "x")]).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
    assert!(parse(vec![("radius", "from_membrane")]).is_err());
}

#[test]
fn bad_inputs_are_clear_errors() {
    fn masks<'a>(cell: &'a [bool], nucleus: &'a [bool]) -> CellMasks<'a> {
        CellMasks {
            shape: SHAPE,
            voxel_um: [VOXEL; 3],
            cell,
            nucleus,
        }
    }
    let (cell, nucleus) = spherical_cell();
    let (cell, nucleus) = (cell.as_slice(), nucleus.as_slice());
    let settings = CellFrameSettings::default();
    let empty = vec![false; cell.len()];
    let empty = empty.as_slice();
    assert_eq!(
        normalize_objects(&masks(cell, empty), &[], &settings).unwrap_err(),
        CellFrameError::EmptyMask { which: "nucleus" }
    );
    assert!(matches!(
        normalize_objects(&masks(&cell[1..], nucleus), &[], &settings),
        Err(CellFrameError::MaskLength { which: "cell", .. })
    ));
    // A nucleus whose centroid is outside the cell: the cell is a small ball away from it.
    let c = sphere_centre();
    let (small, _) = masks_from(
        SHAPE,
        [VOXEL; 3],
        |p| distance(p, [c.x + 6.0, c.y, c.z]) <= 3.0,
        |_| false,
    );
    assert!(matches!(
        normalize_objects(&masks(&small, nucleus), &[], &settings),
        Err(CellFrameError::NucleusCentroidOutsideCell { .. })
    ));
    assert_eq!(
        normalize_objects(&masks(cell, nucleus), &[[0.0, f64::NAN, 1.0]], &settings).unwrap_err(),
        CellFrameError::NonFiniteCentroid { object: 0 }
    );
    let zero_step = CellFrameSettings {
        step_fraction: 0.0,
        ..settings
    };
    assert!(matches!(
        normalize_objects(&masks(cell, nucleus), &[], &zero_step),
        Err(CellFrameError::StepFraction { .. })
    ));
    let err = normalize_objects(&masks(cell, empty), &[], &settings).unwrap_err();
    assert_eq!(err.to_string(), "the nucleus mask is empty");
}
