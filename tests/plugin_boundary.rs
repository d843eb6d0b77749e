//! The plugin boundary itself, in process: tensors and autograd crossing it both ways, the
//! losses library against hand-computed values, network state, and recovery from a panic.

mod common;

use common::{component, scratch_registry, TINY};
use silico::{Model, Plugins, Registry};
use silico_plugin_api::{names, ComponentKind, LossInputs, NetworkSpec};
use tch::{Device, Kind, Tensor};

fn plugins(text: &str) -> (Registry, Plugins) {
    let scratch = scratch_registry(text);
    let registry = Registry::load(&scratch.path).unwrap();
    let plugins = Plugins::load(&registry).unwrap();
    (registry, plugins)
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn loss_in_a_plugin_backpropagates_into_a_host_tensor() {
    let (_, plugins) = plugins(TINY);
    let mse = plugins
        .build_loss(&component("component = \"mse\""))
        .unwrap();
    let prediction = Tensor::from_slice(&[1.0f32, 2.0, 4.0, 0.0]).set_requires_grad(true);
    let target = Tensor::from_slice(&[0.0f32, 2.0, 1.0, 1.0]);
    let inputs = LossInputs::new(0)
        .with(names::PREDICTION, &prediction)
        .with(names::TARGET, &target);
    let loss = mse.generator_term(&inputs).unwrap();
    // (1 + 0 + 9 + 1) / 4
    assert!((loss.double_value(&[]) - 2.75).abs() < 1e-6);
    loss.backward();
    // d/dp mean((p - t)²) = 2 (p - t) / n
    assert_eq!(values(&prediction.grad()), vec![0.5, 0.0, 1.5, -0.5]);
}

#[test]
fn l1_and_sum_reduction_match_hand_computed_values() {
    let (_, plugins) = plugins(TINY);
    let prediction = Tensor::from_slice(&[1.0f32, 2.0, 4.0, 0.0]);
    let target = Tensor::from_slice(&[0.0f32, 2.0, 1.0, 1.0]);
    let inputs = LossInputs::new(0)
        .with(names::PREDICTION, &prediction)
        .with(names::TARGET, &target);
    let value = |table: &str| {
        plugins
            .build_loss(&component(table))
            .unwrap()
            .generator_term(&inputs)
            .unwrap()
            .double_value(&[])
    };
    assert_eq!(value("component = \"l1\""), 1.25);
    assert_eq!(value("component = \"l1\"\nreduction = \"sum\""), 5.0);
    assert_eq!(value("component = \"mse\"\nreduction = \"sum\""), 11.0);
    // The same numbers PyTorch's own functional losses give.
    let reference = prediction
        .mse_loss(&target, tch::Reduction::Mean)
        .double_value(&[]);
    assert_eq!(value("component = \"mse\""), reference);
}

#[test]
fn loss_errors_name_the_problem() {
    let (_, plugins) = plugins(TINY);
    let err = plugins
        .build_loss(&component("component = \"l1\"\nreduction = \"median\""))
        .err()
        .unwrap();
    assert_eq!(
        format!("{err:#}"),
        "loss `l1` (from `losses`): key `reduction`: unknown variant `median`, expected `mean` or `sum`"
    );
    let l1 = plugins
        .build_loss(&component("component = \"l1\""))
        .unwrap();
    let inputs = LossInputs::new(0)
        .with(
            names::PREDICTION,
            &Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)),
        )
        .with(
            names::TARGET,
            &Tensor::zeros([3, 2], (Kind::Float, Device::Cpu)),
        );
    let err = l1.generator_term(&inputs).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "loss `l1`: prediction has shape [2, 3] but target has [3, 2]"
    );
    let err = l1.generator_term(&LossInputs::new(0)).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "loss `l1`: needs the tensor `prediction`, which the host did not provide"
    );
}

#[test]
fn tensor_made_in_a_plugin_backpropagates_into_the_host_loss() {
    let (registry, plugins) = plugins(TINY);
    let model = Model::build(
        &plugins,
        "tiny",
        registry.model("tiny").unwrap(),
        1,
        1,
        Device::Cpu,
    )
    .unwrap();
    let parameters = model.generator.parameters().unwrap();
    let signal = Tensor::randn([1, 1, 8, 8, 8], (Kind::Float, Device::Cpu));
    let prediction = model.generator.forward_t(&signal, true).unwrap();
    // A loss written in the host, over the plugin's output.
    (prediction.square().mean(Kind::Float)).backward();
    assert!(!parameters.is_empty());
    for p in &parameters {
        assert!(
            p.grad().defined(),
            "every plugin parameter receives a gradient"
        );
    }
    let total: f64 = parameters
        .iter()
        .map(|p| p.grad().abs().sum(Kind::Double).double_value(&[]))
        .sum();
    assert!(total > 0.0);
}

