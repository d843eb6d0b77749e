//! Object positions in the normalized cell (Sun et al. 2022, Section 2.5): "align all valid
//! cells by their major axis, then map the cell boundary to a unit sphere and the nucleus to the
//! center of the sphere"; each object's centroid is placed in these polar coordinates, whose
//! radius is the fractional distance from the nucleus to the membrane along the ray. The
//! resulting [`Points`] feed [`crate::spatial`] (kernel densities on CellOrganizer's grid of
//! radii 0.1..=1).
//!
//! # Frame
//! - Origin: the centroid of the nucleus mask (µm).
//! - Axes: the principal axes of the cell's voxel coordinates in µm (PCA of the cell mask):
//!   x the major axis (largest variance), y the second, z = x × y (right-handed).
//! - Signs (PCA leaves each axis's sign free). For x and for y in turn, like CellOrganizer's
//!   `align_spharm_by_major_axis` (flip by skewness sign): the axis points along the cell's
//!   positive skew, i.e. the third central moment of the cell voxels' projections is made
//!   positive (the longer tail lies along +axis). Where the standardized skewness is below
//!   [`SKEW_TOLERANCE`] (a nearly symmetric cell, where voxel noise would pick the sign), the
//!   axis points from the nucleus towards the cell centroid instead (nucleus on the − side),
//!   and where that offset is also below [`OFFSET_TOLERANCE`] standard deviations, the axis's
//!   largest image component is made positive. Mirror images are not identified (z follows).
//!
//! # Radius
//! Along the ray from the nucleus centroid through the object's centroid (distance `d` in µm),
//! sampled every `step_fraction` × the smallest voxel edge; a sample lies in a mask when the
//! mask's trilinear interpolation there is at least 1/2 (the boundary runs halfway between set
//! and unset voxel centres), and a boundary is placed halfway between the last sample inside and
//! the first outside (so within half a step of that interpolated surface):
//! - `r_nuc`: where the ray first leaves the nucleus (0 if it starts outside it);
//! - `r_cell`: where the ray leaves the cell for the first time at or beyond `d` for an object
//!   inside the cell (so concave cells still give radii ≤ 1), and the last exit before `d` for
//!   an object outside it.
//!
//! [`RadialOrigin::FromNuclearCenter`] (default): `radius = d / r_cell`: 0 at the nucleus
//! centre, 1 at the membrane, nuclear interior included (nucleoli lie inside the nucleus).
//! [`RadialOrigin::FromNuclearEdge`]: CellOrganizer's `normdist = (d − r_nuc) / (r_cell − r_nuc)`
//! (from `nucdist / (|nucdist| + |celldist|)`, here measured along the ray rather than by
//! distance transforms): 0 at the nuclear edge, 1 at the membrane, negative inside the nucleus.
//!
//! The object's normalized point is `radius × (direction in the frame)` in (x, y, z), which is
//! MATLAB `sph2cart(θ, φ, radius)` of its frame angles. Objects whose centroid is not in the
//! cell (by the same interpolated test) are flagged (`inside_cell == false`); by default their
//! radius is clamped to 1. Objects inside the cell have radius at most 1.

use std::fmt;

use nalgebra::{Matrix3, SymmetricEigen, Vector3};
use serde::{Deserialize, Serialize};

use crate::points::Points;

/// Below this |standardized skewness| an axis's sign is not taken from the skewness.
pub const SKEW_TOLERANCE: f64 = 0.05;
/// Below this |nucleus-to-cell-centroid offset| (in standard deviations of the cell along the
/// axis) the sign is not taken from the offset either.
pub const OFFSET_TOLERANCE: f64 = 0.02;

/// Where the normalized radius is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RadialOrigin {
    /// `d / r_cell`: 0 at the nucleus centroid, 1 at the membrane.
    #[default]
    FromNuclearCenter,
    /// `(d − r_nuc) / (r_cell − r_nuc)`: 0 at the nuclear edge, negative inside the nucleus.
    FromNuclearEdge,
}

