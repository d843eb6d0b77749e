//! Axes: automatic ranges, "nice" ticks (steps of 1, 2 or 5 × 10ᵏ, or decades on log axes),
//! tick labels, and the frame every x–y chart shares (title, plot area, axes, legend).

use crate::canvas::{series_color, Image, Marker, Rect, Rgb, BLACK, LIGHT_GREY};
use crate::font::{text_height, text_length};
use crate::PlotError;

/// How one axis is drawn. The default is a linear axis with an automatic range and ticks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Axis {
    /// Written along the axis.
    pub label: String,
    /// A log10 axis: values ≤ 0 are skipped like NaN; ticks at decades.
    pub log10: bool,
    /// `(min, max)` instead of the range of the data plus padding.
    pub range: Option<(f64, f64)>,
    /// `(value, label)` ticks instead of automatic ones, e.g. named steps along x.
    pub ticks: Option<Vec<(f64, String)>>,
}

impl Axis {
    /// A linear axis with this label.
    pub fn new(label: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            ..Axis::default()
        }
    }

    /// A log10 axis with this label.
    pub fn log(label: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            log10: true,
            ..Axis::default()
        }
    }

    /// Whether `v` can be drawn on this axis (finite, and positive on a log axis).
    pub fn accepts(&self, v: f64) -> bool {
        v.is_finite() && (!self.log10 || v > 0.0)
    }
}

/// The fraction of the data's span added on each side of an automatic range.
pub const PADDING: f64 = 0.05;

/// The smallest "nice" step (1, 2 or 5 × 10ᵏ) at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !(raw > 0.0 && raw.is_finite()) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    // Tolerate rounding in raw (e.g. 0.2000000001 is a step of 0.2).
    let nice = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|&n| fraction <= n * (1.0 + 1e-9))
        .unwrap_or(10.0);
    nice * magnitude
}

/// Ticks at multiples of a nice step inside `[low, high]`, about `target` of them (at least 2
/// where the range allows). Values are exact multiples `k · step`, with rounding noise removed.
pub fn linear_ticks(low: f64, high: f64, target: usize) -> Vec<f64> {
    if !(low.is_finite() && high.is_finite()) || high < low {
        return Vec::new();
    }
    if high == low {
        return vec![low];
    }
    // Of the nice steps near span / target, the one whose tick count is closest to
    // target + 1 (ties: the larger step).
    let base = nice_step((high - low) / target.max(1) as f64);
    let count = |step: f64| ticks_with_step(low, high, step).len();
    let wanted = target.max(1) + 1;
    let step = [base * 2.5, base, base / 2.5, base / 2.0, base * 2.0]
        .into_iter()
        .map(nice_step)
        .fold(None::<(f64, usize)>, |best, step| {
            let miss = count(step).abs_diff(wanted);
            match best {
                Some((b, m)) if m < miss || (m == miss && b >= step) => Some((b, m)),
                _ => Some((step, miss)),
            }
        })
        .map_or(base, |(step, _)| step);
    ticks_with_step(low, high, step)
}

/// The multiples of `step` inside `[low, high]`.
fn ticks_with_step(low: f64, high: f64, step: f64) -> Vec<f64> {
    let tolerance = step * 1e-9;
    let first = ((low - tolerance) / step).ceil() as i64;
    let last = ((high + tolerance) / step).floor() as i64;
    (first..=last)
        .map(|k| clean(k as f64 * step, step))
        .collect()
}

/// `v` rounded to the decimals that `step` needs, so that 3 × 0.1 is 0.3.
fn clean(v: f64, step: f64) -> f64 {
    let decimals = (-step.log10().floor()).max(0.0) as i32 + 1;
    if decimals > 15 {
        return v;
    }
    let factor = 10f64.powi(decimals);
    let rounded = (v * factor).round() / factor;
    if rounded == 0.0 {
        0.0
    } else {
        rounded
    }
}

