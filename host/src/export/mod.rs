//! `silico export --format bioimageio`: a trained run's generator as a BioImage Model Zoo
//! model package (format 0.5), one zip that bioimage.io tools (bioimageio.core, ilastik,
//! deepImageJ, …) run without silico.
//!
//! The package holds `rdf.yaml`; the generator's PyTorch twin (`silico_reference.py`) with
//! silico's weights as a state dict and as TorchScript; a test input (a synthetic bright-field
//! field made by silico) with silico's own prediction of it as the test output, so that a
//! consumer reproduces silico's numbers; sample TIFFs of both; a cover and a README. The torch
//! parts run in Python (`python/export_bioimageio.py`, with `SILICO_PYTHON`), which also checks
//! the TorchScript against silico's prediction; everything is written into a temporary folder
//! and the zip appears at its path only when complete.

mod cover;
mod npy;
mod yaml;

use crate::{
    checkpoint::{self, checkpoint_dir, CheckpointMeta},
    plugins::Plugins,
    precision::{MemoryFormat, Precision},
    predict::{Predictor, Tiling},
    registry::ModelSpec,
};
use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use silico_imaging::{
    dataset::{crop, LoadOptions},
    synth::{generate_field, Recipe},
    tiff, Volume,
};
use silico_plugin_api::ComponentKind;
use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};
use tch::{Device, Tensor};
use yaml::{map, str, Yaml};

/// The format version written; bioimageio.spec 0.5.4 and later read it.
pub const FORMAT_VERSION: &str = "0.5.4";

/// The twin's Python source, copied into every package as the architecture.
const REFERENCE_SOURCE: &str = include_str!("../../../python/silico_reference.py");
const HELPER_SOURCE: &str = include_str!("../../../python/export_bioimageio.py");
const REFERENCE_FILE: &str = "silico_reference.py";

/// Largest difference allowed between the TorchScript's and silico's test output.
const TOLERANCE: f64 = 1e-4;

/// Generators with a PyTorch twin: the plugin crate, its component and the twin's class.
const TWINS: [Twin; 2] = [
    Twin {
        crate_name: "silico-unet3d",
        component: "unet3d",
        callable: "FnetUNet",
    },
    Twin {
        crate_name: "silico-r2unet3d",
        component: "r2unet3d",
        callable: "R2UNet3d",
    },
];

struct Twin {
    crate_name: &'static str,
    component: &'static str,
    callable: &'static str,
}

pub struct ExportRequest {
    /// A run folder (`silico train --out`) or its checkpoint folder.
    pub run: PathBuf,
    /// The package to write, e.g. `model.zip`.
    pub out: PathBuf,
    /// The voxel size (z, y, x) in µm of the images the run was trained on [default: the one
    /// the run recorded]; the synthetic test input is drawn at it.
    pub voxel_um: Option<[f32; 3]>,
    /// The Python with torch and safetensors.
    pub python: String,
}

/// What was exported.
pub struct Exported {
    pub path: PathBuf,
    pub name: String,
    /// (z, y, x) of the test input.
    pub test_shape: [usize; 3],
    /// Every space axis takes sizes `step`, `2 × step`, …
    pub step: usize,
    /// The space axes' scale in µm: `--voxel-size`, else the run's; `None`: unknown.
    pub voxel_um: Option<[f32; 3]>,
    /// The TorchScript's largest difference from silico's test output.
    pub max_difference: f64,
}

/// The Python of `SILICO_PYTHON`, else `python3`.
pub fn default_python() -> String {
    std::env::var("SILICO_PYTHON").unwrap_or_else(|_| "python3".into())
}

