//! A benchmark plan: which models (registry names, registry models with keys replaced, or
//! compositions of their own in the registry's syntax) are trained on which structures with
//! which seeds, on one dataset, and which evaluations judge them.
//!
//! ```toml
//! data = "data"                          # a folder as `silico synth` writes; relative to this
//!                                        # file (or given by `silico bench run --data`)
//! structures = ["dna", "nucleoli"]
//! seeds = [0, 1]
//! overrides = { iterations = 200 }       # iterations, batch, patch, precision, for every model
//!
//! [models.unet-tiny]                     # the registry's model as it is
//! [models.unet-tiny-l1]                  # the registry's model with top-level keys replaced
//! from = "unet-tiny"
//! losses = [{ component = "l1" }]
//! [models.wide]                          # a composition of its own
//! generator = { component = "unet3d", depth = 2, mult_chan = 8 }
//! losses = [{ component = "mse" }]
//!
//! noise_images = "wild-type"             # optional: unlabelled cells, for the noise ceiling
//!
//! [evaluate]                             # pixel metrics always run
//! exclusivity = true                     # across each model's structures (Table 1)
//! jaccard = true                         # Fig. 3
//! objects = ["nucleoli"]                 # Fig. 7, for these structures
//! ```
//!
//! A cell is one (model, structure, seed); its definition is the model's table with the seed
//! and the overrides written into `train`, so that a changed cell is seen by comparing tables.

use crate::{
    data::manifest_path, names::check_name, precision::Precision, registry::ModelSpec, Registry,
};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use silico_imaging::dataset::VoxelSize;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

/// A plan as read and checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file.
    pub path: PathBuf,
    /// The plan as written, for the report.
    pub text: String,
    /// The data folder, resolved against the plan's folder.
    pub data: PathBuf,
    pub structures: Vec<String>,
    pub seeds: Vec<u64>,
    /// In name order.
    pub models: Vec<PlanModel>,
    pub overrides: Overrides,
    pub evaluate: Evaluations,
    /// The `[slurm]` table, for `--executor slurm`.
    pub slurm: Option<toml::Table>,
    /// Images of unlabelled cells taken as the targets are (fnet's wild-type images): their
    /// variance is the targets' noise, for the noise ceiling of targets without a noise-free
    /// version.
    pub noise_images: Vec<PathBuf>,
    /// What to take for image files that give no voxel size (the plan's `voxel_size`).
    pub voxel_size: VoxelSize,
}

/// One model of a plan with its definition, in the registry's syntax.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanModel {
    pub name: String,
    pub definition: toml::Table,
}

/// Training settings replaced in every model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub iterations: Option<u64>,
    pub batch: Option<usize>,
    pub patch: Option<[i64; 3]>,
    /// Precision of every model's forward passes, in training and prediction.
    pub precision: Option<Precision>,
}

/// Which evaluations run beside the pixel metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Evaluations {
    /// Organelle exclusivity across each model's structures, per seed.
    pub exclusivity: bool,
    /// Segmentation Jaccard of every cell.
    pub jaccard: bool,
    /// Object comparison for these structures.
    pub objects: Vec<String>,
}