/// Ticks for a log10 axis over `[low, high]` (both > 0): each decade 10ᵏ inside; every
/// n-th decade if there are more than `target` of them; with 2 × and 5 × 10ᵏ added if fewer
/// than three decades fall inside; and linear ticks if not even those give two.
pub fn log_ticks(low: f64, high: f64, target: usize) -> Vec<f64> {
    if !(low > 0.0 && high.is_finite()) || high < low {
        return Vec::new();
    }
    let (a, b) = (low.log10(), high.log10());
    let first = (a - 1e-9).ceil() as i32;
    let last = (b + 1e-9).floor() as i32;
    let decades = if last >= first {
        (last - first + 1) as usize
    } else {
        0
    };
    if decades >= 3 {
        let every = decades.div_ceil(target.max(2)).max(1) as i32;
        let start = first + (every - first.rem_euclid(every)) % every;
        return (start..=last)
            .step_by(every as usize)
            .map(|k| 10f64.powi(k))
            .collect();
    }
    let mut ticks: Vec<f64> = (first - 1..=last + 1)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
        .filter(|&v| v >= low * (1.0 - 1e-9) && v <= high * (1.0 + 1e-9))
        .collect();
    if ticks.len() < 2 {
        ticks = linear_ticks(low, high, target)
            .into_iter()
            .filter(|&v| v > 0.0)
            .collect();
    }
    ticks
}

/// A tick label: as many decimals as `step` needs; exponent notation for very large or small
/// magnitudes (`1e-5`, `2.5e6`).
pub fn format_tick(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let magnitude = v.abs();
    if !(1e-4..1e6).contains(&magnitude) {
        let text = format!("{v:e}");
        // Rust writes 1e-5 and 2.5e6 already; trim long mantissas.
        return match text.split_once('e') {
            Some((mantissa, exponent)) if mantissa.len() > 5 => {
                let m: f64 = mantissa.parse().unwrap_or(0.0);
                format!("{}e{exponent}", format_decimals(m, 2))
            }
            _ => text,
        };
    }
    let decimals = if step > 0.0 && step.is_finite() {
        (-(step.log10() + 1e-9).floor()).max(0.0) as usize
    } else {
        2
    };
    format_decimals(v, decimals.min(6))
}

/// `v` with at most `decimals` decimals, trailing zeros removed.
fn format_decimals(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A mapping of data values on one axis to pixel positions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// Data range (in data units, also for log axes).
    pub low: f64,
    pub high: f64,
    pub log10: bool,
    /// Pixel positions of `low` and `high` (for y, `low` is at the bottom).
    pub pixel_low: f64,
    pub pixel_high: f64,
}

impl Scale {
    /// The pixel position of `v`, or `None` if it cannot be drawn (NaN, ≤ 0 on a log axis).
    pub fn pixel(&self, v: f64) -> Option<f64> {
        let t = self.fraction(v)?;
        Some(self.pixel_low + t * (self.pixel_high - self.pixel_low))
    }

    /// Where `v` lies between `low` (0) and `high` (1), on the axis's scale.
    pub fn fraction(&self, v: f64) -> Option<f64> {
        if !v.is_finite() || (self.log10 && v <= 0.0) {
            return None;
        }
        let (a, b, x) = if self.log10 {
            (self.low.log10(), self.high.log10(), v.log10())
        } else {
            (self.low, self.high, v)
        };
        Some(if b > a { (x - a) / (b - a) } else { 0.5 })
    }

    /// Whether `v` lies inside the range.
    pub fn contains(&self, v: f64) -> bool {
        self.fraction(v)
            .is_some_and(|t| (-1e-9..=1.0 + 1e-9).contains(&t))
    }
}

