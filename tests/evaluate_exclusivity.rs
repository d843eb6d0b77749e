//! `silico evaluate exclusivity` as a library call: prediction sets on disk (one folder of TIFFs
//! per structure) through the exclusivity plugin into JSON, CSV and a heat map, and the one-line
//! errors for sets whose folders do not match.

mod common;

use common::{library, scratch_registry};
use silico::{
    evaluate::{self, ExclusivityReport, ImagePaths, PredictionSource},
    Plugins, Registry,
};
use silico_imaging::{tiff::write_volume, Volume};
use std::path::Path;

/// The report of the one prediction set in `predictions`, written into `out`.
fn exclusivity_report(
    plugins: &Plugins,
    predictions: &Path,
    masks: Option<&ImagePaths>,
    out: &Path,
) -> anyhow::Result<ExclusivityReport> {
    let source = PredictionSource {
        label: "predictions".into(),
        folder: predictions.to_path_buf(),
    };
    let mut reports = evaluate::exclusivity_report(plugins, &[source], masks, out)?;
    assert_eq!(reports.len(), 1);
    Ok(reports.remove(0).1)
}

fn plugins() -> Plugins {
    let text = format!(
        "[plugins]\nexclusivity = \"{}\"\n",
        library("silico_exclusivity").display()
    );
    let scratch = scratch_registry(&text);
    Plugins::load(&Registry::load(&scratch.path).unwrap()).unwrap()
}

fn write_prediction(path: &Path, zyx: [usize; 3], data: &[f32]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_volume(
        path,
        &Volume::single_channel(data.to_vec(), zyx, [0.29, 0.108, 0.108]).unwrap(),
    )
    .unwrap();
}

/// dna and er over two images; er is highest at one voxel of four, dna at the rest.
fn two_structures(dir: &Path) {
    write_prediction(&dir.join("dna/cell_01.tif"), [1, 1, 2], &[3.0, 1.0]);
    write_prediction(&dir.join("er/cell_01.tif"), [1, 1, 2], &[1.0, 4.0]);
    write_prediction(&dir.join("dna/cell_02.tif"), [1, 2, 1], &[2.0, 2.5]);
    write_prediction(&dir.join("er/cell_02.tif"), [1, 2, 1], &[0.0, 0.5]);
}

#[test]
fn report_streams_the_images_and_writes_json_csv_and_a_heat_map() {
    let plugins = plugins();
    let dir = tempfile::tempdir().unwrap();
    let predictions = dir.path().join("predictions");
    two_structures(&predictions);
    // An output folder inside the predictions folder is not taken for a structure.
    let out = predictions.join("evaluation");
    let report = exclusivity_report(&plugins, &predictions, None, &out).unwrap();

    assert_eq!(report.structures, ["dna", "er"]);
    let images: Vec<(&str, f64)> = report
        .images
        .iter()
        .map(|i| (i.image.as_str(), i.overall))
        .collect();
    assert_eq!(images, [("cell_01.tif", 2.5), ("cell_02.tif", 2.0)]);
    // Gaps: dna 2, 2, 2; er 3 → overall 9 / 4.
    assert_eq!((report.overall, report.voxels), (2.25, 4));
    assert_eq!(report.organelle, [2.0, 3.0]);
    assert_eq!(report.highest_voxels, [3, 1]);
    assert!(report.pairwise[0][0].is_nan() && report.pairwise[1][1].is_nan());
    assert_eq!((report.pairwise[0][1], report.pairwise[1][0]), (2.0, 3.0));

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("exclusivity.json")).unwrap())
            .unwrap();
    assert_eq!(json["structures"], serde_json::json!(["dna", "er"]));
    assert_eq!(json["overall"], 2.25);
    assert_eq!(
        json["organelle"],
        serde_json::json!({"dna": 2.0, "er": 3.0})
    );
    assert_eq!(
        json["pairwise"],
        serde_json::json!([[null, 2.0], [3.0, null]])
    );
    assert!(json["note"]
        .as_str()
        .unwrap()
        .contains("over all voxels of all images"));
    assert_eq!(
        std::fs::read_to_string(out.join("exclusivity.csv")).unwrap(),
        "structure,organelle_exclusivity,highest_voxels,pairwise_vs_dna,pairwise_vs_er\n\
         dna,2,3,,2\ner,3,1,3,\noverall,2.25,4,,\n"
    );
    let png = png::Decoder::new(std::io::Cursor::new(
        std::fs::read(out.join("exclusivity_pairwise.png")).unwrap(),
    ));
    let info = png.read_info().unwrap().info().clone();
    assert!(
        info.width > 128 && info.height > 128,
        "{}x{}",
        info.width,
        info.height
    );
    // Nothing but the three files: the temporary files were renamed into place.
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "exclusivity.csv",
            "exclusivity.json",
            "exclusivity_pairwise.png"
        ]
    );
}

