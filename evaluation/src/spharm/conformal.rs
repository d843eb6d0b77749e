//! The conformal map of a genus-0 surface onto the unit sphere, normalised by Möbius
//! transformations so that it depends on the surface's geometry alone.
//!
//! - Angenent, Haker, Tannenbaum & Kikinis (1999), "On the Laplace–Beltrami operator and brain
//!   surface flattening": the map into the plane that sends one triangle to infinity solves
//!   `Δ(u + iv) = (∂/∂x − i ∂/∂y) δ` there, two linear systems with the cotangent Laplacian;
//!   inverse stereographic projection puts it on the sphere.
//! - Gauss–Seidel sweeps towards the discrete harmonic map then smooth out the error that the
//!   point source leaves around that triangle.
//! - A conformal map of the sphere is unique up to a Möbius transformation, so the pose of the
//!   result depends on where the source sat. Möbius centring (Baden, Crane & Kazhdan 2018,
//!   "Möbius registration") puts the surface area's centroid at the sphere's centre; then the
//!   centres of the two polar caps (the areas nearest the axis of the largest second moment)
//!   are moved onto the poles, and the area split evenly between the hemispheres, so that the
//!   latitudes of [`super::rearrange`] run along the object.
//!
//! Unlike Brechbühler's harmonic latitude from two pole vertices, nothing here depends on which
//! vertex is picked, so re-voxelizing the object at another pose changes the map only as much
//! as the surface changes.

use nalgebra::{Matrix3, SymmetricEigen};

use super::sphere::{triangle_area, Vec3};

/// The cotangent Laplacian (the P1 stiffness matrix) of a triangle mesh, off-diagonal entries
/// in compressed rows.
struct Stiffness {
    offsets: Vec<usize>,
    columns: Vec<usize>,
    values: Vec<f64>,
    diagonal: Vec<f64>,
}

impl Stiffness {
    fn new(points: &[Vec3], triangles: &[[usize; 3]]) -> Self {
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); points.len()];
        for triangle in triangles {
            for k in 0..3 {
                let (i, j) = (triangle[k], triangle[(k + 1) % 3]);
                rows[i].push(j);
                rows[j].push(i);
            }
        }
        let mut offsets = vec![0];
        let mut columns = Vec::new();
        for row in &mut rows {
            row.sort_unstable();
            row.dedup();
            columns.extend_from_slice(row);
            offsets.push(columns.len());
        }
        let slot = |row: usize, column: usize| {
            let range = offsets[row]..offsets[row + 1];
            range.start
                + columns[range]
                    .binary_search(&column)
                    .expect("an edge of the mesh")
        };
        let mut values = vec![0.0; columns.len()];
        let mut diagonal = vec![0.0; points.len()];
        for triangle in triangles {
            for k in 0..3 {
                let (i, j, opposite) = (triangle[k], triangle[(k + 1) % 3], triangle[(k + 2) % 3]);
                let (u, v) = (points[i] - points[opposite], points[j] - points[opposite]);
                let cross = u.cross(&v).norm();
                if cross <= 0.0 {
                    continue;
                }
                let weight = 0.5 * u.dot(&v) / cross;
                values[slot(i, j)] -= weight;
                values[slot(j, i)] -= weight;
                diagonal[i] += weight;
                diagonal[j] += weight;
            }
        }
        Self {
            offsets,
            columns,
            values,
            diagonal,
        }
    }

    fn row(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let range = self.offsets[i]..self.offsets[i + 1];
        self.columns[range.clone()]
            .iter()
            .copied()
            .zip(self.values[range].iter().copied())
    }

    fn apply(&self, x: &[f64], out: &mut [f64]) {
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = self.diagonal[i] * x[i] + self.row(i).map(|(j, k)| k * x[j]).sum::<f64>();
        }
    }

    /// Solves `K x = b` (b summing to zero; K's kernel is the constants) by
    /// Jacobi-preconditioned conjugate gradients, to a residual of [`CG_TOLERANCE`] of `b`;
    /// returns x with mean zero.
    fn solve(&self, b: &[f64]) -> Vec<f64> {
        let n = b.len();
        let inverse_diagonal: Vec<f64> = self
            .diagonal
            .iter()
            .map(|d| if *d > 0.0 { 1.0 / d } else { 1.0 })
            .collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
        let mut x = vec![0.0; n];
        let mut residual = b.to_vec();
        let mut preconditioned: Vec<f64> = residual
            .iter()
            .zip(&inverse_diagonal)
            .map(|(r, d)| r * d)
            .collect();
        let mut direction = preconditioned.clone();
        let mut product = dot(&residual, &preconditioned);
        let stop = CG_TOLERANCE * dot(b, b).sqrt();
        let mut image = vec![0.0; n];
        for _ in 0..n.max(1000) {
            if dot(&residual, &residual).sqrt() <= stop {
                break;
            }
            self.apply(&direction, &mut image);
            let curvature = dot(&direction, &image);
            if curvature <= 0.0 {
                break;
            }
            let alpha = product / curvature;
            for i in 0..n {
                x[i] += alpha * direction[i];
                residual[i] -= alpha * image[i];
                preconditioned[i] = residual[i] * inverse_diagonal[i];
            }
            let next = dot(&residual, &preconditioned);
            let beta = next / product;
            product = next;
            for i in 0..n {
                direction[i] = preconditioned[i] + beta * direction[i];
            }
        }
        let mean = x.iter().sum::<f64>() / n as f64;
        x.iter_mut().for_each(|v| *v -= mean);
        x
    }
}

