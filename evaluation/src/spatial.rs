//! Spatial distribution of objects in the normalized cell (Sun et al. 2022, Section 2.5 and
//! Supplementary Table S5; CellOrganizer's `utilities/models2report_v2.m`,
//! `spatial_permutation_test.m` and `show_spatial_distribution*.m`).
//!
//! Object centroids are given in normalized polar coordinates (the nucleus at the centre, the
//! cell membrane at radius 1) and converted to Cartesian points with [`polar_to_cartesian`].
//! The real and the synthetic positions each get a Gaussian kernel density (MATLAB's
//! `mvksdensity`: a product of normal kernels with one bandwidth, 0.28 by default), evaluated on
//! CellOrganizer's grid ([`density_grid`]: the 21 × 21 directions of MATLAB `sphere(20)` times
//! the radii 0.1, 0.2, …, 1.0, i.e. 4410 points). Each density gets 1e-5 added at every grid
//! point and is normalised to sum to 1; the score is `KL(real ‖ synthetic) = Σ p·ln(p/q)`.
//!
//! [`position_r_squared`] is CellOrganizer's check that shape and place are unrelated: the R² of
//! a least-squares fit of a per-object value (shape PC1) on `[1, x, y, z]`.

use nalgebra::{DMatrix, DVector};

use crate::permutation::{permutation_test, PermutationOutcome, PermutationSettings};
use crate::points::{Points, StatsError};

/// How the densities are estimated and compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpatialSettings {
    /// Standard deviation of the Gaussian kernel in every coordinate (CellOrganizer: 0.28).
    pub bandwidth: f64,
    /// Added to the density at every grid point before normalising (CellOrganizer: 1e-5), so
    /// that the KL divergence stays finite where the synthetic density vanishes.
    pub floor: f64,
}

impl Default for SpatialSettings {
    fn default() -> Self {
        Self {
            bandwidth: 0.28,
            floor: 1e-5,
        }
    }
}

/// MATLAB's `sph2cart(azimuth, elevation, radius)`.
pub fn polar_to_cartesian(azimuth: f64, elevation: f64, radius: f64) -> [f64; 3] {
    [
        radius * elevation.cos() * azimuth.cos(),
        radius * elevation.cos() * azimuth.sin(),
        radius * elevation.sin(),
    ]
}

/// The directions of MATLAB `sphere(faces)` ((faces + 1)² of them, poles and the seam repeated
/// as in MATLAB, column-major like `x(:)`), scaled by each radius in turn.
pub fn density_grid(faces: usize, radii: &[f64]) -> Points {
    let steps = faces as f64;
    let mut directions = Vec::with_capacity((faces + 1) * (faces + 1));
    for column in 0..=faces {
        let azimuth = (2.0 * column as f64 - steps) / steps * std::f64::consts::PI;
        // MATLAB zeroes these exactly rather than leaving sin(±π) ≈ 1e-16.
        let sin_azimuth = if column == 0 || column == faces {
            0.0
        } else {
            azimuth.sin()
        };
        for row in 0..=faces {
            let elevation = (2.0 * row as f64 - steps) / steps * std::f64::consts::FRAC_PI_2;
            let cos_elevation = if row == 0 || row == faces {
                0.0
            } else {
                elevation.cos()
            };
            directions.push([
                cos_elevation * azimuth.cos(),
                cos_elevation * sin_azimuth,
                elevation.sin(),
            ]);
        }
    }
    let coords = radii
        .iter()
        .flat_map(|&radius| {
            directions
                .iter()
                .flat_map(move |direction| direction.map(|v| v * radius))
        })
        .collect();
    Points::new(3, coords).expect("grid coordinates are finite multiples of 3")
}

/// CellOrganizer's grid: `sphere(20)` directions × radii 0.1..=1.0 (4410 points).
pub fn cellorganizer_grid() -> Points {
    let radii: Vec<f64> = (1..=10).map(|step| step as f64 / 10.0).collect();
    density_grid(20, &radii)
}

