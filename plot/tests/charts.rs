//! Charts decode as PNGs of the requested size, and data land on the pixels the frame maps them
//! to, in their series' colours.

use silico_plot::axis::{linear_ticks, log_ticks};
use silico_plot::canvas::{DARK_GREY, WHITE};
use silico_plot::{
    bin_counts, box_stats, heatmap_png, panel, series_color, Axis, Bins, BoxPlot, BoxSeries, Chart,
    HeatMap, Histogram, HistogramLayout, HistogramSeries, LineChart, LineSeries, PlotError,
    ScatterChart, ScatterSeries, Segment,
};

/// Decodes with the png crate: (width, height, RGB bytes).
fn decode(bytes: &[u8]) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buffer = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader.next_frame(&mut buffer).expect("PNG data");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buffer.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, buffer)
}

fn pixel(image: &(usize, usize, Vec<u8>), x: f64, y: f64) -> [u8; 3] {
    let (x, y) = (x.round() as usize, y.round() as usize);
    let i = (y * image.0 + x) * 3;
    [image.2[i], image.2[i + 1], image.2[i + 2]]
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-12)
}

#[test]
fn linear_ticks_step_by_one_two_or_five() {
    assert!(close(
        &linear_ticks(0.0, 1.0, 5),
        &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ));
    assert!(close(
        &linear_ticks(-0.03, 1.03, 5),
        &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ));
    assert!(close(
        &linear_ticks(0.0, 100.0, 4),
        &[0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    ));
    assert!(close(
        &linear_ticks(3.0, 17.0, 6),
        &[4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0]
    ));
    // Exact multiples: 0.1 × 3 is 0.3, not 0.30000000000000004.
    assert!(linear_ticks(0.0, 1.0, 10).contains(&0.3));
}

#[test]
fn log_ticks_are_decades_or_one_two_five() {
    assert_eq!(
        log_ticks(0.001, 1000.0, 8),
        vec![0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
    );
    // Many decades: every third one.
    assert_eq!(log_ticks(1e-6, 1e6, 6), vec![1e-6, 1e-3, 1.0, 1e3, 1e6]);
    // Within one decade or so: 1, 2, 5 multiples.
    assert!(close(
        &log_ticks(1.0, 50.0, 8),
        &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
    ));
}

#[test]
fn line_chart_points_land_on_their_pixels() {
    let chart = LineChart {
        title: "Exclusivity along retraining".into(),
        x_axis: Axis {
            label: "retraining step".into(),
            ticks: Some(vec![
                (0.0, "dna".into()),
                (1.0, "mito".into()),
                (2.0, "golgi".into()),
            ]),
            ..Axis::default()
        },
        y_axis: Axis::new("overall exclusivity"),
        x: vec![0.0, 1.0, 2.0],
        series: vec![
            LineSeries {
                name: "exclusivity".into(),
                y: vec![0.2, f64::NAN, 0.8],
                point_labels: strings(&["p=0.1", "", "p=0.5"]),
            },
            LineSeries {
                name: "MSE".into(),
                y: vec![0.5, 0.45, 0.3],
                point_labels: Vec::new(),
            },
        ],
        width: 640,
        height: 400,
    };
    let frame = chart.frame().unwrap();
    let image = decode(&chart.png().unwrap());
    assert_eq!((image.0, image.1), (640, 400));
    for (s, x, y) in [(0, 0.0, 0.2), (0, 2.0, 0.8), (1, 1.0, 0.45)] {
        let (px, py) = frame.to_pixel(x, y).unwrap();
        assert_eq!(
            pixel(&image, px, py),
            series_color(s),
            "series {s} at ({x}, {y})"
        );
    }
    // The NaN point is skipped: the y range comes from the finite values only, padded 5 %.
    assert!((frame.y.low - (0.2 - 0.03)).abs() < 1e-12 && (frame.y.high - 0.83).abs() < 1e-12);
    // ... and no line joins the points on either side of it: halfway between x = 0 and 2 at
    // the height the straight line would have is background.
    let (px, py) = frame.to_pixel(1.0, 0.5).unwrap();
    assert_ne!(pixel(&image, px, py), series_color(0));
}

#[test]
fn charts_without_drawable_data_are_clear_errors() {
    let err = LineChart::default().png().unwrap_err();
    assert!(matches!(err, PlotError::NoData { .. }), "{err}");
    assert!(err.to_string().contains("nothing to plot"), "{err}");
    let all_nan = LineChart {
        x: vec![0.0, 1.0],
        series: vec![LineSeries {
            name: "a".into(),
            y: vec![f64::NAN, f64::INFINITY],
            point_labels: Vec::new(),
        }],
        ..LineChart::default()
    };
    assert!(matches!(all_nan.png(), Err(PlotError::NoData { .. })));
    let ragged = LineChart {
        x: vec![0.0, 1.0],
        series: vec![LineSeries {
            name: "a".into(),
            y: vec![1.0],
            point_labels: Vec::new(),
        }],
        ..LineChart::default()
    };
    assert!(matches!(
        ragged.png(),
        Err(PlotError::LengthMismatch {
            expected: 2,
            got: 1,
            ..
        })
    ));
    assert!(matches!(
        ScatterChart::default().png(),
        Err(PlotError::NoData { .. })
    ));
    // On a log axis, values ≤ 0 cannot be drawn.
    let non_positive = ScatterChart {
        x_axis: Axis::log("x"),
        series: vec![ScatterSeries {
            name: "a".into(),
            points: vec![(0.0, 1.0), (-1.0, 2.0)],
            labels: Vec::new(),
        }],
        ..ScatterChart::default()
    };
    assert!(matches!(non_positive.png(), Err(PlotError::NoData { .. })));
    assert!(matches!(
        BoxPlot::default().png(),
        Err(PlotError::NoData { .. })
    ));
    assert!(matches!(
        Histogram::default().png(),
        Err(PlotError::NoData { .. })
    ));
    assert!(matches!(panel("t", 2, &[]), Err(PlotError::NoData { .. })));
    let tiny = ScatterChart {
        series: vec![ScatterSeries {
            name: "a".into(),
            points: vec![(1.0, 1.0)],
            labels: Vec::new(),
        }],
        width: 50,
        height: 50,
        ..ScatterChart::default()
    };
    assert!(matches!(tiny.png(), Err(PlotError::TooSmall { .. })));
}

fn log_scatter() -> ScatterChart {
    ScatterChart {
        title: "Shape vs spatial divergence".into(),
        x_axis: Axis::log("log spatial divergence"),
        y_axis: Axis::log("log shape divergence"),
        series: vec![
            ScatterSeries {
                name: "U-Net".into(),
                points: vec![(0.01, 0.5), (10.0, 100.0), (f64::NAN, 1.0), (-1.0, 1.0)],
                labels: strings(&["mito", "golgi", "nan", "negative"]),
            },
            ScatterSeries {
                name: "Vox2Vox-RU".into(),
                points: vec![(1.0, 2.0)],
                labels: strings(&["nucleoli"]),
            },
        ],
        segments: vec![Segment {
            from: (0.01, 0.5),
            to: (1.0, 2.0),
            arrow: true,
        }],
        width: 600,
        height: 450,
    }
}

#[test]
fn log_scatter_maps_decades_and_draws_segments() {
    let chart = log_scatter();
    let frame = chart.frame().unwrap();
    let image = decode(&chart.png().unwrap());
    assert_eq!((image.0, image.1), (600, 450));
    let (px, py) = frame.to_pixel(10.0, 100.0).unwrap();
    assert_eq!(pixel(&image, px, py), series_color(0));
    let (px, py) = frame.to_pixel(1.0, 2.0).unwrap();
    assert_eq!(pixel(&image, px, py), series_color(1));
    // Equal ratios are equal distances on log axes.
    let a = frame.to_pixel(0.01, 1.0).unwrap().0;
    let b = frame.to_pixel(0.1, 1.0).unwrap().0;
    let c = frame.to_pixel(1.0, 1.0).unwrap().0;
    assert!(((b - a) - (c - b)).abs() < 1e-9);
    assert!(frame
        .x_ticks
        .iter()
        .any(|(v, label)| *v == 0.1 && label == "0.1"));
    // The segment's middle (in log space: the geometric mean) is grey.
    let (mx, my) = frame.to_pixel(0.1, 1.0).unwrap();
    assert_eq!(pixel(&image, mx, my), DARK_GREY);
}

#[test]
fn box_stats_are_tukey_boxes() {
    let mut values: Vec<f64> = (1..=9).map(f64::from).collect();
    values.extend([100.0, f64::NAN]);
    let stats = box_stats(&values).unwrap();
    // numpy.percentile([1..9, 100], [25, 50, 75]) = 3.25, 5.5, 7.75.
    assert_eq!(stats.count, 10);
    assert!((stats.q1 - 3.25).abs() < 1e-12);
    assert!((stats.median - 5.5).abs() < 1e-12);
    assert!((stats.q3 - 7.75).abs() < 1e-12);
    assert_eq!((stats.low_whisker, stats.high_whisker), (1.0, 9.0));
    assert_eq!(stats.outliers, vec![100.0]);
    assert_eq!(box_stats(&[f64::NAN]), None);
}

#[test]
fn box_plot_boxes_take_their_series_colours() {
    let chart = BoxPlot {
        title: "Jaccard per structure".into(),
        x_label: "structure".into(),
        y_axis: Axis::new("Jaccard index"),
        groups: strings(&["mitochondria", "golgi", "nucleoli"]),
        series: vec![
            BoxSeries {
                name: "U-Net".into(),
                values: vec![vec![0.1, 0.2, 0.3, 0.4], vec![0.5, 0.6], vec![]],
            },
            BoxSeries {
                name: "Vox2Vox-RU".into(),
                values: vec![vec![0.3, 0.5, 0.7], vec![0.2, 0.25, 0.3, 0.95], vec![0.6]],
            },
        ],
        width: 700,
        height: 450,
    };
    let frame = chart.frame().unwrap();
    let image = decode(&chart.png().unwrap());
    assert_eq!((image.0, image.1), (700, 450));
    // Between q1 and the median, at the box centre.
    let x = frame.x.pixel(chart.box_center(0, 0)).unwrap();
    let y = frame.y.pixel(0.22).unwrap();
    assert_eq!(pixel(&image, x, y), series_color(0));
    let x = frame.x.pixel(chart.box_center(1, 1)).unwrap();
    let y = frame.y.pixel(0.26).unwrap();
    assert_eq!(pixel(&image, x, y), series_color(1));
    // The empty group of series 0 draws nothing.
    let x = frame.x.pixel(chart.box_center(2, 0)).unwrap();
    let y = frame.y.pixel(0.65).unwrap();
    assert_eq!(pixel(&image, x, y), WHITE);
}

#[test]
fn histogram_bins_are_shared_and_bars_coloured() {
    let edges = [0.0, 0.25, 0.5, 0.75, 1.0];
    assert_eq!(
        bin_counts(&[0.0, 0.1, 0.25, 0.99, 1.0, 1.5, f64::NAN], &edges),
        vec![2, 1, 0, 2]
    );
    let chart = Histogram {
        title: "Radial position".into(),
        x_axis: Axis::new("normalized radius"),
        y_axis: Axis::new("fraction"),
        series: vec![
            HistogramSeries {
                name: "real".into(),
                values: vec![0.1, 0.2, 0.3, 0.6, f64::NAN],
            },
            HistogramSeries {
                name: "synthetic".into(),
                values: vec![0.6, 0.7, 0.9, 0.95],
            },
        ],
        bins: Bins::Edges(edges.to_vec()),
        layout: HistogramLayout::SideBySide,
        normalize: true,
        width: 600,
        height: 400,
    };
    let heights = chart.heights().unwrap();
    assert!(close(&heights[0], &[0.5, 0.25, 0.25, 0.0]));
    assert!(close(&heights[1], &[0.0, 0.0, 0.5, 0.5]));
    let frame = chart.frame().unwrap();
    let image = decode(&chart.png().unwrap());
    assert_eq!((image.0, image.1), (600, 400));
    // Bin 0: the left half is series 0, up to 0.5; bin 3: the right half is series 1.
    let (x, y) = frame.to_pixel(0.0625, 0.25).unwrap();
    assert_eq!(pixel(&image, x, y), series_color(0));
    let (x, y) = frame.to_pixel(0.9375, 0.25).unwrap();
    assert_eq!(pixel(&image, x, y), series_color(1));
    // Above a bar is background.
    let (x, y) = frame.to_pixel(0.0625, 0.6).unwrap();
    assert_eq!(pixel(&image, x, y), WHITE);
    let overlaid = Histogram {
        layout: HistogramLayout::Overlaid,
        bins: Bins::Count(4),
        ..chart.clone()
    };
    assert_eq!(decode(&overlaid.png().unwrap()).0, 600);
    let bad = Histogram {
        bins: Bins::Edges(vec![1.0, 0.0]),
        ..chart
    };
    assert!(matches!(bad.png(), Err(PlotError::InvalidBins(_))));
}

#[test]
fn panels_put_charts_side_by_side() {
    let scatter = |x: usize, y: usize| ScatterChart {
        x_axis: Axis::new(format!("PC{x}")),
        y_axis: Axis::new(format!("PC{y}")),
        series: vec![ScatterSeries {
            name: "real".into(),
            points: vec![(0.0, 1.0), (1.0, -1.0), (0.5, 0.2)],
            labels: Vec::new(),
        }],
        width: 400,
        height: 300,
        ..ScatterChart::default()
    };
    let charts = [scatter(1, 2), scatter(1, 3), scatter(2, 3)];
    let refs: Vec<&dyn Chart> = charts.iter().map(|c| c as &dyn Chart).collect();
    let (w, h, _) = decode(&panel("Shape space", 0, &refs).unwrap());
    assert_eq!(w, 1200);
    assert!(h > 300 && h < 360, "{h}");
    let (w, h, _) = decode(&panel("", 2, &refs).unwrap());
    assert_eq!((w, h), (800, 600));
    // The first chart's pixels are copied unchanged into the first cell.
    let single = decode(&charts[0].png().unwrap());
    let grid = decode(&panel("", 2, &refs).unwrap());
    let frame = charts[0].frame().unwrap();
    let (px, py) = frame.to_pixel(0.5, 0.2).unwrap();
    assert_eq!(pixel(&grid, px, py), pixel(&single, px, py));
    assert_eq!(pixel(&grid, px, py), series_color(0));
}

#[test]
fn heat_map_keeps_the_host_api() {
    let labels = strings(&["dna", "mito"]);
    let values = vec![vec![f64::NAN, 0.4], vec![0.1, f64::NAN]];
    let png = heatmap_png(&HeatMap {
        title: "Pairwise exclusivity",
        caption: "Row A, column B",
        labels: &labels,
        values: &values,
    })
    .unwrap();
    let (w, h, _) = decode(&png);
    assert!(w > 200 && h > 150);
}
