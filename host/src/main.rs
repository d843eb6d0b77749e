use anyhow::Context;
use anyhow::Result;
use clap::{Parser, Subcommand};
use silico::{check, evaluate, parse_device, predict, retrain, train, Plugins, Registry};
use silico_imaging::synth::{self, Recipe};
use silico_segmentation::{segment_objects, SegmentationConfig};
use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    process::ExitCode,
};

/// Label-free prediction of organelle fluorescence from transmitted light, and its evaluation.
#[derive(Parser)]
#[command(name = "silico", version, about, long_about = None)]
struct Cli {
    /// The registry of plugin libraries and models [default: $SILICO_REGISTRY, else the
    /// project's registry.toml]
    #[arg(long, global = true, value_name = "FILE")]
    registry: Option<PathBuf>,
    /// CPU threads for libtorch [default: libtorch's choice, one per core]
    #[arg(long, global = true, value_name = "N")]
    threads: Option<i32>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a dataset of synthetic cells: bright-field, twelve fluorescent structures, ground
    /// truth, previews, and one training manifest per structure.
    #[command(after_help = "Example:\n  silico synth --out data/synth --fields 8 --seed 1")]
    Synth {
        /// A recipe TOML [default: the built-in `default` recipe]; or a preset: default, small, full.
        #[arg(long, value_name = "FILE|PRESET")]
        recipe: Option<String>,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 4)]
        fields: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Describe TIFF files: axes, shape, sample type, voxel size, channel names, value range.
    #[command(after_help = "Example:\n  silico info data/synth/fields/field_000/brightfield.tif")]
    Info {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List every plugin library and component with kind, version and summary.
    #[command(after_help = "Example:\n  silico plugins --registry examples/registry.toml")]
    Plugins {
        /// Also print each component's default configuration.
        #[arg(long)]
        defaults: bool,
    },
    /// Load every plugin, build every model, and run one tiny forward and backward pass
    /// through each; exits non-zero if any model fails.
    #[command(after_help = "Example:\n  silico check --device cuda")]
    Check {
        /// `cpu`, `cuda` or `cuda:N`.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Check only these models.
        #[arg(long = "model", value_name = "MODEL")]
        models: Vec<String>,
    },
    /// Train a registry model to predict one structure from bright-field patches; writes
    /// checkpoints (safetensors) and losses.csv to --out. Ctrl-C saves a checkpoint.
    #[command(
        after_help = "Example:\n  silico train --model unet-tiny --structure nucleoli --data data/synth --out runs/nucleoli"
    )]
    Train {
        #[arg(long)]
        model: String,
        /// The structure to predict, e.g. nucleoli (names the manifest `<structure>.csv`).
        #[arg(long)]
        structure: String,
        /// A folder holding `<structure>.csv` (as `silico synth` writes), or a manifest CSV.
        #[arg(long, value_name = "DIR|CSV")]
        data: PathBuf,
        /// The run folder [default: runs/<model>-<structure>].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Override the registry's iteration count.
        #[arg(long)]
        iterations: Option<u64>,
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Continue the run in --out from its last checkpoint.
        #[arg(long)]
        resume: bool,
    },
    /// Time training iterations of a registry model on random data of its batch and patch size
    /// (scripts/bench compares with PyTorch).
    #[command(
        after_help = "Example:\n  silico bench --model unet-tiny --iterations 5 --threads 2"
    )]
    Bench {
        #[arg(long)]
        model: String,
        #[arg(long, default_value_t = 3)]
        iterations: u64,
        /// Untimed iterations first.
        #[arg(long, default_value_t = 1)]
        warmup: u64,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Make a run folder from generator weights trained elsewhere (safetensors with the
    /// plugin's variable names, e.g. from PyTorch or python/import_fnet.py).
    #[command(
        after_help = "Example:\n  silico import --weights fnet.safetensors --model unet --structure nucleoli --out runs/fnet"
    )]
    Import {
        #[arg(long, value_name = "FILE")]
        weights: PathBuf,
        #[arg(long)]
        model: String,
        #[arg(long)]
        structure: String,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Retrain every structure's model in turn for organelle exclusivity (Sun et al. 2022,
    /// Section 2.4): each with its loss plus p times the exclusivity term, for each p of the
    /// registry's `retrain` table, keeping the p with the best overall exclusivity / MSE.
    /// Writes Table 1, the trajectory (Fig. 5) and MSE against exclusivity (Fig. 6) under
    /// OUT/report.
    #[command(
        after_help = "Example:\n  silico retrain --model unet-tiny --data data/synth --initial runs/unet-tiny --out retrain/unet-tiny"
    )]
    Retrain {
        #[arg(long)]
        model: String,
        /// A folder holding `<structure>.csv` for every structure (as `silico synth` writes).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// A folder of run folders named after their structures (`silico train --out
        /// INITIAL/<structure>`), all of --model.
        #[arg(long, value_name = "DIR")]
        initial: PathBuf,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Use only these structures [default: every run folder in --initial].
        #[arg(long = "structure", value_name = "NAME")]
        structures: Vec<String>,
        /// Iterations per retraining run [default: the registry's `retrain.iterations`].
        #[arg(long)]
        iterations: Option<u64>,
        /// Continue an interrupted retraining in --out.
        #[arg(long)]
        resume: bool,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Segment one structure in an image with its classic workflow (after the Allen Cell &
    /// Structure Segmenter, as `evaluate jaccard` and `evaluate objects` do); writes its objects
    /// as u16 instance labels.
    #[command(
        after_help = "Example:\n  silico segment --structure nucleoli --input data/fields/field_000/nucleoli.tif --out nucleoli-labels.tif"
    )]
    Segment {
        /// A structure name, e.g. nucleoli (an unknown name gets the list).
        #[arg(long)]
        structure: String,
        /// A fluorescence TIFF, real or predicted.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// The channel of a multi-channel file.
        #[arg(long)]
        channel: Option<usize>,
        /// A TOML file of workflow overrides, one table per structure, e.g. [nucleoli] with
        /// min_size_um3 = 0.5, replacing the registry's `segmentation` tables.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Evaluate predictions beyond pixel error.
    #[command(subcommand)]
    Evaluate(Evaluate),
    /// Predict whole images of any size with a trained model, tile by tile; writes
    /// OUT/<structure>/<image>.tif and predictions.csv (Pearson r and MSE where targets exist).
    #[command(
        after_help = "Example:\n  silico predict --checkpoint runs/nucleoli --input data/synth --test-only --out predictions"
    )]
    Predict {
        /// A run folder or its checkpoint folder.
        #[arg(long, value_name = "DIR")]
        checkpoint: PathBuf,
        /// A bright-field TIFF, a manifest CSV, or a folder holding `<structure>.csv`.
        #[arg(long, value_name = "FILE|DIR")]
        input: PathBuf,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Tile size z,y,x (multiples of 16).
        #[arg(long, value_delimiter = ',', default_values_t = predict::DEFAULT_TILE)]
        tile: Vec<i64>,
        /// Overlap of neighbouring tiles z,y,x.
        #[arg(long, value_delimiter = ',', default_values_t = predict::DEFAULT_OVERLAP)]
        overlap: Vec<i64>,
        /// Average over flips in x and y (test-time augmentation).
        #[arg(long)]
        flips: bool,
        /// Only the manifest's test rows.
        #[arg(long)]
        test_only: bool,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
}

