//! The adversarial loss of 3D Pix2Pix and Vox2Vox-RU (Sun et al., Bioinformatics 2022,
//! Section 2.2): binary cross-entropy on the discriminator's patch logits, with the paper's
//! "warm start" of noisy labels so that the discriminator does not outrun the generator.
//!
//! For iteration i below `warm_start`, every label voxel is
//!   real: 1 − s(i)·N(0, 1),   fake: 0 + s(i)·N(0, 1),   s(i) = noise_scale · (levels − ⌊i / noise_step⌋),
//! with the paper's numbers as defaults: 2500 iterations, scale 0.02, 5 levels of 500
//! iterations each (s falls from 0.1 to 0.02). Afterwards the labels are exactly 1 and 0.
//!
//! Generator term: BCE(D(signal, prediction), real label).
//! Discriminator term: `discriminator_scale` · [BCE(D(signal, target), real) + BCE(D(signal,
//! prediction), fake)]; pix2pix halves it (scale 0.5) to slow the discriminator down.

use silico_plugin_api::prelude::*;
use tch::Reduction;

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct AdversarialConfig {
    /// Iterations with noisy labels.
    pub warm_start: u64,
    pub noise_scale: f64,
    pub noise_levels: u64,
    /// Iterations per noise level.
    pub noise_step: u64,
    pub discriminator_scale: f64,
}

impl Default for AdversarialConfig {
    fn default() -> Self {
        Self {
            warm_start: 2500,
            noise_scale: 0.02,
            noise_levels: 5,
            noise_step: 500,
            discriminator_scale: 0.5,
        }
    }
}

pub struct Adversarial {
    config: AdversarialConfig,
}

impl Adversarial {
    /// The standard deviation of the label noise at `iteration`.
    fn label_noise(&self, iteration: u64) -> f64 {
        let c = &self.config;
        if iteration >= c.warm_start {
            return 0.0;
        }
        let level = (iteration / c.noise_step).min(c.noise_levels);
        c.noise_scale * (c.noise_levels - level) as f64
    }

    /// Labels shaped like `logits`: `value` (1 real, 0 fake) moved by the warm-start noise.
    fn labels(&self, logits: &Tensor, value: f64, iteration: u64) -> Result<Tensor, PluginError> {
        let clean = logits.f_full_like(value)?;
        let sigma = self.label_noise(iteration);
        if sigma == 0.0 {
            return Ok(clean);
        }
        let noise = logits.f_randn_like()? * sigma;
        // Real labels fall below 1, fake ones rise above 0.
        Ok(if value >= 0.5 {
            clean - noise
        } else {
            clean + noise
        })
    }

    fn bce(&self, logits: &Tensor, value: f64, iteration: u64) -> Result<Tensor, PluginError> {
        let labels = self.labels(logits, value, iteration)?;
        Ok(logits.f_binary_cross_entropy_with_logits::<Tensor>(
            &labels,
            None,
            None,
            Reduction::Mean,
        )?)
    }
}

impl Component for Adversarial {
    const NAME: &'static str = "gan-bce";
    const SUMMARY: &'static str =
        "Adversarial BCE loss with the warm start of noisy labels (Sun et al. 2022)";
    type Config = AdversarialConfig;
}

impl Loss for Adversarial {
    fn build(config: AdversarialConfig) -> Result<Self, PluginError> {
        if config.noise_step == 0 {
            return Err(PluginError::new("key `noise_step` must be at least 1"));
        }
        if !(config.noise_scale >= 0.0 && config.discriminator_scale > 0.0) {
            return Err(PluginError::new(format!(
                "keys `noise_scale` must be ≥ 0 and `discriminator_scale` > 0, got {} and {}",
                config.noise_scale, config.discriminator_scale
            )));
        }
        Ok(Self { config })
    }

    fn generator_term(&self, inputs: &LossInputs) -> Result<Tensor, PluginError> {
        let fake = inputs.tensor(names::DISC_FAKE)?;
        self.bce(&fake, 1.0, inputs.iteration())
    }

    fn discriminator_term(&self, inputs: &LossInputs) -> Result<Option<Tensor>, PluginError> {
        let iteration = inputs.iteration();
        let real = self.bce(&inputs.tensor(names::DISC_REAL)?, 1.0, iteration)?;
        let fake = self.bce(&inputs.tensor(names::DISC_FAKE)?, 0.0, iteration)?;
        Ok(Some((real + fake) * self.config.discriminator_scale))
    }
}
