//! The Slurm executor against a real single-node Slurm: every test first runs
//! `scripts/slurm-setup` (it installs and starts Slurm once, and takes milliseconds when Slurm is
//! up) and fails with its one line when Slurm cannot start. An array of stand-in cells runs each
//! cell with its arguments intact (paths with spaces and `%`), a failed cell stops none of the
//! others, and the report job runs after all of them; a cell still queued is not submitted
//! twice; a refused submission is one line with sbatch's message; and a tiny plan run through
//! `--executor slurm` gives the local executor's results, cell by cell.

mod common;

use common::{scratch_registry, silico_bin};
use silico::bench::{
    local::CellCommand,
    slurm::{self, SlurmSettings},
};
use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Command, Output},
    sync::OnceLock,
    time::{Duration, Instant},
};

/// Starts Slurm once for the tests of this file, or fails the test with the set-up's reason.
fn slurm() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/slurm-setup");
        let output = Command::new(&setup)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", setup.display()))?;
        match output.status.success() {
            true => Ok(()),
            false => Err(String::from_utf8_lossy(&output.stderr).trim().to_string()),
        }
    });
    if let Err(reason) = ready {
        panic!("Slurm cannot start on this machine: {reason}");
    }
}

/// Waits until Slurm's job `id` has ended (at most `limit`); returns its final state.
fn wait_for_job(id: &str, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        let output = Command::new("squeue")
            .args(["--jobs", id, "--states=all", "--noheader", "--format=%T"])
            .output()
            .unwrap();
        let state = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if !state.is_empty() && !slurm::is_active(&state) {
            return state;
        }
        assert!(
            started.elapsed() < limit,
            "Slurm job {id} has not ended after {limit:?} (state {state:?})"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn executable(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A stand-in for silico: `bench cell` writes its cell's result.json with the arguments it got
/// (a cell of model `bad` fails); `bench report` lists the results there are when it runs.
const STAND_IN: &str = r#"#!/bin/sh
set -eu
case "$1 $2" in
  "bench cell")
    out=$4 cell=$6
    sleep 1
    case "$cell" in bad/*) echo "bad cell" >&2; exit 1 ;; esac
    printf '%s\n' "$@" > "$out/cells/$cell/result.json" ;;
  "bench report")
    find "$3/cells" -name result.json | sort > "$3/report.tmp"
    mv "$3/report.tmp" "$3/report.html" ;;
esac
"#;

#[test]
fn an_array_runs_every_cell_then_the_report() {
    slurm();
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("bench 50% done");
    let command = CellCommand {
        silico: root.path().join("bin dir/silico"),
        registry: root.path().join("my registry.toml"),
        threads: 1,
        device: "cpu".into(),
    };
    executable(&command.silico, STAND_IN);
    let cells: Vec<String> = ["m/dna/seed0", "m x/nucleoli/seed1", "bad/dna/seed0"]
        .map(String::from)
        .to_vec();
    for cell in &cells {
        fs::create_dir_all(out.join("cells").join(cell)).unwrap();
    }
    let settings = SlurmSettings {
        cpus_per_task: Some(1),
        time: Some("00:05:00".into()),
        max_parallel: Some(2),
        ..SlurmSettings::default()
    };
    let submission = slurm::submit(&out, &cells, &settings, &command).unwrap();
    assert_eq!(submission.cells, cells);
    assert_eq!(
        slurm::submissions(&out).unwrap(),
        std::slice::from_ref(&submission)
    );
    assert_eq!(
        fs::read_to_string(out.join("slurm/cells.txt")).unwrap(),
        "m/dna/seed0\nm x/nucleoli/seed1\nbad/dna/seed0\n"
    );

    // Each cell takes a second, so the array is still queued or running.
    let twice = slurm::submit(&out, &cells[..1], &settings, &command).unwrap_err();
    assert!(
        twice.to_string().starts_with("cell m/dna/seed0 is still"),
        "{twice}"
    );

    assert_eq!(
        wait_for_job(&submission.report, Duration::from_secs(120)),
        "COMPLETED"
    );
    // The report saw every cell that succeeded: it ran after all of them.
    let listed = fs::read_to_string(out.join("report.html")).unwrap();
    let expected: Vec<String> = ["m x/nucleoli/seed1", "m/dna/seed0"]
        .iter()
        .map(|cell| {
            out.join("cells")
                .join(cell)
                .join("result.json")
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(listed.lines().collect::<Vec<_>>(), expected);
    let arguments = fs::read_to_string(out.join("cells/m x/nucleoli/seed1/result.json")).unwrap();
    assert_eq!(
        arguments.lines().collect::<Vec<_>>(),
        [
            "bench",
            "cell",
            "--out",
            out.to_str().unwrap(),
            "--cell",
            "m x/nucleoli/seed1",
            "--registry",
            command.registry.to_str().unwrap(),
            "--threads",
            "1",
            "--device",
            "cpu"
        ]
    );
    assert_eq!(
        fs::read_to_string(out.join("cells/bad/dna/seed0/log.txt")).unwrap(),
        "bad cell\n"
    );
    let states = slurm::states(&out).unwrap();
    let expected: BTreeMap<String, String> = [
        ("bad/dna/seed0", "FAILED"),
        ("m x/nucleoli/seed1", "COMPLETED"),
        ("m/dna/seed0", "COMPLETED"),
    ]
    .into_iter()
    .map(|(cell, state)| (cell.to_string(), state.to_string()))
    .collect();
    assert_eq!(states, expected);
    for cell in &cells {
        let log = slurm::task_log(&out, cell).unwrap().unwrap();
        assert!(log.is_file(), "{}", log.display());
    }
    assert_eq!(slurm::task_log(&out, "m/dna/seed9").unwrap(), None);
    let report_log = format!("slurm/logs/report_{}.log", submission.report);
    assert!(out.join(report_log).is_file());
}

#[test]
fn a_refused_submission_is_one_line_with_sbatchs_message() {
    slurm();
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("bench");
    let command = CellCommand {
        silico: "/bin/true".into(),
        registry: root.path().join("registry.toml"),
        threads: 1,
        device: "cpu".into(),
    };
    let settings = SlurmSettings {
        partition: Some("no-such-partition".into()),
        ..SlurmSettings::default()
    };
    let error = slurm::submit(&out, &["m/dna/seed0".into()], &settings, &command)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("sbatch refused the cells' array job")
            && error.contains("invalid partition")
            && !error.contains('\n'),
        "{error}"
    );
    assert!(slurm::submissions(&out).unwrap().is_empty());
}

const REGISTRY: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"
exclusivity = "{exclusivity}"

[models.tiny]
generator = { component = "unet3d", depth = 1, mult_chan = 2 }
losses = [{ component = "mse" }]
train = { iterations = 3, batch = 2, patch = [16, 32, 32], lr = 3e-3 }
"#;

/// Everything a cell's result.json holds except what measures the run itself.
fn result(out: &Path, cell: &str) -> serde_json::Value {
    let path = out.join("cells").join(cell).join("result.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut result: serde_json::Value = serde_json::from_str(&text).unwrap();
    let costs = result["costs"].as_object_mut().unwrap();
    for measured in ["seconds_per_iteration", "wall_seconds", "peak_memory_bytes"] {
        assert!(
            costs.remove(measured).is_some(),
            "{cell}: no costs.{measured}"
        );
    }
    result
}

/// Every row of results.csv except the costs, which are measurements of the run itself.
fn rows(out: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(out.join("results.csv")).unwrap();
    let costs = ["seconds_per_iteration", "wall_seconds", "peak_memory_bytes"];
    let metric = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "metric")
        .unwrap();
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect::<Vec<_>>())
        .filter(|r| !costs.contains(&r[metric].as_str()))
        .collect();
    rows.sort();
    rows
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_plan_through_slurm_gives_the_local_results() {
    slurm();
    let registry = scratch_registry(REGISTRY);
    let root = registry.dir.path();
    let data = root.join("data");
    let synth = Command::new(silico_bin())
        .args([
            "synth", "--recipe", "small", "--fields", "4", "--seed", "5", "--out",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", text(&synth));
    let plan = root.join("plan.toml");
    fs::write(
        &plan,
        format!(
            "data = \"{}\"\nstructures = [\"dna\", \"nucleoli\"]\nseeds = [0]\n\n\
             [models.tiny]\n\n[slurm]\ncpus_per_task = 1\ntime = \"00:10:00\"\nmax_parallel = 2\n",
            data.display()
        ),
    )
    .unwrap();
    let bench = |executor: &str, out: &Path, path: Option<&str>| {
        let mut command = Command::new(silico_bin());
        command
            .args(["bench", "run"])
            .arg(&plan)
            .arg("--out")
            .arg(out)
            .args(["--executor", executor, "--threads", "1", "--registry"])
            .arg(&registry.path);
        if let Some(path) = path {
            command.env("PATH", path);
        }
        command.output().unwrap()
    };

    let local = root.join("local");
    let output = bench("local", &local, None);
    assert!(output.status.success(), "{}", text(&output));

    // Without sbatch, one line saying so.
    let missing = bench("slurm", &root.join("no-sbatch"), Some("/nonexistent"));
    assert!(!missing.status.success());
    let message = String::from_utf8_lossy(&missing.stderr);
    assert!(
        message.contains("cannot run sbatch") && message.trim().lines().count() == 1,
        "{message}"
    );

    let cluster = root.join("slurm");
    let output = bench("slurm", &cluster, None);
    assert!(output.status.success(), "{}", text(&output));
    let submission = slurm::submissions(&cluster).unwrap().pop().unwrap();
    let report = wait_for_job(&submission.report, Duration::from_secs(600));
    let states = slurm::states(&cluster).unwrap();
    assert_eq!(report, "COMPLETED", "cells: {states:?}");
    for cell in ["tiny/dna/seed0", "tiny/nucleoli/seed0"] {
        assert_eq!(states[cell], "COMPLETED");
        assert_eq!(result(&cluster, cell), result(&local, cell), "{cell}");
    }
    assert!(cluster.join("report.html").is_file());
    let local_rows = rows(&local);
    assert!(local_rows.len() > 4, "{local_rows:?}");
    assert_eq!(rows(&cluster), local_rows);
}
