//! The registry, benchmark plan and manifest parsers on hand-written malformed inputs: each is
//! refused with one line, never a panic. (host/fuzz has fuzz targets for the same parsers.)

use silico::{bench::plan::Plan, Registry};
use silico_imaging::dataset::Manifest;
use std::{panic::catch_unwind, path::Path};

/// Asserts that `parse` refuses `input` with a one-line error, and does not panic.
fn refused_in_one_line<T>(what: &str, input: &str, parse: impl Fn(&str) -> Result<T, String>) {
    let outcome = catch_unwind(std::panic::AssertUnwindSafe(|| parse(input)))
        .unwrap_or_else(|_| panic!("{what} panicked on {input:?}"));
    match outcome {
        Ok(_) => panic!("{what} accepted {input:?}"),
        Err(message) => {
            assert!(
                !message.trim().is_empty(),
                "{what}: empty error on {input:?}"
            );
            assert_eq!(
                message.lines().count(),
                1,
                "{what}: not one line on {input:?}: {message}"
            );
        }
    }
}

const MODEL: &str = r#"
[plugins]
[models.m]
generator = { component = "unet3d" }
losses = [{ component = "mse" }]
"#;

fn registry(text: &str) -> Result<Registry, String> {
    Registry::parse(text, Path::new("/lab/registry.toml")).map_err(|e| format!("{e:#}"))
}

#[test]
fn malformed_registries_are_refused_in_one_line() {
    let with_train = |train: &str| format!("{MODEL}train = {{ {train} }}\n");
    let cases = [
        String::new(),
        "[plugins".into(),
        "plugins = 3".into(),
        "\u{0}\u{1}\u{2}".into(),
        "[plugins]\nx = 1".into(),
        "[plugins]\n[models.m]\ngenerator = 1\nlosses = []".into(),
        "[plugins]\n[models.m]\ngenerator = {}\nlosses = [{ component = \"mse\" }]".into(),
        MODEL.replace("losses = [{ component = \"mse\" }]", "losses = []"),
        MODEL.replace(
            "{ component = \"mse\" }",
            "{ component = \"mse\", weight = -1 }",
        ),
        MODEL.replace(
            "{ component = \"mse\" }",
            "{ component = \"mse\", weight = nan }",
        ),
        MODEL.replace(
            "{ component = \"mse\" }",
            "{ component = \"mse\", weight = \"1\" }",
        ),
        MODEL.replace("[models.m]", "[models.\"../x\"]"),
        MODEL.replace("[models.m]", "[models.\"\"]"),
        MODEL.replace("[models.m]", "[models.\"a/b\"]"),
        with_train("iterations = 0"),
        with_train("iterations = -1"),
        with_train("batch = 0"),
        with_train("batch = 18446744073709551616"),
        with_train("patch = [0, 16, 16]"),
        with_train("patch = [16, 16]"),
        with_train("patch = [-16, 16, 16]"),
        with_train("lr = 0"),
        with_train("lr = inf"),
        with_train("betas = [1.0, 0.5]"),
        with_train("checkpoint_every = 0"),
        with_train("precision = \"fp8\""),
        format!("{MODEL}retrain = {{ iterations = 0 }}\n"),
        format!("{MODEL}retrain = {{ p = [] }}\n"),
        format!("{MODEL}[segmentation.nucleolus]\n"),
    ];
    for text in &cases {
        refused_in_one_line("Registry::parse", text, registry);
    }
}

#[test]
fn malformed_plans_are_refused_in_one_line() {
    let registry = registry(MODEL).unwrap();
    let data = tempfile::tempdir().unwrap();
    for structure in ["dna", "nucleoli"] {
        std::fs::write(
            data.path().join(format!("{structure}.csv")),
            "path_signal,path_target\n",
        )
        .unwrap();
    }
    let plan = |text: &str| {
        Plan::parse(
            text,
            &data.path().join("plan.toml"),
            data.path(),
            None,
            &registry,
        )
        .map_err(|e| format!("{e:#}"))
    };
    let good = "data = \".\"\nstructures = [\"dna\"]\n[models.m]\n";
    plan(good).unwrap();
    let cases = [
        String::new(),
        "structures = [".into(),
        "data = 1".into(),
        good.replace("[\"dna\"]", "[]"),
        good.replace("[\"dna\"]", "[\"../x\"]"),
        good.replace("[\"dna\"]", "[\"/etc\"]"),
        good.replace("[\"dna\"]", "[\"dna\", \"dna\"]"),
        good.replace("[\"dna\"]", "[\"golgi\"]"),
        good.replace("[models.m]", "[models.\"../m\"]"),
        good.replace("[models.m]", "[models.\".\"]"),
        good.replace("[models.m]", "[models.m]\nfrom = 3"),
        good.replace("[models.m]", "[models.x]\nfrom = \"nope\""),
        format!("seeds = []\n{good}"),
        format!("seeds = [1, 1]\n{good}"),
        format!("seeds = [-1]\n{good}"),
        format!("overrides = {{ iterations = 0 }}\n{good}"),
        format!("overrides = {{ batch = 0 }}\n{good}"),
        format!("overrides = {{ patch = [0, 1, 1] }}\n{good}"),
        format!("voxel_size = [0, 1, 1]\n{good}"),
        format!("noise_images = \"missing\"\n{good}"),
        format!("{good}[evaluate]\nobjects = [\"golgi\"]\n"),
        good.replace("data = \".\"", "data = \"missing\""),
    ];
    for text in &cases {
        refused_in_one_line("Plan::parse", text, plan);
    }
}

#[test]
fn malformed_manifests_are_refused_in_one_line() {
    let manifest = |text: &str| {
        Manifest::parse(Path::new("/lab/nucleoli.csv"), text).map_err(|e| e.to_string())
    };
    let cases = [
        "",
        "\n\n",
        "path_signal\nx.tif\n",
        "path_target\nx.tif\n",
        "path_signal,path_target\n",
        "path_signal,path_target\nx.tif\n",
        "path_signal,path_target\n,y.tif\n",
        "path_signal,path_target\n\"x.tif,y.tif\n",
        "path_signal,path_target\nx.tif,y.tif,z\n",
        "path\nx.tif\n",
        "path,channel_signal\nx.tif,0\n",
        "path_signal,path_target,split\nx.tif,y.tif,sideways\n",
        "\u{feff}\u{0},\u{1}\n\u{2},\u{3}\n",
    ];
    for text in cases {
        refused_in_one_line("Manifest::parse", text, manifest);
    }
}