pub fn export_bioimageio(plugins: &Plugins, request: &ExportRequest) -> Result<Exported> {
    let run = if request.run.join("checkpoint.json").exists() {
        request.run.clone()
    } else {
        checkpoint_dir(&request.run)
    };
    // The folder read, which is the previous one where a crash interrupted its replacement.
    let (found, meta) = checkpoint::read_meta(&run)?;
    let table: toml::Table = meta
        .model_table
        .parse()
        .with_context(|| format!("{}: the model definition is not valid TOML", run.display()))?;
    let spec = ModelSpec::from_table(&meta.model, &table)?;
    let (twin, kwargs) = twin_of(plugins, &spec, &meta)?;
    let depth = kwargs
        .get("depth")
        .and_then(serde_json::Value::as_u64)
        .filter(|&d| d < 16)
        .ok_or_else(|| {
            anyhow!(
                "generator `{}`: no valid `depth` in its configuration",
                twin.component
            )
        })?;
    let step = 1usize << depth;
    let voxel_um = request.voxel_um.or(meta.voxel_um);

    let TestInput {
        shape: test_shape,
        raw,
        normalized,
        voxel_um: sample_voxel_um,
    } = synthetic_test_input(step, voxel_um)?;

    // silico's prediction, one tile, fp32: the numbers a consumer must reproduce.
    let predictor = Predictor::load(
        plugins,
        &found,
        Device::Cpu,
        Some(Precision::Fp32),
        Some(MemoryFormat::Contiguous),
    )?;
    let tile = test_shape.map(|n| n as i64);
    let image = Tensor::from_slice(&normalized.data).f_view(tile)?;
    let tiling = Tiling {
        tile: Some(tile),
        overlap: [0; 3],
        memory_budget: None,
    };
    let (prediction, _) = predictor.predict(&image, &tiling, false)?;
    let predicted = Vec::<f32>::try_from(prediction.flatten(0, -1))?;

    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    let package = scratch.path().join("package");
    let work = scratch.path().join("work");
    for dir in [&package, &work] {
        std::fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let batch_shape = [1, 1, test_shape[0], test_shape[1], test_shape[2]];
    let write = |dir: &Path, name: &str, bytes: &[u8]| -> Result<()> {
        std::fs::write(dir.join(name), bytes).with_context(|| format!("cannot write {name}"))
    };
    write(
        &package,
        "test_input.npy",
        &npy::f32_array(&batch_shape, &raw),
    )?;
    write(
        &package,
        "test_output.npy",
        &npy::f32_array(&batch_shape, &predicted),
    )?;
    write(
        &work,
        "input.npy",
        &npy::f32_array(&batch_shape, &normalized.data),
    )?;
    let sample = |name: &str, data: &[f32]| -> Result<()> {
        let volume = Volume::from_data(
            data.to_vec(),
            [1, test_shape[0], test_shape[1], test_shape[2]],
            sample_voxel_um,
        )?;
        Ok(tiff::write_volume(&package.join(name), &volume)?)
    };
    sample("sample_input.tif", &raw)?;
    sample("sample_output.tif", &predicted)?;
    let structure = predictor.structure.clone();
    write(
        &package,
        "cover.png",
        &cover::cover_png(
            &cover::Panel {
                data: &raw,
                shape: test_shape,
                label: "bright-field",
                color: [255, 255, 255],
            },
            &cover::Panel {
                data: &predicted,
                shape: test_shape,
                label: &structure,
                color: [80, 255, 80],
            },
        )?,
    )?;
    write(&package, REFERENCE_FILE, REFERENCE_SOURCE.as_bytes())?;
    write(&work, REFERENCE_FILE, REFERENCE_SOURCE.as_bytes())?;
    write(&work, "export_bioimageio.py", HELPER_SOURCE.as_bytes())?;

    let torch = run_helper(request, twin, &kwargs, &found, &work, &package, step)?;

    let info = PackageInfo {
        meta: &meta,
        max_difference: torch.max_difference,
        twin,
        kwargs: &kwargs,
        step,
        voxel_um,
        pytorch_version: &torch.pytorch_version,
        input_id: "brightfield".into(),
        output_id: tensor_id(&structure),
    };
    write(&package, "README.md", info.readme().as_bytes())?;
    let rdf = info.rdf(&package)?;
    write(&package, "rdf.yaml", rdf.to_document().as_bytes())?;
    zip_atomically(&package, &request.out)?;
    Ok(Exported {
        path: request.out.clone(),
        name: info.name(),
        test_shape,
        step,
        voxel_um,
        max_difference: torch.max_difference,
    })
}

/// A bright-field test image, raw and z-scored as silico prepares images.
struct TestInput {
    /// (z, y, x)
    shape: [usize; 3],
    raw: Vec<f32>,
    normalized: Volume,
    voxel_um: [f32; 3],
}

/// The middle of a synthetic field drawn at `voxel_um` (the small recipe's voxels where
/// unknown), cut to sizes the network takes (multiples of `step`) and silico predicts without
/// padding (multiples of 16).
fn synthetic_test_input(step: usize, voxel_um: Option<[f32; 3]>) -> Result<TestInput> {
    let multiple = step.max(16);
    let shape = [16, 64, 64].map(|n: usize| n.next_multiple_of(multiple));
    let mut recipe = Recipe::small();
    if let Some(voxel_um) = voxel_um {
        recipe.voxel_um = voxel_um;
    }
    recipe.shape = std::array::from_fn(|a| recipe.shape[a].max(shape[a]));
    let field = generate_field(&recipe, 0, 0);
    let [z, y, x] = field.shape;
    let full = Volume::from_data(field.brightfield, [1, z, y, x], field.voxel_um)?;
    let origin: [usize; 3] = std::array::from_fn(|a| (field.shape[a] - shape[a]) / 2);
    let raw = crop(&full, origin, shape);
    let normalized = LoadOptions::default().prepare(Volume::from_data(
        raw.clone(),
        [1, shape[0], shape[1], shape[2]],
        field.voxel_um,
    )?);
    Ok(TestInput {
        shape,
        raw,
        normalized,
        voxel_um: field.voxel_um,
    })
}

/// The generator's twin and its constructor's keyword arguments: the plugin's defaults, then
/// the run's configuration, then the channels.
fn twin_of(
    plugins: &Plugins,
    spec: &ModelSpec,
    meta: &CheckpointMeta,
) -> Result<(&'static Twin, serde_json::Map<String, serde_json::Value>)> {
    let component = &spec.generator.component;
    let provider = plugins.libraries.iter().find_map(|library| {
        library
            .manifest
            .components
            .iter()
            .find(|c| c.kind == ComponentKind::Generator && c.name.as_str() == component)
            .map(|info| (library, info))
    });
    let Some((library, info)) = provider else {
        bail!("no plugin library of the registry provides the generator `{component}` of model `{}`; add its library to [plugins]", meta.model);
    };
    let crate_name = library.manifest.name.as_str();
    let Some(twin) = TWINS
        .iter()
        .find(|t| t.component == component && t.crate_name == crate_name)
    else {
        let known: Vec<&str> = TWINS.iter().map(|t| t.component).collect();
        bail!(
            "cannot export the generator `{component}` (from `{crate_name}`): it has no PyTorch twin; silico exports {} (python/silico_reference.py); add a twin there and to silico's export table, or export it with its plugin's own tools",
            known.join(" and ")
        );
    };
    let mut config: toml::Table = info.default_config.as_str().parse().with_context(|| {
        format!("generator `{component}`: its default configuration is not valid TOML")
    })?;
    config.remove("component");
    config.extend(spec.generator.config.clone());
    let mut kwargs = match serde_json::to_value(&config)? {
        serde_json::Value::Object(kwargs) => kwargs,
        _ => unreachable!("a TOML table serializes as a JSON object"),
    };
    kwargs.insert("in_channels".into(), meta.in_channels.into());
    kwargs.insert("out_channels".into(), meta.out_channels.into());
    Ok((twin, kwargs))
}

/// What the Python helper reports.
#[derive(serde::Deserialize)]
struct TorchExport {
    pytorch_version: String,
    max_difference: f64,
}

/// Runs `export_bioimageio.py`: the state dict and TorchScript into `package`, checked against
/// silico's test output.
fn run_helper(
    request: &ExportRequest,
    twin: &Twin,
    kwargs: &serde_json::Map<String, serde_json::Value>,
    saved: &Path,
    work: &Path,
    package: &Path,
    step: usize,
) -> Result<TorchExport> {
    let weights = saved.join(checkpoint::GENERATOR_FILE);
    let output = Command::new(&request.python)
        .arg(work.join("export_bioimageio.py"))
        .args(["--callable", twin.callable, "--kwargs"])
        .arg(serde_json::to_string(kwargs)?)
        .arg("--weights")
        .arg(&weights)
        .arg("--input")
        .arg(work.join("input.npy"))
        .arg("--output")
        .arg(package.join("test_output.npy"))
        .args(["--step", &step.to_string(), "--tolerance", &TOLERANCE.to_string(), "--out"])
        .arg(package)
        .output()
        .map_err(|e| {
            anyhow!(
                "cannot run `{}` ({e}); set SILICO_PYTHON to a Python with torch (source scripts/env.sh)",
                request.python
            )
        })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        if last.contains("missing Python package") {
            bail!("`{}`: {last}; source scripts/env.sh (it installs torch and safetensors) or set SILICO_PYTHON", request.python);
        }
        bail!("the PyTorch export failed: {last}");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .with_context(|| format!("the PyTorch export printed `{line}`, not its report"))
}

/// A tensor id (lowercase letters, digits and `_`, not starting with a digit, ≤ 32).
fn tensor_id(name: &str) -> String {
    let mut id: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id.insert_str(0, "t_");
    }
    id.truncate(32);
    id
}

