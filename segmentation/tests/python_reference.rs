//! Filters, thresholds, labelling, hole filling, the distance transform and the watershed
//! against SciPy / scikit-image (and NumPy transcriptions of aicssegmentation) on small shared
//! inputs. Needs `SILICO_PYTHON` (scripts/env.sh).

mod support;

use silico_segmentation::filters::{
    dot_filter, gaussian_smooth, hessian_eigenvalues, vesselness_3d, vesselness_slice_by_slice,
};
use silico_segmentation::label::{label, Connectivity};
use silico_segmentation::morphology::{distance_transform, fill_holes, h_maxima, HoleFill};
use silico_segmentation::normalize::{normalize, Normalization};
use silico_segmentation::threshold::{histogram, otsu, triangle, BINS};
use silico_segmentation::watershed::watershed;
use silico_segmentation::{Labels, Mask};
use support::{blobs, relative_error, uniform, Exchange};

const SHAPE: [usize; 3] = [9, 20, 23];

fn shape_py() -> String {
    format!("({}, {}, {})", SHAPE[0], SHAPE[1], SHAPE[2])
}

fn image() -> Vec<f32> {
    blobs(SHAPE, 11)
}

#[test]
fn normalization_matches_the_segmenter_formula() {
    let img = image();
    let ex = Exchange::new();
    ex.put_f32("img", &img);
    ex.run(
        "img = np.fromfile('img', '<f4').astype(np.float64)
def norm(x, p):
    x = x.copy()
    if len(p) == 1:
        x[x > p[0]] = x.min(); lo, hi = x.min(), x.max()
    else:
        m, s = x.mean(), x.std()
        lo = max(m - p[0] * s, x.min()); hi = min(m + p[1] * s, x.max())
        x = np.clip(x, lo, hi)
    return (x - lo + 1e-8) / (hi - lo + 1e-8)
norm(img, [0.5, 18]).tofile('mean_std')
norm(img, [300.0]).tofile('cap')
",
    );
    let mean_std = normalize(
        &img,
        Normalization::MeanStd {
            lower: 0.5,
            upper: 18.0,
        },
    )
    .unwrap();
    let cap = normalize(&img, Normalization::Cap { max: 300.0 }).unwrap();
    assert!(relative_error(&mean_std, &ex.get_f64("mean_std")) < 1e-5);
    assert!(relative_error(&cap, &ex.get_f64("cap")) < 1e-5);
}

#[test]
fn gaussian_smoothing_matches_scipy_nearest_truncate_3() {
    let img = image();
    let ex = Exchange::new();
    ex.put_f32("img", &img);
    ex.run(&format!(
        "from scipy import ndimage as ndi
img = np.fromfile('img', '<f4').astype(np.float64).reshape({})
ndi.gaussian_filter(img, [1.3, 1.0, 0.8], mode='nearest', truncate=3.0).tofile('g3')
np.stack([ndi.gaussian_filter(s, 1.5, mode='nearest', truncate=3.0) for s in img]).tofile('g2')
",
        shape_py()
    ));
    let g3 = gaussian_smooth(&img, SHAPE, [1.3, 1.0, 0.8]);
    let g2 = gaussian_smooth(&img, SHAPE, [0.0, 1.5, 1.5]);
    assert!(relative_error(&g3, &ex.get_f64("g3")) < 1e-5);
    assert!(relative_error(&g2, &ex.get_f64("g2")) < 1e-5);
}

#[test]
fn dot_filter_is_scaled_negative_scipy_laplacian_of_gaussian() {
    let img = image();
    let ex = Exchange::new();
    ex.put_f32("img", &img);
    ex.run(&format!(
        "from scipy import ndimage as ndi
img = np.fromfile('img', '<f4').astype(np.float64).reshape({})
(-1.0 * ndi.gaussian_laplace(img, 1.0)).tofile('dot3')
np.stack([-(2.0 ** 2) * ndi.gaussian_laplace(s, 2.0) for s in img]).tofile('dot2')
s = [0.7, 1.2, 1.2]
terms = [ndi.gaussian_filter(img, s, order=[2 if a == b else 0 for b in range(3)]) for a in range(3)]
(-sum(s[a] ** 2 * terms[a] for a in range(3))).tofile('aniso')
",
        shape_py()
    ));
    let dot3 = dot_filter(&img, SHAPE, [1.0; 3]);
    let dot2 = dot_filter(&img, SHAPE, [0.0, 2.0, 2.0]);
    let aniso = dot_filter(&img, SHAPE, [0.7, 1.2, 1.2]);
    assert!(relative_error(&dot3, &ex.get_f64("dot3")) < 1e-5);
    assert!(relative_error(&dot2, &ex.get_f64("dot2")) < 1e-5);
    assert!(relative_error(&aniso, &ex.get_f64("aniso")) < 1e-5);
}