/// The linear solves stop at this residual, relative to the right-hand side. The far end of a
/// long object lands very close to the origin of the plane, so a looser tolerance (10⁻⁶)
/// left folds that the pose test at four times its size refused.
const CG_TOLERANCE: f64 = 1e-10;

/// Gauss–Seidel sweeps towards the harmonic map, each followed by Möbius centring: a
/// harmonic map stays harmonic under a Möbius transformation, so the sweeps alone let the
/// map drift towards one that crowds the surface into a small part of the sphere (with
/// centring after every 50 sweeps only, a single voxel's cube collapsed to a point). On the pose test at twice its size, with a level-set fit
/// surface, 200 sweeps took the mean movement from 2.9 to 2.2 %; 1 000 and 3 000 changed
/// nothing.
const HARMONIC_SWEEPS: usize = 200;

/// Each quad as two triangles along its shorter diagonal on `surface`, so that the split
/// follows the geometry rather than the vertex numbering.
pub(crate) fn triangles(faces: &[[usize; 4]], surface: &[Vec3]) -> Vec<[usize; 3]> {
    faces
        .iter()
        .flat_map(|q| {
            let first = (surface[q[0]] - surface[q[2]]).norm_squared();
            let second = (surface[q[1]] - surface[q[3]]).norm_squared();
            if first <= second {
                [[q[0], q[1], q[2]], [q[0], q[2], q[3]]]
            } else {
                [[q[1], q[2], q[3]], [q[1], q[3], q[0]]]
            }
        })
        .collect()
}

/// The conformal sphere points of the closed genus-0 mesh `triangles` on `surface`, point
/// source in triangle `source`, Möbius-centred for the vertex areas `weights`, and turned so
/// that the axis of the areas' largest second moment is z.
pub(crate) fn conformal_map(
    surface: &[Vec3],
    triangles: &[[usize; 3]],
    weights: &[f64],
    source: usize,
) -> Vec<Vec3> {
    let stiffness = Stiffness::new(surface, triangles);
    let (u, v) = planar_map(&stiffness, surface, triangles[source]);
    // The plane scaled so that the median point lands on the equator. On symmetric meshes
    // (a single voxel's cube) half of the points can sit at the origin, so those are left out.
    let mut radii: Vec<f64> = u
        .iter()
        .zip(&v)
        .map(|(u, v)| u.hypot(*v))
        .filter(|r| *r > 0.0)
        .collect();
    radii.sort_by(f64::total_cmp);
    let scale = radii.get(radii.len() / 2).map_or(1.0, |r| 1.0 / r);
    let mut points: Vec<Vec3> = u
        .iter()
        .zip(&v)
        .map(|(u, v)| from_plane(u * scale, v * scale))
        .collect();
    let signed_area: f64 = triangles
        .iter()
        .map(|t| triangle_area(&points[t[0]], &points[t[1]], &points[t[2]]))
        .sum();
    if signed_area < 0.0 {
        points.iter_mut().for_each(|p| p.y = -p.y);
    }
    mobius_centre(&mut points, weights);
    for _ in 0..HARMONIC_SWEEPS {
        for i in 0..points.len() {
            let pull = stiffness
                .row(i)
                .fold(Vec3::zeros(), |sum, (j, k)| sum - points[j] * k);
            if pull.norm_squared() > 0.0 {
                points[i] = pull.normalize();
            }
        }
        mobius_centre(&mut points, weights);
    }
    let moments = second_moments(&points, weights);
    let eigen = SymmetricEigen::new(moments);
    let mut order = [0, 1, 2];
    order.sort_by(|&i, &j| eigen.eigenvalues[i].total_cmp(&eigen.eigenvalues[j]));
    let axis = |k: usize| -> Vec3 { eigen.eigenvectors.column(order[k]).into() };
    let (largest, middle) = (axis(2), axis(1));
    let rotation = Matrix3::from_rows(&[
        middle.transpose(),
        largest.cross(&middle).transpose(),
        largest.transpose(),
    ]);
    points.iter().map(|p| rotation * p).collect()
}

