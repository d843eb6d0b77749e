//! Manifests, splits, normalization, resampling and patch sampling.

mod common;

use std::path::{Path, PathBuf};

use silico_imaging::dataset::{
    image_names, write_manifest, LoadOptions, Manifest, ManifestEntry, PatchSampler, Split,
    SplitSpec,
};
use silico_imaging::resample::resample_to_voxel;
use silico_imaging::tiff::write_volume;
use silico_imaging::Volume;

fn ramp(shape: [usize; 4], voxel: [f32; 3], scale: f32) -> Volume {
    let n = shape.iter().product();
    Volume::from_data(
        (0..n).map(|i| (i % 97) as f32 * scale + 3.0).collect(),
        shape,
        voxel,
    )
    .unwrap()
}

fn write_csv(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn relative_paths_resolve_against_the_csv_and_channels_select() {
    let dir = common::scratch("dataset-paths");
    std::fs::create_dir_all(dir.join("imgs")).unwrap();
    // An Allen-like 7-channel file: bright-field 6, structure 3.
    write_volume(
        &dir.join("imgs/cell.tif"),
        &ramp([7, 8, 16, 16], [0.29, 0.108, 0.108], 1.0),
    )
    .unwrap();
    write_csv(
        &dir.join("m.csv"),
        "path,channel_signal,channel_target\nimgs/cell.tif,6,3\n",
    );
    let manifest = Manifest::load(&dir.join("m.csv")).unwrap();
    assert_eq!(manifest.rows[0].signal.path, dir.join("imgs/cell.tif"));
    manifest.check_files().unwrap();
    let pair = manifest
        .load_pair(
            &manifest.rows[0],
            LoadOptions {
                normalize: false,
                resample_to_um: None,
            },
        )
        .unwrap();
    let file = silico_imaging::tiff::read_volume(&dir.join("imgs/cell.tif")).unwrap();
    assert_eq!(pair.signal.data, file.channel_data(6));
    assert_eq!(pair.target.data, file.channel_data(3));
}

#[test]
fn z_score_gives_mean_zero_std_one_and_resampling_changes_voxels() {
    let dir = common::scratch("dataset-norm");
    write_volume(
        &dir.join("s.tif"),
        &ramp([1, 8, 27, 27], [0.29, 0.108, 0.108], 2.0),
    )
    .unwrap();
    write_volume(
        &dir.join("t.tif"),
        &ramp([1, 8, 27, 27], [0.29, 0.108, 0.108], 5.0),
    )
    .unwrap();
    write_csv(&dir.join("m.csv"), "path_signal,path_target\ns.tif,t.tif\n");
    let manifest = Manifest::load(&dir.join("m.csv")).unwrap();
    let pair = manifest
        .load_pair(
            &manifest.rows[0],
            LoadOptions {
                normalize: true,
                resample_to_um: Some([0.29, 0.29, 0.29]),
            },
        )
        .unwrap();
    assert_eq!(pair.signal.shape, [1, 8, 10, 10]);
    assert!(
        (pair.signal.voxel_um[1] - 0.2916).abs() < 1e-3,
        "{:?}",
        pair.signal.voxel_um
    );
    for v in [&pair.signal, &pair.target] {
        let r = v.value_range();
        assert!(r.mean.abs() < 1e-5 && (r.std - 1.0).abs() < 1e-4, "{r:?}");
    }
    // Resampling a constant stays constant; identity sizes are untouched.
    let flat = Volume::from_data(vec![4.0; 2 * 5 * 9 * 9], [2, 5, 9, 9], [1.0, 0.5, 0.5]).unwrap();
    let r = resample_to_voxel(&flat, [1.0, 1.5, 1.5]);
    assert_eq!(r.shape, [2, 5, 3, 3]);
    assert!(r.data.iter().all(|&v| (v - 4.0).abs() < 1e-6));
    assert_eq!(resample_to_voxel(&flat, [1.0, 0.5, 0.5]), flat);
}

#[test]
fn split_is_reproducible_and_respects_counts() {
    let mut csv = String::from("path_signal,path_target\n");
    for i in 0..80 {
        csv.push_str(&format!("s{i}.tif,t{i}.tif\n"));
    }
    let manifest = Manifest::parse(Path::new("/data/m.csv"), &csv).unwrap();
    let a = manifest
        .split(
            SplitSpec::Counts {
                train: 60,
                test: 20,
            },
            42,
        )
        .unwrap();
    let b = manifest
        .split(
            SplitSpec::Counts {
                train: 60,
                test: 20,
            },
            42,
        )
        .unwrap();
    let c = manifest
        .split(
            SplitSpec::Counts {
                train: 60,
                test: 20,
            },
            43,
        )
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!((a.train.len(), a.test.len()), (60, 20));
    assert!(a.train.iter().all(|r| !a.test.contains(r)));
    let f = manifest.split(SplitSpec::TrainFraction(0.75), 1).unwrap();
    assert_eq!((f.train.len(), f.test.len()), (60, 20));
    let err = manifest
        .split(
            SplitSpec::Counts {
                train: 70,
                test: 20,
            },
            1,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("/data/m.csv") && err.contains("80"), "{err}");
}

#[test]
fn patch_sampler_is_seeded_and_in_bounds() {
    let dir = common::scratch("dataset-patch");
    write_volume(&dir.join("a.tif"), &ramp([1, 12, 20, 24], [1.0; 3], 1.0)).unwrap();
    write_volume(&dir.join("b.tif"), &ramp([1, 12, 20, 24], [1.0; 3], 3.0)).unwrap();
    write_csv(
        &dir.join("m.csv"),
        "path_signal,path_target\na.tif,b.tif\nb.tif,a.tif\n",
    );
    let manifest = Manifest::load(&dir.join("m.csv")).unwrap();
    let pairs = manifest
        .load_rows(&manifest.rows, LoadOptions::default())
        .unwrap();
    let mut s1 = PatchSampler::new(pairs.clone(), [8, 16, 16], 5).unwrap();
    let mut s2 = PatchSampler::new(pairs.clone(), [8, 16, 16], 5).unwrap();
    for _ in 0..50 {
        let (p, q) = (s1.sample(), s2.sample());
        assert_eq!(p, q);
        assert!(p.origin[0] + 8 <= 12 && p.origin[1] + 16 <= 20 && p.origin[2] + 16 <= 24);
        assert_eq!(p.signal.len(), 8 * 16 * 16);
        let source = &pairs[p.source].signal;
        assert_eq!(
            p.signal[0],
            source.get(0, p.origin[0], p.origin[1], p.origin[2])
        );
    }
    let err = PatchSampler::new(pairs, [16, 16, 16], 5)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("line 2") && err.contains("smaller than the patch"),
        "{err}"
    );
}

