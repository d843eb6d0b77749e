//! The RGB image charts are drawn on, its drawing primitives, colours and PNG encoding.

use crate::font::{glyph, glyph_offset, GLYPH_WIDTH};
use crate::PlotError;

/// An RGB colour.
pub type Rgb = [u8; 3];

pub const WHITE: Rgb = [255, 255, 255];
pub const BLACK: Rgb = [0, 0, 0];
/// Grid lines, undefined heat-map cells and segments joining points.
pub const LIGHT_GREY: Rgb = [225, 225, 225];
pub const GREY: Rgb = [200, 200, 200];
pub const DARK_GREY: Rgb = [110, 110, 110];

/// The Okabe–Ito palette (colour-blind safe), black left out since axes and text are black;
/// series `i` gets `PALETTE[i % 7]`.
pub const PALETTE: [Rgb; 7] = [
    [230, 159, 0],   // orange
    [86, 180, 233],  // sky blue
    [0, 158, 115],   // bluish green
    [213, 94, 0],    // vermillion
    [0, 114, 178],   // blue
    [204, 121, 167], // reddish purple
    [240, 228, 66],  // yellow
];

/// The colour of series `i`.
pub fn series_color(i: usize) -> Rgb {
    PALETTE[i % PALETTE.len()]
}

/// `color` mixed with white: 0 gives `color`, 1 white.
pub fn lighten(color: Rgb, amount: f64) -> Rgb {
    color.map(|c| (f64::from(c) + (255.0 - f64::from(c)) * amount.clamp(0.0, 1.0)).round() as u8)
}

/// Viridis, sampled at five points and interpolated: perceptually ordered and readable in grey.
pub fn viridis(t: f64) -> Rgb {
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

/// Point marker shapes, cycled through by series so that series differ in more than colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Diamond,
    Triangle,
}

impl Marker {
    /// The marker of series `i`.
    pub fn of_series(i: usize) -> Self {
        [Self::Circle, Self::Square, Self::Diamond, Self::Triangle][i % 4]
    }
}

/// A rectangle of pixels: columns `left..left + width`, rows `top..top + height`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub left: i64,
    pub top: i64,
    pub width: i64,
    pub height: i64,
}

impl Rect {
    pub fn right(&self) -> i64 {
        self.left + self.width
    }

    pub fn bottom(&self) -> i64 {
        self.top + self.height
    }

    pub fn contains(&self, x: i64, y: i64) -> bool {
        x >= self.left && x < self.right() && y >= self.top && y < self.bottom()
    }
}

