//! Every command that reads images, given NaN and infinite voxels (issue 15): a refusal is exit
//! status 1 (never 101, a panic) with at most three lines on stderr naming the file, and nothing
//! written; `--repair-non-finite` replaces a bright-field's and says how many. Also a target of
//! another shape than its bright-field, a mask that selects nothing, and a NaN loss, which says
//! whether a checkpoint exists.

mod common;

use common::{ok, predict_args, run_silico, scratch_registry, synth_small, train_args};
use common::{silico_bin, ScratchRegistry};
use silico_imaging::{tiff, Volume};
use std::{
    path::{Path, PathBuf},
    process::Output,
    sync::OnceLock,
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
train = { iterations = 2, batch = 1, patch = [16, 32, 32] }

[models.wild]
generator = { component = "unet3d", depth = 1, mult_chan = 2 }
losses = [{ component = "mse" }]
train = { iterations = 20, batch = 1, patch = [16, 32, 32], lr = 1e30, checkpoint_every = 100 }
"#;

/// A registry, two synthetic fields, a run trained on them, and bright-field images with a NaN
/// at (1, 2, 3) and an infinity at (5, 5, 5).
struct Setup {
    registry: ScratchRegistry,
    data: PathBuf,
    run: PathBuf,
    /// field_000's bright-field with two non-finite voxels.
    bad_brightfield: PathBuf,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let registry = scratch_registry(REGISTRY);
        let root = registry.dir.path();
        let data = root.join("data");
        synth_small(&data, 2, 3, &[]);
        let run = root.join("run");
        ok(&run_silico(
            &registry,
            &train_args("tiny", "nucleoli", &data, &run, &[]),
        ));
        let bad_brightfield = root.join("bad_brightfield.tif");
        with_non_finite(&field(&data, 0, "brightfield"), &bad_brightfield);
        Setup {
            registry,
            data,
            run,
            bad_brightfield,
        }
    })
}

fn field(data: &Path, index: usize, image: &str) -> PathBuf {
    data.join(format!("fields/field_{index:03}/{image}.tif"))
}

/// Writes `from` to `to` with voxel (1, 2, 3) NaN and (5, 5, 5) infinite.
fn with_non_finite(from: &Path, to: &Path) {
    let mut volume = tiff::read_volume(from).unwrap();
    let [_, _, y, x] = volume.shape;
    volume.data[(y + 2) * x + 3] = f32::NAN;
    volume.data[(5 * y + 5) * x + 5] = f32::INFINITY;
    tiff::write_volume(to, &volume).unwrap();
}

/// A folder in the scratch area, not yet created.
fn scratch(name: &str) -> PathBuf {
    setup().registry.dir.path().join(name)
}

/// Asserts that `output` is a refusal: exit status 1, at most three lines on stderr, and that
/// these contain every one of `says`.
fn refused(output: &Output, says: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.lines().count() <= 3,
        "more than three lines:\n{stderr}"
    );
    for words in says {
        assert!(stderr.contains(words), "no `{words}` in:\n{stderr}");
    }
    stderr
}

/// Asserts that nothing was written under `dir`: no file (an empty folder, made before the
/// input was read, may be there).
fn nothing_written(dir: &Path) {
    fn files(dir: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .map(|e| e.unwrap().path())
            .flat_map(|p| if p.is_dir() { files(&p) } else { vec![p] })
            .collect()
    }
    assert_eq!(files(dir), Vec::<PathBuf>::new());
}

fn silico(args: &[&str]) -> Output {
    run_silico(&setup().registry, args)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn predict_refuses_a_non_finite_bright_field_and_repairs_it_only_when_asked() {
    let s = setup();
    let out = scratch("predict-refused");
    let output = silico(&predict_args(&s.run, &s.bad_brightfield, &out, &[]));
    refused(
        &output,
        &[
            "bad_brightfield.tif: 2 voxels are NaN or infinite (1 NaN, 1 infinite; the first at z,y,x = 1,2,3)",
            "--repair-non-finite",
        ],
    );
    nothing_written(&out);

    let out = scratch("predict-repaired");
    let output = silico(&predict_args(
        &s.run,
        &s.bad_brightfield,
        &out,
        &["--repair-non-finite"],
    ));
    ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad_brightfield.tif: 2 voxels are NaN or infinite")
            && stderr.contains("replaced them with the image's finite mean"),
        "{stderr}"
    );
    let predicted = tiff::read_volume(&out.join("nucleoli/bad_brightfield.tif")).unwrap();
    assert!(predicted.data.iter().all(|v| v.is_finite()));
}

