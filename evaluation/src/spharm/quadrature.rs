//! The spherical-harmonic coefficients of a parameterized mesh by quadrature on a
//! Gauss–Legendre grid, as pyshtools' `SHExpandGLQ` does (aicsshparam uses its Driscoll–Healy
//! sibling for the radii of star-shaped objects): the surface is resampled at the grid's
//! directions through the parameterization, and each coefficient is `∫ x(s) Y(s) dΩ` by the
//! grid's exact quadrature.
//!
//! Least squares on the mesh vertices (SPHARM-MAT, CellOrganizer) needs more vertices than the
//! `(L + 1)²` harmonics, so small objects cannot reach the paper's degree 31, and its normal
//! equations cost `N (L + 1)⁴ / 2` multiply-adds. Here the surface between vertices is the
//! mesh's own piecewise-linear interpolation, so every mesh defines all coefficients up to any
//! degree, and the transforms cost `O(rings · longitudes · L)`: one DFT per ring, then one
//! Legendre sum per order.

use std::f64::consts::{PI, TAU};

use nalgebra::DMatrix;

use super::harmonics::{basis_index, basis_len, HarmonicBasis};
use super::mesh::QuadMesh;
use super::sphere::Vec3;

/// A Gauss–Legendre grid on the sphere: `rings` colatitudes at the Gauss nodes of `cos θ`, each
/// with `longitudes` equally spaced longitudes `φ_j = 2π j / longitudes`. It integrates every
/// product of two harmonics up to degree `L` exactly when `rings > L` and `longitudes > 2L`.
pub(crate) struct SphereGrid {
    /// `cos θ` of each ring, ascending (south to north).
    cos_theta: Vec<f64>,
    /// Gauss weight of each ring times the longitude step `2π / longitudes`: the solid angle
    /// each of its points stands for.
    weight: Vec<f64>,
    longitudes: usize,
    degree: usize,
    /// `λ_n^m(θ_i)` for m ≥ 0, row [`basis_index`] `(n, m)`, one column per ring: the real
    /// harmonics are `λ_n^m(θ) cos mφ` (order m) and `λ_n^m(θ) sin mφ` (order −m).
    legendre: Vec<f64>,
    /// `cos mφ_j` and `sin mφ_j`, row m, one column per longitude.
    cos_table: Vec<f64>,
    sin_table: Vec<f64>,
}

impl SphereGrid {
    /// The grid for degree `degree` fine enough for `faces` parameterized quads: at least
    /// twice the exact size, and about two points across each quad of an equal-area map
    /// (`rings ≈ √(π · faces)`), so that the resampled surface is not aliased. The equator's
    /// spacing is then that of `4 · faces` spiral points.
    pub(crate) fn for_mesh(degree: usize, faces: usize) -> Self {
        let rings = (2 * (degree + 1)).max((PI * faces as f64).sqrt().ceil() as usize);
        Self::new(degree, rings, 2 * rings)
    }

