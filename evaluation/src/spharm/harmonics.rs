//! Real orthonormal spherical harmonics and the least-squares fit of the surface coordinates
//! (CellOrganizer / SPHARM-MAT `create_SPHARM_des_LSF.m`: `fvec = (ZᴴZ) \ (ZᴴV)`).
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

/// Points per block of [`fit`] and [`evaluate`]: the block's harmonics
/// (`(degree + 1)² × POINT_BLOCK` numbers, 2 MB at degree 31) stay in the L2 cache.
const POINT_BLOCK: usize = 256;

/// Columns per panel of the normal matrix and of its Cholesky factor: each panel's product is
/// computed from its diagonal block down, so the upper triangle is (nearly) never computed.
const COLUMN_PANEL: usize = 64;

/// Least-squares coefficients (`(degree + 1)²` rows, columns x, y, z) of `values` at the
/// sphere points `points`, from the Cholesky factor of the normal equations. `None` when the
/// normal matrix is not numerically positive definite (too few or too clustered points).
///
/// The normal matrix `ZᵀZ` costs `N K² / 2` multiply-adds for N points and K harmonics, far
/// more than the rest of the fit. It is accumulated block of points by block: each block's
/// harmonics are a K × 256 matrix B, and `B Bᵀ` is added panel by panel of columns, from the
/// diagonal down, by matrixmultiply (SIMD kernels chosen at run time; nalgebra's own product
/// would use it too but mishandles strided views), so only the lower triangle and the
/// diagonal blocks are computed. The Cholesky factorisation is blocked the same way
/// ([`cholesky_in_place`]).
pub(crate) fn fit(points: &[Vec3], values: &[Vec3], degree: usize) -> Option<DMatrix<f64>> {
    let basis = HarmonicBasis::new(degree);
    let columns = basis.len();
    // Each block's harmonics, row-major, followed by three rows of the values' x, y and z:
    // the panel products then give the right-hand side `Zᵀv` as three extra rows of the
    // normal matrix, without a product of their own (which would pack the whole block again).
    let rows = columns + 3;
    let mut block = vec![0.0; rows * POINT_BLOCK];
    // Column-major, `rows` apart; only the lower triangle of the top K × K is used.
    let mut normal = vec![0.0; rows * columns];
    for (block_points, block_values) in points.chunks(POINT_BLOCK).zip(values.chunks(POINT_BLOCK)) {
        let count = block_points.len();
        let block = &mut block[..rows * count];
        let (harmonics, targets) = block.split_at_mut(columns * count);
        basis.evaluate(block_points, harmonics);
        for (axis, row) in targets.chunks_exact_mut(count).enumerate() {
            for (target, value) in row.iter_mut().zip(block_values) {
                *target = value[axis];
            }
        }
        let block_rows = |first: usize, height: usize| Strided {
            data: &block[first * count..(first + height) * count],
            rows: height,
            columns: count,
            row_step: count,
            column_step: 1,
        };
        for first in (0..columns).step_by(COLUMN_PANEL) {
            let width = COLUMN_PANEL.min(columns - first);
            multiply_add(
                1.0,
                &block_rows(first, rows - first),
                &block_rows(first, width).transposed(),
                &mut StridedMut {
                    data: &mut normal[first * rows + first..],
                    rows: rows - first,
                    columns: width,
                    column_step: rows,
                },
            );
        }
    }
    if !cholesky_in_place(&mut normal, columns, rows) {
        return None;
    }
    let factor = |i: usize, j: usize| normal[j * rows + i];
    let (smallest, largest) = (0..columns)
        .map(|i| factor(i, i))
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), d| {
            (lo.min(d), hi.max(d))
        });
    // The pivots' ratio squared bounds the condition number from below: refuse fits whose
    // coefficients would be dominated by rounding.
    if smallest <= largest * 1e-6 {
        return None;
    }
    // L Lᵀ c = Zᵀv: forward substitution, then back substitution with Lᵀ.
    let mut coefficients = DMatrix::from_fn(columns, 3, |j, axis| factor(columns + axis, j));
    for mut rhs in coefficients.column_iter_mut() {
        for j in 0..columns {
            rhs[j] /= factor(j, j);
            let solved = rhs[j];
            for i in j + 1..columns {
                rhs[i] -= factor(i, j) * solved;
            }
        }
        for j in (0..columns).rev() {
            let dot: f64 = (j + 1..columns).map(|i| factor(i, j) * rhs[i]).sum();
            rhs[j] = (rhs[j] - dot) / factor(j, j);
        }
    }
    Some(coefficients)
}

