//! A labelled heat map of a square matrix as a PNG, drawn with a built-in 5 × 7 bitmap font so
//! that pictures need no font files or plotting library.
//!
//! Letters are drawn as capitals (the font has no lower case); characters the font lacks are
//! drawn as a hollow box.

use anyhow::{Context, Result};

/// What to draw: `values[row][column]`, NaN cells drawn grey and unlabelled.
pub struct HeatMap<'a> {
    pub title: &'a str,
    /// One line under the title saying how to read a cell.
    pub caption: &'a str,
    pub labels: &'a [String],
    pub values: &'a [Vec<f64>],
}

const GLYPH_WIDTH: usize = 5;
const GLYPH_HEIGHT: usize = 7;
/// Label and value text is drawn at twice the font's size.
const SCALE: usize = 2;
const CELL: usize = 64;
const MARGIN: usize = 16;
const GAP: usize = 8;
const COLORBAR_WIDTH: usize = 20;

const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];
const UNDEFINED: [u8; 3] = [200, 200, 200];

/// The font: seven rows of five pixels per character, `#` on.
const GLYPHS: &[(char, [&str; 7])] = &[
    (
        ' ',
        [
            ".....", ".....", ".....", ".....", ".....", ".....", ".....",
        ],
    ),
    (
        'A',
        [
            ".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#",
        ],
    ),
    (
        'B',
        [
            "####.", "#...#", "#...#", "####.", "#...#", "#...#", "####.",
        ],
    ),
    (
        'C',
        [
            ".###.", "#...#", "#....", "#....", "#....", "#...#", ".###.",
        ],
    ),
    (
        'D',
        [
            "####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####.",
        ],
    ),
    (
        'E',
        [
            "#####", "#....", "#....", "####.", "#....", "#....", "#####",
        ],
    ),
    (
        'F',
        [
            "#####", "#....", "#....", "####.", "#....", "#....", "#....",
        ],
    ),
    (
        'G',
        [
            ".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####",
        ],
    ),
    (
        'H',
        [
            "#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#",
        ],
    ),
    (
        'I',
        [
            ".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###.",
        ],
    ),
    (
        'J',
        [
            "..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##..",
        ],
    ),
    (
        'K',
        [
            "#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#",
        ],
    ),
    (
        'L',
        [
            "#....", "#....", "#....", "#....", "#....", "#....", "#####",
        ],
    ),
    (
        'M',
        [
            "#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#",
        ],
    ),
    (
        'N',
        [
            "#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#",
        ],
    ),
    (
        'O',
        [
            ".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###.",
        ],
    ),
    (
        'P',
        [
            "####.", "#...#", "#...#", "####.", "#....", "#....", "#....",
        ],
    ),
    (
        'Q',
        [
            ".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#",
        ],
    ),
    (
        'R',
        [
            "####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#",
        ],
    ),
    (
        'S',
        [
            ".####", "#....", "#....", ".###.", "....#", "....#", "####.",
        ],
    ),
    (
        'T',
        [
            "#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#..",
        ],
    ),
    (
        'U',
        [
            "#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###.",
        ],
    ),
    (
        'V',
        [
            "#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#..",
        ],
    ),
    (
        'W',
        [
            "#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#.",
        ],
    ),
    (
        'X',
        [
            "#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#",
        ],
    ),
    (
        'Y',
        [
            "#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#..",
        ],
    ),
    (
        'Z',
        [
            "#####", "....#", "...#.", "..#..", ".#...", "#....", "#####",
        ],
    ),
    (
        '0',
        [
            ".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###.",
        ],
    ),
    (
        '1',
        [
            "..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###.",
        ],
    ),
    (
        '2',
        [
            ".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####",
        ],
    ),
    (
        '3',
        [
            "####.", "....#", "....#", ".###.", "....#", "....#", "####.",
        ],
    ),
    (
        '4',
        [
            "...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#.",
        ],
    ),
    (
        '5',
        [
            "#####", "#....", "####.", "....#", "....#", "#...#", ".###.",
        ],
    ),
    (
        '6',
        [
            ".###.", "#....", "#....", "####.", "#...#", "#...#", ".###.",
        ],
    ),
    (
        '7',
        [
            "#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#...",
        ],
    ),
    (
        '8',
        [
            ".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###.",
        ],
    ),
    (
        '9',
        [
            ".###.", "#...#", "#...#", ".####", "....#", "....#", ".###.",
        ],
    ),
    (
        '.',
        [
            ".....", ".....", ".....", ".....", ".....", ".##..", ".##..",
        ],
    ),
    (
        ',',
        [
            ".....", ".....", ".....", ".....", ".##..", "..#..", ".#...",
        ],
    ),
    (
        ':',
        [
            ".....", ".##..", ".##..", ".....", ".##..", ".##..", ".....",
        ],
    ),
    (
        '-',
        [
            ".....", ".....", ".....", ".###.", ".....", ".....", ".....",
        ],
    ),
    (
        '+',
        [
            ".....", "..#..", "..#..", "#####", "..#..", "..#..", ".....",
        ],
    ),
    (
        '=',
        [
            ".....", ".....", "#####", ".....", "#####", ".....", ".....",
        ],
    ),
    (
        '_',
        [
            ".....", ".....", ".....", ".....", ".....", ".....", "#####",
        ],
    ),
    (
        '/',
        [
            "....#", "....#", "...#.", "..#..", ".#...", "#....", "#....",
        ],
    ),
    (
        '(',
        [
            "...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#.",
        ],
    ),
    (
        ')',
        [
            ".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#...",
        ],
    ),
    (
        '>',
        [
            ".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#...",
        ],
    ),
];
const MISSING_GLYPH: [&str; 7] = [
    "#####", "#...#", "#...#", "#...#", "#...#", "#...#", "#####",
];

