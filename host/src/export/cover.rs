//! The package's cover: the middle z-slice of the test input beside silico's prediction of it,
//! 2:1 as the BioImage Model Zoo shows covers.

use anyhow::{anyhow, Result};
use silico_plot::{Image, Rgb};

/// Each panel's side in pixels; the cover is two panels wide.
const PANEL: usize = 256;

/// A (Z, Y, X) image and how to colour it.
pub struct Panel<'a> {
    pub data: &'a [f32],
    pub shape: [usize; 3],
    pub label: &'a str,
    /// The colour of the brightest value (black is the darkest).
    pub color: Rgb,
}

/// The cover PNG: each panel's middle z-slice, contrast-stretched between its 0.5th and 99.5th
/// percentiles, scaled up by whole pixels and labelled.
pub fn cover_png(left: &Panel, right: &Panel) -> Result<Vec<u8>> {
    let mut cover = Image::new(2 * PANEL, PANEL);
    for (i, panel) in [left, right].into_iter().enumerate() {
        draw_panel(&mut cover, panel, i * PANEL);
    }
    cover
        .to_png()
        .map_err(|e| anyhow!("cannot encode the cover: {e}"))
}

fn draw_panel(cover: &mut Image, panel: &Panel, left: usize) {
    let [z, y, x] = panel.shape;
    let slice = &panel.data[(z / 2) * y * x..(z / 2 + 1) * y * x];
    let (low, high) = percentiles(slice);
    let zoom = (PANEL / y.max(x)).max(1);
    let (top, inset) = (
        (PANEL.saturating_sub(y * zoom)) / 2,
        (PANEL.saturating_sub(x * zoom)) / 2,
    );
    cover.fill(left as i64, 0, PANEL as i64, PANEL as i64, [0, 0, 0]);
    for row in 0..y.min(PANEL / zoom) {
        for col in 0..x.min(PANEL / zoom) {
            let t = ((slice[row * x + col] - low) / (high - low).max(f32::EPSILON)).clamp(0.0, 1.0);
            let color = panel.color.map(|c| (c as f32 * t).round() as u8);
            cover.fill(
                (left + inset + col * zoom) as i64,
                (top + row * zoom) as i64,
                zoom as i64,
                zoom as i64,
                color,
            );
        }
    }
    // The label on a black band, legible over any image.
    let width = silico_plot::font::text_length(panel.label, 2) as i64;
    cover.fill(left as i64 + 4, 4, width + 8, 22, [0, 0, 0]);
    cover.text(left as i64 + 8, 8, panel.label, 2, [255, 255, 255]);
}

/// The 0.5th and 99.5th percentiles of finite values (0 and 1 for none).
fn percentiles(values: &[f32]) -> (f32, f32) {
    let mut finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return (0.0, 1.0);
    }
    finite.sort_by(f32::total_cmp);
    let at = |q: f64| finite[((finite.len() - 1) as f64 * q).round() as usize];
    (at(0.005), at(0.995))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cover_is_two_to_one_with_both_slices_drawn() {
        let data: Vec<f32> = (0..2 * 4 * 4).map(|i| i as f32).collect();
        let panel = |label, color| Panel {
            data: &data,
            shape: [2, 4, 4],
            label,
            color,
        };
        let png = cover_png(&panel("in", [255, 255, 255]), &panel("out", [0, 255, 0])).unwrap();
        let image = Image::from_png(&png).unwrap();
        assert_eq!((image.width, image.height), (2 * PANEL, PANEL));
        // Bottom-right pixel of each panel: the slice's brightest voxel, in the panel's colour.
        assert_eq!(image.pixel(PANEL - 1, PANEL - 1), [255, 255, 255]);
        assert_eq!(image.pixel(2 * PANEL - 1, PANEL - 1), [0, 255, 0]);
        assert_eq!(image.pixel(PANEL + 100, 200)[0], 0);
    }
}