#[test]
fn predict_reads_every_row_of_a_manifest_before_writing_any() {
    let s = setup();
    let root = scratch("rows");
    std::fs::create_dir_all(&root).unwrap();
    let target = tiff::read_volume(&field(&s.data, 1, "nucleoli")).unwrap();
    let [_, z, y, x] = target.shape;
    let half: Vec<f32> = (0..z * y * (x / 2)).map(|i| target.data[i]).collect();
    let narrow = root.join("narrow_target.tif");
    tiff::write_volume(
        &narrow,
        &Volume::from_data(half, [1, z, y, x / 2], target.voxel_um).unwrap(),
    )
    .unwrap();
    let good = format!(
        "{},{}",
        path(&field(&s.data, 0, "brightfield")),
        path(&field(&s.data, 0, "nucleoli"))
    );
    for (name, second_row, says) in [
        (
            "shape",
            format!(
                "{},{}",
                path(&field(&s.data, 1, "brightfield")),
                path(&narrow)
            ),
            "differs from target shape",
        ),
        (
            "nan",
            format!(
                "{},{}",
                path(&s.bad_brightfield),
                path(&field(&s.data, 1, "nucleoli"))
            ),
            "bad_brightfield.tif: 2 voxels are NaN or infinite",
        ),
    ] {
        let csv = root.join(format!("{name}.csv"));
        std::fs::write(
            &csv,
            format!("path_signal,path_target\n{good}\n{second_row}\n"),
        )
        .unwrap();
        let out = root.join(format!("out-{name}"));
        let output = silico(&predict_args(&s.run, &csv, &out, &[]));
        refused(&output, &[&format!("{name}.csv, row 3"), says]);
        nothing_written(&out);
    }
}

/// A manifest of one training row (`signal`, `target`) and one test row (field_001).
fn one_row_manifest(name: &str, signal: &Path, target: &Path) -> PathBuf {
    let s = setup();
    let csv = scratch(&format!("{name}.csv"));
    std::fs::write(
        &csv,
        format!(
            "path_signal,path_target,split\n{},{},train\n{},{},test\n",
            path(signal),
            path(target),
            path(&field(&s.data, 1, "brightfield")),
            path(&field(&s.data, 1, "nucleoli"))
        ),
    )
    .unwrap();
    csv
}

#[test]
fn train_refuses_non_finite_images_naming_the_file_and_repairs_only_bright_field() {
    let s = setup();
    let target = field(&s.data, 0, "nucleoli");
    let bad_signal = one_row_manifest("bad-signal", &s.bad_brightfield, &target);
    let out = scratch("train-bad-signal");
    let output = silico(&train_args("tiny", "nucleoli", &bad_signal, &out, &[]));
    refused(
        &output,
        &[
            "signal",
            "bad_brightfield.tif: 2 voxels are NaN or infinite",
        ],
    );
    assert!(!out.join("checkpoint").exists());

    let bad_target_file = scratch("bad_target.tif");
    with_non_finite(&target, &bad_target_file);
    let bad_target = one_row_manifest(
        "bad-target",
        &field(&s.data, 0, "brightfield"),
        &bad_target_file,
    );
    let out = scratch("train-bad-target");
    let output = silico(&train_args(
        "tiny",
        "nucleoli",
        &bad_target,
        &out,
        &["--repair-non-finite"],
    ));
    refused(
        &output,
        &[
            "target",
            "bad_target.tif: 2 voxels",
            "a target is not repaired",
        ],
    );
    assert!(!out.join("checkpoint").exists());

    let out = scratch("train-repaired");
    let output = silico(&train_args(
        "tiny",
        "nucleoli",
        &bad_signal,
        &out,
        &["--repair-non-finite"],
    ));
    ok(&output);
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("bad_brightfield.tif: 2 voxels are NaN or infinite (1 NaN, 1 infinite; the first at z,y,x = 1,2,3); replaced them"));
}

#[test]
fn a_nan_loss_says_whether_a_checkpoint_exists() {
    let s = setup();
    let out = scratch("wild");
    let output = silico(&train_args("wild", "nucleoli", &s.data, &out, &[]));
    let stderr = refused(
        &output,
        &[
            "training stopped at iteration",
            "no checkpoint was written: loss `mse` is",
            "the training images are finite",
            "lower `lr`",
        ],
    );
    assert!(!stderr.contains("is kept"), "{stderr}");

    // Checkpointed every iteration, the last one is named.
    let every = scratch("wild-every.toml");
    let text = std::fs::read_to_string(&s.registry.path)
        .unwrap()
        .replace("checkpoint_every = 100", "checkpoint_every = 1");
    std::fs::write(&every, text).unwrap();
    let out = scratch("wild-every");
    let output = std::process::Command::new(silico_bin())
        .args(train_args("wild", "nucleoli", &s.data, &out, &[]))
        .args(["--threads", "1", "--registry", path(&every)])
        .output()
        .unwrap();
    refused(&output, &["the checkpoint of iteration", "is kept in"]);
}

