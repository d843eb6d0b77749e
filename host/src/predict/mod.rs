//! `silico predict`: whole images of any size through a trained generator.
//!
//! An image goes through the network whole when its forward pass fits the memory budget
//! (measured on forward passes over zeros of growing size, then extrapolated), since every
//! overlap of tiles is computed twice; otherwise it is cut into the overlapping tiles that
//! compute the fewest voxels within the budget, sides multiples of 16 (the U-Net's 2⁴), as many
//! per forward pass as fit.
//! Each tile's prediction is weighted by a separable triangular window and the weighted sum is
//! divided by the summed weights, so that no seam shows (pytorch_fnet's `predict_piecewise`).
//! Forward passes run at the requested precision (autocast) and, where it was measured to pay,
//! channels-last. Optional test-time augmentation averages over flips in x and y. Predictions
//! go to `OUT/<structure>/<image>.tif`, so that several models' predictions of the same
//! bright-field images sit side by side for the evaluators.

use crate::{
    checkpoint::{self, checkpoint_dir},
    data::{load_options, manifest_path},
    files,
    model::Model,
    plugins::Plugins,
    precision::{MemoryFormat, Numerics, Precision},
    registry::ModelSpec,
};
use anyhow::{bail, Context, Result};
use silico_imaging::{
    dataset::{
        image_names, load_image, same_voxel_size, z_score, ImageRef, LoadOptions, Manifest,
        ManifestRow, NonFinite, VoxelSize,
    },
    image::is_zarr,
    resample::{resample_to_shape, resample_to_voxel},
    tiff,
    zarr::{self, OmeZarrImage, OmeZarrWriteOptions},
    ChannelSelector, Volume,
};
use std::{
    cell::RefCell,
    collections::HashSet,
    path::{Path, PathBuf},
    rc::Rc,
    time::Instant,
};
use tch::{Device, Kind, Tensor};
use tiling::{round_up, MULTIPLE};

mod memory;
mod stream;
mod tiling;

use memory::{gib, Probes};
use tiling::check_tile;
pub use tiling::TilePlan;

/// Overlap (z, y, x) of neighbouring tiles unless asked otherwise (none along an axis one tile
/// spans).
pub const DEFAULT_OVERLAP: [i64; 3] = [16, 32, 32];

/// How tiles are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tiling {
    /// The user's tile (z, y, x), rounded up to multiples of 16 and capped at the padded image;
    /// `None`: the tiling that fits the memory budget best.
    pub tile: Option<[i64; 3]>,
    pub overlap: [i64; 3],
    /// Bytes a forward pass may take; `None`: derived from the memory available.
    pub memory_budget: Option<u64>,
}

impl Tiling {
    /// Refuses a degenerate `--tile` or `--overlap` before anything is loaded or written.
    pub fn check(&self) -> Result<()> {
        if let Some(tile) = self.tile {
            return check_tile(tile, self.overlap);
        }
        if self.overlap.iter().any(|&o| o < 0) {
            bail!("--overlap {:?}: overlaps cannot be negative", self.overlap);
        }
        Ok(())
    }
}

impl Default for Tiling {
    fn default() -> Self {
        Self {
            tile: None,
            overlap: DEFAULT_OVERLAP,
            memory_budget: None,
        }
    }
}

pub struct PredictRequest {
    /// A run folder (`silico train --out`) or its checkpoint folder.
    pub checkpoint: PathBuf,
    /// A TIFF, a manifest CSV, or a folder holding `<structure>.csv`.
    pub input: PathBuf,
    pub out: PathBuf,
    pub tiling: Tiling,
    /// Average over flips in x and y.
    pub flips: bool,
    /// Which rows of a manifest.
    pub rows: Rows,
    pub device: Device,
    /// `None`: the precision the model was trained at.
    pub precision: Option<Precision>,
    /// `None`: the layout the model was trained in.
    pub memory_format: Option<MemoryFormat>,
    /// Say on stderr how the tiles were chosen.
    pub verbose: bool,
    /// What to take for image files that give no voxel size (`FromFile`: the model's).
    pub voxel_size: VoxelSize,
    /// Resample each image to the voxel size the model was trained at, and the prediction back
    /// to the image's grid.
    pub resample: bool,
    /// The channel of a lone multi-channel image (`None`: it must have one).
    pub channel: Option<ChannelSelector>,
    pub format: OutputFormat,
    /// What to do with NaN or infinite voxels of a bright-field image.
    pub non_finite: NonFinite,
}

