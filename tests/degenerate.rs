//! Hostile or careless names and degenerate settings (issue 15, items 1, 5 and 8): each ends in
//! exit status 1 (clap's usage errors: 2), never a panic's 101, with at most three lines on
//! stderr naming the option or key, and no file written outside `--out` (nothing at all where
//! the refusal comes first).

mod common;

use common::{ok, predict_args, run_silico, scratch_registry, synth_small, train_args};
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

const MICRO: &str = r#"
[plugins]
losses = "{losses}"
unet3d = "{unet3d}"
objects = "{objects}"

[models.micro]
generator = { component = "unet3d", depth = 1, mult_chan = 2 }
losses = [{ component = "mse" }]
train = { iterations = 2, batch = 1, patch = [8, 16, 16], checkpoint_every = 1 }
"#;

/// Every path under `dir`, relative to it.
fn listing(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeSet<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            into.insert(path.strip_prefix(root).unwrap().to_path_buf());
            if path.is_dir() {
                walk(root, &path, into);
            }
        }
    }
    let mut paths = BTreeSet::new();
    walk(dir, dir, &mut paths);
    paths
}

/// Asserts that `output` is a refusal: exit status `code`, at most three lines on stderr, all of
/// them together containing each of `names`.
fn refused(output: &Output, code: i32, names: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(
        stderr.lines().count() <= 3,
        "more than three lines: {stderr}"
    );
    for name in names {
        assert!(stderr.contains(name), "`{name}` not named: {stderr}");
    }
    stderr
}

/// Runs `silico ARGS` with `registry` and nothing else changed, and asserts that it is refused
/// (see [`refused`]) and created nothing in `watched`.
fn refused_touching_nothing(
    registry: &common::ScratchRegistry,
    args: &[&str],
    watched: &Path,
    names: &[&str],
) -> String {
    let before = listing(watched);
    let stderr = refused(&run_silico(registry, args), 1, names);
    assert_eq!(listing(watched), before, "files appeared: {stderr}");
    stderr
}

/// A two-field synthetic dataset and a micro model trained on it, made once for this file.
struct Fixture {
    data: PathBuf,
    run: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("silico-degenerate-{}", std::process::id()));
        let data = root.join("data");
        synth_small(&data, 2, 1, &[]);
        let registry = scratch_registry(MICRO);
        let run = root.join("run");
        ok(&run_silico(
            &registry,
            &train_args("micro", "nucleoli", &data, &run, &[]),
        ));
        Fixture { data, run }
    })
}

/// A copy of the fixture's run whose checkpoint says `structure`.
fn run_for_structure(dir: &Path, structure: &str) -> PathBuf {
    let run = dir.join("run");
    let checkpoint = run.join("checkpoint");
    std::fs::create_dir_all(&checkpoint).unwrap();
    for entry in std::fs::read_dir(fixture().run.join("checkpoint")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), checkpoint.join(entry.file_name())).unwrap();
    }
    let meta = checkpoint.join("checkpoint.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
    json["structure"] = structure.into();
    std::fs::write(&meta, json.to_string()).unwrap();
    run
}

#[test]
fn a_structure_that_is_a_path_is_refused_before_anything_is_written() {
    let registry = scratch_registry(MICRO);
    let root = registry.dir.path();
    let data = fixture().data.as_path();
    for structure in ["../escape", "/tmp/abs", "a/b", "..", ""] {
        let out = root.join("out");
        let args = train_args("micro", structure, data, &out, &[]);
        refused_touching_nothing(
            &registry,
            &args,
            root,
            &["--structure", "a name, not a path"],
        );
    }
    // Without --out the run folder would be runs/micro-<structure>, relative to here.
    let before = listing(root);
    let output = Command::new(common::silico_bin())
        .current_dir(root)
        .args([
            "train",
            "--model",
            "micro",
            "--structure",
            "../../escape",
            "--data",
        ])
        .arg(data)
        .args(["--threads", "1", "--registry"])
        .arg(&registry.path)
        .output()
        .unwrap();
    refused(&output, 1, &["--structure"]);
    assert_eq!(listing(root), before);
}

#[test]
fn a_checkpoint_whose_structure_is_a_path_is_refused_by_predict() {
    let registry = scratch_registry(MICRO);
    let root = registry.dir.path();
    let image = fixture().data.join("fields/field_000/brightfield.tif");
    for (i, structure) in ["../../x", "/tmp/silico-escape", "..", "a/b"]
        .iter()
        .enumerate()
    {
        let dir = root.join(format!("case{i}"));
        let run = run_for_structure(&dir, structure);
        let out = dir.join("out").join("predictions");
        let args = predict_args(&run, &image, &out, &[]);
        refused_touching_nothing(&registry, &args, root, &["structure", "a name, not a path"]);
    }
    assert!(!Path::new("/tmp/silico-escape").exists());
}

