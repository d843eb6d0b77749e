//! The exclusivity metric plugin and the exclusivity loss (Sun et al. 2022, Sections 2.3 and
//! 2.4), loaded in process the way the host loads them: hand-made cases with known values, the
//! metric against silico-evaluation on random data, the loss's gradient and its bound.

mod common;

use common::{component, scratch_registry};
use silico::{Metric, Plugins, Registry};
use silico_evaluation::{Exclusivity, Mask};
use silico_plugin_api::{names, LossInputs, MetricInputs, Volume};
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

fn plugins() -> Plugins {
    let scratch =
        scratch_registry("[plugins]\nlosses = \"{losses}\"\nexclusivity = \"{exclusivity}\"\n");
    Plugins::load(&Registry::load(&scratch.path).unwrap()).unwrap()
}

fn metric(plugins: &Plugins) -> Metric {
    plugins
        .build_metric(&component("component = \"exclusivity\""))
        .unwrap()
}

/// A (1, Z, Y, X) volume.
fn volume(zyx: [usize; 3], data: &[f32]) -> Volume {
    Volume::new(
        [1, zyx[0], zyx[1], zyx[2]],
        [0.29, 0.108, 0.108],
        data.to_vec(),
    )
    .unwrap()
}

fn image(zyx: [usize; 3], structures: &[(&str, &[f32])]) -> MetricInputs {
    structures
        .iter()
        .fold(MetricInputs::default(), |inputs, (name, data)| {
            inputs.with(&format!("prediction/{name}"), volume(zyx, data))
        })
}

fn random(seed: i64, n: usize) -> Vec<f32> {
    tch::manual_seed(seed);
    Vec::<f32>::try_from(Tensor::randn([n as i64], (Kind::Float, Device::Cpu))).unwrap()
}

#[test]
fn metric_gives_exact_values_on_a_hand_made_case() {
    let plugins = plugins();
    let mut metric = metric(&plugins);
    // Given out of name order: the plugin ranks structures by name (dna, er, golgi).
    // Image 1, 4 voxels: dna highest at voxels 0-1 (gaps 2, 1), er at voxel 2 (gap 3), voxel 3
    // ties dna and er at 5 (goes to dna, gap 0). golgi is never highest.
    let first = image(
        [1, 2, 2],
        &[
            ("golgi", &[0.0, 0.0, 0.0, 1.0]),
            ("er", &[1.0, 2.0, 4.0, 5.0]),
            ("dna", &[3.0, 3.0, 1.0, 5.0]),
        ],
    );
    let values = metric.update(&first).unwrap();
    assert_eq!(
        values,
        vec![("overall".to_string(), 1.5), ("voxels".to_string(), 4.0)]
    );
    // Image 2, 2 voxels, the second outside the mask: er highest by 4.
    let second = image(
        [2, 1, 1],
        &[
            ("dna", &[0.0, 9.0]),
            ("er", &[4.0, 0.0]),
            ("golgi", &[-1.0, 0.0]),
        ],
    )
    .with("mask", volume([2, 1, 1], &[1.0, 0.0]));
    assert_eq!(
        metric.update(&second).unwrap()[0],
        ("overall".to_string(), 4.0)
    );

    let values = metric.finish().unwrap();
    // Gaps: dna 2, 1, 0; er 3, 4 → overall 10 / 5 over all voxels (not the mean of 1.5 and 4).
    assert_eq!(
        values,
        vec![("overall".to_string(), 2.0), ("voxels".to_string(), 5.0)]
    );
    let tables = metric.tables().unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["structures", "pairwise"]);
    let structures = &tables[0];
    assert_eq!(
        structures.strs("structure").unwrap(),
        ["dna", "er", "golgi"]
    );
    let organelle = structures.f64s("organelle").unwrap();
    assert_eq!(&organelle[..2], &[1.0, 3.5]);
    assert!(organelle[2].is_nan());
    assert_eq!(structures.u64s("highest_voxels").unwrap(), &[3, 2, 0]);
    // Row A, column B: A − B over A's voxels. dna − er: 2, 1, 0; dna − golgi: 3, 3, 4;
    // er − dna: 3, 4; er − golgi: 4, 5; golgi is never highest.
    let pairwise = &tables[1];
    assert_eq!(
        pairwise.column_names().collect::<Vec<_>>(),
        ["dna", "er", "golgi"]
    );
    let column = |b: &str| pairwise.f64s(b).unwrap();
    assert_eq!((column("er")[0], column("golgi")[0]), (1.0, 10.0 / 3.0));
    assert_eq!((column("dna")[1], column("golgi")[1]), (3.5, 4.5));
    assert!(column("dna")[2].is_nan() && column("er")[2].is_nan());
    assert!((0..3).all(|a| column(["dna", "er", "golgi"][a])[a].is_nan()));
}

