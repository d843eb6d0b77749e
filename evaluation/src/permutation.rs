//! Permutation p-values for the object-comparison divergences (Sun et al. 2022, Section 3.3:
//! "the divergence expected between objects from two different sets of real images";
//! CellOrganizer's `permutation_test.m` and `spatial_permutation_test.m`).
//!
//! Two null distributions are offered ([`Null`]):
//!
//! - [`Null::RealHalves`], CellOrganizer's: the statistic between two random halves of the
//!   **real** set (CellOrganizer permutes only the last model's points, which are the real ones;
//!   50 times by default). A half gets ⌊n/2⌋ points, the other the rest. The null compares sets
//!   of n/2 and n/2 points while the observation compares n real points with the synthetic
//!   ones, so the p-value is exact only when the synthetic set has about n/2 points; with other
//!   sizes it is the paper's approximation.
//! - [`Null::PooledLabels`]: the real/synthetic labels permuted over the pooled set, keeping
//!   both sizes: the statistic between the first `n_real` points of the shuffled pooled set and
//!   the rest. Under the hypothesis that both sets come from one distribution the labels are
//!   exchangeable, so this p-value is exact at every pair of sizes.
//!
//! The p-value is `(1 + #{null ≥ observed}) / (1 + permutations)` (Phipson & Smyth 2010), not
//! CellOrganizer's `#{null > observed} / permutations`: counting the observation as one of the
//! permutations makes it a valid p-value that is never 0 (with 50 permutations, a 0 would
//! claim more than the test can show), and `≥` treats ties conservatively.
//!
//! Permutations are drawn from a SplitMix64 stream seeded by [`PermutationSettings::seed`], so
//! a result is reproducible on every platform.

use crate::points::{Points, StatsError};
use std::borrow::Cow;

/// Which null distribution a permutation p-value is drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Null {
    /// CellOrganizer's null: the statistic between two random halves of the real set (⌊n/2⌋
    /// points and the rest). Needs at least 2 real points; approximate unless the synthetic set
    /// has about half as many points as the real one.
    RealHalves,
    /// The real/synthetic labels permuted over the pooled set, both sizes kept: the statistic
    /// between the first `n_real` points of the shuffled pooled set and the other
    /// `n_synthetic`. Exact for any sizes when the two sets come from one distribution.
    PooledLabels,
}

impl Null {
    /// Both nulls, CellOrganizer's first.
    pub const ALL: [Null; 2] = [Null::RealHalves, Null::PooledLabels];

    /// The name in value keys and CSV columns: `real_halves`, `pooled_labels`.
    pub fn name(self) -> &'static str {
        match self {
            Null::RealHalves => "real_halves",
            Null::PooledLabels => "pooled_labels",
        }
    }

    /// What the null compares, in words for reports.
    pub fn description(self) -> &'static str {
        match self {
            Null::RealHalves => "the statistic between random halves of the real set (CellOrganizer)",
            Null::PooledLabels => {
                "the statistic after permuting the real/synthetic labels of the pooled set, both sizes kept"
            }
        }
    }
}

/// How the null distribution is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PermutationSettings {
    /// Random permutations (CellOrganizer: 50).
    pub permutations: usize,
    pub seed: u64,
    pub null: Null,
}

impl Default for PermutationSettings {
    fn default() -> Self {
        Self {
            permutations: 50,
            seed: 0,
            null: Null::RealHalves,
        }
    }
}

/// A statistic and its permutation test; one entry per value the statistic returns (e.g. per k).
#[derive(Clone, Debug, PartialEq)]
pub struct PermutationOutcome {
    /// The statistic between the real and the synthetic set.
    pub observed: Vec<f64>,
    /// `null[v][s]`: value `v` of the statistic under permutation `s`.
    pub null: Vec<Vec<f64>>,
    pub p_values: Vec<f64>,
    /// The null `null` was drawn from.
    pub which_null: Null,
    /// The sizes of the compared sets.
    pub n_real: usize,
    pub n_synthetic: usize,
}

/// Runs `statistic(real, synthetic)` and its null over random permutations as
/// `settings.null` says ([`Null`]), and the p-value of each value it returns.
pub fn permutation_test<F>(
    real: &Points,
    synthetic: &Points,
    settings: &PermutationSettings,
    statistic: F,
) -> Result<PermutationOutcome, StatsError>
where
    F: Fn(&Points, &Points) -> Result<Vec<f64>, StatsError>,
{
    if settings.permutations == 0 {
        return Err(StatsError::ZeroPermutations);
    }
    if settings.null == Null::RealHalves && real.len() < 2 {
        return Err(StatsError::TooFewRealPoints {
            points: real.len(),
            needed: 2,
        });
    }
    let observed = statistic(real, synthetic)?;
    let mut null = vec![Vec::with_capacity(settings.permutations); observed.len()];
    // RealHalves splits the real set; PooledLabels relabels the pooled one.
    let (permuted, first_size) = match settings.null {
        Null::RealHalves => (Cow::Borrowed(real), real.len() / 2),
        Null::PooledLabels => (Cow::Owned(real.pooled_with(synthetic)?), real.len()),
    };
    let mut random = SplitMix64::new(settings.seed);
    let mut order: Vec<usize> = (0..permuted.len()).collect();
    for _ in 0..settings.permutations {
        random.shuffle(&mut order);
        let (first, second) = order.split_at(first_size);
        let values = statistic(&permuted.select(first), &permuted.select(second))?;
        if values.len() != observed.len() {
            return Err(StatsError::StatisticCount {
                observed: observed.len(),
                null: values.len(),
            });
        }
        for (null_of_value, value) in null.iter_mut().zip(values) {
            null_of_value.push(value);
        }
    }
    let p_values = observed
        .iter()
        .zip(&null)
        .map(|(&observed, null)| permutation_p_value(observed, null))
        .collect();
    Ok(PermutationOutcome {
        observed,
        null,
        p_values,
        which_null: settings.null,
        n_real: real.len(),
        n_synthetic: synthetic.len(),
    })
}

/// `(1 + #{null ≥ observed}) / (1 + null.len())`.
pub fn permutation_p_value(observed: f64, null: &[f64]) -> f64 {
    let at_least = null.iter().filter(|&&value| value >= observed).count();
    (1 + at_least) as f64 / (1 + null.len()) as f64
}

/// SplitMix64 (Steele, Lea & Flood 2014): small, fast and the same everywhere.
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` by the multiply-high method (bias below 2⁻⁴⁰ for our sizes).
    fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }

    /// Fisher–Yates.
    fn shuffle(&mut self, items: &mut [usize]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}