#[test]
fn predictions_that_would_share_a_file_are_refused_before_anything_is_written() {
    let registry = scratch_registry(MICRO);
    let root = registry.dir.path();
    let field = fixture().data.join("fields/field_000");
    // a/x/brightfield.tif and b/x/brightfield.tif: the same stem and the same folder name.
    for set in ["a", "b"] {
        let folder = root.join(set).join("x");
        std::fs::create_dir_all(&folder).unwrap();
        for file in ["brightfield.tif", "nucleoli.tif"] {
            std::fs::copy(field.join(file), folder.join(file)).unwrap();
        }
    }
    let manifest = root.join("nucleoli.csv");
    std::fs::write(
        &manifest,
        "path_signal,path_target\na/x/brightfield.tif,a/x/nucleoli.tif\nb/x/brightfield.tif,b/x/nucleoli.tif\n",
    )
    .unwrap();
    let out = root.join("out");
    let args = predict_args(&fixture().run, &manifest, &out, &[]);
    refused_touching_nothing(
        &registry,
        &args,
        root,
        &["a/x/brightfield.tif", "b/x/brightfield.tif", "x.tif"],
    );
}

#[test]
fn degenerate_tiles_are_refused_and_huge_ones_capped() {
    let registry = scratch_registry(MICRO);
    let root = registry.dir.path();
    let image = fixture().data.join("fields/field_000/brightfield.tif");
    let out = root.join("out");
    for (tile, overlap, named) in [
        ("0,16,16", "0,0,0", "--tile"),
        ("-16,16,16", "0,0,0", "--tile"),
        ("16,32,32", "16,8,8", "--overlap"),
        ("16,32,32", "0,-8,0", "--overlap"),
        (
            "9223372036854775807,16,16",
            "9223372036854775807,0,0",
            "--overlap",
        ),
    ] {
        // `--tile=-16,...`: a value starting with `-` is otherwise taken for an option.
        let (tile, overlap) = (format!("--tile={tile}"), format!("--overlap={overlap}"));
        let args = predict_args(&fixture().run, &image, &out, &[&tile, &overlap]);
        refused_touching_nothing(&registry, &args, root, &[named]);
    }
    let args = predict_args(&fixture().run, &image, &out, &["--overlap=-1,0,0"]);
    refused_touching_nothing(&registry, &args, root, &["--overlap"]);
    // The issue's case: the default overlap 16,32,32 does not fit tiles 16 wide.
    let huge = ["--tile", "9223372036854775807,16,16"];
    let args = predict_args(&fixture().run, &image, &out, &huge);
    refused_touching_nothing(
        &registry,
        &args,
        root,
        &["--overlap", "9223372036854775807"],
    );
    // A side too large to round up to 16 is capped at the image, not an overflow.
    let args = predict_args(
        &fixture().run,
        &image,
        &out,
        &[huge[0], huge[1], "--overlap", "8,8,8"],
    );
    ok(&run_silico(&registry, &args));
    assert!(out.join("nucleoli/brightfield.tif").is_file());
}

