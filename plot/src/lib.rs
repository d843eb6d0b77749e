//! PNG charts for silico reports, drawn with a built-in 5 × 7 bitmap font so that pictures need
//! no font files or plotting library.
//!
//! Chart families, each in its own module and each returning PNG bytes from `png()`:
//! - [`heatmap`]: a labelled heat map of a square matrix ([`HeatMap`], [`heatmap_png`]).
//! - [`line`](mod@line): [`LineChart`], named series over shared x values, with per-point labels
//!   (Sun et al. 2022 Fig. 5: exclusivity / MSE along the retraining sequence).
//! - [`scatter`]: [`ScatterChart`], named point series with labels, log axes and segments or
//!   arrows joining points (Fig. 6 before/after pairs, Fig. 7 log–log divergences).
//! - [`boxplot`]: [`BoxPlot`], groups × series of Tukey boxes (Fig. 3 Jaccard per structure).
//! - [`histogram`]: [`Histogram`], several series on shared bins, overlaid or side by side.
//! - [`panel`](mod@panel): several charts side by side in one PNG (e.g. PC1–PC2, PC1–PC3, PC2–PC3).
//!
//! Shared pieces: [`canvas`] (the RGB [`Image`], lines, markers, text, colours, PNG encoding),
//! [`axis`] (ranges, 1-2-5 ticks, log decades, the frame of x–y charts) and [`font`].
//! Values that cannot be drawn (NaN, ±∞, ≤ 0 on a log axis) are skipped; series colours are
//! the Okabe–Ito palette.

use std::fmt;

pub mod axis;
pub mod boxplot;
pub mod canvas;
pub mod font;
pub mod heatmap;
pub mod histogram;
pub mod line;
pub mod panel;
pub mod scatter;

pub use axis::{Axis, Frame};
pub use boxplot::{box_stats, BoxPlot, BoxSeries, BoxStats};
pub use canvas::{series_color, Image, Rgb, PALETTE};
pub use heatmap::{heatmap_png, HeatMap};
pub use histogram::{bin_counts, Bins, Histogram, HistogramLayout, HistogramSeries};
pub use line::{LineChart, LineSeries};
pub use panel::{panel, panel_image};
pub use scatter::{ScatterChart, ScatterSeries, Segment};

/// Anything that draws itself as an image; every chart type implements it.
pub trait Chart {
    /// The chart as an RGB image.
    fn render(&self) -> Result<Image, PlotError>;

    /// The chart as PNG bytes.
    fn png(&self) -> Result<Vec<u8>, PlotError> {
        self.render()?.to_png()
    }
}

/// Why a chart could not be drawn.
#[derive(Clone, Debug, PartialEq)]
pub enum PlotError {
    /// Nothing drawable: no series, no values, or only NaN / infinite ones (`what` says where).
    NoData {
        what: String,
    },
    /// Two lists that must match in length do not.
    LengthMismatch {
        what: String,
        expected: usize,
        got: usize,
    },
    /// A fixed axis range that is empty, not finite, or not positive on a log axis.
    InvalidRange {
        axis: String,
        low: f64,
        high: f64,
    },
    /// Histogram bins that are not at least one increasing pair of finite edges.
    InvalidBins(String),
    /// The requested image leaves no room for the plot area.
    TooSmall {
        width: usize,
        height: usize,
    },
    Encode(String),
    Decode(String),
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoData { what } => write!(f, "nothing to plot: {what} has no finite values"),
            Self::LengthMismatch {
                what,
                expected,
                got,
            } => write!(f, "{what}: expected {expected} values, got {got}"),
            Self::InvalidRange { axis, low, high } => {
                write!(f, "invalid range {low}..{high} for the {axis} axis")
            }
            Self::InvalidBins(why) => write!(f, "invalid histogram bins: {why}"),
            Self::TooSmall { width, height } => {
                write!(f, "a {width} × {height} image leaves no room for the plot")
            }
            Self::Encode(why) => write!(f, "encoding the PNG: {why}"),
            Self::Decode(why) => write!(f, "decoding a PNG: {why}"),
        }
    }
}

impl std::error::Error for PlotError {}
