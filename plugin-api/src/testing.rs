//! An in-process test kit for plugin authors: it builds a component the way the `silico` host
//! does (from its registry table as TOML text, through the same adapter the host talks to, so
//! config parsing, variable names and state loading are what the host sees) and checks what the
//! host relies on, in an ordinary `cargo test` of the plugin crate.
//!
//! ```ignore
//! #[cfg(test)]
//! mod tests {
//!     use super::*;
//!     use silico_plugin_api::testing::{check_loss, check_network};
//!
//!     #[test]
//!     fn shapes_gradients_and_state() {
//!         let spec = NetworkSpec { in_channels: 1, out_channels: 2 };
//!         for (config, input) in [("depth = 1", [1, 1, 4, 4, 4]), ("depth = 2", [2, 1, 8, 8, 8])] {
//!             let [n, _, z, y, x] = input;
//!             check_network::<MyNet>(config, spec, input, [n, 2, z, y, x]).unwrap();
//!         }
//!     }
//!
//!     #[test]
//!     fn loss_is_a_differentiable_scalar() {
//!         let prediction = Tensor::randn([2, 1, 4, 4, 4], (Kind::Float, Device::Cpu));
//!         let target = prediction.randn_like();
//!         let inputs = [(names::PREDICTION, &prediction), (names::TARGET, &target)];
//!         check_loss::<MyLoss>("delta = 0.5", 0, &inputs).unwrap();
//!     }
//! }
//! ```
//!
//! A failed check is one line naming the component, the case and what is wrong, e.g.
//! `unet3d with config {depth = 1}, input [1, 1, 4, 4, 4]: `conv_out.bias` receives no
//! gradient; it takes no part in the forward pass`. A panic inside the plugin comes back as
//! `plugin panicked`, with the panic's own message printed above it in the test's output.
//!
//! **Linking.** A plugin crate is a `cdylib`, so its test binary links libtorch itself, and
//! `cargo test` does not put libtorch's folder on the library path (it fails to start with
//! `libtorch_cpu.so: cannot open shared object file`). Give the crate `torch-sys` as a
//! dependency (it reports that folder to build scripts) and this `build.rs`:
//!
//! ```ignore
//! // Gives the test binary an rpath to libtorch, which `cargo test` does not find by itself.
//! fn main() {
//!     let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys reports libtorch's folder");
//!     println!("cargo:rustc-link-arg=-Wl,-rpath={lib}");
//! }
//! ```

use crate::{
    ffi::{self, LossBox, NetworkBox, Registration},
    names, ComponentKind, Loss, LossInputs, Network, NetworkSpec, PluginError, RTensor,
};
use abi_stable::std_types::{RString, RVec, Tuple2};
use std::{collections::HashMap, fmt};
use tch::{Device, Kind, Tensor};

/// The key the kit adds to a config to check that misspelt keys are refused.
pub const UNKNOWN_KEY: &str = "not_a_key_of_this_component";

/// Why a check failed: one line naming the component, the case and what is wrong.
///
/// Its `Debug` form is that line too, so `.unwrap()` in a test prints it as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckFailure(String);

impl CheckFailure {
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckFailure {}

/// What a passing [`check_network`] saw, for further assertions (e.g. on variable names that
/// must match a PyTorch state dict).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkReport {
    /// The trainable tensors the host's optimizer gets.
    pub parameter_tensors: usize,
    /// The values in them.
    pub parameter_values: i64,
    /// Every variable (weights and running statistics) by name, sorted, as checkpoints store
    /// them.
    pub state_names: Vec<String>,
}

/// What a passing [`check_loss`] computed.
#[derive(Clone, Debug, PartialEq)]
pub struct LossReport {
    pub generator_term: f64,
    /// For adversarial losses only.
    pub discriminator_term: Option<f64>,
}

