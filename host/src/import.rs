//! `silico import`: a run folder whose checkpoint (iteration 0) holds generator weights made
//! elsewhere, so that `silico predict` uses them and `silico train --init` fine-tunes them.
//!
//! The weights are a state dict as PyTorch saves it: safetensors, or a `torch.save` pickle
//! (converted by `python/import_state.py` with `$SILICO_PYTHON`). Its names are fitted to the
//! network's: wrapper prefixes (`module.` from DataParallel, `_orig_mod.` from torch.compile)
//! are stripped, and bookkeeping buffers the network does not keep (BatchNorm's
//! `num_batches_tracked`) are dropped. Anything else that differs fails, naming the first key.

use crate::{
    checkpoint::{self, checkpoint_dir, CheckpointMeta},
    plugins::Plugins,
    registry::Registry,
    trainer::Trainer,
};
use anyhow::{bail, Context, Result};
use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    process::Command,
};
use tch::{Device, Tensor};

/// Prefixes that PyTorch's wrappers put before every name.
const WRAPPER_PREFIXES: [&str; 2] = ["module.", "_orig_mod."];

/// Buffers that count or profile rather than compute: BatchNorm's step counter, and the
/// per-module counters of the `thop` profiler.
const BOOKKEEPING_BUFFERS: [&str; 3] = ["num_batches_tracked", "total_ops", "total_params"];

/// The converter of `torch.save` pickles, shipped inside the binary.
const CONVERTER: &str = include_str!("../../python/import_state.py");

/// What an import made.
pub struct Imported {
    /// The checkpoint folder.
    pub checkpoint: PathBuf,
    /// The bookkeeping buffers dropped from the file, by name.
    pub ignored: Vec<String>,
}

/// Imports the generator weights in `weights` as model `model_name` for `structure` into the
/// run folder `out`.
pub fn import_weights(
    registry: &Registry,
    plugins: &Plugins,
    model_name: &str,
    structure: &str,
    weights: &Path,
    out: &Path,
) -> Result<Imported> {
    let spec = registry.model(model_name)?;
    let dir = checkpoint_dir(out);
    if checkpoint::locate(&dir).is_some() {
        bail!(
            "{} already holds a run; choose another --out",
            out.display()
        );
    }
    let mut trainer = Trainer::build(plugins, model_name, spec, spec.train.seed, Device::Cpu)?
        .without_discriminator();
    let saved = read_state_dict(weights)?;
    let network = trainer.model().generator.state()?;
    let fitted = fit_state(saved, &network).with_context(|| {
        format!(
            "{} does not fit model `{model_name}`'s {}",
            weights.display(),
            trainer.model().generator.label()
        )
    })?;
    trainer
        .load_generator(&fitted.tensors)
        .with_context(|| weights.display().to_string())?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let meta = CheckpointMeta {
        iteration: 0,
        model: model_name.to_string(),
        model_table: registry.model_table(model_name)?.to_string(),
        structure: structure.to_string(),
        in_channels: 1,
        out_channels: 1,
        // Weights from elsewhere come without the voxel size they were trained at.
        voxel_um: None,
    };
    trainer.save(&dir, &meta)?;
    Ok(Imported {
        checkpoint: dir,
        ignored: fitted.ignored,
    })
}

/// The tensors of a safetensors file or of a `torch.save` pickle (zip or legacy format), by
/// name as saved.
pub fn read_state_dict(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let mut head = [0u8; 4];
    let read = std::fs::File::open(path)
        .and_then(|mut file| std::io::Read::read(&mut file, &mut head))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let zip = read == 4 && head == *b"PK\x03\x04";
    let pickle = read >= 1 && head[0] == 0x80;
    if zip || pickle {
        convert_pickle(path)
    } else {
        checkpoint::read_tensors(path)
    }
}

