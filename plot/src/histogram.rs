//! Histograms of several series on shared bins, overlaid (filled bars with outlines on top) or
//! side by side within each bin (e.g. radial positions of real vs synthetic objects).

use crate::axis::{draw_frame, layout, Axis, Frame, FrameSpec, LegendEntry, PADDING};
use crate::canvas::{lighten, series_color, Image};
use crate::{Chart, PlotError};

/// How the shared bins are chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Bins {
    /// This many equal bins from the smallest to the largest finite value of all series (or
    /// over `x_axis.range` when set).
    Count(usize),
    /// Explicit edges, increasing: bin `i` is `[edges[i], edges[i + 1])`, the last one closed.
    Edges(Vec<f64>),
}

/// How several series share a bin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HistogramLayout {
    /// Each series spans the whole bin; later series are drawn over earlier ones, with every
    /// series' outline drawn last so that all stay visible.
    #[default]
    Overlaid,
    /// The bin is split into one bar per series.
    SideBySide,
}

/// One named set of values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramSeries {
    pub name: String,
    /// NaN and infinite values are skipped; values outside the bins are not counted.
    pub values: Vec<f64>,
}

/// Several series on shared bins. Log axes are not supported (`log10` is ignored).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub title: String,
    pub x_axis: Axis,
    /// Its `range` fixes the height axis; by default it runs from 0 to the tallest bar.
    pub y_axis: Axis,
    pub series: Vec<HistogramSeries>,
    pub bins: Bins,
    pub layout: HistogramLayout,
    /// Bar heights as fractions of each series' counted values (so that series of different
    /// sizes compare) instead of counts.
    pub normalize: bool,
    /// Image size in pixels.
    pub width: usize,
    pub height: usize,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            title: String::new(),
            x_axis: Axis::default(),
            y_axis: Axis::default(),
            series: Vec::new(),
            bins: Bins::Count(20),
            layout: HistogramLayout::Overlaid,
            normalize: false,
            width: 720,
            height: 480,
        }
    }
}

/// How many finite `values` fall in each bin of `edges` (`[eᵢ, eᵢ₊₁)`, the last bin closed).
pub fn bin_counts(values: &[f64], edges: &[f64]) -> Vec<usize> {
    let bins = edges.len().saturating_sub(1);
    let mut counts = vec![0; bins];
    if bins == 0 {
        return counts;
    }
    for &v in values.iter().filter(|v| v.is_finite()) {
        if v < edges[0] || v > edges[bins] {
            continue;
        }
        // The first edge above v, minus one; v equal to the last edge goes in the last bin.
        let i = edges
            .partition_point(|&e| e <= v)
            .saturating_sub(1)
            .min(bins - 1);
        counts[i] += 1;
    }
    counts
}

impl Histogram {
    /// The shared bin edges.
    pub fn edges(&self) -> Result<Vec<f64>, PlotError> {
        let edges = match &self.bins {
            Bins::Edges(edges) => edges.clone(),
            Bins::Count(0) => return Err(PlotError::InvalidBins("zero bins".to_string())),
            Bins::Count(n) => {
                let (low, high) = match self.x_axis.range {
                    Some(range) => range,
                    None => {
                        let finite = self
                            .series
                            .iter()
                            .flat_map(|s| s.values.iter().copied())
                            .filter(|v| v.is_finite());
                        let (low, high) = finite
                            .fold((f64::INFINITY, f64::NEG_INFINITY), |a, v| {
                                (a.0.min(v), a.1.max(v))
                            });
                        if low > high {
                            return Err(PlotError::NoData {
                                what: "the histogram".to_string(),
                            });
                        }
                        if low == high {
                            (low - 0.5, high + 0.5)
                        } else {
                            (low, high)
                        }
                    }
                };
                let width = (high - low) / *n as f64;
                (0..=*n).map(|i| low + i as f64 * width).collect()
            }
        };
        let increasing = edges.windows(2).all(|w| w[1] > w[0]);
        if edges.len() < 2 || !increasing || edges.iter().any(|e| !e.is_finite()) {
            return Err(PlotError::InvalidBins(format!(
                "need at least two finite increasing edges, got {edges:?}"
            )));
        }
        Ok(edges)
    }

