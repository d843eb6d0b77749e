//! `silico retrain` end to end on a small synthetic dataset with a very small U-Net: the
//! greedy order and the p kept follow the measurements, the final report agrees with the
//! retrained predictions, and a retraining interrupted with Ctrl-C resumes to exactly the
//! result of an uninterrupted one.

mod common;

use common::{
    interrupt_when, ok, run_silico, scratch_registry, silico_bin, train_args, ScratchRegistry,
};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

const REGISTRY: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"
exclusivity = "{exclusivity}"

[models.micro]
generator = { component = "unet3d", depth = 2, mult_chan = 4 }
losses = [{ component = "mse" }]
train = { iterations = 30, batch = 2, patch = [8, 32, 32], lr = 3e-3, seed = 7 }
retrain = { iterations = 8, p = [0.0, 4.0], order = "decreasing" }

[models.plain]
generator = { component = "unet3d", depth = 2, mult_chan = 4 }
losses = [{ component = "mse" }]
"#;

const STRUCTURES: [&str; 3] = ["cell_membrane", "dna", "nucleoli"];

/// A synthetic dataset and the initial runs of three structures, made once for all tests.
fn initial() -> &'static (PathBuf, PathBuf, ScratchRegistry) {
    static INITIAL: OnceLock<(PathBuf, PathBuf, ScratchRegistry)> = OnceLock::new();
    INITIAL.get_or_init(|| {
        let registry = scratch_registry(REGISTRY);
        let data = registry.dir.path().join("data");
        ok(&run_silico(
            &registry,
            &[
                "synth",
                "--recipe",
                "small",
                "--fields",
                "3",
                "--seed",
                "5",
                "--out",
                data.to_str().unwrap(),
            ],
        ));
        let runs = registry.dir.path().join("initial");
        for structure in STRUCTURES {
            ok(&run_silico(
                &registry,
                &train_args("micro", structure, &data, &runs.join(structure), &[]),
            ));
        }
        (data, runs, registry)
    })
}

fn retrain_args<'a>(data: &'a Path, runs: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "retrain",
        "--model",
        "micro",
        "--data",
        data.to_str().unwrap(),
        "--initial",
        runs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The full retraining, run once and shared.
fn retrained() -> &'static PathBuf {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let (data, runs, registry) = initial();
        let out = registry.dir.path().join("retrained");
        let stdout = ok(&run_silico(registry, &retrain_args(data, runs, &out)));
        assert!(stdout.contains("overall exclusivity"), "{stdout}");
        // One line per retrained structure, each against its p = 0 control (0 is in the list).
        let controlled = stdout
            .lines()
            .filter(|l| l.contains("p = 0"))
            .filter(|l| l.starts_with("  "))
            .count();
        assert_eq!(controlled, 3, "{stdout}");
        out
    })
}

