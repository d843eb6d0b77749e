//! A generator written in PyTorch: any `torch.nn.Module` compiled with `torch.jit.script` and
//! saved with `torch.jit.save` (TorchScript, pytorch.org/docs/stable/jit.html), trained by
//! silico like its own networks: no Rust for a new architecture. (A `torch.jit.trace`d module
//! loads too, but tracing fixes BatchNorm's and dropout's train/eval behaviour at trace time.)
//!
//! ```toml
//! generator = { component = "torchscript", path = "net.pt", input_multiple = 16 }
//! ```
//!
//! `path` is relative to the registry file's folder. The module's parameters are the
//! optimizer's; its buffers (BatchNorm's `running_mean`, `running_var`, `num_batches_tracked`)
//! are state beside them: both live in the `VarStore` under the module's own dotted names, as
//! handles on the module's tensors, so the host checkpoints, restores and moves them like any
//! network's, and a checkpoint's `generator.safetensors` is the module's `state_dict()`.
//! `forward_t`'s `train` flag is the module's `train()` / `eval()`.
//!
//! The module takes one tensor (N, C_in, Z, Y, X) and returns one (N, C_out, Z, Y, X) of the
//! same Z, Y, X, in float32. Building it checks that once, on a 16³ probe in eval mode (16: the
//! grid silico predicts on), so a module that does not fit is refused before training.
//!
//! tch's `TrainableCModule` lists parameters only and keeps its module private, so
//! `csrc/module.cpp` loads and runs the module and lists its buffers too.

use silico_layers::check_input;
use silico_plugin_api::prelude::*;
use std::{
    ffi::{c_char, c_void, CStr, CString},
    path::{Path, PathBuf},
    ptr::NonNull,
};
use tch::nn::VarStore;
use torch_sys::C_tensor;

extern "C" {
    fn silico_ts_load(path: *const c_char, error: *mut *const c_char) -> *mut c_void;
    fn silico_ts_free(module: *mut c_void);
    fn silico_ts_tensors(
        module: *const c_void,
        buffers: bool,
        sink: *mut c_void,
        add: extern "C" fn(*mut c_void, *const c_char, *mut C_tensor),
        error: *mut *const c_char,
    ) -> bool;
    fn silico_ts_forward(
        module: *mut c_void,
        input: *const C_tensor,
        train: bool,
        error: *mut *const c_char,
    ) -> *mut C_tensor;
}

/// The side of the cube the module is probed with when it is built.
const PROBE_SIDE: i64 = 16;

/// Every key a registry may set on this component.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct TorchScriptConfig {
    /// The `torch.jit.save`d module; relative to the registry file's folder.
    pub path: PathBuf,
    /// Z, Y and X of every input must be multiples of this (a U-Net of depth d: 2^d); it must
    /// divide 16, the grid silico predicts on. 1: any size.
    pub input_multiple: i64,
}

impl Default for TorchScriptConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            input_multiple: 1,
        }
    }
}

/// The module, owned through `csrc/module.cpp`.
struct ScriptModule(NonNull<c_void>);

// The module is used by one thread at a time (`Network` is `Send`, not `Sync`).
unsafe impl Send for ScriptModule {}

impl Drop for ScriptModule {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `silico_ts_load` and is freed once, here.
        unsafe { silico_ts_free(self.0.as_ptr()) }
    }
}

/// The message `csrc/module.cpp` left, in one line: the error itself, which a TorchScript
/// traceback puts last, without miniz's paragraph on corrupted checkpoints.
fn error_text(error: *const c_char) -> String {
    if error.is_null() {
        return "unknown libtorch error".into();
    }
    // SAFETY: a NUL-terminated string the shim keeps until this thread's next failing call.
    let text = unsafe { CStr::from_ptr(error) }.to_string_lossy();
    summarize(&text)
}

fn summarize(message: &str) -> String {
    let line = if message.starts_with("The following operation failed in the TorchScript") {
        message.lines().rev().find(|l| !l.trim().is_empty())
    } else {
        message.lines().next()
    };
    let line = line.unwrap_or_default();
    let line = line
        .split(" This is an internal miniz error")
        .next()
        .unwrap_or(line);
    line.trim().trim_end_matches('.').to_string()
}