/// An RGB image, row by row, three bytes a pixel; drawing outside it is clipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl Image {
    /// A white image.
    pub fn new(width: usize, height: usize) -> Self {
        Image {
            width,
            height,
            rgb: WHITE.repeat(width * height),
        }
    }

    /// The colour at column `x`, row `y`.
    pub fn pixel(&self, x: usize, y: usize) -> Rgb {
        let i = (y * self.width + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Sets one pixel; outside the image nothing happens.
    pub fn set(&mut self, x: i64, y: i64, color: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = (y as usize * self.width + x as usize) * 3;
            self.rgb[i..i + 3].copy_from_slice(&color);
        }
    }

    /// Fills `w × h` pixels from the top-left corner (x, y).
    pub fn fill(&mut self, x: i64, y: i64, w: i64, h: i64, color: Rgb) {
        let (x0, y0) = (x.max(0), y.max(0));
        let x1 = (x + w).min(self.width as i64);
        let y1 = (y + h).min(self.height as i64);
        for row in y0..y1 {
            for col in x0..x1 {
                let i = (row as usize * self.width + col as usize) * 3;
                self.rgb[i..i + 3].copy_from_slice(&color);
            }
        }
    }

    /// The outline of a rectangle, one pixel wide.
    pub fn outline(&mut self, rect: Rect, color: Rgb) {
        self.fill(rect.left, rect.top, rect.width, 1, color);
        self.fill(rect.left, rect.bottom() - 1, rect.width, 1, color);
        self.fill(rect.left, rect.top, 1, rect.height, color);
        self.fill(rect.right() - 1, rect.top, 1, rect.height, color);
    }

    /// A straight line from `from` to `to` (pixel coordinates, sub-pixel allowed), `thickness`
    /// pixels wide, drawn only inside `clip` when given.
    pub fn line(
        &mut self,
        from: (f64, f64),
        to: (f64, f64),
        thickness: usize,
        color: Rgb,
        clip: Option<Rect>,
    ) {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let steps = (dx.abs().max(dy.abs()) * 2.0).ceil().max(1.0) as usize;
        let half = (thickness as f64 - 1.0) / 2.0;
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (x, y) = (from.0 + dx * t, from.1 + dy * t);
            let (left, top) = ((x - half).round() as i64, (y - half).round() as i64);
            for row in top..top + thickness as i64 {
                for col in left..left + thickness as i64 {
                    if clip.is_none_or(|c| c.contains(col, row)) {
                        self.set(col, row, color);
                    }
                }
            }
        }
    }

    /// A line ending in an arrow head at `to`.
    pub fn arrow(
        &mut self,
        from: (f64, f64),
        to: (f64, f64),
        thickness: usize,
        color: Rgb,
        clip: Option<Rect>,
    ) {
        self.line(from, to, thickness, color, clip);
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let length = dx.hypot(dy);
        if length < 1.0 {
            return;
        }
        let head = 9.0_f64.min(length * 0.6);
        let (ux, uy) = (dx / length, dy / length);
        let (c, s) = (25f64.to_radians().cos(), 25f64.to_radians().sin());
        for sign in [-1.0, 1.0] {
            let (bx, by) = (-(ux * c - sign * uy * s), -(sign * ux * s + uy * c));
            self.line(
                to,
                (to.0 + bx * head, to.1 + by * head),
                thickness,
                color,
                clip,
            );
        }
    }

    /// A filled marker of about `radius` pixels centred on (x, y).
    pub fn marker(&mut self, x: f64, y: f64, radius: f64, marker: Marker, color: Rgb) {
        let r = radius.ceil() as i64 + 1;
        let (cx, cy) = (x.round() as i64, y.round() as i64);
        for row in cy - r..=cy + r {
            for col in cx - r..=cx + r {
                let (u, v) = ((col - cx) as f64, (row - cy) as f64);
                let inside = match marker {
                    Marker::Circle => u * u + v * v <= radius * radius + 0.5,
                    Marker::Square => u.abs().max(v.abs()) <= radius * 0.85,
                    Marker::Diamond => u.abs() + v.abs() <= radius * 1.2,
                    // Apex up, base at +0.8 r.
                    Marker::Triangle => {
                        v <= radius * 0.8 && v >= -radius && u.abs() <= (v + radius) * 0.6
                    }
                };
                if inside {
                    self.set(col, row, color);
                }
            }
        }
    }

    /// `text` left to right from (x, y), the top-left corner.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: usize, color: Rgb) {
        let s = scale as i64;
        for (i, c) in text.chars().enumerate() {
            let left = x + (i * (GLYPH_WIDTH + 1) * scale) as i64;
            let top = y + (glyph_offset(c) * scale) as i64;
            for (gy, row) in glyph(c).iter().enumerate() {
                for (gx, pixel) in row.bytes().enumerate() {
                    if pixel == b'#' {
                        self.fill(left + gx as i64 * s, top + gy as i64 * s, s, s, color);
                    }
                }
            }
        }
    }

    /// `text` bottom to top (turned a quarter left), starting at (x, bottom) with the glyph tops
    /// at column x.
    pub fn text_upward(&mut self, x: i64, bottom: i64, text: &str, scale: usize, color: Rgb) {
        let s = scale as i64;
        for (i, c) in text.chars().enumerate() {
            let start = (i * (GLYPH_WIDTH + 1) * scale) as i64;
            let across = x + (glyph_offset(c) * scale) as i64;
            for (gy, row) in glyph(c).iter().enumerate() {
                for (gx, pixel) in row.bytes().enumerate() {
                    let along = start + (gx as i64 + 1) * s;
                    if pixel == b'#' {
                        self.fill(across + gy as i64 * s, bottom - along, s, s, color);
                    }
                }
            }
        }
    }

    /// Copies `other` with its top-left corner at (x, y).
    pub fn blit(&mut self, other: &Image, x: usize, y: usize) {
        for row in 0..other.height.min(self.height.saturating_sub(y)) {
            let w = other.width.min(self.width.saturating_sub(x));
            let src = row * other.width * 3;
            let dst = ((y + row) * self.width + x) * 3;
            self.rgb[dst..dst + w * 3].copy_from_slice(&other.rgb[src..src + w * 3]);
        }
    }

    /// The image as PNG bytes (8-bit RGB).
    pub fn to_png(&self) -> Result<Vec<u8>, PlotError> {
        let encode = |e: png::EncodingError| PlotError::Encode(e.to_string());
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(encode)?;
        writer.write_image_data(&self.rgb).map_err(encode)?;
        writer.finish().map_err(encode)?;
        Ok(bytes)
    }

    /// Decodes an 8-bit RGB or RGBA PNG (alpha dropped), e.g. to put it in a [`crate::panel()`].
    pub fn from_png(bytes: &[u8]) -> Result<Self, PlotError> {
        let decode = |e: png::DecodingError| PlotError::Decode(e.to_string());
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().map_err(decode)?;
        let mut buffer = vec![0; reader.output_buffer_size().unwrap_or(0)];
        let info = reader.next_frame(&mut buffer).map_err(decode)?;
        let (width, height) = (info.width as usize, info.height as usize);
        let channels = match (info.color_type, info.bit_depth) {
            (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
            (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
            (png::ColorType::Grayscale, png::BitDepth::Eight) => 1,
            (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight) => 2,
            other => {
                return Err(PlotError::Decode(format!(
                    "unsupported PNG colour type {other:?}"
                )))
            }
        };
        let rgb = buffer[..width * height * channels]
            .chunks_exact(channels)
            .flat_map(|p| match channels {
                1 | 2 => [p[0]; 3],
                _ => [p[0], p[1], p[2]],
            })
            .collect();
        Ok(Image { width, height, rgb })
    }
}
