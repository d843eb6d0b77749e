//! `silico bench run` end to end on a small synthetic dataset and very small U-Nets: every cell
//! of the plan gets a result and a row per metric; a rerun runs nothing; a new seed runs only
//! its cells; a changed cell is refused in one line unless --rerun-changed; a benchmark killed
//! with SIGKILL at two moments finishes, rerun, with the results of an uninterrupted one.

mod common;

use common::{scratch_registry, silico_bin, synth_small, ScratchRegistry};
use std::{
    collections::BTreeMap,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

const REGISTRY: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"
exclusivity = "{exclusivity}"
objects = "{objects}"

[models.tiny]
generator = { component = "unet3d", depth = 1, mult_chan = 2 }
losses = [{ component = "mse" }]
train = { iterations = 30, batch = 2, patch = [16, 32, 32], lr = 3e-3, checkpoint_every = 5 }
"#;

fn plan_text(data: &Path, seeds: &str, extra_model: &str) -> String {
    format!(
        r#"
data = "{}"
structures = ["dna", "nucleoli"]
seeds = {seeds}

[models.tiny]
[models.tiny-l1]
from = "tiny"
losses = [{{ component = "l1" }}]
{extra_model}
[evaluate]
exclusivity = true
jaccard = true
"#,
        data.display()
    )
}

struct Bench {
    registry: ScratchRegistry,
    data: PathBuf,
}

impl Bench {
    fn new() -> Self {
        let registry = scratch_registry(REGISTRY);
        let data = registry.dir.path().join("data");
        synth_small(&data, 4, 5, &["--noise-free"]);
        Self { registry, data }
    }

    fn plan(&self, name: &str, text: &str) -> PathBuf {
        let path = self.registry.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn command(&self, plan: &Path, out: &Path, extra: &[&str]) -> Command {
        let mut command = Command::new(silico_bin());
        command
            .args(["bench", "run"])
            .arg(plan)
            .arg("--out")
            .arg(out)
            .args(extra)
            .args(["--threads", "1", "--registry"])
            .arg(&self.registry.path);
        command
    }

    fn run(&self, plan: &Path, out: &Path, extra: &[&str]) -> Output {
        self.command(plan, out, extra).output().unwrap()
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every row of results.csv except the costs, which are measurements of the run itself.
fn results(out: &Path) -> BTreeMap<(String, String, String, String), String> {
    let mut reader = csv::Reader::from_path(out.join("results.csv")).unwrap();
    let costs = ["seconds_per_iteration", "wall_seconds", "peak_memory_bytes"];
    reader
        .records()
        .map(|r| r.unwrap())
        .filter(|r| !costs.contains(&&r[3]))
        .map(|r| {
            (
                (
                    r[0].to_string(),
                    r[1].to_string(),
                    r[2].to_string(),
                    r[3].to_string(),
                ),
                r[4].to_string(),
            )
        })
        .collect()
}

#[test]
fn a_plan_runs_every_cell_once_and_refuses_changed_cells() {
    let bench = Bench::new();
    let plan = bench.plan("plan.toml", &plan_text(&bench.data, "[0]", ""));
    let out = bench.registry.dir.path().join("bench");
    let first = bench.run(&plan, &out, &[]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("4 cells (2 models × 2 structures × 1 seeds); 4 to run"),
        "{}",
        text(&first)
    );
    let rows = results(&out);
    for model in ["tiny", "tiny-l1"] {
        for structure in ["dna", "nucleoli"] {
            for metric in [
                "pearson_r",
                "mse",
                "ssim",
                "psnr",
                "jaccard",
                "organelle_exclusivity",
                "parameters_generator",
            ] {
                let key = (
                    model.to_string(),
                    structure.to_string(),
                    "0".to_string(),
                    metric.to_string(),
                );
                let value: f64 = rows
                    .get(&key)
                    .unwrap_or_else(|| panic!("{key:?} missing"))
                    .parse()
                    .unwrap();
                assert!(value.is_finite(), "{key:?} = {value}");
            }
        }
        let overall = (
            model.to_string(),
            "all".to_string(),
            "0".to_string(),
            "overall_exclusivity".to_string(),
        );
        assert!(rows.contains_key(&overall));
    }
    let value = |metric: &str| -> f64 {
        rows[&("tiny".into(), "dna".into(), "0".into(), metric.into())]
            .parse()
            .unwrap()
    };
    assert!((-1.0..=1.0).contains(&value("pearson_r")));
    // The data name each target's noise-free version: the noise ceiling and r / C_max.
    let ceiling = value("noise_ceiling");
    assert!(ceiling > 0.5 && ceiling <= 1.0, "C_max {ceiling}");
    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("cells/tiny/dna/seed0/result.json")).unwrap(),
    )
    .unwrap();
    for image in result["images"].as_array().unwrap() {
        let (r, c, ratio) = (
            image["pearson_r"].as_f64().unwrap(),
            image["noise_ceiling"].as_f64().unwrap(),
            image["r_over_noise_ceiling"].as_f64().unwrap(),
        );
        assert!((ratio - r / c).abs() < 1e-12, "{image}");
    }
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("data-cell=\"tiny-l1/nucleoli\""));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert!(json["plan"].as_str().unwrap().contains("[models.tiny-l1]"));

    // A rerun has nothing to do and changes nothing.
    let again = bench.run(&plan, &out, &[]);
    assert!(
        again.status.success() && text(&again).contains("; 0 to run"),
        "{}",
        text(&again)
    );
    assert_eq!(results(&out), rows);

    // A new seed runs only its cells.
    std::fs::write(&plan, plan_text(&bench.data, "[0, 1]", "")).unwrap();
    let seeds = bench.run(&plan, &out, &[]);
    assert!(
        text(&seeds).contains("8 cells (2 models × 2 structures × 2 seeds); 4 to run"),
        "{}",
        text(&seeds)
    );
    assert!(results(&out).keys().any(|k| k.2 == "1"));

    // A changed model is refused in one line, and run again with --rerun-changed.
    let changed = plan_text(&bench.data, "[0, 1]", "").replace(
        "losses = [{ component = \"l1\" }]",
        "losses = [{ component = \"l1\", weight = 2.0 }]",
    );
    std::fs::write(&plan, changed).unwrap();
    let refused = bench.run(&plan, &out, &[]);
    let message = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(!refused.status.success());
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("cell tiny-l1/dna/seed0 ran with another definition or data than the plan now gives; pass --rerun-changed"), "{message}");
    let rerun = bench.run(&plan, &out, &["--rerun-changed"]);
    assert!(text(&rerun).contains("; 4 to run"), "{}", text(&rerun));

    // Another plan file's folder is refused.
    let other = bench.plan("other.toml", &plan_text(&bench.data, "[0]", ""));
    let refused = bench.run(&other, &out, &[]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("holds the benchmark of"),
        "{}",
        text(&refused)
    );
}

