//! Ground truth of the synthetic generator checked against its own images.

mod common;

use common::files;

use silico_imaging::dataset::{LoadOptions, Manifest, SplitSpec};
use std::path::Path;

use silico_imaging::synth::{
    generate, generate_field, generate_field_with, Field, Recipe, Structure, SynthOptions,
};
use silico_imaging::tiff::read_volume;

fn tiny() -> Recipe {
    Recipe {
        shape: [20, 80, 80],
        cells: 4,
        cell_height_um: [4.0, 5.0],
        ..Recipe::small()
    }
}

fn field() -> Field {
    generate_field(&tiny(), 7, 0)
}

#[test]
fn same_seed_gives_same_bytes_and_other_seeds_differ() {
    let recipe = tiny();
    let a = generate_field(&recipe, 3, 1);
    let b = generate_field(&recipe, 3, 1);
    let c = generate_field(&recipe, 4, 1);
    assert_eq!(a.brightfield, b.brightfield);
    assert_eq!(a.fluorescence, b.fluorescence);
    assert_eq!(a.mitochondria, b.mitochondria);
    assert_ne!(a.brightfield, c.brightfield);

    let (d1, d2) = (
        common::scratch("synth-det-1"),
        common::scratch("synth-det-2"),
    );
    generate(&recipe, &d1, 2, 9, SynthOptions::default()).unwrap();
    generate(&recipe, &d2, 2, 9, SynthOptions::default()).unwrap();
    for file in [
        "fields/field_001/brightfield.tif",
        "fields/field_000/labels/nucleoli.tif",
        "mitochondria.csv",
        "fields/field_000/preview.png",
    ] {
        assert_eq!(
            std::fs::read(d1.join(file)).unwrap(),
            std::fs::read(d2.join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn every_nucleolus_lies_inside_its_nucleus_and_nuclei_inside_cells() {
    let f = field();
    assert!(!f.nucleolus_parent.is_empty());
    for (i, &n) in f.nucleoli.iter().enumerate() {
        if n != 0 {
            assert_eq!(
                f.nuclei[i],
                f.nucleolus_parent[n as usize - 1],
                "nucleolus {n} leaves its nucleus"
            );
        }
        if f.nuclei[i] != 0 {
            assert_eq!(f.cells[i], f.nuclei[i], "nucleus outside its cell");
        }
    }
}

#[test]
fn object_counts_per_complete_cell_are_plausible() {
    let recipe = tiny();
    let f = field();
    let complete: Vec<u16> = (1..=f.cell_complete.len() as u16)
        .filter(|&c| f.cell_complete[c as usize - 1])
        .collect();
    assert!(
        f.cell_complete.len() >= 3,
        "expected several cells, got {}",
        f.cell_complete.len()
    );
    assert!(
        f.cell_complete.iter().any(|c| !c),
        "some cells should be cut by the border"
    );
    let count = |owners: &[u16], cell: u16| owners.iter().filter(|&&o| o == cell).count();
    for &c in &complete {
        let nucleoli = count(&f.nucleolus_parent, c);
        assert!(
            (1..=recipe.nucleoli.count[1]).contains(&nucleoli),
            "cell {c}: {nucleoli} nucleoli"
        );
        let mito = count(&f.mitochondrion_cell, c);
        assert!(
            mito >= recipe.mitochondria.per_cell / 3 && mito <= recipe.mitochondria.per_cell,
            "cell {c}: {mito} mitochondria"
        );
        assert!(
            (1..=recipe.golgi.pieces[1]).contains(&count(&f.golgi_cell, c)),
            "cell {c}: Golgi pieces"
        );
        assert!(count(&f.desmosome_cell, c) >= 1, "cell {c}: no desmosomes");
    }
}

#[test]
fn objects_of_one_structure_do_not_touch_and_organelles_do_not_overlap() {
    let recipe = tiny();
    let f = field();
    let [nz, ny, nx] = recipe.shape;
    for (name, labels) in [
        ("nucleoli", &f.nucleoli),
        ("mitochondria", &f.mitochondria),
        ("golgi", &f.golgi),
    ] {
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let i = (z * ny + y) * nx + x;
                    let neighbours = [
                        (x + 1 < nx).then(|| i + 1),
                        (y + 1 < ny).then(|| i + nx),
                        (z + 1 < nz).then(|| i + nx * ny),
                    ];
                    for j in neighbours.into_iter().flatten() {
                        let (a, b) = (labels[i], labels[j]);
                        assert!(
                            a == 0 || b == 0 || a == b,
                            "{name} objects {a} and {b} touch"
                        );
                    }
                }
            }
        }
    }
    for organelle in [
        Structure::Mitochondria,
        Structure::Golgi,
        Structure::EndoplasmicReticulum,
    ] {
        let own = &f.semantic[organelle as usize];
        for other in Structure::ALL.iter().filter(|&&s| s != organelle) {
            let overlap = own
                .iter()
                .zip(&f.semantic[*other as usize])
                .filter(|(a, b)| **a == 1 && **b == 1)
                .count();
            assert_eq!(overlap, 0, "{} overlaps {}", organelle.name(), other.name());
        }
    }
}

#[test]
fn masks_labels_and_channels_are_aligned() {
    let f = field();
    for s in Structure::ALL {
        let mask = &f.semantic[s as usize];
        let image = &f.fluorescence[s as usize];
        let (mut inside, mut n_in, mut outside, mut n_out) = (0f64, 0usize, 0f64, 0usize);
        for (&m, &v) in mask.iter().zip(image) {
            if m == 1 {
                inside += v as f64;
                n_in += 1;
            } else {
                outside += v as f64;
                n_out += 1;
            }
        }
        assert!(n_in > 0, "{} has an empty mask", s.name());
        let (mean_in, mean_out) = (inside / n_in as f64, outside / n_out as f64);
        assert!(
            mean_in > mean_out + 10.0,
            "{}: signal {mean_in:.1} inside its mask vs {mean_out:.1} outside",
            s.name()
        );
    }
    for (s, labels) in [
        (Structure::Nucleoli, &f.nucleoli),
        (Structure::Mitochondria, &f.mitochondria),
        (Structure::Golgi, &f.golgi),
        (Structure::Desmosomes, &f.desmosomes),
    ] {
        assert!(
            f.semantic[s as usize]
                .iter()
                .zip(labels.iter())
                .all(|(&m, &l)| (m == 1) == (l != 0)),
            "{} mask and labels disagree",
            s.name()
        );
    }
    // Bright-field sees nucleoli: their mean differs clearly from the rest of the nucleus.
    let (mut nucleolar, mut n1, mut nuclear, mut n2) = (0f64, 0usize, 0f64, 0usize);
    for i in 0..f.brightfield.len() {
        if f.nucleoli[i] != 0 {
            nucleolar += f.brightfield[i] as f64;
            n1 += 1;
        } else if f.nuclei[i] != 0 {
            nuclear += f.brightfield[i] as f64;
            n2 += 1;
        }
    }
    let contrast = (nucleolar / n1 as f64 - nuclear / n2 as f64).abs() / (nuclear / n2 as f64);
    assert!(
        contrast > 0.01,
        "nucleoli invisible in bright-field ({contrast})"
    );
}

#[test]
fn generated_dataset_loads_through_its_manifests() {
    let dir = common::scratch("synth-manifest");
    let summary = generate(&tiny(), &dir, 4, 1, SynthOptions::default()).unwrap();
    assert_eq!(summary.manifests.len(), 12);
    let mut expected = String::from("path_signal,path_target,split\n");
    for (index, field) in summary.fields.iter().enumerate() {
        let d = format!("fields/field_{index:03}");
        expected.push_str(&format!(
            "{d}/brightfield.tif,{d}/nucleoli.tif,{}\n",
            field.split
        ));
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("nucleoli.csv")).unwrap(),
        expected
    );
    let manifest = Manifest::load(&dir.join("nucleoli.csv")).unwrap();
    manifest.check_files().unwrap();
    let split = manifest.split(SplitSpec::Column, 0).unwrap();
    assert_eq!(split.train.len(), 3);
    assert_eq!(split.test.len(), 1);
    let pair = manifest
        .load_pair(&split.train[0], LoadOptions::default())
        .unwrap();
    assert_eq!(pair.signal.shape, [1, 20, 80, 80]);
    assert_eq!(pair.target.shape, pair.signal.shape);
    assert!(!std::fs::read_dir(dir.join("fields/field_000"))
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
}

#[test]
fn a_recipe_with_a_bad_key_names_the_key() {
    let err = Recipe::from_toml("cells = 4\n[mitochondria]\nper_cel = 3\n", "r.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("per_cel") && err.contains("r.toml"), "{err}");
    let err = Recipe::from_toml("shape = [2, 64, 64]\n", "r.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`shape`"), "{err}");
    let default = Recipe::default();
    assert_eq!(
        Recipe::from_toml(&default.to_toml(), "roundtrip").unwrap(),
        default
    );
}

const NOISE_FREE: SynthOptions = SynthOptions { noise_free: true };

#[test]
fn noise_free_targets_leave_every_other_file_as_it_was() {
    let recipe = tiny();
    let (plain_dir, noise_free_dir) = (
        common::scratch("synth-plain"),
        common::scratch("synth-noise-free"),
    );
    generate(&recipe, &plain_dir, 2, 5, SynthOptions::default()).unwrap();
    generate(&recipe, &noise_free_dir, 2, 5, NOISE_FREE).unwrap();
    let (plain, with_noise_free) = (files(&plain_dir), files(&noise_free_dir));
    for (path, bytes) in &plain {
        if path.extension().is_some_and(|e| e == "csv") {
            continue;
        }
        assert!(
            bytes == &with_noise_free[path],
            "{} differs",
            path.display()
        );
    }
    let mut added: Vec<String> = with_noise_free
        .keys()
        .filter(|p| !plain.contains_key(*p))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    added.sort();
    let mut expected: Vec<String> = (0..2)
        .flat_map(|f| {
            Structure::ALL.map(|s| format!("fields/field_{f:03}/noise_free/{}.tif", s.name()))
        })
        .collect();
    expected.sort();
    assert_eq!(added, expected);
    // Each manifest gains the column and nothing else.
    for s in Structure::ALL {
        let csv = format!("{}.csv", s.name());
        let plain_text = String::from_utf8(plain[Path::new(&csv)].clone()).unwrap();
        let text = String::from_utf8(with_noise_free[Path::new(&csv)].clone()).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("path_signal,path_target,path_target_noise_free,split")
        );
        for (line, plain_line) in lines.zip(plain_text.lines().skip(1)) {
            let columns: Vec<&str> = line.split(',').collect();
            let dir = columns[1].rsplit_once('/').unwrap().0;
            assert_eq!(columns[2], format!("{dir}/noise_free/{}.tif", s.name()));
            assert_eq!(
                format!("{},{},{}", columns[0], columns[1], columns[3]),
                plain_line
            );
        }
    }
    // In memory too: the same draws, with or without the expectation beside them.
    let a = generate_field(&recipe, 5, 1);
    let b = generate_field_with(&recipe, 5, 1, NOISE_FREE);
    assert_eq!(a.fluorescence, b.fluorescence);
    assert_eq!(a.brightfield, b.brightfield);
    assert!(a.fluorescence_noise_free.is_none());
    let noise_free = b.fluorescence_noise_free.unwrap();
    let written =
        read_volume(&noise_free_dir.join("fields/field_001/noise_free/golgi.tif")).unwrap();
    assert_eq!(written.data, noise_free[Structure::Golgi as usize]);
    assert_eq!(written.voxel_um, recipe.voxel_um);
}