/// The Gaussian kernel density of `points` at each point of `grid`:
/// `1/(n (2π)^(d/2) h^d) Σᵢ exp(−|x − xᵢ|² / (2h²))`.
pub fn kernel_density(
    points: &Points,
    grid: &Points,
    bandwidth: f64,
) -> Result<Vec<f64>, StatsError> {
    if !(bandwidth > 0.0 && bandwidth.is_finite()) {
        return Err(StatsError::NonPositiveBandwidth { bandwidth });
    }
    if points.is_empty() {
        return Err(StatsError::EmptySet { which: "density" });
    }
    if grid.dim() != points.dim() {
        return Err(StatsError::DimensionMismatch {
            expected: points.dim(),
            got: grid.dim(),
        });
    }
    let dim = points.dim() as i32;
    let normalisation = 1.0
        / (points.len() as f64
            * (2.0 * std::f64::consts::PI).powf(f64::from(dim) / 2.0)
            * bandwidth.powi(dim));
    let inverse_two_variance = 1.0 / (2.0 * bandwidth * bandwidth);
    Ok((0..grid.len())
        .map(|g| {
            let at = grid.point(g);
            (0..points.len())
                .map(|i| {
                    let squared = at
                        .iter()
                        .zip(points.point(i))
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>();
                    (-squared * inverse_two_variance).exp()
                })
                .sum::<f64>()
                * normalisation
        })
        .collect())
}

/// The kernel density of `points` on `grid`, plus `settings.floor`, normalised to sum to 1.
pub fn grid_distribution(
    points: &Points,
    grid: &Points,
    settings: &SpatialSettings,
) -> Result<Vec<f64>, StatsError> {
    let mut distribution = kernel_density(points, grid, settings.bandwidth)?;
    distribution.iter_mut().for_each(|v| *v += settings.floor);
    let total: f64 = distribution.iter().sum();
    distribution.iter_mut().for_each(|v| *v /= total);
    Ok(distribution)
}

/// `KL(real ‖ synthetic)` between the grid distributions of two sets of positions.
pub fn spatial_kl(
    real: &Points,
    synthetic: &Points,
    grid: &Points,
    settings: &SpatialSettings,
) -> Result<f64, StatsError> {
    let p = grid_distribution(real, grid, settings)?;
    let q = grid_distribution(synthetic, grid, settings)?;
    Ok(p.iter().zip(&q).map(|(p, q)| p * (p / q).ln()).sum())
}

/// [`spatial_kl`] with its permutation p-value against `permutation.null`.
pub fn spatial_kl_test(
    real: &Points,
    synthetic: &Points,
    grid: &Points,
    settings: &SpatialSettings,
    permutation: &PermutationSettings,
) -> Result<PermutationOutcome, StatsError> {
    permutation_test(real, synthetic, permutation, |a, b| {
        spatial_kl(a, b, grid, settings).map(|kl| vec![kl])
    })
}

/// R² = 1 − SSE/SST of the least-squares fit of `values` (e.g. shape PC1, one per object) on
/// `[1, coordinates of positions]`. Needs at least dim + 2 points and values that vary.
pub fn position_r_squared(positions: &Points, values: &[f64]) -> Result<f64, StatsError> {
    if values.len() != positions.len() {
        return Err(StatsError::LengthMismatch {
            points: positions.len(),
            values: values.len(),
        });
    }
    let (rows, parameters) = (positions.len(), positions.dim() + 1);
    if rows < parameters + 1 {
        return Err(StatsError::TooFewPointsForFit {
            points: rows,
            needed: parameters + 1,
        });
    }
    if let Some(at) = values.iter().position(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite { point: at });
    }
    let mean = values.iter().sum::<f64>() / rows as f64;
    let total_squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    if total_squares == 0.0 {
        return Err(StatsError::ConstantResponse);
    }
    let design = DMatrix::from_fn(rows, parameters, |row, column| {
        if column == 0 {
            1.0
        } else {
            positions.point(row)[column - 1]
        }
    });
    let response = DVector::from_column_slice(values);
    // The SVD solve is a minimum-norm least-squares fit, so collinear positions still give the
    // best fit rather than an error.
    let coefficients = design
        .clone()
        .svd(true, true)
        .solve(&response, 1e-12)
        .expect("the SVD was asked for U and V");
    let residual_squares = (design * coefficients - response).norm_squared();
    Ok(1.0 - residual_squares / total_squares)
}
