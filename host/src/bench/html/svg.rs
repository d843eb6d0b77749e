//! Inline SVG charts for the report, in the look of `silico-plot`'s PNG charts: its ranges, its
//! 1-2-5 (or decade) ticks and tick labels, light grey grid lines at the ticks, black left and
//! bottom axes, the Okabe–Ito palette and its four marker shapes. Legends are HTML beside the
//! chart (see [`legend`]), so that they wrap with the page.

use super::escape;
use silico_plot::axis::{axis_range, axis_ticks, Axis, Scale};
pub use silico_plot::canvas::Marker;
use silico_plot::canvas::{series_color, LIGHT_GREY};
use std::fmt::Write;

/// Tick labels and axis labels, in CSS pixels.
const FONT_SIZE: f64 = 11.0;
/// The width of one character of a tick label, to leave room for the widest.
const CHAR_WIDTH: f64 = 6.6;
const MARGIN: f64 = 10.0;
const TICK: f64 = 5.0;
const GAP: f64 = 4.0;
const MARKER_RADIUS: f64 = 4.0;

/// The colour of series `i`, as CSS: the palette of `silico-plot`.
pub fn color(i: usize) -> String {
    let [r, g, b] = series_color(i);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The SVG of `marker` centred at (x, y) with this fill; `title` is its tooltip.
fn marker_element(marker: Marker, x: f64, y: f64, r: f64, fill: &str, title: &str) -> String {
    let (shape, tag) = match marker {
        Marker::Circle => (
            format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r:.1}""#),
            "circle",
        ),
        Marker::Square => {
            let s = r * 0.9;
            let rect = format!(
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}""#,
                x - s,
                y - s,
                2.0 * s,
                2.0 * s
            );
            (rect, "rect")
        }
        Marker::Diamond => {
            let s = r * 1.25;
            let polygon = format!(
                r#"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}""#,
                y - s,
                x + s,
                y + s,
                x - s
            );
            (polygon, "polygon")
        }
        Marker::Triangle => {
            let s = r * 1.3;
            let polygon = format!(
                r#"<polygon points="{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}""#,
                y - s,
                x + s * 0.87,
                y + s * 0.5,
                x - s * 0.87,
                y + s * 0.5
            );
            (polygon, "polygon")
        }
    };
    let title = if title.is_empty() {
        String::new()
    } else {
        format!("<title>{}</title>", escape(title))
    };
    format!(r##"{shape} fill="{fill}" stroke="#000" stroke-width="0.6">{title}</{tag}>"##)
}

/// A small SVG of `marker` alone, for a legend.
pub fn marker_swatch(marker: Marker, fill: &str) -> String {
    format!(
        r#"<svg class="swatch" width="14" height="14" viewBox="0 0 14 14" aria-hidden="true">{}</svg>"#,
        marker_element(marker, 7.0, 7.0, MARKER_RADIUS, fill, "")
    )
}

/// A line swatch in `stroke` with this dash pattern, for a legend.
pub fn line_swatch(stroke: &str, dash: &str) -> String {
    format!(
        r#"<svg class="swatch" width="26" height="14" viewBox="0 0 26 14" aria-hidden="true"><line x1="1" y1="7" x2="25" y2="7" stroke="{stroke}" stroke-width="2" stroke-dasharray="{dash}"/></svg>"#
    )
}

/// A filled box swatch, for a legend.
pub fn box_swatch(fill: &str) -> String {
    format!(
        r##"<svg class="swatch" width="14" height="14" viewBox="0 0 14 14" aria-hidden="true"><rect x="1" y="1" width="12" height="12" fill="{fill}" stroke="#000" stroke-width="0.8"/></svg>"##
    )
}

/// A legend: each entry a swatch (SVG) and its name (text, escaped here).
pub fn legend(entries: &[(String, String)]) -> String {
    let mut html = String::from(r#"<div class="legend">"#);
    for (swatch, name) in entries {
        let _ = write!(html, "<span>{swatch}{}</span>", escape(name));
    }
    html.push_str("</div>");
    html
}

/// The dash pattern of line style `i`: solid, dashed, dotted, dash-dot.
pub fn dash(i: usize) -> &'static str {
    ["none", "6 3", "2 2", "8 3 2 3"][i % 4]
}