/// How object positions are normalized (TOML/JSON: `radius = "from_nuclear_center"` or
/// `"from_nuclear_edge"`, `step_fraction`, `clamp_outside`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CellFrameSettings {
    pub radius: RadialOrigin,
    /// Ray-marching step as a fraction of the smallest voxel edge, in (0, 1] (default 0.1).
    pub step_fraction: f64,
    /// Objects outside the cell get radius 1 (on the membrane, their direction kept) when true
    /// (default); otherwise their radius above 1 is kept. They are flagged either way.
    pub clamp_outside: bool,
}

impl Default for CellFrameSettings {
    fn default() -> Self {
        Self {
            radius: RadialOrigin::FromNuclearCenter,
            step_fraction: 0.1,
            clamp_outside: true,
        }
    }
}

/// One cell: its mask and its nucleus's mask in the same (z, y, x) box.
#[derive(Clone, Copy, Debug)]
pub struct CellMasks<'a> {
    /// Voxels along (z, y, x); masks are row-major with x fastest.
    pub shape: [usize; 3],
    /// Voxel size in µm as (z, y, x).
    pub voxel_um: [f64; 3],
    pub cell: &'a [bool],
    pub nucleus: &'a [bool],
}

impl CellMasks<'_> {
    /// Whether `p` (µm, (x, y, z), voxel (0, 0, 0) centred at the origin) lies in `mask`: the
    /// trilinear interpolation of the mask (1 set, 0 unset or beyond the box) is at least 1/2.
    /// The boundary then runs halfway between set and unset voxel centres; taking the nearest
    /// voxel instead would put it on voxel faces, up to half a voxel diagonal further out.
    fn contains(&self, mask: &[bool], p: Vector3<f64>) -> bool {
        let [nz, ny, nx] = self.shape;
        let [vz, vy, vx] = self.voxel_um;
        let (fx, fy, fz) = (p.x / vx, p.y / vy, p.z / vz);
        let (x0, y0, z0) = (fx.floor(), fy.floor(), fz.floor());
        let (tx, ty, tz) = (fx - x0, fy - y0, fz - z0);
        let at = |i: f64, n: usize| (i >= 0.0 && i < n as f64).then_some(i as usize);
        let mut value = 0.0;
        for (dz, wz) in [(0.0, 1.0 - tz), (1.0, tz)] {
            for (dy, wy) in [(0.0, 1.0 - ty), (1.0, ty)] {
                for (dx, wx) in [(0.0, 1.0 - tx), (1.0, tx)] {
                    let w = wz * wy * wx;
                    if w == 0.0 {
                        continue;
                    }
                    if let (Some(x), Some(y), Some(z)) =
                        (at(x0 + dx, nx), at(y0 + dy, ny), at(z0 + dz, nz))
                    {
                        if mask[(z * ny + y) * nx + x] {
                            value += w;
                        }
                    }
                }
            }
        }
        value >= 0.5
    }

    /// The µm coordinates (x, y, z) of the set voxels of `mask` (plain arrays: this runs over
    /// every voxel of the cell, and stays quick in unoptimized test builds).
    fn coordinates(&self, mask: &[bool]) -> Vec<[f64; 3]> {
        let [_, ny, nx] = self.shape;
        let [vz, vy, vx] = self.voxel_um;
        mask.iter()
            .enumerate()
            .filter(|(_, &on)| on)
            .map(|(i, _)| {
                let (z, y, x) = (i / (ny * nx), (i / nx) % ny, i % nx);
                [x as f64 * vx, y as f64 * vy, z as f64 * vz]
            })
            .collect()
    }

    fn check(&self) -> Result<(), CellFrameError> {
        let expected = self.shape.iter().product::<usize>();
        for (which, mask) in [("cell", self.cell), ("nucleus", self.nucleus)] {
            if mask.len() != expected {
                return Err(CellFrameError::MaskLength {
                    which,
                    len: mask.len(),
                    expected,
                });
            }
            if !mask.iter().any(|&v| v) {
                return Err(CellFrameError::EmptyMask { which });
            }
        }
        if !self.voxel_um.iter().all(|v| v.is_finite() && *v > 0.0) {
            return Err(CellFrameError::VoxelSize {
                voxel_um: self.voxel_um,
            });
        }
        Ok(())
    }
}

