//! `silico retrain`: greedy retraining for organelle exclusivity (Sun et al., Bioinformatics
//! 2022, Sections 2.4 and 3.2, Eq. 1, Table 1, Figs. 5 and 6).
//!
//! Every structure's current model predicts every image. The structures are ranked by their
//! organelle exclusivity on the test images and retrained one at a time in that order (the
//! registry's `retrain.order`; decreasing by default, as Section 3.2 says): for each weight p of
//! its list, the model is trained with its own loss plus `p ·` the exclusivity term against the
//! voxel-wise maximum of the other structures' current predictions, fine-tuning the current
//! model (the paper's U-Net) or from fresh weights (its Vox2Vox-RU). The p whose model gives the
//! highest overall exclusivity / overall MSE on the test images is kept, that structure's
//! predictions are replaced, and the next structure is retrained against them.
//!
//! Overall MSE is the mean over structures of each structure's MSE on its test images (z-scored
//! intensities, voxel-weighted over images); exclusivity means are over all test voxels.
//!
//! `OUT/state.json` records every finished run and step, each written atomically, so an
//! interrupted retraining resumes (`--resume`) with the run it stopped in.
//!
//! ```text
//! OUT/state.json                            progress and every measurement
//! OUT/predictions/{train,test}/<structure>/ the current models' predictions
//! OUT/steps/<k>-<structure>/p<p>/           one retraining run: checkpoint, losses.csv, predictions
//! OUT/report/                               table1.csv, trajectory.csv/.png, candidates.csv,
//!                                           organelle_trajectory.csv, mse_vs_exclusivity.csv/.png,
//!                                           exclusivity-before/, exclusivity-after/
//! ```

mod report;
mod state;

pub use report::summary;
pub use state::{Candidate, Measures, State, Step, STATE_FILE};

use crate::{
    checkpoint::{self, checkpoint_dir},
    evaluate::exclusivity::exclusivity,
    files,
    plugins::Plugins,
    predict::{self, OutputFormat, PredictRequest, Rows, Tiling},
    registry::{Registry, RetrainOrder, RetrainSettings},
    train::{self, StopSignal, TrainRequest},
};
use anyhow::{bail, Context, Result};
use silico_imaging::dataset::{NonFinite, VoxelSize};
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};
use tch::Device;

/// What `silico retrain` was asked to do.
pub struct RetrainRequest {
    pub model: String,
    /// A folder holding `<structure>.csv` for every structure (as `silico synth` writes).
    pub data: PathBuf,
    /// A folder of run folders `<structure>/`, one per structure, trained with `model`.
    pub initial: PathBuf,
    pub out: PathBuf,
    /// The structures to use; empty: every run folder in `initial`.
    pub structures: Vec<String>,
    /// Replaces the registry's `retrain.iterations`.
    pub iterations: Option<u64>,
    pub resume: bool,
    pub device: Device,
    pub progress: bool,
    /// What to take for image files that give no voxel size.
    pub voxel_size: VoxelSize,
}

/// How a retraining ended.
pub struct RetrainOutcome {
    pub state: State,
    pub interrupted: bool,
}

