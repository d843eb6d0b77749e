//! Comparing two models: the Wilcoxon signed-rank test over paired per-image scores (the same
//! test images measured under both models), and the mean ± sd of a score over seeds.
//!
//! [`wilcoxon`] is SciPy's `scipy.stats.wilcoxon(x, y)` with its defaults (zero_method
//! 'wilcox', correction False, alternative 'two-sided', method 'auto'), checked against it to
//! 1e-9 by `tests/scipy_reference.rs`. With d = x − y over n pairs, zero differences are dropped
//! from the ranks, tied |d| share their average rank, and the statistic is min(R+, R−), the
//! smaller rank sum of the positive and the negative differences. 'auto' picks the p-value's
//! distribution from n (zeros included) as SciPy 1.17 does:
//!
//! - n ≤ 50 without zeros or ties: the exact null distribution of R+;
//! - n ≤ 13 with zeros or ties: all 2ⁿ sign flips of d (SciPy's permutation test, which at this
//!   size enumerates every flip, so it is exact too);
//! - otherwise: the normal approximation with SciPy's tie correction of the variance and no
//!   continuity correction.
//!
//! Both exact cases count rank sums as integers (twice the average ranks), so their p-values are
//! the exact fractions SciPy computes.

use statrs::function::erf::erfc;
use std::fmt;

/// Above this many pairs SciPy's 'auto' always takes the normal approximation.
const EXACT_MAX_PAIRS: usize = 50;
/// Up to this many pairs, zeros or ties still get the exact (enumerated) distribution.
const PERMUTATION_MAX_PAIRS: usize = 13;

/// Which distribution gave the p-value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WilcoxonMethod {
    /// The exact null distribution (no zeros, no ties, n ≤ 50).
    Exact,
    /// Every sign flip of the differences (zeros or ties, n ≤ 13).
    Permutation,
    /// The normal approximation.
    Normal,
}

/// A two-sided Wilcoxon signed-rank test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Wilcoxon {
    /// min(R+, R−).
    pub statistic: f64,
    /// NaN where every difference is zero and n > 13 (as SciPy's).
    pub p_value: f64,
    pub method: WilcoxonMethod,
}

/// Why two samples cannot be compared.
#[derive(Clone, Debug, PartialEq)]
pub enum PairedError {
    LengthMismatch { x: usize, y: usize },
    Empty,
    NonFinite { index: usize },
}

impl fmt::Display for PairedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthMismatch { x, y } => write!(
                f,
                "a paired test needs one score per image under both models, but got {x} and {y}"
            ),
            Self::Empty => write!(f, "a paired test needs at least one pair of scores"),
            Self::NonFinite { index } => {
                write!(f, "pair {index} has a score that is not a finite number")
            }
        }
    }
}

impl std::error::Error for PairedError {}

/// SciPy's `wilcoxon(x, y)` with its defaults (see the module's notes).
pub fn wilcoxon(x: &[f64], y: &[f64]) -> Result<Wilcoxon, PairedError> {
    if x.len() != y.len() {
        return Err(PairedError::LengthMismatch {
            x: x.len(),
            y: y.len(),
        });
    }
    if x.is_empty() {
        return Err(PairedError::Empty);
    }
    if let Some(index) = (0..x.len()).find(|&i| !x[i].is_finite() || !y[i].is_finite()) {
        return Err(PairedError::NonFinite { index });
    }
    let pairs = x.len();
    let mut nonzero: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    nonzero.retain(|&d| d != 0.0);
    let has_zeros = nonzero.len() < pairs;
    let ranks = SignedRanks::of(nonzero);

    let method = if pairs > EXACT_MAX_PAIRS {
        WilcoxonMethod::Normal
    } else if !has_zeros && !ranks.has_ties {
        WilcoxonMethod::Exact
    } else if pairs <= PERMUTATION_MAX_PAIRS {
        WilcoxonMethod::Permutation
    } else {
        WilcoxonMethod::Normal
    };
    let p_value = match method {
        WilcoxonMethod::Exact | WilcoxonMethod::Permutation => ranks.enumerated_p_value(),
        WilcoxonMethod::Normal => ranks.normal_p_value(),
    };
    Ok(Wilcoxon {
        statistic: ranks.plus.min(ranks.minus) as f64 / 2.0,
        p_value,
        method,
    })
}