/// The range an axis shows: `axis.range` if set, otherwise the drawable values' range padded by
/// [`PADDING`] of its span on each side (on log axes, in log space), or around a single value.
pub fn axis_range(
    axis: &Axis,
    values: impl IntoIterator<Item = f64>,
    what: &str,
) -> Result<(f64, f64), PlotError> {
    if let Some((low, high)) = axis.range {
        let valid = low.is_finite() && high.is_finite() && high > low;
        if !valid || (axis.log10 && low <= 0.0) {
            return Err(PlotError::InvalidRange {
                axis: what.to_string(),
                low,
                high,
            });
        }
        return Ok((low, high));
    }
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|&v| axis.accepts(v)) {
        let v = if axis.log10 { v.log10() } else { v };
        low = low.min(v);
        high = high.max(v);
    }
    if low > high {
        return Err(PlotError::NoData {
            what: format!("the {what} axis"),
        });
    }
    let span = high - low;
    let pad = if span > 0.0 {
        span * PADDING
    } else if axis.log10 {
        0.5
    } else if low != 0.0 {
        low.abs() * 0.1
    } else {
        1.0
    };
    let (low, high) = (low - pad, high + pad);
    Ok(if axis.log10 {
        (10f64.powf(low), 10f64.powf(high))
    } else {
        (low, high)
    })
}

/// The ticks of an axis over `[low, high]`: the axis's own, or automatic ones.
pub fn axis_ticks(axis: &Axis, low: f64, high: f64, target: usize) -> Vec<(f64, String)> {
    if let Some(ticks) = &axis.ticks {
        return ticks.clone();
    }
    let values = if axis.log10 {
        log_ticks(low, high, target)
    } else {
        linear_ticks(low, high, target)
    };
    // The label precision follows the smallest gap between ticks.
    let step = values
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    let step = if step.is_finite() { step } else { high - low };
    values
        .into_iter()
        .map(|v| {
            // On a log axis, decades need the value's own precision; ticks closer than their
            // magnitude (a narrow range) need the gap's.
            let local = if axis.log10 { v.min(step) } else { step };
            (v, format_tick(v, local))
        })
        .collect()
}

/// Text scale of titles, axis labels, tick labels and legends.
pub const SCALE: usize = 2;
/// Text scale of captions and per-point labels.
pub const SMALL: usize = 1;
pub const MARGIN: i64 = 16;
pub const GAP: i64 = 8;
pub const TICK: i64 = 5;
/// Marker radius in pixels.
pub const MARKER_RADIUS: f64 = 4.0;

/// One legend row.
#[derive(Clone, Debug)]
pub struct LegendEntry {
    pub name: String,
    pub color: Rgb,
    pub marker: Option<Marker>,
}

/// The laid-out frame of an x–y chart: image size, plot area and the two scales. Charts expose
/// it (e.g. `LineChart::frame`) so that data can be mapped to pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    /// The plot area; data are drawn inside it.
    pub area: Rect,
    pub x: Scale,
    pub y: Scale,
    pub x_ticks: Vec<(f64, String)>,
    pub y_ticks: Vec<(f64, String)>,
}

impl Frame {
    /// The pixel (column, row) of a data point, `None` if either value cannot be drawn.
    pub fn to_pixel(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        Some((self.x.pixel(x)?, self.y.pixel(y)?))
    }

    /// Whether a data point lies inside the shown ranges.
    pub fn shows(&self, x: f64, y: f64) -> bool {
        self.x.contains(x) && self.y.contains(y)
    }
}

/// What [`layout`] needs to place a frame.
pub struct FrameSpec<'a> {
    pub width: usize,
    pub height: usize,
    pub title: &'a str,
    pub x_axis: &'a Axis,
    pub y_axis: &'a Axis,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    pub legend: &'a [LegendEntry],
    /// Tick labels along x written upward (long category names).
    pub upward_x_labels: bool,
}

/// Legend width: swatch, gap, longest name.
fn legend_width(legend: &[LegendEntry]) -> i64 {
    legend
        .iter()
        .map(|e| text_length(&e.name, SCALE) as i64)
        .max()
        .map_or(0, |w| 3 * GAP + w + 2 * GAP)
}