pub fn retrain(
    registry: &Registry,
    plugins: &Plugins,
    request: &RetrainRequest,
    stop: &StopSignal,
) -> Result<RetrainOutcome> {
    let spec = registry.model(&request.model)?;
    let Some(settings) = &spec.retrain else {
        bail!(
            "key `models.{}.retrain`: missing; add a `retrain` table to the model in {} to retrain it",
            request.model,
            registry.path.display()
        );
    };
    let table = registry.model_table(&request.model)?;
    let iterations = request.iterations.unwrap_or(settings.iterations);
    let _lock = files::FolderLock::acquire(&request.out)?;
    let state_path = request.out.join(STATE_FILE);
    let mut state = match (request.resume, state_path.exists()) {
        (true, true) => State::resume(&state_path, &request.model, table, iterations)?,
        (true, false) => bail!(
            "{}: nothing to resume (no {STATE_FILE}); drop --resume to start",
            request.out.display()
        ),
        (false, true) => bail!(
            "{} already holds a retraining; pass --resume to continue it, or choose another --out",
            request.out.display()
        ),
        (false, false) => {
            let state = begin(plugins, request, table, settings, iterations)?;
            state.save(&state_path)?;
            state
        }
    };
    for structure in &state.structures {
        for split in ["train", "test"] {
            // Replacing a structure's predictions leaves a temporary folder if killed.
            files::remove_stale_temporaries(&prediction_folder(&request.out, split, structure));
        }
    }

    let retraining = Retraining {
        plugins,
        request,
        table,
        settings,
        iterations,
    };
    for step in state.steps.len()..state.order.len() {
        let structure = state.order[step].clone();
        for &p in settings.p_values(&structure) {
            if state.candidates.iter().any(|c| c.step == step && c.p == p) {
                continue;
            }
            match retraining.candidate(&state, step, &structure, p, stop)? {
                Some(candidate) => {
                    state.candidates.push(candidate);
                    state.save(&state_path)?;
                }
                None => {
                    return Ok(RetrainOutcome {
                        state,
                        interrupted: true,
                    })
                }
            }
        }
        let best = state
            .candidates
            .iter()
            .filter(|c| c.step == step)
            .max_by(|a, b| a.measures.ratio().total_cmp(&b.measures.ratio()))
            .expect("every step has at least one candidate")
            .clone();
        for split in ["train", "test"] {
            let from = prediction_folder(&best.run, split, &structure);
            let to = prediction_folder(&request.out, split, &structure);
            files::replace_dir(&to, |tmp| copy_files(&from, tmp))?;
        }
        state.current.insert(structure.clone(), best.run.clone());
        state.steps.push(Step {
            structure,
            p: best.p,
            run: best.run,
            measures: best.measures,
        });
        state.save(&state_path)?;
    }
    let after = exclusivity(
        plugins,
        &test_folders(&request.out, &state.structures, None),
        None,
    )?;
    report::write(&state, &after, &request.out.join(REPORT))?;
    Ok(RetrainOutcome {
        state,
        interrupted: false,
    })
}

/// The initial state: every structure's initial model predicts every image, and the set is
/// measured and ranked.
fn begin(
    plugins: &Plugins,
    request: &RetrainRequest,
    table: &toml::Table,
    settings: &RetrainSettings,
    iterations: u64,
) -> Result<State> {
    let structures = initial_structures(request)?;
    let mut current = BTreeMap::new();
    let mut mse = BTreeMap::new();
    for structure in &structures {
        let run = request.initial.join(structure);
        let (_, meta) = checkpoint::read_meta(&checkpoint_dir(&run))?;
        if meta.model != request.model || meta.structure != *structure {
            bail!(
                "{}: holds model `{}` for `{}`; --initial must hold `{}` runs named after their structures",
                run.display(),
                meta.model,
                meta.structure,
                request.model
            );
        }
        let test = predict_into(plugins, request, &run, &request.out)?;
        mse.insert(structure.clone(), test);
        current.insert(structure.clone(), run);
    }
    let report = exclusivity(
        plugins,
        &test_folders(&request.out, &structures, None),
        None,
    )?;
    report::write_before(&report, &request.out.join(REPORT))?;
    let before = Measures::of(&report, mse);
    let (order, skipped) = retraining_order(&before, settings);
    if order.is_empty() {
        bail!(
            "key `models.{}.retrain.skip`: skips every structure given ({}); nothing to retrain",
            request.model,
            structures.join(", ")
        );
    }
    Ok(State {
        model: request.model.clone(),
        definition: table.to_string(),
        iterations,
        structures,
        order,
        skipped,
        current,
        before,
        candidates: Vec::new(),
        steps: Vec::new(),
    })
}

/// The run folders of `--initial` (those with a checkpoint), restricted to `--structure`.
fn initial_structures(request: &RetrainRequest) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let entries = fs::read_dir(&request.initial).with_context(|| {
        format!(
            "cannot read {}; --initial takes a folder of run folders, one per structure",
            request.initial.display()
        )
    })?;
    for entry in entries {
        let path = entry?.path();
        if checkpoint::locate(&checkpoint_dir(&path)).is_some() {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                found.push(name.to_string());
            }
        }
    }
    found.sort();
    let structures = if request.structures.is_empty() {
        found
    } else {
        for s in &request.structures {
            if !found.contains(s) {
                bail!(
                    "{}: no run for `{s}` (runs: {}); train it there or drop it from --structure",
                    request.initial.join(s).display(),
                    found.join(", ")
                );
            }
        }
        let mut wanted = request.structures.clone();
        wanted.sort();
        wanted.dedup();
        wanted
    };
    if structures.len() < 2 {
        bail!(
            "{}: retraining needs runs of at least 2 structures (found: {})",
            request.initial.display(),
            structures.join(", ")
        );
    }
    Ok(structures)
}