#[test]
fn the_noise_free_image_is_the_mean_of_the_noisy_one() {
    let recipe = tiny();
    let field = generate_field_with(&recipe, 11, 0, NOISE_FREE);
    let noise_free = field.fluorescence_noise_free.as_ref().unwrap();
    let camera_floor = (recipe.noise.background + recipe.noise.offset) as f32;
    for s in Structure::ALL {
        let (noisy, clean) = (&field.fluorescence[s as usize], &noise_free[s as usize]);
        // Where no structure is, the expectation is the background plus the offset exactly,
        // and the noise's variance is the Poisson background's plus the read noise's.
        let empty: Vec<f64> = noisy
            .iter()
            .zip(clean)
            .filter(|(_, &c)| c == camera_floor)
            .map(|(&n, _)| n as f64)
            .collect();
        assert!(
            empty.len() > 1000,
            "{}: {} empty voxels",
            s.name(),
            empty.len()
        );
        let sd = (recipe.noise.background + recipe.noise.read.powi(2)).sqrt();
        let mean = empty.iter().sum::<f64>() / empty.len() as f64;
        let tolerance = 4.0 * sd / (empty.len() as f64).sqrt();
        assert!(
            (mean - camera_floor as f64).abs() < tolerance,
            "{}: mean {mean} where nothing is, expected {camera_floor} ± {tolerance}",
            s.name()
        );
        // Over the whole image, bright voxels included, noisy − noise-free has mean zero.
        let residual: Vec<f64> = noisy
            .iter()
            .zip(clean)
            .map(|(&n, &c)| n as f64 - c as f64)
            .collect();
        let n = residual.len() as f64;
        let mean = residual.iter().sum::<f64>() / n;
        let sd = (residual.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(
            mean.abs() < 4.0 * sd / n.sqrt(),
            "{}: noisy − noise-free has mean {mean} (sd {sd})",
            s.name()
        );
        assert!(
            clean.iter().any(|&c| c > camera_floor + 20.0),
            "{}: no signal in the noise-free image",
            s.name()
        );
    }
}

#[test]
fn noise_free_targets_load_through_their_manifests() {
    let dir = common::scratch("synth-noise-free-manifest");
    generate(&tiny(), &dir, 2, 3, NOISE_FREE).unwrap();
    let manifest = Manifest::load(&dir.join("dna.csv")).unwrap();
    manifest.check_files().unwrap();
    let row = &manifest.rows[0];
    assert_eq!(
        row.target_noise_free.as_ref().unwrap().path,
        dir.join("fields/field_000/noise_free/dna.tif")
    );
    let (pair, noise_free) = manifest
        .load_pair_with_noise_free(row, LoadOptions::default())
        .unwrap();
    assert_eq!(
        pair,
        manifest.load_pair(row, LoadOptions::default()).unwrap()
    );
    let noise_free = noise_free.unwrap();
    assert_eq!(noise_free.shape, pair.target.shape);
    // In the noisy target's units the noise-free image keeps (nearly) its mean of zero.
    let mean =
        noise_free.data.iter().map(|&v| v as f64).sum::<f64>() / noise_free.data.len() as f64;
    assert!(
        mean.abs() < 0.01,
        "noise-free mean {mean} in z-scored units"
    );

    std::fs::remove_file(dir.join("fields/field_001/noise_free/dna.tif")).unwrap();
    let error = manifest.check_files().unwrap_err().to_string();
    assert!(
        error.contains("fields/field_001/noise_free/dna.tif") && error.contains("does not exist"),
        "{error}"
    );
}
