//! Manifests, splits, normalization, resampling and patch sampling.

mod common;

use std::path::{Path, PathBuf};

use silico_imaging::dataset::{
    image_names, write_manifest, z_score, ImageRef, LoadOptions, Manifest, ManifestEntry,
    PatchSampler, Split, SplitSpec,
};
use silico_imaging::resample::resample_to_voxel;
use silico_imaging::rng::Rng;
use silico_imaging::tiff::write_volume;
use silico_imaging::{ChannelSelector, Volume};

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
                ..LoadOptions::default()
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
                ..LoadOptions::default()
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
            path_target_noise_free: None,
            split: Split::Train,
        },
        ManifestEntry {
            path_signal: PathBuf::from("plain/bf.tif"),
            path_target: PathBuf::from("plain/dna.tif"),
            path_target_noise_free: None,
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

#[test]
fn a_noise_free_column_is_written_quoted_and_reads_back() {
    let dir = common::scratch("dataset-noise-free-column");
    let csv = dir.join("dna.csv");
    let odd = "plate 1, \"good\" wells";
    let entries = vec![
        ManifestEntry {
            path_signal: PathBuf::from(format!("{odd}/bf.tif")),
            path_target: PathBuf::from(format!("{odd}/dna.tif")),
            path_target_noise_free: Some(PathBuf::from(format!("{odd}/noise_free/dna.tif"))),
            split: Split::Train,
        },
        ManifestEntry {
            path_signal: PathBuf::from("plain/bf.tif"),
            path_target: PathBuf::from("plain/dna.tif"),
            path_target_noise_free: Some(PathBuf::from("plain/noise_free/dna.tif")),
            split: Split::Test,
        },
    ];
    write_manifest(&csv, &entries).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        text,
        "path_signal,path_target,path_target_noise_free,split\n\
         \"plate 1, \"\"good\"\" wells/bf.tif\",\"plate 1, \"\"good\"\" wells/dna.tif\",\"plate 1, \"\"good\"\" wells/noise_free/dna.tif\",train\n\
         plain/bf.tif,plain/dna.tif,plain/noise_free/dna.tif,test\n"
    );
    let manifest = Manifest::load(&csv).unwrap();
    let read: Vec<_> = manifest
        .rows
        .iter()
        .map(|r| (r.target.path.clone(), r.target_noise_free.clone(), r.split))
        .collect();
    let written: Vec<_> = entries
        .iter()
        .map(|e| {
            let noise_free = e.path_target_noise_free.as_ref().map(|p| ImageRef {
                path: dir.join(p),
                channel: None,
            });
            (dir.join(&e.path_target), noise_free, Some(e.split))
        })
        .collect();
    assert_eq!(read, written);

    // A noise-free target for some entries only is refused before anything is written.
    let mut mixed = entries.clone();
    mixed[1].path_target_noise_free = None;
    let error = write_manifest(&dir.join("mixed.csv"), &mixed)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("mixed.csv")
            && error.contains("1 of 2 entries name a path_target_noise_free"),
        "{error}"
    );
    assert!(!dir.join("mixed.csv").exists());
    // Without the column, rows name none; an empty value in it is an error naming the column.
    let plain = Manifest::parse(&csv, "path_signal,path_target\nbf.tif,dna.tif\n").unwrap();
    assert_eq!(plain.rows[0].target_noise_free, None);
    let error = Manifest::parse(
        &csv,
        "path_signal,path_target,path_target_noise_free\nbf.tif,dna.tif,\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("row 2") && error.contains("empty `path_target_noise_free`"),
        "{error}"
    );
}

#[test]
fn a_noise_free_channel_comes_from_the_target_file_unless_a_path_names_another() {
    let dir = common::scratch("dataset-noise-free-channel");
    let cell = ramp([7, 4, 8, 8], [0.29, 0.108, 0.108], 1.0);
    write_volume(&dir.join("cell.tif"), &cell).unwrap();
    write_volume(&dir.join("other.tif"), &cell).unwrap();
    let raw = LoadOptions {
        normalize: false,
        resample_to_um: None,
        ..LoadOptions::default()
    };
    for (text, file, channel) in [
        (
            "path,channel_signal,channel_target,channel_target_noise_free\ncell.tif,6,3,4\n",
            "cell.tif",
            4,
        ),
        (
            "path,channel_signal,channel_target,path_target_noise_free,channel_target_noise_free\ncell.tif,6,3,other.tif,2\n",
            "other.tif",
            2,
        ),
    ] {
        write_csv(&dir.join("m.csv"), text);
        let manifest = Manifest::load(&dir.join("m.csv")).unwrap();
        let row = &manifest.rows[0];
        assert_eq!(
            row.target_noise_free,
            Some(ImageRef {
                path: dir.join(file),
                channel: Some(ChannelSelector::Index(channel)),
            })
        );
        manifest.check_files().unwrap();
        let (pair, noise_free) = manifest.load_pair_with_noise_free(row, raw).unwrap();
        assert_eq!(pair.target.data, cell.channel_data(3));
        assert_eq!(noise_free.unwrap().data, cell.channel_data(channel));
    }
    // A multi-channel noise-free file needs its channel named.
    write_csv(
        &dir.join("m.csv"),
        "path_signal,path_target,path_target_noise_free,channel_signal,channel_target\ncell.tif,cell.tif,other.tif,6,3\n",
    );
    let manifest = Manifest::load(&dir.join("m.csv")).unwrap();
    let error = manifest
        .load_pair_with_noise_free(&manifest.rows[0], raw)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("other.tif has 7 channels") && error.contains("channel_target_noise_free"),
        "{error}"
    );
}

