//! TensorBoard's own reader (`EventAccumulator`, in `$SILICO_PYTHON`) finds in a run's
//! `tensorboard/` folder every column of its `losses.csv` under the same name, at the same
//! steps, with the same values to f32 precision — the discriminator's terms too, across a
//! resume, and after a resume from an older checkpoint, whose repeated steps replace the old.

mod common;

use common::{ok, run_silico, scratch_registry, synth_small, train_args, ScratchRegistry};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

const REGISTRY: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"
patchgan3d = "{patchgan3d}"

[models.micro]
generator = { component = "unet3d", depth = 2, mult_chan = 4 }
losses = [{ component = "mse" }, { component = "l1", weight = 0.5 }]
train = { iterations = 5, batch = 2, patch = [8, 32, 32], lr = 3e-3, checkpoint_every = 2, seed = 7 }

[models.gan]
generator = { component = "unet3d", depth = 2, mult_chan = 4 }
discriminator = { component = "patchgan3d", base_channels = 4, layers = 2 }
losses = [{ component = "gan-bce" }, { component = "mse", weight = 100.0 }]
train = { iterations = 3, batch = 1, patch = [16, 32, 32], lr = 1e-3, seed = 7 }
"#;

const READ_EVENTS: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
events = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
events.Reload()
print(json.dumps({tag: [[s.step, s.value] for s in events.Scalars(tag)] for tag in events.Tags()["scalars"]}))
"#;

/// Every scalar series of the event files in `dir`, by tag: (step, value).
fn scalars(dir: &Path) -> BTreeMap<String, Vec<(u64, f64)>> {
    serde_json::from_str(&common::run_python("SILICO_PYTHON", READ_EVENTS, &[dir])).unwrap()
}

/// `losses.csv` by column: (iteration, value).
fn columns(run: &Path) -> BTreeMap<String, Vec<(u64, f64)>> {
    let mut reader = csv::Reader::from_path(run.join("losses.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[0], "iteration");
    let mut columns: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        let iteration: u64 = record[0].parse().unwrap();
        for (name, value) in header.iter().zip(record.iter()).skip(1) {
            columns
                .entry(name.clone())
                .or_default()
                .push((iteration, value.parse().unwrap()));
        }
    }
    columns
}

/// The event files agree with `losses.csv`, and add the learning rate and each iteration's time.
fn assert_board_matches_losses(run: &Path, lr: f64) {
    let board = scalars(&run.join("tensorboard"));
    let csv = columns(run);
    let mut expected_tags: Vec<&str> = csv.keys().map(String::as_str).collect();
    expected_tags.extend(["lr", "seconds_per_iteration"]);
    expected_tags.sort_unstable();
    assert_eq!(
        board.keys().map(String::as_str).collect::<Vec<_>>(),
        expected_tags
    );
    let steps: Vec<u64> = csv["seconds"].iter().map(|&(step, _)| step).collect();
    for (tag, series) in &board {
        let board_steps: Vec<u64> = series.iter().map(|&(step, _)| step).collect();
        assert_eq!(board_steps, steps, "{tag}: steps");
    }
    for (name, rows) in &csv {
        for (&(step, value), &(_, logged)) in rows.iter().zip(&board[name]) {
            // losses.csv rounds its seconds to milliseconds.
            let tolerance = if name == "seconds" { 6e-4 } else { 0.0 };
            assert!(
                (value as f32 - logged as f32).abs() as f64 <= tolerance,
                "{name} at {step}: {value} in losses.csv, {logged} in TensorBoard"
            );
        }
    }
    assert!(board["lr"].iter().all(|&(_, v)| v as f32 == lr as f32));
    assert!(board["seconds_per_iteration"].iter().all(|&(_, v)| v > 0.0));
}

fn event_files(run: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(run.join("tensorboard"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

fn train(registry: &ScratchRegistry, model: &str, data: &Path, run: &Path, extra: &[&str]) {
    ok(&run_silico(
        registry,
        &train_args(model, "nucleoli", data, run, extra),
    ));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn events_follow_losses_csv_across_resumes() {
    let registry = scratch_registry(REGISTRY);
    let root = registry.dir.path();
    let data = root.join("data");
    synth_small(&data, 2, 3, &[]);
    let run = root.join("run");

    train(&registry, "micro", &data, &run, &["--iterations", "2"]);
    let at_two = root.join("checkpoint-at-2");
    copy_dir(&run.join("checkpoint"), &at_two);
    train(
        &registry,
        "micro",
        &data,
        &run,
        &["--iterations", "4", "--resume"],
    );
    assert_board_matches_losses(&run, 3e-3);

    // As if the run had been killed after iteration 4 with its last checkpoint at 2: the
    // events of iterations 3 and 4 are in a file already, and those iterations run again.
    std::fs::remove_dir_all(run.join("checkpoint")).unwrap();
    copy_dir(&at_two, &run.join("checkpoint"));
    train(&registry, "micro", &data, &run, &["--resume"]);
    assert_eq!(event_files(&run).len(), 3, "one event file per run");
    assert_eq!(columns(&run)["mse"].len(), 5);
    assert_board_matches_losses(&run, 3e-3);
}

#[test]
fn a_gan_logs_its_discriminator_terms() {
    let registry = scratch_registry(REGISTRY);
    let root = registry.dir.path();
    let data = root.join("data");
    synth_small(&data, 1, 4, &[]);
    let run = root.join("run");
    train(&registry, "gan", &data, &run, &[]);
    let board = scalars(&run.join("tensorboard"));
    assert!(
        board.keys().any(|tag| tag.starts_with("D/")),
        "{:?}",
        board.keys()
    );
    assert_board_matches_losses(&run, 1e-3);
    let files = event_files(&run);
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("events.out.tfevents.") && name.ends_with(".silico"),
        "{name}"
    );
}
