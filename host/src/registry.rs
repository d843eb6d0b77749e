//! The registry file: which plugin libraries exist, and which models are composed of them.
//!
//! ```toml
//! [plugins]                 # library name -> file; relative paths are from this file
//! losses = "target/release/libsilico_losses.so"
//! unet3d = { path = "target/release/libsilico_unet3d.so", sha256 = "…" }  # pinned
//!
//! [models.unet]
//! generator = { component = "unet3d", depth = 4, mult_chan = 32 }
//! losses = [{ component = "mse", weight = 1.0 }]
//! train = { iterations = 50000, batch = 24, patch = [32, 64, 64], lr = 1e-3 }
//! ```
//!
//! Every key of a component's table except `component` (and `weight` for a loss term) is that
//! component's configuration, checked by the plugin that builds it.
//!
//! Files in a configuration are found as plugin libraries are: a string under a key named `path`
//! or ending in `_path`, in a component's table (a table with a `component` key, at any depth
//! of a model's table) or in a `[metrics.<component>]` table, is a file, and a relative one is
//! made absolute from the registry file's folder before the plugin sees it. So a registry works
//! from any working directory, and a checkpoint records the file its model was built from.
//! "The registry file's folder" is its real one: a symlinked registry's paths are from its
//! target's folder.

use crate::precision::{MemoryFormat, Precision};
use anyhow::{bail, Context, Result};
use serde::{de::Error as _, Deserialize, Deserializer, Serialize};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

#[derive(Debug, Clone)]
pub struct Registry {
    /// The registry file, as given.
    pub path: PathBuf,
    /// Library name → its shared library (absolute path, and pin), in name order.
    pub plugins: BTreeMap<String, PluginFile>,
    pub models: BTreeMap<String, ModelSpec>,
    /// Each model's table as written, so that a checkpoint can carry its model's definition.
    pub model_tables: BTreeMap<String, toml::Table>,
    /// Segmentation workflow overrides, one table per structure (silico-segmentation's keys):
    /// what `silico segment` and the `jaccard` and `objects` metrics use.
    pub segmentation: toml::Table,
    /// Metric component name → its configuration, for the evaluators that build it.
    pub metrics: BTreeMap<String, toml::Table>,
}

/// One `[plugins]` entry: `name = "file.so"`, or `name = { path = "file.so", sha256 = "…" }`,
/// which pins the file's contents (`silico plugins --pin` writes the hashes).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginFile {
    /// The shared library; absolute once the registry is read.
    pub path: PathBuf,
    /// The SHA-256 the file must have, in lowercase hex: a library that differs is never opened.
    pub sha256: Option<String>,
}

impl<'de> Deserialize<'de> for PluginFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = match toml::Value::deserialize(deserializer)? {
            toml::Value::String(path) => {
                return Ok(Self {
                    path: path.into(),
                    sha256: None,
                })
            }
            toml::Value::Table(table) => table,
            other => {
                return Err(D::Error::custom(format!(
                    "a library is a file name or {{ path = \"…\", sha256 = \"…\" }}, got {}",
                    other.type_str()
                )))
            }
        };
        let path =
            take_string(&mut table, "path", "the library's file").map_err(D::Error::custom)?;
        let sha256 = match table.remove("sha256") {
            None => None,
            Some(toml::Value::String(hash))
                if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Some(hash.to_ascii_lowercase())
            }
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`sha256` must be 64 hexadecimal digits (as `silico plugins --pin` writes them), got {other}"
                )))
            }
        };
        if let Some(key) = table.keys().next() {
            return Err(D::Error::custom(format!(
                "unknown key `{key}`, expected `path` or `sha256`"
            )));
        }
        Ok(Self {
            path: path.into(),
            sha256,
        })
    }
}

