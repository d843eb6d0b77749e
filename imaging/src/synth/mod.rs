//! `silico synth`: procedurally generated 3D fields of view with ground truth.
//!
//! Each field holds several touching cells (some cut by the border), each with a nucleus and
//! all twelve structures of Sun et al. (2022), imaged as twelve fluorescence channels and one
//! bright-field stack, with instance and semantic masks. Same recipe + seed = same bytes: every
//! field draws from its own generator derived from (seed, field index).
//!
//! Files written under `out_dir`:
//! ```text
//! recipe.toml                         the recipe used (with the seed in a comment)
//! <structure>.csv                     path_signal,path_target,split  (one per structure;
//!                                     with noise_free: path_signal,path_target,path_target_noise_free,split)
//! fields/field_000/brightfield.tif    f32 ImageJ stack, camera counts
//! fields/field_000/<structure>.tif    f32 fluorescence, camera counts
//! fields/field_000/noise_free/<structure>.tif  f32 expected counts of <structure>.tif (noise_free only)
//! fields/field_000/masks/<structure>.tif     u8 semantic mask (0/1)
//! fields/field_000/labels/<object>.tif       u16 instance labels (0 background, 1.. ids):
//!                                            cells, nuclei, nucleoli, mitochondria, golgi, desmosomes
//! fields/field_000/preview.png        bright-field | colour max-projection
//! ```

mod cells;
mod grid;
mod optics;
mod preview;
pub mod recipe;
mod structures;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

pub use recipe::Recipe;

use crate::dataset::{write_manifest, ManifestEntry, Split};
use crate::error::{ImagingError, Result};
use crate::files::write_atomic;
use crate::rng::Rng;
use crate::tiff::{write_labels_u16, write_mask_u8, write_volume};
use crate::volume::Volume;

/// The twelve structures of the paper, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Structure {
    ActinFilaments,
    Microtubules,
    EndoplasmicReticulum,
    Desmosomes,
    CellMembrane,
    ActomyosinBundles,
    Golgi,
    Dna,
    NuclearEnvelope,
    Mitochondria,
    Nucleoli,
    TightJunctions,
}

impl Structure {
    pub const ALL: [Structure; 12] = [
        Structure::ActinFilaments,
        Structure::Microtubules,
        Structure::EndoplasmicReticulum,
        Structure::Desmosomes,
        Structure::CellMembrane,
        Structure::ActomyosinBundles,
        Structure::Golgi,
        Structure::Dna,
        Structure::NuclearEnvelope,
        Structure::Mitochondria,
        Structure::Nucleoli,
        Structure::TightJunctions,
    ];

    /// File-name stem and recipe key.
    pub fn name(self) -> &'static str {
        match self {
            Structure::ActinFilaments => "actin_filaments",
            Structure::Microtubules => "microtubules",
            Structure::EndoplasmicReticulum => "endoplasmic_reticulum",
            Structure::Desmosomes => "desmosomes",
            Structure::CellMembrane => "cell_membrane",
            Structure::ActomyosinBundles => "actomyosin_bundles",
            Structure::Golgi => "golgi",
            Structure::Dna => "dna",
            Structure::NuclearEnvelope => "nuclear_envelope",
            Structure::Mitochondria => "mitochondria",
            Structure::Nucleoli => "nucleoli",
            Structure::TightJunctions => "tight_junctions",
        }
    }

    /// The Allen cell line's marker for the structure (Ounkomol et al. 2018).
    pub fn marker(self) -> &'static str {
        match self {
            Structure::ActinFilaments => "beta-actin",
            Structure::Microtubules => "alpha-tubulin",
            Structure::EndoplasmicReticulum => "Sec61 beta",
            Structure::Desmosomes => "desmoplakin",
            Structure::CellMembrane => "CAAX",
            Structure::ActomyosinBundles => "myosin IIB",
            Structure::Golgi => "ST6GAL1",
            Structure::Dna => "Hoechst",
            Structure::NuclearEnvelope => "lamin B1",
            Structure::Mitochondria => "Tom20",
            Structure::Nucleoli => "fibrillarin",
            Structure::TightJunctions => "ZO-1",
        }
    }

    pub fn from_name(name: &str) -> Option<Structure> {
        Structure::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// What [`generate`] writes beyond the default files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SynthOptions {
    /// Also write each structure's noise-free fluorescence, the expectation of its camera
    /// counts, as `fields/<field>/noise_free/<structure>.tif`, named by the manifests'
    /// `path_target_noise_free` column. Every other file keeps its bytes.
    pub noise_free: bool,
}