/// Builds network `N` from `config` (its registry table as TOML, without `component`) for
/// `spec`, and checks, on a random input of `input_shape`:
///
/// - forward in train and in eval mode gives `output_shape`, with finite values;
/// - backward from the output reaches every trainable parameter with a finite gradient;
/// - its state loads into a second instance, which then gives the same eval output;
/// - the config with [`UNKNOWN_KEY`] added is refused with an error naming that key.
pub fn check_network<N: Network>(
    config: &str,
    spec: NetworkSpec,
    input_shape: [i64; 5],
    output_shape: [i64; 5],
) -> Result<NetworkReport, CheckFailure> {
    let case = format!(
        "{} with config {}, input {input_shape:?}",
        N::NAME,
        one_line(config)
    );
    let fail = |what: String| CheckFailure(format!("{case}: {what}"));
    if input_shape[1] != spec.in_channels {
        return Err(fail(format!(
            "the input has {} channels but spec.in_channels is {}",
            input_shape[1], spec.in_channels
        )));
    }
    let network = build_network::<N>(config, spec)
        .map_err(|e| fail(format!("building the network failed: {e}")))?;
    let state = named_state(&network).map_err(fail)?;
    let state_names: Vec<String> = state.iter().map(|(name, _)| name.clone()).collect();
    let input = Tensor::randn(input_shape, (Kind::Float, Device::Cpu));

    let output = forward(&network, &input, true)
        .and_then(|output| check_tensor(output, &output_shape))
        .map_err(|e| fail(format!("forward in train mode: {e}")))?;
    let parameters = check_gradients(&network, &state, &output).map_err(fail)?;

    let eval_output = forward(&network, &input, false)
        .and_then(|output| check_tensor(output, &output_shape))
        .map_err(|e| fail(format!("forward in eval mode: {e}")))?;
    check_state_round_trip::<N>(config, spec, &state, &input, &eval_output).map_err(fail)?;

    check_refuses_unknown_key(config, |config| {
        build_network::<N>(config, spec).map(|_| ())
    })
    .map_err(fail)?;

    Ok(NetworkReport {
        parameter_tensors: parameters.len(),
        parameter_values: parameters.iter().map(Tensor::numel).sum::<usize>() as i64,
        state_names,
    })
}

/// Builds loss `L` from `config` (its registry table as TOML, without `component` and
/// `weight`) and checks it on `inputs` (named as in [`crate::names`]) at `iteration`:
///
/// - the generator term is a finite scalar whose gradient reaches `prediction` or `disc_fake`
///   (the tensors the generator's output flows into), nonzero and finite;
/// - a discriminator term, if the loss has one, is a finite scalar whose gradient reaches
///   `disc_real` or `disc_fake`;
/// - the config with [`UNKNOWN_KEY`] added is refused with an error naming that key.
///
/// `prediction`, `disc_real` and `disc_fake` are differentiated as copies; every other input
/// is passed as a constant, as the host does.
pub fn check_loss<L: Loss>(
    config: &str,
    iteration: u64,
    inputs: &[(&str, &Tensor)],
) -> Result<LossReport, CheckFailure> {
    let case = format!("{} with config {}", L::NAME, one_line(config));
    let fail = |what: String| CheckFailure(format!("{case}: {what}"));
    let loss =
        build_loss::<L>(config).map_err(|e| fail(format!("building the loss failed: {e}")))?;

    let (leaves, loss_inputs) = differentiable_inputs(iteration, inputs);
    let generator = loss
        .generator_term(&loss_inputs)
        .into_result()
        .map(RTensor::into_tensor)
        .map_err(|e| e.into_string())
        .and_then(check_scalar)
        .map_err(|e| fail(format!("generator term: {e}")))?;
    check_loss_gradient(&generator, &leaves, &[names::PREDICTION, names::DISC_FAKE])
        .map_err(|e| fail(format!("generator term: {e}")))?;

    let (leaves, loss_inputs) = differentiable_inputs(iteration, inputs);
    let discriminator = loss
        .discriminator_term(&loss_inputs)
        .into_result()
        .map_err(|e| fail(format!("discriminator term: {e}")))?
        .into_option()
        .map(|term| {
            let term = check_scalar(term.into_tensor())?;
            check_loss_gradient(&term, &leaves, &[names::DISC_REAL, names::DISC_FAKE])?;
            Ok(term)
        })
        .transpose()
        .map_err(|e: String| fail(format!("discriminator term: {e}")))?;

    check_refuses_unknown_key(config, |config| build_loss::<L>(config).map(|_| ()))
        .map_err(fail)?;

    Ok(LossReport {
        generator_term: generator.double_value(&[]),
        discriminator_term: discriminator.map(|t| t.double_value(&[])),
    })
}

/// `a = 1; b = 2` for the messages, or `{}` for the defaults.
fn one_line(config: &str) -> String {
    let lines: Vec<&str> = config
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    format!("{{{}}}", lines.join("; "))
}

fn build_network<N: Network>(config: &str, spec: NetworkSpec) -> Result<NetworkBox, String> {
    ffi::build_network(
        vec![Registration::generators::<N>()],
        ComponentKind::Generator,
        N::NAME.into(),
        config.into(),
        spec,
    )
    .into_result()
    .map_err(RString::into_string)
}

fn build_loss<L: Loss>(config: &str) -> Result<LossBox, String> {
    ffi::build_loss(
        vec![Registration::losses::<L>()],
        L::NAME.into(),
        config.into(),
    )
    .into_result()
    .map_err(RString::into_string)
}