/// Places title, axes, tick labels and legend in an image of the requested size.
pub fn layout(spec: &FrameSpec<'_>) -> Result<Frame, PlotError> {
    let line = text_height(SCALE) as i64;
    let (x_low, x_high) = spec.x_range;
    let (y_low, y_high) = spec.y_range;
    // About one y tick per 50 pixels.
    let y_target = ((spec.height as i64 - 120) / 50).clamp(2, 8) as usize;
    let y_ticks = axis_ticks(spec.y_axis, y_low, y_high, y_target);
    let y_tick_width = y_ticks
        .iter()
        .map(|(_, t)| text_length(t, SCALE) as i64)
        .max()
        .unwrap_or(0);
    let x_tick_depth = if spec.upward_x_labels {
        axis_ticks(spec.x_axis, x_low, x_high, 2)
            .iter()
            .map(|(_, t)| text_length(t, SCALE) as i64)
            .max()
            .unwrap_or(0)
    } else {
        line
    };
    let title_height = if spec.title.is_empty() { 0 } else { line + GAP };
    let y_label_width = if spec.y_axis.label.is_empty() {
        0
    } else {
        line + 2 * GAP
    };
    let x_label_height = if spec.x_axis.label.is_empty() {
        0
    } else {
        GAP + line
    };
    let left = MARGIN + y_label_width + y_tick_width + GAP + TICK;
    let top = MARGIN + title_height + GAP;
    let bottom = TICK + GAP + x_tick_depth + x_label_height + MARGIN;
    let right = MARGIN.max(GAP + legend_width(spec.legend) + MARGIN) + line;
    let area = Rect {
        left,
        top,
        width: spec.width as i64 - left - right,
        height: spec.height as i64 - top - bottom,
    };
    if area.width < 20 || area.height < 20 {
        return Err(PlotError::TooSmall {
            width: spec.width,
            height: spec.height,
        });
    }
    let x = Scale {
        low: x_low,
        high: x_high,
        log10: spec.x_axis.log10,
        pixel_low: area.left as f64,
        pixel_high: (area.right() - 1) as f64,
    };
    let x_ticks = fitting_x_ticks(spec, &x);
    let x = Scale {
        low: x_low,
        high: x_high,
        log10: spec.x_axis.log10,
        pixel_low: area.left as f64,
        pixel_high: (area.right() - 1) as f64,
    };
    let y = Scale {
        low: y_low,
        high: y_high,
        log10: spec.y_axis.log10,
        pixel_low: (area.bottom() - 1) as f64,
        pixel_high: area.top as f64,
    };
    Ok(Frame {
        width: spec.width,
        height: spec.height,
        area,
        x,
        y,
        x_ticks,
        y_ticks,
    })
}

/// Automatic x ticks, as many (up to 8) as leave room between neighbouring labels; the axis's
/// own ticks unchanged.
fn fitting_x_ticks(spec: &FrameSpec<'_>, x: &Scale) -> Vec<(f64, String)> {
    let (low, high) = (x.low, x.high);
    let fits = |ticks: &[(f64, String)]| {
        let widest = ticks
            .iter()
            .map(|(_, t)| text_length(t, SCALE) as f64)
            .fold(0.0, f64::max);
        let pixels: Vec<f64> = ticks.iter().filter_map(|(v, _)| x.pixel(*v)).collect();
        pixels
            .windows(2)
            .all(|w| (w[1] - w[0]).abs() >= widest + 2.0 * GAP as f64)
    };
    if spec.x_axis.ticks.is_some() || spec.upward_x_labels {
        return axis_ticks(spec.x_axis, low, high, 8);
    }
    (2..=8)
        .rev()
        .map(|target| axis_ticks(spec.x_axis, low, high, target))
        .find(|ticks| fits(ticks))
        .unwrap_or_else(|| axis_ticks(spec.x_axis, low, high, 1))
}

