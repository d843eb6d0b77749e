//! Line charts: named series over shared x values, lines with point markers, optional text at
//! each point (e.g. the weight p chosen at each retraining step, Sun et al. 2022 Fig. 5).

use crate::axis::{
    framed_image, series_legend, xy_frame, Axis, Frame, LegendEntry, MARKER_RADIUS, SMALL,
};
use crate::canvas::{series_color, Image, Marker, BLACK};
use crate::{Chart, PlotError};

/// One named line: a y value per x of the chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineSeries {
    pub name: String,
    /// One per `LineChart::x`; NaN or infinite values are skipped and break the line.
    pub y: Vec<f64>,
    /// Empty for none, else one per x, written beside the point (empty strings skipped).
    pub point_labels: Vec<String>,
}

/// Several series over shared x values. Custom x ticks (`x_axis.ticks`) name categorical steps.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_axis: Axis,
    pub y_axis: Axis,
    pub x: Vec<f64>,
    pub series: Vec<LineSeries>,
    /// Image size in pixels.
    pub width: usize,
    pub height: usize,
}

impl Default for LineChart {
    fn default() -> Self {
        LineChart {
            title: String::new(),
            x_axis: Axis::default(),
            y_axis: Axis::default(),
            x: Vec::new(),
            series: Vec::new(),
            width: 720,
            height: 480,
        }
    }
}

impl LineChart {
    fn check(&self) -> Result<(), PlotError> {
        for s in &self.series {
            if s.y.len() != self.x.len() {
                return Err(PlotError::LengthMismatch {
                    what: format!("y values of series {:?} (one per x)", s.name),
                    expected: self.x.len(),
                    got: s.y.len(),
                });
            }
            if !s.point_labels.is_empty() && s.point_labels.len() != self.x.len() {
                return Err(PlotError::LengthMismatch {
                    what: format!("point labels of series {:?} (none or one per x)", s.name),
                    expected: self.x.len(),
                    got: s.point_labels.len(),
                });
            }
        }
        Ok(())
    }

    fn legend(&self) -> Vec<LegendEntry> {
        series_legend(self.series.iter().map(|s| s.name.as_str()))
    }

    /// The laid-out frame: where each data value lands in the image.
    pub fn frame(&self) -> Result<Frame, PlotError> {
        self.check()?;
        let points: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| self.x.iter().copied().zip(s.y.iter().copied()))
            .collect();
        xy_frame(
            self.width,
            self.height,
            &self.title,
            &self.x_axis,
            &self.y_axis,
            &points,
            &self.legend(),
            "the line chart",
        )
    }
}

impl Chart for LineChart {
    fn render(&self) -> Result<Image, PlotError> {
        let frame = self.frame()?;
        let mut image = framed_image(
            &frame,
            &self.title,
            &self.x_axis,
            &self.y_axis,
            &self.legend(),
        );
        for (i, s) in self.series.iter().enumerate() {
            let color = series_color(i);
            let pixels: Vec<Option<(f64, f64)>> = self
                .x
                .iter()
                .zip(&s.y)
                .map(|(&x, &y)| frame.to_pixel(x, y))
                .collect();
            for pair in pixels.windows(2) {
                if let [Some(a), Some(b)] = pair {
                    image.line(*a, *b, 2, color, Some(frame.area));
                }
            }
        }
        // Markers and labels over all lines.
        for (i, s) in self.series.iter().enumerate() {
            for (j, (&x, &y)) in self.x.iter().zip(&s.y).enumerate() {
                let Some((px, py)) = frame.to_pixel(x, y).filter(|_| frame.shows(x, y)) else {
                    continue;
                };
                image.marker(px, py, MARKER_RADIUS, Marker::of_series(i), series_color(i));
                if let Some(label) = s.point_labels.get(j).filter(|l| !l.is_empty()) {
                    let (lx, ly) = (px.round() as i64 + 6, py.round() as i64 - 13);
                    image.text(lx, ly, label, SMALL, BLACK);
                }
            }
        }
        Ok(image)
    }
}