fn forward(network: &NetworkBox, input: &Tensor, train: bool) -> Result<Tensor, String> {
    network
        .forward(&RTensor::from(input.shallow_clone()), train)
        .into_result()
        .map(RTensor::into_tensor)
        .map_err(RString::into_string)
}

fn named_state(network: &NetworkBox) -> Result<Vec<(String, Tensor)>, String> {
    let state = network
        .state()
        .into_result()
        .map_err(|e| format!("reading the state failed: {e}"))?;
    Ok(state
        .into_iter()
        .map(|Tuple2(name, t)| (name.into_string(), t.into_tensor()))
        .collect())
}

/// The largest absolute value; NaN if any value is NaN, 0 for an empty tensor.
fn max_abs(t: &Tensor) -> f64 {
    if t.numel() == 0 {
        return 0.0;
    }
    t.f_abs()
        .and_then(|a| a.f_max())
        .map_or(f64::NAN, |m| m.double_value(&[]))
}

fn check_tensor(output: Tensor, expected_shape: &[i64]) -> Result<Tensor, String> {
    if output.size() != expected_shape {
        return Err(format!(
            "the output has shape {:?}, expected {expected_shape:?}",
            output.size()
        ));
    }
    if !max_abs(&output).is_finite() {
        return Err("the output has non-finite values".into());
    }
    Ok(output)
}

/// Backpropagates a random weighting of `output` (a plain sum can cancel, e.g. after a batch
/// norm) and checks every parameter's gradient; returns the parameters.
fn check_gradients(
    network: &NetworkBox,
    state: &[(String, Tensor)],
    output: &Tensor,
) -> Result<Vec<Tensor>, String> {
    let parameters: Vec<Tensor> = network
        .parameters()
        .into_result()
        .map_err(|e| format!("listing the parameters failed: {e}"))?
        .into_iter()
        .map(RTensor::into_tensor)
        .collect();
    if parameters.is_empty() {
        return Err("the network has no trainable parameters".into());
    }
    (output * output.randn_like())
        .sum(Kind::Float)
        .f_backward()
        .map_err(|e| format!("backward failed: {}", PluginError::from(e)))?;
    // Parameters come without names; they share storage with their state entries.
    let names: HashMap<usize, &str> = state
        .iter()
        .map(|(name, t)| (t.data_ptr() as usize, name.as_str()))
        .collect();
    for (index, parameter) in parameters.iter().enumerate() {
        let name = names
            .get(&(parameter.data_ptr() as usize))
            .map_or_else(|| format!("parameter {index}"), |name| format!("`{name}`"));
        let gradient = parameter.grad();
        if !gradient.defined() {
            return Err(format!(
                "{name} receives no gradient; it takes no part in the forward pass"
            ));
        }
        if !max_abs(&gradient).is_finite() {
            return Err(format!("{name} has a non-finite gradient"));
        }
    }
    Ok(parameters)
}

/// Loads `state` into a second instance and compares the eval outputs on `input`.
fn check_state_round_trip<N: Network>(
    config: &str,
    spec: NetworkSpec,
    state: &[(String, Tensor)],
    input: &Tensor,
    expected: &Tensor,
) -> Result<(), String> {
    let mut second = build_network::<N>(config, spec)
        .map_err(|e| format!("building a second instance failed: {e}"))?;
    let state: RVec<_> = state
        .iter()
        .map(|(name, t)| Tuple2(name.as_str().into(), RTensor::from(t.shallow_clone())))
        .collect();
    second
        .load_state(state)
        .into_result()
        .map_err(|e| format!("loading the state into a second instance failed: {e}"))?;
    let output =
        forward(&second, input, false).map_err(|e| format!("forward after loading: {e}"))?;
    let difference = max_abs(&(&output - expected));
    let tolerance = 1e-5 * (1.0 + max_abs(expected));
    // NaN counts as a difference.
    if difference.is_nan() || difference > tolerance {
        return Err(format!(
            "a second instance loaded with the first one's state gives another eval output (max difference {difference:e}); does the state leave out something the forward pass uses?"
        ));
    }
    Ok(())
}

fn check_refuses_unknown_key(
    config: &str,
    build: impl Fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    let mut table: toml::Table = config
        .parse()
        .map_err(|e: toml::de::Error| format!("invalid TOML: {}", e.message()))?;
    table.insert(UNKNOWN_KEY.into(), toml::Value::Integer(1));
    let with_unknown_key = toml::to_string(&table).expect("a TOML table serializes");
    match build(&with_unknown_key) {
        Ok(()) => Err(format!(
            "a config with the unknown key `{UNKNOWN_KEY}` was accepted; give the config type #[serde(default, deny_unknown_fields)]"
        )),
        Err(e) if !e.contains(UNKNOWN_KEY) => Err(format!(
            "a config with the unknown key `{UNKNOWN_KEY}` was refused with `{e}`, which does not name the key"
        )),
        Err(_) => Ok(()),
    }
}

