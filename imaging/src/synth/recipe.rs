//! The synthetic-data recipe: every size, count, brightness and noise level `silico synth`
//! uses, read from TOML. Unknown keys are errors naming the key, so a typo cannot silently fall
//! back to a default. All lengths are in µm, so one recipe works at any voxel size.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Structure;
use crate::error::{ImagingError, Result};

/// Everything that shapes a synthetic dataset. Missing keys take the defaults shown by
/// [`Recipe::default`] (`silico synth` writes the recipe it used next to the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Recipe {
    /// Field of view in voxels, (z, y, x).
    pub shape: [usize; 3],
    /// Voxel size in µm, (z, y, x).
    pub voxel_um: [f32; 3],
    /// Cells per field of view (about; border cells are cut).
    pub cells: usize,
    /// Cell height range in µm, glass to apex.
    pub cell_height_um: [f64; 2],
    /// Height of the glass surface above the first slice, µm.
    pub glass_um: f64,
    /// Fraction of fields listed as `train` in the manifests (the paper: 60/80).
    pub train_fraction: f64,
    pub psf: Psf,
    pub noise: Noise,
    pub brightfield: Brightfield,
    pub nucleoli: Nucleoli,
    pub mitochondria: Mitochondria,
    pub golgi: Golgi,
    pub desmosomes: Desmosomes,
    pub tight_junctions: TightJunctions,
    pub microtubules: Microtubules,
    pub actin_filaments: ActinFilaments,
    pub actomyosin_bundles: ActomyosinBundles,
    pub endoplasmic_reticulum: EndoplasmicReticulum,
    /// Photons per voxel at full density, per structure.
    pub brightness: PerStructure,
    /// Refractive-index contrast at full density, per structure (bright-field model).
    pub refractive_index: RefractiveIndex,
}

/// Fluorescence point-spread function, a 3D Gaussian.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Psf {
    /// Standard deviation in µm, (z, y, x).
    pub sigma_um: [f64; 3],
}

/// Camera noise shared by all channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Noise {
    /// Background photons per voxel in fluorescence channels.
    pub background: f64,
    /// Gaussian read noise, standard deviation in counts.
    pub read: f64,
    /// Camera offset added to every voxel.
    pub offset: f64,
}

