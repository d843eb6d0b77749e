//! The noise ceiling means what Ounkomol et al. define it as: C_max from the noise variance
//! estimated with the noise-free target equals the correlation of the noisy target with its
//! noise-free version.

#[path = "../../segmentation/tests/support/mod.rs"]
mod reference;

use reference::{blobs, uniform};
use silico_evaluation::noise_ceiling::{
    noise_ceiling, noise_ceiling_from_clean, noise_variance, normalized_r, variance,
};
use silico_evaluation::pixel::pearson_r;

/// Standard normals (Box–Muller on the shared uniform stream).
fn normals(seed: u64, n: usize) -> Vec<f32> {
    let u = uniform(seed, 2 * n);
    u.chunks(2)
        .map(|p| {
            let radius = (-2.0 * (1.0 - p[0] as f64).ln()).sqrt();
            (radius * (std::f64::consts::TAU * p[1] as f64).cos()) as f32
        })
        .collect()
}

#[test]
fn c_max_from_the_estimated_noise_is_the_correlation_with_the_noise_free_target() {
    let shape = [16, 48, 48];
    let clean = blobs(shape, 3);
    let clean_sd = variance(&clean).sqrt();
    // Noise from a tenth of the signal's spread to twice it: C_max from about 0.995 to 0.45.
    for (seed, relative_sd) in [(1, 0.1), (2, 0.5), (3, 1.0), (4, 2.0)] {
        let sd = relative_sd * clean_sd;
        let noise = normals(seed, clean.len());
        let noisy: Vec<f32> = clean
            .iter()
            .zip(&noise)
            .map(|(c, e)| c + (sd as f32) * e)
            .collect();
        let estimated = noise_variance(&noisy, &clean);
        assert!(
            (estimated / (sd * sd) - 1.0).abs() < 0.02,
            "noise variance {estimated}, drawn with {}",
            sd * sd
        );
        let c_max = noise_ceiling_from_clean(&noisy, &clean).unwrap();
        let r = pearson_r(&noisy, &clean);
        assert!(
            (c_max - r).abs() < 0.01,
            "noise sd {relative_sd} × signal: C_max {c_max}, r(noisy, clean) {r}"
        );
        assert!((normalized_r(r, Some(c_max)).unwrap() - 1.0).abs() < 0.02);
    }
}

#[test]
fn there_is_no_ceiling_without_signal() {
    assert_eq!(noise_ceiling(1.0, 1.0), None);
    assert_eq!(noise_ceiling(1.0, 2.0), None);
    assert_eq!(noise_ceiling(1.0, -0.1), None);
    assert_eq!(noise_ceiling(f64::NAN, 0.5), None);
    assert_eq!(noise_ceiling(4.0, 0.0), Some(1.0));
    // var_noise / var_signal = 1: C_max = 1/√2.
    assert!((noise_ceiling(2.0, 1.0).unwrap() - 0.5f64.sqrt()).abs() < 1e-15);
    assert_eq!(normalized_r(0.5, None), None);
}
