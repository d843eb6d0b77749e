//! `synth::generate` makes its fields on the current rayon pool (the one `--threads` sizes): a
//! one-thread pool writes the same bytes as a three-thread pool, and does all the work on its
//! one thread. That is checked from the kernel's accounts: during the call, the pool's worker
//! uses (nearly) all the CPU time the whole process uses, which a call that started its own
//! threads would not (their time counts for the process even after they end). One test, so
//! that nothing else runs in the process meanwhile.

#![cfg(target_os = "linux")]

mod common;

use common::files;

use common::cpu::{assert_one_thread_did_the_work, cpu_during, pool};
use silico_imaging::synth::{generate, Recipe, SynthOptions};

#[test]
fn synth_writes_the_same_bytes_on_any_pool_and_one_thread_of_a_one_thread_pool_makes_them() {
    let recipe = Recipe {
        shape: [20, 80, 80],
        cells: 4,
        cell_height_um: [4.0, 5.0],
        ..Recipe::small()
    };
    let (on_single, on_three) = (common::scratch("threads-1"), common::scratch("threads-3"));
    let single = pool(1);
    let (worker, process) = cpu_during(&single, || {
        generate(&recipe, &on_single, 3, 2, SynthOptions::default()).unwrap()
    });
    pool(3).install(|| generate(&recipe, &on_three, 3, 2, SynthOptions::default()).unwrap());

    let (a, b) = (files(&on_single), files(&on_three));
    assert!(a.len() > 3 * 30, "{} files", a.len());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, bytes) in &a {
        assert!(bytes == &b[path], "{} differs", path.display());
    }
    assert_one_thread_did_the_work("synth", (worker, process));
}
