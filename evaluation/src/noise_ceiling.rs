//! The noise ceiling of Ounkomol et al. 2018 (Nature Methods, "Methods: Noise ceiling"): the
//! highest Pearson r any prediction can reach against a noisy target, the correlation of the
//! target with its own noise-free version,
//!
//! `C_max = 1 / sqrt(1 + var_noise / (var_target − var_noise))`,
//!
//! for a target that is a noise-free image plus independent noise. A prediction's r divided by
//! C_max says how much of the reachable correlation it reaches.
//!
//! var_noise comes from a noise-free version of the target where one is known
//! ([`noise_variance`]: silico's synthetic data writes it), or from whatever estimate the caller
//! has (fnet took it from images without structure). Variances are population variances (NumPy's
//! `var`, ddof 0).

/// C_max for a target of variance `var_target` with noise of variance `var_noise`; `None` where
/// there is no signal left to correlate with (var_target ≤ var_noise), the noise variance is
/// negative, or either is not finite.
pub fn noise_ceiling(var_target: f64, var_noise: f64) -> Option<f64> {
    let signal = var_target - var_noise;
    (var_noise >= 0.0 && signal > 0.0 && var_target.is_finite())
        .then(|| 1.0 / (1.0 + var_noise / signal).sqrt())
}

/// The variance of `noisy − clean`: the noise of a target whose noise-free version is known.
///
/// # Panics
/// If the lengths differ.
pub fn noise_variance(noisy: &[f32], clean: &[f32]) -> f64 {
    assert_eq!(noisy.len(), clean.len(), "the two images differ in length");
    population_variance(noisy.iter().zip(clean).map(|(&a, &b)| a as f64 - b as f64))
}

/// C_max of a noisy target from its noise-free version: [`noise_ceiling`] of the target's
/// variance and [`noise_variance`].
///
/// # Panics
/// If the lengths differ.
pub fn noise_ceiling_from_clean(noisy: &[f32], clean: &[f32]) -> Option<f64> {
    noise_ceiling(variance(noisy), noise_variance(noisy, clean))
}

/// The population variance of an image.
pub fn variance(values: &[f32]) -> f64 {
    population_variance(values.iter().map(|&v| v as f64))
}

/// Two passes, so that a large mean costs no precision.
fn population_variance(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let (sum, n) = values
        .clone()
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    let mean = sum / n as f64;
    values.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64
}

/// r / C_max, `None` where C_max is.
pub fn normalized_r(r: f64, c_max: Option<f64>) -> Option<f64> {
    c_max.map(|c| r / c)
}