#[test]
fn predict_help_shows_defaults_as_they_parse() {
    let output = Command::new(common::silico_bin())
        .args(["predict", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("[default: 16,32,32]"), "{help}");
    assert!(!help.contains("16 32 32"), "{help}");
}

#[test]
fn degenerate_training_settings_are_refused_before_the_run_folder_exists() {
    let data = fixture().data.as_path();
    for (train, key) in [
        ("iterations = 0", "`iterations`"),
        ("batch = 0", "`batch`"),
        ("patch = [0, 16, 16]", "`patch`"),
    ] {
        let registry = scratch_registry(
            &MICRO.replace("iterations = 2, batch = 1, patch = [8, 16, 16]", train),
        );
        let root = registry.dir.path();
        let out = root.join("out");
        let args = train_args("micro", "nucleoli", data, &out, &[]);
        refused_touching_nothing(&registry, &args, root, &["models.micro.train", key]);
    }
    let registry = scratch_registry(MICRO);
    let root = registry.dir.path();
    let out = root.join("out");
    let args = train_args("micro", "nucleoli", data, &out, &["--iterations", "0"]);
    refused_touching_nothing(&registry, &args, root, &["--iterations 0"]);
}

#[test]
fn a_negative_loss_weight_is_refused() {
    let registry = scratch_registry(&MICRO.replace(
        "{ component = \"mse\" }",
        "{ component = \"mse\", weight = -1 }",
    ));
    let root = registry.dir.path();
    let out = root.join("out");
    let args = train_args("micro", "nucleoli", fixture().data.as_path(), &out, &[]);
    refused_touching_nothing(
        &registry,
        &args,
        root,
        &["models.micro.losses", "`weight`", "-1"],
    );
}

#[test]
fn a_batch_larger_than_the_memory_budget_is_refused_before_allocation() {
    let registry = scratch_registry(&MICRO.replace(
        "batch = 1, patch = [8, 16, 16]",
        "batch = 100000, patch = [16, 32, 32]",
    ));
    let root = registry.dir.path();
    let out = root.join("out");
    let before = listing(root);
    let output = Command::new(common::silico_bin())
        .args(train_args(
            "micro",
            "nucleoli",
            fixture().data.as_path(),
            &out,
            &[],
        ))
        .args(["--threads", "1", "--registry"])
        .arg(&registry.path)
        .env("SILICO_MEMORY_LIMIT", "1G")
        .output()
        .unwrap();
    // 100000 × 16·32·32 voxels × (input + target) × 4 bytes = 12.2 GiB.
    refused(
        &output,
        1,
        &[
            "models.micro.train",
            "`batch`",
            "12.2 GiB",
            "SILICO_MEMORY_LIMIT",
        ],
    );
    assert_eq!(listing(root), before);
}

#[test]
fn threads_beyond_the_cores_are_clamped_with_a_notice() {
    let output = Command::new(common::silico_bin())
        .args(["--threads", "40000", "info", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let tiff = fixture().data.join("fields/field_000/brightfield.tif");
    let output = Command::new(common::silico_bin())
        .args(["--threads", "40000", "info"])
        .arg(&tiff)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        stderr.trim(),
        format!("note: --threads 40000 is more than the {cores} cores here; using {cores}")
    );
    let output = Command::new(common::silico_bin())
        .args(["--threads", "0", "info"])
        .arg(&tiff)
        .output()
        .unwrap();
    refused(&output, 2, &["--threads"]);
}

#[test]
fn prediction_names_that_are_paths_are_refused() {
    let registry = scratch_registry(MICRO);
    let root = registry.dir.path();
    let predictions = root.join("predictions");
    std::fs::create_dir_all(&predictions).unwrap();
    let report = root.join("report");
    for label in ["..", "../x", "a/b", "/abs"] {
        let given = format!("{label}={}", predictions.display());
        let other = format!("other={}", predictions.display());
        let args = [
            "evaluate",
            "exclusivity",
            "--predictions",
            &given,
            "--predictions",
            &other,
            "--out",
            report.to_str().unwrap(),
        ];
        refused_touching_nothing(
            &registry,
            &args,
            root,
            &["--predictions NAME", "a name, not a path"],
        );
    }
}

#[test]
fn a_bench_plan_with_path_names_is_refused() {
    let registry = scratch_registry(MICRO);
    let root = registry.dir.path();
    let data = fixture().data.display().to_string();
    let bench = root.join("bench");
    for (plan, named) in [
        (format!("data = \"{data}\"\nstructures = [\"../nucleoli\"]\n[models.micro]\n"), "structure `../nucleoli`"),
        (format!("data = \"{data}\"\nstructures = [\"nucleoli\"]\n[models.\"../m\"]\nfrom = \"micro\"\n"), "model `../m`"),
        (format!("data = \"{data}\"\nstructures = [\"nucleoli\"]\noverrides = {{ iterations = 0 }}\n[models.micro]\n"), "`iterations`"),
    ] {
        let file = root.join("plan.toml");
        std::fs::write(&file, plan).unwrap();
        let args = ["bench", "run", file.to_str().unwrap(), "--out", bench.to_str().unwrap()];
        refused_touching_nothing(&registry, &args, root, &[named]);
    }
}

#[test]
fn a_k_of_zero_neighbours_is_refused_when_the_metric_is_built() {
    let registry = scratch_registry(MICRO);
    let registry = silico::Registry::load(&registry.path).unwrap();
    let plugins = silico::Plugins::load(&registry).unwrap();
    let config = |k: &str| -> toml::Table {
        format!("structure = \"nucleoli\"\ncompare = {{ k = {k} }}")
            .parse()
            .unwrap()
    };
    let build = |k: &str| {
        plugins.build_metric(&silico::registry::ComponentRef {
            component: "objects".into(),
            config: config(k),
        })
    };
    let message = format!("{:#}", build("[0]").err().expect("k = 0 refused"));
    assert!(
        message.contains("compare.k") && message.contains("at least 1"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(build("[4, 8]").is_ok());
}
