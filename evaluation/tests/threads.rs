//! Exclusivity and the object evaluation run on the current rayon pool (the one `--threads`
//! sizes): a one-thread pool gives the same bits as a four-thread pool, and does all the work
//! on its one thread. That is checked from the kernel's accounts: during the call, the pool's
//! worker uses (nearly) all the CPU time the whole process uses, which a call that started its
//! own threads would not (their time counts for the process even after they end).

#![cfg(target_os = "linux")]

#[path = "../../imaging/tests/common/cpu.rs"]
mod cpu;
mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cpu::{assert_one_thread_did_the_work, cpu_during, pool};
use rayon::ThreadPool;
use silico_evaluation::objects::{ObjectEvaluation, ObjectSettings};
use silico_evaluation::{Exclusivity, Mask};
use silico_imaging::synth::{generate_field, Recipe};
use silico_segmentation::{CellSegmentation, Labels};
use support::uniform;

/// The CPU-time checks measure the whole process, so they run one at a time.
static MEASURING: Mutex<()> = Mutex::new(());

/// Three channels of `voxels` values, enough for 8 ranges, with a mask.
fn exclusivity_image(seed: u64, voxels: usize) -> (Vec<Vec<f32>>, Vec<u8>) {
    let channels = (0..3).map(|c| uniform(seed * 10 + c, voxels)).collect();
    let mask = uniform(seed * 10 + 9, voxels)
        .iter()
        .map(|&v| u8::from(v > 0.2))
        .collect();
    (channels, mask)
}

#[test]
fn exclusivity_is_the_same_on_any_pool_and_one_thread_of_a_one_thread_pool_sums_it() {
    let _measuring = MEASURING.lock().unwrap();
    const VOXELS: usize = 1 << 21;
    let images: Vec<_> = (1..=3)
        .map(|seed| exclusivity_image(seed, VOXELS))
        .collect();
    let summary = |pool: &ThreadPool, accumulator: Exclusivity| {
        let mut accumulator = accumulator;
        for (channels, mask) in &images {
            let channels: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
            pool.install(|| accumulator.update(&channels, Some(Mask::Byte(mask))))
                .unwrap();
        }
        format!("{:?}", accumulator.summary())
    };
    let (single, four) = (pool(1), pool(4));
    let split = || Exclusivity::new(3).unwrap().with_threads(8);
    assert_eq!(summary(&single, split()), summary(&four, split()));
    let by_cores = || Exclusivity::new(3).unwrap();
    assert_eq!(summary(&single, by_cores()), summary(&four, by_cores()));

    let (channels, mask) = &images[0];
    let channels: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
    let mut accumulator = split();
    let spent = cpu_during(&single, || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(400) {
            accumulator
                .update(&channels, Some(Mask::Byte(mask)))
                .unwrap();
        }
    });
    assert_one_thread_did_the_work("exclusivity", spent);
}

fn labels(shape: [usize; 3], data: &[u16]) -> Labels {
    Labels::new(shape, data.iter().map(|&v| u32::from(v)).collect()).unwrap()
}

#[test]
fn objects_are_the_same_on_any_pool_and_one_thread_of_a_one_thread_pool_fits_them() {
    let _measuring = MEASURING.lock().unwrap();
    let recipe = Recipe {
        shape: [20, 80, 80],
        cells: 4,
        cell_height_um: [4.0, 5.0],
        ..Recipe::small()
    };
    let fields: Vec<_> = (0..2).map(|i| generate_field(&recipe, 5, i)).collect();
    let evaluate = |pool: &ThreadPool| {
        let mut evaluation = ObjectEvaluation::new(ObjectSettings::default());
        for field in &fields {
            let cells = CellSegmentation::from_labels(
                labels(field.shape, &field.cells),
                &labels(field.shape, &field.nuclei),
            )
            .unwrap();
            let real = labels(field.shape, &field.mitochondria);
            let synthetic = labels(field.shape, &field.nucleoli);
            pool.install(|| evaluation.add_image(&real, &synthetic, &cells, field.voxel_um))
                .unwrap();
        }
        evaluation
    };
    let (single, four) = (pool(1), pool(4));
    let on_four = evaluate(&four);
    assert!(
        on_four.objects().len() > 20,
        "only {} objects",
        on_four.objects().len()
    );
    let mut on_single = None;
    let spent = cpu_during(&single, || on_single = Some(evaluate(&single)));
    assert_eq!(
        format!("{:?}", on_single.unwrap().objects()),
        format!("{:?}", on_four.objects())
    );
    assert_one_thread_did_the_work("objects", spent);
}
