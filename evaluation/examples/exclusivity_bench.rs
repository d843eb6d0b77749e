//! Throughput of silico's exclusivity next to a vectorized NumPy implementation and a plain
//! streaming read, on the same 12 × 64 × 256 × 256 f32 prediction sets (12 structures, one
//! 64 × 256 × 256 image):
//!
//! ```sh
//! cargo run --release -p silico-evaluation --example exclusivity_bench
//! ```
//!
//! Two sets: i.i.d. uniform values, the worst case, where the highest channel changes at almost
//! every voxel; and the same values box-blurred (7 voxels wide, twice, along each axis), where
//! the highest channel holds for a few voxels, as across organelles. A streaming sum of every
//! value, with the same threads, shows what the memory system allows. GB/s counts the input
//! bytes (C × voxels × 4) per second, best of several runs.

#[path = "../tests/support/mod.rs"]
mod support;

use rayon::prelude::*;
use silico_evaluation::Exclusivity;
use std::time::Instant;
use support::{numpy_reference, uniform, write_channels};

const CHANNELS: usize = 12;
const SHAPE: [usize; 3] = [64, 256, 256];
const RUNS: usize = 7;

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

/// Sum of every value in one range per thread of `pool`, like the exclusivity pass: the
/// read-bandwidth bound.
fn streaming_sum(pool: &rayon::ThreadPool, channels: &[&[f32]]) -> f32 {
    let threads = pool.current_num_threads();
    let voxels = channels[0].len();
    let per_thread = voxels.div_ceil(threads);
    pool.install(|| {
        (0..threads)
            .into_par_iter()
            .map(|t| {
                let range = t * per_thread..((t + 1) * per_thread).min(voxels);
                let mut lanes = [0.0f32; 16];
                for channel in channels {
                    for block in channel[range.clone()].chunks_exact(16) {
                        lanes.iter_mut().zip(block).for_each(|(l, v)| *l += v);
                    }
                }
                lanes.iter().sum::<f32>()
            })
            .sum()
    })
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// Mean over a window of `2 * radius + 1` voxels along each axis in turn (shrunk at the edges).
fn box_blur(values: &mut [f32], radius: usize) {
    let strides = [SHAPE[1] * SHAPE[2], SHAPE[2], 1];
    let mut line = Vec::new();
    let mut prefix = Vec::new();
    for (axis, &stride) in strides.iter().enumerate() {
        let n = SHAPE[axis];
        for start in (0..values.len()).filter(|&i| (i / stride) % n == 0) {
            line.clear();
            line.extend((0..n).map(|i| values[start + i * stride]));
            prefix.clear();
            prefix.push(0.0f64);
            for (i, &v) in line.iter().enumerate() {
                prefix.push(prefix[i] + f64::from(v));
            }
            for (i, value) in (0..n).map(|i| start + i * stride).enumerate() {
                let (lo, hi) = (i.saturating_sub(radius), (i + radius + 1).min(n));
                values[value] = ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32;
            }
        }
    }
}

/// Times silico and NumPy on one prediction set; returns (what, seconds) rows.
fn measure(name: &str, predictions: &[Vec<f32>], thread_counts: &[usize]) -> Vec<(String, f64)> {
    let slices: Vec<&[f32]> = predictions.iter().map(Vec::as_slice).collect();
    let mut rows = Vec::new();
    let mut summary = None;
    for &threads in thread_counts {
        let pool = pool(threads);
        let seconds = best_seconds(RUNS, || {
            let mut exclusivity = Exclusivity::new(CHANNELS).unwrap().with_threads(threads);
            pool.install(|| exclusivity.update(&slices, None)).unwrap();
            summary = Some(exclusivity.summary());
        });
        rows.push((format!("{name}: silico, {threads} thread(s)"), seconds));
    }
    let summary = summary.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("predictions.f32");
    write_channels(&data, predictions);
    let numpy = numpy_reference(&data, CHANNELS, None, 3);
    rows.push((
        format!("{name}: NumPy (vectorized, best of 3)"),
        numpy.seconds.unwrap(),
    ));
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
        "  {name}: overall exclusivity {:.6} (NumPy {:.6}), largest difference in any measure {worst:.2e}",
        summary.overall, numpy.overall
    );
    rows
}

fn main() {
    let voxels: usize = SHAPE.iter().product();
    let gigabytes = (CHANNELS * voxels * 4) as f64 / 1e9;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut thread_counts = vec![1, cores];
    thread_counts.dedup();
    println!(
        "exclusivity of {CHANNELS} x {} x {} x {} f32 ({gigabytes:.3} GB), {cores} cores, best of {RUNS}",
        SHAPE[0], SHAPE[1], SHAPE[2]
    );
    let random: Vec<Vec<f32>> = (0..CHANNELS)
        .map(|c| uniform(c as u64 + 1, voxels))
        .collect();
    let blurred: Vec<Vec<f32>> = random
        .iter()
        .map(|values| {
            let mut values = values.clone();
            box_blur(&mut values, 3);
            box_blur(&mut values, 3);
            values
        })
        .collect();

    let slices: Vec<&[f32]> = random.iter().map(Vec::as_slice).collect();
    let mut streaming = Vec::new();
    for &threads in &thread_counts {
        let pool = pool(threads);
        let seconds = best_seconds(RUNS, || {
            std::hint::black_box(streaming_sum(&pool, &slices));
        });
        streaming.push((threads, seconds));
    }
    let mut rows: Vec<(String, f64)> = streaming
        .iter()
        .map(|(threads, s)| (format!("streaming sum, {threads} thread(s)"), *s))
        .collect();
    rows.extend(measure("random", &random, &thread_counts));
    rows.extend(measure("blurred", &blurred, &thread_counts));

    println!(
        "  {:<40} {:>9} {:>9} {:>18}",
        "", "ms", "GB/s", "of streaming sum"
    );
    for (what, seconds) in &rows {
        let bound = streaming
            .iter()
            .find(|(threads, _)| what.contains(&format!(" {threads} thread")))
            .map(|(_, s)| format!("{:.0}%", 100.0 * s / seconds))
            .unwrap_or_default();
        println!(
            "  {what:<40} {:>9.1} {:>9.2} {bound:>18}",
            seconds * 1e3,
            gigabytes / seconds
        );
    }
    for name in ["random", "blurred"] {
        let seconds = |what: &str| {
            rows.iter()
                .filter(|(w, _)| w.starts_with(name) && w.contains(what))
                .map(|(_, s)| *s)
                .fold(f64::INFINITY, f64::min)
        };
        println!(
            "  {name}: silico / NumPy throughput {:.1}x",
            seconds("NumPy") / seconds("silico")
        );
    }
}