/// Everything `rdf.yaml` and the README say.
struct PackageInfo<'a> {
    meta: &'a CheckpointMeta,
    /// The TorchScript's largest difference from silico's test output.
    max_difference: f64,
    twin: &'a Twin,
    kwargs: &'a serde_json::Map<String, serde_json::Value>,
    step: usize,
    voxel_um: Option<[f32; 3]>,
    pytorch_version: &'a str,
    input_id: String,
    output_id: String,
}

const SUN_2022: (&str, &str) = (
    "Sun H, Fu X, Abraham S, Jin S, Murphy RF. Improving and evaluating deep learning models of cellular organization. Bioinformatics 38(23), 2022.",
    "10.1093/bioinformatics/btac688",
);
const OUNKOMOL_2018: (&str, &str) = (
    "Ounkomol C, Seshamani S, Maleckar MM, Collman F, Johnson GR. Label-free prediction of three-dimensional fluorescence images from transmitted-light microscopy. Nature Methods 15, 917-920, 2018.",
    "10.1038/s41592-018-0111-2",
);

impl PackageInfo<'_> {
    /// e.g. `silico unet-tiny nucleoli` (letters, digits, `_+- ()` only).
    fn name(&self) -> String {
        let name = format!("silico {} {}", self.meta.model, self.meta.structure);
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_+- ()".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .take(64)
            .collect()
    }

    fn description(&self) -> String {
        format!(
            "Predicts {} fluorescence from a transmitted-light (bright-field) z-stack: the generator of silico's model `{}` ({}), trained {} iterations.",
            self.meta.structure, self.meta.model, self.twin.component, self.meta.iteration
        )
    }

    fn space_axes(&self, size: impl Fn(&str) -> Yaml) -> Vec<Yaml> {
        let scale = self.voxel_um.unwrap_or([1.0; 3]);
        ["z", "y", "x"]
            .into_iter()
            .zip(scale)
            .map(|(axis, scale)| {
                let mut entries = vec![
                    ("type".to_string(), str("space")),
                    ("id".to_string(), str(axis)),
                    ("size".to_string(), size(axis)),
                ];
                if self.voxel_um.is_some() {
                    entries.push(("unit".into(), str("micrometer")));
                }
                // f32 → f64 through its shortest decimal form, so 0.29 stays 0.29.
                let scale: f64 = scale.to_string().parse().expect("a float's text parses");
                entries.push(("scale".into(), Yaml::Float(scale)));
                Yaml::Map(entries)
            })
            .collect()
    }

    fn rdf(&self, package: &Path) -> Result<Yaml> {
        let file = |name: &str| -> Result<Yaml> {
            Ok(map([
                ("source", str(name)),
                ("sha256", str(sha256_of(&package.join(name))?)),
            ]))
        };
        let axes = |channel: &str, space: Vec<Yaml>| {
            let mut axes = vec![
                map([("type", str("batch"))]),
                map([
                    ("type", str("channel")),
                    ("channel_names", Yaml::List(vec![str(channel)])),
                ]),
            ];
            axes.extend(space);
            Yaml::List(axes)
        };
        let step = self.step as i64;
        let input_axes =
            self.space_axes(|_| map([("min", Yaml::Int(step)), ("step", Yaml::Int(step))]));
        let output_axes = self
            .space_axes(|axis| map([("tensor_id", str(&self.input_id)), ("axis_id", str(axis))]));
        let kwargs = Yaml::from_json(&serde_json::Value::Object(self.kwargs.clone()));
        let cite = |(text, doi): (&str, &str)| map([("text", str(text)), ("doi", str(doi))]);
        Ok(map([
            ("format_version", str(FORMAT_VERSION)),
            ("type", str("model")),
            ("name", str(self.name())),
            ("description", str(self.description())),
            ("authors", Yaml::List(vec![map([("name", str("silico"))])])),
            ("cite", Yaml::List(vec![cite(SUN_2022), cite(OUNKOMOL_2018)])),
            ("license", str("MIT")),
            ("documentation", str("README.md")),
            ("covers", Yaml::List(vec![str("cover.png")])),
            (
                "tags",
                Yaml::List(
                    ["3d", "label-free", "in-silico-labeling", "image-to-image", "fluorescence", "bright-field", "silico", self.twin.component, &self.meta.structure]
                        .map(str)
                        .to_vec(),
                ),
            ),
            (
                "inputs",
                Yaml::List(vec![map([
                    ("id", str(&self.input_id)),
                    ("description", str("Transmitted-light (bright-field) z-stack, any intensity range: the model z-scores it")),
                    ("axes", axes("brightfield", input_axes)),
                    ("test_tensor", file("test_input.npy")?),
                    ("sample_tensor", file("sample_input.tif")?),
                    ("data", map([("type", str("float32"))])),
                    (
                        "preprocessing",
                        Yaml::List(vec![map([
                            ("id", str("zero_mean_unit_variance")),
                            (
                                "kwargs",
                                map([
                                    ("axes", Yaml::List(vec![str("channel"), str("z"), str("y"), str("x")])),
                                    ("eps", Yaml::Float(1e-6)),
                                ]),
                            ),
                        ])]),
                    ),
                ])]),
            ),
            (
                "outputs",
                Yaml::List(vec![map([
                    ("id", str(&self.output_id)),
                    ("description", str(format!("Predicted {} fluorescence, z-scored as the training targets were", self.meta.structure))),
                    ("axes", axes(&self.meta.structure, output_axes)),
                    ("test_tensor", file("test_output.npy")?),
                    ("sample_tensor", file("sample_output.tif")?),
                    ("data", map([("type", str("float32"))])),
                ])]),
            ),
            (
                "weights",
                map([
                    (
                        "pytorch_state_dict",
                        map([
                            ("source", str("weights.pt")),
                            ("sha256", str(sha256_of(&package.join("weights.pt"))?)),
                            (
                                "architecture",
                                map([
                                    ("source", str(REFERENCE_FILE)),
                                    ("sha256", str(sha256_of(&package.join(REFERENCE_FILE))?)),
                                    ("callable", str(self.twin.callable)),
                                    ("kwargs", kwargs),
                                ]),
                            ),
                            ("pytorch_version", str(self.pytorch_version)),
                        ]),
                    ),
                    (
                        "torchscript",
                        map([
                            ("source", str("weights.torchscript.pt")),
                            ("sha256", str(sha256_of(&package.join("weights.torchscript.pt"))?)),
                            ("parent", str("pytorch_state_dict")),
                            ("pytorch_version", str(self.pytorch_version)),
                        ]),
                    ),
                ]),
            ),
            (
                "config",
                map([(
                    "silico",
                    map([
                        ("model", str(&self.meta.model)),
                        ("structure", str(&self.meta.structure)),
                        ("iterations", Yaml::Int(self.meta.iteration as i64)),
                        ("model_table", str(&self.meta.model_table)),
                    ]),
                )]),
            ),
        ]))
    }

    fn readme(&self) -> String {
        let kwargs = serde_json::to_string(self.kwargs).expect("JSON serializes");
        let voxel = match self.voxel_um {
            Some([z, y, x]) => format!("{z} × {y} × {x} µm (z, y, x), as the training images"),
            None => "unknown (the training images gave none): the axes carry scale 1 and no unit"
                .to_string(),
        };
        format!(
            "# {name}\n\n{description}\n\n\
             Exported by `silico export --format bioimageio` from a silico run. silico (Rust, \
             libtorch, plugin networks) reimplements the in-silico labeling of Ounkomol et al. \
             (2018) and its evaluation beyond pixel error of Sun et al. (2022).\n\n\
             ## Model\n\n\
             - Generator: silico's `{component}` plugin; in PyTorch `{callable}` of \
             `silico_reference.py` (this package) with `{kwargs}`, parameter for parameter.\n\
             - Model `{model}` for the structure `{structure}`, {iterations} training iterations. \
             Its full definition is `config.silico.model_table` in `rdf.yaml`.\n\
             - Input `{input}`: one bright-field z-stack (batch, channel, z, y, x), float32. \
             Every space axis must be a multiple of {step} (2^depth); pad (for example with \
             the image mean) to get there.\n\
             - Preprocessing: each image is z-scored over its whole volume (zero mean, unit \
             variance), as silico does in training and prediction.\n\
             - Output `{output}`: the predicted fluorescence, the input's size, on the z-scored \
             scale of the training targets.\n\
             - The network is fully convolutional; no halo is declared. silico itself predicts \
             large images in overlapping tiles blended with triangular weights.\n\
             - Voxel size: {voxel}.\n\n\
             ## Test data\n\n\
             `test_input.npy` is a synthetic bright-field field made by `silico synth`'s model \
             of cells; `test_output.npy` is silico's own prediction of it (fp32, one tile); \
             `sample_input.tif` and `sample_output.tif` hold the same images.\n\n\
             ## Validation\n\n\
             At export, the TorchScript weights reproduced silico's test output to within \
             {difference:.1e} (the export refuses more than {tolerance:.0e}); silico's networks \
             and their PyTorch twins agree to 1e-4 in silico's own tests, in both directions. \
             The test output shows the network's arithmetic, not its accuracy: the accuracy of \
             in-silico labeling is measured against real fluorescence of held-out images, as \
             `silico predict` and `silico bench` report it (Pearson r, MSE, SSIM, exclusivity, \
             object shape and position).\n\n\
             ## Weights\n\n\
             - `weights.pt`: the PyTorch state dict of `{callable}`.\n\
             - `weights.torchscript.pt`: the same network traced (`torch.jit.trace`), \
             PyTorch {pytorch}.\n\n\
             ## Citations\n\n\
             - {sun} doi:{sun_doi}\n\
             - {ounkomol} doi:{ounkomol_doi}\n",
            name = self.name(),
            description = self.description(),
            component = self.twin.component,
            callable = self.twin.callable,
            model = self.meta.model,
            structure = self.meta.structure,
            iterations = self.meta.iteration,
            input = self.input_id,
            output = self.output_id,
            step = self.step,
            tolerance = TOLERANCE,
            difference = self.max_difference,
            pytorch = self.pytorch_version,
            sun = SUN_2022.0,
            sun_doi = SUN_2022.1,
            ounkomol = OUNKOMOL_2018.0,
            ounkomol_doi = OUNKOMOL_2018.1,
        )
    }
}

