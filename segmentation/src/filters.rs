//! Image filters of aicssegmentation (AllenCell/aics-segmentation `core/pre_processing_utils.py`,
//! `core/seg_dot.py`, `core/hessian.py`, `core/vessel.py`), on (Z, Y, X) f32 arrays with σ
//! given per axis in voxels (an isotropic σ reproduces the Segmenter exactly):
//!
//! - [`gaussian_smooth`]: scipy `gaussian_filter(mode="nearest", truncate=3.0)`, the
//!   Segmenter's `image_smoothing_gaussian_3d`; σ_z = 0 is its slice-by-slice variant.
//! - [`edge_preserving_smooth`]: Perona–Malik gradient anisotropic diffusion, standing in for
//!   the ITK `GradientAnisotropicDiffusionImageFilter` the Segmenter calls.
//! - [`dot_filter`]: the spot filter `−σ²·LoG` (`dot_3d`; σ_z = 0 is `dot_slice_by_slice`),
//!   scipy `gaussian_laplace` with its default reflecting border and truncate 4.
//! - [`hessian_eigenvalues`] and [`vesselness_3d`] / [`vesselness_slice_by_slice`]: the
//!   Jerman et al. (2016) filament filter of `filament_3d_wrapper` / `vesselnessSliceBySlice`.

use silico_imaging::filter::convolve_axis;

use crate::volume::Grid;

/// Radius of a scipy Gaussian kernel: `int(truncate * sigma + 0.5)`.
fn kernel_radius(sigma: f64, truncate: f64) -> usize {
    (truncate * sigma + 0.5) as usize
}

/// scipy's `_gaussian_kernel1d` for derivative order 0, 1 or 2: the normalized sampled
/// Gaussian times the derivative's polynomial, in convolution order.
fn gaussian_kernel(sigma: f64, order: u8, truncate: f64) -> Vec<f64> {
    let radius = kernel_radius(sigma, truncate) as i64;
    let s2 = sigma * sigma;
    let phi: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 * (x * x) as f64 / s2).exp())
        .collect();
    let sum: f64 = phi.iter().sum();
    (-radius..=radius)
        .zip(&phi)
        .map(|(x, p)| {
            let x = x as f64;
            let polynomial = match order {
                0 => 1.0,
                1 => -x / s2,
                _ => x * x / (s2 * s2) - 1.0 / s2,
            };
            polynomial * p / sum
        })
        .collect()
}

/// Correlates `data` along `axis` with `weights` (odd length, centred), extending the signal
/// by scipy's `reflect` rule (d c b a | a b c d | d c b a), also for kernels longer than the
/// axis.
fn correlate_axis_reflect(
    data: &[f32],
    shape: [usize; 3],
    axis: usize,
    weights: &[f64],
) -> Vec<f32> {
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let radius = weights.len() / 2;
    let period = 2 * len as i64;
    let reflect = |i: i64| -> usize {
        let m = i.rem_euclid(period);
        (if m >= len as i64 { period - 1 - m } else { m }) as usize
    };
    // Where each padded sample comes from, shared by all lines along the axis.
    let sources: Vec<usize> = (0..len + 2 * radius)
        .map(|p| reflect(p as i64 - radius as i64))
        .collect();
    let mut out = vec![0f32; data.len()];
    let mut padded = vec![0f64; len + 2 * radius];
    for o in 0..outer {
        for k in 0..inner {
            let base = o * len * inner + k;
            for (p, &s) in padded.iter_mut().zip(&sources) {
                *p = data[base + s * inner] as f64;
            }
            for i in 0..len {
                let acc: f64 = weights
                    .iter()
                    .zip(&padded[i..i + weights.len()])
                    .map(|(w, v)| w * v)
                    .sum();
                out[base + i * inner] = acc as f32;
            }
        }
    }
    out
}

