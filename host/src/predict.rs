//! `silico predict`: whole images of any size through a trained generator.
//!
//! Images are cut into overlapping tiles whose sides are multiples of 16 (the U-Net's 2⁴), each
//! tile's prediction is weighted by a separable triangular window and the weighted sum is
//! divided by the summed weights, so that memory stays bounded and no seam shows
//! (pytorch_fnet's `predict_piecewise`). Optional test-time augmentation averages over flips in
//! x and y. Predictions go to `OUT/<structure>/<image>.tif`, so that several models' predictions
//! of the same bright-field images sit side by side for the evaluators.

use crate::{
    checkpoint::{self, checkpoint_dir},
    data::{load_options, manifest_path},
    files,
    model::Model,
    plugins::Plugins,
    registry::ModelSpec,
};
use anyhow::{bail, Context, Result};
use silico_imaging::{
    dataset::{image_names, load_image, ImageRef, Manifest, ManifestRow},
    tiff, Volume,
};
use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    rc::Rc,
};
use tch::{Device, Kind, Tensor};

/// Tile size and overlap (z, y, x) unless asked otherwise.
pub const DEFAULT_TILE: [i64; 3] = [32, 128, 128];
pub const DEFAULT_OVERLAP: [i64; 3] = [16, 32, 32];

/// Tile sides are rounded to multiples of this.
const MULTIPLE: i64 = 16;

pub struct PredictRequest {
    /// A run folder (`silico train --out`) or its checkpoint folder.
    pub checkpoint: PathBuf,
    /// A TIFF, a manifest CSV, or a folder holding `<structure>.csv`.
    pub input: PathBuf,
    pub out: PathBuf,
    /// Tile size (z, y, x); rounded up to multiples of 16 and capped at the padded image.
    pub tile: [i64; 3],
    /// Overlap of neighbouring tiles (z, y, x).
    pub overlap: [i64; 3],
    /// Average over flips in x and y.
    pub flips: bool,
    /// Which rows of a manifest.
    pub rows: Rows,
    pub device: Device,
}

/// Which rows of a manifest to predict; a split is the one the model was trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    All,
    Train,
    Test,
}

/// One predicted image.
pub struct Prediction {
    pub name: String,
    pub path: PathBuf,
    /// Pearson correlation and mean squared error against the target, when there is one.
    pub pearson: Option<f64>,
    pub mse: Option<f64>,
    pub voxels: usize,
}

/// A loaded generator ready to predict.
pub struct Predictor {
    model: Model,
    pub structure: String,
    device: Device,
}

impl Predictor {
    pub fn load(plugins: &Plugins, checkpoint: &Path, device: Device) -> Result<Self> {
        let dir = if checkpoint.join("checkpoint.json").exists() {
            checkpoint.to_path_buf()
        } else {
            checkpoint_dir(checkpoint)
        };
        let (dir, meta) = checkpoint::read_meta(&dir)?;
        let table: toml::Table = meta.model_table.parse().with_context(|| {
            format!("{}: the model definition is not valid TOML", dir.display())
        })?;
        let spec = ModelSpec::from_table(&meta.model, &table)?;
        let mut model = Model::build(
            plugins,
            &meta.model,
            &spec,
            meta.in_channels,
            meta.out_channels,
            device,
        )?;
        model.discriminator = None;
        let path = dir.join(checkpoint::GENERATOR_FILE);
        model
            .generator
            .load_state(&checkpoint::read_tensors(&path)?)
            .with_context(|| path.display().to_string())?;
        Ok(Self {
            model,
            structure: meta.structure,
            device,
        })
    }

    /// Predicts a z-scored (Z, Y, X) image; returns (Z, Y, X) on the CPU.
    pub fn predict(
        &self,
        image: &Tensor,
        tile: [i64; 3],
        overlap: [i64; 3],
        flips: bool,
    ) -> Result<Tensor> {
        let views: &[&[i64]] = if flips {
            &[&[], &[2], &[1], &[1, 2]]
        } else {
            &[&[]]
        };
        let mut sum: Option<Tensor> = None;
        for dims in views {
            let flipped = if dims.is_empty() {
                image.shallow_clone()
            } else {
                image.flip(*dims)
            };
            let mut out = self.predict_tiled(&flipped, tile, overlap)?;
            if !dims.is_empty() {
                out = out.flip(*dims);
            }
            sum = Some(match sum {
                Some(s) => s + out,
                None => out,
            });
        }
        Ok(sum.expect("at least one view") / views.len() as f64)
    }