fn glyph(c: char) -> &'static [&'static str; 7] {
    let c = match c.to_ascii_uppercase() {
        '−' => '-',
        other => other,
    };
    GLYPHS
        .iter()
        .find(|(g, _)| *g == c)
        .map_or(&MISSING_GLYPH, |(_, rows)| rows)
}

/// Pixels a line of text takes along its direction.
fn text_length(text: &str, scale: usize) -> usize {
    let n = text.chars().count();
    if n == 0 {
        0
    } else {
        (n * (GLYPH_WIDTH + 1) - 1) * scale
    }
}

/// An RGB image being drawn on.
struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Canvas {
            width,
            height,
            rgb: WHITE.repeat(width * height),
        }
    }

    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, color: [u8; 3]) {
        for row in y..(y + h).min(self.height) {
            for col in x..(x + w).min(self.width) {
                let i = (row * self.width + col) * 3;
                self.rgb[i..i + 3].copy_from_slice(&color);
            }
        }
    }

    /// Left to right from (x, y), the top-left corner.
    fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, color: [u8; 3]) {
        for (i, c) in text.chars().enumerate() {
            let left = x + i * (GLYPH_WIDTH + 1) * scale;
            for (gy, row) in glyph(c).iter().enumerate() {
                for (gx, pixel) in row.bytes().enumerate() {
                    if pixel == b'#' {
                        self.fill(left + gx * scale, y + gy * scale, scale, scale, color);
                    }
                }
            }
        }
    }

    /// Bottom to top (turned a quarter left), starting at (x, bottom) with the glyph tops at x.
    fn text_upward(&mut self, x: usize, bottom: usize, text: &str, scale: usize, color: [u8; 3]) {
        for (i, c) in text.chars().enumerate() {
            let start = i * (GLYPH_WIDTH + 1) * scale;
            for (gy, row) in glyph(c).iter().enumerate() {
                for (gx, pixel) in row.bytes().enumerate() {
                    let along = start + (gx + 1) * scale;
                    if pixel == b'#' && along <= bottom {
                        self.fill(x + gy * scale, bottom - along, scale, scale, color);
                    }
                }
            }
        }
    }
}