extern "C" fn add_named_tensor(sink: *mut c_void, name: *const c_char, tensor: *mut C_tensor) {
    // SAFETY: `sink` is the `Vec` `ScriptModule::tensors` passed; `name` is NUL-terminated;
    // `tensor` is a new `at::Tensor` whose ownership passes to the `Tensor`.
    let sink = unsafe { &mut *(sink as *mut Vec<(String, Tensor)>) };
    let name = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    sink.push((name, unsafe { Tensor::from_ptr(tensor) }));
}

impl ScriptModule {
    fn load(path: &Path) -> Result<Self, String> {
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| "the path holds a NUL byte".to_string())?;
        let mut error = std::ptr::null();
        // SAFETY: a NUL-terminated path; the shim returns an owned module or null.
        let module = unsafe { silico_ts_load(c_path.as_ptr(), &mut error) };
        NonNull::new(module)
            .map(Self)
            .ok_or_else(|| error_text(error))
    }

    /// The parameters, or with `buffers` the buffers, by dotted name.
    fn tensors(&self, buffers: bool) -> Result<Vec<(String, Tensor)>, String> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        let mut error = std::ptr::null();
        // SAFETY: `add_named_tensor` casts the sink back to this `Vec`.
        let ok = unsafe {
            silico_ts_tensors(
                self.0.as_ptr(),
                buffers,
                &mut tensors as *mut _ as *mut c_void,
                add_named_tensor,
                &mut error,
            )
        };
        if ok {
            Ok(tensors)
        } else {
            Err(error_text(error))
        }
    }

    fn forward(&self, input: &Tensor, train: bool) -> Result<Tensor, String> {
        let mut error = std::ptr::null();
        // SAFETY: `input` outlives the call; the shim returns a new tensor or null.
        let output =
            unsafe { silico_ts_forward(self.0.as_ptr(), input.as_ptr(), train, &mut error) };
        if output.is_null() {
            Err(error_text(error))
        } else {
            // SAFETY: a new `at::Tensor` whose ownership passes to the `Tensor`.
            Ok(unsafe { Tensor::from_ptr(output) })
        }
    }
}

pub struct TorchScript {
    module: ScriptModule,
    store: VarStore,
    input_multiple: i64,
}

impl Component for TorchScript {
    const NAME: &'static str = "torchscript";
    const SUMMARY: &'static str =
        "A network written in PyTorch, saved with torch.jit.save (key `path`), trained as any generator";
    type Config = TorchScriptConfig;
}

/// How to make a file this component takes, for error messages.
const HOW_TO_SAVE: &str = "save one with torch.jit.save(torch.jit.script(net), path)";

/// Adds `tensor` to `store` under its dotted `name` (tch's paths split names at dots).
fn add_to_store(store: &VarStore, name: &str, tensor: Tensor, trainable: bool) {
    let mut parts: Vec<&str> = name.split('.').collect();
    let leaf = parts.pop().unwrap_or(name);
    let path = parts
        .into_iter()
        .fold(store.root(), |path, part| path / part);
    // The store keeps its own handle on the tensor.
    let _ = path.add(leaf, tensor, trainable);
}

impl Network for TorchScript {
    fn build(config: TorchScriptConfig, spec: NetworkSpec) -> Result<Self, PluginError> {
        let path = &config.path;
        let shown = path.display();
        if path.as_os_str().is_empty() {
            return Err(PluginError::new(format!(
                "key `path`: missing; name the TorchScript module to train ({HOW_TO_SAVE})"
            )));
        }
        if !(1..=PROBE_SIDE).contains(&config.input_multiple)
            || PROBE_SIDE % config.input_multiple != 0
        {
            return Err(PluginError::new(format!(
                "key `input_multiple`: must divide {PROBE_SIDE} (1, 2, 4, 8 or 16), the grid silico predicts on; got {}",
                config.input_multiple
            )));
        }
        if !path.is_file() {
            return Err(PluginError::new(format!(
                "{shown}: no such file (a relative `path` is from the registry file's folder); {HOW_TO_SAVE}"
            )));
        }
        let module = ScriptModule::load(path).map_err(|e| {
            PluginError::new(format!(
                "{shown} is not a TorchScript module ({e}); {HOW_TO_SAVE}"
            ))
        })?;
        let in_file = |e: String| PluginError::new(format!("{shown}: {e}"));
        let parameters = module.tensors(false).map_err(in_file)?;
        if parameters.is_empty() {
            return Err(PluginError::new(format!(
                "{shown}: the module has no parameters, so there is nothing to train; script a module with trainable layers"
            )));
        }
        if let Some((name, t)) = parameters.iter().find(|(_, t)| t.kind() != Kind::Float) {
            return Err(PluginError::new(format!(
                "{shown}: parameter `{name}` is {:?}; silico trains float32 weights: save net.float()",
                t.kind()
            )));
        }
        let store = VarStore::new(Device::Cpu);
        for (name, tensor) in parameters {
            let trainable = tensor.requires_grad();
            add_to_store(&store, &name, tensor, trainable);
        }
        for (name, tensor) in module.tensors(true).map_err(in_file)? {
            add_to_store(&store, &name, tensor, false);
        }
        let network = Self {
            module,
            store,
            input_multiple: config.input_multiple,
        };
        network.probe(path, spec)?;
        Ok(network)
    }