/// The normalized frame of one cell.
#[derive(Clone, Debug, PartialEq)]
pub struct CellFrame {
    /// The nucleus centroid, µm as (z, y, x) like the input centroids.
    pub origin_um: [f64; 3],
    /// The cell centroid, µm as (z, y, x).
    pub cell_centroid_um: [f64; 3],
    /// The frame's x, y and z axes as unit vectors in image (x, y, z) µm coordinates (note: not
    /// (z, y, x)); x is the cell's major axis.
    pub axes: [[f64; 3]; 3],
    /// The cell's variance along each axis (µm², descending).
    pub variances: [f64; 3],
}

/// One object in the normalized cell.
#[derive(Clone, Debug, PartialEq)]
pub struct NormalizedObject {
    /// `radius × direction`: the point for [`crate::spatial`], (x, y, z) in the frame.
    pub point: [f64; 3],
    /// The normalized radius per [`CellFrameSettings`] (clamped to 1 outside the cell if set).
    pub radius: f64,
    /// The unit direction from the nucleus centroid to the object, in the frame.
    pub direction: [f64; 3],
    /// `d`: distance from the nucleus centroid, µm.
    pub distance_um: f64,
    /// `r_nuc`: distance to the nuclear boundary along the ray, µm.
    pub nucleus_radius_um: f64,
    /// `r_cell`: distance to the cell boundary along the ray, µm.
    pub cell_radius_um: f64,
    /// Whether the object's centroid lies in the cell mask (interpolated, see the module docs).
    pub inside_cell: bool,
}

/// All objects of one cell.
#[derive(Clone, Debug, PartialEq)]
pub struct NormalizedCell {
    pub frame: CellFrame,
    pub objects: Vec<NormalizedObject>,
}

impl NormalizedCell {
    /// Every object's normalized point (3-D, in object order).
    pub fn points(&self) -> Points {
        to_points(self.objects.iter())
    }

    /// The normalized points of the objects inside the cell only.
    pub fn points_inside(&self) -> Points {
        to_points(self.objects.iter().filter(|o| o.inside_cell))
    }
}

/// The normalized points of several cells pooled (e.g. all real cells of one structure), all
/// objects or only those inside their cells.
pub fn pooled_points(cells: &[NormalizedCell], inside_only: bool) -> Points {
    to_points(
        cells
            .iter()
            .flat_map(|c| &c.objects)
            .filter(|o| o.inside_cell || !inside_only),
    )
}

fn to_points<'a>(objects: impl Iterator<Item = &'a NormalizedObject>) -> Points {
    let coords = objects.flat_map(|o| o.point).collect();
    Points::new(3, coords).expect("normalized points are finite triples")
}

/// Why a cell could not be normalized.
#[derive(Clone, Debug, PartialEq)]
pub enum CellFrameError {
    MaskLength {
        which: &'static str,
        len: usize,
        expected: usize,
    },
    EmptyMask {
        which: &'static str,
    },
    VoxelSize {
        voxel_um: [f64; 3],
    },
    /// Rays start at the nucleus centroid, which must lie in the cell mask.
    NucleusCentroidOutsideCell {
        origin_um: [f64; 3],
    },
    NonFiniteCentroid {
        object: usize,
    },
    StepFraction {
        step_fraction: f64,
    },
}

impl fmt::Display for CellFrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MaskLength {
                which,
                len,
                expected,
            } => write!(
                f,
                "the {which} mask has {len} voxels but the shape needs {expected}"
            ),
            Self::EmptyMask { which } => write!(f, "the {which} mask is empty"),
            Self::VoxelSize { voxel_um } => {
                write!(
                    f,
                    "voxel sizes must be positive and finite, got {voxel_um:?}"
                )
            }
            Self::NucleusCentroidOutsideCell { origin_um } => write!(
                f,
                "the nucleus centroid {origin_um:?} µm (z, y, x) is not in the cell mask"
            ),
            Self::NonFiniteCentroid { object } => {
                write!(f, "object {object} has a NaN or infinite centroid")
            }
            Self::StepFraction { step_fraction } => {
                write!(f, "step_fraction must be in (0, 1], got {step_fraction}")
            }
        }
    }
}

