//! Throughput of silico's exclusivity next to a vectorized NumPy implementation on the same
//! 12 × 64 × 256 × 256 f32 prediction set (12 structures, one 64 × 256 × 256 image):
//!
//! ```sh
//! cargo run --release -p silico-evaluation --example exclusivity_bench
//! ```
//!
//! The predictions are deterministic i.i.d. uniform values: the worst case for the grouping by
//! highest channel, since the highest channel changes at almost every voxel. A plain streaming
//! sum over the same data, with the same threads, shows what the memory system allows. GB/s
//! counts the input bytes (C × voxels × 4) per second, best of several runs.

#[path = "../tests/support/mod.rs"]
mod support;

use silico_evaluation::Exclusivity;
use std::time::Instant;
use support::{numpy_reference, uniform, write_channels};

const CHANNELS: usize = 12;
const SHAPE: [usize; 3] = [64, 256, 256];
const RUNS: usize = 5;

/// Best wall time of `runs` calls.
fn best_seconds(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Sum of every value, split over `threads` like the exclusivity pass: the read-bandwidth bound.
fn streaming_sum(channels: &[&[f32]], threads: usize) -> f32 {
    let voxels = channels[0].len();
    let per_thread = voxels.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = t * per_thread..((t + 1) * per_thread).min(voxels);
                scope.spawn(move || {
                    let mut lanes = [0.0f32; 16];
                    for channel in channels {
                        for block in channel[range.clone()].chunks_exact(16) {
                            lanes.iter_mut().zip(block).for_each(|(l, v)| *l += v);
                        }
                    }
                    lanes.iter().sum::<f32>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn main() {
    let voxels: usize = SHAPE.iter().product();
    let gigabytes = (CHANNELS * voxels * 4) as f64 / 1e9;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "exclusivity of {CHANNELS} x {} x {} x {} f32 ({gigabytes:.3} GB), {cores} cores, best of {RUNS}",
        SHAPE[0], SHAPE[1], SHAPE[2]
    );
    let predictions: Vec<Vec<f32>> = (0..CHANNELS)
        .map(|c| uniform(c as u64 + 1, voxels))
        .collect();
    let slices: Vec<&[f32]> = predictions.iter().map(Vec::as_slice).collect();

    let mut rows: Vec<(String, f64)> = Vec::new();
    let mut summary = None;
    for threads in [1, cores] {
        let seconds = best_seconds(RUNS, || {
            let mut exclusivity = Exclusivity::new(CHANNELS).unwrap().with_threads(threads);
            exclusivity.update(&slices, None).unwrap();
            summary = Some(exclusivity.summary());
        });
        rows.push((format!("silico, {threads} thread(s)"), seconds));
        let seconds = best_seconds(RUNS, || {
            std::hint::black_box(streaming_sum(&slices, threads));
        });
        rows.push((format!("streaming sum, {threads} thread(s)"), seconds));
        if cores == 1 {
            break;
        }
    }
    let summary = summary.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("predictions.f32");
    write_channels(&data, &predictions);
    let numpy = numpy_reference(&data, CHANNELS, None, 3);
    let numpy_seconds = numpy.seconds.unwrap();
    rows.push(("NumPy (vectorized, best of 3)".into(), numpy_seconds));

    for (what, seconds) in &rows {
        println!(
            "  {what:<32} {:>8.1} ms  {:>7.2} GB/s",
            seconds * 1e3,
            gigabytes / seconds
        );
    }
    let silico_best = rows
        .iter()
        .filter(|(what, _)| what.starts_with("silico"))
        .map(|(_, s)| *s)
        .fold(f64::INFINITY, f64::min);
    println!(
        "  silico / NumPy throughput: {:.1}x",
        numpy_seconds / silico_best
    );
    let worst = summary
        .pairwise
        .iter()
        .flatten()
        .zip(numpy.pairwise.iter().flatten())
        .chain(summary.organelle.iter().zip(&numpy.organelle))
        .filter(|(s, n)| !(s.is_nan() && n.is_nan()))
        .map(|(s, n)| (s - n).abs())
        .fold((summary.overall - numpy.overall).abs(), f64::max);
    println!(
        "  overall exclusivity {:.6} (NumPy {:.6}); largest difference in any measure {worst:.2e}",
        summary.overall, numpy.overall
    );
}
