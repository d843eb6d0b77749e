//! The leaderboard's statistics: the best model of a structure on a metric, and the models not
//! significantly worse than it by a two-sided Wilcoxon signed-rank test paired over the test
//! images (each image's score averaged over seeds first).

use silico_evaluation::paired::{mean_sd, wilcoxon};
use std::collections::BTreeMap;

/// Below this p-value a model is significantly worse than the best.
pub const SIGNIFICANCE: f64 = 0.05;
/// The paired test runs with at least this many images scored under both models.
pub const MIN_PAIRED_IMAGES: usize = 5;

/// One model's scores on one structure and metric.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Candidate {
    /// The metric per finished seed.
    pub per_seed: Vec<f64>,
    /// Test image → its scores over seeds; empty for metrics with no per-image scores.
    pub per_image: BTreeMap<String, Vec<f64>>,
}

impl Candidate {
    /// The mean over seeds of the finite values; NaN without any.
    pub fn mean(&self) -> f64 {
        let finite: Vec<f64> = self
            .per_seed
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        mean_sd(&finite).mean
    }
}

/// How a model compares with the best one on a structure and metric.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    /// The best mean over seeds.
    Best,
    /// The paired test found no significant difference from the best (p ≥ 0.05, or every
    /// difference zero).
    NotWorse { p: f64, pairs: usize },
    /// Significantly worse than the best (p < 0.05).
    Worse { p: f64, pairs: usize },
    /// The metric has one value per seed and no per-image scores: nothing to pair.
    Unpaired,
    /// Fewer than [`MIN_PAIRED_IMAGES`] images scored under both models.
    TooFewImages { pairs: usize },
    /// The test could not run on these scores (the reason, for the page).
    Untested(String),
    /// No finite value.
    Missing,
}

/// Marks each candidate against the best one (the best mean; the first of equal means).
pub fn marks(candidates: &[Candidate], higher_is_better: bool) -> Vec<Mark> {
    let means: Vec<f64> = candidates.iter().map(Candidate::mean).collect();
    let better = |a: f64, b: f64| if higher_is_better { a > b } else { a < b };
    let best = (0..candidates.len())
        .filter(|&i| means[i].is_finite())
        .fold(None::<usize>, |best, i| match best {
            Some(b) if !better(means[i], means[b]) => Some(b),
            _ => Some(i),
        });
    let Some(best) = best else {
        return vec![Mark::Missing; candidates.len()];
    };
    let best_images = image_means(&candidates[best]);
    (0..candidates.len())
        .map(|i| {
            if i == best {
                return Mark::Best;
            }
            if !means[i].is_finite() {
                return Mark::Missing;
            }
            let images = image_means(&candidates[i]);
            if best_images.is_empty() || images.is_empty() {
                return Mark::Unpaired;
            }
            let (ours, theirs): (Vec<f64>, Vec<f64>) = images
                .iter()
                .filter_map(|(image, &v)| Some((v, *best_images.get(image)?)))
                .unzip();
            let pairs = ours.len();
            if pairs < MIN_PAIRED_IMAGES {
                return Mark::TooFewImages { pairs };
            }
            match wilcoxon(&ours, &theirs) {
                // NaN: every difference is zero, so the two are the same on these images.
                Ok(test) if test.p_value.is_nan() || test.p_value >= SIGNIFICANCE => {
                    Mark::NotWorse {
                        p: test.p_value,
                        pairs,
                    }
                }
                Ok(test) => Mark::Worse {
                    p: test.p_value,
                    pairs,
                },
                Err(e) => Mark::Untested(e.to_string()),
            }
        })
        .collect()
}

/// Each image's finite scores averaged over seeds (images with none left out).
fn image_means(candidate: &Candidate) -> BTreeMap<&str, f64> {
    candidate
        .per_image
        .iter()
        .filter_map(|(image, scores)| {
            let finite: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
            (!finite.is_empty()).then(|| (image.as_str(), mean_sd(&finite).mean))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-seed means of the per-image scores, as a cell reports them.
    fn candidate(seeds: &[&[f64]]) -> Candidate {
        let mut per_image: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for scores in seeds {
            for (i, &s) in scores.iter().enumerate() {
                per_image.entry(format!("image_{i}")).or_default().push(s);
            }
        }
        Candidate {
            per_seed: seeds
                .iter()
                .map(|s| s.iter().sum::<f64>() / s.len() as f64)
                .collect(),
            per_image,
        }
    }

    const BEST: [f64; 6] = [0.90, 0.85, 0.80, 0.88, 0.92, 0.86];

    #[test]
    fn worse_on_every_image_is_significant_and_mixed_differences_are_not() {
        let lower = BEST.map(|v| v - 0.1);
        // Differences from the best: −0.01, +0.02, −0.03, +0.04, −0.05, +0.005; rank sums 9
        // and 12 of 21: nowhere near significant.
        let mixed = [0.89, 0.87, 0.77, 0.92, 0.87, 0.865];
        let marks = marks(
            &[
                candidate(&[&lower]),
                candidate(&[&BEST, &BEST]),
                candidate(&[&mixed]),
            ],
            true,
        );
        assert_eq!(marks[1], Mark::Best);
        // All six differences one way: the exact two-sided p is 2 / 2⁶.
        assert_eq!(
            marks[0],
            Mark::Worse {
                p: 2.0 / 64.0,
                pairs: 6
            }
        );
        match marks[2] {
            Mark::NotWorse { p, pairs: 6 } => assert!(p > 0.5, "{p}"),
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lower_is_better_picks_the_smallest_mean_and_seeds_are_averaged_before_pairing() {
        // One seed of the second model beats the best on image 2, but averaged over its two
        // seeds it is above the best on every image: significantly worse.
        let best = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let seed_a = [1.5, 2.5, 2.9, 4.5, 5.5, 6.5];
        let seed_b = [1.5, 2.5, 3.3, 4.5, 5.5, 6.5];
        let marks = marks(
            &[candidate(&[&seed_a, &seed_b]), candidate(&[&best])],
            false,
        );
        assert_eq!(marks[1], Mark::Best);
        assert!(
            matches!(marks[0], Mark::Worse { pairs: 6, .. }),
            "{:?}",
            marks[0]
        );
    }

    #[test]
    fn the_test_needs_five_shared_images_and_identical_scores_are_not_worse() {
        let short = candidate(&[&BEST[..4]]);
        let marks = marks(&[candidate(&[&BEST]), short, candidate(&[&BEST])], true);
        assert_eq!(marks[0], Mark::Best);
        assert_eq!(marks[1], Mark::TooFewImages { pairs: 4 });
        assert!(
            matches!(marks[2], Mark::NotWorse { pairs: 6, .. }),
            "{:?}",
            marks[2]
        );
    }

    #[test]
    fn metrics_without_images_mark_only_the_best_and_missing_values_stay_missing() {
        let seeds = |v: &[f64]| Candidate {
            per_seed: v.to_vec(),
            per_image: BTreeMap::new(),
        };
        let marks = marks(
            &[seeds(&[0.5, 0.7]), seeds(&[0.8]), seeds(&[f64::NAN])],
            true,
        );
        assert_eq!(marks[1], Mark::Best);
        assert_eq!(marks[0], Mark::Unpaired);
        assert_eq!(marks[2], Mark::Missing);
        assert_eq!(super::marks(&[seeds(&[])], true), [Mark::Missing]);
    }
}