/// Structures to retrain in the configured order, and those skipped. Ties keep name order.
fn retraining_order(before: &Measures, settings: &RetrainSettings) -> (Vec<String>, Vec<String>) {
    let (mut order, skipped): (Vec<String>, Vec<String>) = before
        .organelle_exclusivity
        .keys()
        .cloned()
        .partition(|s| !settings.skip.contains(s));
    let key = |s: &String| {
        let e = before.organelle_exclusivity[s];
        // A structure that is never highest has no organelle exclusivity: rank it least exclusive.
        if e.is_nan() {
            f64::NEG_INFINITY
        } else {
            e
        }
    };
    order.sort_by(|a, b| match settings.order {
        RetrainOrder::Decreasing => key(b).total_cmp(&key(a)),
        RetrainOrder::Increasing => key(a).total_cmp(&key(b)),
    });
    (order, skipped)
}

/// Predicts the train and the test rows of `run`'s structure into `root`'s prediction folders
/// ([`prediction_folder`]); returns the test MSE (voxel-weighted over images).
fn predict_into(
    plugins: &Plugins,
    request: &RetrainRequest,
    run: &Path,
    root: &Path,
) -> Result<f64> {
    let mut test_mse = None;
    for (rows, split) in [(Rows::Train, "train"), (Rows::Test, "test")] {
        let predictions = predict::predict(
            plugins,
            &PredictRequest {
                checkpoint: run.to_path_buf(),
                input: request.data.clone(),
                out: root.join(PREDICTIONS).join(split),
                tiling: Tiling::default(),
                flips: false,
                rows,
                device: request.device,
                precision: None,
                memory_format: None,
                verbose: false,
                voxel_size: request.voxel_size,
                non_finite: NonFinite::Refuse,
                resample: true,
                channel: None,
                format: OutputFormat::Tiff,
            },
        )?;
        if rows == Rows::Test {
            let (mut sum, mut voxels) = (0.0, 0usize);
            for p in &predictions {
                let Some(mse) = p.mse else {
                    bail!("{}: no target to measure MSE against", p.path.display());
                };
                sum += mse * p.voxels as f64;
                voxels += p.voxels;
            }
            test_mse = Some(sum / voxels as f64);
        }
    }
    Ok(test_mse.expect("the test rows were predicted"))
}

const PREDICTIONS: &str = "predictions";
const REPORT: &str = "report";

/// Where `root` (the retraining's folder, or one run's) keeps its predictions of `structure`
/// for the `split` ("train" or "test") rows, as `silico predict` lays them out.
fn prediction_folder(root: &Path, split: &str, structure: &str) -> PathBuf {
    root.join(PREDICTIONS).join(split).join(structure)
}

/// Every structure's test predictions under `out`, except that `candidate`'s structure takes
/// the run's own: the set a candidate is measured on.
fn test_folders(
    out: &Path,
    structures: &[String],
    candidate: Option<(&str, &Path)>,
) -> Vec<(String, PathBuf)> {
    structures
        .iter()
        .map(|s| {
            let root = match candidate {
                Some((structure, run)) if structure == s => run,
                _ => out,
            };
            (s.clone(), prediction_folder(root, "test", s))
        })
        .collect()
}

/// What every retraining run shares.
struct Retraining<'a> {
    plugins: &'a Plugins,
    request: &'a RetrainRequest,
    table: &'a toml::Table,
    settings: &'a RetrainSettings,
    iterations: u64,
}