/// Object counts of one generated field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSummary {
    pub dir: PathBuf,
    pub cells: usize,
    pub complete_cells: usize,
    pub nucleoli: usize,
    pub mitochondria: usize,
    pub golgi: usize,
    pub desmosomes: usize,
    pub split: &'static str,
    pub seconds: f64,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub out_dir: PathBuf,
    pub fields: Vec<FieldSummary>,
    pub manifests: Vec<PathBuf>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "wrote {} field(s) to {}",
            self.fields.len(),
            self.out_dir.display()
        )?;
        for s in &self.fields {
            writeln!(
                f,
                "  {} [{}]: {} cells ({} complete), {} nucleoli, {} mitochondria, {} Golgi pieces, {} desmosomes, {:.2} s",
                s.dir.file_name().unwrap_or_default().to_string_lossy(),
                s.split,
                s.cells,
                s.complete_cells,
                s.nucleoli,
                s.mitochondria,
                s.golgi,
                s.desmosomes,
                s.seconds
            )?;
        }
        write!(
            f,
            "  manifests: {} (one per structure, bright-field -> structure)",
            self.manifests.len()
        )
    }
}

/// One generated field in memory: images and ground truth.
pub struct Field {
    pub voxel_um: [f32; 3],
    pub shape: [usize; 3],
    pub brightfield: Vec<f32>,
    /// Fluorescence per structure, in `Structure::ALL` order.
    pub fluorescence: Vec<Vec<f32>>,
    /// With [`SynthOptions::noise_free`]: the expectation of each `fluorescence` image, in the
    /// same counts and order.
    pub fluorescence_noise_free: Option<Vec<Vec<f32>>>,
    pub semantic: Vec<Vec<u8>>,
    pub cells: Vec<u16>,
    pub nuclei: Vec<u16>,
    pub nucleoli: Vec<u16>,
    pub mitochondria: Vec<u16>,
    pub golgi: Vec<u16>,
    pub desmosomes: Vec<u16>,
    /// Parent nucleus of each nucleolus id, and cell of each mitochondrion/Golgi/desmosome id.
    pub nucleolus_parent: Vec<u16>,
    pub mitochondrion_cell: Vec<u16>,
    pub golgi_cell: Vec<u16>,
    pub desmosome_cell: Vec<u16>,
    /// Whether each cell id (index id - 1) lies entirely inside the field.
    pub cell_complete: Vec<bool>,
}

/// Generates field number `index` of a dataset with `seed`, in memory.
pub fn generate_field(recipe: &Recipe, seed: u64, index: usize) -> Field {
    generate_field_with(recipe, seed, index, SynthOptions::default())
}

