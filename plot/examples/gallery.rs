//! Writes one PNG of each chart family into the folder given as the first argument (default
//! `plot-gallery`), to look at: `cargo run -p silico-plot --example gallery -- /tmp/gallery`.

use silico_plot::{
    heatmap_png, panel, Axis, Bins, BoxPlot, BoxSeries, Chart, HeatMap, Histogram, HistogramLayout,
    HistogramSeries, LineChart, LineSeries, ScatterChart, ScatterSeries, Segment,
};

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or("plot-gallery".into()));
    std::fs::create_dir_all(&out)?;
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(out.join(name), bytes);

    let labels = strings(&["dna", "mito", "golgi", "nucleoli"]);
    let values: Vec<Vec<f64>> = (0..4)
        .map(|i| {
            (0..4)
                .map(|j| {
                    if i == j {
                        f64::NAN
                    } else {
                        (i * 4 + j) as f64 / 20.0
                    }
                })
                .collect()
        })
        .collect();
    write(
        "heatmap.png",
        heatmap_png(&HeatMap {
            title: "Pairwise exclusivity",
            caption: "Row A, column B: mean of A - B over the voxels where A is highest",
            labels: &labels,
            values: &values,
        })?,
    )?;

    let steps = strings(&["initial", "dna", "mito", "golgi", "nucleoli"]);
    write(
        "line.png",
        LineChart {
            title: "Retraining sequence (Fig. 5)".into(),
            x_axis: Axis {
                label: "model retrained".into(),
                ticks: Some(
                    steps
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (i as f64, s.clone()))
                        .collect(),
                ),
                ..Axis::default()
            },
            y_axis: Axis::new("overall exclusivity / MSE"),
            x: (0..5).map(f64::from).collect(),
            series: vec![
                LineSeries {
                    name: "exclusivity".into(),
                    y: vec![0.21, 0.25, 0.31, f64::NAN, 0.37],
                    point_labels: strings(&["", "p=0.1", "p=0.5", "", "p=1"]),
                },
                LineSeries {
                    name: "MSE".into(),
                    y: vec![0.52, 0.5, 0.49, 0.47, 0.48],
                    point_labels: Vec::new(),
                },
            ],
            ..LineChart::default()
        }
        .png()?,
    )?;

    write(
        "scatter.png",
        ScatterChart {
            title: "Shape vs spatial divergence (Fig. 7)".into(),
            x_axis: Axis::log("log spatial divergence (KL)"),
            y_axis: Axis::log("log shape divergence"),
            series: vec![
                ScatterSeries {
                    name: "U-Net".into(),
                    points: vec![(0.02, 0.3), (0.5, 4.0), (0.08, 1.2)],
                    labels: strings(&["mitochondria", "golgi", "nucleoli"]),
                },
                ScatterSeries {
                    name: "Vox2Vox-RU".into(),
                    points: vec![(0.015, 0.25), (0.2, 1.5), (0.06, 0.9)],
                    labels: strings(&["mitochondria", "golgi", "nucleoli"]),
                },
            ],
            segments: vec![
                Segment {
                    from: (0.5, 4.0),
                    to: (0.2, 1.5),
                    arrow: true,
                },
                Segment {
                    from: (0.02, 0.3),
                    to: (0.015, 0.25),
                    arrow: true,
                },
            ],
            ..ScatterChart::default()
        }
        .png()?,
    )?;

    let wave = |n: usize, shift: f64| -> Vec<f64> {
        (0..n)
            .map(|i| 0.5 + 0.3 * ((i as f64 * 1.7 + shift).sin()))
            .collect()
    };
    write(
        "boxplot.png",
        BoxPlot {
            title: "Jaccard index per structure (Fig. 3)".into(),
            x_label: "structure".into(),
            y_axis: Axis::new("Jaccard index"),
            groups: strings(&["mitochondria", "golgi", "nucleoli", "dna"]),
            series: vec![
                BoxSeries {
                    name: "U-Net".into(),
                    values: vec![wave(20, 0.0), wave(15, 1.0), wave(12, 2.0), {
                        let mut v = wave(10, 3.0);
                        v.push(0.01);
                        v
                    }],
                },
                BoxSeries {
                    name: "Vox2Vox-RU".into(),
                    values: vec![wave(20, 0.5), wave(15, 1.5), wave(12, 2.5), wave(10, 3.5)],
                },
            ],
            ..BoxPlot::default()
        }
        .png()?,
    )?;

    let real: Vec<f64> = (0..200)
        .map(|i| ((i as f64 * 0.618).fract()).sqrt())
        .collect();
    let synthetic: Vec<f64> = (0..150).map(|i| (i as f64 * 0.414).fract()).collect();
    let histogram = Histogram {
        title: "Radial position".into(),
        x_axis: Axis::new("normalized radius"),
        y_axis: Axis::new("fraction of objects"),
        series: vec![
            HistogramSeries {
                name: "real".into(),
                values: real,
            },
            HistogramSeries {
                name: "synthetic".into(),
                values: synthetic,
            },
        ],
        bins: Bins::Count(10),
        layout: HistogramLayout::Overlaid,
        normalize: true,
        ..Histogram::default()
    };
    write("histogram_overlaid.png", histogram.png()?)?;
    write(
        "histogram_side_by_side.png",
        Histogram {
            layout: HistogramLayout::SideBySide,
            ..histogram
        }
        .png()?,
    )?;

    let pcs: Vec<[f64; 3]> = (0..60)
        .map(|i| {
            let t = i as f64;
            [
                (t * 0.37).sin() * 2.0,
                (t * 0.73).cos(),
                (t * 1.31).sin() * 0.5,
            ]
        })
        .collect();
    let pc_panel = |a: usize, b: usize| ScatterChart {
        x_axis: Axis::new(format!("PC{}", a + 1)),
        y_axis: Axis::new(format!("PC{}", b + 1)),
        series: vec![
            ScatterSeries {
                name: "real".into(),
                points: pcs[..30].iter().map(|p| (p[a], p[b])).collect(),
                labels: Vec::new(),
            },
            ScatterSeries {
                name: "synthetic".into(),
                points: pcs[30..].iter().map(|p| (p[a], p[b])).collect(),
                labels: Vec::new(),
            },
        ],
        width: 480,
        height: 400,
        ..ScatterChart::default()
    };
    let charts = [pc_panel(0, 1), pc_panel(0, 2), pc_panel(1, 2)];
    let refs: Vec<&dyn Chart> = charts.iter().map(|c| c as &dyn Chart).collect();
    write(
        "panel.png",
        panel("Shape space: mitochondria (µm², ±1σ)", 0, &refs)?,
    )?;
    println!("wrote the gallery to {}", out.display());
    Ok(())
}