impl std::error::Error for CellFrameError {}

fn mean(points: &[[f64; 3]]) -> Vector3<f64> {
    let mut sum = [0.0; 3];
    for p in points {
        for k in 0..3 {
            sum[k] += p[k];
        }
    }
    Vector3::from(sum) / points.len() as f64
}

fn zyx(v: Vector3<f64>) -> [f64; 3] {
    [v.z, v.y, v.x]
}

/// The cell's frame (see the module documentation for the axes and their signs).
pub fn cell_frame(masks: &CellMasks<'_>) -> Result<CellFrame, CellFrameError> {
    masks.check()?;
    let cell = masks.coordinates(masks.cell);
    let origin = mean(&masks.coordinates(masks.nucleus));
    if !masks.contains(masks.cell, origin) {
        return Err(CellFrameError::NucleusCentroidOutsideCell {
            origin_um: zyx(origin),
        });
    }
    let centre = mean(&cell);
    let c = [centre.x, centre.y, centre.z];
    let mut sums = [[0.0; 3]; 3];
    for p in &cell {
        let d = [p[0] - c[0], p[1] - c[1], p[2] - c[2]];
        for (row, sum) in sums.iter_mut().enumerate() {
            for (column, value) in sum.iter_mut().enumerate() {
                *value += d[row] * d[column];
            }
        }
    }
    let covariance = Matrix3::from_fn(|row, column| sums[row][column] / cell.len() as f64);
    let eigen = SymmetricEigen::new(covariance);
    let mut order = [0, 1, 2];
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let variances = order.map(|i| eigen.eigenvalues[i].max(0.0));
    let orient = |axis: Vector3<f64>, variance: f64| -> Vector3<f64> {
        let a = [axis.x, axis.y, axis.z];
        let (mut m2, mut m3) = (0.0, 0.0);
        for p in &cell {
            let t = (p[0] - c[0]) * a[0] + (p[1] - c[1]) * a[1] + (p[2] - c[2]) * a[2];
            m2 += t * t;
            m3 += t * t * t;
        }
        let n = cell.len() as f64;
        let (m2, m3) = (m2 / n, m3 / n);
        let skew = if m2 > 0.0 { m3 / m2.powf(1.5) } else { 0.0 };
        let offset = (centre - origin).dot(&axis);
        let sign = if skew.abs() >= SKEW_TOLERANCE {
            skew.signum()
        } else if offset.abs() >= OFFSET_TOLERANCE * variance.sqrt() && offset != 0.0 {
            offset.signum()
        } else {
            let largest = axis
                .iter()
                .copied()
                .fold(0.0_f64, |a, v| if v.abs() > a.abs() { v } else { a });
            if largest < 0.0 {
                -1.0
            } else {
                1.0
            }
        };
        axis * sign
    };
    let column = |i: usize| eigen.eigenvectors.column(order[i]).normalize();
    let x = orient(column(0), variances[0]);
    let y = orient(column(1), variances[1]);
    let z = x.cross(&y).normalize();
    Ok(CellFrame {
        origin_um: zyx(origin),
        cell_centroid_um: zyx(centre),
        axes: [x, y, z].map(|a| [a.x, a.y, a.z]),
        variances,
    })
}

/// Where the ray `origin + t·u` leaves `mask` (boundary distances, halfway between the last
/// sample inside and the first outside), for `t` in steps of `h` up to `t_max`, and whether the
/// ray starts inside `mask`.
fn crossings(
    masks: &CellMasks<'_>,
    mask: &[bool],
    origin: Vector3<f64>,
    u: Vector3<f64>,
    h: f64,
    t_max: f64,
) -> (Vec<f64>, bool) {
    let steps = (t_max / h).ceil() as usize + 1;
    let mut exits = Vec::new();
    let start_inside = masks.contains(mask, origin);
    let mut inside = start_inside;
    for k in 1..=steps {
        let t = k as f64 * h;
        let now = masks.contains(mask, origin + u * t);
        if inside && !now {
            exits.push(t - h / 2.0);
        }
        inside = now;
    }
    (exits, start_inside)
}