/// The file format predictions are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// `<image>.tif`, an f32 ImageJ hyperstack.
    #[default]
    Tiff,
    /// `<image>.ome.zarr`, an OME-Zarr image with a pyramid; an OME-Zarr input too large for one
    /// forward pass streams from store to store tile by tile.
    OmeZarr,
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
    pub tiles: ChosenTiles,
    /// Seconds the prediction itself took (not loading or writing).
    pub seconds: f64,
}

/// The tiles of one image and why they are these, for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct ChosenTiles {
    pub plan: TilePlan,
    /// e.g. `--tile`, or the memory budget and the network's measured memory.
    pub reason: String,
}

/// A loaded generator ready to predict.
pub struct Predictor {
    model: Model,
    pub structure: String,
    numerics: Numerics,
    /// The voxel size the model was trained at, where known.
    pub voxel_um: Option<[f32; 3]>,
    /// The network's forward memory, measured on first need and reused for every image.
    probes: RefCell<Probes>,
}

/// Images up to this many voxels (16 × 64 × 64) go through whole without measuring memory.
const UNMEASURED_VOXELS: i64 = 16 * 64 * 64;

impl Predictor {
    pub fn load(
        plugins: &Plugins,
        checkpoint: &Path,
        device: Device,
        precision: Option<Precision>,
        memory_format: Option<MemoryFormat>,
    ) -> Result<Self> {
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
        let numerics = Numerics::new(
            device,
            precision.unwrap_or(spec.train.precision),
            memory_format.unwrap_or(spec.train.memory_format),
        );
        numerics.lay_out(&model.generator)?;
        Ok(Self {
            model,
            structure: meta.structure,
            numerics,
            voxel_um: meta.voxel_um,
            probes: RefCell::new(Probes::new(device)),
        })
    }

    /// Predicts a z-scored (Z, Y, X) image; returns (Z, Y, X) on the CPU and the tiles used.
    pub fn predict(
        &self,
        image: &Tensor,
        tiling: &Tiling,
        flips: bool,
    ) -> Result<(Tensor, ChosenTiles)> {
        let size: [i64; 3] = image
            .size()
            .try_into()
            .map_err(|_| anyhow::anyhow!("expected a (Z, Y, X) image"))?;
        let tiles = self.plan(size, tiling)?;
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
            let mut out = self.predict_tiled(&flipped, &tiles.plan)?;
            if !dims.is_empty() {
                out = out.flip(*dims);
            }
            sum = Some(match sum {
                Some(s) => s + out,
                None => out,
            });
        }
        Ok((sum.expect("at least one view") / views.len() as f64, tiles))
    }

    /// The tiles of an image of `size`: the user's, or the best that fit the memory budget.
    pub fn plan(&self, size: [i64; 3], tiling: &Tiling) -> Result<ChosenTiles> {
        let padded: [i64; 3] = std::array::from_fn(|a| round_up(size[a], MULTIPLE));
        tiling.check()?;
        if let Some(tile) = tiling.tile {
            return Ok(ChosenTiles {
                plan: tiling::fixed_plan(padded, tile, tiling.overlap),
                reason: "--tile".into(),
            });
        }
        let voxels: i64 = padded.iter().product();
        if voxels <= UNMEASURED_VOXELS {
            return Ok(ChosenTiles {
                plan: tiling::fixed_plan(padded, padded, tiling.overlap),
                reason: "the image is small enough to go through whole".into(),
            });
        }
        let (budget, source) = match tiling.memory_budget {
            Some(bytes) => (bytes, format!("--memory-budget {:.2} GiB", gib(bytes))),
            None => {
                let (bytes, source) = memory::default_budget(self.numerics.device)?;
                (bytes, format!("{:.1} GiB, {source}", gib(bytes)))
            }
        };
        let (memory, probed) = {
            let _no_grad = tch::no_grad_guard();
            self.probes
                .borrow_mut()
                .model(padded, budget, |[z, y, x]| {
                    let zeros = Tensor::zeros([1, 1, z, y, x], (Kind::Float, self.numerics.device));
                    self.forward(&zeros).map(drop)
                })?
        };
        Ok(ChosenTiles {
            plan: tiling::budget_plan(padded, tiling.overlap, memory, budget)?,
            reason: format!(
                "memory budget {source}; a forward pass takes {:.0} MiB + {:.0} bytes per voxel, \
                 measured on {probed}",
                memory.fixed / (1u64 << 20) as f64,
                memory.per_voxel
            ),
        })
    }

    /// The generator's forward pass in evaluation mode; fp32 out.
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        self.numerics.forward(&self.model.generator, input, false)
    }

    fn predict_tiled(&self, image: &Tensor, plan: &TilePlan) -> Result<Tensor> {
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
        let tile = plan.tile;
        let _no_grad = tch::no_grad_guard();
        let origins: Vec<[i64; 3]> = {
            let starts: [Vec<i64>; 3] =
                std::array::from_fn(|a| tiling::tile_starts(padded[a], tile[a], plan.overlap[a]));
            let mut origins = Vec::new();
            for &z in &starts[0] {
                for &y in &starts[1] {
                    for &x in &starts[2] {
                        origins.push([z, y, x]);
                    }
                }
            }
            origins
        };
        if origins.len() == 1 {
            // One tile spans the image: no blending, so no window to divide out.
            let input = image
                .reshape([1, 1, tile[0], tile[1], tile[2]])
                .to_device(self.numerics.device);
            let output = self.forward(&input)?.to_device(Device::Cpu).reshape(tile);
            return Ok(crop(&output, size));
        }
        let window = tiling::triangular_window(tile);
        let sum = Tensor::zeros(padded, (Kind::Float, Device::Cpu));
        let weight = Tensor::zeros(padded, (Kind::Float, Device::Cpu));
        let region = |t: &Tensor, [z, y, x]: [i64; 3]| {
            t.narrow(0, z, tile[0])
                .narrow(1, y, tile[1])
                .narrow(2, x, tile[2])
        };
        for batch in origins.chunks(plan.per_forward) {
            let tiles: Vec<Tensor> = batch.iter().map(|&o| region(&image, o)).collect();
            let input = Tensor::stack(&tiles, 0)
                .unsqueeze(1)
                .to_device(self.numerics.device);
            let output = self.forward(&input)?.to_device(Device::Cpu);
            for (i, &origin) in batch.iter().enumerate() {
                let _ =
                    region(&sum, origin).f_add_(&(output.get(i as i64).reshape(tile) * &window))?;
                let _ = region(&weight, origin).f_add_(&window)?;
            }
        }
        Ok(crop(&(sum / weight), size))
    }
}