/// Transmitted-light forward model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Brightfield {
    /// Mean photons per voxel of the illumination.
    pub photons: f64,
    /// Standard deviation of the phase contrast relative to the illumination.
    pub contrast: f64,
    /// Lateral blur of the condenser/objective, µm.
    pub blur_um: f64,
    /// Axial extent of the defocus response, µm.
    pub defocus_depth_um: f64,
    /// Focus offset of the whole stack, µm (shifts and skews the through-focus contrast).
    pub defocus_um: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nucleoli {
    pub count: [usize; 2],
    pub radius_um: [f64; 2],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mitochondria {
    pub per_cell: usize,
    pub length_um: [f64; 2],
    pub radius_um: f64,
    pub branch_probability: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Golgi {
    pub pieces: [usize; 2],
    pub arc_degrees: [f64; 2],
    pub thickness_um: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Desmosomes {
    pub per_cell: usize,
    pub radius_um: f64,
    pub min_spacing_um: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TightJunctions {
    pub belt_um: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Microtubules {
    pub per_cell: usize,
    /// Directional wander per µm of length, radians.
    pub wander: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActinFilaments {
    /// Thickness of the cortical layer under the membrane, µm.
    pub cortex_um: f64,
    pub filaments_per_cell: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActomyosinBundles {
    pub per_cell: [usize; 2],
    pub radius_um: f64,
    /// Spacing of myosin puncta along a bundle, µm.
    pub period_um: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndoplasmicReticulum {
    /// Correlation length of the network, µm.
    pub mesh_um: f64,
    /// Tubule half-width as a fraction of the noise standard deviation.
    pub tubule_width: f64,
}

/// One number per structure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerStructure {
    pub actin_filaments: f64,
    pub microtubules: f64,
    pub endoplasmic_reticulum: f64,
    pub desmosomes: f64,
    pub cell_membrane: f64,
    pub actomyosin_bundles: f64,
    pub golgi: f64,
    pub dna: f64,
    pub nuclear_envelope: f64,
    pub mitochondria: f64,
    pub nucleoli: f64,
    pub tight_junctions: f64,
}

impl PerStructure {
    pub fn get(&self, s: Structure) -> f64 {
        match s {
            Structure::ActinFilaments => self.actin_filaments,
            Structure::Microtubules => self.microtubules,
            Structure::EndoplasmicReticulum => self.endoplasmic_reticulum,
            Structure::Desmosomes => self.desmosomes,
            Structure::CellMembrane => self.cell_membrane,
            Structure::ActomyosinBundles => self.actomyosin_bundles,
            Structure::Golgi => self.golgi,
            Structure::Dna => self.dna,
            Structure::NuclearEnvelope => self.nuclear_envelope,
            Structure::Mitochondria => self.mitochondria,
            Structure::Nucleoli => self.nucleoli,
            Structure::TightJunctions => self.tight_junctions,
        }
    }
}

/// Refractive-index contrasts: the cell bodies plus every structure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefractiveIndex {
    pub cytoplasm: f64,
    /// Nucleoplasm relative to the medium (nuclei are optically less dense than cytoplasm).
    pub nucleus: f64,
    pub structures: PerStructure,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            shape: [32, 128, 128],
            voxel_um: [0.29, 0.29, 0.29],
            cells: 8,
            cell_height_um: [5.5, 7.5],
            glass_um: 0.6,
            train_fraction: 0.75,
            psf: Psf::default(),
            noise: Noise::default(),
            brightfield: Brightfield::default(),
            nucleoli: Nucleoli::default(),
            mitochondria: Mitochondria::default(),
            golgi: Golgi::default(),
            desmosomes: Desmosomes::default(),
            tight_junctions: TightJunctions::default(),
            microtubules: Microtubules::default(),
            actin_filaments: ActinFilaments::default(),
            actomyosin_bundles: ActomyosinBundles::default(),
            endoplasmic_reticulum: EndoplasmicReticulum::default(),
            brightness: PerStructure::default(),
            refractive_index: RefractiveIndex::default(),
        }
    }
}

impl Default for Psf {
    fn default() -> Self {
        Psf {
            sigma_um: [0.45, 0.16, 0.16],
        }
    }
}

impl Default for Noise {
    fn default() -> Self {
        Noise {
            background: 4.0,
            read: 2.0,
            offset: 100.0,
        }
    }
}

impl Default for Brightfield {
    fn default() -> Self {
        Brightfield {
            photons: 3000.0,
            contrast: 0.06,
            blur_um: 0.25,
            defocus_depth_um: 0.9,
            defocus_um: 0.3,
        }
    }
}

impl Default for Nucleoli {
    fn default() -> Self {
        Nucleoli {
            count: [1, 4],
            radius_um: [0.55, 1.0],
        }
    }
}

impl Default for Mitochondria {
    fn default() -> Self {
        Mitochondria {
            per_cell: 30,
            length_um: [1.0, 3.5],
            radius_um: 0.2,
            branch_probability: 0.3,
        }
    }
}

impl Default for Golgi {
    fn default() -> Self {
        Golgi {
            pieces: [2, 4],
            arc_degrees: [70.0, 120.0],
            thickness_um: 0.7,
        }
    }
}

impl Default for Desmosomes {
    fn default() -> Self {
        Desmosomes {
            per_cell: 14,
            radius_um: 0.3,
            min_spacing_um: 1.2,
        }
    }
}

impl Default for TightJunctions {
    fn default() -> Self {
        TightJunctions { belt_um: 0.7 }
    }
}

impl Default for Microtubules {
    fn default() -> Self {
        Microtubules {
            per_cell: 40,
            wander: 0.15,
        }
    }
}

impl Default for ActinFilaments {
    fn default() -> Self {
        ActinFilaments {
            cortex_um: 0.5,
            filaments_per_cell: 10,
        }
    }
}

impl Default for ActomyosinBundles {
    fn default() -> Self {
        ActomyosinBundles {
            per_cell: [3, 6],
            radius_um: 0.2,
            period_um: 0.8,
        }
    }
}

impl Default for EndoplasmicReticulum {
    fn default() -> Self {
        EndoplasmicReticulum {
            mesh_um: 0.45,
            tubule_width: 0.22,
        }
    }
}

/// Photons per voxel where a structure's density is 1. Hundreds to thousands of counts above a
/// background of a few, as in the Allen Institute's spinning-disk stacks: with dimmer labels
/// the Poisson noise of the 99% of voxels outside a sparse structure (nucleoli, desmosomes)
/// caps any prediction's Pearson r against the target far below what the model learned.
impl Default for PerStructure {
    fn default() -> Self {
        PerStructure {
            actin_filaments: 600.0,
            microtubules: 800.0,
            endoplasmic_reticulum: 600.0,
            desmosomes: 1500.0,
            cell_membrane: 800.0,
            actomyosin_bundles: 1000.0,
            golgi: 900.0,
            dna: 700.0,
            nuclear_envelope: 900.0,
            mitochondria: 900.0,
            nucleoli: 1100.0,
            tight_junctions: 1200.0,
        }
    }
}

impl Default for RefractiveIndex {
    fn default() -> Self {
        RefractiveIndex {
            cytoplasm: 0.012,
            nucleus: 0.006,
            structures: PerStructure {
                actin_filaments: 0.0015,
                microtubules: 0.001,
                endoplasmic_reticulum: 0.002,
                desmosomes: 0.003,
                cell_membrane: 0.02,
                actomyosin_bundles: 0.004,
                golgi: 0.008,
                dna: 0.004,
                nuclear_envelope: 0.008,
                mitochondria: 0.008,
                nucleoli: 0.03,
                tight_junctions: 0.004,
            },
        }
    }
}

impl Recipe {
    /// A 64 × 256 × 256 field at finer voxels, the size of the speed target in issue 3.
    pub fn full() -> Self {
        Recipe {
            shape: [64, 256, 256],
            voxel_um: [0.2, 0.15, 0.15],
            cells: 8,
            cell_height_um: [7.0, 10.0],
            ..Recipe::default()
        }
    }

    /// A tiny field for tests and quick looks.
    pub fn small() -> Self {
        Recipe {
            shape: [24, 96, 96],
            voxel_um: [0.29, 0.29, 0.29],
            cells: 5,
            cell_height_um: [4.5, 6.0],
            ..Recipe::default()
        }
    }

    /// A built-in recipe by name: `default`, `small` or `full`.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "default" => Ok(Recipe::default()),
            "small" => Ok(Recipe::small()),
            "full" => Ok(Recipe::full()),
            other => Err(ImagingError::Recipe {
                origin: format!("preset `{other}`"),
                detail: "unknown preset; use default, small or full".into(),
            }),
        }
    }

    /// Parses TOML; `origin` names the source in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let recipe: Recipe = toml::from_str(text).map_err(|e| ImagingError::Recipe {
            origin: origin.to_string(),
            detail: e.message().to_string()
                + &e.span()
                    .map(|s| format!(" (at byte {})", s.start))
                    .unwrap_or_default(),
        })?;
        recipe.validate(origin)?;
        Ok(recipe)
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ImagingError::io(path, "read recipe", e))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a recipe always serializes")
    }

    /// Checks the values serde cannot: sizes, ranges, probabilities.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let fail = |key: &str, why: &str| {
            Err(ImagingError::Recipe {
                origin: origin.to_string(),
                detail: format!("`{key}` {why}"),
            })
        };
        if self.shape.iter().any(|&n| n < 8) {
            return fail("shape", "needs at least 8 voxels per axis");
        }
        if self.shape.iter().product::<usize>() > 1 << 30 {
            return fail("shape", "is over 2^30 voxels per field");
        }
        if self.voxel_um.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return fail("voxel_um", "must be positive");
        }
        if self.cells == 0 || self.cells > 200 {
            return fail("cells", "must be between 1 and 200");
        }
        let top = self.shape[0] as f64 * self.voxel_um[0] as f64;
        let [lo, hi] = self.cell_height_um;
        if !(lo > 1.0 && lo <= hi && self.glass_um >= 0.0 && self.glass_um + hi < top) {
            return fail("cell_height_um", &format!("must be 1 < low <= high with glass_um + high below the field top ({top:.2} µm)"));
        }
        if !(0.0..=1.0).contains(&self.train_fraction) {
            return fail("train_fraction", "must be between 0 and 1");
        }
        if !(0.0..=1.0).contains(&self.mitochondria.branch_probability) {
            return fail("mitochondria.branch_probability", "must be between 0 and 1");
        }
        let ordered = [
            (
                "nucleoli.count",
                self.nucleoli.count[0] as f64,
                self.nucleoli.count[1] as f64,
            ),
            (
                "nucleoli.radius_um",
                self.nucleoli.radius_um[0],
                self.nucleoli.radius_um[1],
            ),
            (
                "mitochondria.length_um",
                self.mitochondria.length_um[0],
                self.mitochondria.length_um[1],
            ),
            (
                "golgi.pieces",
                self.golgi.pieces[0] as f64,
                self.golgi.pieces[1] as f64,
            ),
            (
                "golgi.arc_degrees",
                self.golgi.arc_degrees[0],
                self.golgi.arc_degrees[1],
            ),
            (
                "actomyosin_bundles.per_cell",
                self.actomyosin_bundles.per_cell[0] as f64,
                self.actomyosin_bundles.per_cell[1] as f64,
            ),
        ];
        for (key, lo, hi) in ordered {
            if !(lo >= 0.0 && lo <= hi) {
                return fail(key, "must be [low, high] with 0 <= low <= high");
            }
        }
        if self.golgi.pieces[0] == 0 {
            return fail("golgi.pieces", "needs at least one piece");
        }
        if self.psf.sigma_um.iter().any(|s| *s < 0.0) || self.brightfield.photons <= 0.0 {
            return fail(
                "psf.sigma_um / brightfield.photons",
                "must be non-negative / positive",
            );
        }
        Ok(())
    }
}
