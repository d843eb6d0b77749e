//! Real orthonormal spherical harmonics and the least-squares fit of the surface coordinates
//! (CellOrganizer / SPHARM-MAT `create_SPHARM_des_LSF.m`: `fvec = (ZᴴZ) \ (ZᴴV)`).
//!
//! CellOrganizer fits complex `Y_n^m`; for real coordinates its coefficients satisfy
//! `c_n^{-m} = (-1)^m conj(c_n^m)`, and the real basis used here (`√2 P̄_n^m cos mφ`,
//! `√2 P̄_n^|m| sin |m|φ`, `P̄_n^0`) is a fixed unitary transform of it: the same information and
//! the same Euclidean distances between descriptors, without the redundant half.

use nalgebra::{DMatrix, Matrix3xX};

use super::sphere::Vec3;

/// Number of basis functions up to `degree`: `(degree + 1)²`.
pub(crate) fn basis_len(degree: usize) -> usize {
    (degree + 1) * (degree + 1)
}

/// Position of `Y_n^m` in the basis: `n² + n + m`, so degree n occupies `n²..(n + 1)²`.
pub(crate) fn basis_index(n: usize, m: isize) -> usize {
    (n * n + n).wrapping_add_signed(m)
}

/// Writes every real orthonormal harmonic up to `degree` at the unit vector `s` into `out`
/// (length [`basis_len`]). The fully normalised associated Legendre functions come from the
/// standard three-term recursion in n for each m, seeded by the sectoral `P̄_m^m`; every factor
/// stays O(1), so it is stable far beyond degree 31.
pub(crate) fn real_harmonics(s: &Vec3, degree: usize, out: &mut [f64]) {
    let cos_theta = s.z.clamp(-1.0, 1.0);
    let sin_theta = s.x.hypot(s.y);
    let longitude = s.y.atan2(s.x);
    let mut sectoral = (4.0 * std::f64::consts::PI).recip().sqrt();
    for m in 0..=degree {
        if m > 0 {
            sectoral *= ((2 * m + 1) as f64 / (2 * m) as f64).sqrt() * sin_theta;
        }
        let (sin_m_phi, cos_m_phi) = (m as f64 * longitude).sin_cos();
        let mut write = |n: usize, legendre: f64| {
            if m == 0 {
                out[basis_index(n, 0)] = legendre;
            } else {
                let scaled = std::f64::consts::SQRT_2 * legendre;
                out[basis_index(n, m as isize)] = scaled * cos_m_phi;
                out[basis_index(n, -(m as isize))] = scaled * sin_m_phi;
            }
        };
        write(m, sectoral);
        if m == degree {
            break;
        }
        let mut before = sectoral;
        let mut current = ((2 * m + 3) as f64).sqrt() * cos_theta * sectoral;
        write(m + 1, current);
        for n in m + 2..=degree {
            let (n_f, m_f) = (n as f64, m as f64);
            let a = ((4.0 * n_f * n_f - 1.0) / (n_f * n_f - m_f * m_f)).sqrt();
            let b = (((n_f - 1.0).powi(2) - m_f * m_f) / (4.0 * (n_f - 1.0).powi(2) - 1.0)).sqrt();
            let next = a * (cos_theta * current - b * before);
            before = current;
            current = next;
            write(n, current);
        }
    }
}

/// The basis matrix: one row per point, one column per harmonic.
fn basis_matrix(points: &[Vec3], degree: usize) -> DMatrix<f64> {
    let columns = basis_len(degree);
    let mut row = vec![0.0; columns];
    let mut basis = DMatrix::zeros(points.len(), columns);
    for (i, point) in points.iter().enumerate() {
        real_harmonics(point, degree, &mut row);
        for (j, value) in row.iter().enumerate() {
            basis[(i, j)] = *value;
        }
    }
    basis
}

/// Columns of the basis per panel of the Gram kernel: a 4 × 4 block of the normal matrix
/// stays in registers while it runs over a chunk of points.
const PANEL: usize = 4;

/// Points per chunk of the Gram kernel: the chunk's basis values (`CHUNK × (degree + 1)²`
/// numbers, packed by panel) stay in the L2 cache while every pair of panels passes over them.
const CHUNK: usize = 128;