    fn predict_tiled(&self, image: &Tensor, tile: [i64; 3], overlap: [i64; 3]) -> Result<Tensor> {
        let size: [i64; 3] = image
            .size()
            .try_into()
            .map_err(|_| anyhow::anyhow!("expected a (Z, Y, X) image"))?;
        // Pad each axis up to a multiple of 16 (with the mean of a z-scored image, 0).
        let padded: [i64; 3] = std::array::from_fn(|a| round_up(size[a], MULTIPLE));
        let image = image.constant_pad_nd([
            0,
            padded[2] - size[2],
            0,
            padded[1] - size[1],
            0,
            padded[0] - size[0],
        ]);
        let tile: [i64; 3] =
            std::array::from_fn(|a| round_up(tile[a].max(1), MULTIPLE).min(padded[a]));
        let window = triangular_window(tile);
        let sum = Tensor::zeros(padded, (Kind::Float, Device::Cpu));
        let weight = Tensor::zeros(padded, (Kind::Float, Device::Cpu));
        let _no_grad = tch::no_grad_guard();
        for z in tile_starts(padded[0], tile[0], overlap[0]) {
            for y in tile_starts(padded[1], tile[1], overlap[1]) {
                for x in tile_starts(padded[2], tile[2], overlap[2]) {
                    let input = image
                        .narrow(0, z, tile[0])
                        .narrow(1, y, tile[1])
                        .narrow(2, x, tile[2])
                        .reshape([1, 1, tile[0], tile[1], tile[2]])
                        .to_device(self.device);
                    let output = self
                        .model
                        .generator
                        .forward_t(&input, false)?
                        .to_device(Device::Cpu);
                    let output = output.reshape(tile);
                    let mut target = sum
                        .narrow(0, z, tile[0])
                        .narrow(1, y, tile[1])
                        .narrow(2, x, tile[2]);
                    let _ = target.f_add_(&(&output * &window))?;
                    let mut target = weight
                        .narrow(0, z, tile[0])
                        .narrow(1, y, tile[1])
                        .narrow(2, x, tile[2]);
                    let _ = target.f_add_(&window)?;
                }
            }
        }
        let out = sum / weight;
        Ok(out
            .narrow(0, 0, size[0])
            .narrow(1, 0, size[1])
            .narrow(2, 0, size[2])
            .contiguous())
    }
}

fn round_up(n: i64, multiple: i64) -> i64 {
    (n + multiple - 1) / multiple * multiple
}

/// Tile origins along one axis: every `tile − overlap`, the last flush with the end.
fn tile_starts(size: i64, tile: i64, overlap: i64) -> Vec<i64> {
    let step = (tile - overlap.clamp(0, tile - 1)).max(1);
    let last = size - tile;
    let mut starts: Vec<i64> = (0..=last).step_by(step as usize).collect();
    if *starts.last().expect("tile fits the padded image") != last {
        starts.push(last);
    }
    starts
}

/// scipy.signal.windows.triang(n) along each axis, multiplied: positive everywhere, highest at
/// the centre.
fn triangular_window(tile: [i64; 3]) -> Tensor {
    let axis = |n: i64| {
        let values: Vec<f32> = (0..n)
            .map(|k| {
                let (k, n) = (k as f64, n as f64);
                let half = if n as i64 % 2 == 0 { n } else { n + 1.0 };
                (1.0 - (2.0 * k + 1.0 - n).abs() / half) as f32
            })
            .collect();
        Tensor::from_slice(&values)
    };
    let (z, y, x) = (axis(tile[0]), axis(tile[1]), axis(tile[2]));
    z.view([-1, 1, 1]) * y.view([1, -1, 1]) * x.view([1, 1, -1])
}

fn volume_to_tensor(volume: &Volume) -> Result<Tensor> {
    let [_, z, y, x] = volume.shape;
    Ok(Tensor::from_slice(&volume.data[..z * y * x]).f_view([z as i64, y as i64, x as i64])?)
}

/// Pearson r and MSE of two equal-size tensors.
fn agreement(prediction: &Tensor, target: &Tensor) -> (f64, f64) {
    let p = prediction.to_kind(Kind::Double).flatten(0, -1);
    let t = target.to_kind(Kind::Double).flatten(0, -1);
    let (pc, tc) = (&p - p.mean(Kind::Double), &t - t.mean(Kind::Double));
    let r = (&pc * &tc).sum(Kind::Double)
        / ((&pc * &pc).sum(Kind::Double) * (&tc * &tc).sum(Kind::Double)).sqrt();
    let mse = (&p - &t).square().mean(Kind::Double);
    (r.double_value(&[]), mse.double_value(&[]))
}