    pub(crate) fn new(degree: usize, rings: usize, longitudes: usize) -> Self {
        assert!(rings > degree && longitudes > 2 * degree, "grid too coarse");
        let (cos_theta, gauss_weight) = gauss_legendre(rings);
        let step = TAU / longitudes as f64;
        let weight = gauss_weight.iter().map(|w| w * step).collect();
        let basis = HarmonicBasis::new(degree);
        let meridian: Vec<Vec3> = cos_theta
            .iter()
            .map(|&z: &f64| Vec3::new((1.0 - z * z).max(0.0).sqrt(), 0.0, z))
            .collect();
        // On the meridian φ = 0 the order-m harmonic is λ_n^m itself (and order −m is 0).
        let mut legendre = vec![0.0; basis.len() * rings];
        basis.evaluate(&meridian, &mut legendre);
        let angle = |m: usize, j: usize| ((m * j) % longitudes) as f64 * step;
        let table = |f: fn(f64) -> f64| -> Vec<f64> {
            (0..=degree)
                .flat_map(|m| (0..longitudes).map(move |j| f(angle(m, j))))
                .collect()
        };
        Self {
            cos_theta,
            weight,
            longitudes,
            degree,
            legendre,
            cos_table: table(f64::cos),
            sin_table: table(f64::sin),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.cos_theta.len() * self.longitudes
    }

    /// The grid's directions, ring by ring, longitude fastest.
    pub(crate) fn directions(&self) -> Vec<Vec3> {
        let step = TAU / self.longitudes as f64;
        self.cos_theta
            .iter()
            .flat_map(|&z| {
                let r = (1.0 - z * z).max(0.0).sqrt();
                (0..self.longitudes).map(move |j| {
                    let (sin, cos) = (j as f64 * step).sin_cos();
                    Vec3::new(r * cos, r * sin, z)
                })
            })
            .collect()
    }

    /// `λ_n^m` at ring `ring`.
    fn lambda(&self, n: usize, m: usize, ring: usize) -> f64 {
        self.legendre[basis_index(n, m as isize) * self.cos_theta.len() + ring]
    }

    /// The coefficients `∫ f Y dΩ` (`(degree + 1)²` rows of x, y, z) of `values`, given at
    /// [`SphereGrid::directions`].
    pub(crate) fn analyse(&self, values: &[Vec3]) -> DMatrix<f64> {
        assert_eq!(values.len(), self.len(), "one value per grid point");
        let mut coefficients = DMatrix::zeros(basis_len(self.degree), 3);
        let n_phi = self.longitudes;
        for (ring, ring_values) in values.chunks_exact(n_phi).enumerate() {
            for m in 0..=self.degree {
                let (cos, sin) = (
                    &self.cos_table[m * n_phi..(m + 1) * n_phi],
                    &self.sin_table[m * n_phi..(m + 1) * n_phi],
                );
                let (mut c, mut s) = (Vec3::zeros(), Vec3::zeros());
                for ((v, &cm), &sm) in ring_values.iter().zip(cos).zip(sin) {
                    c += v * cm;
                    s += v * sm;
                }
                let (c, s) = (c * self.weight[ring], s * self.weight[ring]);
                for n in m..=self.degree {
                    let lambda = self.lambda(n, m, ring);
                    for axis in 0..3 {
                        coefficients[(basis_index(n, m as isize), axis)] += lambda * c[axis];
                        if m > 0 {
                            coefficients[(basis_index(n, -(m as isize)), axis)] += lambda * s[axis];
                        }
                    }
                }
            }
        }
        coefficients
    }

    /// The expansion with `coefficients` at [`SphereGrid::directions`].
    pub(crate) fn synthesise(&self, coefficients: &DMatrix<f64>) -> Vec<Vec3> {
        assert_eq!(coefficients.nrows(), basis_len(self.degree), "coefficients");
        let n_phi = self.longitudes;
        let mut values = vec![Vec3::zeros(); self.len()];
        for (ring, ring_values) in values.chunks_exact_mut(n_phi).enumerate() {
            for m in 0..=self.degree {
                let (mut a, mut b) = (Vec3::zeros(), Vec3::zeros());
                for n in m..=self.degree {
                    let lambda = self.lambda(n, m, ring);
                    for axis in 0..3 {
                        a[axis] += lambda * coefficients[(basis_index(n, m as isize), axis)];
                        if m > 0 {
                            b[axis] += lambda * coefficients[(basis_index(n, -(m as isize)), axis)];
                        }
                    }
                }
                let (cos, sin) = (
                    &self.cos_table[m * n_phi..(m + 1) * n_phi],
                    &self.sin_table[m * n_phi..(m + 1) * n_phi],
                );
                for ((v, &cm), &sm) in ring_values.iter_mut().zip(cos).zip(sin) {
                    *v += a * cm + b * sm;
                }
            }
        }
        values
    }
}

/// Gauss–Legendre nodes (ascending) and weights on [−1, 1], by Newton's method on the Legendre
/// polynomial from Tricomi's initial guesses.
fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    let n_f = n as f64;
    for i in 0..n.div_ceil(2) {
        let mut x = (PI * (i as f64 + 0.75) / (n_f + 0.5)).cos();
        let mut derivative = 1.0;
        for _ in 0..100 {
            // P_n(x) and P_n'(x) by the three-term recurrence.
            let (mut p, mut previous) = (1.0, 0.0);
            for k in 1..=n {
                let k_f = k as f64;
                (p, previous) = (
                    ((2.0 * k_f - 1.0) * x * p - (k_f - 1.0) * previous) / k_f,
                    p,
                );
            }
            derivative = n_f * (x * p - previous) / (x * x - 1.0);
            let step = p / derivative;
            x -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - x * x) * derivative * derivative);
        nodes[i] = -x;
        nodes[n - 1 - i] = x;
        weights[i] = w;
        weights[n - 1 - i] = w;
    }
    (nodes, weights)
}

