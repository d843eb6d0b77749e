//! The paired comparison against SciPy: `scipy.stats.wilcoxon(x, y)` with its defaults, to
//! 1e-9, on samples of 5 to 60 pairs with and without ties and zeros (every branch of 'auto'
//! and both sides of its size limits), and mean ± sd over seeds against NumPy. Needs
//! `SILICO_PYTHON` (scripts/env.sh).

#[path = "../../segmentation/tests/support/mod.rs"]
mod reference;

use reference::{uniform, Exchange};
use silico_evaluation::paired::{mean_sd, wilcoxon, PairedError, WilcoxonMethod};

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Continuous differences: no ties, no zeros.
    Distinct,
    /// Whole-number differences in ±1..3: ties, no zeros.
    Ties,
    /// Continuous differences, every fourth exactly zero.
    Zeros,
    /// Whole numbers 0..6 on both sides: ties and zeros.
    TiesAndZeros,
}

/// `n` pairs of scores; `shift` moves x, so that some samples differ significantly.
fn pairs(n: usize, kind: Kind, shift: f32, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let (a, b) = (uniform(seed, n), uniform(seed + 1, n));
    let y: Vec<f32> = match kind {
        Kind::TiesAndZeros | Kind::Ties => a.iter().map(|v| (v * 7.0).floor()).collect(),
        _ => a.clone(),
    };
    let x = (0..n)
        .map(|i| match kind {
            Kind::Distinct => b[i] + shift,
            Kind::Ties => {
                let step = 1.0 + (b[i] * 3.0).floor();
                let sign = if b[i] * 6.0 % 2.0 < 1.0 - shift {
                    1.0
                } else {
                    -1.0
                };
                y[i] - sign * step
            }
            Kind::Zeros if i % 4 == 0 => y[i],
            Kind::Zeros => b[i] + shift,
            Kind::TiesAndZeros => (b[i] * 7.0).floor() + (shift * 3.0).round(),
        })
        .collect();
    (x, y)
}

fn as_f64(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

#[test]
fn wilcoxon_agrees_with_scipy() {
    use Kind::*;
    use WilcoxonMethod::*;
    // (pairs, kind, shift, the distribution SciPy's 'auto' picks)
    let mut cases = vec![];
    for n in [5, 12, 30, 60] {
        let many = n > 50;
        for (kind, method) in [
            (Distinct, if many { Normal } else { Exact }),
            (Ties, if n <= 13 { Permutation } else { Normal }),
            (Zeros, if n <= 13 { Permutation } else { Normal }),
            (TiesAndZeros, if n <= 13 { Permutation } else { Normal }),
        ] {
            for shift in [0.0, 0.3] {
                cases.push((n, kind, shift, method));
            }
        }
    }
    cases.extend([
        (13, Ties, 0.2, Permutation),
        (14, Ties, 0.2, Normal),
        (50, Distinct, 0.1, Exact),
        (51, Distinct, 0.1, Normal),
        (8, Distinct, 2.0, Exact), // all x > y: the smallest exact p-value, 2/2⁸
        (20, TiesAndZeros, 0.0, Normal),
    ]);
    let samples: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, &(n, kind, shift, _))| pairs(n, kind, shift, 10 * i as u64 + 1))
        .collect();
    let ex = Exchange::new();
    for (i, (x, y)) in samples.iter().enumerate() {
        ex.put_f32(&format!("x{i}"), x);
        ex.put_f32(&format!("y{i}"), y);
    }
    ex.run(&format!(
        "from scipy.stats import wilcoxon
out = []
for i in range({}):
    x = np.fromfile(f'x{{i}}', '<f4').astype(np.float64)
    y = np.fromfile(f'y{{i}}', '<f4').astype(np.float64)
    result = wilcoxon(x, y)
    out += [result.statistic, result.pvalue]
np.array(out, dtype='<f8').tofile('out')
",
        cases.len()
    ));
    let expected = ex.get_f64("out");
    let mut p_values = vec![];
    for ((case, (x, y)), scipy) in cases.iter().zip(&samples).zip(expected.chunks(2)) {
        let result = wilcoxon(&as_f64(x), &as_f64(y)).unwrap();
        assert_eq!(result.method, case.3, "{case:?}");
        assert!(
            (result.statistic - scipy[0]).abs() <= 1e-9 * scipy[0].abs().max(1.0),
            "{case:?}: statistic {} but SciPy's {}",
            result.statistic,
            scipy[0]
        );
        assert!(
            (result.p_value - scipy[1]).abs() <= 1e-9,
            "{case:?}: p-value {} but SciPy's {}",
            result.p_value,
            scipy[1]
        );
        p_values.push(result.p_value);
    }
    // The samples cover small and large p-values alike.
    assert!(p_values.iter().any(|&p| p < 0.01) && p_values.iter().any(|&p| p > 0.5));
}

#[test]
fn mean_sd_agrees_with_numpy() {
    let values = as_f64(&uniform(3, 5));
    let ex = Exchange::new();
    ex.put_f32("v", &uniform(3, 5));
    ex.run(
        "v = np.fromfile('v', '<f4').astype(np.float64)
np.array([v.mean(), v.std(ddof=1)], dtype='<f8').tofile('out')
",
    );
    let numpy = ex.get_f64("out");
    let summary = mean_sd(&values);
    assert!((summary.mean - numpy[0]).abs() < 1e-12);
    assert!((summary.sd - numpy[1]).abs() < 1e-12);
    let one = mean_sd(&[0.7]);
    assert_eq!(one.mean, 0.7);
    assert!(one.sd.is_nan());
}

#[test]
fn samples_of_equal_scores_match_scipy() {
    // SciPy: wilcoxon([1, 2, 3], [1, 2, 3]) is (0, 1.0) by its permutation branch, 20 equal pairs
    // (0, nan) by the normal branch, and one pair (0, 1.0) by the exact branch.
    let equal = wilcoxon(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap();
    assert_eq!((equal.statistic, equal.p_value), (0.0, 1.0));
    assert_eq!(equal.method, WilcoxonMethod::Permutation);
    let many = wilcoxon(&[1.0; 20], &[1.0; 20]).unwrap();
    assert_eq!(many.statistic, 0.0);
    assert!(many.p_value.is_nan());
    let one = wilcoxon(&[2.0], &[1.0]).unwrap();
    assert_eq!((one.statistic, one.p_value), (0.0, 1.0));
}

#[test]
fn bad_samples_are_refused() {
    assert_eq!(
        wilcoxon(&[1.0, 2.0], &[1.0]),
        Err(PairedError::LengthMismatch { x: 2, y: 1 })
    );
    assert_eq!(wilcoxon(&[], &[]), Err(PairedError::Empty));
    assert_eq!(
        wilcoxon(&[1.0, f64::NAN], &[0.0, 0.0]),
        Err(PairedError::NonFinite { index: 1 })
    );
}
