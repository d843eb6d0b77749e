//! Intensity normalization to [0, 1], as aicssegmentation's `intensity_normalization`
//! (AllenCell/aics-segmentation `aicssegmentation/core/pre_processing_utils.py`).
//!
//! The Segmenter's filter cutoffs (dot 0.01, vesselness 0.15, ...) are calibrated on images
//! normalized this way, so every workflow starts here.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SegmentationError};

/// How raw intensities are mapped to [0, 1].
///
/// TOML: `normalization = { kind = "mean_std", lower = 2.5, upper = 7.5 }`,
/// `{ kind = "cap", max = 8000.0 }` or `{ kind = "min_max" }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Normalization {
    /// Plain min-max (aicssegmentation's `[0]`).
    MinMax,
    /// Values above `max` count as outliers and are replaced by the image minimum, then
    /// min-max (aicssegmentation's `[v]`, e.g. `[8000]` for desmoplakin).
    Cap { max: f64 },
    /// Clip to [μ − lower·σ, μ + upper·σ] (within the data range), then rescale
    /// (aicssegmentation's `[a, b]`, e.g. `[0.5, 18]` for fibrillarin).
    MeanStd { lower: f64, upper: f64 },
}

/// Normalizes `image` to [0, 1] with aicssegmentation's formula
/// `(v − lo + 1e-8) / (hi − lo + 1e-8)`.
///
/// Fails when the stretch range is empty (a constant image, or a cap below every value), which
/// would divide by ~0; choose other parameters for such images.
pub fn normalize(image: &[f32], method: Normalization) -> Result<Vec<f32>> {
    if image.is_empty() {
        return Ok(Vec::new());
    }
    // NaN orders against nothing (the clamp below would panic on it).
    if let Some(i) = image.iter().position(|v| !v.is_finite()) {
        return Err(SegmentationError::invalid(
            "image",
            format!(
                "value {} at index {i} is not finite; segmentation needs finite intensities",
                image[i]
            ),
        ));
    }
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in image {
        min = min.min(v as f64);
        max = max.max(v as f64);
    }
    let mut values: Vec<f64> = image.iter().map(|&v| v as f64).collect();
    let (lo, hi) = match method {
        Normalization::MinMax => (min, max),
        Normalization::Cap { max: cap } => {
            if cap.is_nan() || cap < 1.0 {
                return Err(SegmentationError::invalid(
                    "normalization.max",
                    format!("{cap} is below 1; use kind = \"min_max\" for no cap"),
                ));
            }
            values
                .iter_mut()
                .filter(|v| **v > cap)
                .for_each(|v| *v = min);
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for &v in &values {
                lo = lo.min(v);
                hi = hi.max(v);
            }
            (lo, hi)
        }
        Normalization::MeanStd { lower, upper } => {
            if !(lower >= 0.0 && upper > 0.0) {
                return Err(SegmentationError::invalid(
                    "normalization.lower/upper",
                    format!("need lower >= 0 and upper > 0, got {lower} and {upper}"),
                ));
            }
            // scipy.stats.norm.fit: the mean and the population (ddof = 0) deviation.
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            let lo = (mean - lower * std).max(min);
            let hi = (mean + upper * std).min(max);
            values.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
            (lo, hi)
        }
    };
    if lo.is_nan() || hi.is_nan() || lo >= hi {
        return Err(SegmentationError::invalid(
            "normalization",
            format!("the stretch range [{lo}, {hi}] is empty (constant image or cap below the data); use other parameters"),
        ));
    }
    let scale = 1.0 / (hi - lo + 1e-8);
    Ok(values
        .iter()
        .map(|&v| ((v - lo + 1e-8) * scale) as f32)
        .collect())
}