#[test]
fn metric_agrees_with_the_evaluation_crate_on_random_data() {
    let plugins = plugins();
    let mut metric = metric(&plugins);
    let structures = ["actin", "dna", "er", "mito"];
    let zyx = [8, 32, 48];
    let voxels = zyx.iter().product();
    let mut reference = Exclusivity::new(structures.len()).unwrap();
    for seed in 0..3 {
        let channels: Vec<Vec<f32>> = (0..4).map(|c| random(10 * seed + c, voxels)).collect();
        let mask: Vec<f32> = random(10 * seed + 9, voxels)
            .iter()
            .map(|v| f32::from(*v > -0.5))
            .collect();
        let bytes: Vec<u8> = mask.iter().map(|v| *v as u8).collect();
        let slices: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
        let expected = reference.update(&slices, Some(Mask::Byte(&bytes))).unwrap();
        // Reversed order on the way in: the plugin sorts by name again.
        let named: Vec<(&str, &[f32])> = structures
            .iter()
            .copied()
            .zip(slices.iter().copied())
            .rev()
            .collect();
        let inputs = image(zyx, &named).with("mask", volume(zyx, &mask));
        let values = metric.update(&inputs).unwrap();
        assert_eq!(values[0], ("overall".to_string(), expected.overall));
    }
    let summary = reference.summary();
    let v: HashMap<String, f64> = metric.finish().unwrap().into_iter().collect();
    assert_eq!(v["overall"], summary.overall);
    assert_eq!(v["voxels"], summary.voxels as f64);
    let tables = metric.tables().unwrap();
    assert_eq!(tables[0].strs("structure").unwrap(), structures);
    assert_eq!(tables[0].f64s("organelle").unwrap(), summary.organelle);
    assert_eq!(
        tables[0].u64s("highest_voxels").unwrap(),
        summary.highest_voxels
    );
    for (a, _) in structures.iter().enumerate() {
        for (b, other) in structures.iter().enumerate().filter(|(b, _)| *b != a) {
            assert_eq!(tables[1].f64s(other).unwrap()[a], summary.pairwise[a][b]);
        }
    }
}

#[test]
fn metric_errors_name_the_problem() {
    let plugins = plugins();
    let err = |inputs: &MetricInputs| format!("{:#}", metric(&plugins).update(inputs).unwrap_err());
    assert_eq!(
        err(&image([1, 1, 2], &[("dna", &[1.0, 2.0])])),
        "metric `exclusivity`: needs the predictions of at least 2 structures as volumes named `prediction/<structure>`, got 1"
    );
    let mismatched = image([1, 1, 2], &[("dna", &[1.0, 2.0])])
        .with("prediction/er", volume([2, 1, 1], &[1.0, 2.0]));
    assert_eq!(
        err(&mismatched),
        "metric `exclusivity`: `prediction/er` has shape [1, 2, 1, 1] but `prediction/dna` has [1, 1, 1, 2]"
    );
    let bad_mask = image([1, 1, 2], &[("dna", &[1.0, 2.0]), ("er", &[0.0, 0.0])])
        .with("mask", volume([1, 2, 1], &[1.0, 1.0]));
    assert_eq!(
        err(&bad_mask),
        "metric `exclusivity`: `mask` has shape [1, 1, 2, 1] but `prediction/dna` has [1, 1, 1, 2]"
    );
    let nan = image([1, 1, 2], &[("dna", &[1.0, 2.0]), ("er", &[0.0, f32::NAN])]);
    assert_eq!(
        err(&nan),
        "metric `exclusivity`: `prediction/er` has a NaN or infinite value at voxel 1"
    );

    let mut metric = metric(&plugins);
    assert_eq!(
        format!("{:#}", metric.finish().unwrap_err()),
        "metric `exclusivity`: no images were given"
    );
    assert_eq!(
        format!("{:#}", metric.tables().unwrap_err()),
        "metric `exclusivity` tables: no images were given"
    );
    metric
        .update(&image([1, 1, 1], &[("dna", &[1.0]), ("er", &[0.0])]))
        .unwrap();
    let other = image([1, 1, 1], &[("dna", &[1.0]), ("golgi", &[0.0])]);
    assert_eq!(
        format!("{:#}", metric.update(&other).unwrap_err()),
        "metric `exclusivity`: this image has the structures [dna, golgi] but the first image had [dna, er]"
    );
}

/// prediction (1, 1, 1, 1, 4) and others (1, 2, 1, 1, 4).
fn loss_case() -> (Tensor, Tensor) {
    let prediction = Tensor::from_slice(&[2.0f32, 0.5, -1.0, 1.0])
        .reshape([1, 1, 1, 1, 4])
        .set_requires_grad(true);
    let others = Tensor::from_slice(&[1.5f32, 1.0, 3.0, 0.0, 0.0, 0.25, -2.0, 0.75])
        .reshape([1, 2, 1, 1, 4]);
    (prediction, others)
}