/// Draws title, light grid lines at the ticks, axes, tick marks and labels, axis labels and the
/// legend: everything but the data.
pub fn draw_frame(image: &mut Image, frame: &Frame, spec: &FrameSpec<'_>) {
    let line = text_height(SCALE) as i64;
    let area = frame.area;
    if !spec.title.is_empty() {
        image.text(MARGIN, MARGIN, spec.title, SCALE, BLACK);
    }
    for (v, _) in &frame.y_ticks {
        if let Some(p) = frame.y.pixel(*v).filter(|_| frame.y.contains(*v)) {
            image.fill(area.left, p.round() as i64, area.width, 1, LIGHT_GREY);
        }
    }
    for (v, _) in &frame.x_ticks {
        if let Some(p) = frame.x.pixel(*v).filter(|_| frame.x.contains(*v)) {
            image.fill(p.round() as i64, area.top, 1, area.height, LIGHT_GREY);
        }
    }
    // Axes: left and bottom edges of the plot area.
    image.fill(area.left - 1, area.top, 1, area.height + 1, BLACK);
    image.fill(area.left - 1, area.bottom(), area.width + 1, 1, BLACK);
    for (v, label) in &frame.y_ticks {
        let Some(p) = frame.y.pixel(*v).filter(|_| frame.y.contains(*v)) else {
            continue;
        };
        let p = p.round() as i64;
        image.fill(area.left - 1 - TICK, p, TICK, 1, BLACK);
        let w = text_length(label, SCALE) as i64;
        image.text(
            area.left - 1 - TICK - GAP - w,
            p - line / 2,
            label,
            SCALE,
            BLACK,
        );
    }
    for (v, label) in &frame.x_ticks {
        let Some(p) = frame.x.pixel(*v).filter(|_| frame.x.contains(*v)) else {
            continue;
        };
        let p = p.round() as i64;
        image.fill(p, area.bottom() + 1, 1, TICK, BLACK);
        let w = text_length(label, SCALE) as i64;
        let below = area.bottom() + 1 + TICK + GAP;
        if spec.upward_x_labels {
            image.text_upward(p - line / 2, below + w, label, SCALE, BLACK);
        } else {
            image.text(p - w / 2, below, label, SCALE, BLACK);
        }
    }
    if !spec.x_axis.label.is_empty() {
        let w = text_length(&spec.x_axis.label, SCALE) as i64;
        let y = frame.height as i64 - MARGIN - line;
        image.text(
            area.left + (area.width - w) / 2,
            y,
            &spec.x_axis.label,
            SCALE,
            BLACK,
        );
    }
    if !spec.y_axis.label.is_empty() {
        let w = text_length(&spec.y_axis.label, SCALE) as i64;
        let bottom = area.top + (area.height + w) / 2;
        image.text_upward(MARGIN, bottom, &spec.y_axis.label, SCALE, BLACK);
    }
    let legend_left = area.right() + GAP + line;
    for (i, entry) in spec.legend.iter().enumerate() {
        let y = area.top + i as i64 * (line + GAP);
        let centre = y as f64 + line as f64 / 2.0;
        match entry.marker {
            Some(marker) => {
                image.line(
                    (legend_left as f64, centre),
                    ((legend_left + 2 * GAP) as f64, centre),
                    2,
                    entry.color,
                    None,
                );
                image.marker(
                    (legend_left + GAP) as f64,
                    centre,
                    MARKER_RADIUS,
                    marker,
                    entry.color,
                );
            }
            None => image.fill(legend_left, y + 1, 2 * GAP, line - 2, entry.color),
        }
        image.text(legend_left + 3 * GAP, y, &entry.name, SCALE, BLACK);
    }
}

