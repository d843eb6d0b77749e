//! Box plots: groups (e.g. structures) × series (e.g. models), one Tukey box each (Sun et al.
//! 2022 Fig. 3: Jaccard index per structure and model).
//!
//! Box: first to third quartile (linear interpolation between order statistics, numpy's and R's
//! default, type 7) with a black median line; whiskers: the most extreme values within 1.5 IQR
//! of the box; outliers beyond them: dots.

use crate::axis::{axis_range, draw_frame, layout, Axis, Frame, FrameSpec, LegendEntry, SCALE};
use crate::canvas::{series_color, Image, Marker, BLACK};
use crate::font::text_length;
use crate::{Chart, PlotError};

/// The summary drawn as one box.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxStats {
    pub count: usize,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    /// The smallest value ≥ q1 − 1.5 IQR.
    pub low_whisker: f64,
    /// The largest value ≤ q3 + 1.5 IQR.
    pub high_whisker: f64,
    /// Values beyond the whiskers, ascending.
    pub outliers: Vec<f64>,
}

/// The `p`-quantile of ascending `sorted` values (type 7: `h = (n − 1) p`, interpolated).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let (i, f) = (h.floor() as usize, h - h.floor());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + f * (next - sorted[i]),
        None => sorted[i],
    }
}

/// Quartiles, whiskers and outliers of the finite `values`; `None` if there are none.
pub fn box_stats(values: &[f64]) -> Option<BoxStats> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let (q1, median, q3) = (
        quantile(&sorted, 0.25),
        quantile(&sorted, 0.5),
        quantile(&sorted, 0.75),
    );
    let reach = 1.5 * (q3 - q1);
    let (low_fence, high_fence) = (q1 - reach, q3 + reach);
    let inside = || {
        sorted
            .iter()
            .copied()
            .filter(|&v| v >= low_fence && v <= high_fence)
    };
    Some(BoxStats {
        count: sorted.len(),
        q1,
        median,
        q3,
        low_whisker: inside().fold(f64::INFINITY, f64::min).min(q1),
        high_whisker: inside().fold(f64::NEG_INFINITY, f64::max).max(q3),
        outliers: sorted
            .iter()
            .copied()
            .filter(|&v| v < low_fence || v > high_fence)
            .collect(),
    })
}

/// One named series: its values in each group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BoxSeries {
    pub name: String,
    /// `values[g]`: the values in group `g` (one list per group; NaN skipped; an empty list
    /// draws no box).
    pub values: Vec<Vec<f64>>,
}

/// Groups along x, a box per series within each group, series told apart by colour.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxPlot {
    pub title: String,
    /// Written under the group names.
    pub x_label: String,
    pub y_axis: Axis,
    pub groups: Vec<String>,
    pub series: Vec<BoxSeries>,
    /// Image size in pixels.
    pub width: usize,
    pub height: usize,
}

impl Default for BoxPlot {
    fn default() -> Self {
        BoxPlot {
            title: String::new(),
            x_label: String::new(),
            y_axis: Axis::default(),
            groups: Vec::new(),
            series: Vec::new(),
            width: 720,
            height: 480,
        }
    }
}

/// The fraction of a group's width its boxes take together.
const GROUP_FILL: f64 = 0.8;

impl BoxPlot {
    /// The x (in data units: group `g` spans `g − 0.5 .. g + 0.5`) of the centre of the box of
    /// `series` in `group`.
    pub fn box_center(&self, group: usize, series: usize) -> f64 {
        let n = self.series.len().max(1) as f64;
        group as f64 - GROUP_FILL / 2.0 + (series as f64 + 0.5) * GROUP_FILL / n
    }

    fn x_axis(&self) -> Axis {
        Axis {
            label: self.x_label.clone(),
            log10: false,
            range: Some((-0.5, self.groups.len() as f64 - 0.5)),
            ticks: Some(
                self.groups
                    .iter()
                    .enumerate()
                    .map(|(g, name)| (g as f64, name.clone()))
                    .collect(),
            ),
        }
    }