/// The inputs for one loss term: `prediction`, `disc_real` and `disc_fake` as fresh leaves
/// that record gradients (returned by name), everything else as given.
fn differentiable_inputs(
    iteration: u64,
    inputs: &[(&str, &Tensor)],
) -> (Vec<(String, Tensor)>, LossInputs) {
    let mut leaves = Vec::new();
    let mut loss_inputs = LossInputs::new(iteration);
    for &(name, tensor) in inputs {
        if [names::PREDICTION, names::DISC_REAL, names::DISC_FAKE].contains(&name) {
            let leaf = tensor.detach().copy().set_requires_grad(true);
            loss_inputs = loss_inputs.with(name, &leaf);
            leaves.push((name.to_string(), leaf));
        } else {
            loss_inputs = loss_inputs.with(name, tensor);
        }
    }
    (leaves, loss_inputs)
}

fn check_scalar(term: Tensor) -> Result<Tensor, String> {
    if !term.size().is_empty() {
        return Err(format!("has shape {:?}; expected a scalar", term.size()));
    }
    if !term.double_value(&[]).is_finite() {
        return Err(format!("is {}", term.double_value(&[])));
    }
    Ok(term)
}

/// Backpropagates `term` and checks that a nonzero, finite gradient reaches one of `targets`.
fn check_loss_gradient(
    term: &Tensor,
    leaves: &[(String, Tensor)],
    targets: &[&str],
) -> Result<(), String> {
    let wanted = || format!("`{}`", targets.join("` or `"));
    if !leaves
        .iter()
        .any(|(name, _)| targets.contains(&name.as_str()))
    {
        return Err(format!(
            "the inputs have no {} to differentiate against",
            wanted()
        ));
    }
    let detached = || {
        format!(
            "no gradient reaches {}; is the term detached from them?",
            wanted()
        )
    };
    if !term.requires_grad() {
        return Err(detached());
    }
    term.f_backward()
        .map_err(|e| format!("backward failed: {}", PluginError::from(e)))?;
    let mut reached = false;
    for (name, leaf) in leaves {
        let gradient = leaf.grad();
        if !gradient.defined() {
            continue;
        }
        let largest = max_abs(&gradient);
        if !largest.is_finite() {
            return Err(format!("the gradient for `{name}` is not finite"));
        }
        reached |= largest > 0.0 && targets.contains(&name.as_str());
    }
    if !reached {
        return Err(detached());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Component;
    use serde::{Deserialize, Serialize};
    use tch::nn::{self, Module};

    /// A 1×1×1 conv, optionally with a variable that the forward pass forgets or an output
    /// cut in half along Z.
    struct Pointwise {
        store: nn::VarStore,
        conv: nn::Conv3D,
        _unused: Option<Tensor>,
        halve_output: bool,
    }

    #[derive(Serialize, Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    struct PointwiseConfig {
        unused_parameter: bool,
        halve_output: bool,
    }

    impl Component for Pointwise {
        const NAME: &'static str = "pointwise";
        const SUMMARY: &'static str = "a test network";
        type Config = PointwiseConfig;
    }

    impl Network for Pointwise {
        fn build(config: PointwiseConfig, spec: NetworkSpec) -> Result<Self, PluginError> {
            let store = nn::VarStore::new(Device::Cpu);
            let root = store.root();
            let conv = nn::conv3d(
                &root / "conv",
                spec.in_channels,
                spec.out_channels,
                1,
                Default::default(),
            );
            let unused = config
                .unused_parameter
                .then(|| root.zeros("forgotten", &[1]));
            Ok(Self {
                store,
                conv,
                _unused: unused,
                halve_output: config.halve_output,
            })
        }

        fn forward_t(&self, input: &Tensor, _train: bool) -> Result<Tensor, PluginError> {
            let output = self.conv.forward(input);
            Ok(if self.halve_output {
                output.slice(2, 0, input.size()[2] / 2, 1)
            } else {
                output
            })
        }

        fn var_store(&self) -> &nn::VarStore {
            &self.store
        }

        fn var_store_mut(&mut self) -> &mut nn::VarStore {
            &mut self.store
        }
    }

    const SPEC: NetworkSpec = NetworkSpec {
        in_channels: 1,
        out_channels: 2,
    };

    #[test]
    fn a_sound_network_passes_with_its_state_names() {
        let report =
            check_network::<Pointwise>("", SPEC, [2, 1, 2, 2, 2], [2, 2, 2, 2, 2]).unwrap();
        assert_eq!(
            report,
            NetworkReport {
                parameter_tensors: 2,
                parameter_values: 4,
                state_names: vec!["conv.bias".into(), "conv.weight".into()],
            }
        );
    }

    #[test]
    fn an_accepted_or_unnamed_unknown_key_is_reported() {
        let err = check_refuses_unknown_key("a = 1", |_| Ok(())).unwrap_err();
        assert_eq!(
            err,
            format!("a config with the unknown key `{UNKNOWN_KEY}` was accepted; give the config type #[serde(default, deny_unknown_fields)]")
        );
        let err = check_refuses_unknown_key("", |_| Err("no".into())).unwrap_err();
        assert!(
            err.ends_with("was refused with `no`, which does not name the key"),
            "{err}"
        );
        check_refuses_unknown_key("halve_output = true", |config| {
            crate::parse_config::<PointwiseConfig>(config)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .unwrap();
    }

    #[test]
    fn a_parameter_outside_the_forward_pass_is_named() {
        let err = check_network::<Pointwise>(
            "unused_parameter = true",
            SPEC,
            [1, 1, 2, 2, 2],
            [1, 2, 2, 2, 2],
        )
        .unwrap_err();
        assert!(
            err.message().ends_with(
                "`forgotten` receives no gradient; it takes no part in the forward pass"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_output_shape_is_reported() {
        let err = check_network::<Pointwise>(
            "halve_output = true",
            SPEC,
            [1, 1, 4, 2, 2],
            [1, 2, 4, 2, 2],
        )
        .unwrap_err();
        assert!(
            err.message().ends_with(
                "forward in train mode: the output has shape [1, 2, 2, 2, 2], expected [1, 2, 4, 2, 2]"
            ),
            "{err}"
        );
    }

    #[test]
    fn input_channels_must_match_the_spec() {
        let err =
            check_network::<Pointwise>("", SPEC, [1, 3, 2, 2, 2], [1, 2, 2, 2, 2]).unwrap_err();
        assert!(
            err.message()
                .ends_with("the input has 3 channels but spec.in_channels is 1"),
            "{err}"
        );
    }

    /// Mean squared error, or its detached form, which no generator could learn from.
    struct Squared {
        detached: bool,
    }

    #[derive(Serialize, Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    struct SquaredConfig {
        detached: bool,
    }

    impl Component for Squared {
        const NAME: &'static str = "squared";
        const SUMMARY: &'static str = "a test loss";
        type Config = SquaredConfig;
    }

    impl Loss for Squared {
        fn build(config: SquaredConfig) -> Result<Self, PluginError> {
            Ok(Self {
                detached: config.detached,
            })
        }

        fn generator_term(&self, inputs: &LossInputs) -> Result<Tensor, PluginError> {
            let mut prediction = inputs.tensor(names::PREDICTION)?;
            if self.detached {
                prediction = prediction.detach();
            }
            Ok(prediction.mse_loss(&inputs.tensor(names::TARGET)?, tch::Reduction::Mean))
        }
    }

    #[test]
    fn a_loss_reports_its_value() {
        let prediction = Tensor::from_slice(&[1.0f32, 3.0]);
        let target = Tensor::from_slice(&[0.0f32, 0.0]);
        let inputs = [(names::PREDICTION, &prediction), (names::TARGET, &target)];
        let report = check_loss::<Squared>("", 0, &inputs).unwrap();
        assert_eq!(
            report,
            LossReport {
                generator_term: 5.0,
                discriminator_term: None
            }
        );
    }

    #[test]
    fn a_detached_loss_is_refused() {
        let prediction = Tensor::from_slice(&[1.0f32, 3.0]);
        let inputs = [
            (names::PREDICTION, &prediction),
            (names::TARGET, &prediction),
        ];
        let err = check_loss::<Squared>("detached = true", 0, &inputs).unwrap_err();
        assert_eq!(
            err.message(),
            "squared with config {detached = true}: generator term: no gradient reaches `prediction` or `disc_fake`; is the term detached from them?"
        );
    }

    #[test]
    fn a_loss_error_comes_back_with_its_case() {
        let target = Tensor::from_slice(&[0.0f32]);
        let err = check_loss::<Squared>("", 0, &[(names::TARGET, &target)]).unwrap_err();
        assert_eq!(
            err.message(),
            "squared with config {}: generator term: needs the tensor `prediction`, which the host did not provide"
        );
    }
}