/// [`generate_field`] with options; the images and ground truth are the same with any options.
pub fn generate_field_with(
    recipe: &Recipe,
    seed: u64,
    index: usize,
    options: SynthOptions,
) -> Field {
    let mut rng = Rng::derive(seed, index as u64);
    let layout = cells::layout(recipe, &mut rng);
    let scene = structures::draw(layout, recipe, &mut rng);
    let (fluorescence, noise_free): (Vec<_>, Vec<_>) = Structure::ALL
        .iter()
        .map(|&s| {
            let image = optics::fluorescence(&scene, s, recipe, options.noise_free, &mut rng);
            (image.counts, image.noise_free)
        })
        .unzip();
    let brightfield = optics::brightfield(&scene, recipe, &mut rng);
    let semantic = Structure::ALL
        .iter()
        .map(|&s| {
            scene
                .density(s)
                .iter()
                .map(|&d| u8::from(d > 0.0))
                .collect()
        })
        .collect();
    let l = scene.layout;
    Field {
        voxel_um: recipe.voxel_um,
        shape: recipe.shape,
        brightfield,
        fluorescence,
        // Some for every structure or for none: one Option of them all.
        fluorescence_noise_free: noise_free.into_iter().collect(),
        semantic,
        cell_complete: l.cells.iter().map(|c| c.complete).collect(),
        cells: l.cell,
        nuclei: l.nucleus,
        nucleoli: scene.nucleoli,
        mitochondria: scene.mitochondria,
        golgi: scene.golgi,
        desmosomes: scene.desmosomes,
        nucleolus_parent: scene.nucleolus_parent,
        mitochondrion_cell: scene.mitochondrion_cell,
        golgi_cell: scene.golgi_cell,
        desmosome_cell: scene.desmosome_cell,
    }
}

/// The folder of a field's noise-free images.
const NOISE_FREE_DIR: &str = "noise_free";

fn write_field(recipe: &Recipe, field: &Field, dir: &Path) -> Result<()> {
    for sub in ["masks", "labels"] {
        fs::create_dir_all(dir.join(sub))
            .map_err(|e| ImagingError::io(&dir.join(sub), "create folder", e))?;
    }
    let zyx = field.shape;
    let voxel = recipe.voxel_um;
    let as_volume = |data: &[f32], name: &str| -> Result<Volume> {
        let mut v = Volume::single_channel(data.to_vec(), zyx, voxel)?;
        v.channel_names = vec![name.to_string()];
        Ok(v)
    };
    write_volume(
        &dir.join("brightfield.tif"),
        &as_volume(&field.brightfield, "brightfield")?,
    )?;
    if field.fluorescence_noise_free.is_some() {
        fs::create_dir_all(dir.join(NOISE_FREE_DIR))
            .map_err(|e| ImagingError::io(&dir.join(NOISE_FREE_DIR), "create folder", e))?;
    }
    for (k, s) in Structure::ALL.iter().enumerate() {
        let file = format!("{}.tif", s.name());
        write_volume(
            &dir.join(&file),
            &as_volume(&field.fluorescence[k], s.name())?,
        )?;
        if let Some(noise_free) = &field.fluorescence_noise_free {
            write_volume(
                &dir.join(NOISE_FREE_DIR).join(&file),
                &as_volume(&noise_free[k], s.name())?,
            )?;
        }
        write_mask_u8(
            &dir.join("masks").join(format!("{}.tif", s.name())),
            &field.semantic[k],
            zyx,
            voxel,
        )?;
    }
    for (name, labels) in [
        ("cells", &field.cells),
        ("nuclei", &field.nuclei),
        ("nucleoli", &field.nucleoli),
        ("mitochondria", &field.mitochondria),
        ("golgi", &field.golgi),
        ("desmosomes", &field.desmosomes),
    ] {
        write_labels_u16(
            &dir.join("labels").join(format!("{name}.tif")),
            labels,
            zyx,
            voxel,
        )?;
    }
    let grid = grid::Grid {
        shape: zyx,
        voxel_um: voxel.map(|v| v as f64),
    };
    let channel = |s: Structure| field.fluorescence[s as usize].as_slice();
    preview::write_preview(
        &dir.join("preview.png"),
        &grid,
        &field.brightfield,
        &[
            preview::Overlay {
                image: channel(Structure::Dna),
                color: [0.15, 0.35, 1.0],
            },
            preview::Overlay {
                image: channel(Structure::CellMembrane),
                color: [0.8, 0.3, 0.8],
            },
            preview::Overlay {
                image: channel(Structure::Mitochondria),
                color: [1.0, 0.25, 0.1],
            },
            preview::Overlay {
                image: channel(Structure::Microtubules),
                color: [0.1, 0.9, 0.2],
            },
            preview::Overlay {
                image: channel(Structure::Golgi),
                color: [1.0, 0.85, 0.0],
            },
            preview::Overlay {
                image: channel(Structure::Nucleoli),
                color: [0.0, 0.9, 0.9],
            },
        ],
    )
}