#[test]
fn weighted_objective_sums_the_terms() {
    let (registry, plugins) = plugins(TINY);
    let model = Model::build(
        &plugins,
        "tiny",
        registry.model("tiny").unwrap(),
        1,
        1,
        Device::Cpu,
    )
    .unwrap();
    let prediction = Tensor::from_slice(&[1.0f32, 2.0, 4.0, 0.0]);
    let target = Tensor::from_slice(&[0.0f32, 2.0, 1.0, 1.0]);
    let inputs = LossInputs::new(3)
        .with(names::PREDICTION, &prediction)
        .with(names::TARGET, &target);
    let objective = model.generator_objective(&inputs).unwrap();
    assert_eq!(
        objective.terms,
        vec![("mse".to_string(), 2.75), ("l1".to_string(), 1.25)]
    );
    assert_eq!(objective.total.double_value(&[]), 2.75 + 0.5 * 1.25);
    let nan = Tensor::from_slice(&[f32::NAN, 0.0, 0.0, 0.0]);
    let inputs = LossInputs::new(7)
        .with(names::PREDICTION, &nan)
        .with(names::TARGET, &target);
    let err = model.generator_objective(&inputs).err().unwrap();
    assert_eq!(format!("{err:#}"), "loss `mse` is NaN at iteration 7");
}

#[test]
fn network_state_round_trips_between_instances() {
    let (_, plugins) = plugins(TINY);
    let unet = component("component = \"unet3d\"\ndepth = 1\nmult_chan = 2");
    let spec = NetworkSpec {
        in_channels: 1,
        out_channels: 1,
    };
    let first = plugins
        .build_network(ComponentKind::Generator, &unet, spec)
        .unwrap();
    tch::manual_seed(1);
    let mut second = plugins
        .build_network(ComponentKind::Generator, &unet, spec)
        .unwrap();
    let input = Tensor::randn([1, 1, 4, 4, 4], (Kind::Float, Device::Cpu));
    let before = first.forward_t(&input, false).unwrap();
    assert!(
        before
            .not_equal_tensor(&second.forward_t(&input, false).unwrap())
            .any()
            .int64_value(&[])
            != 0
    );
    let state = first.state().unwrap();
    let state_names: Vec<&str> = state.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        state_names.contains(&"net_recurse.sub_2conv_more.conv1.weight"),
        "{state_names:?}"
    );
    assert!(
        state_names.contains(&"net_recurse.sub_u.sub_2conv_more.bn2.running_var"),
        "{state_names:?}"
    );
    assert!(state_names.contains(&"conv_out.bias"), "{state_names:?}");
    second.load_state(&state).unwrap();
    assert!(before.equal(&second.forward_t(&input, false).unwrap()));

    let err = second.load_state(&state[1..]).unwrap_err();
    assert!(
        format!("{err:#}").contains("the saved state lacks `conv_out.bias`"),
        "{err:#}"
    );
    second.set_device(Device::Cpu).unwrap();
}

#[test]
fn network_rejects_a_wrong_input_shape() {
    let (_, plugins) = plugins(TINY);
    let unet = component("component = \"unet3d\"\ndepth = 2\nmult_chan = 2");
    let net = plugins
        .build_network(
            ComponentKind::Generator,
            &unet,
            NetworkSpec {
                in_channels: 1,
                out_channels: 1,
            },
        )
        .unwrap();
    let err = net
        .forward_t(
            &Tensor::zeros([1, 1, 4, 6, 4], (Kind::Float, Device::Cpu)),
            false,
        )
        .unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "generator `unet3d` forward: input of shape [1, 1, 4, 6, 4]: expected (N, C, Z, Y, X) with Z, Y and X positive multiples of 4"
    );
}

#[test]
fn panic_in_a_plugin_is_an_error_and_the_host_keeps_running() {
    let (_, plugins) = plugins(&TINY.replacen(
        "[plugins]\n",
        "[plugins]\npanicking = \"{fixture:panicking}\"\n",
        1,
    ));
    let broken = plugins
        .build_network(
            ComponentKind::Generator,
            &component("component = \"panicking\""),
            NetworkSpec {
                in_channels: 1,
                out_channels: 1,
            },
        )
        .unwrap();
    let input = Tensor::zeros([1, 1, 32, 32, 32], (Kind::Float, Device::Cpu));
    for _ in 0..2 {
        let err = broken.forward_t(&input, true).unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.starts_with("generator `panicking` forward: plugin panicked: "),
            "{message}"
        );
        assert!(
            message.contains("shape '[-1, 7]' is invalid for input of size 32768 at "),
            "{message}"
        );
        assert!(
            message.ends_with(|c: char| c.is_ascii_digit()),
            "ends with the location: {message}"
        );
        assert!(!message.contains("frame #"), "no C++ backtrace: {message}");
    }
    // Other plugins still work afterwards.
    let mse = plugins
        .build_loss(&component("component = \"mse\""))
        .unwrap();
    let inputs = LossInputs::new(0)
        .with(names::PREDICTION, &input)
        .with(names::TARGET, &input);
    assert_eq!(mse.generator_term(&inputs).unwrap().double_value(&[]), 0.0);
}

#[test]
fn a_component_of_a_project_library_not_in_the_registry_is_named_with_it() {
    let (_, plugins) = plugins(TINY);
    let err = plugins
        .build_metric(&component("component = \"jaccard\""))
        .err()
        .unwrap();
    let message = format!("{err:#}");
    assert!(
        message.starts_with("no plugin library provides a metric called `jaccard` (known metrics: none); the project's library `objects` provides it: add `objects = \""),
        "{message}"
    );
    let err = plugins
        .build_loss(&component("component = \"huberr\""))
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("(known losses: "), "{err:#}");
}