#[test]
fn repeated_stems_take_their_folder_names() {
    let paths = vec![
        PathBuf::from("f/field_000/brightfield.tif"),
        PathBuf::from("f/field_001/brightfield.tif"),
    ];
    assert_eq!(image_names(&paths), vec!["field_000", "field_001"]);
    let paths = vec![PathBuf::from("a.tif"), PathBuf::from("b.tif")];
    assert_eq!(image_names(&paths), vec!["a", "b"]);
}

#[test]
fn manifest_names_its_images_from_every_signal_path() {
    let csv = Path::new("/data/nucleoli.csv");
    let synth = Manifest::parse(
        csv,
        "path_signal,path_target\n\
         fields/field_000/brightfield.tif,fields/field_000/nucleoli.tif\n\
         fields/field_001/brightfield.tif,fields/field_001/nucleoli.tif\n",
    )
    .unwrap();
    assert_eq!(synth.image_names(), vec!["field_000", "field_001"]);
    let flat = Manifest::parse(
        csv,
        "path_signal,path_target\ncell_01.tif,t1.tif\ncell_02.tif,t2.tif\n",
    )
    .unwrap();
    assert_eq!(flat.image_names(), vec!["cell_01", "cell_02"]);
}

#[test]
fn a_written_manifest_quotes_a_comma_and_a_quote_and_reads_back() {
    let dir = common::scratch("dataset-quoting");
    let csv = dir.join("odd.csv");
    let entries = vec![
        ManifestEntry {
            path_signal: PathBuf::from("plate 1, \"good\" wells/bf.tif"),
            path_target: PathBuf::from("plate 1, \"good\" wells/dna.tif"),
            split: Split::Train,
        },
        ManifestEntry {
            path_signal: PathBuf::from("plain/bf.tif"),
            path_target: PathBuf::from("plain/dna.tif"),
            split: Split::Test,
        },
    ];
    write_manifest(&csv, &entries).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        text,
        "path_signal,path_target,split\n\
         \"plate 1, \"\"good\"\" wells/bf.tif\",\"plate 1, \"\"good\"\" wells/dna.tif\",train\n\
         plain/bf.tif,plain/dna.tif,test\n"
    );
    let manifest = Manifest::parse(&csv, &text).unwrap();
    let read: Vec<(PathBuf, PathBuf, Option<Split>)> = manifest
        .rows
        .iter()
        .map(|r| (r.signal.path.clone(), r.target.path.clone(), r.split))
        .collect();
    let written: Vec<(PathBuf, PathBuf, Option<Split>)> = entries
        .iter()
        .map(|e| {
            (
                dir.join(&e.path_signal),
                dir.join(&e.path_target),
                Some(e.split),
            )
        })
        .collect();
    assert_eq!(read, written);
}
