//! The object-comparison statistics (kNN divergence, permutation test, joint PCA, spatial KDE
//! and R²): properties on random data, and agreement with independent scikit-learn / NumPy
//! computations (`scripts/object_statistics_reference.py`).

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

use silico_evaluation::{
    cellorganizer_grid, joint_pca, knn_divergence, knn_divergence::neighbour_fractions,
    knn_divergence_test, objects::TestedStatistic, position_r_squared, spatial::kernel_density,
    spatial_kl, spatial_kl_test, Null, PcaSettings, PermutationSettings, Points, SpatialSettings,
    StatsError,
};

/// Deterministic standard normals (SplitMix64 + Box–Muller), one stream per seed.
fn normals(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5DEE_CE66;
    let mut uniform = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (1.0 - uniform(), uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        })
        .collect()
}

/// `n` points in `dim` dimensions from N(shift, scale² I).
fn gaussian_points(seed: u64, n: usize, dim: usize, shift: f64, scale: f64) -> Points {
    let coords = normals(seed, n * dim)
        .iter()
        .map(|v| shift + scale * v)
        .collect();
    Points::new(dim, coords).unwrap()
}

fn write_points(path: &Path, points: &Points) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for v in points.coords() {
        file.write_all(&v.to_le_bytes()).unwrap();
    }
    file.flush().unwrap();
}