#[test]
fn segment_refuses_an_all_nan_image_in_one_line() {
    let all_nan = scratch("all_nan.tif");
    tiff::write_volume(
        &all_nan,
        &Volume::from_data(vec![f32::NAN; 8 * 32 * 32], [1, 8, 32, 32], [0.29; 3]).unwrap(),
    )
    .unwrap();
    let labels = scratch("all_nan_labels.tif");
    let output = silico(&[
        "segment",
        "--structure",
        "nucleoli",
        "--input",
        path(&all_nan),
        "--out",
        path(&labels),
    ]);
    refused(
        &output,
        &[
            "all_nan.tif",
            "8192 voxels are NaN or infinite",
            "finite intensities",
        ],
    );
    assert!(!labels.exists());
}

/// A prediction folder (`nucleoli` of the real images; `golgi` with them too, for exclusivity)
/// where field_000's nucleoli prediction has two non-finite voxels.
fn bad_predictions(name: &str) -> PathBuf {
    let s = setup();
    let folder = scratch(name);
    for structure in ["nucleoli", "golgi"] {
        std::fs::create_dir_all(folder.join(structure)).unwrap();
        for index in 0..2 {
            std::fs::copy(
                field(&s.data, index, structure),
                folder.join(format!("{structure}/field_{index:03}.tif")),
            )
            .unwrap();
        }
    }
    with_non_finite(
        &field(&s.data, 0, "nucleoli"),
        &folder.join("nucleoli/field_000.tif"),
    );
    folder
}

#[test]
fn evaluators_refuse_non_finite_predictions_and_real_images_naming_the_file() {
    let s = setup();
    let predictions = bad_predictions("bad-predictions");
    for what in ["jaccard", "objects"] {
        let out = scratch(&format!("evaluate-{what}"));
        let output = silico(&[
            "evaluate",
            what,
            "--data",
            path(&s.data),
            "--predictions",
            path(&predictions),
            "--structure",
            "nucleoli",
            "--out",
            path(&out),
        ]);
        refused(
            &output,
            &["nucleoli/field_000.tif: 2 voxels are NaN or infinite"],
        );
        nothing_written(&out);
    }

    // A real image with NaN: a data folder whose nucleoli manifest names a bad target.
    let data = scratch("bad-real");
    std::fs::create_dir_all(&data).unwrap();
    let bad_real = data.join("bad_nucleoli.tif");
    with_non_finite(&field(&s.data, 0, "nucleoli"), &bad_real);
    std::fs::write(
        data.join("nucleoli.csv"),
        format!(
            "path_signal,path_target\n{},{}\n",
            path(&field(&s.data, 0, "brightfield")),
            path(&bad_real)
        ),
    )
    .unwrap();
    // A lone row's image is named by its file's stem.
    let good = scratch("good-predictions");
    std::fs::create_dir_all(good.join("nucleoli")).unwrap();
    std::fs::copy(
        field(&s.data, 0, "nucleoli"),
        good.join("nucleoli/brightfield.tif"),
    )
    .unwrap();
    let out = scratch("evaluate-bad-real");
    let output = silico(&[
        "evaluate",
        "jaccard",
        "--data",
        path(&data),
        "--predictions",
        path(&good),
        "--out",
        path(&out),
    ]);
    refused(&output, &["bad_nucleoli.tif: 2 voxels are NaN or infinite"]);
    nothing_written(&out);
}

#[test]
fn exclusivity_refuses_non_finite_predictions_and_masks_that_select_nothing() {
    let s = setup();
    let predictions = bad_predictions("bad-exclusivity");
    let out = scratch("exclusivity-nan");
    let output = silico(&[
        "evaluate",
        "exclusivity",
        "--predictions",
        path(&predictions),
        "--out",
        path(&out),
    ]);
    refused(
        &output,
        &["nucleoli/field_000.tif: 2 voxels are NaN or infinite"],
    );
    nothing_written(&out);

    let good = scratch("good-exclusivity");
    for structure in ["nucleoli", "golgi"] {
        std::fs::create_dir_all(good.join(structure)).unwrap();
        std::fs::copy(
            field(&s.data, 0, structure),
            good.join(format!("{structure}/field_000.tif")),
        )
        .unwrap();
    }
    let masks = scratch("masks");
    std::fs::create_dir_all(&masks).unwrap();
    let real = tiff::read_volume(&field(&s.data, 0, "nucleoli")).unwrap();
    tiff::write_volume(
        &masks.join("field_000.tif"),
        &Volume::from_data(vec![0.0; real.data.len()], real.shape, real.voxel_um).unwrap(),
    )
    .unwrap();
    let template = format!("{}/{{image}}.tif", masks.display());
    let out = scratch("exclusivity-empty-mask");
    let output = silico(&[
        "evaluate",
        "exclusivity",
        "--predictions",
        path(&good),
        "--masks",
        &template,
        "--out",
        path(&out),
    ]);
    refused(&output, &["masks/field_000.tif", "selects no voxel"]);
    nothing_written(&out);
}

#[test]
fn info_reads_a_non_finite_image_without_crashing() {
    let output = silico(&["info", path(&setup().bad_brightfield)]);
    let stdout = ok(&output);
    assert!(stdout.contains("bad_brightfield.tif"), "{stdout}");
}
