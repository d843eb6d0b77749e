//! Evaluation measures for silico in plain Rust, without torch, so that they have fast unit
//! tests and can be wrapped by metric plugins (which, as `cdylib`s, cannot run their own tests)
//! and used by the host alike.
//!
//! - [`exclusivity`]: the organelle exclusivity measures of Sun et al. 2022 (Section 2.3, Fig. 4):
//!   how distinct the predictions of several organelle models for the same image are.
//! - Object statistics of Section 2.5 (Fig. 7, Supplementary Tables S4–S5), comparing real and
//!   synthetic objects: [`pca`] (joint PCA of shape descriptors), [`knn_divergence`] (Eq. 2),
//!   [`spatial`] (kernel-density KL of positions and the shape–position R²) and [`permutation`]
//!   (their p-values), on [`Points`].
//! - Objects themselves: [`spharm`] shape descriptors, [`cell_frame`] positions in a normalized
//!   cell, and [`objects`], which segments, describes and compares real and predicted objects.
//! - Per-image pixel metrics and model comparison: [`pixel`] (Pearson r, MSE, and PSNR and SSIM
//!   as scikit-image computes them), [`noise_ceiling`] (C_max of Ounkomol et al. 2018) and
//!   [`paired`] (SciPy's Wilcoxon signed-rank test, mean ± sd over seeds).

pub mod cell_frame;
pub mod exclusivity;
pub mod knn_divergence;
pub mod noise_ceiling;
pub mod objects;
pub mod paired;
pub mod pca;
pub mod permutation;
pub mod pixel;
pub mod points;
pub mod spatial;
pub mod spharm;

pub use exclusivity::{Exclusivity, ExclusivityError, ExclusivitySummary, ImageExclusivity, Mask};
pub use knn_divergence::{knn_divergence, knn_divergence_test};
pub use noise_ceiling::{noise_ceiling, noise_ceiling_from_clean, noise_variance, normalized_r};
pub use paired::{mean_sd, wilcoxon, MeanSd, PairedError, Wilcoxon, WilcoxonMethod};
pub use pca::{joint_pca, JointPca, PcaSettings};
pub use permutation::{permutation_test, Null, PermutationOutcome, PermutationSettings};
pub use pixel::{data_range, pixel_metrics, ssim, PixelError, PixelMetrics};
pub use points::{Points, StatsError};
pub use spatial::{
    cellorganizer_grid, position_r_squared, spatial_kl, spatial_kl_test, SpatialSettings,
};