/// `$SILICO_PYTHON` (set by scripts/env.sh), else `python3`.
fn python() -> PathBuf {
    std::env::var_os("SILICO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| "python3".into())
}

/// Runs the reference script with `args` and returns its lines split into fields.
fn reference(args: &[String]) -> Vec<Vec<String>> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/object_statistics_reference.py");
    let output = Command::new(python())
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "could not run {} for the scikit-learn reference ({e}); set SILICO_PYTHON to a Python with numpy and scikit-learn",
                python().display()
            )
        });
    assert!(
        output.status.success(),
        "the scikit-learn reference failed (set SILICO_PYTHON to a Python with numpy and scikit-learn): {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

fn path_arg(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

#[test]
fn knn_divergence_is_near_zero_for_one_distribution_and_large_for_separated_sets() {
    let ks = [4, 8, 16];
    let real = gaussian_points(1, 400, 3, 0.0, 1.0);
    let same = gaussian_points(2, 300, 3, 0.0, 1.0);
    let apart = gaussian_points(3, 300, 3, 8.0, 1.0);
    let mixed = knn_divergence(&real, &same, &ks).unwrap();
    let separated = knn_divergence(&real, &apart, &ks).unwrap();
    // Perfectly separated sets give every point p = 1 or 0: the mean of −ln q and −ln(1 − q).
    let q: f64 = 400.0 / 700.0;
    let purity_limit = (400.0 * -q.ln() + 300.0 * -(1.0 - q).ln()) / 700.0;
    for (i, k) in ks.iter().enumerate() {
        // Sampling noise alone gives about 1/(2k) (a χ²₁/(2k) for binomial fractions).
        eprintln!("k = {k}: same {}, separated {}", mixed[i], separated[i]);
        assert!(
            mixed[i] < 1.0 / *k as f64,
            "k = {k}: same distribution gave {}",
            mixed[i]
        );
        assert!(
            (separated[i] - purity_limit).abs() < 1e-6,
            "k = {k}: separated sets gave {}, expected {purity_limit}",
            separated[i]
        );
    }
    // Larger k averages over more neighbours, so the sampling noise of p shrinks.
    assert!(mixed[0] > mixed[2], "{mixed:?}");
}

#[test]
fn knn_divergence_agrees_with_scikit_learn() {
    let ks = [1, 4, 8, 15];
    let first = gaussian_points(11, 150, 3, 0.0, 1.0);
    let second = gaussian_points(12, 90, 3, 0.7, 1.3);
    let dir = tempfile::tempdir().unwrap();
    let (first_path, second_path) = (dir.path().join("first.f64"), dir.path().join("second.f64"));
    write_points(&first_path, &first);
    write_points(&second_path, &second);
    let silico = knn_divergence(&first, &second, &ks).unwrap();
    let lines = reference(&[
        "knn".into(),
        path_arg(&first_path),
        path_arg(&second_path),
        "3".into(),
        "1,4,8,15".into(),
    ]);
    assert_eq!(lines.len(), ks.len());
    let mut largest_difference = 0.0f64;
    for (line, (k, silico)) in lines.iter().zip(ks.iter().zip(&silico)) {
        assert_eq!(line[1].parse::<usize>().unwrap(), *k);
        let sklearn: f64 = line[2].parse().unwrap();
        largest_difference = largest_difference.max((silico - sklearn).abs());
        assert!(
            (silico - sklearn).abs() <= 1e-9,
            "k = {k}: silico {silico}, scikit-learn {sklearn}"
        );
    }
    eprintln!("kNN divergence: largest |silico − scikit-learn| = {largest_difference:e}");
}

#[test]
fn knn_ties_at_the_kth_distance_go_to_the_lower_pooled_index() {
    // Pooled: 0 → −1 (first), 1 → 0 (second), 2 → 1 (second). Point 1 is equally far from 0
    // and 2; the lower index, 0 from the first set, wins.
    let first = Points::new(1, vec![-1.0]).unwrap();
    let second = Points::new(1, vec![0.0, 1.0]).unwrap();
    let fractions = neighbour_fractions(&first, &second, &[1, 2]).unwrap();
    assert_eq!(fractions[0], vec![0.0, 1.0, 0.0]);
    assert_eq!(fractions[1], vec![0.0, 0.5, 0.5]);
    // A duplicate of a point is its neighbour, the point itself is not.
    let duplicates = Points::new(1, vec![5.0, 5.0]).unwrap();
    let far = Points::new(1, vec![100.0]).unwrap();
    assert_eq!(
        neighbour_fractions(&duplicates, &far, &[1]).unwrap()[0],
        vec![1.0, 1.0, 1.0]
    );
}

#[test]
fn knn_divergence_refuses_bad_input() {
    let three = gaussian_points(5, 3, 2, 0.0, 1.0);
    let two = gaussian_points(6, 2, 2, 0.0, 1.0);
    let empty = Points::new(2, Vec::new()).unwrap();
    assert_eq!(
        knn_divergence(&three, &two, &[5]),
        Err(StatsError::TooFewPointsForK { points: 5, k: 5 })
    );
    assert!(knn_divergence(&three, &two, &[4]).is_ok());
    assert_eq!(
        knn_divergence(&three, &two, &[0]),
        Err(StatsError::ZeroNeighbours)
    );
    assert_eq!(
        knn_divergence(&three, &empty, &[1]),
        Err(StatsError::EmptySet { which: "second" })
    );
    let other_dim = gaussian_points(7, 3, 3, 0.0, 1.0);
    assert_eq!(
        knn_divergence(&three, &other_dim, &[1]),
        Err(StatsError::DimensionMismatch {
            expected: 2,
            got: 3
        })
    );
    assert_eq!(
        Points::new(2, vec![0.0, f64::NAN]),
        Err(StatsError::NonFinite { point: 0 })
    );
}

/// p-values of tests under their null: uniform, so 0.1, 0.5 and 0.5 are expected below 0.1,
/// below 0.5 and on average; the bands allow about three standard errors over 40 seeds.
fn assert_roughly_uniform(p_values: &[f64]) {
    let n = p_values.len() as f64;
    let below_tenth = p_values.iter().filter(|&&p| p < 0.1).count() as f64 / n;
    let below_half = p_values.iter().filter(|&&p| p < 0.5).count() as f64 / n;
    let mean = p_values.iter().sum::<f64>() / n;
    assert!(
        below_tenth <= 0.25,
        "fraction below 0.1: {below_tenth} ({p_values:?})"
    );
    assert!(
        (0.25..=0.75).contains(&below_half),
        "fraction below 0.5: {below_half} ({p_values:?})"
    );
    assert!((0.35..=0.65).contains(&mean), "mean p-value: {mean}");
}

#[test]
fn permutation_p_values_are_roughly_uniform_under_the_null_and_small_for_different_sets() {
    let ks = [8];
    let seeds = 40;
    let mut p_values = Vec::with_capacity(seeds);
    for seed in 0..seeds as u64 {
        // Synthetic as large as a half of the real set, so the null matches the observation.
        let real = gaussian_points(100 + 2 * seed, 120, 3, 0.0, 1.0);
        let synthetic = gaussian_points(101 + 2 * seed, 60, 3, 0.0, 1.0);
        let settings = PermutationSettings {
            permutations: 50,
            seed,
            null: Null::RealHalves,
        };
        let outcome = knn_divergence_test(&real, &synthetic, &ks, &settings).unwrap();
        assert_eq!(outcome.null[0].len(), 50);
        assert_eq!(outcome.which_null, Null::RealHalves);
        p_values.push(outcome.p_values[0]);
    }
    assert_roughly_uniform(&p_values);

    let real = gaussian_points(7, 120, 3, 0.0, 1.0);
    let shifted = gaussian_points(8, 60, 3, 1.5, 1.0);
    let outcome =
        knn_divergence_test(&real, &shifted, &ks, &PermutationSettings::default()).unwrap();
    assert_eq!(outcome.p_values[0], 1.0 / 51.0);
}

#[test]
fn pooled_label_p_values_are_roughly_uniform_under_the_null_and_small_for_different_sets() {
    let ks = [4];
    let seeds = 40;
    let pooled = |seed| PermutationSettings {
        permutations: 50,
        seed,
        null: Null::PooledLabels,
    };
    let mut p_values = Vec::with_capacity(seeds);
    for seed in 0..seeds as u64 {
        // Sizes that differ, where the real-halves null would be only approximate.
        let real = gaussian_points(300 + 2 * seed, 30, 3, 0.0, 1.0);
        let synthetic = gaussian_points(301 + 2 * seed, 18, 3, 0.0, 1.0);
        let outcome = knn_divergence_test(&real, &synthetic, &ks, &pooled(seed)).unwrap();
        assert_eq!(outcome.null[0].len(), 50);
        assert_eq!(
            (outcome.which_null, outcome.n_real, outcome.n_synthetic),
            (Null::PooledLabels, 30, 18)
        );
        p_values.push(outcome.p_values[0]);
    }
    assert_roughly_uniform(&p_values);

    let real = gaussian_points(9, 30, 3, 0.0, 1.0);
    let shifted = gaussian_points(10, 18, 3, 1.5, 1.0);
    let outcome = knn_divergence_test(&real, &shifted, &ks, &pooled(0)).unwrap();
    assert_eq!(outcome.p_values[0], 1.0 / 51.0);
    // The same seed under the other null permutes other sets but observes the same value.
    let halves = knn_divergence_test(&real, &shifted, &ks, &PermutationSettings::default());
    assert_eq!(halves.unwrap().observed, outcome.observed);
}

#[test]
fn the_pooled_label_null_needs_no_second_real_point_but_the_halves_null_does() {
    let one = gaussian_points(11, 1, 2, 0.0, 1.0);
    let synthetic = gaussian_points(12, 6, 2, 0.0, 1.0);
    let settings = |null| PermutationSettings {
        permutations: 10,
        seed: 0,
        null,
    };
    assert_eq!(
        knn_divergence_test(&one, &synthetic, &[2], &settings(Null::RealHalves)),
        Err(StatsError::TooFewRealPoints {
            points: 1,
            needed: 2
        })
    );
    let pooled = knn_divergence_test(&one, &synthetic, &[2], &settings(Null::PooledLabels));
    assert_eq!(pooled.unwrap().null[0].len(), 10);
}

#[test]
fn a_k_is_weak_exactly_when_it_reaches_half_the_smaller_set() {
    let tested = |k, n_real, n_synthetic| TestedStatistic {
        observed: 0.1,
        p_real_halves: Ok(0.5),
        p_pooled_labels: 0.5,
        n_real,
        n_synthetic,
        k,
    };
    // 2·k ≥ min(n_real, n_synthetic), whichever set is the smaller, odd or even.
    for (k, n_real, n_synthetic, weak) in [
        (5, 20, 12, false),
        (6, 20, 12, true),
        (6, 12, 20, true),
        (6, 13, 40, false),
        (7, 13, 40, true),
        (8, 16, 16, true),
        (7, 16, 16, false),
        (1, 1, 50, true),
    ] {
        assert_eq!(
            tested(Some(k), n_real, n_synthetic).weak(),
            weak,
            "k = {k}, n = {n_real} real, {n_synthetic} synthetic"
        );
    }
    assert!(!tested(None, 2, 2).weak(), "the spatial KL has no k");
}

#[test]
fn joint_pca_matches_numpy_svd_up_to_sign() {
    let (dim, components) = (12, 3);
    // Anisotropic descriptors so that the leading components are well separated.
    let anisotropic = |seed, n, shift| {
        let raw = gaussian_points(seed, n, dim, shift, 1.0);
        let coords = raw
            .coords()
            .iter()
            .enumerate()
            .map(|(i, v)| v * (1.0 + (dim - i % dim) as f64))
            .collect();
        Points::new(dim, coords).unwrap()
    };
    let first = anisotropic(21, 70, 0.5);
    let second = anisotropic(22, 50, -0.3);
    let dir = tempfile::tempdir().unwrap();
    let (first_path, second_path) = (dir.path().join("first.f64"), dir.path().join("second.f64"));
    write_points(&first_path, &first);
    write_points(&second_path, &second);
    for unit_length_rows in [false, true] {
        let pca = joint_pca(
            &first,
            &second,
            &PcaSettings {
                components,
                unit_length_rows,
            },
        )
        .unwrap();
        assert_eq!((pca.first.len(), pca.second.len()), (70, 50));
        let lines = reference(&[
            "pca".into(),
            path_arg(&first_path),
            path_arg(&second_path),
            dim.to_string(),
            components.to_string(),
            if unit_length_rows { "unit" } else { "raw" }.into(),
        ]);
        let mut numpy = vec![vec![0.0; components]; 120];
        for line in &lines {
            let (i, c): (usize, usize) = (line[1].parse().unwrap(), line[2].parse().unwrap());
            numpy[i][c] = line[3].parse().unwrap();
        }
        let silico_row = |i: usize| {
            if i < 70 {
                pca.first.point(i)
            } else {
                pca.second.point(i - 70)
            }
        };
        for c in 0..components {
            let sign = if silico_row(0)[c] * numpy[0][c] < 0.0 {
                -1.0
            } else {
                1.0
            };
            for (i, numpy_row) in numpy.iter().enumerate() {
                let (silico, numpy) = (silico_row(i)[c], numpy_row[c]);
                assert!(
                    (silico - sign * numpy).abs() <= 1e-9 * numpy.abs().max(1.0),
                    "unit rows {unit_length_rows}, row {i}, component {c}: silico {silico}, numpy {numpy}"
                );
            }
        }
        for pair in pca.explained_variance.windows(2) {
            assert!(pair[0] >= pair[1], "{:?}", pca.explained_variance);
        }
    }
}

#[test]
fn joint_pca_refuses_bad_settings() {
    let first = gaussian_points(31, 3, 4, 0.0, 1.0);
    let second = Points::new(4, vec![0.0; 4]).unwrap();
    let settings = |components| PcaSettings {
        components,
        unit_length_rows: false,
    };
    assert_eq!(
        joint_pca(&first, &second, &settings(4)),
        Err(StatsError::ComponentCount {
            requested: 4,
            available: 3
        })
    );
    assert_eq!(
        joint_pca(&first, &second, &PcaSettings::default()),
        Err(StatsError::ZeroRow { row: 3 })
    );
}

#[test]
fn spatial_kl_is_zero_for_identical_sets_and_positive_for_shifted_ones() {
    let grid = cellorganizer_grid();
    assert_eq!(grid.len(), 4410);
    let largest_radius = (0..grid.len())
        .map(|g| grid.point(g).iter().map(|v| v * v).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    assert!((largest_radius - 1.0).abs() < 1e-12);

    let settings = SpatialSettings::default();
    let real = gaussian_points(41, 200, 3, 0.0, 0.35);
    let same = gaussian_points(42, 200, 3, 0.0, 0.35);
    let shifted = gaussian_points(43, 200, 3, 0.4, 0.35);
    assert_eq!(spatial_kl(&real, &real, &grid, &settings).unwrap(), 0.0);
    let close = spatial_kl(&real, &same, &grid, &settings).unwrap();
    let far = spatial_kl(&real, &shifted, &grid, &settings).unwrap();
    assert!((0.0..0.02).contains(&close), "same distribution: {close}");
    assert!(far > 10.0 * close, "shifted {far} vs same {close}");

    let permutation = PermutationSettings {
        permutations: 20,
        seed: 3,
        ..PermutationSettings::default()
    };
    let test = spatial_kl_test(&real, &shifted, &grid, &settings, &permutation).unwrap();
    assert_eq!(test.p_values[0], 1.0 / 21.0);
    assert_eq!(test.observed[0], far);
}

#[test]
fn kernel_density_on_the_cellorganizer_grid_agrees_with_scikit_learn() {
    let points = gaussian_points(51, 150, 3, 0.1, 0.4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("points.f64");
    write_points(&path, &points);
    let silico = kernel_density(&points, &cellorganizer_grid(), 0.28).unwrap();
    let lines = reference(&["kde".into(), path_arg(&path), "0.28".into()]);
    assert_eq!(lines.len(), silico.len());
    let mut largest_relative = 0.0f64;
    for (line, silico) in lines.iter().zip(&silico) {
        let sklearn: f64 = line[2].parse().unwrap();
        let relative = (silico - sklearn).abs() / sklearn.abs().max(1e-300);
        largest_relative = largest_relative.max(relative);
        assert!(
            relative <= 1e-9,
            "grid point {}: silico {silico}, scikit-learn {sklearn}",
            line[1]
        );
    }
    eprintln!(
        "kernel density: largest relative difference from scikit-learn = {largest_relative:e}"
    );
}

#[test]
fn position_r_squared_is_one_for_a_linear_relation_and_near_zero_for_noise() {
    let positions = gaussian_points(61, 2000, 3, 0.0, 0.5);
    let linear: Vec<f64> = (0..positions.len())
        .map(|i| {
            let [x, y, z] = [0, 1, 2].map(|d| positions.point(i)[d]);
            0.3 + 2.0 * x - y + 0.5 * z
        })
        .collect();
    let r_squared = position_r_squared(&positions, &linear).unwrap();
    assert!((r_squared - 1.0).abs() < 1e-12, "{r_squared}");
    let noise = normals(62, positions.len());
    let r_squared = position_r_squared(&positions, &noise).unwrap();
    // With 3 regressors and 2000 points, pure noise gives R² ≈ 3/2000.
    assert!((0.0..0.01).contains(&r_squared), "{r_squared}");

    assert_eq!(
        position_r_squared(&positions, &noise[..10]),
        Err(StatsError::LengthMismatch {
            points: 2000,
            values: 10
        })
    );
    assert_eq!(
        position_r_squared(&positions, &vec![1.0; 2000]),
        Err(StatsError::ConstantResponse)
    );
}