/// Population variance and Pearson correlation, in f64.
fn variance(values: &[f32]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&v| v as f64).sum::<f64>() / n,
        b.iter().map(|&v| v as f64).sum::<f64>() / n,
    );
    let cov = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - ma) * (y as f64 - mb))
        .sum::<f64>()
        / n;
    cov / (variance(a) * variance(b)).sqrt()
}

#[test]
fn the_noise_free_target_is_prepared_in_its_noisy_targets_units() {
    let dir = common::scratch("dataset-noise-free-units");
    let (shape, voxel) = ([1, 12, 40, 40], [0.29, 0.108, 0.108]);
    // A smooth positive image far from zero mean, as camera counts are.
    let clean: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|i| {
            let (z, y, x) = (i / 1600, (i / 40) % 40, i % 40);
            500.0
                + 40.0 * ((x as f32 * 0.3).sin() * (y as f32 * 0.2).cos())
                + 20.0 * (z as f32 * 0.5).sin()
        })
        .collect();
    let clean_variance = variance(&clean);
    write_volume(&dir.join("s.tif"), &ramp(shape, voxel, 1.0)).unwrap();
    write_volume(
        &dir.join("clean.tif"),
        &Volume::from_data(clean.clone(), shape, voxel).unwrap(),
    )
    .unwrap();
    write_csv(
        &dir.join("m.csv"),
        "path_signal,path_target,path_target_noise_free\ns.tif,noisy.tif,clean.tif\n",
    );
    for (seed, relative_sd) in [(1, 0.3), (2, 1.0), (3, 2.0)] {
        let sd = relative_sd * clean_variance.sqrt();
        let mut rng = Rng::new(seed);
        let noisy: Vec<f32> = clean
            .iter()
            .map(|&c| c + (sd * rng.normal()) as f32)
            .collect();
        let noisy_variance = variance(&noisy);
        let noisy_volume = Volume::from_data(noisy.clone(), shape, voxel).unwrap();
        write_volume(&dir.join("noisy.tif"), &noisy_volume).unwrap();
        let manifest = Manifest::load(&dir.join("m.csv")).unwrap();
        let row = &manifest.rows[0];
        let (pair, noise_free) = manifest
            .load_pair_with_noise_free(row, LoadOptions::default())
            .unwrap();
        let noise_free = noise_free.unwrap();
        let (target, noise_free) = (&pair.target.data, &noise_free.data);
        // The noise variance in z-scored units: σ² over the noisy target's variance.
        let residual: Vec<f32> = target.iter().zip(noise_free).map(|(t, c)| t - c).collect();
        let var_noise = variance(&residual);
        let expected = sd * sd / noisy_variance;
        assert!(
            (var_noise / expected - 1.0).abs() < 0.03,
            "noise sd {relative_sd} × signal: var(target − noise-free) {var_noise}, drawn {expected}"
        );
        // The noise ceiling's definition: r(noisy, noise-free) = 1/sqrt(1 + vn/(vt − vn)).
        let var_target = variance(target);
        assert!((var_target - 1.0).abs() < 1e-4);
        let c_max = 1.0 / (1.0 + var_noise / (var_target - var_noise)).sqrt();
        let r = correlation(target, noise_free);
        assert!(
            (c_max - r).abs() < 0.01,
            "noise sd {relative_sd} × signal: C_max {c_max}, r {r}"
        );

        // Resampling applies to both alike, then the noisy target's z-score to both.
        let options = LoadOptions {
            normalize: true,
            resample_to_um: Some([0.29, 0.29, 0.29]),
            ..LoadOptions::default()
        };
        let (resampled, resampled_noise_free) =
            manifest.load_pair_with_noise_free(row, options).unwrap();
        let resampled_noise_free = resampled_noise_free.unwrap();
        assert_eq!(resampled.target.shape, [1, 12, 15, 15]);
        assert_eq!(resampled_noise_free.shape, resampled.target.shape);
        let mut noisy_resampled = resample_to_voxel(&noisy_volume, [0.29, 0.29, 0.29]).data;
        let clean_resampled = resample_to_voxel(
            &Volume::from_data(clean.clone(), shape, voxel).unwrap(),
            [0.29; 3],
        )
        .data;
        let n = noisy_resampled.len() as f64;
        let mean = noisy_resampled.iter().map(|&v| v as f64).sum::<f64>() / n;
        let sd = variance(&noisy_resampled).sqrt();
        for (&loaded, &c) in resampled_noise_free.data.iter().zip(&clean_resampled) {
            let by_hand = ((c as f64 - mean) / sd) as f32;
            assert!((loaded - by_hand).abs() < 1e-4, "{loaded} vs {by_hand}");
        }
        z_score(&mut noisy_resampled);
        assert_eq!(resampled.target.data, noisy_resampled);
    }
}

#[test]
fn image_names_drop_zarr_extensions_and_name_plate_fields() {
    use silico_imaging::dataset::image_names;
    assert_eq!(
        image_names(&["a/x.tif", "b/y.ome.zarr", "c/z.zarr"]),
        vec!["x", "y", "z"]
    );
    assert_eq!(
        image_names(&["plates/p1.zarr/B/3/0", "plates/p1.zarr/B/4/0"]),
        vec!["p1_B_3_0", "p1_B_4_0"]
    );
}
