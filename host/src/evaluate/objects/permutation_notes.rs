//! The permutation tests of an object summary in words: for each tested statistic its value,
//! its p-value against each null (named), the set sizes n and the k, and whether the k is too
//! large for the sets (the `objects` metric's `shape_weak/k<k>`).

use super::ObjectSummary;
use silico_evaluation::permutation::Null;

/// The notes of every summary (`MODEL STRUCTURE:` and its indented lines), then the legend of
/// the nulls: what `silico evaluate objects` prints and writes to `permutation.txt`.
pub fn permutation_text(summaries: &[ObjectSummary]) -> String {
    let mut text = String::new();
    for s in summaries {
        text.push_str(&format!("{} {}:\n", s.model, s.structure));
        for line in s.permutation_notes() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    for line in null_legend() {
        text.push_str(&format!("{line}\n"));
    }
    text
}

/// What each null of the p-values compares, one line per null.
fn null_legend() -> Vec<String> {
    Null::ALL
        .iter()
        .map(|null| format!("p ({}): {}", words(*null), null.description()))
        .collect()
}

/// A null's name in text: `real halves`, `pooled labels`.
fn words(null: Null) -> String {
    null.name().replace('_', " ")
}

impl ObjectSummary {
    /// The ks of the shape divergences, in increasing order.
    fn shape_ks(&self) -> Vec<usize> {
        let mut ks: Vec<usize> = self
            .values
            .keys()
            .filter_map(|k| k.strip_prefix("shape_divergence/k")?.parse().ok())
            .collect();
        ks.sort_unstable();
        ks
    }

    /// One line per permutation-tested statistic (the shape divergence per k, then the spatial
    /// KL), e.g. `shape k = 8 (weak: k ≥ half of the 12 synthetic objects): 0.0412,
    /// p (real halves) = 0.333, p (pooled labels) = 0.137; n = 20 real, 12 synthetic`.
    pub fn permutation_notes(&self) -> Vec<String> {
        let n = |what: &str| {
            [
                self.value(&format!("{what}_n/real")),
                self.value(&format!("{what}_n/synthetic")),
            ]
        };
        let shape_n = n("shape");
        let mut lines: Vec<String> = self
            .shape_ks()
            .into_iter()
            .map(|k| {
                let weak = if self.value(&format!("shape_weak/k{k}")) == 1.0 {
                    format!(" (weak: k ≥ half of {})", smaller_set(shape_n))
                } else {
                    String::new()
                };
                self.tested_line(
                    &format!("shape k = {k}{weak}"),
                    "shape",
                    &format!("/k{k}"),
                    &format!("shape_divergence/k{k}"),
                    shape_n,
                )
            })
            .collect();
        lines.push(self.tested_line("spatial KL", "spatial", "", "spatial_kl", n("spatial")));
        lines
    }

    fn tested_line(
        &self,
        label: &str,
        what: &str,
        suffix: &str,
        statistic: &str,
        [real, synthetic]: [f64; 2],
    ) -> String {
        let observed = self.value(statistic);
        if !observed.is_finite() {
            return format!("{label}: not computed (too few objects)");
        }
        let p_values: Vec<String> = Null::ALL
            .iter()
            .map(|&null| {
                let p = self.value(&format!("{what}_p_{}{suffix}", null.name()));
                let p = if p.is_finite() {
                    format!("{p:.3}")
                } else {
                    "not computed".into()
                };
                format!("p ({}) = {p}", words(null))
            })
            .collect();
        format!(
            "{label}: {observed:.4}, {}; n = {real} real, {synthetic} synthetic",
            p_values.join(", ")
        )
    }
}

/// `the 12 synthetic objects`: the smaller of the real and the synthetic set.
fn smaller_set([real, synthetic]: [f64; 2]) -> String {
    if real == synthetic {
        format!("the {real} objects of each set")
    } else if real < synthetic {
        format!("the {real} real objects")
    } else {
        format!("the {synthetic} synthetic objects")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn summary(values: &[(&str, f64)]) -> ObjectSummary {
        ObjectSummary {
            model: "unet".into(),
            structure: "nucleoli".into(),
            images: 2,
            values: values
                .iter()
                .map(|&(name, value)| (name.to_string(), value))
                .collect::<BTreeMap<_, _>>(),
            objects: Vec::new(),
        }
    }

    #[test]
    fn notes_state_n_k_the_null_of_each_p_value_and_a_weak_k() {
        let s = summary(&[
            ("shape_divergence/k4", 0.12345),
            ("shape_p_real_halves/k4", 1.0 / 51.0),
            ("shape_p_pooled_labels/k4", 2.0 / 51.0),
            ("shape_weak/k4", 0.0),
            ("shape_divergence/k16", 0.01),
            ("shape_p_real_halves/k16", f64::NAN),
            ("shape_p_pooled_labels/k16", 0.5),
            ("shape_weak/k16", 1.0),
            ("shape_n/real", 20.0),
            ("shape_n/synthetic", 12.0),
            ("spatial_kl", f64::NAN),
        ]);
        assert_eq!(
            s.permutation_notes(),
            [
                "shape k = 4: 0.1235, p (real halves) = 0.020, p (pooled labels) = 0.039; \
                 n = 20 real, 12 synthetic",
                "shape k = 16 (weak: k ≥ half of the 12 synthetic objects): 0.0100, \
                 p (real halves) = not computed, p (pooled labels) = 0.500; \
                 n = 20 real, 12 synthetic",
                "spatial KL: not computed (too few objects)",
            ]
        );
        let text = permutation_text(&[s]);
        assert!(
            text.starts_with("unet nucleoli:\n  shape k = 4: "),
            "{text}"
        );
        assert!(
            text.contains("\np (real halves): the statistic between random halves of the real set"),
            "{text}"
        );
        assert!(
            text.contains("\np (pooled labels): the statistic after permuting"),
            "{text}"
        );
    }

    #[test]
    fn the_smaller_set_is_named_or_both_when_equal() {
        assert_eq!(smaller_set([8.0, 12.0]), "the 8 real objects");
        assert_eq!(smaller_set([12.0, 12.0]), "the 12 objects of each set");
    }
}
