//! Who did the work, from the kernel's accounts: the CPU ticks of a one-thread rayon pool's
//! worker against the whole process's during a call. A call that started threads of its own
//! would leave the worker with a small share (their time counts for the process even after they
//! end). Shared by imaging's and evaluation's thread tests (`#[path]`).

use rayon::{ThreadPool, ThreadPoolBuilder};

pub fn pool(threads: usize) -> ThreadPool {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// User + system clock ticks from a `/proc/.../stat` line (fields 14 and 15; the name in
/// parentheses may hold spaces).
fn ticks(stat_path: &str) -> u64 {
    let stat = std::fs::read_to_string(stat_path).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Runs `work` on the one thread of `single` and returns (the worker's, the process's) CPU
/// ticks during it.
pub fn cpu_during<R: Send>(single: &ThreadPool, work: impl FnOnce() -> R + Send) -> (u64, u64) {
    assert_eq!(single.current_num_threads(), 1);
    let worker = single.install(|| std::fs::read_link("/proc/thread-self").unwrap());
    let worker = format!("/proc/{}/stat", worker.display());
    let (worker_before, process_before) = (ticks(&worker), ticks("/proc/self/stat"));
    single.install(work);
    (
        ticks(&worker) - worker_before,
        ticks("/proc/self/stat") - process_before,
    )
}

/// The worker used at least 90 % of the process's CPU time, over enough ticks to tell.
pub fn assert_one_thread_did_the_work(what: &str, (worker, process): (u64, u64)) {
    assert!(
        process >= 20,
        "{what}: only {process} ticks of CPU, too little to tell threads apart"
    );
    assert!(
        worker * 10 >= process * 9,
        "{what}: the pool's one thread used {worker} of the process's {process} CPU ticks; the rest ran on other threads"
    );
}