#[test]
fn the_order_and_the_kept_p_follow_the_measurements() {
    let state = json(&retrained().join("state.json"));
    let before = &state["before"]["organelle_exclusivity"];
    let order: Vec<&str> = state["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(order.len(), 3);
    for pair in order.windows(2) {
        assert!(
            before[pair[0]].as_f64().unwrap() >= before[pair[1]].as_f64().unwrap(),
            "decreasing organelle exclusivity: {order:?} {before}"
        );
    }
    let candidates = state["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 6, "two p for each of three structures");
    let ratio =
        |m: &Value| m["overall_exclusivity"].as_f64().unwrap() / m["overall_mse"].as_f64().unwrap();
    for (k, step) in state["steps"].as_array().unwrap().iter().enumerate() {
        assert_eq!(step["structure"], order[k]);
        let best = candidates
            .iter()
            .filter(|c| c["step"] == k)
            .map(|c| ratio(&c["measures"]))
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(
            ratio(&step["measures"]),
            best,
            "step {k} keeps the best ratio"
        );
    }
}

#[test]
fn the_report_agrees_with_the_retrained_predictions() {
    let out = retrained();
    let state = json(&out.join("state.json"));
    let last = state["steps"].as_array().unwrap().last().unwrap();
    // The final set is measured again from the replaced prediction folders.
    let after = json(&out.join("report/exclusivity-after/exclusivity.json"));
    assert_eq!(
        after["overall"].as_f64().unwrap(),
        last["measures"]["overall_exclusivity"].as_f64().unwrap()
    );
    let before = json(&out.join("report/exclusivity-before/exclusivity.json"));
    assert_eq!(
        before["overall"].as_f64().unwrap(),
        state["before"]["overall_exclusivity"].as_f64().unwrap()
    );
    let table = read(&out.join("report/table1.csv"));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 1 + 3 + 1, "{table}");
    assert!(lines[4].starts_with("micro,overall,"), "{table}");
    let overall_after: f64 = lines[4].split(',').nth(3).unwrap().parse().unwrap();
    let expected = last["measures"]["overall_exclusivity"].as_f64().unwrap();
    assert!((overall_after - expected).abs() < 1e-6, "{table}");
    assert_eq!(
        read(&out.join("report/trajectory.csv")).lines().count(),
        1 + 1 + 3
    );
    for picture in ["trajectory.png", "mse_vs_exclusivity.png"] {
        let bytes = std::fs::read(out.join("report").join(picture)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{picture}");
    }
}

/// The CSV file's rows as header → value maps.
fn records(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .map(String::from)
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// A six-decimal CSV number against `expected` (NaN: written empty).
fn assert_written(written: &str, expected: f64, what: &str) {
    if expected.is_nan() {
        assert_eq!(written, "", "{what}");
    } else {
        let value: f64 = written
            .parse()
            .unwrap_or_else(|_| panic!("{what}: {written:?}"));
        assert!(
            (value - expected).abs() < 2e-6,
            "{what}: {value} against {expected}"
        );
    }
}

#[test]
fn table1_and_fig6_hold_each_steps_p0_control() {
    let out = retrained();
    let state = json(&out.join("state.json"));
    let table = records(&out.join("report/table1.csv"));
    let fig6 = records(&out.join("report/mse_vs_exclusivity.csv"));
    let own = |m: &Value, s: &str| {
        let value = |key: &str| m[key][s].as_f64().unwrap_or(f64::NAN);
        (value("organelle_exclusivity"), value("mse"))
    };
    for (k, step) in state["steps"].as_array().unwrap().iter().enumerate() {
        let structure = step["structure"].as_str().unwrap();
        let control = state["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["step"] == k && c["p"].as_f64() == Some(0.0))
            .expect("p = 0 is in the test's list");
        let (control_exclusivity, control_mse) = own(&control["measures"], structure);
        let (kept_exclusivity, kept_mse) = own(&step["measures"], structure);
        let row = table.iter().find(|r| r["structure"] == structure).unwrap();
        let kept_is_control = step["p"].as_f64() == Some(0.0);
        assert_eq!(
            row["control"],
            if kept_is_control { "kept" } else { "separate" }
        );
        assert_written(
            &row["exclusivity_kept"],
            kept_exclusivity,
            "exclusivity_kept",
        );
        assert_written(&row["mse_after"], kept_mse, "mse_after");
        assert_written(
            &row["exclusivity_control"],
            control_exclusivity,
            "exclusivity_control",
        );
        assert_written(&row["mse_control"], control_mse, "mse_control");
        assert_written(
            &row["exclusivity_kept_minus_control"],
            kept_exclusivity - control_exclusivity,
            "exclusivity_kept_minus_control",
        );
        assert_written(
            &row["mse_kept_minus_control"],
            kept_mse - control_mse,
            "mse_kept_minus_control",
        );
        let point = fig6.iter().find(|r| r["structure"] == structure).unwrap();
        assert_written(&point["exclusivity_control"], control_exclusivity, "Fig. 6");
        assert_written(&point["mse_control"], control_mse, "Fig. 6");
    }
    let overall = table.iter().find(|r| r["structure"] == "overall").unwrap();
    assert_eq!(
        (overall["control"].as_str(), overall["mse_control"].as_str()),
        ("", "")
    );
}

#[test]
fn an_interrupted_retraining_resumes_to_the_same_result() {
    let (data, runs, registry) = initial();
    let out = registry.dir.path().join("interrupted");
    let child = Command::new(silico_bin())
        .args(retrain_args(data, runs, &out))
        .args(["--threads", "1", "--registry"])
        .arg(&registry.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state = out.join("state.json");
    let output = interrupt_when(
        child,
        || state.exists() && !json(&state)["candidates"].as_array().unwrap().is_empty(),
        Duration::from_secs(300),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let interrupted = json(&state);
    assert!(interrupted["steps"].as_array().unwrap().len() < 3);

    let mut args = retrain_args(data, runs, &out);
    args.push("--resume");
    ok(&run_silico(registry, &args));
    let uninterrupted = retrained();
    for file in ["report/table1.csv", "report/trajectory.csv"] {
        assert_eq!(
            read(&out.join(file)),
            read(&uninterrupted.join(file)),
            "{file}"
        );
    }
}

#[test]
fn bad_requests_get_one_line() {
    let (data, runs, registry) = initial();
    let out = registry.dir.path().join("refused");
    let mut args = retrain_args(data, runs, &out);
    args[2] = "plain";
    let output = run_silico(registry, &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("key `models.plain.retrain`: missing"),
        "{stderr}"
    );

    let mut args = retrain_args(data, runs, &out);
    args.extend(["--structure", "dna"]);
    let output = run_silico(registry, &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 2 structures"), "{stderr}");

    let mut args = retrain_args(data, runs, &out);
    args.extend(["--structure", "dna", "--structure", "golgi"]);
    let output = run_silico(registry, &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no run for `golgi`"), "{stderr}");
    assert!(!out.join("state.json").exists(), "nothing was started");
}