/// Angenent et al.'s planar map `(u, v)` with the point source in triangle `[a, b, c]`: the
/// derivative of a delta along edge ab and along the height from c, discretised on the
/// triangle's corners.
fn planar_map(
    stiffness: &Stiffness,
    surface: &[Vec3],
    [a, b, c]: [usize; 3],
) -> (Vec<f64>, Vec<f64>) {
    let edge = surface[b] - surface[a];
    let length = edge.norm();
    let along = (surface[c] - surface[a]).dot(&edge) / (length * length);
    let height = (surface[c] - (surface[a] + edge * along)).norm();
    let mut source_u = vec![0.0; surface.len()];
    let mut source_v = vec![0.0; surface.len()];
    source_u[a] = -1.0 / length;
    source_u[b] = 1.0 / length;
    source_v[a] = (1.0 - along) / height;
    source_v[b] = along / height;
    source_v[c] = -1.0 / height;
    (stiffness.solve(&source_u), stiffness.solve(&source_v))
}

fn second_moments(points: &[Vec3], weights: &[f64]) -> Matrix3<f64> {
    let total: f64 = weights.iter().sum();
    points
        .iter()
        .zip(weights)
        .fold(Matrix3::zeros(), |sum, (p, w)| {
            sum + p * p.transpose() * (w / total)
        })
}

/// Moves `points` by Möbius transformations `x ↦ (1 − |c|²)(x + c) / |x + c|² + c` until the
/// `weights` have their centroid at the origin. Each step solves the centroid's linearisation
/// `2 (I − M) c = −μ` (M: the second moments), limited to |c| ≤ 1/2.
fn mobius_centre(points: &mut [Vec3], weights: &[f64]) {
    let total: f64 = weights.iter().sum();
    for _ in 0..MAX_CENTRING_STEPS {
        let centroid = points
            .iter()
            .zip(weights)
            .fold(Vec3::zeros(), |sum, (p, w)| sum + p * (w / total));
        if centroid.norm() < CENTRED {
            return;
        }
        let jacobian = (Matrix3::identity() - second_moments(points, weights)) * 2.0;
        let mut shift = -(jacobian.try_inverse().unwrap_or_else(Matrix3::identity) * centroid);
        if shift.norm() > 0.5 {
            shift *= 0.5 / shift.norm();
        }
        let shrink = 1.0 - shift.norm_squared();
        for p in points.iter_mut() {
            let q = *p + shift;
            *p = (q * (shrink / q.norm_squared()) + shift).normalize();
        }
    }
}

const MAX_CENTRING_STEPS: usize = 200;
const CENTRED: f64 = 1e-12;

/// Moves the area centroids of the two polar caps (the [`CAP_AREA`] of the surface nearest
/// each pole) onto the poles by Möbius transformations that fix the other pole, and scales
/// the stereographic plane so that each hemisphere holds half the area, until the caps'
/// centres stay put.
pub(crate) fn centre_caps(points: &mut [Vec3], weights: &[f64]) {
    let total: f64 = weights.iter().sum();
    for _ in 0..MAX_CAP_ROUNDS {
        let mut order: Vec<usize> = (0..points.len()).collect();
        order.sort_by(|&a, &b| points[a].z.total_cmp(&points[b].z));
        let cap_centre = |cap: &mut dyn Iterator<Item = &usize>| {
            let mut sum = Vec3::zeros();
            let mut area = 0.0;
            for &v in cap {
                if area >= CAP_AREA * total {
                    break;
                }
                sum += points[v] * weights[v];
                area += weights[v];
            }
            sum.normalize()
        };
        let south = cap_centre(&mut order.iter());
        let north = cap_centre(&mut order.iter().rev());
        if (north - Vec3::z()).norm() < CAPS_CENTRED && (south + Vec3::z()).norm() < CAPS_CENTRED {
            return;
        }
        // Turn the north centre onto +z, then translate the stereographic plane (which fixes
        // the north pole) so that the south centre lands on its origin, −z.
        let rotation = rotation_onto_z(&north);
        let (south_x, south_y) = to_plane(&(rotation * south));
        let plane: Vec<(f64, f64)> = points
            .iter()
            .map(|p| {
                let (x, y) = to_plane(&(rotation * p));
                (x - south_x, y - south_y)
            })
            .collect();
        let mut by_radius: Vec<(f64, f64)> = plane
            .iter()
            .zip(weights)
            .map(|((x, y), w)| (x.hypot(*y), *w))
            .collect();
        by_radius.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut area = 0.0;
        let mut half_radius = 1.0;
        for (radius, w) in by_radius {
            area += w;
            if area >= total / 2.0 {
                half_radius = radius;
                break;
            }
        }
        for (p, (x, y)) in points.iter_mut().zip(plane) {
            *p = from_plane(x / half_radius, y / half_radius);
        }
    }
}