/// Starts the benchmark in its own process group, waits until `ready`, and kills the whole
/// group (the cells' processes too) with SIGKILL.
fn kill_when(bench: &Bench, plan: &Path, out: &Path, ready: impl Fn() -> bool) {
    let mut child = bench
        .command(plan, out, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the benchmark ended before the moment to kill it"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "never ready to kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let group = format!("-{}", child.id());
    assert!(Command::new("kill")
        .args(["-KILL", "--", &group])
        .status()
        .unwrap()
        .success());
    child.wait().unwrap();
}

#[test]
fn a_benchmark_killed_twice_finishes_with_the_results_of_an_uninterrupted_one() {
    let bench = Bench::new();
    let plan = bench.plan("plan.toml", &plan_text(&bench.data, "[0]", ""));
    let whole = bench.registry.dir.path().join("whole");
    let output = bench.run(&plan, &whole, &[]);
    assert!(output.status.success(), "{}", text(&output));

    let killed = bench.registry.dir.path().join("killed");
    let cell = |id: &str| killed.join("cells").join(id);
    // During the first cell's training, once it has saved a checkpoint mid-run.
    kill_when(&bench, &plan, &killed, || {
        cell("tiny/dna/seed0").join("run/losses.csv").exists()
            && cell("tiny/dna/seed0")
                .join("run/checkpoint/checkpoint.json")
                .exists()
    });
    // Later, once a cell has finished and the next one has begun.
    kill_when(&bench, &plan, &killed, || {
        cell("tiny/dna/seed0").join("result.json").exists()
            && cell("tiny/nucleoli/seed0").join("run").exists()
    });
    let finish = bench.run(&plan, &killed, &[]);
    assert!(finish.status.success(), "{}", text(&finish));
    assert_eq!(results(&killed), results(&whole));
}

#[test]
fn a_diverging_cell_fails_with_its_reason_and_the_others_finish() {
    let bench = Bench::new();
    let exploding = r#"
[models.exploding]
generator = { component = "unet3d", depth = 1, mult_chan = 2 }
losses = [{ component = "mse" }]
train = { iterations = 20, batch = 1, patch = [8, 16, 16], lr = 1e30, checkpoint_every = 1 }
"#;
    let plan = bench.plan("plan.toml", &plan_text(&bench.data, "[0]", exploding));
    let out = bench.registry.dir.path().join("bench");
    let output = bench.run(&plan, &out, &["--jobs", "2"]);
    let printed = text(&output);
    assert!(!output.status.success(), "{printed}");
    assert!(printed.contains("4 of 6 cells done, 2 failed"), "{printed}");
    assert!(
        printed.contains("FAILED  exploding/dna/seed0: training stopped at iteration"),
        "{printed}"
    );
    let status = Command::new(silico_bin())
        .args(["bench", "status"])
        .arg(&out)
        .args(["--registry"])
        .arg(&bench.registry.path)
        .output()
        .unwrap();
    let status = text(&status);
    assert!(
        status.contains("tiny/nucleoli/seed0") && status.contains("done"),
        "{status}"
    );
    assert!(
        status.contains("exploding/nucleoli/seed0") && status.contains("failed: training stopped"),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert!(
        json["failed"]["exploding/dna/seed0"]
            .as_str()
            .unwrap()
            .contains("loss `mse` is"),
        "{json}"
    );
}

#[test]
fn a_plan_with_an_unknown_component_is_refused_before_any_cell_runs() {
    let bench = Bench::new();
    let unknown = r#"
[models.own]
generator = { component = "unet3e" }
losses = [{ component = "mse" }]
"#;
    let plan = bench.plan("plan.toml", &plan_text(&bench.data, "[0]", unknown));
    let out = bench.registry.dir.path().join("bench");
    let output = bench.run(&plan, &out, &[]);
    let message = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success());
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("key `models.own`")
            && message.contains("no plugin library provides a generator called `unet3e`"),
        "{message}"
    );
    assert!(!out.join("cells").exists(), "no cell may start");
}