    /// `heights[s][b]`: the count (or fraction, with `normalize`) of series `s` in bin `b`.
    pub fn heights(&self) -> Result<Vec<Vec<f64>>, PlotError> {
        if self.series.is_empty() {
            return Err(PlotError::NoData {
                what: "the histogram (no series)".to_string(),
            });
        }
        let edges = self.edges()?;
        Ok(self
            .series
            .iter()
            .map(|s| {
                let counts = bin_counts(&s.values, &edges);
                let total: usize = counts.iter().sum();
                counts
                    .into_iter()
                    .map(|c| {
                        if self.normalize && total > 0 {
                            c as f64 / total as f64
                        } else {
                            c as f64
                        }
                    })
                    .collect()
            })
            .collect())
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

    fn axes(&self) -> (Axis, Axis) {
        let mut x = self.x_axis.clone();
        let mut y = self.y_axis.clone();
        x.log10 = false;
        y.log10 = false;
        (x, y)
    }

    fn spec<'a>(
        &'a self,
        axes: &'a (Axis, Axis),
        legend: &'a [LegendEntry],
        x_range: (f64, f64),
        y_range: (f64, f64),
    ) -> FrameSpec<'a> {
        FrameSpec {
            width: self.width,
            height: self.height,
            title: &self.title,
            x_axis: &axes.0,
            y_axis: &axes.1,
            x_range,
            y_range,
            legend,
            upward_x_labels: false,
        }
    }

    /// The laid-out frame: x spans the bins (or `x_axis.range`), y from 0 to the tallest bar
    /// plus padding (or `y_axis.range`).
    pub fn frame(&self) -> Result<Frame, PlotError> {
        let heights = self.heights()?;
        let edges = self.edges()?;
        let x_range = self
            .x_axis
            .range
            .unwrap_or((edges[0], edges[edges.len() - 1]));
        let tallest = heights.iter().flatten().copied().fold(0.0, f64::max);
        let y_range = self.y_axis.range.unwrap_or((
            0.0,
            if tallest > 0.0 {
                tallest * (1.0 + 2.0 * PADDING)
            } else {
                1.0
            },
        ));
        let axes = self.axes();
        let legend = self.legend();
        layout(&self.spec(&axes, &legend, x_range, y_range))
    }
}

impl Chart for Histogram {
    fn render(&self) -> Result<Image, PlotError> {
        let frame = self.frame()?;
        let heights = self.heights()?;
        let edges = self.edges()?;
        let axes = self.axes();
        let legend = self.legend();
        let mut image = Image::new(frame.width, frame.height);
        let spec = self.spec(
            &axes,
            &legend,
            (frame.x.low, frame.x.high),
            (frame.y.low, frame.y.high),
        );
        draw_frame(&mut image, &frame, &spec);
        let area = frame.area;
        let base = frame.y.pixel(0.0).unwrap_or(area.bottom() as f64 - 1.0);
        let n = self.series.len();
        // Pixel columns [left, right) of series s in bin b.
        let columns = |s: usize, b: usize| -> Option<(i64, i64)> {
            let (left, right) = (frame.x.pixel(edges[b])?, frame.x.pixel(edges[b + 1])?);
            let (left, right) = match self.layout {
                HistogramLayout::Overlaid => (left, right),
                HistogramLayout::SideBySide => {
                    let w = (right - left) / n as f64;
                    (left + s as f64 * w, left + (s + 1) as f64 * w)
                }
            };
            let (l, r) = (left.round() as i64, right.round() as i64);
            Some((l.max(area.left), r.min(area.right())))
        };
        let bar_top = |h: f64| -> i64 {
            let top = frame.y.pixel(h).unwrap_or(base).round() as i64;
            top.max(area.top)
        };
        let bottom = (base.round() as i64).min(area.bottom() - 1);
        for (s, row) in heights.iter().enumerate() {
            let fill = match self.layout {
                HistogramLayout::Overlaid => lighten(series_color(s), 0.55),
                HistogramLayout::SideBySide => series_color(s),
            };
            for (b, &h) in row.iter().enumerate() {
                let Some((l, r)) = columns(s, b) else {
                    continue;
                };
                if h <= 0.0 || r <= l {
                    continue;
                }
                let top = bar_top(h);
                // Side-by-side bars keep a one-pixel gap to their right-hand neighbour.
                let gap = i64::from(self.layout == HistogramLayout::SideBySide && r - l > 3);
                image.fill(l, top, r - l - gap, bottom - top + 1, fill);
            }
        }
        if self.layout == HistogramLayout::Overlaid {
            // Step outlines of every series over all fills.
            for (s, row) in heights.iter().enumerate() {
                let color = series_color(s);
                let mut previous = bottom;
                for (b, &h) in row.iter().enumerate() {
                    let Some((l, r)) = columns(s, b) else {
                        continue;
                    };
                    let top = if h > 0.0 { bar_top(h) } else { bottom };
                    let clip = Some(area);
                    image.line(
                        (l as f64, previous as f64),
                        (l as f64, top as f64),
                        2,
                        color,
                        clip,
                    );
                    image.line(
                        (l as f64, top as f64),
                        (r as f64, top as f64),
                        2,
                        color,
                        clip,
                    );
                    previous = top;
                    if b + 1 == row.len() {
                        image.line(
                            (r as f64, top as f64),
                            (r as f64, bottom as f64),
                            2,
                            color,
                            clip,
                        );
                    }
                }
            }
        }
        Ok(image)
    }
}