/// Gaussian smoothing with σ per axis (voxels), replicated borders, truncated at 3σ: scipy
/// `gaussian_filter(image, sigma, mode="nearest", truncate=3.0)`. σ = 0 leaves an axis alone,
/// so `[0, s, s]` smooths each z slice on its own.
pub fn gaussian_smooth(image: &[f32], shape: [usize; 3], sigma: [f64; 3]) -> Vec<f32> {
    let mut current = image.to_vec();
    // scipy filters the last axis first; the order only changes rounding.
    for axis in (0..3).rev() {
        if sigma[axis] > 1e-15 {
            let kernel: Vec<f32> = gaussian_kernel(sigma[axis], 0, 3.0)
                .iter()
                .map(|&w| w as f32)
                .collect();
            current = convolve_axis(&current, shape, axis, &kernel);
        }
    }
    current
}

/// Parameters of [`edge_preserving_smooth`]; the defaults are the Segmenter's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diffusion {
    pub iterations: usize,
    /// Edges steeper than about `conductance` × the image's RMS gradient stop the flow.
    pub conductance: f64,
    /// At most 1/2^(d+1) = 0.0625 in 3D for a stable explicit scheme.
    pub time_step: f64,
}

impl Default for Diffusion {
    fn default() -> Self {
        Diffusion {
            iterations: 10,
            conductance: 1.2,
            time_step: 0.0625,
        }
    }
}

/// Edge-preserving smoothing by Perona–Malik gradient anisotropic diffusion.
///
/// Each iteration moves intensity between 6-neighbours with a flux `c(d)·d`, d the difference
/// between them and `c(d) = exp(−d² / (2 K² ⟨|∇I|²⟩))`, K the conductance and ⟨|∇I|²⟩ the mean
/// squared gradient of the current image: the conductance scaling of ITK's
/// `GradientAnisotropicDiffusionImageFilter`, which aicssegmentation's
/// `edge_preserving_smoothing_3d` calls. Unlike ITK the conductance uses only the difference
/// along the flux direction (the classic Perona–Malik form), so results are close to, not equal
/// to, ITK's. Borders are closed (no flux leaves the volume). Noise in flat regions is averaged
/// away while steps much larger than the typical gradient (ER tubules against the cytoplasm)
/// keep their contrast.
pub fn edge_preserving_smooth(image: &[f32], shape: [usize; 3], params: Diffusion) -> Vec<f32> {
    let grid = Grid::new(shape);
    let strides = grid.strides();
    // Every (voxel, next voxel along `axis`) pair, visited in memory order.
    let for_each_pair = |axis: usize, visit: &mut dyn FnMut(usize, usize)| {
        let mut end = shape;
        end[axis] = end[axis].saturating_sub(1);
        for z in 0..end[0] {
            for y in 0..end[1] {
                let row = grid.index(z, y, 0);
                for i in row..row + end[2] {
                    visit(i, i + strides[axis]);
                }
            }
        }
    };
    let mut current = image.to_vec();
    let mut update = vec![0f32; current.len()];
    for _ in 0..params.iterations {
        // Mean squared neighbour difference: the scale of a "typical" gradient.
        let (mut sum_sq, mut count) = (0f64, 0usize);
        for axis in 0..3 {
            for_each_pair(axis, &mut |i, j| {
                let d = (current[j] - current[i]) as f64;
                sum_sq += d * d;
                count += 1;
            });
        }
        let k2 = 2.0 * params.conductance * params.conductance * sum_sq / count.max(1) as f64;
        if k2 <= 0.0 {
            break;
        }
        update.iter_mut().for_each(|u| *u = 0.0);
        for axis in 0..3 {
            for_each_pair(axis, &mut |i, j| {
                let d = (current[j] - current[i]) as f64;
                let flux = ((-d * d / k2).exp() * d) as f32;
                update[i] += flux;
                update[j] -= flux;
            });
        }
        let dt = params.time_step as f32;
        current
            .iter_mut()
            .zip(&update)
            .for_each(|(v, u)| *v += dt * u);
    }
    current
}