#[test]
fn images_of_unlabelled_cells_give_the_noise_ceiling_the_noise_free_targets_give() {
    use silico_imaging::{
        dataset::{Manifest, Split},
        tiff, Volume,
    };
    let bench = Bench::new();
    // The same cells without the noise-free column in the manifests (the noisy images are
    // identical), and as the one "unlabelled" image, a test target's noise alone.
    let plain = bench.registry.dir.path().join("plain");
    synth_small(&plain, 4, 5, &[]);
    let manifest = Manifest::load(&bench.data.join("dna.csv")).unwrap();
    let test = manifest
        .rows
        .iter()
        .find(|r| r.split == Some(Split::Test))
        .unwrap();
    let noisy = tiff::read_volume(&test.target.path).unwrap();
    let clean = tiff::read_volume(&test.target_noise_free.as_ref().unwrap().path).unwrap();
    let noise: Vec<f32> = noisy
        .data
        .iter()
        .zip(&clean.data)
        .map(|(a, b)| a - b)
        .collect();
    let wild_type = bench.registry.dir.path().join("wild-type.tif");
    tiff::write_volume(
        &wild_type,
        &Volume::from_data(noise, noisy.shape, noisy.voxel_um).unwrap(),
    )
    .unwrap();

    let plan = |data: &Path, extra: &str| {
        format!(
            "data = \"{}\"\nstructures = [\"dna\", \"nucleoli\"]\n{extra}\n[models.tiny]\n[evaluate]\nexclusivity = false\n",
            data.display()
        )
    };
    let ceiling = |name: &str, plan_text: String| -> f64 {
        let path = bench.plan(&format!("{name}.toml"), &plan_text);
        let out = bench.registry.dir.path().join(name);
        let output = bench.run(&path, &out, &[]);
        assert!(output.status.success(), "{}", text(&output));
        let result: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("cells/tiny/dna/seed0/result.json")).unwrap(),
        )
        .unwrap();
        result["images"][0]["noise_ceiling"].as_f64().unwrap()
    };
    let from_noise_free = ceiling("noise-free", plan(&bench.data, ""));
    let from_wild_type = ceiling(
        "wild-type",
        plan(
            &plain,
            &format!("noise_images = \"{}\"", wild_type.display()),
        ),
    );
    assert!(
        from_noise_free > 0.5 && from_noise_free < 1.0,
        "{from_noise_free}"
    );
    assert!(
        (from_noise_free - from_wild_type).abs() < 1e-6,
        "{from_noise_free} from the noise-free target, {from_wild_type} from the unlabelled image"
    );
}
