//! Pixel metrics of one predicted image against its target, both (Z, Y, X) `f32` volumes in
//! row-major order: Pearson r, MSE, PSNR and SSIM, every sum in f64.
//!
//! PSNR and SSIM are scikit-image's (`skimage.metrics`, checked against it to 1e-5 by
//! `tests/skimage_reference.rs`):
//!
//! - [`psnr`] is `peak_signal_noise_ratio(target, prediction, data_range=R)`:
//!   `10 log10(R² / MSE)`.
//! - [`ssim`] is `structural_similarity(target, prediction, data_range=R, channel_axis=None)`
//!   with its defaults for a 3D volume: a 7×7×7 uniform window, K1 = 0.01, K2 = 0.03, sample
//!   covariances (× 343/342), and the mean of the SSIM map over the interior that scikit-image
//!   keeps, 3 voxels cropped from every face. scikit-image filters the whole volume (reflecting
//!   at the borders) and then crops exactly the voxels whose window leaves the volume, so only
//!   whole windows count and silico computes only those. scikit-image computes in float32 when
//!   given float32 images; silico always computes in f64 (the reference test gives scikit-image
//!   the same values as float64).
//!
//! R, the data range, is the caller's choice and both metrics depend on it. silico passes the
//! target's max − min ([`data_range`]): its images are z-scored, so there is no fixed intensity
//! range to take, and the target's own spread is what a prediction is measured against.
//!
//! Sums are split into fixed ranges (of voxels, rows or planes) that the current rayon pool (the
//! process's, sized by `--threads`) works on in parallel; partial sums are added in a fixed
//! order, so any pool gives the same bits.

use rayon::prelude::*;
use std::fmt;

/// The side of scikit-image's default SSIM window.
pub const SSIM_WINDOW: usize = 7;
const K1: f64 = 0.01;
const K2: f64 = 0.03;
/// Voxels per parallel range of the whole-volume sums.
const CHUNK: usize = 1 << 16;

/// All four metrics of one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelMetrics {
    /// NaN where either volume is constant (as NumPy's `corrcoef`).
    pub pearson_r: f64,
    pub mse: f64,
    /// Infinite where the prediction equals the target.
    pub psnr: f64,
    pub ssim: f64,
}

/// Why a pair of volumes cannot be measured.
#[derive(Clone, Debug, PartialEq)]
pub enum PixelError {
    /// A volume's length is not the product of the shape.
    Length {
        what: &'static str,
        shape: [usize; 3],
        len: usize,
    },
    /// SSIM needs a whole window somewhere in the volume.
    SmallerThanWindow { shape: [usize; 3] },
    /// The data range is not a positive finite number (a constant target has range 0).
    DataRange(f64),
}

impl fmt::Display for PixelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { what, shape, len } => write!(
                f,
                "the {what} has {len} voxels, but the shape {} has {}",
                show_shape(shape),
                shape.iter().product::<usize>()
            ),
            Self::SmallerThanWindow { shape } => write!(
                f,
                "SSIM needs at least {SSIM_WINDOW} voxels along every axis, but the volume is {}",
                show_shape(shape)
            ),
            Self::DataRange(range) => write!(
                f,
                "the data range for PSNR and SSIM is {range}; it must be positive (is the target constant?)"
            ),
        }
    }
}

impl std::error::Error for PixelError {}

fn show_shape(shape: &[usize; 3]) -> String {
    format!("{}×{}×{} (Z×Y×X)", shape[0], shape[1], shape[2])
}

/// Pearson r, MSE, PSNR and SSIM of `prediction` against `target`, with `data_range` for PSNR
/// and SSIM (silico passes [`data_range`] of the target).
pub fn pixel_metrics(
    target: &[f32],
    prediction: &[f32],
    shape: [usize; 3],
    data_range: f64,
) -> Result<PixelMetrics, PixelError> {
    let ssim = ssim(target, prediction, shape, data_range)?;
    let moments = Moments::of(target, prediction);
    Ok(PixelMetrics {
        pearson_r: moments.pearson_r(),
        mse: moments.mse,
        psnr: psnr_from_mse(moments.mse, data_range),
        ssim,
    })
}

/// The target's max − min: the data range silico passes to PSNR and SSIM.
pub fn data_range(target: &[f32]) -> f64 {
    let (min, max) = target
        .par_chunks(CHUNK)
        .map(|c| {
            c.iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                })
        })
        .reduce(
            || (f32::INFINITY, f32::NEG_INFINITY),
            |(a, b), (c, d)| (a.min(c), b.max(d)),
        );
    max as f64 - min as f64
}