    fn forward_t(&self, input: &Tensor, train: bool) -> Result<Tensor, PluginError> {
        check_input(&input.size(), self.input_multiple).map_err(PluginError::new)?;
        self.module
            .forward(input, train)
            .map_err(|e| PluginError::new(format!("the TorchScript module: {e}")))
    }

    fn var_store(&self) -> &VarStore {
        &self.store
    }

    fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.store
    }
}

impl TorchScript {
    /// Runs the module once in eval mode, without gradients (no statistics change), on a
    /// (1, C_in, 16, 16, 16) input; it must return (1, C_out, 16, 16, 16) in float32.
    fn probe(&self, path: &Path, spec: NetworkSpec) -> Result<(), PluginError> {
        let input = [1, spec.in_channels, PROBE_SIDE, PROBE_SIDE, PROBE_SIDE];
        let expected = [1, spec.out_channels, PROBE_SIDE, PROBE_SIDE, PROBE_SIDE];
        let needs = format!(
            "silico needs (N, {}, Z, Y, X) → (N, {}, Z, Y, X), the same Z, Y, X, in float32",
            spec.in_channels, spec.out_channels
        );
        let probe = Tensor::zeros(input, (Kind::Float, Device::Cpu));
        let output = tch::no_grad(|| self.module.forward(&probe, false)).map_err(|e| {
            PluginError::new(format!(
                "{}: the module fails on a probe input of shape {input:?} ({e}); {needs}",
                path.display()
            ))
        })?;
        if output.size() != expected || output.kind() != Kind::Float {
            return Err(PluginError::new(format!(
                "{}: the module maps a probe of shape {input:?} to {:?} {:?}; {needs}",
                path.display(),
                output.size(),
                output.kind()
            )));
        }
        Ok(())
    }
}

silico_plugin_api::export_plugin! {
    generators: [TorchScript],
}

#[cfg(test)]
mod tests {
    use super::*;
    use silico_plugin_api::testing::check_network;
    use std::process::Command;

    const SPEC: NetworkSpec = NetworkSpec {
        in_channels: 1,
        out_channels: 1,
    };

    /// Runs `code` by $SILICO_PYTHON with `out` as `sys.argv[1]`; returns `out`.
    fn python(code: &str, out: PathBuf) -> PathBuf {
        let python = std::env::var("SILICO_PYTHON")
            .expect("SILICO_PYTHON names the Python with torch: source scripts/env.sh");
        let code = format!("import sys, torch\nfrom torch import nn\ntorch.manual_seed(0)\n{code}");
        let run = Command::new(python)
            .args(["-c", &code])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        out
    }

    /// `torch.jit.save(torch.jit.script(net), dir/name)`, `net` a Python expression.
    fn script(dir: &Path, name: &str, net: &str) -> PathBuf {
        let code = format!("torch.jit.save(torch.jit.script({net}), sys.argv[1])");
        python(&code, dir.join(name))
    }

    const CONV_BN_RELU: &str =
        "nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(), nn.Conv3d(4, 1, 1))";

    fn config(path: &Path) -> String {
        format!("path = {:?}", path.to_str().unwrap())
    }

    fn build(path: &Path) -> Result<TorchScript, PluginError> {
        TorchScript::build(
            TorchScriptConfig {
                path: path.to_path_buf(),
                input_multiple: 1,
            },
            SPEC,
        )
    }

