//! Joint PCA of two descriptor sets (Sun et al. 2022, Section 2.5: "principle component
//! analysis was performed … we used the first three components"; CellOrganizer's
//! `CalculatePCA.m` inside `compare_shape_model_spharm_obj.m`).
//!
//! The real and synthetic descriptors are pooled, optionally each row is scaled to unit L2
//! length first (CellOrganizer does: it makes the comparison about shape, not size; a setting
//! here), the pooled mean is subtracted, and the thin SVD `X = U S Vᵀ` of the centred matrix
//! gives the axes (columns of V) and the scores `X V` of the first components. As in MATLAB's
//! `pca`, each axis is signed so that its largest-magnitude coordinate is positive, which makes
//! the result deterministic.

use nalgebra::DMatrix;

use crate::points::{Points, StatsError};

/// What the joint PCA keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcaSettings {
    /// Leading components kept (the paper: 3).
    pub components: usize,
    /// Scale every descriptor to unit L2 length before centring (CellOrganizer: yes).
    pub unit_length_rows: bool,
}

impl Default for PcaSettings {
    fn default() -> Self {
        Self {
            components: 3,
            unit_length_rows: true,
        }
    }
}

/// The two sets in the joint principal-component space.
#[derive(Clone, Debug, PartialEq)]
pub struct JointPca {
    /// Scores of the first set's rows, `components` per row.
    pub first: Points,
    /// Scores of the second set's rows.
    pub second: Points,
    /// `axes[c]`: the unit descriptor-space direction of component c.
    pub axes: Vec<Vec<f64>>,
    /// Variance of the pooled scores along each component (divisor: pooled rows − 1).
    pub explained_variance: Vec<f64>,
}

/// PCA of `first` and `second` pooled (same descriptor length), projected on the first
/// `settings.components` axes. At most `min(pooled rows − 1, descriptor length)` components
/// exist.
pub fn joint_pca(
    first: &Points,
    second: &Points,
    settings: &PcaSettings,
) -> Result<JointPca, StatsError> {
    let pooled = first.pooled_with(second)?;
    let (rows, dim) = (pooled.len(), pooled.dim());
    let available = rows.saturating_sub(1).min(dim);
    if settings.components == 0 || settings.components > available {
        return Err(StatsError::ComponentCount {
            requested: settings.components,
            available,
        });
    }
    let mut data = DMatrix::from_row_slice(rows, dim, pooled.coords());
    if settings.unit_length_rows {
        for (row, mut values) in data.row_iter_mut().enumerate() {
            let length = values.norm();
            if length == 0.0 {
                return Err(StatsError::ZeroRow { row });
            }
            values /= length;
        }
    }
    let mean = data.row_mean();
    for mut values in data.row_iter_mut() {
        values -= &mean;
    }
    let svd = data.clone().svd(false, true);
    let v_t = svd.v_t.as_ref().expect("the SVD was asked for V");
    let mut by_singular_value: Vec<usize> = (0..svd.singular_values.len()).collect();
    by_singular_value.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));

    let mut axes = Vec::with_capacity(settings.components);
    let mut explained_variance = Vec::with_capacity(settings.components);
    for &component in &by_singular_value[..settings.components] {
        let mut axis: Vec<f64> = v_t.row(component).iter().copied().collect();
        let largest = axis
            .iter()
            .copied()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(0.0);
        if largest < 0.0 {
            axis.iter_mut().for_each(|v| *v = -*v);
        }
        let singular_value = svd.singular_values[component];
        explained_variance.push(singular_value * singular_value / (rows - 1) as f64);
        axes.push(axis);
    }
    let mut scores = Vec::with_capacity(rows * settings.components);
    for values in data.row_iter() {
        for axis in &axes {
            scores.push(values.iter().zip(axis).map(|(a, b)| a * b).sum());
        }
    }
    let split = first.len() * settings.components;
    let second_scores = scores.split_off(split);
    Ok(JointPca {
        first: Points::new(settings.components, scores)?,
        second: Points::new(settings.components, second_scores)?,
        axes,
        explained_variance,
    })
}