/// A reference to a plugin component and its configuration table.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentRef {
    pub component: String,
    /// The component's own keys, handed to the plugin as TOML.
    pub config: toml::Table,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LossTermSpec {
    pub component: ComponentRef,
    /// Multiplies the term in the objective.
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub generator: ComponentRef,
    #[serde(default)]
    pub discriminator: Option<ComponentRef>,
    pub losses: Vec<LossTermSpec>,
    #[serde(default)]
    pub train: TrainSettings,
    /// How `silico retrain` retrains this model for exclusivity; absent: it cannot.
    #[serde(default)]
    pub retrain: Option<RetrainSettings>,
}

/// How a model is trained. Defaults follow pytorch_fnet's 2018 code (Ounkomol et al.).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    pub iterations: u64,
    pub batch: usize,
    /// Patch size (z, y, x) drawn from the training images.
    pub patch: [i64; 3],
    /// Adam learning rate and betas.
    pub lr: f64,
    pub betas: [f64; 2],
    pub seed: u64,
    /// Iterations between checkpoints (one is also written at the end and on Ctrl-C).
    pub checkpoint_every: u64,
    /// Precision of the forward passes; weights, optimizer state and checkpoints stay fp32.
    pub precision: Precision,
    /// Memory layout of the convolutions' weights and inputs.
    pub memory_format: MemoryFormat,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            iterations: 50_000,
            batch: 24,
            patch: [32, 64, 64],
            lr: 1e-3,
            betas: [0.5, 0.999],
            seed: 0,
            checkpoint_every: 1000,
            precision: Precision::Fp32,
            memory_format: MemoryFormat::Contiguous,
        }
    }
}

/// Bytes of one voxel of a training patch as the batch holds it (f32).
const BYTES_PER_VOXEL: u128 = 4;

impl TrainSettings {
    fn validate(&self) -> Result<(), String> {
        if self.iterations == 0 {
            return Err("`iterations` must be at least 1".into());
        }
        if self.checkpoint_every == 0 {
            return Err("`checkpoint_every` must be at least 1".into());
        }
        if self.batch == 0 {
            return Err("`batch` must be at least 1".into());
        }
        if self.patch.iter().any(|&n| n <= 0) {
            return Err(format!("`patch` must be positive, got {:?}", self.patch));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("`lr` must be a positive number, got {}", self.lr));
        }
        if self.betas.iter().any(|b| !(0.0..1.0).contains(b)) {
            return Err(format!("`betas` must lie in [0, 1), got {:?}", self.betas));
        }
        Ok(())
    }

    /// Bytes of one batch of `channels` input and target channels in all (a lower bound of what
    /// a training step holds: the network's activations come on top).
    pub fn batch_bytes(&self, channels: u64) -> u128 {
        let voxels: u128 = self.patch.iter().map(|&n| n.max(0) as u128).product();
        (self.batch as u128)
            .saturating_mul(voxels)
            .saturating_mul(channels as u128)
            .saturating_mul(BYTES_PER_VOXEL)
    }

    /// Refuses a `batch` × `patch` whose batch of `channels` input and target channels alone
    /// exceeds `budget` bytes (`budget_source` says where that number came from), before
    /// anything is allocated.
    pub fn check_memory(
        &self,
        channels: u64,
        budget: u64,
        budget_source: &str,
    ) -> Result<(), String> {
        let needed = self.batch_bytes(channels);
        if needed > budget as u128 {
            let gib = |bytes: u128| bytes as f64 / (1u64 << 30) as f64;
            return Err(format!(
                "`batch` {} × `patch` {:?} needs {:.1} GiB for its input and target patches alone, more than the memory budget of {:.1} GiB ({budget_source}); lower `batch` or `patch`",
                self.batch,
                self.patch,
                gib(needed),
                gib(budget as u128)
            ));
        }
        Ok(())
    }
}

/// The order in which `silico retrain` takes the structures, by their initial organelle
/// exclusivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetrainOrder {
    /// Most exclusive first (Sun et al. 2022, Section 3.2).
    Decreasing,
    /// Least exclusive first.
    Increasing,
}