/// aicssegmentation's `absolute_3d_hessian_eigenvalues` and `compute_vesselness3D` (τ = 1),
/// transcribed.
const AICS_HESSIAN: &str = "
from itertools import combinations_with_replacement
from scipy import ndimage as ndi
def eig(img, sigma):
    sm = ndi.gaussian_filter(img, sigma=sigma, mode='nearest', truncate=3.0)
    g = np.gradient(sm)
    nd = img.ndim
    H = np.zeros(img.shape + (nd, nd))
    for a, b in combinations_with_replacement(range(nd), 2):
        H[..., a, b] = H[..., b, a] = sigma ** 2 * np.gradient(g[a], axis=b)
    e = np.linalg.eigvalsh(H)
    return np.take_along_axis(e, np.abs(e).argsort(-1), -1)
def vessel3(e2, e3, tau=1.0):
    l3 = e3.copy()
    l3[np.logical_and(e3 < 0, e3 > tau * e3.min())] = tau * e3.min()
    r = e2 ** 2 * np.abs(l3 - e2)
    den = (2 * np.abs(e2) + np.abs(l3 - e2)) ** 3
    den[den == 0] = 1e-10
    r = 27 * r / den
    r[e2 < 0.5 * l3] = 1
    r[e2 >= 0] = 0
    r[e3 >= 0] = 0
    return r
";

#[test]
fn hessian_eigenvalues_and_vesselness_match_aicssegmentation() {
    let img = image();
    let ex = Exchange::new();
    ex.put_f32("img", &img);
    ex.run(&format!(
        "{AICS_HESSIAN}
img = np.fromfile('img', '<f4').astype(np.float64).reshape({})
e = eig(img, 1.0)
e.tofile('eig')
vessel3(e[..., 1], e[..., 2]).tofile('v3')
e2 = np.stack([eig(s, 1.0) for s in img])
e2.tofile('eig2')
big = e2[..., 1]
vessel3(big, big).tofile('v2')
",
        shape_py()
    ));
    let eigen = hessian_eigenvalues(&img, SHAPE, [1.0; 3]);
    let flat: Vec<f32> = eigen.iter().flatten().copied().collect();
    assert!(relative_error(&flat, &ex.get_f64("eig")) < 1e-5);
    let eigen2 = hessian_eigenvalues(&img, SHAPE, [0.0, 1.0, 1.0]);
    let flat2: Vec<f32> = eigen2.iter().flat_map(|e| [e[1], e[2]]).collect();
    assert!(relative_error(&flat2, &ex.get_f64("eig2")) < 1e-5);

    // The response jumps to 1 where λ2 < λ3/2: voxels within rounding of that switch may land
    // on either side, so compare all voxels but allow a handful of such flips.
    for (ours, name) in [
        (vesselness_3d(&img, SHAPE, [1.0; 3]), "v3"),
        (vesselness_slice_by_slice(&img, SHAPE, [1.0, 1.0]), "v2"),
    ] {
        let reference = ex.get_f64(name);
        let off = ours
            .iter()
            .zip(&reference)
            .filter(|(&a, &b)| (a as f64 - b).abs() > 1e-4)
            .count();
        assert!(
            off <= 2,
            "{name}: {off} voxels differ from aicssegmentation"
        );
        assert!(
            reference.iter().any(|&v| v > 0.5),
            "{name}: the test image has filaments"
        );
    }
}

#[test]
fn otsu_and_triangle_match_scikit_image_within_one_bin() {
    let ex = Exchange::new();
    let images = [
        image(),
        uniform(5, 3000)
            .iter()
            .map(|v| v * v * v)
            .collect::<Vec<f32>>(),
    ];
    for (k, img) in images.iter().enumerate() {
        ex.put_f32(&format!("img{k}"), img);
    }
    ex.run(
        "from skimage.filters import threshold_otsu, threshold_triangle
out = []
for k in range(2):
    img = np.fromfile(f'img{k}', '<f4')
    out += [threshold_otsu(img), threshold_triangle(img)]
np.array(out, dtype='<f8').tofile('t')
",
    );
    let reference = ex.get_f64("t");
    for (k, img) in images.iter().enumerate() {
        let (_, centres) = histogram(img, BINS).unwrap();
        let bin = centres[1] - centres[0];
        let o = otsu(img).unwrap();
        let t = triangle(img).unwrap();
        assert!(
            (o - reference[2 * k]).abs() <= bin * 1.0001,
            "otsu {o} vs {}",
            reference[2 * k]
        );
        assert!(
            (t - reference[2 * k + 1]).abs() <= bin * 1.0001,
            "triangle {t} vs {}",
            reference[2 * k + 1]
        );
    }
}

fn speckle_mask(seed: u64, density: f32) -> Mask {
    let noise = uniform(seed, SHAPE.iter().product());
    Mask::new(SHAPE, noise.iter().map(|&v| v < density).collect()).unwrap()
}