/// Ranks of the non-zero |d|, doubled so that average ranks of ties are integers.
struct SignedRanks {
    doubled: Vec<u64>,
    /// Doubled rank sums of the positive and the negative differences.
    plus: u64,
    minus: u64,
    has_ties: bool,
    /// Σ (t³ − t) over the groups of t tied |d|.
    tie_correction: f64,
}

impl SignedRanks {
    fn of(mut differences: Vec<f64>) -> Self {
        differences.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
        let mut ranks = SignedRanks {
            doubled: Vec::with_capacity(differences.len()),
            plus: 0,
            minus: 0,
            has_ties: false,
            tie_correction: 0.0,
        };
        let mut start = 0;
        while start < differences.len() {
            let magnitude = differences[start].abs();
            let end = start
                + differences[start..]
                    .iter()
                    .take_while(|d| d.abs() == magnitude)
                    .count();
            // Ranks start + 1 ..= end share their mean, (start + 1 + end) / 2.
            let doubled = (start + 1 + end) as u64;
            let tied = (end - start) as f64;
            ranks.has_ties |= end - start > 1;
            ranks.tie_correction += tied * tied * tied - tied;
            for &d in &differences[start..end] {
                ranks.doubled.push(doubled);
                if d > 0.0 {
                    ranks.plus += doubled;
                } else {
                    ranks.minus += doubled;
                }
            }
            start = end;
        }
        ranks
    }

    /// Two-sided p-value from the distribution of R+ over all 2^m sign flips of the m non-zero
    /// differences (zeros flip to themselves, so they leave the fractions as they are).
    fn enumerated_p_value(&self) -> f64 {
        let total: u64 = self.doubled.iter().sum();
        // ways[s]: sign flips whose doubled R+ is s.
        let mut ways = vec![0u64; total as usize + 1];
        ways[0] = 1;
        let mut reached = 0;
        for &rank in &self.doubled {
            let rank = rank as usize;
            for s in (0..=reached).rev() {
                ways[s + rank] += ways[s];
            }
            reached += rank;
        }
        let observed = self.plus as usize;
        let at_most: u64 = ways[..=observed].iter().sum();
        let at_least: u64 = ways[observed..].iter().sum();
        let flips = (1u64 << self.doubled.len()) as f64;
        (2.0 * at_most.min(at_least) as f64 / flips).min(1.0)
    }

    /// Two-sided p-value of R+ under the normal approximation, the variance corrected for ties.
    fn normal_p_value(&self) -> f64 {
        let m = self.doubled.len() as f64;
        let mean = m * (m + 1.0) * 0.25;
        let sd = ((m * (m + 1.0) * (2.0 * m + 1.0) - self.tie_correction / 2.0) / 24.0).sqrt();
        let z = (self.plus as f64 / 2.0 - mean) / sd;
        // 2 Φ(−|z|); statrs's erfc agrees with SciPy's ndtr to about 1e-11 here.
        erfc(z.abs() / std::f64::consts::SQRT_2)
    }
}

/// The mean and the sample standard deviation (ddof 1) of a score over seeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanSd {
    /// NaN for no values.
    pub mean: f64,
    /// NaN for fewer than two values.
    pub sd: f64,
}

/// The mean ± sample sd of `values`.
pub fn mean_sd(values: &[f64]) -> MeanSd {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    MeanSd {
        mean,
        sd: if values.len() < 2 {
            f64::NAN
        } else {
            (squares / (n - 1.0)).sqrt()
        },
    }
}