/// Pearson's r of two equal-length samples (NumPy's `corrcoef(a, b)[0, 1]`); NaN where either is
/// constant.
///
/// # Panics
/// If the lengths differ.
pub fn pearson_r(a: &[f32], b: &[f32]) -> f64 {
    Moments::of(a, b).pearson_r()
}

/// Mean squared error of two equal-length samples.
///
/// # Panics
/// If the lengths differ.
pub fn mse(a: &[f32], b: &[f32]) -> f64 {
    Moments::of(a, b).mse
}

/// scikit-image's `peak_signal_noise_ratio(target, prediction, data_range=data_range)`.
///
/// # Panics
/// If the lengths differ.
pub fn psnr(target: &[f32], prediction: &[f32], data_range: f64) -> Result<f64, PixelError> {
    check_data_range(data_range)?;
    Ok(psnr_from_mse(mse(target, prediction), data_range))
}

fn psnr_from_mse(mse: f64, data_range: f64) -> f64 {
    10.0 * (data_range * data_range / mse).log10()
}

fn check_data_range(data_range: f64) -> Result<(), PixelError> {
    if data_range.is_finite() && data_range > 0.0 {
        Ok(())
    } else {
        Err(PixelError::DataRange(data_range))
    }
}

/// Means, centred second moments and the squared error of a pair, in two passes (the centred
/// sums keep their precision where the mean is large against the spread).
struct Moments {
    covariance: f64,
    variance_a: f64,
    variance_b: f64,
    mse: f64,
}

impl Moments {
    fn of(a: &[f32], b: &[f32]) -> Self {
        assert_eq!(a.len(), b.len(), "the two samples differ in length");
        let n = a.len() as f64;
        let sums = chunked_sums(a, b, |x, y| [x, y, 0.0, 0.0]);
        let (mean_a, mean_b) = (sums[0] / n, sums[1] / n);
        let [covariance, variance_a, variance_b, squared_error] = chunked_sums(a, b, |x, y| {
            let (dx, dy) = (x - mean_a, y - mean_b);
            [dx * dy, dx * dx, dy * dy, (x - y) * (x - y)]
        });
        Self {
            covariance,
            variance_a,
            variance_b,
            mse: squared_error / n,
        }
    }

    fn pearson_r(&self) -> f64 {
        let r = self.covariance / (self.variance_a * self.variance_b).sqrt();
        // As NumPy's corrcoef, which clips rounding past ±1.
        r.clamp(-1.0, 1.0)
    }
}

/// Σ term(a_i, b_i) over fixed chunks in parallel, the chunks' sums added in order.
fn chunked_sums(a: &[f32], b: &[f32], term: impl Fn(f64, f64) -> [f64; 4] + Sync) -> [f64; 4] {
    let partial: Vec<[f64; 4]> = a
        .par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(a, b)| {
            let mut sum = [0.0; 4];
            for (&x, &y) in a.iter().zip(b) {
                let t = term(x as f64, y as f64);
                for k in 0..4 {
                    sum[k] += t[k];
                }
            }
            sum
        })
        .collect();
    partial.iter().fold([0.0; 4], |mut total, p| {
        for k in 0..4 {
            total[k] += p[k];
        }
        total
    })
}

/// The five window sums SSIM needs at one voxel: x, y, x², y², xy.
type Sums = [f64; 5];

fn add(a: &mut Sums, b: &Sums) {
    for k in 0..5 {
        a[k] += b[k];
    }
}

fn products(x: f32, y: f32) -> Sums {
    let (x, y) = (x as f64, y as f64);
    [x, y, x * x, y * y, x * y]
}