impl Retraining<'_> {
    /// Trains (or resumes) the run of `structure` with weight `p`, predicts with it and measures
    /// the set with its predictions in place of the current ones. `None`: interrupted.
    fn candidate(
        &self,
        state: &State,
        step: usize,
        structure: &str,
        p: f64,
        stop: &StopSignal,
    ) -> Result<Option<Candidate>> {
        let out = &self.request.out;
        let run = out
            .join("steps")
            .join(format!("{}-{structure}", step + 1))
            .join(format!("p{p}"));
        let definition = retraining_definition(self.table, self.settings, p);
        let started = checkpoint::locate(&checkpoint_dir(&run))
            .map(|dir| checkpoint::read_meta(&dir))
            .transpose()?
            .map(|(_, meta)| meta.iteration);
        if started.is_none_or(|done| done < self.iterations) {
            let others = state
                .structures
                .iter()
                .filter(|s| *s != structure)
                .map(|s| prediction_folder(out, "train", s))
                .collect();
            let outcome = train::train(
                self.plugins,
                &TrainRequest {
                    model: self.request.model.clone(),
                    definition,
                    structure: structure.to_string(),
                    data: self.request.data.clone(),
                    out: run.clone(),
                    iterations: Some(self.iterations),
                    device: self.request.device,
                    resume: started.is_some(),
                    init: (!self.settings.from_scratch)
                        .then(|| checkpoint_dir(&state.current[structure])),
                    others,
                    progress: self.request.progress,
                    voxel_size: self.request.voxel_size,
                    non_finite: NonFinite::Refuse,
                },
                stop,
            )
            .with_context(|| {
                format!("retraining `{structure}` with p = {p} in {}", run.display())
            })?;
            if outcome.interrupted {
                return Ok(None);
            }
        }
        let test_mse = predict_into(self.plugins, self.request, &run, &run)?;
        let folders = test_folders(out, &state.structures, Some((structure, &run)));
        let report = exclusivity(self.plugins, &folders, None)?;
        let mut mse = state.after().mse.clone();
        mse.insert(structure.to_string(), test_mse);
        Ok(Some(Candidate {
            step,
            structure: structure.to_string(),
            p,
            run,
            measures: Measures::of(&report, mse),
        }))
    }
}

/// The model's registry table with the exclusivity term added at weight `p` and the retraining
/// learning rate, without its `retrain` table, which the run itself does not use.
fn retraining_definition(table: &toml::Table, settings: &RetrainSettings, p: f64) -> toml::Table {
    let mut table = table.clone();
    table.remove("retrain");
    if let Some(lr) = settings.lr {
        let train = table
            .entry("train")
            .or_insert_with(|| toml::Table::new().into());
        if let Some(train) = train.as_table_mut() {
            train.insert("lr".into(), lr.into());
        }
    }
    let loss = &settings.loss;
    let mut term = loss.config.clone();
    term.insert("component".into(), loss.component.clone().into());
    term.insert("weight".into(), p.into());
    if let Some(toml::Value::Array(losses)) = table.get_mut("losses") {
        losses.push(term.into());
    }
    table
}

fn copy_files(from: &Path, to: &Path) -> Result<()> {
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let path = entry?.path();
        if path.is_file() {
            let target = to.join(path.file_name().expect("a file has a name"));
            fs::copy(&path, &target).with_context(|| {
                format!("cannot copy {} to {}", path.display(), target.display())
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{ComponentRef, ModelSpec};

    fn measures(organelle: &[(&str, f64)]) -> Measures {
        Measures {
            overall_exclusivity: 1.0,
            overall_mse: 0.5,
            organelle_exclusivity: organelle.iter().map(|(s, e)| (s.to_string(), *e)).collect(),
            mse: organelle
                .iter()
                .map(|(s, _)| (s.to_string(), 0.5))
                .collect(),
        }
    }

    #[test]
    fn order_follows_the_setting_and_skips_the_listed() {
        let before = measures(&[("a", 0.2), ("b", 0.9), ("c", f64::NAN), ("d", 0.5)]);
        let mut settings = RetrainSettings {
            skip: vec!["d".into()],
            ..RetrainSettings::default()
        };
        assert_eq!(
            retraining_order(&before, &settings),
            (vec!["b".into(), "a".into(), "c".into()], vec!["d".into()])
        );
        settings.order = RetrainOrder::Increasing;
        assert_eq!(retraining_order(&before, &settings).0, vec!["c", "a", "b"]);
    }

    #[test]
    fn the_retraining_definition_adds_the_weighted_term() {
        let table: toml::Table = r#"
            generator = { component = "unet3d" }
            losses = [{ component = "mse" }]
            retrain = { p = [1.0] }
        "#
        .parse()
        .unwrap();
        let settings = RetrainSettings {
            lr: Some(1e-4),
            loss: ComponentRef {
                component: "exclusivity".into(),
                config: [("margin".to_string(), toml::Value::from(0.5))]
                    .into_iter()
                    .collect(),
            },
            ..RetrainSettings::default()
        };
        let spec =
            ModelSpec::from_table("m", &retraining_definition(&table, &settings, 2.5)).unwrap();
        assert_eq!(spec.train.lr, 1e-4);
        assert!(spec.retrain.is_none());
        assert_eq!(spec.losses.len(), 2);
        assert_eq!(spec.losses[1].component.component, "exclusivity");
        assert_eq!(spec.losses[1].weight, 2.5);
        assert_eq!(
            spec.losses[1].component.config["margin"].as_float(),
            Some(0.5)
        );
    }
}
