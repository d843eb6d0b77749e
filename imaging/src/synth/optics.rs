//! Image formation: what a microscope makes of a [`Scene`].
//!
//! Fluorescence: each structure's density blurred by an anisotropic 3D Gaussian PSF, scaled to
//! photons, plus background, with Poisson shot noise, Gaussian read noise and a camera offset.
//!
//! Bright-field: a weak phase object seen through focus. Under the transport-of-intensity
//! approximation a thin slice of phase φ at distance d from focus changes intensity by about
//! -d/k ∇²φ, so the stack is the lateral Laplacian of the refractive-index contrast convolved
//! along z with an odd, decaying defocus kernel (d - δ)·exp(-(d - δ)²/2s²) (δ the focus
//! offset) and blurred laterally by the optics. Cells look dark on one side of focus and bright
//! on the other, as in real transmitted-light stacks. Structures with high, extended contrast
//! (nucleus, nucleoli, membrane) stand out; thin filaments and the ER barely do.

use super::recipe::Recipe;
use super::structures::Scene;
use super::Structure;
use crate::filter::{convolve_axis, gaussian_blur, gaussian_kernel};
use crate::rng::Rng;

/// One structure's fluorescence in camera counts: the noisy image, and where asked for, its
/// expectation.
pub struct Fluorescence {
    pub counts: Vec<f32>,
    /// `offset + background + photons · blurred density` per voxel: the mean of `counts` (the
    /// read noise has mean zero; the Poisson draw has mean `background + photons · density`,
    /// its rounded normal approximation above 30 photons to far below a count).
    pub noise_free: Option<Vec<f32>>,
}

/// Fluorescence image of one structure, in camera counts; `noise_free` also keeps the
/// expectation, computed beside each draw, so that the draws are the same either way.
pub fn fluorescence(
    scene: &Scene,
    structure: Structure,
    recipe: &Recipe,
    noise_free: bool,
    rng: &mut Rng,
) -> Fluorescence {
    let g = &scene.layout.grid;
    let sigma = std::array::from_fn(|a| recipe.psf.sigma_um[a] / g.voxel_um[a]);
    let blurred = gaussian_blur(scene.density(structure), g.shape, sigma);
    let photons = recipe.brightness.get(structure);
    let noise = &recipe.noise;
    let mut counts = Vec::with_capacity(blurred.len());
    let mut expectation = Vec::with_capacity(if noise_free { blurred.len() } else { 0 });
    for &d in &blurred {
        let expected = noise.background + photons * d.max(0.0) as f64;
        counts.push((rng.poisson(expected) + noise.read * rng.normal() + noise.offset) as f32);
        if noise_free {
            // A non-positive mean draws 0 photons.
            expectation.push((expected.max(0.0) + noise.offset) as f32);
        }
    }
    Fluorescence {
        counts,
        noise_free: noise_free.then_some(expectation),
    }
}

/// Refractive-index contrast relative to the medium.
pub fn refractive_index(scene: &Scene, recipe: &Recipe) -> Vec<f32> {
    let l = &scene.layout;
    let ri = &recipe.refractive_index;
    let mut map: Vec<f32> = (0..l.grid.len())
        .map(|i| {
            if l.nucleus[i] != 0 {
                ri.nucleus as f32
            } else if l.cell[i] != 0 {
                ri.cytoplasm as f32
            } else {
                0.0
            }
        })
        .collect();
    for s in Structure::ALL {
        let contrast = ri.structures.get(s) as f32;
        for (m, &d) in map.iter_mut().zip(scene.density(s)) {
            *m += contrast * d;
        }
    }
    map
}

/// Transmitted-light stack in camera counts.
pub fn brightfield(scene: &Scene, recipe: &Recipe, rng: &mut Rng) -> Vec<f32> {
    let g = &scene.layout.grid;
    let [nz, ny, nx] = g.shape;
    let ri = refractive_index(scene, recipe);
    let bf = &recipe.brightfield;

    // Lateral Laplacian per slice (in 1/µm², replicate edges).
    let mut laplacian = vec![0f32; ri.len()];
    let (hy, hx) = (
        (g.voxel_um[1] * g.voxel_um[1]) as f32,
        (g.voxel_um[2] * g.voxel_um[2]) as f32,
    );
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = g.index(z, y, x);
                let at = |yy: usize, xx: usize| ri[g.index(z, yy, xx)];
                let d2y = at(y.saturating_sub(1), x) + at((y + 1).min(ny - 1), x) - 2.0 * ri[i];
                let d2x = at(y, x.saturating_sub(1)) + at(y, (x + 1).min(nx - 1)) - 2.0 * ri[i];
                laplacian[i] = d2y / hy + d2x / hx;
            }
        }
    }
    let lateral = bf.blur_um / g.voxel_um[1];
    let mut field = convolve_axis(
        &laplacian,
        g.shape,
        2,
        &gaussian_kernel(bf.blur_um / g.voxel_um[2]),
    );
    field = convolve_axis(&field, g.shape, 1, &gaussian_kernel(lateral));
    field = convolve_axis(
        &field,
        g.shape,
        0,
        &defocus_kernel(bf.defocus_depth_um, bf.defocus_um, g.voxel_um[0]),
    );
    // Plus a little absorption-like darkening by dense material, symmetric through focus.
    let absorption = gaussian_blur(
        &ri,
        g.shape,
        [
            bf.defocus_depth_um / g.voxel_um[0],
            lateral * 2.0,
            lateral * 2.0,
        ],
    );

    let std = (field.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / field.len() as f64)
        .sqrt()
        .max(1e-12);
    let scale = bf.contrast / std;
    let noise = &recipe.noise;
    field
        .iter()
        .zip(&absorption)
        .enumerate()
        .map(|(i, (&phase, &absorbed))| {
            let [_, y, x] = g.coords(i);
            // Slightly uneven illumination across the field, as from a real condenser.
            let shading = 1.0
                - 0.04
                    * (((y as f64 / ny as f64) - 0.4).powi(2)
                        + ((x as f64 / nx as f64) - 0.6).powi(2));
            let expected = bf.photons
                * shading
                * (1.0 - scale * phase as f64 - 1.5 * absorbed as f64).max(0.05);
            (rng.poisson(expected) + noise.read * rng.normal() + noise.offset) as f32
        })
        .collect()
}

/// Odd through-focus response: a slice at distance d (µm) above the focal plane contributes
/// (d - δ)·exp(-(d - δ)²/2s²); taps are in z voxels, centred.
fn defocus_kernel(depth_um: f64, offset_um: f64, voxel_z_um: f64) -> Vec<f32> {
    let radius = ((3.0 * depth_um + offset_um.abs()) / voxel_z_um)
        .ceil()
        .max(1.0) as i64;
    (-radius..=radius)
        .map(|k| {
            let d = -(k as f64) * voxel_z_um - offset_um;
            (d / depth_um * (-(d * d) / (2.0 * depth_um * depth_um)).exp()) as f32
        })
        .collect()
}
