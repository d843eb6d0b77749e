//! Pixel metrics against scikit-image (SSIM, PSNR: to 1e-5) and NumPy (Pearson r, MSE: to 1e-9)
//! on shared random volumes, cubic and not, one with an axis of exactly the SSIM window. Needs
//! `SILICO_PYTHON` (scripts/env.sh).

#[path = "../../segmentation/tests/support/mod.rs"]
mod reference;

use reference::{uniform, Exchange};
use silico_evaluation::pixel::{data_range, pixel_metrics, ssim, PixelError, SSIM_WINDOW};

/// A target and a prediction of `shape`.
struct Case {
    shape: [usize; 3],
    target: Vec<f32>,
    prediction: Vec<f32>,
}

/// `target` is uniform noise scaled and offset; the prediction is `weight` × target plus
/// independent noise (weight 0: unrelated; negative: anti-correlated).
fn case(shape: [usize; 3], seed: u64, scale: f32, offset: f32, weight: f32) -> Case {
    let n = shape.iter().product();
    let target: Vec<f32> = uniform(seed, n)
        .iter()
        .map(|v| offset + scale * v)
        .collect();
    let noise = uniform(seed + 100, n);
    let prediction = target
        .iter()
        .zip(&noise)
        .map(|(t, e)| weight * t + scale * (e - 0.5))
        .collect();
    Case {
        shape,
        target,
        prediction,
    }
}

fn assert_close(what: &str, silico: f64, reference: f64, tolerance: f64) {
    assert!(
        (silico - reference).abs() <= tolerance * reference.abs().max(1.0),
        "{what}: silico {silico}, reference {reference}"
    );
}

#[test]
fn pixel_metrics_agree_with_scikit_image_and_numpy() {
    let cases = [
        case([7, 12, 9], 1, 1.0, 0.0, 0.0),
        case([9, 16, 23], 2, 2.0, -1.0, 1.0),
        case([12, 8, 30], 3, 20.0, 500.0, 0.8),
        case([16, 16, 16], 4, 3.0, -1.5, -0.5),
        case([7, 7, 7], 5, 1.0, 0.0, 2.0),
        case([20, 11, 7], 6, 0.5, 10.0, 1.0),
    ];
    let ex = Exchange::new();
    for (i, c) in cases.iter().enumerate() {
        ex.put_f32(&format!("target{i}"), &c.target);
        ex.put_f32(&format!("prediction{i}"), &c.prediction);
    }
    let shapes: Vec<String> = cases
        .iter()
        .map(|c| format!("({}, {}, {})", c.shape[0], c.shape[1], c.shape[2]))
        .collect();
    ex.run(&format!(
        "from skimage.metrics import peak_signal_noise_ratio, structural_similarity
out = []
for i, shape in enumerate([{}]):
    t = np.fromfile(f'target{{i}}', '<f4').astype(np.float64).reshape(shape)
    p = np.fromfile(f'prediction{{i}}', '<f4').astype(np.float64).reshape(shape)
    r = t.max() - t.min()
    out += [r, np.corrcoef(t.ravel(), p.ravel())[0, 1], np.mean((t - p) ** 2),
            peak_signal_noise_ratio(t, p, data_range=r),
            structural_similarity(t, p, data_range=r, channel_axis=None)]
np.array(out, dtype='<f8').tofile('out')
",
        shapes.join(", ")
    ));
    let expected = ex.get_f64("out");
    for (c, numbers) in cases.iter().zip(expected.chunks(5)) {
        let range = data_range(&c.target);
        assert_eq!(range, numbers[0], "data range of {:?}", c.shape);
        let m = pixel_metrics(&c.target, &c.prediction, c.shape, range).unwrap();
        let what = |metric: &str| format!("{metric} of {:?}", c.shape);
        assert_close(&what("Pearson r"), m.pearson_r, numbers[1], 1e-9);
        assert_close(&what("MSE"), m.mse, numbers[2], 1e-9);
        assert_close(&what("PSNR"), m.psnr, numbers[3], 1e-5);
        assert_close(&what("SSIM"), m.ssim, numbers[4], 1e-5);
    }
    // The cases span the metrics' range, so agreement is not agreement on one easy value.
    let ssims: Vec<f64> = expected.chunks(5).map(|n| n[4]).collect();
    assert!(ssims.iter().any(|&s| s < 0.0) && ssims.iter().any(|&s| s > 0.5));
}

#[test]
fn ssim_of_an_image_with_itself_is_one_and_is_symmetric() {
    let c = case([8, 10, 12], 7, 1.0, 0.0, 0.7);
    let range = data_range(&c.target);
    let same = ssim(&c.target, &c.target, c.shape, range).unwrap();
    assert!((same - 1.0).abs() < 1e-12, "SSIM with itself {same}");
    assert_eq!(
        ssim(&c.target, &c.prediction, c.shape, range).unwrap(),
        ssim(&c.prediction, &c.target, c.shape, range).unwrap()
    );
}

#[test]
fn ssim_is_the_same_on_any_pool() {
    let c = case([10, 40, 33], 8, 1.0, 0.0, 0.5);
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| pixel_metrics(&c.target, &c.prediction, c.shape, 1.0).unwrap())
    };
    assert_eq!(on(1), on(3));
}

#[test]
fn volumes_smaller_than_the_window_and_bad_inputs_are_refused() {
    let c = case([6, 20, 20], 9, 1.0, 0.0, 1.0);
    let error = ssim(&c.target, &c.prediction, c.shape, 1.0).unwrap_err();
    assert_eq!(error, PixelError::SmallerThanWindow { shape: [6, 20, 20] });
    let message = error.to_string();
    assert!(
        message.contains("6×20×20") && message.contains(&SSIM_WINDOW.to_string()),
        "{message}"
    );
    let c = case([7, 8, 9], 10, 1.0, 0.0, 1.0);
    assert_eq!(
        ssim(&c.target, &c.prediction[1..], c.shape, 1.0),
        Err(PixelError::Length {
            what: "second volume",
            shape: c.shape,
            len: 7 * 8 * 9 - 1
        })
    );
    assert_eq!(
        pixel_metrics(&c.target, &c.prediction, c.shape, 0.0),
        Err(PixelError::DataRange(0.0))
    );
}
