//! Pose normalisation, so that the descriptor depends on the shape only.
//!
//! - The object: CellOrganizer's `align_spharm_by_major_axis.m` — rotate the vertices about
//!   their centre onto their principal axes (major axis first), then flip each axis so that the
//!   third moment along it is non-negative. Here the centre and moments are weighted by vertex
//!   area, so anisotropic voxels do not bias them. Like CellOrganizer's per-axis flips, this
//!   may be a reflection: mirror-image objects get the same descriptor.
//! - The parameter sphere: after parameterization, rotate the sphere points by the orthogonal
//!   polar factor of `Σ_v w_v x_v s_vᵀ` (x the aligned coordinates, s the sphere points), the
//!   rotation that best carries parameter directions onto object directions. That matrix is,
//!   up to a constant, the degree-1 coefficient matrix, so this is Brechbühler et al.'s
//!   first-order-ellipsoid normalisation of the parameter space done in closed form.

use nalgebra::{Matrix3, SymmetricEigen};

use super::sphere::Vec3;

/// The aligned frame: `aligned = rotation · (x − centre)`.
#[derive(Clone, Debug)]
pub(crate) struct PrincipalFrame {
    pub centre: Vec3,
    pub rotation: Matrix3<f64>,
}

impl PrincipalFrame {
    /// The principal frame of points with weights.
    pub(crate) fn of(points: &[Vec3], weights: &[f64]) -> Self {
        let total: f64 = weights.iter().sum();
        let centre = points
            .iter()
            .zip(weights)
            .fold(Vec3::zeros(), |sum, (p, w)| sum + p * *w)
            / total;
        let covariance = points
            .iter()
            .zip(weights)
            .fold(Matrix3::zeros(), |sum, (p, w)| {
                let d = p - centre;
                sum + d * d.transpose() * *w
            })
            / total;
        let eigen = SymmetricEigen::new(covariance);
        let mut order = [0, 1, 2];
        order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
        let mut rotation = Matrix3::zeros();
        for (row, &axis) in order.iter().enumerate() {
            let direction: Vec3 = eigen.eigenvectors.column(axis).into_owned();
            let third_moment: f64 = points
                .iter()
                .zip(weights)
                .map(|(p, w)| w * (p - centre).dot(&direction).powi(3))
                .sum();
            let signed = if third_moment < 0.0 {
                -direction
            } else {
                direction
            };
            rotation.set_row(row, &signed.transpose());
        }
        Self { centre, rotation }
    }

    pub(crate) fn apply(&self, p: &Vec3) -> Vec3 {
        self.rotation * (p - self.centre)
    }

    /// Whether the frame change includes a reflection.
    pub(crate) fn is_reflection(&self) -> bool {
        self.rotation.determinant() < 0.0
    }
}

/// The rotation (determinant +1) that best maps the sphere points onto the directions of the
/// weighted object points: the orthogonal polar factor of `Σ w x sᵀ`, with the usual Kabsch
/// sign fix should that matrix have a negative determinant.
pub(crate) fn parameter_rotation(
    object: &[Vec3],
    sphere: &[Vec3],
    weights: &[f64],
) -> Matrix3<f64> {
    let correlation = object
        .iter()
        .zip(sphere)
        .zip(weights)
        .fold(Matrix3::zeros(), |sum, ((x, s), w)| {
            sum + x * s.transpose() * *w
        });
    let svd = correlation.svd(true, true);
    let (u, v_t) = (
        svd.u.expect("u was requested"),
        svd.v_t.expect("vᵀ was requested"),
    );
    let mut sign_fix = Matrix3::identity();
    if (u * v_t).determinant() < 0.0 {
        let smallest = svd
            .singular_values
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .expect("three singular values");
        sign_fix[(smallest, smallest)] = -1.0;
    }
    u * sign_fix * v_t
}