    fn state_value(net: &TorchScript, name: &str) -> Tensor {
        net.var_store().variables()[name].shallow_clone()
    }

    #[test]
    fn shapes_gradients_and_state_through_the_host_adapter() {
        let dir = tempfile::tempdir().unwrap();
        let net = script(dir.path(), "net.pt", CONV_BN_RELU);
        let report =
            check_network::<TorchScript>(&config(&net), SPEC, [2, 1, 4, 8, 6], [2, 1, 4, 8, 6])
                .unwrap();
        for name in [
            "0.weight",
            "1.running_mean",
            "1.running_var",
            "1.num_batches_tracked",
        ] {
            assert!(
                report.state_names.iter().any(|n| n == name),
                "{name}: {:?}",
                report.state_names
            );
        }
    }

    #[test]
    fn the_store_holds_the_modules_own_parameters_and_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let net = build(&script(dir.path(), "net.pt", CONV_BN_RELU)).unwrap();
        let input = Tensor::randn([2, 1, 4, 4, 4], (Kind::Float, Device::Cpu)) + 3.0;
        // Training mode updates the running statistics the store holds.
        let _ = net.forward_t(&input, true).unwrap();
        assert!(
            f64::try_from(state_value(&net, "1.running_mean").abs().sum(Kind::Float)).unwrap()
                > 0.0
        );
        assert_eq!(
            i64::try_from(state_value(&net, "1.num_batches_tracked")).unwrap(),
            1
        );
        // The store's tensors are the module's: a change through the store changes its output.
        let before = net.forward_t(&input, false).unwrap();
        let _ = tch::no_grad(|| state_value(&net, "3.bias").fill_(5.0));
        let after = net.forward_t(&input, false).unwrap();
        assert!(f64::try_from((after - before).abs().max()).unwrap() > 0.1);
        let trainable = net.var_store().trainable_variables().len();
        assert_eq!(
            trainable, 6,
            "two convs and one BatchNorm, weight and bias each"
        );
    }

    #[test]
    fn modules_that_do_not_fit_are_refused_with_one_line_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let message = |path: &Path| build(path).err().unwrap().message().to_string();

        let missing = dir.path().join("missing.pt");
        let text = message(&missing);
        assert!(
            text.starts_with(&format!("{}: no such file", missing.display())),
            "{text}"
        );

        let garbage = dir.path().join("garbage.pt");
        std::fs::write(&garbage, b"not a zip archive").unwrap();
        let state_dict = python(
            "torch.save(dict(nn.Conv3d(1, 1, 1).state_dict()), sys.argv[1])",
            dir.path().join("state_dict.pt"),
        );
        for file in [garbage, state_dict] {
            let text = message(&file);
            assert!(
                text.starts_with(&format!(
                    "{} is not a TorchScript module (PytorchStreamReader failed",
                    file.display()
                )) && text.ends_with("save one with torch.jit.save(torch.jit.script(net), path)")
                    && !text.contains("miniz"),
                "{text}"
            );
        }

        let text = message(&script(dir.path(), "identity.pt", "nn.Identity()"));
        assert!(text.contains("has no parameters"), "{text}");

        let text = message(&script(
            dir.path(),
            "two.pt",
            "nn.Conv3d(1, 2, 3, padding=1)",
        ));
        assert!(
            text.contains("to [1, 2, 16, 16, 16]") && text.contains("(N, 1, Z, Y, X)"),
            "{text}"
        );

        let text = message(&script(dir.path(), "valid.pt", "nn.Conv3d(1, 1, 3)"));
        assert!(text.contains("to [1, 1, 14, 14, 14]"), "{text}");

        let text = message(&script(dir.path(), "three.pt", "nn.Conv3d(3, 1, 1)"));
        assert!(
            text.contains(
                "fails on a probe input of shape [1, 1, 16, 16, 16] (RuntimeError: Given groups=1"
            ),
            "{text}"
        );
        for text in [&text, &message(&missing)] {
            assert_eq!(text.lines().count(), 1, "{text}");
        }

        let err = TorchScript::build(
            TorchScriptConfig {
                path: missing,
                input_multiple: 3,
            },
            SPEC,
        )
        .err()
        .unwrap();
        assert!(
            err.message()
                .starts_with("key `input_multiple`: must divide 16"),
            "{err}"
        );
    }
}