#[test]
fn mismatched_prediction_sets_fail_in_one_line_naming_the_file() {
    let plugins = plugins();
    let error = |prepare: &dyn Fn(&Path)| {
        let dir = tempfile::tempdir().unwrap();
        let predictions = dir.path().join("predictions");
        two_structures(&predictions);
        prepare(&predictions);
        let message = format!(
            "{:#}",
            exclusivity_report(&plugins, &predictions, None, &dir.path().join("out")).unwrap_err()
        );
        message.replace(&predictions.display().to_string(), "P")
    };
    assert_eq!(
        error(&|p| std::fs::remove_file(p.join("er/cell_02.tif")).unwrap()),
        "P/er/cell_02.tif: missing, but P/dna/cell_02.tif exists"
    );
    assert_eq!(
        error(&|p| write_prediction(&p.join("er/cell_03.tif"), [1, 1, 2], &[0.0, 0.0])),
        "P/er/cell_03.tif: has no counterpart P/dna/cell_03.tif"
    );
    assert_eq!(
        error(&|p| write_prediction(&p.join("er/cell_02.tif"), [1, 1, 2], &[0.0, 0.0])),
        "P/er/cell_02.tif: shape (Z, Y, X) [1, 1, 2] differs from [1, 2, 1] of P/dna/cell_02.tif"
    );
    assert_eq!(
        error(&|p| std::fs::remove_dir_all(p.join("er")).unwrap()),
        "P: found 1 structure folders (dna); exclusivity compares the predictions of at least 2 structures, one folder of TIFFs each"
    );
    assert!(error(&|p| std::fs::remove_dir_all(p).unwrap())
        .starts_with("cannot read the predictions folder P (one folder of TIFFs per structure): "));
}

#[test]
fn masks_restrict_each_image_to_its_counted_voxels() {
    let plugins = plugins();
    let dir = tempfile::tempdir().unwrap();
    let predictions = dir.path().join("predictions");
    two_structures(&predictions);
    // cell_01 keeps only its second voxel (er highest, gap 3); cell_02 keeps both (dna, gaps 2).
    write_prediction(
        &dir.path().join("masks/cell_01/cells.tif"),
        [1, 1, 2],
        &[0.0, 7.0],
    );
    write_prediction(
        &dir.path().join("masks/cell_02/cells.tif"),
        [1, 2, 1],
        &[1.0, 1.0],
    );
    let template = ImagePaths::parse(
        &format!("{}/masks/{{image}}/cells.tif", dir.path().display()),
        "--masks",
    )
    .unwrap();
    let report = exclusivity_report(
        &plugins,
        &predictions,
        Some(&template),
        &dir.path().join("out"),
    )
    .unwrap();
    assert_eq!((report.overall, report.voxels), (7.0 / 3.0, 3));
    assert_eq!(report.highest_voxels, [2, 1]);

    std::fs::remove_file(dir.path().join("masks/cell_02/cells.tif")).unwrap();
    let err = exclusivity_report(
        &plugins,
        &predictions,
        Some(&template),
        &dir.path().join("out"),
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("the mask of image cell_02.tif"),
        "{err:#}"
    );
    let err = ImagePaths::parse("masks.tif", "--masks").unwrap_err();
    assert!(format!("{err:#}").contains("put {image} where"), "{err:#}");
}

#[test]
fn several_sets_get_a_folder_each_and_names_with_commas_and_quotes_survive_the_csv() {
    let plugins = plugins();
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    two_structures(&first);
    // The second set names its er folder with a comma and a quote.
    let odd = "er, \"smooth\"";
    for image in ["cell_01.tif", "cell_02.tif"] {
        let dna = first.join("dna").join(image);
        std::fs::create_dir_all(second.join("dna")).unwrap();
        std::fs::copy(&dna, second.join("dna").join(image)).unwrap();
        std::fs::create_dir_all(second.join(odd)).unwrap();
        std::fs::copy(first.join("er").join(image), second.join(odd).join(image)).unwrap();
    }
    let out = dir.path().join("out");
    let sources = [
        PredictionSource::parse(&format!("unet={}", first.display())).unwrap(),
        PredictionSource::parse(&format!("retrained={}", second.display())).unwrap(),
    ];
    let reports = evaluate::exclusivity_report(&plugins, &sources, None, &out).unwrap();
    let names: Vec<&str> = reports.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["unet", "retrained"]);
    assert_eq!(reports[1].1.structures, ["dna", odd]);
    // The same values under another name.
    assert_eq!(reports[0].1.organelle, reports[1].1.organelle);
    assert_eq!(reports[0].1.overall, 2.25);

    let written =
        |set: &str| std::fs::read_to_string(out.join(set).join("exclusivity.csv")).unwrap();
    assert_eq!(
        written("unet"),
        "structure,organelle_exclusivity,highest_voxels,pairwise_vs_dna,pairwise_vs_er\n\
         dna,2,3,,2\ner,3,1,3,\noverall,2.25,4,,\n"
    );
    let text = written("retrained");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[4], format!("pairwise_vs_{odd}"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let structures: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(structures, ["dna", odd, "overall"]);
    assert_eq!((&rows[1][1], &rows[1][3]), ("3", "3"));
    for set in ["unet", "retrained"] {
        assert!(out.join(set).join("exclusivity.json").is_file(), "{set}");
        assert!(
            out.join(set).join("exclusivity_pairwise.png").is_file(),
            "{set}"
        );
    }

    let twice = [sources[0].clone(), sources[0].clone()];
    let err = evaluate::exclusivity_report(&plugins, &twice, None, &out).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "--predictions: the name `unet` is given twice; name each set NAME=DIR"
    );
}
