//! `--threads N` sizes the process's one compute pool: `silico synth` (whose fields are made on
//! it) runs with exactly N pool threads, which the host names `silico-pool-<i>`. The threads are
//! read from `/proc/<pid>/task/*/comm` while the command runs; counting by name, not the total
//! `Threads:`, leaves out the threads libtorch and the Ctrl-C handler start on their own. The
//! `--threads 2` run shows that the pool's threads are seen at all.

#![cfg(target_os = "linux")]

mod common;

use common::silico_bin;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What the host names its pool's threads (`silico-pool-0`, ...): a prefix that fits Linux's
/// 15-byte thread names with the index.
const POOL_THREAD: &str = "silico-pool-";

/// What each plugin library names the threads of its own compute pool (every cdylib has its
/// own copy of rayon, which the host sizes through the plugin ABI).
const PLUGIN_POOL_THREAD: &str = "silico-plug-";

/// Runs `silico ARGS` to the end and returns the ids of every pool thread seen while it ran.
fn pool_threads_seen(args: &[&str]) -> BTreeSet<String> {
    threads_seen(args, POOL_THREAD)
}

/// Runs `silico ARGS` to the end and returns the ids of every thread whose name starts with
/// `prefix` seen while it ran.
fn threads_seen(args: &[&str], prefix: &str) -> BTreeSet<String> {
    let mut child = Command::new(silico_bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let tasks = format!("/proc/{}/task", child.id());
    let mut seen = BTreeSet::new();
    while child.try_wait().unwrap().is_none() {
        // Threads may come and go between listing and reading: skip what vanished.
        for task in std::fs::read_dir(&tasks).into_iter().flatten().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.starts_with(prefix) {
                seen.insert(task.file_name().to_string_lossy().into_owned());
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "silico {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    seen
}

#[test]
fn synth_computes_on_as_many_pool_threads_as_threads_says() {
    let dir = tempfile::tempdir().unwrap();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("synth-{threads}"));
        let seen = pool_threads_seen(&[
            "synth",
            "--recipe",
            "small",
            "--fields",
            "4",
            "--out",
            out.to_str().unwrap(),
            "--threads",
            threads,
        ]);
        assert_eq!(
            seen.len().to_string(),
            threads,
            "`--threads {threads}`: pool threads {seen:?} (named {POOL_THREAD}<i> by the host)"
        );
    }
}

#[test]
fn a_metric_plugin_computes_on_as_many_threads_as_threads_says() {
    // Predictions of three structures for four images: the real images of a synthetic set.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let synth = [
        "synth",
        "--recipe",
        "small",
        "--fields",
        "4",
        "--out",
        data.to_str().unwrap(),
    ];
    pool_threads_seen(&synth);
    let predictions = dir.path().join("predictions");
    for structure in ["dna", "nucleoli", "cell_membrane"] {
        let folder = predictions.join(structure);
        std::fs::create_dir_all(&folder).unwrap();
        for field in 0..4 {
            let image = format!("field_{field:03}");
            std::fs::copy(
                data.join("fields")
                    .join(&image)
                    .join(format!("{structure}.tif")),
                folder.join(format!("{image}.tif")),
            )
            .unwrap();
        }
    }
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("report-{threads}"));
        let seen = threads_seen(
            &[
                "evaluate",
                "exclusivity",
                "--predictions",
                predictions.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--threads",
                threads,
            ],
            PLUGIN_POOL_THREAD,
        );
        assert_eq!(
            seen.len().to_string(),
            threads,
            "`--threads {threads}`: the exclusivity plugin's pool threads {seen:?}"
        );
    }
}
