//! Separable 3D filtering of (Z, Y, X) arrays: Gaussian blur and arbitrary 1D kernels per axis.
//!
//! Used by the synthetic-cell generator for the anisotropic PSF, the band-limited noise that
//! textures DNA and the ER, and the bright-field defocus kernel. Edges replicate the border.

/// A normalized sampled Gaussian with standard deviation `sigma` voxels (identity for tiny σ).
pub fn gaussian_kernel(sigma: f64) -> Vec<f32> {
    if sigma < 0.05 {
        return vec![1.0];
    }
    let radius = (3.5 * sigma).ceil() as i64;
    let k: Vec<f64> = (-radius..=radius)
        .map(|d| (-(d as f64).powi(2) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = k.iter().sum();
    k.iter().map(|v| (v / sum) as f32).collect()
}

/// Convolves `data` of shape (Z, Y, X) along `axis` (0 = z, 1 = y, 2 = x) with an odd-length
/// kernel centred on its middle tap.
pub fn convolve_axis(data: &[f32], shape: [usize; 3], axis: usize, kernel: &[f32]) -> Vec<f32> {
    if kernel.len() == 1 && kernel[0] == 1.0 {
        return data.to_vec();
    }
    let len = shape[axis];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let radius = (kernel.len() / 2) as isize;
    let mut out = vec![0f32; data.len()];
    for o in 0..outer {
        let base = o * len * inner;
        if inner == 1 {
            let line = &data[base..base + len];
            let dst = &mut out[base..base + len];
            for (i, d) in dst.iter_mut().enumerate() {
                let mut acc = 0f32;
                for (j, &k) in kernel.iter().enumerate() {
                    let src =
                        (i as isize + j as isize - radius).clamp(0, len as isize - 1) as usize;
                    acc += k * line[src];
                }
                *d = acc;
            }
            continue;
        }
        for i in 0..len {
            let dst_start = base + i * inner;
            for (j, &k) in kernel.iter().enumerate() {
                let src = (i as isize + j as isize - radius).clamp(0, len as isize - 1) as usize;
                let src_start = base + src * inner;
                let (src_line, dst_line) = (
                    &data[src_start..src_start + inner],
                    &mut out[dst_start..dst_start + inner],
                );
                for (d, &s) in dst_line.iter_mut().zip(src_line) {
                    *d += k * s;
                }
            }
        }
    }
    out
}

/// Anisotropic Gaussian blur with σ given in voxels per axis (z, y, x).
pub fn gaussian_blur(data: &[f32], shape: [usize; 3], sigma_voxels: [f64; 3]) -> Vec<f32> {
    let mut current = convolve_axis(data, shape, 2, &gaussian_kernel(sigma_voxels[2]));
    current = convolve_axis(&current, shape, 1, &gaussian_kernel(sigma_voxels[1]));
    convolve_axis(&current, shape, 0, &gaussian_kernel(sigma_voxels[0]))
}