/// What one predicted image comes from: a lone bright-field file, or a manifest row, whose
/// target is loaded with it to measure the prediction.
enum Source {
    Image(ImageRef),
    Row(Rc<Manifest>, ManifestRow),
}

pub fn predict(plugins: &Plugins, request: &PredictRequest) -> Result<Vec<Prediction>> {
    let predictor = Predictor::load(plugins, &request.checkpoint, request.device)?;
    let structure = predictor.structure.clone();
    // Each image is loaded only when its turn comes, through the loader training uses.
    let jobs: Vec<(String, Source)> = if request
        .input
        .extension()
        .is_some_and(|e| e == "tif" || e == "tiff")
    {
        let name = image_names(std::slice::from_ref(&request.input)).remove(0);
        let image = ImageRef {
            path: request.input.clone(),
            channel: None,
        };
        vec![(name, Source::Image(image))]
    } else {
        let csv = manifest_path(&request.input, &structure);
        let manifest = Rc::new(Manifest::load(&csv)?);
        manifest.check_files()?;
        let wanted: Option<HashSet<usize>> = match request.rows {
            Rows::All => None,
            split => {
                let rows = manifest.split(
                    crate::data::split_spec(&manifest),
                    predictor.model.train.seed,
                )?;
                let rows = if split == Rows::Train {
                    rows.train
                } else {
                    rows.test
                };
                Some(rows.iter().map(|r| r.line).collect())
            }
        };
        let jobs: Vec<(String, Source)> = manifest
            .rows
            .iter()
            .zip(manifest.image_names())
            .filter(|(r, _)| wanted.as_ref().is_none_or(|lines| lines.contains(&r.line)))
            .map(|(r, name)| (name, Source::Row(manifest.clone(), r.clone())))
            .collect();
        if jobs.is_empty() {
            bail!("{}: no rows to predict", csv.display());
        }
        jobs
    };
    let folder = request.out.join(&structure);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let mut predictions = Vec::new();
    for (name, source) in jobs {
        let (signal, target) = match &source {
            Source::Image(image) => (load_image(image, load_options())?, None),
            Source::Row(manifest, row) => {
                let pair = manifest.load_pair(row, load_options())?;
                (pair.signal, Some(pair.target))
            }
        };
        let output = predictor.predict(
            &volume_to_tensor(&signal)?,
            request.tile,
            request.overlap,
            request.flips,
        )?;
        let [z, y, x] = signal.spatial_shape();
        let data = Vec::<f32>::try_from(output.flatten(0, -1))?;
        let volume = Volume::from_data(data, [1, z, y, x], signal.voxel_um)?;
        let path = folder.join(format!("{name}.tif"));
        tiff::write_volume(&path, &volume)?;
        let (pearson, mse) = match target {
            Some(target) => {
                let (r, mse) = agreement(&output, &volume_to_tensor(&target)?);
                (Some(r), Some(mse))
            }
            None => (None, None),
        };
        predictions.push(Prediction {
            name,
            path,
            pearson,
            mse,
            voxels: z * y * x,
        });
    }
    write_predictions_csv(&folder.join("predictions.csv"), &predictions)?;
    Ok(predictions)
}

#[derive(serde::Serialize)]
struct PredictionRow<'a> {
    image: &'a str,
    path: String,
    pearson_r: String,
    mse: String,
}

/// `predictions.csv`: each image's name, file, and Pearson r and MSE (six decimals; empty
/// without a target).
fn write_predictions_csv(path: &Path, predictions: &[Prediction]) -> Result<()> {
    let show = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
    let mut writer = csv::Writer::from_writer(Vec::new());
    for p in predictions {
        writer.serialize(PredictionRow {
            image: &p.name,
            path: p.path.display().to_string(),
            pearson_r: show(p.pearson),
            mse: show(p.mse),
        })?;
    }
    files::write_atomic(path, &writer.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_axis_and_end_flush() {
        assert_eq!(tile_starts(64, 32, 16), vec![0, 16, 32]);
        assert_eq!(tile_starts(80, 32, 8), vec![0, 24, 48]);
        assert_eq!(tile_starts(32, 32, 16), vec![0]);
    }

    #[test]
    fn window_matches_scipy_triang() {
        // scipy.signal.windows.triang(4) = [0.25, 0.75, 0.75, 0.25]; triang(3) = [0.5, 1, 0.5].
        let w = triangular_window([4, 3, 1]);
        let values = Vec::<f32>::try_from(w.flatten(0, -1)).unwrap();
        assert_eq!(&values[..3], &[0.125, 0.25, 0.125]);
        assert_eq!(&values[3..6], &[0.375, 0.75, 0.375]);
    }
}