/// The mesh surface at each of `directions` through the parameterization `sphere` (a point on
/// the unit sphere per vertex, one-to-one): each quad is split at its centre into four
/// triangles, and a direction inside a triangle on the sphere gets the surface point with the
/// same barycentric coordinates, those of where its ray meets the triangle's plane.
///
/// Each triangle tests only the directions of the grid rows and columns its corners span
/// (padded for the bulge of its great-circle edges, all longitudes for a triangle around a
/// pole); a direction no triangle claims through rounding takes the best triangle overall.
pub(crate) fn resample(
    mesh: &QuadMesh,
    surface: &[Vec3],
    sphere: &[Vec3],
    grid: &SphereGrid,
) -> Vec<Vec3> {
    let triangles = split_quads(mesh, surface, sphere);
    let directions = grid.directions();
    let n_phi = grid.longitudes;
    let step = TAU / n_phi as f64;
    let mut values: Vec<Option<Vec3>> = vec![None; directions.len()];
    for triangle in &triangles {
        let z = triangle.sphere.map(|p| p.z);
        let longest_chord = (0..3)
            .map(|k| (triangle.sphere[k] - triangle.sphere[(k + 1) % 3]).norm_squared())
            .fold(0.0, f64::max);
        let pad = longest_chord + 1e-12;
        let z_low = z.iter().copied().fold(f64::INFINITY, f64::min) - pad;
        let z_high = z.iter().copied().fold(f64::NEG_INFINITY, f64::max) + pad;
        let pole = |sign: f64| triangle.barycentric(&Vec3::new(0.0, 0.0, sign)).is_some();
        let (z_low, z_high, columns) = if pole(1.0) {
            (z_low, 1.0, None)
        } else if pole(-1.0) {
            (-1.0, z_high, None)
        } else {
            let mut phi = triangle.sphere.map(|p| p.y.atan2(p.x).rem_euclid(TAU));
            let low = phi.iter().copied().fold(f64::INFINITY, f64::min);
            if phi.iter().copied().fold(f64::NEG_INFINITY, f64::max) - low > PI {
                phi.iter_mut().filter(|p| **p < PI).for_each(|p| *p += TAU);
            }
            let low = phi.iter().copied().fold(f64::INFINITY, f64::min);
            let high = phi.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let angular_pad = pad.sqrt() + 1e-9;
            let first = ((low - angular_pad) / step).floor() as i64;
            let last = ((high + angular_pad) / step).ceil() as i64;
            (z_low, z_high, Some((first, last)))
        };
        let first_ring = grid.cos_theta.partition_point(|&c| c < z_low);
        let last_ring = grid.cos_theta.partition_point(|&c| c <= z_high);
        for ring in first_ring..last_ring {
            let mut visit = |column: usize| {
                let index = ring * n_phi + column;
                if values[index].is_none() {
                    values[index] = triangle.interpolate(&directions[index]);
                }
            };
            match columns {
                None => (0..n_phi).for_each(&mut visit),
                Some((first, last)) => (first..=last.min(first + n_phi as i64 - 1))
                    .for_each(|c| visit(c.rem_euclid(n_phi as i64) as usize)),
            }
        }
    }
    values
        .into_iter()
        .zip(&directions)
        .map(|(value, direction)| {
            value.unwrap_or_else(|| {
                triangles
                    .iter()
                    .max_by(|a, b| {
                        a.inside_margin(direction)
                            .total_cmp(&b.inside_margin(direction))
                    })
                    .expect("a mesh has faces")
                    .extrapolate(direction)
            })
        })
        .collect()
}

