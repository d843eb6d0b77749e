//! A labelled heat map of a square matrix (e.g. pairwise exclusivity between structures).

use crate::canvas::{viridis, Image, BLACK, GREY, WHITE};
use crate::font::{text_length, GLYPH_HEIGHT};
use crate::{Chart, PlotError};

/// What to draw: `values[row][column]`, one row and one column per label; NaN or infinite cells
/// are drawn grey and unlabelled.
#[derive(Clone, Copy, Debug)]
pub struct HeatMap<'a> {
    pub title: &'a str,
    /// One line under the title saying how to read a cell (may be empty).
    pub caption: &'a str,
    pub labels: &'a [String],
    pub values: &'a [Vec<f64>],
}

/// Label and value text is drawn at twice the font's size.
const SCALE: usize = 2;
/// Cell side in pixels.
pub const CELL: usize = 64;
const MARGIN: usize = 16;
const GAP: usize = 8;
const COLORBAR_WIDTH: usize = 20;
/// The colour of cells without a finite value.
pub const UNDEFINED: [u8; 3] = GREY;

/// Short enough to fit a cell: two decimals below 10, fewer above.
fn format_value(v: f64) -> String {
    match v.abs() {
        a if a < 10.0 => format!("{v:.2}"),
        a if a < 1000.0 => format!("{v:.1}"),
        _ => format!("{v:.0}"),
    }
}

/// Where the grid of cells starts: (left, top) in pixels.
pub fn grid_origin(map: &HeatMap<'_>) -> (usize, usize) {
    let label_length = map
        .labels
        .iter()
        .map(|l| text_length(l, SCALE))
        .max()
        .unwrap_or(0);
    let caption_top = MARGIN + GLYPH_HEIGHT * SCALE + GAP;
    let grid_top = caption_top + GLYPH_HEIGHT + 2 * GAP + label_length + GAP;
    (MARGIN + label_length + GAP, grid_top)
}

impl HeatMap<'_> {
    fn check(&self) -> Result<(), PlotError> {
        let n = self.labels.len();
        if n == 0 {
            return Err(PlotError::NoData {
                what: "the heat map's labels".to_string(),
            });
        }
        if self.values.len() != n {
            return Err(PlotError::LengthMismatch {
                what: "heat map rows (one per label)".to_string(),
                expected: n,
                got: self.values.len(),
            });
        }
        if let Some(row) = self.values.iter().find(|row| row.len() != n) {
            return Err(PlotError::LengthMismatch {
                what: "heat map columns (one per label)".to_string(),
                expected: n,
                got: row.len(),
            });
        }
        Ok(())
    }
}

