//! Several charts side by side (and in rows) in one image, e.g. a 3D shape embedding shown as
//! PC1–PC2, PC1–PC3 and PC2–PC3 scatter panels.

use crate::axis::{GAP, MARGIN, SCALE};
use crate::canvas::{Image, BLACK};
use crate::font::{text_height, text_length};
use crate::{Chart, PlotError};

/// The charts laid out `columns` to a row (0 means all in one row), each in a cell as large as
/// the largest chart, under an optional overall title.
pub fn panel_image(title: &str, columns: usize, charts: &[&dyn Chart]) -> Result<Image, PlotError> {
    if charts.is_empty() {
        return Err(PlotError::NoData {
            what: "the panel (no charts)".to_string(),
        });
    }
    let images = charts
        .iter()
        .map(|c| c.render())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(arrange(title, columns, &images))
}

/// [`panel_image`] as PNG bytes.
pub fn panel(title: &str, columns: usize, charts: &[&dyn Chart]) -> Result<Vec<u8>, PlotError> {
    panel_image(title, columns, charts)?.to_png()
}

/// Places rendered images in a grid under `title`.
pub fn arrange(title: &str, columns: usize, images: &[Image]) -> Image {
    let columns = if columns == 0 {
        images.len()
    } else {
        columns.min(images.len())
    }
    .max(1);
    let rows = images.len().div_ceil(columns);
    let cell_w = images.iter().map(|i| i.width).max().unwrap_or(0);
    let cell_h = images.iter().map(|i| i.height).max().unwrap_or(0);
    let top = if title.is_empty() {
        0
    } else {
        (MARGIN + GAP) as usize + text_height(SCALE)
    };
    let width = (columns * cell_w).max(2 * MARGIN as usize + text_length(title, SCALE));
    let mut image = Image::new(width, top + rows * cell_h);
    if !title.is_empty() {
        image.text(MARGIN, MARGIN, title, SCALE, BLACK);
    }
    for (i, chart) in images.iter().enumerate() {
        let (row, column) = (i / columns, i % columns);
        image.blit(chart, column * cell_w, top + row * cell_h);
    }
    image
}

impl Chart for Image {
    /// An already drawn image (e.g. decoded with [`Image::from_png`]) as a panel cell.
    fn render(&self) -> Result<Image, PlotError> {
        Ok(self.clone())
    }
}