#[test]
fn loss_value_and_gradient_match_hand_computation() {
    let plugins = plugins();
    let loss = plugins
        .build_loss(&component("component = \"exclusivity\""))
        .unwrap();
    let (prediction, others) = loss_case();
    let inputs = LossInputs::new(0)
        .with(names::PREDICTION, &prediction)
        .with(names::OTHERS, &others);
    let value = loss.generator_term(&inputs).unwrap();
    // max of others: 1.5, 1.0, 3.0, 0.75; prediction − max: 0.5, −0.5, −4, 0.25;
    // relu(1 − |·|): 0.5, 0.5, 0, 0.75 → mean 0.4375.
    assert_eq!(value.double_value(&[]), 0.4375);
    value.backward();
    // −sign(prediction − max) / 4 inside the margin: up where highest, down where not; 0 beyond.
    let gradient = Vec::<f32>::try_from(prediction.grad().flatten(0, -1)).unwrap();
    assert_eq!(gradient, vec![-0.25, 0.25, 0.0, -0.25]);

    let wide = plugins
        .build_loss(&component("component = \"exclusivity\"\nmargin = 5.0"))
        .unwrap();
    // relu(5 − |·|): 4.5, 4.5, 1, 4.75 → mean 3.6875.
    assert_eq!(
        wide.generator_term(&inputs).unwrap().double_value(&[]),
        3.6875
    );
}

#[test]
fn loss_is_bounded_by_its_margin() {
    let plugins = plugins();
    let loss = plugins
        .build_loss(&component("component = \"exclusivity\"\nmargin = 2.0"))
        .unwrap();
    let others = Tensor::randn([2, 3, 4, 8, 8], (Kind::Float, Device::Cpu));
    let value = |prediction: &Tensor| {
        let inputs = LossInputs::new(0)
            .with(names::PREDICTION, prediction)
            .with(names::OTHERS, &others);
        loss.generator_term(&inputs).unwrap()
    };
    // Equal to the others' maximum: the ceiling, the margin.
    let at_max = others.amax([1i64], true);
    assert_eq!(value(&at_max).double_value(&[]), 2.0);
    // Inflated far beyond the others: the floor, 0, with no gradient to inflate further.
    for scale in [1e3, 1e6] {
        let inflated = (Tensor::randn([2, 1, 4, 8, 8], (Kind::Float, Device::Cpu)) * scale)
            .set_requires_grad(true);
        let term = value(&(inflated.abs() + 10.0));
        assert_eq!(term.double_value(&[]), 0.0);
        term.backward();
        assert_eq!(
            inflated.grad().abs().sum(Kind::Double).double_value(&[]),
            0.0
        );
    }
    for seed in 0..5 {
        tch::manual_seed(seed);
        let v = value(&(Tensor::randn([2, 1, 4, 8, 8], (Kind::Float, Device::Cpu)) * 3.0))
            .double_value(&[]);
        assert!((0.0..=2.0).contains(&v), "{v}");
    }
}

#[test]
fn loss_errors_name_the_problem() {
    let plugins = plugins();
    let err = |text: &str| format!("{:#}", plugins.build_loss(&component(text)).err().unwrap());
    assert_eq!(
        err("component = \"exclusivity\"\nmargin = 0.0"),
        "loss `exclusivity` (from `losses`): key `margin`: must be a positive number, got 0"
    );
    let loss = plugins
        .build_loss(&component("component = \"exclusivity\""))
        .unwrap();
    let (prediction, others) = loss_case();
    let term = |inputs: LossInputs| format!("{:#}", loss.generator_term(&inputs).unwrap_err());
    assert_eq!(
        term(LossInputs::new(0).with(names::PREDICTION, &prediction)),
        "loss `exclusivity`: needs the tensor `others` (the other organelles' current predictions, (N, K, Z, Y, X)), which the host did not provide"
    );
    let none = Tensor::zeros([1, 0, 1, 1, 4], (Kind::Float, Device::Cpu));
    assert_eq!(
        term(LossInputs::new(0).with(names::PREDICTION, &prediction).with(names::OTHERS, &none)),
        "loss `exclusivity`: others has no channels (K = 0); the exclusivity loss needs at least one other organelle's prediction"
    );
    let shifted = others.reshape([1, 2, 1, 4, 1]);
    assert_eq!(
        term(LossInputs::new(0).with(names::PREDICTION, &prediction).with(names::OTHERS, &shifted)),
        "loss `exclusivity`: prediction has shape [1, 1, 1, 1, 4] but others has [1, 2, 1, 4, 1]; they must agree in N, Z, Y and X"
    );
    let flat = prediction.reshape([4]);
    assert_eq!(
        term(
            LossInputs::new(0)
                .with(names::PREDICTION, &flat)
                .with(names::OTHERS, &others)
        ),
        "loss `exclusivity`: prediction has shape [4]; expected (N, 1, Z, Y, X)"
    );
}