/// Each cap holds this share of the surface. On the pose test at twice its size (before the
/// harmonic sweeps), 5 % and 20 % moved the descriptor 0.1 points more on average than 10 %,
/// and 2 % 1.5 points more.
const CAP_AREA: f64 = 0.1;
/// Rounds converge geometrically; 20 reach rounding error on the pose test's bent tube.
const MAX_CAP_ROUNDS: usize = 40;
const CAPS_CENTRED: f64 = 1e-12;

/// The rotation that takes the unit vector `from` onto +z (Rodrigues).
fn rotation_onto_z(from: &Vec3) -> Matrix3<f64> {
    let axis = from.cross(&Vec3::z());
    let (sine, cosine) = (axis.norm(), from.z);
    if sine < 1e-15 {
        return if cosine > 0.0 {
            Matrix3::identity()
        } else {
            Matrix3::from_diagonal(&Vec3::new(1.0, -1.0, -1.0))
        };
    }
    let k = axis / sine;
    let cross = Matrix3::new(0.0, -k.z, k.y, k.z, 0.0, -k.x, -k.y, k.x, 0.0);
    Matrix3::identity() + cross * sine + cross * cross * (1.0 - cosine)
}

/// Stereographic projection from the north pole, `(x, y) / (1 − z)`, with `1 − z` taken as
/// `(x² + y²) / (1 + z)` near the pole, where the subtraction would cancel.
fn to_plane(p: &Vec3) -> (f64, f64) {
    let below_pole = if p.z > 0.0 {
        (p.x * p.x + p.y * p.y) / (1.0 + p.z)
    } else {
        1.0 - p.z
    };
    if below_pole == 0.0 {
        // The pole itself: infinity, which [`from_plane`] maps back to the pole.
        return (f64::INFINITY, f64::INFINITY);
    }
    (p.x / below_pole, p.y / below_pole)
}

/// The inverse of [`to_plane`]: `(2x, 2y, r² − 1) / (r² + 1)`, with `z` as `1 − 2 / (r² + 1)`
/// far out, for the same reason, and the north pole for infinity.
fn from_plane(x: f64, y: f64) -> Vec3 {
    let r2 = x * x + y * y;
    if r2.is_infinite() {
        return Vec3::z();
    }
    let z = if r2 > 1.0 {
        1.0 - 2.0 / (r2 + 1.0)
    } else {
        (r2 - 1.0) / (r2 + 1.0)
    };
    Vec3::new(2.0 * x / (r2 + 1.0), 2.0 * y / (r2 + 1.0), z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereographic_projection_round_trips_near_both_poles() {
        for p in [
            Vec3::new(1e-9, 2e-9, 1.0).normalize(),
            Vec3::new(0.3, -0.4, 0.2).normalize(),
            Vec3::new(-1e-7, 0.0, -1.0).normalize(),
            Vec3::z(),
        ] {
            let (x, y) = to_plane(&p);
            assert!((from_plane(x, y) - p).norm() < 1e-15, "{p:?}");
        }
    }

    #[test]
    fn mobius_centring_puts_the_weighted_centroid_at_the_origin() {
        // Points crowded towards the north pole, as a conformal map crowds a long object.
        let mut points: Vec<Vec3> = (0..200)
            .map(|i| {
                let t = i as f64 / 199.0;
                let (theta, phi) = (0.05 + 1.2 * t, 2.4 * i as f64);
                Vec3::new(
                    theta.sin() * phi.cos(),
                    theta.sin() * phi.sin(),
                    theta.cos(),
                )
            })
            .collect();
        let weights: Vec<f64> = (0..200).map(|i| 1.0 + (i % 3) as f64).collect();
        mobius_centre(&mut points, &weights);
        let total: f64 = weights.iter().sum();
        let centroid = points
            .iter()
            .zip(&weights)
            .fold(Vec3::zeros(), |s, (p, w)| s + p * (w / total));
        assert!(centroid.norm() < 1e-10, "{centroid:?}");
        assert!(points.iter().all(|p| (p.norm() - 1.0).abs() < 1e-12));
    }
}