/// `torch.load`s `path` with weights_only in `$SILICO_PYTHON` (else `python3`) and reads the
/// safetensors it is converted to.
fn convert_pickle(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let python = std::env::var("SILICO_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    let script = scratch.path().join("import_state.py");
    std::fs::write(&script, CONVERTER)
        .with_context(|| format!("cannot write {}", script.display()))?;
    let converted = scratch.path().join("state.safetensors");
    let output = Command::new(&python)
        .arg(&script)
        .arg(path)
        .arg(&converted)
        .output()
        .with_context(|| {
            format!(
                "{}: a PyTorch pickle, converted with Python, but `{python}` does not run; set SILICO_PYTHON to a Python with torch and safetensors",
                path.display()
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("no message");
        bail!(
            "{}: {python} could not convert this PyTorch file: {reason}",
            path.display()
        );
    }
    checkpoint::read_tensors(&converted)
}

/// A saved state with the network's names: what [`fit_state`] kept and dropped.
#[derive(Debug)]
pub struct FittedState {
    pub tensors: Vec<(String, Tensor)>,
    pub ignored: Vec<String>,
}

/// Fits `saved` to the names and shapes of `network`'s state: strips wrapper prefixes, drops
/// bookkeeping buffers the network does not keep, and fails on the first other difference.
pub fn fit_state(
    saved: Vec<(String, Tensor)>,
    network: &[(String, Tensor)],
) -> Result<FittedState> {
    let expected: BTreeMap<&str, Vec<i64>> = network
        .iter()
        .map(|(name, tensor)| (name.as_str(), tensor.size()))
        .collect();
    let mut kept: BTreeMap<String, Tensor> = BTreeMap::new();
    let mut ignored = Vec::new();
    for (name, tensor) in saved {
        let name = unwrapped(&name, &expected);
        if !expected.contains_key(name.as_str()) && is_bookkeeping(&name) {
            ignored.push(name);
        } else if kept.insert(name.clone(), tensor).is_some() {
            bail!("`{name}` is in the file twice (with and without a wrapper prefix)");
        }
    }
    let names: std::collections::BTreeSet<&str> = expected
        .keys()
        .copied()
        .chain(kept.keys().map(String::as_str))
        .collect();
    let differences: Vec<String> = names
        .into_iter()
        .filter_map(
            |name| match (kept.get(name).map(Tensor::size), expected.get(name)) {
                (Some(found), Some(wanted)) if found == *wanted => None,
                (Some(found), Some(wanted)) => Some(format!(
                    "`{name}` has shape {found:?} in the file but {wanted:?} in the network"
                )),
                (None, Some(wanted)) => Some(format!(
                    "the network's `{name}` {wanted:?} is missing from the file"
                )),
                (Some(found), None) => Some(format!(
                    "the file has `{name}` {found:?}, which the network does not"
                )),
                (None, None) => unreachable!("every name comes from one side"),
            },
        )
        .collect();
    if let Some(first) = differences.first() {
        match differences.len() {
            1 => bail!("{first}"),
            n => bail!("{first} ({n} keys differ in all)"),
        }
    }
    Ok(FittedState {
        tensors: kept.into_iter().collect(),
        ignored,
    })
}

/// `name` without the wrapper prefixes, unless the network has it as it is.
fn unwrapped(name: &str, expected: &BTreeMap<&str, Vec<i64>>) -> String {
    let mut name = name;
    while !expected.contains_key(name) {
        match WRAPPER_PREFIXES
            .iter()
            .find_map(|prefix| name.strip_prefix(prefix))
        {
            Some(inner) => name = inner,
            None => break,
        }
    }
    name.to_string()
}

fn is_bookkeeping(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    BOOKKEEPING_BUFFERS.contains(&last)
}

/// The kinds of bookkeeping buffers among `ignored` (their last name component), sorted.
pub fn bookkeeping_kinds(ignored: &[String]) -> Vec<&str> {
    let mut kinds: Vec<&str> = ignored
        .iter()
        .map(|name| name.rsplit('.').next().unwrap_or(name))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    kinds.sort_unstable();
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn tensor(shape: &[i64]) -> Tensor {
        Tensor::zeros(shape, (Kind::Float, Device::Cpu))
    }

    fn network() -> Vec<(String, Tensor)> {
        vec![
            ("bn.running_mean".into(), tensor(&[4])),
            ("conv.weight".into(), tensor(&[4, 1, 3, 3, 3])),
        ]
    }

    fn names(state: &[(String, Tensor)]) -> Vec<&str> {
        state.iter().map(|(name, _)| name.as_str()).collect()
    }

    #[test]
    fn wrapper_prefixes_and_bookkeeping_buffers_go() {
        let saved = vec![
            ("module.conv.weight".into(), tensor(&[4, 1, 3, 3, 3])),
            ("module.bn.running_mean".into(), tensor(&[4])),
            ("module.bn.num_batches_tracked".into(), tensor(&[])),
        ];
        let fitted = fit_state(saved, &network()).unwrap();
        assert_eq!(names(&fitted.tensors), ["bn.running_mean", "conv.weight"]);
        assert_eq!(fitted.ignored, ["bn.num_batches_tracked"]);
        assert_eq!(bookkeeping_kinds(&fitted.ignored), ["num_batches_tracked"]);
    }

    #[test]
    fn a_buffer_the_network_keeps_is_loaded() {
        let mut network = network();
        network.push(("bn.num_batches_tracked".into(), tensor(&[])));
        let mut saved = network
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect::<Vec<_>>();
        saved.reverse();
        let fitted = fit_state(saved, &network).unwrap();
        assert_eq!(fitted.tensors.len(), 3);
        assert!(fitted.ignored.is_empty());
    }

    #[test]
    fn the_first_difference_is_named() {
        let shape = fit_state(
            vec![
                ("conv.weight".into(), tensor(&[8, 1, 3, 3, 3])),
                ("bn.running_mean".into(), tensor(&[8])),
            ],
            &network(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            shape,
            "`bn.running_mean` has shape [8] in the file but [4] in the network (2 keys differ in all)"
        );
        let missing = fit_state(
            vec![("conv.weight".into(), tensor(&[4, 1, 3, 3, 3]))],
            &network(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            missing,
            "the network's `bn.running_mean` [4] is missing from the file"
        );
        let mut saved = network();
        saved.push(("head.bias".into(), tensor(&[1])));
        let unexpected = fit_state(saved, &network()).unwrap_err().to_string();
        assert_eq!(
            unexpected,
            "the file has `head.bias` [1], which the network does not"
        );
    }

    #[test]
    fn a_name_twice_is_refused() {
        let mut saved = network();
        saved.push(("module.conv.weight".into(), tensor(&[4, 1, 3, 3, 3])));
        let error = fit_state(saved, &network()).unwrap_err().to_string();
        assert!(
            error.contains("`conv.weight` is in the file twice"),
            "{error}"
        );
    }
}