/// An x–y chart under construction: the frame is drawn, data are added in data units.
pub struct Chart {
    width: f64,
    height: f64,
    x: Scale,
    y: Scale,
    body: String,
}

impl Chart {
    /// A frame for the values `xs` × `ys` on these axes (ranges and ticks as `silico-plot`
    /// chooses them); `None` where either axis has nothing drawable.
    pub fn new(
        width: f64,
        height: f64,
        x_axis: &Axis,
        y_axis: &Axis,
        xs: &[f64],
        ys: &[f64],
    ) -> Option<Self> {
        let (x_low, x_high) = axis_range(x_axis, xs.iter().copied(), "x").ok()?;
        let (y_low, y_high) = axis_range(y_axis, ys.iter().copied(), "y").ok()?;
        let y_ticks = axis_ticks(
            y_axis,
            y_low,
            y_high,
            ((height - 60.0) / 40.0).clamp(2.0, 8.0) as usize,
        );
        let widest_y_tick = y_ticks
            .iter()
            .map(|(_, t)| t.chars().count())
            .max()
            .unwrap_or(0);
        let y_label = if y_axis.label.is_empty() {
            0.0
        } else {
            FONT_SIZE + 2.0 * GAP
        };
        let x_label = if x_axis.label.is_empty() {
            0.0
        } else {
            FONT_SIZE + GAP
        };
        let left = MARGIN + y_label + widest_y_tick as f64 * CHAR_WIDTH + GAP + TICK;
        let bottom = height - (TICK + GAP + FONT_SIZE + x_label + MARGIN);
        let (right, top) = (width - MARGIN - 4.0, MARGIN);
        let x = Scale {
            low: x_low,
            high: x_high,
            log10: x_axis.log10,
            pixel_low: left,
            pixel_high: right,
        };
        let y = Scale {
            low: y_low,
            high: y_high,
            log10: y_axis.log10,
            pixel_low: bottom,
            pixel_high: top,
        };
        // As many x ticks as leave room between neighbouring labels.
        let x_ticks = if x_axis.ticks.is_some() {
            axis_ticks(x_axis, x_low, x_high, 8)
        } else {
            (2..=8)
                .rev()
                .map(|target| axis_ticks(x_axis, x_low, x_high, target))
                .find(|ticks| {
                    let widest = ticks
                        .iter()
                        .map(|(_, t)| t.chars().count())
                        .max()
                        .unwrap_or(0) as f64
                        * CHAR_WIDTH;
                    let pixels: Vec<f64> = ticks.iter().filter_map(|(v, _)| x.pixel(*v)).collect();
                    pixels
                        .windows(2)
                        .all(|w| (w[1] - w[0]).abs() >= widest + 3.0 * GAP)
                })
                .unwrap_or_else(|| axis_ticks(x_axis, x_low, x_high, 1))
        };
        let [r, g, b] = LIGHT_GREY;
        let grid = format!("#{r:02x}{g:02x}{b:02x}");
        let mut body = String::new();
        for (v, _) in y_ticks.iter().filter(|(v, _)| y.contains(*v)) {
            let p = y.pixel(*v).unwrap_or(bottom);
            let _ = write!(
                body,
                r#"<line x1="{left:.1}" y1="{p:.1}" x2="{right:.1}" y2="{p:.1}" stroke="{grid}"/>"#
            );
        }
        // Named ticks are categories (box plot groups): no grid line through their boxes.
        let x_grid = if x_axis.ticks.is_some() {
            &[][..]
        } else {
            &x_ticks[..]
        };
        for (v, _) in x_grid.iter().filter(|(v, _)| x.contains(*v)) {
            let p = x.pixel(*v).unwrap_or(left);
            let _ = write!(
                body,
                r#"<line x1="{p:.1}" y1="{top:.1}" x2="{p:.1}" y2="{bottom:.1}" stroke="{grid}"/>"#
            );
        }
        let _ = write!(
            body,
            r##"<path d="M{left:.1},{top:.1} V{bottom:.1} H{right:.1}" fill="none" stroke="#000"/>"##
        );
        for (v, label) in y_ticks.iter().filter(|(v, _)| y.contains(*v)) {
            let p = y.pixel(*v).unwrap_or(bottom);
            let _ = write!(
                body,
                r##"<line x1="{:.1}" y1="{p:.1}" x2="{left:.1}" y2="{p:.1}" stroke="#000"/><text x="{:.1}" y="{p:.1}" text-anchor="end" dominant-baseline="central">{}</text>"##,
                left - TICK,
                left - TICK - GAP,
                escape(label)
            );
        }
        for (v, label) in x_ticks.iter().filter(|(v, _)| x.contains(*v)) {
            let p = x.pixel(*v).unwrap_or(left);
            let _ = write!(
                body,
                r##"<line x1="{p:.1}" y1="{bottom:.1}" x2="{p:.1}" y2="{:.1}" stroke="#000"/><text x="{p:.1}" y="{:.1}" text-anchor="middle" dominant-baseline="hanging">{}</text>"##,
                bottom + TICK,
                bottom + TICK + GAP,
                escape(label)
            );
        }
        if !x_axis.label.is_empty() {
            let _ = write!(
                body,
                r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                (left + right) / 2.0,
                height - MARGIN,
                escape(&x_axis.label)
            );
        }
        if !y_axis.label.is_empty() {
            let (cx, cy) = (MARGIN + FONT_SIZE / 2.0, (top + bottom) / 2.0);
            let _ = write!(
                body,
                r#"<text class="axis-label" x="{cx:.1}" y="{cy:.1}" text-anchor="middle" dominant-baseline="central" transform="rotate(-90 {cx:.1} {cy:.1})">{}</text>"#,
                escape(&y_axis.label)
            );
        }
        Some(Self {
            width,
            height,
            x,
            y,
            body,
        })
    }

