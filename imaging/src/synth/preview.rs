//! An RGB picture of a field for people: the bright-field's middle slice beside a colour
//! composite of fluorescence maximum projections over the dimmed bright-field.

use std::path::Path;

use super::grid::Grid;
use crate::error::{ImagingError, Result};

/// (name shown nowhere, RGB colour) pairs drawn over the bright-field, with their images.
pub struct Overlay<'a> {
    pub image: &'a [f32],
    pub color: [f32; 3],
}

/// Maps values to [0, 1] between the 1st and 99.8th percentiles.
fn stretch(values: &[f32]) -> Vec<f32> {
    let mut sorted: Vec<f32> = values.to_vec();
    sorted.sort_unstable_by(f32::total_cmp);
    let lo = sorted[sorted.len() / 100];
    let hi = sorted[(sorted.len() * 998 / 1000).min(sorted.len() - 1)];
    let span = (hi - lo).max(1e-6);
    values
        .iter()
        .map(|v| ((v - lo) / span).clamp(0.0, 1.0))
        .collect()
}

fn max_projection(grid: &Grid, image: &[f32]) -> Vec<f32> {
    let plane = grid.shape[1] * grid.shape[2];
    let mut out = vec![f32::NEG_INFINITY; plane];
    for slice in image.chunks_exact(plane) {
        for (o, &v) in out.iter_mut().zip(slice) {
            *o = o.max(v);
        }
    }
    out
}

pub fn write_preview(
    path: &Path,
    grid: &Grid,
    brightfield: &[f32],
    overlays: &[Overlay<'_>],
) -> Result<()> {
    let [nz, ny, nx] = grid.shape;
    let plane = ny * nx;
    let middle = &brightfield[(nz / 2) * plane..(nz / 2 + 1) * plane];
    let bf = stretch(middle);
    let layers: Vec<(Vec<f32>, [f32; 3])> = overlays
        .iter()
        .map(|o| (stretch(&max_projection(grid, o.image)), o.color))
        .collect();
    let width = 2 * nx + 4;
    let mut rgb = vec![255u8; width * ny * 3];
    for y in 0..ny {
        for x in 0..nx {
            let i = y * nx + x;
            let gray = bf[i];
            let left = (y * width + x) * 3;
            rgb[left..left + 3].fill((gray * 255.0) as u8);
            let mut color = [0.35 * gray; 3];
            for (layer, c) in &layers {
                let v = layer[i].powf(0.8);
                for k in 0..3 {
                    color[k] += v * c[k];
                }
            }
            let right = (y * width + nx + 4 + x) * 3;
            for k in 0..3 {
                rgb[right + k] = (color[k].clamp(0.0, 1.0) * 255.0) as u8;
            }
        }
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width as u32, ny as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let fail = |e: png::EncodingError| ImagingError::BadWrite {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let mut writer = encoder.write_header().map_err(fail)?;
        writer.write_image_data(&rgb).map_err(fail)?;
    }
    crate::files::write_atomic(path, &bytes)
}