/// A triangle of the split mesh: its corners on the sphere and on the surface.
struct Triangle {
    sphere: [Vec3; 3],
    surface: [Vec3; 3],
    /// `sphere[k+1] × sphere[k+2]`: the barycentric coordinate of corner k of a direction d is
    /// proportional to `d · edge_normal[k]`.
    edge_normal: [Vec3; 3],
}

impl Triangle {
    fn new(sphere: [Vec3; 3], surface: [Vec3; 3]) -> Self {
        let edge_normal = std::array::from_fn(|k| sphere[(k + 1) % 3].cross(&sphere[(k + 2) % 3]));
        Self {
            sphere,
            surface,
            edge_normal,
        }
    }

    /// The barycentric coordinates of where `d`'s ray meets the triangle's plane, when it does
    /// so inside the triangle (on the same side of the centre as the triangle).
    fn barycentric(&self, d: &Vec3) -> Option<[f64; 3]> {
        let raw = self.edge_normal.map(|n| d.dot(&n));
        let total = raw[0] + raw[1] + raw[2];
        let tolerance = -1e-14 * total.abs();
        (total > 0.0 && raw.iter().all(|&r| r >= tolerance)).then(|| raw.map(|r| r / total))
    }

    fn interpolate(&self, d: &Vec3) -> Option<Vec3> {
        self.barycentric(d).map(|b| self.at(b))
    }

    fn at(&self, b: [f64; 3]) -> Vec3 {
        self.surface[0] * b[0] + self.surface[1] * b[1] + self.surface[2] * b[2]
    }

    /// The smallest normalised barycentric coordinate of `d` (negative outside), −∞ for the
    /// triangles on the far side.
    fn inside_margin(&self, d: &Vec3) -> f64 {
        let raw = self.edge_normal.map(|n| d.dot(&n));
        let total = raw[0] + raw[1] + raw[2];
        if total <= 0.0 {
            return f64::NEG_INFINITY;
        }
        raw.iter().fold(f64::INFINITY, |m, &r| m.min(r / total))
    }

    /// The surface at `d` from this triangle's plane, also just outside it.
    fn extrapolate(&self, d: &Vec3) -> Vec3 {
        let raw = self.edge_normal.map(|n| d.dot(&n));
        let total = raw[0] + raw[1] + raw[2];
        self.at(raw.map(|r| r / total))
    }
}

/// Each quad as four triangles around its centre (the mean of its corners on the surface, the
/// normalised mean on the sphere), so that no diagonal has to be chosen.
fn split_quads(mesh: &QuadMesh, surface: &[Vec3], sphere: &[Vec3]) -> Vec<Triangle> {
    let mut triangles = Vec::with_capacity(4 * mesh.faces.len());
    for face in &mesh.faces {
        let centre_surface = face.iter().map(|&v| surface[v]).sum::<Vec3>() / 4.0;
        let centre_sphere = face.iter().map(|&v| sphere[v]).sum::<Vec3>().normalize();
        for k in 0..4 {
            let (a, b) = (face[k], face[(k + 1) % 4]);
            triangles.push(Triangle::new(
                [sphere[a], sphere[b], centre_sphere],
                [surface[a], surface[b], centre_surface],
            ));
        }
    }
    triangles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let (nodes, weights) = gauss_legendre(7);
        for power in 0..=13 {
            let quadrature: f64 = nodes
                .iter()
                .zip(&weights)
                .map(|(x, w)| w * x.powi(power))
                .sum();
            let exact = if power % 2 == 1 {
                0.0
            } else {
                2.0 / (power as f64 + 1.0)
            };
            assert!(
                (quadrature - exact).abs() < 1e-14,
                "x^{power}: {quadrature}"
            );
        }
    }

    #[test]
    fn analysis_inverts_synthesis_for_band_limited_functions() {
        let degree = 9;
        let grid = SphereGrid::new(degree, degree + 1, 2 * degree + 1);
        let coefficients = DMatrix::from_fn(basis_len(degree), 3, |i, axis| {
            ((i * 7 + axis * 3) % 11) as f64 - 5.0
        });
        let recovered = grid.analyse(&grid.synthesise(&coefficients));
        let error = (recovered - &coefficients).abs().max();
        assert!(error < 1e-11, "largest coefficient error {error}");
    }
}