impl Chart for HeatMap<'_> {
    /// Title, caption, column labels (upward) above, row labels at the left, one coloured cell
    /// per value (viridis over the finite values' range) with the value written in it, and a
    /// colour bar.
    fn render(&self) -> Result<Image, PlotError> {
        self.check()?;
        let map = self;
        let n = map.labels.len();
        let finite: Vec<f64> = map
            .values
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let low = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let high = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let position = |v: f64| {
            if high > low {
                (v - low) / (high - low)
            } else {
                0.5
            }
        };

        let label_length = map
            .labels
            .iter()
            .map(|l| text_length(l, SCALE))
            .max()
            .unwrap_or(0);
        let line = GLYPH_HEIGHT * SCALE;
        let caption_top = MARGIN + line + GAP;
        let (grid_left, grid_top) = grid_origin(map);
        let grid_side = n * CELL;
        let colorbar_left = grid_left + grid_side + 3 * GAP;
        let range_labels = [low, high].map(|v| {
            if v.is_finite() {
                format_value(v)
            } else {
                String::new()
            }
        });
        let range_length = range_labels
            .iter()
            .map(|l| text_length(l, SCALE))
            .max()
            .unwrap_or(0);
        let width = (colorbar_left + COLORBAR_WIDTH + GAP + range_length + MARGIN)
            .max(2 * MARGIN + text_length(map.title, SCALE))
            .max(2 * MARGIN + text_length(map.caption, 1));
        let height = grid_top + grid_side + MARGIN;

        let mut canvas = Image::new(width, height);
        let at = |v: usize| v as i64;
        canvas.text(at(MARGIN), at(MARGIN), map.title, SCALE, BLACK);
        canvas.text(at(MARGIN), at(caption_top), map.caption, 1, BLACK);
        for (i, label) in map.labels.iter().enumerate() {
            let offset = i * CELL + (CELL - line) / 2;
            canvas.text(
                at(MARGIN + label_length - text_length(label, SCALE)),
                at(grid_top + offset),
                label,
                SCALE,
                BLACK,
            );
            canvas.text_upward(
                at(grid_left + offset),
                at(grid_top - GAP),
                label,
                SCALE,
                BLACK,
            );
        }
        let cell = at(CELL - 1);
        for (row, values) in map.values.iter().enumerate() {
            for (column, &v) in values.iter().enumerate() {
                let (x, y) = (grid_left + column * CELL, grid_top + row * CELL);
                if !v.is_finite() {
                    canvas.fill(at(x), at(y), cell, cell, UNDEFINED);
                    continue;
                }
                let t = position(v);
                canvas.fill(at(x), at(y), cell, cell, viridis(t));
                let text = format_value(v);
                let scale = if text_length(&text, SCALE) + 4 <= CELL {
                    SCALE
                } else {
                    1
                };
                let ink = if t < 0.6 { WHITE } else { BLACK };
                canvas.text(
                    at(x + (CELL - text_length(&text, scale)) / 2),
                    at(y + (CELL - GLYPH_HEIGHT * scale) / 2),
                    &text,
                    scale,
                    ink,
                );
            }
        }
        for y in 0..grid_side {
            let t = 1.0 - y as f64 / (grid_side.max(2) - 1) as f64;
            canvas.fill(
                at(colorbar_left),
                at(grid_top + y),
                at(COLORBAR_WIDTH),
                1,
                viridis(t),
            );
        }
        let label_left = at(colorbar_left + COLORBAR_WIDTH + GAP);
        canvas.text(label_left, at(grid_top), &range_labels[1], SCALE, BLACK);
        canvas.text(
            label_left,
            at(grid_top + grid_side.saturating_sub(line)),
            &range_labels[0],
            SCALE,
            BLACK,
        );
        Ok(canvas)
    }
}

/// The heat map as PNG bytes.
pub fn heatmap_png(map: &HeatMap<'_>) -> Result<Vec<u8>, PlotError> {
    map.png()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_take_the_colours_of_their_values() {
        let labels = vec!["a".to_string(), "bb".to_string()];
        let values = vec![vec![f64::NAN, 2.0], vec![0.5, f64::NAN]];
        let map = HeatMap {
            title: "T",
            caption: "c",
            labels: &labels,
            values: &values,
        };
        let canvas = map.render().unwrap();
        let label_length = text_length("bb", SCALE);
        let grid_left = MARGIN + label_length + GAP;
        let grid_top =
            MARGIN + GLYPH_HEIGHT * SCALE + GAP + GLYPH_HEIGHT + 2 * GAP + label_length + GAP;
        assert_eq!(grid_origin(&map), (grid_left, grid_top));
        // Corners of cells, away from their text: the largest value is the top of the scale.
        assert_eq!(canvas.pixel(grid_left + 1, grid_top + 1), UNDEFINED);
        assert_eq!(
            canvas.pixel(grid_left + CELL + 1, grid_top + 1),
            viridis(1.0)
        );
        assert_eq!(
            canvas.pixel(grid_left + 1, grid_top + CELL + 1),
            viridis(0.0)
        );
        assert_eq!(canvas.height, grid_top + 2 * CELL + MARGIN);
    }

    #[test]
    fn empty_or_ragged_maps_are_errors() {
        let map = HeatMap {
            title: "T",
            caption: "",
            labels: &[],
            values: &[],
        };
        assert!(matches!(heatmap_png(&map), Err(PlotError::NoData { .. })));
        let labels = vec!["a".to_string(), "b".to_string()];
        let values = vec![vec![1.0, 2.0], vec![3.0]];
        let map = HeatMap {
            title: "T",
            caption: "",
            labels: &labels,
            values: &values,
        };
        assert!(matches!(
            heatmap_png(&map),
            Err(PlotError::LengthMismatch { got: 1, .. })
        ));
    }
}