/// Greedy retraining for exclusivity (Sun et al. 2022, Sections 2.4 and 3.2): each structure in
/// turn is trained with its model's own loss plus `p ·` the exclusivity term, for each p of its
/// list, and the p with the highest overall exclusivity / overall MSE is kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrainSettings {
    /// Iterations of each retraining run (the paper: 12 500 to fine-tune its U-Net, 25 000 to
    /// retrain Vox2Vox-RU from scratch).
    pub iterations: u64,
    /// The weights p tried for every structure (the paper scanned 0 to 4 for its U-Net); a
    /// single value is a fixed p.
    pub p: Vec<f64>,
    /// Structure → its own list of p, replacing `p` for it (the paper set Vox2Vox-RU's by hand).
    pub p_for: BTreeMap<String, Vec<f64>>,
    /// Start each run from fresh weights instead of fine-tuning the current model.
    pub from_scratch: bool,
    /// Adam's learning rate in the retraining runs [default: the model's `train.lr`]. Fine-tuning
    /// usually wants a smaller one than training from scratch.
    pub lr: Option<f64>,
    pub order: RetrainOrder,
    /// Structures kept as they are (the paper skipped desmosomes, whose large MSE biased the
    /// ratio); their predictions still count as the others.
    pub skip: Vec<String>,
    /// The loss term added with weight p: its component and configuration.
    pub loss: ComponentRef,
}

impl Default for RetrainSettings {
    fn default() -> Self {
        Self {
            iterations: 12_500,
            p: vec![0.0, 1.0, 2.0, 3.0, 4.0],
            p_for: BTreeMap::new(),
            from_scratch: false,
            lr: None,
            order: RetrainOrder::Decreasing,
            skip: Vec::new(),
            loss: ComponentRef {
                component: "exclusivity".into(),
                config: toml::Table::new(),
            },
        }
    }
}

impl RetrainSettings {
    /// The weights to try for `structure`.
    pub fn p_values(&self, structure: &str) -> &[f64] {
        self.p_for.get(structure).unwrap_or(&self.p)
    }

    fn validate(&self) -> Result<(), String> {
        if self.iterations == 0 {
            return Err("`iterations` must be at least 1".into());
        }
        if let Some(lr) = self.lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
            return Err(format!("`lr` must be a positive number, got {lr}"));
        }
        for (key, values) in std::iter::once(("p".to_string(), &self.p))
            .chain(self.p_for.iter().map(|(s, v)| (format!("p_for.{s}"), v)))
        {
            if values.is_empty() {
                return Err(format!("`{key}` needs at least one weight"));
            }
            if let Some(bad) = values.iter().find(|p| !(p.is_finite() && **p >= 0.0)) {
                return Err(format!(
                    "`{key}`: weights must be finite and at least 0, got {bad}"
                ));
            }
        }
        Ok(())
    }
}

fn take_string(table: &mut toml::Table, key: &str, what: &str) -> Result<String, String> {
    match table.remove(key) {
        Some(toml::Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "`{key}` must be a string ({what}), got {}",
            other.type_str()
        )),
        None => Err(format!("missing key `{key}` ({what})")),
    }
}

impl<'de> Deserialize<'de> for ComponentRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut config = toml::Table::deserialize(deserializer)?;
        let component = take_string(&mut config, "component", "the name of a plugin component")
            .map_err(D::Error::custom)?;
        Ok(Self { component, config })
    }
}