#[derive(Subcommand)]
enum Evaluate {
    /// Organelle exclusivity (Sun et al. 2022, Section 2.3): overall, per organelle and
    /// pairwise, over the predictions of every structure for the same bright-field images;
    /// writes exclusivity.json, exclusivity.csv and a pairwise heat map to --out.
    #[command(
        after_help = "Example:\n  silico evaluate exclusivity --predictions predictions --out report"
    )]
    Exclusivity {
        /// One folder per structure, each with one TIFF per image (as `silico predict` writes).
        #[arg(long, value_name = "DIR")]
        predictions: PathBuf,
        /// Count only the non-zero voxels of each image's mask: a path with {image} for the
        /// image's name, e.g. data/fields/{image}/labels/cells.tif (inside cells).
        #[arg(long, value_name = "PATH")]
        masks: Option<String>,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Segmentation Jaccard (Sun et al. 2022, Fig. 3): segments each real image and its
    /// prediction with the structure's workflow and compares them image by image; writes
    /// jaccard.csv, jaccard_summary.csv and a box plot to --out.
    #[command(
        after_help = "Example:\n  silico evaluate jaccard --data data/synth --predictions predictions/unet-tiny --out report/jaccard"
    )]
    Jaccard {
        #[command(flatten)]
        objects: ObjectArgs,
    },
    /// Object-based evaluation (Sun et al. 2022, Section 2.5, Fig. 7): objects of the real and
    /// the predicted images in complete cells, their SPHARM shapes and normalized positions,
    /// compared by kNN divergence and KL with permutation p-values; writes objects.csv,
    /// summary.csv/.json and pictures to --out.
    #[command(
        after_help = "Example:\n  silico evaluate objects --data data/synth --predictions predictions/unet-tiny --structure nucleoli --out report/objects"
    )]
    Objects {
        #[command(flatten)]
        objects: ObjectArgs,
    },
}

