//! silico's exclusivity against an independent vectorized NumPy computation
//! (`scripts/exclusivity_reference.py`) on random predictions, to 1e-5.

mod support;

use silico_evaluation::{Exclusivity, Mask};
use support::{numpy_reference, uniform, write_channels};

fn assert_agrees(what: &str, silico: f64, numpy: f64) {
    let agree = (silico.is_nan() && numpy.is_nan())
        || (silico - numpy).abs() <= 1e-5 * numpy.abs().max(1.0);
    assert!(agree, "{what}: silico {silico}, NumPy {numpy}");
}

#[test]
fn agrees_with_numpy_on_random_predictions_with_and_without_a_mask() {
    let (channels, voxels) = (5, 200_003);
    // Channel 4 is scaled down so that it is rarely highest; quantized values make ties.
    let predictions: Vec<Vec<f32>> = (0..channels)
        .map(|c| {
            let scale = if c == 4 { 0.3 } else { 4.0 };
            uniform(c as u64 + 1, voxels)
                .iter()
                .map(|v| (v * 64.0).floor() / 16.0 * scale - 2.0)
                .collect()
        })
        .collect();
    let inside: Vec<u8> = uniform(77, voxels)
        .iter()
        .map(|v| u8::from(*v < 0.6))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (data, mask_path) = (
        dir.path().join("predictions.f32"),
        dir.path().join("mask.u8"),
    );
    write_channels(&data, &predictions);
    std::fs::write(&mask_path, &inside).unwrap();
    let slices: Vec<&[f32]> = predictions.iter().map(Vec::as_slice).collect();

    for mask in [None, Some(&inside)] {
        let mut exclusivity = Exclusivity::new(channels).unwrap();
        exclusivity
            .update(&slices, mask.map(|m| Mask::Byte(m)))
            .unwrap();
        let silico = exclusivity.summary();
        let numpy = numpy_reference(&data, channels, mask.map(|_| mask_path.as_path()), 0);
        assert_eq!(silico.voxels, numpy.voxels);
        assert_eq!(silico.highest_voxels, numpy.highest_voxels);
        assert_agrees("overall", silico.overall, numpy.overall);
        for a in 0..channels {
            assert_agrees(
                &format!("organelle {a}"),
                silico.organelle[a],
                numpy.organelle[a],
            );
            for b in 0..channels {
                assert_agrees(
                    &format!("pairwise {a} {b}"),
                    silico.pairwise[a][b],
                    numpy.pairwise[a][b],
                );
            }
        }
    }
}
