//! The kNN-purity divergence between two point sets (Sun et al. 2022, Section 2.5, Eq. 2;
//! Figure 7 and Supplementary Table S4 use it on shape descriptors, CellOrganizer's
//! `utilities/models2report_v2.m` also on positions).
//!
//! Pool the `n1` points of the first set and the `n2` of the second. For each pooled point take
//! its k nearest neighbours (Euclidean), let `p` be the fraction of them from the first set and
//! `q = n1 / (n1 + n2)` the fraction expected if the two sets were mixed (CellOrganizer:
//! `p2 = d1/(d1+d2)`). The point's score is the KL divergence of Bernoulli(p) from
//! Bernoulli(q), with CellOrganizer's 1e-7 inside the logarithms so that p = 0 or 1 stays finite:
//!
//! `p·ln((p + 1e-7)/q) + (1 − p)·ln((1 − p + 1e-7)/(1 − q))`
//!
//! The divergence is the mean over **all** `n1 + n2` pooled points, as Eq. 2 (the sum over
//! i = 1..m+n divided by m+n) and CellOrganizer do. Swapping the two sets swaps p with 1 − p and
//! q with 1 − q, so the divergence does not depend on which set is called first (only the
//! tie-breaking below does).
//!
//! Neighbours exclude the point itself, by index. CellOrganizer asks `knnsearch` for k + 1
//! neighbours and drops the first, which is the point itself unless an exact duplicate comes
//! first; excluding by index is what it means. Its set-membership test `Idx(2:end) < d1` also
//! miscounts the last point of the first set (it should be `<= d1`); this module counts it.
//! Ties at the k-th distance go to the lower pooled index, the first set's points (in order)
//! coming before the second's, so the result is deterministic.
//!
//! Distances are brute force, O((n1 + n2)² · dim): fine for the hundreds to thousands of objects
//! of the paper.

use crate::permutation::{permutation_test, PermutationOutcome, PermutationSettings};
use crate::points::{Points, StatsError};

/// CellOrganizer's guard inside the logarithms of the point score.
pub const LOG_EPSILON: f64 = 1e-7;

/// The divergence of Eq. 2 between `first` and `second` for each k in `ks` (in that order).
///
/// Both sets must be non-empty and of the same dimension, every k at least 1, and the pooled set
/// must have at least `max(ks) + 1` points.
pub fn knn_divergence(
    first: &Points,
    second: &Points,
    ks: &[usize],
) -> Result<Vec<f64>, StatsError> {
    let first_fractions = neighbour_fractions(first, second, ks)?;
    let expected = first.len() as f64 / (first.len() + second.len()) as f64;
    Ok(first_fractions
        .iter()
        .map(|fractions| {
            fractions
                .iter()
                .map(|&p| point_score(p, expected))
                .sum::<f64>()
                / fractions.len() as f64
        })
        .collect())
}

/// [`knn_divergence`] of `real` and `synthetic` for each k, with permutation p-values against
/// `permutation.null` (with [`Null::RealHalves`](crate::permutation::Null::RealHalves), `real`
/// needs `max(ks) + 1` points).
pub fn knn_divergence_test(
    real: &Points,
    synthetic: &Points,
    ks: &[usize],
    permutation: &PermutationSettings,
) -> Result<PermutationOutcome, StatsError> {
    permutation_test(real, synthetic, permutation, |a, b| {
        knn_divergence(a, b, ks)
    })
}

/// For each k in `ks`, for each pooled point (the first set, then the second), the fraction of
/// its k nearest other points that belong to `first`.
pub fn neighbour_fractions(
    first: &Points,
    second: &Points,
    ks: &[usize],
) -> Result<Vec<Vec<f64>>, StatsError> {
    if first.is_empty() {
        return Err(StatsError::EmptySet { which: "first" });
    }
    if second.is_empty() {
        return Err(StatsError::EmptySet { which: "second" });
    }
    let pooled = first.pooled_with(second)?;
    let total = pooled.len();
    if ks.contains(&0) {
        return Err(StatsError::ZeroNeighbours);
    }
    let Some(&largest_k) = ks.iter().max() else {
        return Ok(Vec::new());
    };
    if total < largest_k + 1 {
        return Err(StatsError::TooFewPointsForK {
            points: total,
            k: largest_k,
        });
    }
    let mut fractions = vec![Vec::with_capacity(total); ks.len()];
    // (squared distance, pooled index): ordering by the pair breaks ties by index.
    let mut others: Vec<(f64, usize)> = Vec::with_capacity(total - 1);
    for i in 0..total {
        let here = pooled.point(i);
        others.clear();
        others.extend((0..total).filter(|&j| j != i).map(|j| {
            let distance = here
                .iter()
                .zip(pooled.point(j))
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>();
            (distance, j)
        }));
        let by_distance_then_index =
            |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        if largest_k < others.len() {
            others.select_nth_unstable_by(largest_k - 1, by_distance_then_index);
        }
        let nearest = &mut others[..largest_k];
        nearest.sort_unstable_by(by_distance_then_index);
        for (fractions_for_k, &k) in fractions.iter_mut().zip(ks) {
            let from_first = nearest[..k]
                .iter()
                .filter(|(_, j)| *j < first.len())
                .count();
            fractions_for_k.push(from_first as f64 / k as f64);
        }
    }
    Ok(fractions)
}

/// One point's term of Eq. 2: KL(Bernoulli(`fraction`) ‖ Bernoulli(`expected`)), with
/// [`LOG_EPSILON`] guarding the logarithms.
pub fn point_score(fraction: f64, expected: f64) -> f64 {
    fraction * ((fraction + LOG_EPSILON) / expected).ln()
        + (1.0 - fraction) * ((1.0 - fraction + LOG_EPSILON) / (1.0 - expected)).ln()
}