    fn legend(&self) -> Vec<LegendEntry> {
        self.series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry {
                name: s.name.clone(),
                color: series_color(i),
                marker: None,
            })
            .collect()
    }

    /// Group names are written upward when the longest would not fit its group's width.
    fn upward_labels(&self) -> bool {
        let longest = self
            .groups
            .iter()
            .map(|g| text_length(g, SCALE))
            .max()
            .unwrap_or(0);
        let legend = self
            .series
            .iter()
            .map(|s| text_length(&s.name, SCALE))
            .max()
            .unwrap_or(0);
        let room = self.width.saturating_sub(160 + legend) / self.groups.len().max(1);
        longest + 8 > room
    }

    /// The laid-out frame: box `(g, s)` is centred at x = [`Self::box_center`].
    pub fn frame(&self) -> Result<Frame, PlotError> {
        if self.groups.is_empty() || self.series.is_empty() {
            return Err(PlotError::NoData {
                what: "the box plot (no groups or no series)".to_string(),
            });
        }
        for s in &self.series {
            if s.values.len() != self.groups.len() {
                return Err(PlotError::LengthMismatch {
                    what: format!("value lists of series {:?} (one per group)", s.name),
                    expected: self.groups.len(),
                    got: s.values.len(),
                });
            }
        }
        let values = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied());
        let y_range = axis_range(&self.y_axis, values, "y").map_err(|e| match e {
            PlotError::NoData { .. } => PlotError::NoData {
                what: "the box plot".to_string(),
            },
            other => other,
        })?;
        let x_axis = self.x_axis();
        layout(&FrameSpec {
            width: self.width,
            height: self.height,
            title: &self.title,
            x_axis: &x_axis,
            y_axis: &self.y_axis,
            x_range: (-0.5, self.groups.len() as f64 - 0.5),
            y_range,
            legend: &self.legend(),
            upward_x_labels: self.upward_labels(),
        })
    }
}

impl Chart for BoxPlot {
    fn render(&self) -> Result<Image, PlotError> {
        let frame = self.frame()?;
        let x_axis = self.x_axis();
        let legend = self.legend();
        let mut image = Image::new(frame.width, frame.height);
        draw_frame(
            &mut image,
            &frame,
            &FrameSpec {
                width: frame.width,
                height: frame.height,
                title: &self.title,
                x_axis: &x_axis,
                y_axis: &self.y_axis,
                x_range: (frame.x.low, frame.x.high),
                y_range: (frame.y.low, frame.y.high),
                legend: &legend,
                upward_x_labels: self.upward_labels(),
            },
        );
        let slot = (frame.x.pixel(GROUP_FILL).unwrap_or(0.0) - frame.x.pixel(0.0).unwrap_or(0.0))
            / self.series.len() as f64;
        let half = (slot * 0.35).max(1.0);
        let clip = Some(frame.area);
        for (s, series) in self.series.iter().enumerate() {
            let color = series_color(s);
            for (g, values) in series.values.iter().enumerate() {
                let accepted: Vec<f64> = values
                    .iter()
                    .copied()
                    .filter(|&v| self.y_axis.accepts(v))
                    .collect();
                let Some(stats) = box_stats(&accepted) else {
                    continue;
                };
                let Some(cx) = frame.x.pixel(self.box_center(g, s)) else {
                    continue;
                };
                let y = |v: f64| frame.y.pixel(v).unwrap_or(f64::NAN);
                let (q1, q3, median) = (y(stats.q1), y(stats.q3), y(stats.median));
                let (low, high) = (y(stats.low_whisker), y(stats.high_whisker));
                // Whiskers and their caps.
                image.line((cx, q1), (cx, low), 1, BLACK, clip);
                image.line((cx, q3), (cx, high), 1, BLACK, clip);
                for end in [low, high] {
                    image.line(
                        (cx - half / 2.0, end),
                        (cx + half / 2.0, end),
                        1,
                        BLACK,
                        clip,
                    );
                }
                // The box, its outline and the median.
                let (left, right) = ((cx - half).round() as i64, (cx + half).round() as i64);
                let (top, bottom) = (q3.round() as i64, q1.round() as i64);
                let area = frame.area;
                let (top_c, bottom_c) = (top.max(area.top), bottom.min(area.bottom() - 1));
                image.fill(left, top_c, right - left + 1, bottom_c - top_c + 1, color);
                image.line((left as f64, q3), (right as f64, q3), 1, BLACK, clip);
                image.line((left as f64, q1), (right as f64, q1), 1, BLACK, clip);
                image.line((left as f64, q3), (left as f64, q1), 1, BLACK, clip);
                image.line((right as f64, q3), (right as f64, q1), 1, BLACK, clip);
                image.line(
                    (left as f64, median),
                    (right as f64, median),
                    2,
                    BLACK,
                    clip,
                );
                for &v in &stats.outliers {
                    if frame.y.contains(v) {
                        image.marker(cx, y(v), 2.5, Marker::Circle, color);
                    }
                }
            }
        }
        Ok(image)
    }
}