/// Lays out an x–y frame whose ranges cover the drawable `points` (pairs where both values can be
/// drawn on their axes); `NoData` if there are none.
#[allow(clippy::too_many_arguments)]
pub(crate) fn xy_frame(
    width: usize,
    height: usize,
    title: &str,
    x_axis: &Axis,
    y_axis: &Axis,
    points: &[(f64, f64)],
    legend: &[LegendEntry],
    what: &str,
) -> Result<Frame, PlotError> {
    let drawable: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(x, y)| x_axis.accepts(x) && y_axis.accepts(y))
        .collect();
    if drawable.is_empty() && (x_axis.range.is_none() || y_axis.range.is_none()) {
        return Err(PlotError::NoData {
            what: what.to_string(),
        });
    }
    let x_range = axis_range(x_axis, drawable.iter().map(|p| p.0), "x")?;
    let y_range = axis_range(y_axis, drawable.iter().map(|p| p.1), "y")?;
    layout(&FrameSpec {
        width,
        height,
        title,
        x_axis,
        y_axis,
        x_range,
        y_range,
        legend,
        upward_x_labels: false,
    })
}

/// Legend entries for series named `names`, in order, each with its series colour and marker.
pub fn series_legend<'a>(names: impl Iterator<Item = &'a str>) -> Vec<LegendEntry> {
    names
        .enumerate()
        .map(|(i, name)| LegendEntry {
            name: name.to_string(),
            color: series_color(i),
            marker: Some(Marker::of_series(i)),
        })
        .collect()
}

/// A blank image of `frame`'s size with the frame of an x–y chart drawn on it: title, axes,
/// ticks and legend, as [`xy_frame`] laid them out.
pub fn framed_image(
    frame: &Frame,
    title: &str,
    x_axis: &Axis,
    y_axis: &Axis,
    legend: &[LegendEntry],
) -> Image {
    let mut image = Image::new(frame.width, frame.height);
    draw_frame(
        &mut image,
        frame,
        &FrameSpec {
            width: frame.width,
            height: frame.height,
            title,
            x_axis,
            y_axis,
            x_range: (frame.x.low, frame.x.high),
            y_range: (frame.y.low, frame.y.high),
            legend,
            upward_x_labels: false,
        },
    );
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_or_five() {
        assert_eq!(nice_step(0.2), 0.2);
        assert_eq!(nice_step(0.13), 0.2);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(1.0), 1.0);
    }

    #[test]
    fn tick_labels_have_the_needed_decimals() {
        assert_eq!(format_tick(0.30000000000000004, 0.1), "0.3");
        assert_eq!(format_tick(1.0, 0.5), "1");
        assert_eq!(format_tick(1.5, 0.5), "1.5");
        assert_eq!(format_tick(200.0, 50.0), "200");
        assert_eq!(format_tick(0.00001, 0.00001), "1e-5");
        assert_eq!(format_tick(-0.25, 0.05), "-0.25");
        assert_eq!(format_tick(0.0, 0.1), "0");
    }

    #[test]
    fn narrow_log_ranges_get_distinct_labels() {
        let labels: Vec<String> = axis_ticks(&Axis::log("x"), 0.18, 0.23, 5)
            .into_iter()
            .map(|(_, label)| label)
            .collect();
        assert!(labels.len() >= 2, "{labels:?}");
        let mut unique = labels.clone();
        unique.dedup();
        assert_eq!(unique, labels, "repeated tick labels");
        let decades: Vec<String> = axis_ticks(&Axis::log("x"), 1e-3, 10.0, 5)
            .into_iter()
            .map(|(_, label)| label)
            .collect();
        assert_eq!(decades, ["0.001", "0.01", "0.1", "1", "10"]);
    }

    #[test]
    fn scales_map_ends_to_pixels() {
        let s = Scale {
            low: 1.0,
            high: 100.0,
            log10: true,
            pixel_low: 0.0,
            pixel_high: 200.0,
        };
        assert!((s.pixel(10.0).unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(s.pixel(0.0), None);
        assert_eq!(s.pixel(f64::NAN), None);
    }
}
