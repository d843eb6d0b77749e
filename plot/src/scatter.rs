//! Scatter charts: named series of (x, y) points with optional text at each point (structure
//! names), optional log10 axes (Sun et al. 2022 Fig. 7: log shape vs log spatial divergence) and
//! optional segments or arrows joining points (Fig. 6: before → after retraining per structure).

use crate::axis::{
    framed_image, series_legend, xy_frame, Axis, Frame, LegendEntry, MARKER_RADIUS, SMALL,
};
use crate::canvas::{series_color, Image, Marker, BLACK, DARK_GREY};
use crate::{Chart, PlotError};

/// One named set of points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScatterSeries {
    pub name: String,
    /// `(x, y)`; points that cannot be drawn (NaN, ∞, ≤ 0 on a log axis) are skipped.
    pub points: Vec<(f64, f64)>,
    /// Empty for none, else one per point, written beside it (empty strings skipped).
    pub labels: Vec<String>,
}

/// A straight line from one data point to another, drawn in grey under the points.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Segment {
    pub from: (f64, f64),
    pub to: (f64, f64),
    /// An arrow head at `to`.
    pub arrow: bool,
}

/// Several point series on shared axes.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterChart {
    pub title: String,
    pub x_axis: Axis,
    pub y_axis: Axis,
    pub series: Vec<ScatterSeries>,
    /// Drawn first, e.g. joining the before and after point of each structure.
    pub segments: Vec<Segment>,
    /// Image size in pixels.
    pub width: usize,
    pub height: usize,
}

impl Default for ScatterChart {
    fn default() -> Self {
        ScatterChart {
            title: String::new(),
            x_axis: Axis::default(),
            y_axis: Axis::default(),
            series: Vec::new(),
            segments: Vec::new(),
            width: 720,
            height: 480,
        }
    }
}

impl ScatterChart {
    fn check(&self) -> Result<(), PlotError> {
        for s in &self.series {
            if !s.labels.is_empty() && s.labels.len() != s.points.len() {
                return Err(PlotError::LengthMismatch {
                    what: format!("labels of series {:?} (none or one per point)", s.name),
                    expected: s.points.len(),
                    got: s.labels.len(),
                });
            }
        }
        Ok(())
    }

    fn legend(&self) -> Vec<LegendEntry> {
        series_legend(self.series.iter().map(|s| s.name.as_str()))
    }

    /// The laid-out frame: where each data point lands in the image. Ranges cover the series'
    /// points and the segments' ends.
    pub fn frame(&self) -> Result<Frame, PlotError> {
        self.check()?;
        let points: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .chain(self.segments.iter().flat_map(|s| [s.from, s.to]))
            .collect();
        xy_frame(
            self.width,
            self.height,
            &self.title,
            &self.x_axis,
            &self.y_axis,
            &points,
            &self.legend(),
            "the scatter chart",
        )
    }
}

impl Chart for ScatterChart {
    fn render(&self) -> Result<Image, PlotError> {
        let frame = self.frame()?;
        let mut image = framed_image(
            &frame,
            &self.title,
            &self.x_axis,
            &self.y_axis,
            &self.legend(),
        );
        for segment in &self.segments {
            let ends = frame
                .to_pixel(segment.from.0, segment.from.1)
                .zip(frame.to_pixel(segment.to.0, segment.to.1));
            if let Some((a, b)) = ends {
                if segment.arrow {
                    image.arrow(a, b, 1, DARK_GREY, Some(frame.area));
                } else {
                    image.line(a, b, 1, DARK_GREY, Some(frame.area));
                }
            }
        }
        for (i, s) in self.series.iter().enumerate() {
            for (j, &(x, y)) in s.points.iter().enumerate() {
                let Some((px, py)) = frame.to_pixel(x, y).filter(|_| frame.shows(x, y)) else {
                    continue;
                };
                image.marker(px, py, MARKER_RADIUS, Marker::of_series(i), series_color(i));
                if let Some(label) = s.labels.get(j).filter(|l| !l.is_empty()) {
                    let (lx, ly) = (px.round() as i64 + 6, py.round() as i64 - 13);
                    image.text(lx, ly, label, SMALL, BLACK);
                }
            }
        }
        Ok(image)
    }
}