#[derive(clap::Args)]
struct ObjectArgs {
    /// The real images: a folder holding `<structure>.csv` for every structure evaluated and
    /// for cell_membrane and dna (as `silico synth` writes).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// A model's predictions (`silico predict --out`), as NAME=DIR or DIR (named after the
    /// folder); repeat to compare models.
    #[arg(long, value_name = "[NAME=]DIR", required = true)]
    predictions: Vec<String>,
    /// Evaluate only these structures [default: every structure folder; for objects, those
    /// among nucleoli, mitochondria, golgi and desmosomes].
    #[arg(long = "structure", value_name = "NAME")]
    structures: Vec<String>,
    /// A TOML file of the metric's settings (see `silico plugins --defaults`), replacing the
    /// registry's `[metrics.<metric>]` keys, e.g. `compare = { k = [8], permutations = 100 }`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Cell instance labels to use instead of segmenting the real membrane and DNA images (for
    /// `objects`): a path with {image} for the image name, e.g.
    /// data/fields/{image}/labels/cells.tif. Needs --nuclei.
    #[arg(long, value_name = "PATH", requires = "nuclei")]
    cells: Option<String>,
    /// Nucleus instance labels, as --cells.
    #[arg(long, value_name = "PATH", requires = "cells")]
    nuclei: Option<String>,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// A TOML file's table, or an empty one.
fn read_table(path: Option<&Path>) -> Result<toml::Table> {
    match path {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --config {}", path.display()))?
            .parse::<toml::Table>()
            .with_context(|| format!("{}: invalid TOML", path.display())),
        None => Ok(toml::Table::new()),
    }
}

impl ObjectArgs {
    /// The request for metric `component`: its configuration from the registry, overridden by
    /// --config.
    fn request(self, registry: &Registry, component: &str) -> Result<evaluate::ObjectRequest> {
        let config = registry.metric_config(component, &read_table(self.config.as_deref())?);
        if config.contains_key("structure") {
            anyhow::bail!("--config: key `structure`: set by --structure, not in the file");
        }
        Ok(evaluate::ObjectRequest {
            data: self.data,
            predictions: self
                .predictions
                .iter()
                .map(|p| evaluate::PredictionSource::parse(p))
                .collect::<Result<_>>()?,
            structures: self.structures,
            config,
            cell_labels: match (&self.cells, &self.nuclei) {
                (Some(cells), Some(nuclei)) => Some((
                    evaluate::ImagePaths::parse(cells, "--cells")?,
                    evaluate::ImagePaths::parse(nuclei, "--nuclei")?,
                )),
                _ => None,
            },
            out: self.out,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // One line: the context chain, outermost first.
            let message = format!("{error:#}");
            eprintln!("error: {}", one_line(&message));
            ExitCode::FAILURE
        }
    }
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn load_registry(path: Option<PathBuf>) -> Result<(Registry, Plugins)> {
    let registry = Registry::load(&path.unwrap_or_else(silico::default_registry_path))?;
    let plugins = Plugins::load(&registry)?;
    Ok((registry, plugins))
}

fn xyz(values: &[i64], what: &str) -> Result<[i64; 3]> {
    values
        .try_into()
        .map_err(|_| anyhow::anyhow!("--{what} takes three numbers z,y,x, got {values:?}"))
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(threads) = cli.threads {
        tch::set_num_threads(threads.max(1));
    }
    match cli.command {
        Command::Synth {
            recipe,
            out,
            fields,
            seed,
        } => {
            let recipe = match recipe.as_deref() {
                None => Recipe::default(),
                Some(name @ ("default" | "small" | "full")) => Recipe::preset(name)?,
                Some(file) => Recipe::from_file(std::path::Path::new(file))?,
            };
            println!("{}", synth::generate(&recipe, &out, fields, seed)?);
        }
        Command::Info { files } => {
            for file in files {
                println!("{}", silico_imaging::image_info(&file)?);
            }
        }
        Command::Plugins { defaults } => {
            let (_, plugins) = load_registry(cli.registry)?;
            print_plugins(&plugins, defaults);
        }
        Command::Check { device, models } => {
            let (registry, plugins) = load_registry(cli.registry)?;
            let device = parse_device(&device)?;
            for name in &models {
                registry.model(name)?;
            }
            println!(
                "registry {}: {} plugin libraries, {} models",
                registry.path.display(),
                plugins.libraries.len(),
                registry.models.len()
            );
            let reports = check::check_all(&registry, &plugins, device, &models);
            let mut failed = 0;
            for report in &reports {
                match &report.outcome {
                    Ok(summary) => println!("ok    {}: {summary}", report.model),
                    Err(error) => {
                        failed += 1;
                        println!(
                            "FAIL  {}: {}",
                            report.model,
                            one_line(&format!("{error:#}"))
                        );
                    }
                }
            }
            println!("{} models passed, {failed} failed", reports.len() - failed);
            if failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Train {
            model,
            structure,
            data,
            out,
            iterations,
            device,
            resume,
        } => {
            let (registry, plugins) = load_registry(cli.registry)?;
            let out =
                out.unwrap_or_else(|| PathBuf::from("runs").join(format!("{model}-{structure}")));
            let request = train::TrainRequest {
                definition: registry.model_table(&model)?.clone(),
                model,
                structure,
                data,
                out,
                iterations,
                device: parse_device(&device)?,
                resume,
                init: None,
                others: Vec::new(),
                progress: std::io::stderr().is_terminal(),
            };
            let stop = train::StopSignal::on_ctrl_c()?;
            let outcome = train::train(&plugins, &request, &stop)?;
            let losses: Vec<String> = outcome
                .last_losses
                .iter()
                .map(|(n, v)| format!("{n} {v:.4}"))
                .collect();
            if outcome.interrupted {
                eprintln!(
                    "interrupted at iteration {}; checkpoint saved in {}; continue with the same command and --resume",
                    outcome.iterations,
                    outcome.checkpoint.display()
                );
                return Ok(ExitCode::from(130));
            }
            println!(
                "trained {} iterations ({:.3} s/iteration); last losses: {}; checkpoint: {}",
                outcome.iterations,
                outcome.seconds_per_iteration,
                losses.join(", "),
                outcome.checkpoint.display()
            );
        }
        Command::Bench {
            model,
            iterations,
            warmup,
            device,
        } => {
            let (registry, plugins) = load_registry(cli.registry)?;
            let result = silico::bench::bench_training(
                &registry,
                &plugins,
                &model,
                warmup,
                iterations,
                parse_device(&device)?,
            )?;
            println!(
                "{:.6} s/iteration over {} iterations of `{model}`",
                result.seconds_per_iteration, result.iterations
            );
        }
        Command::Import {
            weights,
            model,
            structure,
            out,
        } => {
            let (registry, plugins) = load_registry(cli.registry)?;
            let dir =
                train::import_weights(&registry, &plugins, &model, &structure, &weights, &out)?;
            println!(
                "imported {} as model `{model}` for `{structure}`: {}",
                weights.display(),
                dir.display()
            );
        }
        Command::Retrain {
            model,
            data,
            initial,
            out,
            structures,
            iterations,
            resume,
            device,
        } => {
            let (registry, plugins) = load_registry(cli.registry)?;
            let request = retrain::RetrainRequest {
                model,
                data,
                initial,
                out,
                structures,
                iterations,
                resume,
                device: parse_device(&device)?,
                progress: std::io::stderr().is_terminal(),
            };
            let stop = train::StopSignal::on_ctrl_c()?;
            let outcome = retrain::retrain(&registry, &plugins, &request, &stop)?;
            if outcome.interrupted {
                eprintln!(
                    "interrupted; progress saved in {}; continue with the same command and --resume",
                    request.out.display()
                );
                return Ok(ExitCode::from(130));
            }
            print!("{}", retrain::summary(&outcome.state));
            println!("wrote {}", request.out.join("report").display());
        }
        Command::Evaluate(Evaluate::Exclusivity {
            predictions,
            masks,
            out,
        }) => {
            let (_, plugins) = load_registry(cli.registry)?;
            let report = silico::evaluate::exclusivity_report(
                &plugins,
                &predictions,
                masks
                    .map(|m| evaluate::ImagePaths::parse(&m, "--masks"))
                    .transpose()?
                    .as_ref(),
                &out,
            )?;
            println!(
                "overall exclusivity {:.4} over {} voxels of {} images (means over all voxels of all images)",
                report.overall,
                report.voxels,
                report.images.len()
            );
            for (structure, value) in report.structures.iter().zip(&report.organelle) {
                println!("  {structure:<24} {value:.4}");
            }
            println!("wrote {}", out.display());
        }
        Command::Segment {
            structure,
            input,
            channel,
            config,
            out,
        } => {
            let registry =
                Registry::load(&cli.registry.unwrap_or_else(silico::default_registry_path))?;
            let mut overrides = registry.segmentation.clone();
            overrides.extend(read_table(config.as_deref())?);
            let workflows = SegmentationConfig::from_toml(
                &overrides.to_string(),
                "the segmentation overrides",
            )?;
            let volume = silico_imaging::tiff::read_volume(&input)?;
            let channel = match (channel, volume.channels()) {
                (Some(c), _) => c,
                (None, 1) => 0,
                (None, n) => anyhow::bail!(
                    "{}: has {n} channels; pick one with --channel",
                    input.display()
                ),
            };
            let volume = volume
                .extract_channel(channel)
                .with_context(|| input.display().to_string())?;
            let shape = volume.spatial_shape();
            let labels =
                segment_objects(&structure, &volume.data, shape, volume.voxel_um, &workflows)?;
            let count = labels.max_label();
            let Some(data) = labels.to_u16() else {
                anyhow::bail!("{count} objects do not fit 16-bit labels; segment a smaller image");
            };
            silico_imaging::tiff::write_labels_u16(&out, &data, shape, volume.voxel_um)?;
            println!(
                "{count} {structure} objects; labels written to {}",
                out.display()
            );
        }
        Command::Evaluate(Evaluate::Jaccard { objects }) => {
            let (registry, plugins) = load_registry(cli.registry)?;
            let request = objects.request(&registry, "jaccard")?;
            let rows = evaluate::jaccard_report(&plugins, &request)?;
            let mut groups: Vec<(String, String)> = rows
                .iter()
                .map(|r| (r.model.clone(), r.structure.clone()))
                .collect();
            groups.dedup();
            println!("mean Jaccard index of real and predicted segmentations:");
            for (model, structure) in groups {
                let values: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.model == model && r.structure == structure)
                    .map(|r| r.jaccard)
                    .collect();
                println!(
                    "  {model:<20} {structure:<24} {:.3} ({} images)",
                    values.iter().sum::<f64>() / values.len() as f64,
                    values.len()
                );
            }
            println!("wrote {}", request.out.display());
        }
        Command::Evaluate(Evaluate::Objects { objects }) => {
            let (registry, plugins) = load_registry(cli.registry)?;
            let request = objects.request(&registry, "objects")?;
            let summaries = evaluate::objects_report(&plugins, &request)?;
            println!(
                "{:<20} {:<14} {:>5} {:>11} {:>11} {:>9} {:>8} {:>10} {:>8}",
                "model",
                "structure",
                "cells",
                "objects r/s",
                "excluded",
                "shape k8",
                "p",
                "spatial KL",
                "p"
            );
            for s in &summaries {
                let v = |name: &str| s.values.get(name).copied().unwrap_or(f64::NAN);
                println!(
                    "{:<20} {:<14} {:>5} {:>5}/{:<5} {:>5}/{:<5} {:>9.4} {:>8.3} {:>10.4} {:>8.3}",
                    s.model,
                    s.structure,
                    v("cells"),
                    v("objects/real"),
                    v("objects/synthetic"),
                    v("excluded/real"),
                    v("excluded/synthetic"),
                    v("shape_divergence/k8"),
                    v("shape_p/k8"),
                    v("spatial_kl"),
                    v("spatial_p")
                );
            }
            println!("wrote {}", request.out.display());
        }
        Command::Predict {
            checkpoint,
            input,
            out,
            tile,
            overlap,
            flips,
            test_only,
            device,
        } => {
            let (_, plugins) = load_registry(cli.registry)?;
            let request = predict::PredictRequest {
                checkpoint,
                input,
                out,
                tile: xyz(&tile, "tile")?,
                overlap: xyz(&overlap, "overlap")?,
                flips,
                rows: if test_only {
                    predict::Rows::Test
                } else {
                    predict::Rows::All
                },
                device: parse_device(&device)?,
            };
            for p in predict::predict(&plugins, &request)? {
                let score = match (p.pearson, p.mse) {
                    (Some(r), Some(mse)) => format!("  Pearson r {r:.3}  MSE {mse:.4}"),
                    _ => String::new(),
                };
                println!("{}{score}", p.path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_plugins(plugins: &Plugins, defaults: bool) {
    for library in &plugins.libraries {
        let m = &library.manifest;
        println!(
            "{} — {} {} ({}; plugin-api {}, torch {})",
            library.name,
            m.name,
            m.version,
            library.path.display(),
            m.plugin_api_version,
            m.torch_version
        );
        for component in m.components.iter() {
            println!(
                "  {:<14} {:<14} {}",
                component.kind.as_str(),
                component.name.as_str(),
                component.summary
            );
            if defaults && !component.default_config.is_empty() {
                for line in component.default_config.lines() {
                    println!("  {:<14} {:<14}   {line}", "", "");
                }
            }
        }
    }
}