fn crop(t: &Tensor, size: [i64; 3]) -> Tensor {
    t.narrow(0, 0, size[0])
        .narrow(1, 0, size[1])
        .narrow(2, 0, size[2])
        .contiguous()
}

fn volume_to_tensor(volume: &Volume) -> Result<Tensor> {
    let [_, z, y, x] = volume.shape;
    Ok(Tensor::from_slice(&volume.data[..z * y * x]).f_view([z as i64, y as i64, x as i64])?)
}

/// Pearson r and MSE of two tensors of one shape (refused otherwise: tch panics on a mismatch).
fn agreement(prediction: &Tensor, target: &Tensor) -> Result<(f64, f64)> {
    if prediction.size() != target.size() {
        bail!(
            "the prediction's shape {:?} differs from its target's {:?}",
            prediction.size(),
            target.size()
        );
    }
    let p = prediction.to_kind(Kind::Double).flatten(0, -1);
    let t = target.to_kind(Kind::Double).flatten(0, -1);
    let (pc, tc) = (&p - p.mean(Kind::Double), &t - t.mean(Kind::Double));
    let r = (&pc * &tc).sum(Kind::Double)
        / ((&pc * &pc).sum(Kind::Double) * (&tc * &tc).sum(Kind::Double)).sqrt();
    let mse = (&p - &t).square().mean(Kind::Double);
    Ok((r.f_double_value(&[])?, mse.f_double_value(&[])?))
}

/// What one predicted image comes from: a lone bright-field file, or a manifest row, whose
/// target is loaded with it to measure the prediction.
enum Source {
    Image(ImageRef),
    Row(Rc<Manifest>, ManifestRow),
}

