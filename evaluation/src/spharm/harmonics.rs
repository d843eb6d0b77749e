//! Real orthonormal spherical harmonics, evaluated for many points at once.
//!
//! CellOrganizer fits complex `Y_n^m`; for real coordinates its coefficients satisfy
//! `c_n^{-m} = (-1)^m conj(c_n^m)`, and the real basis used here (`√2 P̄_n^m cos mφ`,
//! `√2 P̄_n^|m| sin |m|φ`, `P̄_n^0`) is a fixed unitary transform of it: the same information and
//! the same Euclidean distances between descriptors, without the redundant half.

use nalgebra::DMatrix;

use super::sphere::Vec3;

/// Number of basis functions up to `degree`: `(degree + 1)²`.
pub(crate) fn basis_len(degree: usize) -> usize {
    (degree + 1) * (degree + 1)
}

/// Position of `Y_n^m` in the basis: `n² + n + m`, so degree n occupies `n²..(n + 1)²`.
pub(crate) fn basis_index(n: usize, m: isize) -> usize {
    (n * n + n).wrapping_add_signed(m)
}

/// The real orthonormal harmonics up to one degree, evaluated for many points at once.
///
/// The fully normalised associated Legendre functions come from the standard three-term
/// recursion in n for each m, `P̄_n^m = a_n^m (cos θ P̄_{n−1}^m − b_n^m P̄_{n−2}^m)`, seeded by
/// the sectoral `P̄_m^m`; every factor stays O(1), so it is stable far beyond degree 31. The
/// factors `a`, `b` (two square roots and divisions each) are computed once here rather than
/// per point, and `sin^m θ (cos mφ, sin mφ)` is `(x + iy)^m`, so no point needs a
/// trigonometric function either.
pub(crate) struct HarmonicBasis {
    degree: usize,
    /// Per order m: `√2 P̄_m^m / sin^m θ` (without the √2 for m = 0).
    sectoral: Vec<f64>,
    /// `(a_n^m, b_n^m)` for m = 0..=degree, n = m + 1..=degree, in that order.
    recurrence: Vec<(f64, f64)>,
}

impl HarmonicBasis {
    pub(crate) fn new(degree: usize) -> Self {
        let mut sectoral = Vec::with_capacity(degree + 1);
        let mut recurrence = Vec::new();
        let mut legendre = (4.0 * std::f64::consts::PI).recip().sqrt();
        for m in 0..=degree {
            if m > 0 {
                legendre *= ((2 * m + 1) as f64 / (2 * m) as f64).sqrt();
            }
            let real_scale = if m == 0 {
                1.0
            } else {
                std::f64::consts::SQRT_2
            };
            sectoral.push(real_scale * legendre);
            let m_f = m as f64;
            for n in m + 1..=degree {
                let n_f = n as f64;
                let a = ((4.0 * n_f * n_f - 1.0) / (n_f * n_f - m_f * m_f)).sqrt();
                let b =
                    (((n_f - 1.0).powi(2) - m_f * m_f) / (4.0 * (n_f - 1.0).powi(2) - 1.0)).sqrt();
                recurrence.push((a, b));
            }
        }
        Self {
            degree,
            sectoral,
            recurrence,
        }
    }

    /// Number of harmonics, [`basis_len`] of the degree.
    pub(crate) fn len(&self) -> usize {
        basis_len(self.degree)
    }

    /// Every harmonic at every unit vector of `points`, into `out` as a `len() × points.len()`
    /// row-major matrix (row [`basis_index`] `(n, m)`, one column per point). Each recursion
    /// step runs along a whole row, so it vectorises across the points.
    pub(crate) fn evaluate(&self, points: &[Vec3], out: &mut [f64]) {
        let count = points.len();
        assert_eq!(out.len(), self.len() * count, "one row per harmonic");
        let cos_theta: Vec<f64> = points.iter().map(|s| s.z.clamp(-1.0, 1.0)).collect();
        // (x + iy)^m = sin^m θ (cos mφ + i sin mφ), advanced one order at a time.
        let mut power: Vec<(f64, f64)> = vec![(1.0, 0.0); count];
        let mut steps_done = 0;
        for m in 0..=self.degree {
            if m > 0 {
                for ((re, im), s) in power.iter_mut().zip(points) {
                    (*re, *im) = (*re * s.x - *im * s.y, *re * s.y + *im * s.x);
                }
            }
            let steps = &self.recurrence[steps_done..steps_done + self.degree - m];
            steps_done += steps.len();
            // Order m takes the real part (cos mφ), order −m the imaginary part (sin mφ).
            let orders: &[isize] = if m == 0 {
                &[0]
            } else {
                &[m as isize, -(m as isize)]
            };
            for &order in orders {
                let seed = &mut out[row_range(basis_index(m, order), count)];
                for (value, &(re, im)) in seed.iter_mut().zip(&power) {
                    *value = self.sectoral[m] * if order >= 0 { re } else { im };
                }
                for (n, &(a, b)) in (m + 1..=self.degree).zip(steps) {
                    let row = basis_index(n, order);
                    let (done, rest) = out.split_at_mut(row * count);
                    let current = &mut rest[..count];
                    let before = &done[row_range(basis_index(n - 1, order), count)];
                    if n == m + 1 {
                        for ((value, &p1), &z) in current.iter_mut().zip(before).zip(&cos_theta) {
                            *value = a * z * p1;
                        }
                    } else {
                        let two_before = &done[row_range(basis_index(n - 2, order), count)];
                        for (((value, &p1), &p2), &z) in current
                            .iter_mut()
                            .zip(before)
                            .zip(two_before)
                            .zip(&cos_theta)
                        {
                            *value = a * (z * p1 - b * p2);
                        }
                    }
                }
            }
        }
    }
}