#[test]
fn labelling_matches_scipy_for_6_and_26_connectivity() {
    let mask = speckle_mask(21, 0.3);
    let ex = Exchange::new();
    ex.put_bool("m", &mask.data);
    ex.run(&format!(
        "from scipy import ndimage as ndi
m = np.fromfile('m', np.uint8).reshape({}) > 0
ndi.label(m, ndi.generate_binary_structure(3, 1))[0].astype('<f8').tofile('l6')
ndi.label(m, np.ones((3, 3, 3)))[0].astype('<f8').tofile('l26')
",
        shape_py()
    ));
    for (connectivity, name) in [(Connectivity::Faces, "l6"), (Connectivity::Full, "l26")] {
        let ours: Vec<f64> = label(&mask, connectivity)
            .data
            .iter()
            .map(|&l| l as f64)
            .collect();
        assert_eq!(ours, ex.get_f64(name), "{name}");
    }
}

#[test]
fn hole_filling_matches_scipy_binary_fill_holes() {
    // Dense speckle leaves many enclosed background pockets.
    let mask = speckle_mask(33, 0.72);
    let ex = Exchange::new();
    ex.put_bool("m", &mask.data);
    ex.run(&format!(
        "from scipy import ndimage as ndi
m = np.fromfile('m', np.uint8).reshape({}) > 0
ndi.binary_fill_holes(m).astype('<f8').tofile('f3')
np.stack([ndi.binary_fill_holes(s) for s in m]).astype('<f8').tofile('f2')
",
        shape_py()
    ));
    let as_f64 = |m: Mask| {
        m.data
            .iter()
            .map(|&v| f64::from(u8::from(v)))
            .collect::<Vec<_>>()
    };
    let volume = fill_holes(&mask, HoleFill::Volume, None);
    let slices = fill_holes(&mask, HoleFill::Slice, None);
    assert!(volume.count() > mask.count(), "the test mask has holes");
    assert_eq!(as_f64(volume), ex.get_f64("f3"));
    assert_eq!(as_f64(slices), ex.get_f64("f2"));
}

#[test]
fn distance_transform_matches_scipy_edt_with_sampling() {
    let mask = speckle_mask(44, 0.85);
    let ex = Exchange::new();
    ex.put_bool("m", &mask.data);
    ex.run(&format!(
        "from scipy import ndimage as ndi
m = np.fromfile('m', np.uint8).reshape({}) > 0
ndi.distance_transform_edt(m, sampling=[0.29, 0.11, 0.13]).tofile('d')
",
        shape_py()
    ));
    let ours = distance_transform(&mask, [0.29, 0.11, 0.13]);
    let reference = ex.get_f64("d");
    let worst = ours
        .iter()
        .zip(&reference)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst < 1e-9, "largest difference {worst}");
}

#[test]
fn seeded_watershed_and_h_maxima_match_scikit_image_reconstruction() {
    // Smooth blobs: distinct values, so the flooding order has no ties to break differently.
    let img = gaussian_smooth(&image(), SHAPE, [1.0; 3]);
    let values: Vec<f64> = img.iter().map(|&v| -(v as f64)).collect();
    let mask = Mask::from_threshold(SHAPE, &img, 130.0).unwrap();
    let peaks = h_maxima(
        &img.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        &mask,
        5.0,
        Connectivity::Faces,
    );
    assert!(peaks.max_label() >= 2, "the test needs several basins");
    let ex = Exchange::new();
    ex.put_f32("img", &img);
    ex.put_bool("mask", &mask.data);
    ex.put_u32("markers", &peaks.data);
    ex.run(&format!(
        "from skimage.segmentation import watershed
from skimage.morphology import h_maxima
from scipy import ndimage as ndi
sh = {}
img = np.fromfile('img', '<f4').astype(np.float64).reshape(sh)
mask = np.fromfile('mask', np.uint8).reshape(sh) > 0
markers = np.fromfile('markers', '<u4').reshape(sh).astype(np.int64)
watershed(-img, markers, mask=mask).astype('<f8').tofile('ws')
from skimage.morphology import reconstruction, local_maxima
fp = ndi.generate_binary_structure(3, 1)
low = img[mask].min() - 10.0
limit = np.where(mask, img, low)
rec = reconstruction(np.where(mask, img - 5.0, low), limit, method='dilation', footprint=fp)
(local_maxima(rec, footprint=fp) & mask).astype('<f8').tofile('hmax')
",
        shape_py()
    ));
    let ours = watershed(&values, &peaks, Some(&mask), Connectivity::Faces, false).unwrap();
    let reference = ex.get_f64("ws");
    let differing = ours
        .data
        .iter()
        .zip(&reference)
        .filter(|(&a, &b)| a as f64 != b)
        .count();
    assert!(
        differing == 0,
        "{differing} voxels labelled differently from skimage"
    );
    let hmax = ex.get_f64("hmax");
    let ours_peaks: Vec<f64> = peaks
        .data
        .iter()
        .map(|&l| f64::from(u8::from(l != 0)))
        .collect();
    assert_eq!(ours_peaks, hmax);
    let labels = Labels::new(SHAPE, ours.data).unwrap();
    assert_eq!(labels.ids().len(), peaks.max_label() as usize);
}