impl Default for Evaluations {
    fn default() -> Self {
        Self {
            exclusivity: true,
            jaccard: false,
            objects: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    data: Option<PathBuf>,
    structures: Vec<String>,
    #[serde(default = "default_seeds")]
    seeds: Vec<u64>,
    models: BTreeMap<String, toml::Table>,
    #[serde(default)]
    overrides: Overrides,
    #[serde(default)]
    evaluate: Evaluations,
    #[serde(default)]
    slurm: Option<toml::Table>,
    #[serde(default)]
    noise_images: Option<PathBuf>,
    /// z, y, x in µm, for image files that give none.
    #[serde(default)]
    voxel_size: Option<[f32; 3]>,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// One (model, structure, seed) of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub model: String,
    pub structure: String,
    pub seed: u64,
    /// The model's table with the seed and the overrides in `train`.
    pub definition: toml::Table,
}

impl Cell {
    /// `<model>/<structure>/seed<k>`: the cell's folder under `OUT/cells`, and its name in
    /// messages and on the command line.
    pub fn id(&self) -> String {
        format!("{}/{}/seed{}", self.model, self.structure, self.seed)
    }

    pub fn dir(&self, out: &Path) -> PathBuf {
        out.join("cells").join(self.id())
    }
}

impl Plan {
    /// Reads and checks the plan at `path`, on the data folder `data` if given (else its `data`
    /// key, relative to the plan's folder); errors name the file and the key.
    pub fn load(path: &Path, data: Option<&Path>, registry: &Registry) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the plan {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base, data, registry).with_context(|| path.display().to_string())
    }

    /// Parses plan text as if it were the file `path`: on the data folder `data` if given, else
    /// the `data` key relative to `base`.
    pub fn parse(
        text: &str,
        path: &Path,
        base: &Path,
        data: Option<&Path>,
        registry: &Registry,
    ) -> Result<Self> {
        let table = crate::registry::parse_toml(text)?;
        let file: PlanFile = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| crate::registry::keyed_error("", e))?;
        let data = match (data, &file.data) {
            (Some(given), _) => given.to_path_buf(),
            (None, Some(key)) => base.join(key),
            (None, None) => {
                bail!("key `data`: missing; name the data folder in the plan, or pass --data")
            }
        };
        if !data.exists() {
            bail!(
                "key `data`: {} does not exist; make it with `silico synth --out {}`, or name a folder of manifests (<structure>.csv)",
                data.display(),
                data.display()
            );
        }
        let voxel_size = match file.voxel_size {
            Some(v) if v.iter().any(|v| !(v.is_finite() && *v > 0.0)) => {
                bail!("key `voxel_size`: {v:?}: give z, y, x in µm, each positive")
            }
            Some(v) => VoxelSize::Given(v),
            None => VoxelSize::FromFile,
        };
        if file.structures.is_empty() {
            bail!("key `structures`: name at least one structure");
        }
        if file.seeds.is_empty() {
            bail!("key `seeds`: give at least one seed");
        }
        if file.models.is_empty() {
            bail!("key `models`: add at least one model, e.g. [models.unet-tiny]");
        }
        for (key, list) in [
            ("structures", &file.structures),
            ("evaluate.objects", &file.evaluate.objects),
        ] {
            let mut sorted = list.clone();
            sorted.sort();
            if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                bail!("key `{key}`: `{}` is listed twice", w[0]);
            }
        }
        for structure in &file.structures {
            check_name("structure", structure).context("key `structures`")?;
            let manifest = manifest_path(&data, structure);
            if !manifest.is_file() {
                bail!(
                    "key `structures`: `{structure}` has no manifest {} (key `data` is {})",
                    manifest.display(),
                    data.display()
                );
            }
        }
        if let Some(s) = file
            .evaluate
            .objects
            .iter()
            .find(|s| !file.structures.contains(s))
        {
            bail!("key `evaluate.objects`: `{s}` is not among `structures`");
        }
        let mut seeds = file.seeds.clone();
        seeds.sort_unstable();
        seeds.dedup();
        if seeds.len() != file.seeds.len() {
            bail!("key `seeds`: a seed is listed twice");
        }
        let models = file
            .models
            .into_iter()
            .map(|(name, table)| {
                // A model's name is a folder of every cell, `OUT/cells/<model>/...`.
                check_name("model", &name).context("key `models`")?;
                let definition = resolve(&name, table, registry)?;
                ModelSpec::from_table(&name, &definition)?;
                // And as every cell trains it: with the overrides in.
                ModelSpec::from_table(&name, &cell_definition(&definition, 0, &file.overrides))
                    .context("key `overrides`")?;
                Ok(PlanModel { name, definition })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            path: path.to_path_buf(),
            text: text.to_string(),
            data,
            structures: file.structures,
            seeds: file.seeds,
            models,
            overrides: file.overrides,
            evaluate: file.evaluate,
            slurm: file.slurm,
            voxel_size,
            noise_images: file
                .noise_images
                .map(|p| noise_images(&base.join(p)))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// Every cell, by model, then structure, then seed.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = Vec::new();
        for model in &self.models {
            for structure in &self.structures {
                for &seed in &self.seeds {
                    cells.push(Cell {
                        model: model.name.clone(),
                        structure: structure.clone(),
                        seed,
                        definition: cell_definition(&model.definition, seed, &self.overrides),
                    });
                }
            }
        }
        cells
    }
}

/// A cell's definition: the model's, without `retrain`, with the seed and the overrides in
/// `train`.
fn cell_definition(definition: &toml::Table, seed: u64, overrides: &Overrides) -> toml::Table {
    let mut definition = definition.clone();
    definition.remove("retrain");
    let train = definition
        .entry("train")
        .or_insert_with(|| toml::Table::new().into());
    if let Some(train) = train.as_table_mut() {
        train.insert("seed".into(), (seed as i64).into());
        if let Some(iterations) = overrides.iterations {
            train.insert("iterations".into(), (iterations as i64).into());
        }
        if let Some(batch) = overrides.batch {
            train.insert("batch".into(), (batch as i64).into());
        }
        if let Some(patch) = overrides.patch {
            train.insert(
                "patch".into(),
                toml::Value::Array(patch.iter().map(|&n| n.into()).collect()),
            );
        }
        if let Some(precision) = overrides.precision {
            train.insert("precision".into(), precision.to_string().into());
        }
    }
    definition
}

/// The TIFFs of `noise_images`: a folder of them, or one file.
fn noise_images(path: &Path) -> Result<Vec<PathBuf>> {
    let is_tiff = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("tif") || e.eq_ignore_ascii_case("tiff"))
    };
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).with_context(|| {
        format!(
            "key `noise_images`: cannot read {}; name a folder of TIFFs of unlabelled cells, or one TIFF",
            path.display()
        )
    })?;
    let mut images = Vec::new();
    for entry in entries {
        let image = entry?.path();
        if image.is_file() && is_tiff(&image) {
            images.push(image);
        }
    }
    images.sort();
    if images.is_empty() {
        bail!("key `noise_images`: {} holds no TIFF", path.display());
    }
    Ok(images)
}

