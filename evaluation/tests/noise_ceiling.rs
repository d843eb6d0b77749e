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
use silico_imaging::dataset::{LoadOptions, Manifest};
use silico_imaging::synth::recipe::Noise;
use silico_imaging::synth::{generate, Recipe, Structure, SynthOptions};

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
fn on_synthetic_cells_c_max_from_the_written_noise_free_target_is_their_correlation() {
    let tiny = Recipe {
        shape: [20, 80, 80],
        cells: 4,
        cell_height_um: [4.0, 5.0],
        ..Recipe::small()
    };
    // The default camera leaves every structure's ceiling above 0.98; a noisy one (high
    // background, strong read noise) spreads them down to where C_max and r could part.
    let noisy_camera = Recipe {
        noise: Noise {
            background: 60.0,
            read: 30.0,
            ..Noise::default()
        },
        ..tiny.clone()
    };
    for (camera, recipe, lowest_at_most) in [("default", tiny, 1.0), ("noisy", noisy_camera, 0.6)] {
        let dir = tempfile::tempdir().unwrap();
        generate(&recipe, dir.path(), 2, 4, SynthOptions { noise_free: true }).unwrap();
        let mut lowest = f64::MAX;
        for structure in Structure::ALL {
            let manifest =
                Manifest::load(&dir.path().join(format!("{}.csv", structure.name()))).unwrap();
            for row in &manifest.rows {
                let (pair, noise_free) = manifest
                    .load_pair_with_noise_free(row, LoadOptions::default())
                    .unwrap();
                let (noisy, clean) = (&pair.target.data, &noise_free.unwrap().data);
                let c_max = noise_ceiling_from_clean(noisy, clean).unwrap();
                let r = pearson_r(noisy, clean);
                assert!(
                    (c_max - r).abs() < 0.01,
                    "{camera} camera, {} line {}: C_max {c_max}, r(noisy, noise-free) {r}",
                    structure.name(),
                    row.line
                );
                lowest = lowest.min(c_max);
            }
        }
        assert!(
            lowest <= lowest_at_most,
            "{camera} camera: lowest C_max {lowest}"
        );
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