impl<'de> Deserialize<'de> for LossTermSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut config = toml::Table::deserialize(deserializer)?;
        let weight = match config.remove("weight") {
            None => 1.0,
            Some(toml::Value::Float(w)) => w,
            Some(toml::Value::Integer(w)) => w as f64,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`weight` must be a number, got {}",
                    other.type_str()
                )))
            }
        };
        // No component declares negative weights allowed (the plugin API has no such flag),
        // and a negative weight trains the network to maximise that error.
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(D::Error::custom(format!(
                "`weight` must be finite and at least 0, got {weight}"
            )));
        }
        let component = take_string(&mut config, "component", "the name of a loss component")
            .map_err(D::Error::custom)?;
        Ok(Self {
            component: ComponentRef { component, config },
            weight,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    plugins: BTreeMap<String, PluginFile>,
    #[serde(default)]
    models: BTreeMap<String, toml::Table>,
    #[serde(default)]
    segmentation: toml::Table,
    #[serde(default)]
    metrics: BTreeMap<String, toml::Table>,
}

/// One line for a deserialization error, naming the offending key under `prefix`.
pub(crate) fn keyed_error<E: std::fmt::Display>(
    prefix: &str,
    error: serde_path_to_error::Error<E>,
) -> anyhow::Error {
    let path = error.path().to_string();
    let message = error.into_inner().to_string();
    let message = message
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let key = match (prefix.is_empty(), path.as_str()) {
        (true, ".") => return anyhow::anyhow!("{message}"),
        (true, _) => path,
        (false, ".") => prefix.to_string(),
        (false, _) => format!("{prefix}.{path}"),
    };
    anyhow::anyhow!("key `{key}`: {message}")
}

impl ModelSpec {
    /// Reads a model's registry table; errors name the key under `models.<name>`.
    pub fn from_table(name: &str, table: &toml::Table) -> Result<Self> {
        let prefix = format!("models.{name}");
        let spec: ModelSpec = serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| keyed_error(&prefix, e))?;
        spec.train
            .validate()
            .map_err(|e| anyhow::anyhow!("key `{prefix}.train`: {e}"))?;
        if spec.losses.is_empty() {
            bail!("key `{prefix}.losses`: a model needs at least one loss term");
        }
        if let Some(retrain) = &spec.retrain {
            retrain
                .validate()
                .map_err(|e| anyhow::anyhow!("key `{prefix}.retrain`: {e}"))?;
        }
        Ok(spec)
    }
}

impl Registry {
    /// Reads and checks a registry file. Errors name the file and the key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the registry {}; pass an existing file with --registry",
                path.display()
            )
        })?;
        Self::parse(&text, path).with_context(|| path.display().to_string())
    }

    /// Parses registry text; `path` locates relative plugin paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let table = parse_toml(text)?;
        let mut file: RegistryFile = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| keyed_error("", e))?;
        let folder = registry_folder(path);
        for table in file.models.values_mut() {
            resolve_component_paths(table, &folder);
        }
        for table in file.metrics.values_mut() {
            resolve_config_paths(table, &folder);
        }
        let models = file
            .models
            .iter()
            .map(|(name, table)| {
                // A model's name becomes run and benchmark folder names.
                crate::names::check_name("model", name).context("key `models`")?;
                Ok((name.clone(), ModelSpec::from_table(name, table)?))
            })
            .collect::<Result<_>>()?;
        silico_segmentation::SegmentationConfig::from_toml(
            &file.segmentation.to_string(),
            "key `segmentation`",
        )?;
        let plugins = file
            .plugins
            .into_iter()
            .map(|(name, file)| {
                let path = folder.join(&file.path);
                (name, PluginFile { path, ..file })
            })
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            plugins,
            models,
            model_tables: file.models,
            segmentation: file.segmentation,
            metrics: file.metrics,
        })
    }

    /// The configuration of metric `component`: its `[metrics.<component>]` table, with the
    /// registry's `segmentation` overrides as its `segmentation` key, then `overrides`' keys
    /// replacing those.
    pub fn metric_config(&self, component: &str, overrides: &toml::Table) -> toml::Table {
        let mut config = self.metrics.get(component).cloned().unwrap_or_default();
        config.insert("segmentation".into(), self.segmentation.clone().into());
        config.extend(overrides.clone());
        config
    }

    /// A model's table as written in the registry (see [`Registry::model_tables`]).
    pub fn model_table(&self, name: &str) -> Result<&toml::Table> {
        self.model(name)?;
        Ok(&self.model_tables[name])
    }

    /// Trains every model at `precision`, as if each model's `train` table said so; the model
    /// tables, which checkpoints record, say so too.
    pub fn set_precision(&mut self, precision: Precision) {
        for spec in self.models.values_mut() {
            spec.train.precision = precision;
        }
        for table in self.model_tables.values_mut() {
            let train = table
                .entry("train")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(train) = train {
                train.insert("precision".into(), precision.to_string().into());
            }
        }
    }

    pub fn model(&self, name: &str) -> Result<&ModelSpec> {
        self.models.get(name).with_context(|| {
            let known: Vec<_> = self.models.keys().map(String::as_str).collect();
            format!(
                "{}: no model `{name}` (models: {})",
                self.path.display(),
                known.join(", ")
            )
        })
    }
}