/// Least-squares coefficients (`(degree + 1)²` rows, columns x, y, z) of `values` at the
/// sphere points `points`, from the Cholesky factor of the normal equations. `None` when the
/// normal matrix is not numerically positive definite (too few or too clustered points).
///
/// The normal matrix costs `N K² / 2` multiply-adds for N points and K harmonics, far more
/// than everything else in [`super::spharm`]; it is built from the lower triangle only, chunk
/// by chunk of points, with the basis values packed so that the innermost loop is a 4 × 4
/// outer product the compiler keeps in vector registers (a general matrix product over the
/// whole basis matrix ran at a fifth of the speed and computed both triangles).
pub(crate) fn fit(points: &[Vec3], values: &[Vec3], degree: usize) -> Option<DMatrix<f64>> {
    let columns = basis_len(degree);
    let panels = columns.div_ceil(PANEL);
    let mut packed = vec![[0.0; PANEL]; panels * CHUNK];
    let mut row = vec![0.0; columns];
    // Lower triangle of the normal matrix by panel pairs (j ≥ k), each a PANEL × PANEL block.
    let mut blocks = vec![[[0.0; PANEL]; PANEL]; panels * (panels + 1) / 2];
    let mut right = DMatrix::<f64>::zeros(columns, 3);
    for (chunk_points, chunk_values) in points.chunks(CHUNK).zip(values.chunks(CHUNK)) {
        let rows = chunk_points.len();
        for (i, (point, value)) in chunk_points.iter().zip(chunk_values).enumerate() {
            real_harmonics(point, degree, &mut row);
            for (j, &basis) in row.iter().enumerate() {
                packed[(j / PANEL) * CHUNK + i][j % PANEL] = basis;
                for axis in 0..3 {
                    right[(j, axis)] += basis * value[axis];
                }
            }
        }
        let mut block = blocks.iter_mut();
        for j in 0..panels {
            let left = &packed[j * CHUNK..j * CHUNK + rows];
            for k in 0..=j {
                let top = &packed[k * CHUNK..k * CHUNK + rows];
                let sum = block.next().expect("one block per panel pair");
                outer_product_sum(left, top, sum);
            }
        }
    }
    let mut normal = DMatrix::<f64>::zeros(columns, columns);
    let mut block = blocks.iter();
    for j in 0..panels {
        for k in 0..=j {
            let sum = block.next().expect("one block per panel pair");
            for (a, sum_row) in sum.iter().enumerate() {
                for (b, &value) in sum_row.iter().enumerate() {
                    let (r, c) = (j * PANEL + a, k * PANEL + b);
                    if r < columns && c <= r {
                        normal[(r, c)] = value;
                        normal[(c, r)] = value;
                    }
                }
            }
        }
    }
    let cholesky = normal.cholesky()?;
    let diagonal = cholesky.l_dirty().diagonal();
    let (smallest, largest) = diagonal
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), &d| {
            (lo.min(d), hi.max(d))
        });
    // The pivots' ratio squared bounds the condition number from below: refuse fits whose
    // coefficients would be dominated by rounding.
    if smallest <= largest * 1e-6 {
        return None;
    }
    Some(cholesky.solve(&right))
}

/// `sum[a][b] += Σ_i left[i][a] · top[i][b]`, accumulated in locals so that it stays in
/// registers.
fn outer_product_sum(left: &[[f64; PANEL]], top: &[[f64; PANEL]], sum: &mut [[f64; PANEL]; PANEL]) {
    let mut accumulator = *sum;
    for (l, t) in left.iter().zip(top) {
        for (acc_row, &l_value) in accumulator.iter_mut().zip(l) {
            for (acc, &t_value) in acc_row.iter_mut().zip(t) {
                *acc += l_value * t_value;
            }
        }
    }
    *sum = accumulator;
}

/// The surface `Σ c_n^m Y_n^m(s)` at each sphere point.
pub(crate) fn evaluate(coefficients: &DMatrix<f64>, degree: usize, points: &[Vec3]) -> Vec<Vec3> {
    let basis = basis_matrix(points, degree);
    let surface: DMatrix<f64> = basis * coefficients;
    let by_column: Matrix3xX<f64> = surface.transpose().fixed_rows::<3>(0).into_owned();
    by_column.column_iter().map(|c| c.into_owned()).collect()
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
            real_harmonics(&s, degree, &mut values);
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
        real_harmonics(&s, 1, &mut values);
        let scale = (3.0 / (4.0 * std::f64::consts::PI)).sqrt();
        assert!((values[basis_index(1, 1)] - scale * s.x).abs() < 1e-12);
        assert!((values[basis_index(1, -1)] - scale * s.y).abs() < 1e-12);
        assert!((values[basis_index(1, 0)] - scale * s.z).abs() < 1e-12);
    }
}