/// The lower Cholesky factor `L` (`A = L Lᵀ`) of the symmetric `n × n` matrix stored
/// column-major in `matrix` with columns `stride` apart, in place of its lower triangle (the
/// strict upper triangle is left as garbage, rows below n are not touched); false when a pivot
/// is not positive (not positive definite).
///
/// Right-looking and blocked by [`COLUMN_PANEL`] columns: each panel is factored column by
/// column (contiguous updates within the panel), then the rest of the matrix is updated by the
/// panel's outer product through [`multiply_add`], from the diagonal down as in [`fit`], where
/// nearly all of the `n³ / 6` multiply-adds are.
fn cholesky_in_place(matrix: &mut [f64], n: usize, stride: usize) -> bool {
    assert!(
        n <= stride && matrix.len() >= n * stride,
        "n columns of n rows"
    );
    for first in (0..n).step_by(COLUMN_PANEL) {
        let end = (first + COLUMN_PANEL).min(n);
        for j in first..end {
            let (done, rest) = matrix.split_at_mut(j * stride);
            let column = &mut rest[j..n];
            for k in first..j {
                let earlier = &done[k * stride + j..k * stride + n];
                let factor = earlier[0];
                for (value, &l) in column.iter_mut().zip(earlier) {
                    *value -= factor * l;
                }
            }
            let pivot = column[0];
            // NaN fails as well.
            if pivot.is_nan() || pivot <= 0.0 {
                return false;
            }
            let pivot = pivot.sqrt();
            column[0] = pivot;
            let scale = pivot.recip();
            column[1..].iter_mut().for_each(|value| *value *= scale);
        }
        if end == n {
            break;
        }
        // A[end.., end..] −= P Pᵀ for the panel P = L[end.., first..end].
        let (factored, trailing) = matrix.split_at_mut(end * stride);
        let panel = |top: usize, rows: usize| Strided {
            data: &factored[first * stride + top..(end - 1) * stride + top + rows],
            rows,
            columns: end - first,
            row_step: 1,
            column_step: stride,
        };
        for top in (end..n).step_by(COLUMN_PANEL) {
            let width = COLUMN_PANEL.min(n - top);
            multiply_add(
                -1.0,
                &panel(top, n - top),
                &panel(top, width).transposed(),
                &mut StridedMut {
                    data: &mut trailing[(top - end) * stride + top..],
                    rows: n - top,
                    columns: width,
                    column_step: stride,
                },
            );
        }
    }
    true
}

/// A matrix read from a slice: element (i, j) at `data[i · row_step + j · column_step]`.
struct Strided<'a> {
    data: &'a [f64],
    rows: usize,
    columns: usize,
    row_step: usize,
    column_step: usize,
}

impl Strided<'_> {
    fn transposed(&self) -> Self {
        Strided {
            data: self.data,
            rows: self.columns,
            columns: self.rows,
            row_step: self.column_step,
            column_step: self.row_step,
        }
    }

    /// Whether every element lies inside `data`.
    fn fits(&self) -> bool {
        self.rows == 0
            || self.columns == 0
            || (self.rows - 1) * self.row_step + (self.columns - 1) * self.column_step
                < self.data.len()
    }
}

/// A column-major matrix written into a slice: element (i, j) at `data[i + j · column_step]`.
struct StridedMut<'a> {
    data: &'a mut [f64],
    rows: usize,
    columns: usize,
    column_step: usize,
}

/// `c += alpha · a b` by matrixmultiply's cache-blocked SIMD kernels.
fn multiply_add(alpha: f64, a: &Strided, b: &Strided, c: &mut StridedMut) {
    assert!(a.columns == b.rows && a.rows == c.rows && b.columns == c.columns);
    assert!(a.fits() && b.fits(), "matrix views inside their slices");
    assert!(
        c.rows <= c.column_step
            && (c.rows == 0
                || c.columns == 0
                || (c.columns - 1) * c.column_step + c.rows <= c.data.len()),
        "output view inside its slice"
    );
    let step = |s: usize| isize::try_from(s).expect("matrix strides fit isize");
    // SAFETY: the assertions keep every element that dgemm reads (a, b) and writes (c) inside
    // their slices; c is borrowed mutably, so it aliases neither a nor b.
    unsafe {
        matrixmultiply::dgemm(
            a.rows,
            a.columns,
            b.columns,
            alpha,
            a.data.as_ptr(),
            step(a.row_step),
            step(a.column_step),
            b.data.as_ptr(),
            step(b.row_step),
            step(b.column_step),
            1.0,
            c.data.as_mut_ptr(),
            1,
            step(c.column_step),
        );
    }
}

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