/// The folder that the relative paths of the registry at `path` are from: the real file's (so a
/// symlinked registry's are from its target's), absolute because checkpoints record these paths
/// and are read from anywhere. A registry text without a file is in the working directory.
fn registry_folder(path: &Path) -> PathBuf {
    if let Some(folder) = std::fs::canonicalize(path)
        .ok()
        .and_then(|real| real.parent().map(Path::to_path_buf))
    {
        return folder;
    }
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf())
}

/// Whether a configuration key names a file: `path`, or a key ending in `_path`.
pub fn is_path_key(key: &str) -> bool {
    key == "path" || key.ends_with("_path")
}

/// Makes the relative files of one component's configuration (see [`is_path_key`]) absolute
/// from `folder`; values that are not strings are left for the plugin to refuse.
pub fn resolve_config_paths(config: &mut toml::Table, folder: &Path) {
    for (key, value) in config.iter_mut() {
        if let toml::Value::String(file) = value {
            if is_path_key(key) && Path::new(file.as_str()).is_relative() {
                *file = folder.join(file.as_str()).display().to_string();
            }
        }
    }
}

/// [`resolve_config_paths`] on every component table (one with a `component` key) within
/// `table`, at any depth: a model's generator, discriminator, loss terms, retraining loss.
pub fn resolve_component_paths(table: &mut toml::Table, folder: &Path) {
    if table.contains_key("component") {
        resolve_config_paths(table, folder);
    }
    for (_, value) in table.iter_mut() {
        match value {
            toml::Value::Table(inner) => resolve_component_paths(inner, folder),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        resolve_component_paths(inner, folder);
                    }
                }
            }
            _ => {}
        }
    }
}