/// A plan's model table as a model definition: an empty table is the registry's model of that
/// name; `from = "<registry model>"` takes that model with the other keys replacing its own; any
/// other table is a composition of its own.
fn resolve(name: &str, mut table: toml::Table, registry: &Registry) -> Result<toml::Table> {
    let from = match table.remove("from") {
        Some(toml::Value::String(from)) => Some(from),
        Some(other) => bail!(
            "key `models.{name}.from`: must be a registry model's name, got {}",
            other.type_str()
        ),
        None if table.is_empty() => Some(name.to_string()),
        None => None,
    };
    let Some(from) = from else {
        return Ok(table);
    };
    let mut definition = registry
        .model_table(&from)
        .with_context(|| format!("key `models.{name}`"))?
        .clone();
    definition.extend(table);
    Ok(definition)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        Registry::parse(
            r#"
            [plugins]
            [models.tiny]
            generator = { component = "unet3d", depth = 2 }
            losses = [{ component = "mse" }]
            train = { iterations = 10, batch = 2 }
            retrain = { p = [0.0] }
            "#,
            Path::new("/lab/registry.toml"),
        )
        .unwrap()
    }

    fn data() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for s in ["dna", "nucleoli"] {
            std::fs::write(
                dir.path().join(format!("{s}.csv")),
                "path_signal,path_target\n",
            )
            .unwrap();
        }
        dir
    }

    fn parse(text: &str, data: &Path) -> Result<Plan> {
        Plan::parse(text, &data.join("plan.toml"), data, None, &registry())
    }

    const PLAN: &str = r#"
        data = "."
        structures = ["dna", "nucleoli"]
        seeds = [3, 1]
        overrides = { iterations = 4, precision = "bf16" }
        [models.tiny]
        [models.tiny-l1]
        from = "tiny"
        losses = [{ component = "l1" }]
        [models.own]
        generator = { component = "unet3d", depth = 1 }
        losses = [{ component = "mse" }]
    "#;

    #[test]
    fn models_come_from_the_registry_or_the_plan_and_cells_carry_seed_and_overrides() {
        let data = data();
        let plan = parse(PLAN, data.path()).unwrap();
        let names: Vec<&str> = plan.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["own", "tiny", "tiny-l1"]);
        let cells = plan.cells();
        assert_eq!(cells.len(), 3 * 2 * 2);
        assert_eq!(cells[0].id(), "own/dna/seed3");
        let tiny_l1 = cells
            .iter()
            .find(|c| c.id() == "tiny-l1/nucleoli/seed1")
            .unwrap();
        let spec = ModelSpec::from_table("tiny-l1", &tiny_l1.definition).unwrap();
        assert_eq!(spec.losses[0].component.component, "l1");
        assert_eq!(spec.generator.config["depth"].as_integer(), Some(2));
        assert_eq!(
            (spec.train.seed, spec.train.iterations, spec.train.batch),
            (1, 4, 2)
        );
        assert_eq!(spec.train.precision, crate::precision::Precision::Bf16);
        assert!(spec.retrain.is_none());
    }

    #[test]
    fn errors_name_the_key() {
        let data = data();
        let cases = [
            (
                PLAN.replace("seeds", "sedes"),
                "key `sedes`: unknown field `sedes`",
            ),
            (
                PLAN.replace("\"nucleoli\"]", "\"golgi\"]"),
                "key `structures`: `golgi` has no manifest",
            ),
            (
                PLAN.replace("from = \"tiny\"", "from = \"tinny\""),
                "key `models.tiny-l1`: /lab/registry.toml: no model `tinny`",
            ),
            (
                PLAN.replace("iterations = 4", "iterations = 4, lr = 1"),
                "key `overrides.lr`: unknown field `lr`",
            ),
            (
                PLAN.replace("[models.own]", "[models.own]\ndiscriminatr = 1"),
                "key `models.own.discriminatr`: unknown field",
            ),
            (
                format!("{PLAN}\n[evaluate]\nobjects = [\"golgi\"]"),
                "key `evaluate.objects`: `golgi` is not among `structures`",
            ),
            (
                PLAN.replace("\"nucleoli\"]", "\"../nucleoli\"]"),
                "key `structures`: structure `../nucleoli`: a name, not a path",
            ),
            (
                PLAN.replace("[models.own]", "[models.\"/own\"]"),
                "key `models`: model `/own`: a name, not a path",
            ),
            (
                PLAN.replace("iterations = 4", "iterations = 0"),
                "key `overrides`: key `models.own.train`: `iterations` must be at least 1",
            ),
        ];
        for (text, expected) in cases {
            let message = format!("{:#}", parse(&text, data.path()).unwrap_err());
            assert!(message.starts_with(expected), "{message}");
        }
    }
}