    /// The pixel of a data point; `None` where it cannot be drawn (NaN, ≤ 0 on a log axis).
    pub fn pixel(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        Some((self.x.pixel(x)?, self.y.pixel(y)?))
    }

    /// The pixel of `v` on the y axis.
    pub fn y_pixel(&self, v: f64) -> Option<f64> {
        self.y.pixel(v)
    }

    /// The pixel of `v` on the x axis.
    pub fn x_pixel(&self, v: f64) -> Option<f64> {
        self.x.pixel(v)
    }

    /// A line through the drawable points (others break nothing: they are left out).
    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, dash: &str, title: &str) {
        let mut coordinates = String::new();
        for (px, py) in points.iter().filter_map(|&(x, y)| self.pixel(x, y)) {
            let _ = write!(coordinates, "{px:.1},{py:.1} ");
        }
        let _ = write!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{stroke}" stroke-width="1.6" stroke-dasharray="{dash}" stroke-linejoin="round"><title>{}</title></polyline>"#,
            coordinates.trim_end(),
            escape(title)
        );
    }

    /// A marker at a data point, with a tooltip; nothing where the point cannot be drawn.
    pub fn marker(&mut self, x: f64, y: f64, marker: Marker, fill: &str, title: &str) {
        if let Some((px, py)) = self.pixel(x, y) {
            self.body
                .push_str(&marker_element(marker, px, py, MARKER_RADIUS, fill, title));
        }
    }

    /// Raw SVG in pixel coordinates (boxes, whiskers).
    pub fn raw(&mut self, svg: &str) {
        self.body.push_str(svg);
    }

    /// The finished `<svg>` element; `label` describes it for screen readers.
    pub fn finish(self, label: &str) -> String {
        format!(
            r#"<svg class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{}" font-size="{FONT_SIZE}">{}</svg>"#,
            escape(label),
            self.body,
            w = self.width,
            h = self.height,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_chart_skips_what_it_cannot_draw_and_escapes_its_text() {
        let axis = Axis::log("a < b");
        let mut chart =
            Chart::new(300.0, 200.0, &axis, &axis, &[0.1, 10.0], &[1.0, 100.0]).unwrap();
        chart.marker(-1.0, 5.0, Marker::Circle, "#000", "never drawn");
        chart.marker(1.0, 10.0, Marker::Diamond, "#000", "x & y");
        let svg = chart.finish("chart");
        assert!(!svg.contains("never drawn"));
        assert!(svg.contains("<title>x &amp; y</title>"));
        assert!(svg.contains(">a &lt; b</text>"));
        assert!(Chart::new(300.0, 200.0, &axis, &axis, &[-1.0], &[1.0]).is_none());
    }
}