/// The Segmenter's spot filter: `−Σ_a σ_a² ∂²_a (G_σ ∗ I)`, i.e. `−σ²·LoG` for isotropic σ
/// (`dot_3d`). Axes with σ = 0 are neither smoothed nor differentiated, so `[0, s, s]` is
/// `dot_slice_by_slice`. Bright blobs of radius about σ√d give a positive peak.
pub fn dot_filter(image: &[f32], shape: [usize; 3], sigma: [f64; 3]) -> Vec<f32> {
    let active: Vec<usize> = (0..3).filter(|&a| sigma[a] > 1e-15).collect();
    let mut response = vec![0f32; image.len()];
    for &second in &active {
        let mut term = image.to_vec();
        for &axis in active.iter().rev() {
            let order = if axis == second { 2 } else { 0 };
            let weights: Vec<f64> = gaussian_kernel(sigma[axis], order, 4.0)
                .into_iter()
                .rev()
                .collect();
            term = correlate_axis_reflect(&term, shape, axis, &weights);
        }
        let scale = (sigma[second] * sigma[second]) as f32;
        response
            .iter_mut()
            .zip(&term)
            .for_each(|(r, t)| *r -= scale * t);
    }
    response
}

/// numpy `gradient` along `axis`: central differences inside, one-sided at the two ends.
fn gradient_axis(data: &[f32], shape: [usize; 3], axis: usize) -> Vec<f32> {
    let grid = Grid::new(shape);
    let stride = grid.strides()[axis];
    let len = shape[axis];
    let mut out = vec![0f32; data.len()];
    if len < 2 {
        return out;
    }
    for (i, o) in out.iter_mut().enumerate() {
        let p = grid.coords(i)[axis];
        *o = if p == 0 {
            data[i + stride] - data[i]
        } else if p == len - 1 {
            data[i] - data[i - stride]
        } else {
            (data[i + stride] - data[i - stride]) * 0.5
        };
    }
    out
}

/// Eigenvalues of the scale-normalized Hessian at every voxel, each triple sorted by absolute
/// value (|λ1| ≤ |λ2| ≤ |λ3|), as aicssegmentation's `absolute_3d_hessian_eigenvalues`:
/// Gaussian smoothing ([`gaussian_smooth`]) followed by numpy-style central differences
/// applied twice, entries scaled by σ_a·σ_b (σ² for isotropic σ).
///
/// Axes with σ = 0 are left out: `[0, s, s]` gives the 2D Hessian of every z slice, whose two
/// eigenvalues come back as (0, λ1, λ2) sorted the same way.
pub fn hessian_eigenvalues(image: &[f32], shape: [usize; 3], sigma: [f64; 3]) -> Vec<[f32; 3]> {
    let smoothed = gaussian_smooth(image, shape, sigma);
    let axes: Vec<usize> = (0..3).filter(|&a| sigma[a] > 1e-15).collect();
    let first: Vec<Vec<f32>> = axes
        .iter()
        .map(|&a| gradient_axis(&smoothed, shape, a))
        .collect();
    let mut entries: Vec<((usize, usize), Vec<f32>)> = Vec::new();
    for (p, &a) in axes.iter().enumerate() {
        for (q, &b) in axes.iter().enumerate().skip(p) {
            let scale = (sigma[a] * sigma[b]) as f32;
            let mut second = gradient_axis(&first[p], shape, b);
            second.iter_mut().for_each(|v| *v *= scale);
            entries.push(((p, q), second));
        }
    }
    let n = axes.len();
    (0..image.len())
        .map(|i| {
            let mut h = [[0f64; 3]; 3];
            for ((p, q), values) in &entries {
                h[*p][*q] = values[i] as f64;
                h[*q][*p] = values[i] as f64;
            }
            let mut ev = match n {
                3 => symmetric_eigenvalues_3(h),
                2 => symmetric_eigenvalues_2(h[0][0], h[0][1], h[1][1]),
                1 => [0.0, 0.0, h[0][0]],
                _ => [0.0; 3],
            };
            ev.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
            ev.map(|v| v as f32)
        })
        .collect()
}

/// Eigenvalues of a symmetric 2×2 matrix, padded with a leading 0.
fn symmetric_eigenvalues_2(a: f64, b: f64, d: f64) -> [f64; 3] {
    let mean = 0.5 * (a + d);
    let radius = (0.25 * (a - d) * (a - d) + b * b).sqrt();
    [0.0, mean - radius, mean + radius]
}