/// Which fields are for training: a seeded shuffle keeping `train_fraction` of them (at least
/// one of each part when there are two or more fields).
fn split_fields(fields: usize, train_fraction: f64, seed: u64) -> Vec<Split> {
    let mut order: Vec<usize> = (0..fields).collect();
    Rng::derive(seed, u64::MAX).shuffle(&mut order);
    let mut train = (fields as f64 * train_fraction).round() as usize;
    if fields >= 2 {
        train = train.clamp(1, fields - 1);
    }
    let mut split = vec![Split::Test; fields];
    for &i in &order[..train] {
        split[i] = Split::Train;
    }
    split
}

/// Generates `fields` fields into `out_dir` (created if missing) and writes one manifest per
/// structure. Fields are generated in parallel on the current rayon pool; the bytes do not
/// depend on its size, nor, for the files written without options, on `options`.
pub fn generate(
    recipe: &Recipe,
    out_dir: &Path,
    fields: usize,
    seed: u64,
    options: SynthOptions,
) -> Result<Summary> {
    recipe.validate("in use")?;
    if fields == 0 {
        return Err(ImagingError::Invalid("--fields must be at least 1".into()));
    }
    fs::create_dir_all(out_dir).map_err(|e| ImagingError::io(out_dir, "create folder", e))?;
    let splits = split_fields(fields, recipe.train_fraction, seed);
    let results: Vec<Result<FieldSummary>> = (0..fields)
        .into_par_iter()
        .map(|index| {
            let started = Instant::now();
            let dir = out_dir.join("fields").join(format!("field_{index:03}"));
            let field = generate_field_with(recipe, seed, index, options);
            write_field(recipe, &field, &dir)?;
            Ok(summarize(
                &field,
                dir,
                splits[index].name(),
                started.elapsed().as_secs_f64(),
            ))
        })
        .collect();
    let fields_summary = results.into_iter().collect::<Result<Vec<_>>>()?;

    let mut manifests = Vec::new();
    for s in Structure::ALL {
        let entries: Vec<ManifestEntry> = splits
            .iter()
            .enumerate()
            .map(|(index, &split)| {
                let dir = PathBuf::from(format!("fields/field_{index:03}"));
                let file = format!("{}.tif", s.name());
                ManifestEntry {
                    path_signal: dir.join("brightfield.tif"),
                    path_target: dir.join(&file),
                    path_target_noise_free: options
                        .noise_free
                        .then(|| dir.join(NOISE_FREE_DIR).join(&file)),
                    split,
                }
            })
            .collect();
        let path = out_dir.join(format!("{}.csv", s.name()));
        write_manifest(&path, &entries)?;
        manifests.push(path);
    }
    let recipe_text = format!(
        "# silico synth recipe; seed = {seed}, fields = {fields}\n{}",
        recipe.to_toml()
    );
    write_atomic(&out_dir.join("recipe.toml"), recipe_text.as_bytes())?;
    Ok(Summary {
        out_dir: out_dir.to_path_buf(),
        fields: fields_summary,
        manifests,
    })
}

fn summarize(field: &Field, dir: PathBuf, split: &'static str, seconds: f64) -> FieldSummary {
    FieldSummary {
        dir,
        cells: field.cell_complete.len(),
        complete_cells: field.cell_complete.iter().filter(|c| **c).count(),
        nucleoli: field.nucleolus_parent.len(),
        mitochondria: field.mitochondrion_cell.len(),
        golgi: field.golgi_cell.len(),
        desmosomes: field.desmosome_cell.len(),
        split,
        seconds,
    }
}