impl CellFrame {
    fn axes_vectors(&self) -> [Vector3<f64>; 3] {
        self.axes.map(|a| Vector3::new(a[0], a[1], a[2]))
    }

    /// One object, its centroid `centroid_um` given in µm as (z, y, x) with voxel (0, 0, 0)
    /// centred at (0, 0, 0).
    pub fn normalize(
        &self,
        masks: &CellMasks<'_>,
        centroid_um: [f64; 3],
        settings: &CellFrameSettings,
    ) -> NormalizedObject {
        let [oz, oy, ox] = self.origin_um;
        let origin = Vector3::new(ox, oy, oz);
        let [cz, cy, cx] = centroid_um;
        let p = Vector3::new(cx, cy, cz);
        let axes = self.axes_vectors();
        let offset = p - origin;
        let distance = offset.norm();
        // An object at the nucleus centroid has no direction; it gets the major axis.
        let u = if distance > 1e-12 {
            offset / distance
        } else {
            axes[0]
        };
        let h =
            settings.step_fraction * masks.voxel_um.iter().copied().fold(f64::INFINITY, f64::min);
        let [nz, ny, nx] = masks.shape;
        let [vz, vy, vx] = masks.voxel_um;
        let diagonal = Vector3::new(nx as f64 * vx, ny as f64 * vy, nz as f64 * vz).norm();
        let t_max = diagonal + distance + h;

        let (nuclear_exits, starts_in_nucleus) =
            crossings(masks, masks.nucleus, origin, u, h, t_max);
        let nucleus_radius = if starts_in_nucleus {
            nuclear_exits.first().copied().unwrap_or(0.0)
        } else {
            0.0
        };
        let inside_cell = masks.contains(masks.cell, p);
        let (cell_exits, _) = crossings(masks, masks.cell, origin, u, h, t_max);
        let cell_radius = if inside_cell {
            cell_exits.iter().copied().find(|&t| t >= distance)
        } else {
            cell_exits.iter().copied().rev().find(|&t| t < distance)
        }
        .or_else(|| cell_exits.first().copied())
        .unwrap_or(h / 2.0)
        .max(h / 2.0);

        let raw = match settings.radius {
            RadialOrigin::FromNuclearCenter => distance / cell_radius,
            RadialOrigin::FromNuclearEdge => {
                (distance - nucleus_radius) / (cell_radius - nucleus_radius).max(h / 2.0)
            }
        };
        // Inside, the exit lies at least within half a step of d: keep the radius at most 1.
        let radius = if inside_cell || settings.clamp_outside {
            raw.min(1.0)
        } else {
            raw
        };
        let direction = axes.map(|a| a.dot(&u));
        NormalizedObject {
            point: direction.map(|c| c * radius),
            radius,
            direction,
            distance_um: distance,
            nucleus_radius_um: nucleus_radius,
            cell_radius_um: cell_radius,
            inside_cell,
        }
    }
}

/// The frame of one cell and the normalized positions of its objects, whose centroids are given
/// in µm as (z, y, x) in the masks' box (voxel (0, 0, 0) centred at (0, 0, 0)).
pub fn normalize_objects(
    masks: &CellMasks<'_>,
    centroids_um: &[[f64; 3]],
    settings: &CellFrameSettings,
) -> Result<NormalizedCell, CellFrameError> {
    if !(settings.step_fraction > 0.0 && settings.step_fraction <= 1.0) {
        return Err(CellFrameError::StepFraction {
            step_fraction: settings.step_fraction,
        });
    }
    if let Some(object) = centroids_um
        .iter()
        .position(|c| c.iter().any(|v| !v.is_finite()))
    {
        return Err(CellFrameError::NonFiniteCentroid { object });
    }
    let frame = cell_frame(masks)?;
    let objects = centroids_um
        .iter()
        .map(|&c| frame.normalize(masks, c, settings))
        .collect();
    Ok(NormalizedCell { frame, objects })
}