/// The slice of row `row` in a row-major matrix with `count` columns.
fn row_range(row: usize, count: usize) -> std::ops::Range<usize> {
    row * count..(row + 1) * count
}

/// Points per block of [`evaluate`]: the block's harmonics
/// (`(degree + 1)² × POINT_BLOCK` numbers, 2 MB at degree 31) stay in the L2 cache.
const POINT_BLOCK: usize = 256;

/// The surface `Σ c_n^m Y_n^m(s)` at each sphere point.
pub(crate) fn evaluate(coefficients: &DMatrix<f64>, degree: usize, points: &[Vec3]) -> Vec<Vec3> {
    let basis = HarmonicBasis::new(degree);
    let columns = basis.len();
    assert_eq!(
        coefficients.shape(),
        (columns, 3),
        "coefficients of x, y and z"
    );
    let mut harmonics = vec![0.0; columns * POINT_BLOCK];
    let mut block_surface = vec![0.0; 3 * POINT_BLOCK];
    let mut surface = Vec::with_capacity(points.len());
    for block in points.chunks(POINT_BLOCK) {
        let count = block.len();
        let harmonics = &mut harmonics[..columns * count];
        basis.evaluate(block, harmonics);
        let block_surface = &mut block_surface[..3 * count];
        block_surface.fill(0.0);
        let (x, rest) = block_surface.split_at_mut(count);
        let (y, z) = rest.split_at_mut(count);
        for (j, row) in harmonics.chunks_exact(count).enumerate() {
            let c = coefficients.row(j);
            for (((x, y), z), h) in x.iter_mut().zip(y.iter_mut()).zip(z.iter_mut()).zip(row) {
                *x += c[0] * h;
                *y += c[1] * h;
                *z += c[2] * h;
            }
        }
        surface.extend((0..count).map(|i| Vec3::new(x[i], y[i], z[i])));
    }
    surface
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unsöld's addition theorem: `Σ_m Y_n^m(s)² = (2n + 1) / 4π` at every point, which checks
    /// normalisation and the recursion at high degree together.
    #[test]
    fn addition_theorem_holds_up_to_degree_40() {
        let degree = 40;
        let mut values = vec![0.0; basis_len(degree)];
        for s in [
            Vec3::new(0.3, -0.4, 0.866).normalize(),
            Vec3::new(1.0, 0.0, 0.0),
            Vec3::new(0.0, 0.0, -1.0),
            Vec3::new(-0.7, 0.7, 0.1).normalize(),
        ] {
            HarmonicBasis::new(degree).evaluate(&[s], &mut values);
            for n in 0..=degree {
                let sum: f64 = values[n * n..(n + 1) * (n + 1)].iter().map(|y| y * y).sum();
                let expected = (2 * n + 1) as f64 / (4.0 * std::f64::consts::PI);
                assert!(
                    (sum - expected).abs() < 1e-10 * expected,
                    "n {n}: {sum} vs {expected}"
                );
            }
        }
    }

    /// Degree 1 spans x, y and z: `Y_1^{1} ∝ x`, `Y_1^{-1} ∝ y`, `Y_1^0 ∝ z`.
    #[test]
    fn degree_one_is_the_coordinates() {
        let s = Vec3::new(0.2, -0.5, 0.3).normalize();
        let mut values = vec![0.0; basis_len(1)];
        HarmonicBasis::new(1).evaluate(&[s], &mut values);
        let scale = (3.0 / (4.0 * std::f64::consts::PI)).sqrt();
        assert!((values[basis_index(1, 1)] - scale * s.x).abs() < 1e-12);
        assert!((values[basis_index(1, -1)] - scale * s.y).abs() < 1e-12);
        assert!((values[basis_index(1, 0)] - scale * s.z).abs() < 1e-12);
    }
}