pub fn predict(plugins: &Plugins, request: &PredictRequest) -> Result<Vec<Prediction>> {
    request.tiling.check()?;
    let predictor = Predictor::load(
        plugins,
        &request.checkpoint,
        request.device,
        request.precision,
        request.memory_format,
    )?;
    let structure = predictor.structure.clone();
    // Each image is loaded only when its turn comes, through the loader training uses.
    let lone_image = is_zarr(&request.input)
        || request
            .input
            .extension()
            .is_some_and(|e| e == "tif" || e == "tiff");
    if request.channel.is_some() && !lone_image {
        bail!("--channel picks the channel of one image; a manifest names its channels itself");
    }
    let jobs: Vec<(String, Source)> = if lone_image {
        let name = image_names(std::slice::from_ref(&request.input)).remove(0);
        let image = ImageRef {
            path: request.input.clone(),
            channel: request.channel.clone(),
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
    let extension = match request.format {
        OutputFormat::Tiff => "tif",
        OutputFormat::OmeZarr => "ome.zarr",
    };
    let folder = request.out.join(&structure);
    refuse_colliding_names(&jobs, &folder, extension)?;
    // Files without a voxel size are taken to be at the model's, unless the user says.
    let options = LoadOptions {
        non_finite: request.non_finite,
        ..load_options(match (request.voxel_size, predictor.voxel_um) {
            (VoxelSize::FromFile, Some(model)) => VoxelSize::Like {
                um: model,
                from: "the model's",
            },
            (given, _) => given,
        })
    };
    let mut loaded = check_inputs(&jobs, options)?;
    // Made only now that every input has its own output: a refusal leaves nothing behind.
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    if request.verbose && request.resample && predictor.voxel_um.is_none() {
        eprintln!("note: the model's training images gave no voxel size, so images are predicted at their own");
    }
    let mut predictions = Vec::new();
    for (name, source) in jobs {
        if let Source::Image(image) = &source {
            if let Some(prediction) =
                predict_streamed(&predictor, request, image, &name, &folder, options)?
            {
                predictions.push(prediction);
                continue;
            }
        }
        let (signal, target) = match loaded.take() {
            Some(input) => input,
            None => load_source(&source, options)?,
        };
        let model_grid = predictor.voxel_um.filter(|&model| {
            request.resample && signal.voxel_known && !same_voxel_size(model, signal.voxel_um)
        });
        // Z-scored again after resampling, as training images are (resampled, then z-scored):
        // interpolation narrows the spread of values.
        let resampled = model_grid.map(|model| {
            let mut at_model = resample_to_voxel(&signal, model);
            z_score(&mut at_model.data);
            at_model
        });
        let input = resampled.as_ref().unwrap_or(&signal);
        let started = Instant::now();
        let (mut output, tiles) =
            predictor.predict(&volume_to_tensor(input)?, &request.tiling, request.flips)?;
        let seconds = started.elapsed().as_secs_f64();
        if request.verbose {
            let numerics = predictor.numerics;
            eprintln!(
                "{name}: tiles {:?} overlapping {:?}, {} per forward pass ({}), {}{}",
                tiles.plan.tile,
                tiles.plan.overlap,
                tiles.plan.per_forward,
                tiles.reason,
                numerics.precision,
                if numerics.channels_last {
                    ", channels-last"
                } else {
                    ""
                }
            );
        }
        let [z, y, x] = signal.spatial_shape();
        let mut data = Vec::<f32>::try_from(output.flatten(0, -1))?;
        if let Some(at_model) = &resampled {
            if request.verbose {
                let um = |v: [f32; 3]| format!("{}×{}×{} µm", v[0], v[1], v[2]);
                eprintln!(
                    "{name}: resampled from {} to the model's {} and back (--no-resample to predict at {})",
                    um(signal.voxel_um),
                    um(at_model.voxel_um),
                    um(signal.voxel_um)
                );
            }
            let predicted = Volume::from_data(data, at_model.shape, at_model.voxel_um)?;
            data = resample_to_shape(&predicted, [z, y, x]).data;
            output = Tensor::from_slice(&data).f_view([z as i64, y as i64, x as i64])?;
        }
        let mut volume = Volume::from_data(data, [1, z, y, x], signal.voxel_um)?;
        volume.voxel_known = signal.voxel_known;
        let path = match request.format {
            OutputFormat::Tiff => {
                let path = folder.join(format!("{name}.{extension}"));
                tiff::write_volume(&path, &volume)?;
                path
            }
            OutputFormat::OmeZarr => {
                let path = folder.join(format!("{name}.{extension}"));
                let options = OmeZarrWriteOptions {
                    overwrite: true,
                    ..OmeZarrWriteOptions::default()
                };
                zarr::write_volume(&path, &volume, &options)?;
                path
            }
        };
        let (pearson, mse) = match target {
            Some(target) => {
                let (r, mse) = agreement(&output, &volume_to_tensor(&target)?)?;
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
            tiles,
            seconds,
        });
    }
    write_predictions_csv(&folder.join("predictions.csv"), &predictions)?;
    Ok(predictions)
}

impl Source {
    /// The bright-field file predicted.
    fn signal_path(&self) -> &Path {
        match self {
            Source::Image(image) => &image.path,
            Source::Row(_, row) => &row.signal.path,
        }
    }
}

/// Refuses two inputs whose predictions would be the same file `folder/<name>.<extension>`
/// (the same bright-field listed twice, or `a/x/img.tif` and `b/x/img.tif`, both named `x`),
/// naming both, before anything is written: one would silently replace the other.
fn refuse_colliding_names(jobs: &[(String, Source)], folder: &Path, extension: &str) -> Result<()> {
    let mut first_of: std::collections::HashMap<&str, &Path> = Default::default();
    for (name, source) in jobs {
        let path = source.signal_path();
        if let Some(first) = first_of.insert(name, path) {
            bail!(
                "{} and {} would both be predicted to {}; give the images distinct file or folder names",
                first.display(),
                path.display(),
                folder.join(format!("{name}.{extension}")).display()
            );
        }
    }
    Ok(())
}

/// An input as loaded for prediction: the bright-field and, for a manifest row, its target.
type Loaded = (Volume, Option<Volume>);

fn load_source(source: &Source, options: LoadOptions) -> Result<Loaded> {
    Ok(match source {
        Source::Image(image) => (load_image(image, options)?, None),
        Source::Row(manifest, row) => {
            let pair = manifest.load_pair(row, options)?;
            (pair.signal, Some(pair.target))
        }
    })
}

/// Reads every input as it will be predicted before anything is written, so that a bad one
/// (a target of another shape than its bright-field, NaN or infinite voxels, an unreadable
/// file) is refused with no prediction half-written. Returns a single input loaded, so that it
/// is read once. A lone OME-Zarr image is left to its turn: it may not fit in memory, and when
/// streamed it is checked before its output is created.
fn check_inputs(jobs: &[(String, Source)], options: LoadOptions) -> Result<Option<Loaded>> {
    let in_memory = |source: &Source| !matches!(source, Source::Image(i) if is_zarr(&i.path));
    if let [(_, source)] = jobs {
        return in_memory(source)
            .then(|| load_source(source, options))
            .transpose();
    }
    for (_, source) in jobs.iter().filter(|(_, source)| in_memory(source)) {
        load_source(source, options)?;
    }
    Ok(None)
}

/// Streams an OME-Zarr image to an OME-Zarr prediction tile by tile when `--format ome-zarr`
/// asks for one and the image takes more than one forward pass; `None` where it is predicted
/// in memory instead.
fn predict_streamed(
    predictor: &Predictor,
    request: &PredictRequest,
    source: &ImageRef,
    name: &str,
    folder: &Path,
    options: silico_imaging::dataset::LoadOptions,
) -> Result<Option<Prediction>> {
    if request.format != OutputFormat::OmeZarr || !is_zarr(&source.path) {
        return Ok(None);
    }
    let image = OmeZarrImage::open(&source.path)?;
    let channel = match (&source.channel, image.shape()[0]) {
        (Some(selector), _) => image.channel_index(selector)?,
        (None, 1) => 0,
        (None, n) => bail!(
            "{}: has {n} channels; pick one with --channel NAME|INDEX",
            source.path.display()
        ),
    };
    let [_, z, y, x] = image.shape();
    let tiles = predictor.plan([z as i64, y as i64, x as i64], &request.tiling)?;
    if tiles.plan.tile == tiling::padded([z as i64, y as i64, x as i64]) {
        return Ok(None);
    }
    // The voxel size, settled as a loaded image's is: a one-voxel stand-in carries it.
    let mut header = Volume::zeros([1, 1, 1, 1], image.voxel_um().unwrap_or([1.0; 3]));
    header.voxel_known = image.voxel_um().is_some();
    options.voxel_size.settle(&mut header, &source.path);
    if let Some(model) = predictor
        .voxel_um
        .filter(|&m| request.resample && header.voxel_known && !same_voxel_size(m, header.voxel_um))
    {
        bail!(
            "{}: voxel size {:?} µm differs from the model's {model:?} µm, and an image streamed tile by tile is not resampled; resample it first, or pass --no-resample",
            source.path.display(),
            header.voxel_um
        );
    }
    let path = folder.join(format!("{name}.ome.zarr"));
    if request.verbose {
        eprintln!(
            "{name}: streamed tile by tile, tiles {:?} overlapping {:?}, {} per forward pass ({}), {}",
            tiles.plan.tile, tiles.plan.overlap, tiles.plan.per_forward, tiles.reason, predictor.numerics.precision
        );
    }
    let started = Instant::now();
    let channel_name = format!("{} (predicted)", predictor.structure);
    stream::predict_streamed(
        predictor,
        &image,
        channel,
        &tiles,
        request.flips,
        &path,
        header.voxel_um,
        &channel_name,
        options.non_finite,
    )?;
    Ok(Some(Prediction {
        name: name.to_string(),
        path,
        pearson: None,
        mse: None,
        voxels: z * y * x,
        tiles,
        seconds: started.elapsed().as_secs_f64(),
    }))
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