/// scikit-image's `structural_similarity(im1, im2, data_range=data_range, channel_axis=None)` of
/// two (Z, Y, X) volumes (see the module's notes). Symmetric in its two volumes.
///
/// Window sums are separable: along X a running sum per row, along Y the sum of 7 rows, along Z
/// a running sum of the last 7 planes. Only 7 planes of sums are kept, so memory grows with one
/// plane, not the volume.
pub fn ssim(
    im1: &[f32],
    im2: &[f32],
    shape: [usize; 3],
    data_range: f64,
) -> Result<f64, PixelError> {
    for (what, volume) in [("first volume", im1), ("second volume", im2)] {
        if volume.len() != shape.iter().product::<usize>() {
            return Err(PixelError::Length {
                what,
                shape,
                len: volume.len(),
            });
        }
    }
    if shape.iter().any(|&n| n < SSIM_WINDOW) {
        return Err(PixelError::SmallerThanWindow { shape });
    }
    check_data_range(data_range)?;

    let w = SSIM_WINDOW;
    let [nz, ny, nx] = shape;
    let (oy, ox) = (ny - w + 1, nx - w + 1);
    let plane_len = ny * nx;
    let window_voxels = (w * w * w) as f64;
    let formula = Formula {
        inverse_voxels: 1.0 / window_voxels,
        covariance_norm: window_voxels / (window_voxels - 1.0),
        c1: (K1 * data_range).powi(2),
        c2: (K2 * data_range).powi(2),
    };

    // rows[y][ox]: the X sums of input row y; plane[oy][ox]: their Y sums (one input plane).
    let mut rows = vec![[0.0; 5]; ny * ox];
    let mut plane = vec![[0.0; 5]; oy * ox];
    // The last 7 planes' sums, by z mod 7, and their total: the window sums.
    let mut ring = vec![vec![[0.0; 5]; oy * ox]; w];
    let mut window = vec![[0.0; 5]; oy * ox];
    let mut row_totals = vec![0.0; oy];
    let mut total = 0.0;

    for z in 0..nz {
        let (a, b) = (
            &im1[z * plane_len..(z + 1) * plane_len],
            &im2[z * plane_len..(z + 1) * plane_len],
        );
        rows.par_chunks_mut(ox).enumerate().for_each(|(y, out)| {
            let (a, b) = (&a[y * nx..(y + 1) * nx], &b[y * nx..(y + 1) * nx]);
            let mut sum = [0.0; 5];
            for i in 0..w {
                add(&mut sum, &products(a[i], b[i]));
            }
            out[0] = sum;
            for i in 1..ox {
                let (new, old) = (
                    products(a[i + w - 1], b[i + w - 1]),
                    products(a[i - 1], b[i - 1]),
                );
                for k in 0..5 {
                    sum[k] += new[k] - old[k];
                }
                out[i] = sum;
            }
        });
        let rows = &rows;
        plane.par_chunks_mut(ox).enumerate().for_each(|(y, out)| {
            out.copy_from_slice(&rows[y * ox..(y + 1) * ox]);
            for dy in 1..w {
                for (o, r) in out.iter_mut().zip(&rows[(y + dy) * ox..(y + dy + 1) * ox]) {
                    add(o, r);
                }
            }
        });
        let oldest = &mut ring[z % w];
        window
            .par_chunks_mut(ox)
            .zip(oldest.par_chunks(ox))
            .zip(plane.par_chunks(ox))
            .for_each(|((sum, old), new)| {
                for ((s, o), n) in sum.iter_mut().zip(old).zip(new) {
                    for k in 0..5 {
                        s[k] += n[k] - o[k];
                    }
                }
            });
        std::mem::swap(oldest, &mut plane);
        if z + 1 >= w {
            let window = &window;
            row_totals
                .par_iter_mut()
                .enumerate()
                .for_each(|(y, row_total)| {
                    *row_total = window[y * ox..(y + 1) * ox]
                        .iter()
                        .map(|s| formula.ssim(s))
                        .sum();
                });
            total += row_totals.iter().sum::<f64>();
        }
    }
    Ok(total / ((nz - w + 1) * oy * ox) as f64)
}

/// scikit-image's SSIM of one window from its sums.
struct Formula {
    inverse_voxels: f64,
    covariance_norm: f64,
    c1: f64,
    c2: f64,
}

impl Formula {
    fn ssim(&self, sums: &Sums) -> f64 {
        let [ux, uy, uxx, uyy, uxy] = sums.map(|s| s * self.inverse_voxels);
        let vx = self.covariance_norm * (uxx - ux * ux);
        let vy = self.covariance_norm * (uyy - uy * uy);
        let vxy = self.covariance_norm * (uxy - ux * uy);
        let (a1, a2) = (2.0 * ux * uy + self.c1, 2.0 * vxy + self.c2);
        let (b1, b2) = (ux * ux + uy * uy + self.c1, vx + vy + self.c2);
        a1 * a2 / (b1 * b2)
    }
}