/// Viridis, sampled at five points and interpolated: perceptually ordered and readable in grey.
fn color(t: f64) -> [u8; 3] {
    const STOPS: [[f64; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    std::array::from_fn(|k| (STOPS[i][k] * (1.0 - f) + STOPS[i + 1][k] * f).round() as u8)
}

/// Short enough to fit a cell: two decimals below 10, fewer above.
fn format_value(v: f64) -> String {
    match v.abs() {
        a if a < 10.0 => format!("{v:.2}"),
        a if a < 1000.0 => format!("{v:.1}"),
        _ => format!("{v:.0}"),
    }
}

/// Draws `map` as an RGB image: title, caption, column labels (upward) above, row labels at the
/// left, one coloured cell per value with the value written in it, and a colour bar.
fn draw(map: &HeatMap<'_>) -> Canvas {
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
    let grid_top = caption_top + GLYPH_HEIGHT + 2 * GAP + label_length + GAP;
    let grid_left = MARGIN + label_length + GAP;
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

    let mut canvas = Canvas::new(width, height);
    canvas.text(MARGIN, MARGIN, map.title, SCALE, BLACK);
    canvas.text(MARGIN, caption_top, map.caption, 1, BLACK);
    for (i, label) in map.labels.iter().enumerate() {
        let offset = i * CELL + (CELL - line) / 2;
        canvas.text(
            MARGIN + label_length - text_length(label, SCALE),
            grid_top + offset,
            label,
            SCALE,
            BLACK,
        );
        canvas.text_upward(grid_left + offset, grid_top - GAP, label, SCALE, BLACK);
    }
    for (row, values) in map.values.iter().enumerate() {
        for (column, &v) in values.iter().enumerate() {
            let (x, y) = (grid_left + column * CELL, grid_top + row * CELL);
            if !v.is_finite() {
                canvas.fill(x, y, CELL - 1, CELL - 1, UNDEFINED);
                continue;
            }
            let t = position(v);
            canvas.fill(x, y, CELL - 1, CELL - 1, color(t));
            let text = format_value(v);
            let scale = if text_length(&text, SCALE) + 4 <= CELL {
                SCALE
            } else {
                1
            };
            let ink = if t < 0.6 { WHITE } else { BLACK };
            canvas.text(
                x + (CELL - text_length(&text, scale)) / 2,
                y + (CELL - GLYPH_HEIGHT * scale) / 2,
                &text,
                scale,
                ink,
            );
        }
    }
    for y in 0..grid_side {
        let t = 1.0 - y as f64 / (grid_side.max(2) - 1) as f64;
        canvas.fill(colorbar_left, grid_top + y, COLORBAR_WIDTH, 1, color(t));
    }
    let label_left = colorbar_left + COLORBAR_WIDTH + GAP;
    canvas.text(label_left, grid_top, &range_labels[1], SCALE, BLACK);
    canvas.text(
        label_left,
        grid_top + grid_side.saturating_sub(line),
        &range_labels[0],
        SCALE,
        BLACK,
    );
    canvas
}

/// The heat map as PNG bytes.
pub fn heatmap_png(map: &HeatMap<'_>) -> Result<Vec<u8>> {
    let canvas = draw(map);
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, canvas.width as u32, canvas.height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("encoding the heat map")?;
    writer
        .write_image_data(&canvas.rgb)
        .context("encoding the heat map")?;
    writer.finish().context("encoding the heat map")?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_glyph_is_five_by_seven() {
        for (c, rows) in GLYPHS {
            assert!(
                rows.iter()
                    .all(|r| r.len() == GLYPH_WIDTH && r.bytes().all(|b| b == b'#' || b == b'.')),
                "{c:?}"
            );
        }
        assert_eq!(glyph('a'), glyph('A'));
        assert_eq!(glyph('é'), &MISSING_GLYPH);
    }

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
        let canvas = draw(&map);
        let label_length = text_length("bb", SCALE);
        let grid_left = MARGIN + label_length + GAP;
        let grid_top =
            MARGIN + GLYPH_HEIGHT * SCALE + GAP + GLYPH_HEIGHT + 2 * GAP + label_length + GAP;
        let pixel = |x: usize, y: usize| {
            let i = (y * canvas.width + x) * 3;
            [canvas.rgb[i], canvas.rgb[i + 1], canvas.rgb[i + 2]]
        };
        // Corners of cells, away from their text: the largest value is the top of the scale.
        assert_eq!(pixel(grid_left + 1, grid_top + 1), UNDEFINED);
        assert_eq!(pixel(grid_left + CELL + 1, grid_top + 1), color(1.0));
        assert_eq!(pixel(grid_left + 1, grid_top + CELL + 1), color(0.0));
        assert_eq!(canvas.height, grid_top + 2 * CELL + MARGIN);
    }
}
