//! Global thresholds on a 256-bin histogram, as scikit-image's `threshold_otsu` and
//! `threshold_triangle` (which the Segmenter's workflows call): bins span [min, max] of the
//! data, and the threshold is a bin centre.

use serde::{Deserialize, Serialize};

/// Which automatic threshold a workflow uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMethod {
    Otsu,
    Triangle,
}

/// The bin count scikit-image uses by default.
pub const BINS: usize = 256;

/// Counts over `bins` equal bins spanning [min, max] and the bin centres (numpy `histogram`
/// with `range=(min, max)`; the maximum falls in the last bin). `None` for no samples.
pub fn histogram(values: &[f32], bins: usize) -> Option<(Vec<u64>, Vec<f64>)> {
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in values {
        min = min.min(v as f64);
        max = max.max(v as f64);
    }
    if values.is_empty() || bins == 0 {
        return None;
    }
    if min == max {
        // numpy widens a degenerate range by ±0.5.
        min -= 0.5;
        max += 0.5;
    }
    let width = (max - min) / bins as f64;
    let mut counts = vec![0u64; bins];
    for &v in values {
        let bin = (((v as f64 - min) / width) as usize).min(bins - 1);
        counts[bin] += 1;
    }
    let centers = (0..bins).map(|b| min + (b as f64 + 0.5) * width).collect();
    Some((counts, centers))
}

/// Otsu's threshold: the bin centre maximizing the between-class variance of the histogram.
/// `None` for no samples; the value itself for a constant image.
pub fn otsu(values: &[f32]) -> Option<f64> {
    let first = *values.first()?;
    if values.iter().all(|&v| v == first) {
        return Some(first as f64);
    }
    let (counts, centers) = histogram(values, BINS)?;
    let total: f64 = counts.iter().map(|&c| c as f64).sum();
    let total_moment: f64 = counts
        .iter()
        .zip(&centers)
        .map(|(&c, x)| c as f64 * x)
        .sum();
    let (mut weight1, mut moment1) = (0.0, 0.0);
    let (mut best, mut best_index) = (f64::NEG_INFINITY, 0);
    for i in 0..counts.len() - 1 {
        weight1 += counts[i] as f64;
        moment1 += counts[i] as f64 * centers[i];
        let weight2 = total - weight1;
        if weight1 == 0.0 || weight2 == 0.0 {
            continue;
        }
        let mean1 = moment1 / weight1;
        let mean2 = (total_moment - moment1) / weight2;
        let variance = weight1 * weight2 * (mean1 - mean2).powi(2);
        if variance > best {
            best = variance;
            best_index = i;
        }
    }
    Some(centers[best_index])
}

/// The triangle threshold (Zack et al. 1977): the bin farthest below the line from the
/// histogram peak to the end of its longer tail. `None` for no samples.
pub fn triangle(values: &[f32]) -> Option<f64> {
    let (counts, centers) = histogram(values, BINS)?;
    let n = counts.len();
    let peak = (0..n).fold(0, |best, i| if counts[i] > counts[best] { i } else { best });
    let low = counts.iter().position(|&c| c > 0)?;
    let high = counts.iter().rposition(|&c| c > 0)?;
    if low == high {
        return Some(values[0] as f64);
    }
    // Work on the longer tail, flipping the histogram when that is the right one.
    let flip = peak - low < high - peak;
    let at = |i: usize| if flip { counts[n - 1 - i] } else { counts[i] } as f64;
    let (low, peak) = if flip {
        (n - high - 1, n - peak - 1)
    } else {
        (low, peak)
    };
    let width = (peak - low) as f64;
    let height = counts.iter().copied().max().unwrap_or(0) as f64;
    let norm = (height * height + width * width).sqrt();
    let (height, width) = (height / norm, width / norm);
    let mut best = (f64::NEG_INFINITY, low);
    for x in 0..peak - low {
        let length = height * x as f64 - width * at(x + low);
        if length > best.0 {
            best = (length, x + low);
        }
    }
    let level = if flip { n - best.1 - 1 } else { best.1 };
    Some(centers[level])
}

/// The threshold of `method` on `values`.
pub fn threshold(values: &[f32], method: ThresholdMethod) -> Option<f64> {
    match method {
        ThresholdMethod::Otsu => otsu(values),
        ThresholdMethod::Triangle => triangle(values),
    }
}