/// Eigenvalues of a symmetric 3×3 matrix by the trigonometric closed form (Smith 1961).
fn symmetric_eigenvalues_3(m: [[f64; 3]; 3]) -> [f64; 3] {
    let off = m[0][1] * m[0][1] + m[0][2] * m[0][2] + m[1][2] * m[1][2];
    let trace = m[0][0] + m[1][1] + m[2][2];
    if off <= 1e-30 * (trace * trace).max(1e-300) {
        return [m[0][0], m[1][1], m[2][2]];
    }
    let q = trace / 3.0;
    let d = [m[0][0] - q, m[1][1] - q, m[2][2] - q];
    let p2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + 2.0 * off;
    let p = (p2 / 6.0).sqrt();
    // B = (M − qI)/p; det(B)/2 = cos(3φ).
    let b = [
        [d[0] / p, m[0][1] / p, m[0][2] / p],
        [m[0][1] / p, d[1] / p, m[1][2] / p],
        [m[0][2] / p, m[1][2] / p, d[2] / p],
    ];
    let det = b[0][0] * (b[1][1] * b[2][2] - b[1][2] * b[2][1])
        - b[0][1] * (b[1][0] * b[2][2] - b[1][2] * b[2][0])
        + b[0][2] * (b[1][0] * b[2][1] - b[1][1] * b[2][0]);
    let phi = (0.5 * det).clamp(-1.0, 1.0).acos() / 3.0;
    let largest = q + 2.0 * p * phi.cos();
    let smallest = q + 2.0 * p * (phi + 2.0 * std::f64::consts::FRAC_PI_3).cos();
    [smallest, trace - largest - smallest, largest]
}

/// Jerman's response from the two largest-magnitude eigenvalues (aicssegmentation's
/// `compute_vesselness3D`; in 2D `compute_vesselness2D` passes λ2 for both). `reference` is
/// τ·min(λ3) over the image: λ3 values between it and 0 are raised to it so the response is
/// uniform along a filament.
fn jerman(lambda2: f64, lambda3: f64, reference: f64) -> f32 {
    if lambda2 >= 0.0 || lambda3 >= 0.0 {
        return 0.0;
    }
    let l3 = if lambda3 > reference {
        reference
    } else {
        lambda3
    };
    if lambda2 < 0.5 * l3 {
        return 1.0;
    }
    let diff = (l3 - lambda2).abs();
    let denominator = (2.0 * lambda2.abs() + diff).powi(3);
    let denominator = if denominator == 0.0 {
        1e-10
    } else {
        denominator
    };
    let response = 27.0 * lambda2 * lambda2 * diff / denominator;
    if response.is_finite() {
        response as f32
    } else {
        0.0
    }
}

/// 3D filament filter (`filament_3d_wrapper` with τ = 1): bright tubes of radius about σ give
/// responses near 1, blobs and sheets near 0.
pub fn vesselness_3d(image: &[f32], shape: [usize; 3], sigma: [f64; 3]) -> Vec<f32> {
    let eigen = hessian_eigenvalues(image, shape, sigma);
    let reference = eigen
        .iter()
        .map(|e| e[2] as f64)
        .fold(f64::INFINITY, f64::min);
    eigen
        .iter()
        .map(|e| jerman(e[1] as f64, e[2] as f64, reference))
        .collect()
}

/// 2D filament filter on every z slice (`vesselnessSliceBySlice` with τ = 1), σ = (σ_y, σ_x).
///
/// The Segmenter appends the max-projection to each slice so that every slice's response is
/// measured against the strongest λ2 of the whole stack; here that reference is the minimum λ2
/// over all slices, which gives the same stack-wide scale without the extra columns.
pub fn vesselness_slice_by_slice(image: &[f32], shape: [usize; 3], sigma: [f64; 2]) -> Vec<f32> {
    let eigen = hessian_eigenvalues(image, shape, [0.0, sigma[0], sigma[1]]);
    let reference = eigen
        .iter()
        .map(|e| e[2] as f64)
        .fold(f64::INFINITY, f64::min);
    eigen
        .iter()
        .map(|e| jerman(e[2] as f64, e[2] as f64, reference))
        .collect()
}