/// TOML text as a table; an error is one line with the position (toml's messages span lines).
pub(crate) fn parse_toml(text: &str) -> Result<toml::Table> {
    text.parse().map_err(|e: toml::de::Error| {
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        match e.span().map(|span| line_and_column(text, span.start)) {
            Some((line, column)) => {
                anyhow::anyhow!("invalid TOML at line {line}, column {column}: {message}")
            }
            None => anyhow::anyhow!("invalid TOML: {message}"),
        }
    })
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Registry> {
        Registry::parse(text, Path::new("/lab/registry.toml"))
    }

    const MINIMAL: &str = r#"
        [plugins]
        losses = "target/libsilico_losses.so"
        abs = "/opt/libx.so"

        [models.m]
        generator = { component = "unet3d", depth = 2 }
        losses = [{ component = "mse" }, { component = "l1", weight = 100, reduction = "sum" }]
        train = { batch = 2 }
    "#;

    #[test]
    fn composes_models_and_resolves_paths() {
        let registry = parse(MINIMAL).unwrap();
        assert_eq!(
            registry.plugins["losses"].path,
            Path::new("/lab/target/libsilico_losses.so")
        );
        assert_eq!(registry.plugins["abs"].path, Path::new("/opt/libx.so"));
        assert_eq!(registry.plugins["abs"].sha256, None);
        let model = registry.model("m").unwrap();
        assert_eq!(model.generator.component, "unet3d");
        assert_eq!(model.generator.config["depth"].as_integer(), Some(2));
        assert!(!model.generator.config.contains_key("component"));
        assert_eq!(model.losses[1].weight, 100.0);
        assert_eq!(
            model.losses[1].component.config["reduction"].as_str(),
            Some("sum")
        );
        assert_eq!(model.train.batch, 2);
        assert_eq!(model.train.lr, 1e-3, "unset keys keep their defaults");
    }

    #[test]
    fn relative_files_in_component_tables_are_from_the_registrys_folder() {
        let text = r#"
            [plugins]
            torchscript = "libsilico_torchscript.so"
            [models.m]
            generator = { component = "torchscript", path = "nets/net.pt", depth = 2 }
            discriminator = { component = "d", weights_path = "/abs/d.pt", pathway = "x" }
            losses = [{ component = "l", table_path = "t.csv" }]
            retrain = { loss = { component = "exclusivity", mask_path = "m.tif" } }
            train = { batch = 2 }
            [metrics.objects]
            reference_path = "ref/cells.csv"
        "#;
        let registry = parse(text).unwrap();
        let model = registry.model("m").unwrap();
        let config = |c: &ComponentRef, key: &str| c.config[key].as_str().unwrap().to_string();
        assert_eq!(config(&model.generator, "path"), "/lab/nets/net.pt");
        let discriminator = model.discriminator.as_ref().unwrap();
        assert_eq!(config(discriminator, "weights_path"), "/abs/d.pt");
        assert_eq!(config(discriminator, "pathway"), "x", "not a path key");
        assert_eq!(
            config(&model.losses[0].component, "table_path"),
            "/lab/t.csv"
        );
        let retrain = model.retrain.as_ref().unwrap();
        assert_eq!(config(&retrain.loss, "mask_path"), "/lab/m.tif");
        assert_eq!(
            registry.model_table("m").unwrap()["generator"]["path"].as_str(),
            Some("/lab/nets/net.pt"),
            "checkpoints record the resolved file"
        );
        assert_eq!(
            registry.metrics["objects"]["reference_path"].as_str(),
            Some("/lab/ref/cells.csv")
        );
        let here = Registry::parse(text, Path::new("registry.toml")).unwrap();
        let resolved = config(&here.model("m").unwrap().generator, "path");
        assert_eq!(
            Path::new(&resolved),
            std::env::current_dir().unwrap().join("nets/net.pt"),
            "a registry named without a folder is in the working directory"
        );
    }

    #[test]
    fn a_library_may_be_pinned_by_its_sha256() {
        let hash = "AB".repeat(32);
        let pinned =
            format!("[plugins]\nunet3d = {{ path = \"lib/u.so\", sha256 = \"{hash}\" }}\n");
        let registry = parse(&pinned).unwrap();
        let unet3d = &registry.plugins["unet3d"];
        assert_eq!(unet3d.path, Path::new("/lab/lib/u.so"));
        assert_eq!(unet3d.sha256.as_deref(), Some("ab".repeat(32).as_str()));
        let err = parse(&pinned.replace(&hash, "abc")).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "key `plugins.unet3d`: `sha256` must be 64 hexadecimal digits (as `silico plugins --pin` writes them), got \"abc\""
        );
        let err = parse(&pinned.replace("sha256", "sha1")).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "key `plugins.unet3d`: unknown key `sha1`, expected `path` or `sha256`"
        );
        let err = parse("[plugins]\nunet3d = 3\n").unwrap_err();
        assert!(
            format!("{err:#}").starts_with("key `plugins.unet3d`: a library is a file name or"),
            "{err:#}"
        );
    }

    #[test]
    fn invalid_toml_gives_the_position() {
        let err = parse("[plugins]\nlosses = \n").unwrap_err();
        assert!(
            format!("{err:#}").starts_with("invalid TOML at line 2, column 10:"),
            "{err:#}"
        );
    }

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let err = parse(&MINIMAL.replace("train = {", "trian = {")).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "key `models.m.trian`: unknown field `trian`, expected one of `generator`, `discriminator`, `losses`, `train`, `retrain`"
        );
    }

    #[test]
    fn bad_training_settings_are_refused() {
        let err = parse(&MINIMAL.replace("batch = 2", "batch = 0")).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "key `models.m.train`: `batch` must be at least 1"
        );
    }

    #[test]
    fn degenerate_settings_are_refused() {
        let cases = [
            (
                MINIMAL.replace("batch = 2", "batch = 2, iterations = 0"),
                "key `models.m.train`: `iterations` must be at least 1",
            ),
            (
                MINIMAL.replace("weight = 100", "weight = -1"),
                "key `models.m.losses[1]`: `weight` must be finite and at least 0, got -1",
            ),
            (
                MINIMAL.replace("[models.m]", "[models.\"../m\"]"),
                "key `models`: model `../m`: a name, not a path",
            ),
        ];
        for (text, expected) in cases {
            let message = format!("{:#}", parse(&text).unwrap_err());
            assert!(message.starts_with(expected), "{message}");
        }
        parse(&MINIMAL.replace("weight = 100", "weight = 0")).unwrap();
    }

    #[test]
    fn a_batch_beyond_the_memory_budget_is_refused() {
        let settings = TrainSettings {
            batch: 100_000,
            patch: [16, 32, 32],
            ..TrainSettings::default()
        };
        // 100 000 × 16 384 voxels × 2 channels × 4 bytes.
        assert_eq!(settings.batch_bytes(2), 13_107_200_000);
        let message = settings.check_memory(2, 1 << 30, "a test").unwrap_err();
        assert!(
            message.starts_with("`batch` 100000 × `patch` [16, 32, 32] needs 12.2 GiB")
                && message.contains("1.0 GiB (a test)"),
            "{message}"
        );
        settings.check_memory(2, 1 << 34, "a test").unwrap();
        let huge = TrainSettings {
            batch: usize::MAX,
            patch: [i64::MAX; 3],
            ..TrainSettings::default()
        };
        assert!(
            huge.check_memory(2, u64::MAX, "a test").is_err(),
            "no overflow"
        );
    }

    #[test]
    fn retraining_settings_default_to_the_paper_and_are_checked() {
        let text = format!(
            "{MINIMAL}\n        retrain = {{ iterations = 10, p_for = {{ dna = [0.5] }} }}"
        );
        let registry = parse(&text).unwrap();
        let retrain = registry.model("m").unwrap().retrain.as_ref().unwrap();
        assert_eq!(retrain.p_values("nucleoli"), &[0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(retrain.p_values("dna"), &[0.5]);
        assert_eq!(retrain.order, RetrainOrder::Decreasing);
        assert_eq!(retrain.loss.component, "exclusivity");
        let err = parse(&text.replace("[0.5]", "[-1.0]")).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "key `models.m.retrain`: `p_for.dna`: weights must be finite and at least 0, got -1"
        );
        let err =
            parse(&text.replace("iterations = 10,", "iterations = 10, order = \"sideways\","))
                .unwrap_err();
        assert!(
            format!("{err:#}")
                .starts_with("key `models.m.retrain.order`: unknown variant `sideways`"),
            "{err:#}"
        );
    }

    #[test]
    fn segmentation_overrides_are_checked_and_reach_the_metrics() {
        let text = format!(
            "{MINIMAL}\n[segmentation.nucleoli]\nmin_size_um3 = 0.5\n[metrics.objects]\ncompare = {{ k = [8] }}\n"
        );
        let registry = parse(&text).unwrap();
        let config = registry.metric_config("objects", &toml::Table::new());
        assert_eq!(
            config["segmentation"]["nucleoli"]["min_size_um3"].as_float(),
            Some(0.5)
        );
        assert_eq!(config["compare"]["k"].as_array().map(Vec::len), Some(1));
        let err = parse(&text.replace("[segmentation.nucleoli]", "[segmentation.nucleolus]"))
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("key `segmentation`")
                && format!("{err:#}").contains("nucleolus"),
            "{err:#}"
        );
    }

    #[test]
    fn component_must_be_named() {
        let err = parse(&MINIMAL.replace("component = \"unet3d\", ", "")).unwrap_err();
        assert!(
            format!("{err:#}").contains("missing key `component`"),
            "{err:#}"
        );
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let err = parse(MINIMAL).unwrap().model("x").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "/lab/registry.toml: no model `x` (models: m)"
        );
    }
}