fn sha256_of(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Zips every file of `folder` (`rdf.yaml` first) into `out` through a temporary sibling, so
/// that `out` is either the old file or the complete new one.
fn zip_atomically(folder: &Path, out: &Path) -> Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(folder)?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    names.sort_by_key(|name| (name != "rdf.yaml", name.clone()));
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let file_name = out
        .file_name()
        .ok_or_else(|| anyhow!("--out {}: not a file path", out.display()))?;
    let temporary = out.with_file_name(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> Result<()> {
        let file = std::fs::File::create(&temporary)?;
        let mut zip = zip::ZipWriter::new(file);
        let options =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for name in &names {
            zip.start_file(name.as_str(), options)?;
            zip.write_all(&std::fs::read(folder.join(name))?)?;
        }
        zip.finish()?.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written.and_then(|()| Ok(std::fs::rename(&temporary, out)?)) {
        let _ = std::fs::remove_file(&temporary);
        return Err(e.context(format!("cannot write {}", out.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tensor_id;

    #[test]
    fn tensor_ids_are_lowercase_identifiers() {
        assert_eq!(tensor_id("nucleoli"), "nucleoli");
        assert_eq!(tensor_id("Cell-Membrane"), "cell_membrane");
        assert_eq!(tensor_id("3d"), "t_3d");
    }
}
