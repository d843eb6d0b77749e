//! A complete plugin library in one file, to copy: the Huber loss (smooth L1; Huber 1964),
//! quadratic for errors below `delta` and linear above, so that a few very wrong voxels do not
//! dominate the objective the way they do under MSE.
//!
//! A plugin author writes plain Rust: a config struct, a type implementing `Component` and one
//! of `Network`, `Loss` or `Metric`, and one `export_plugin!`.

use silico_plugin_api::prelude::*;
use tch::Reduction;

/// Every key a registry may set on this component; unset keys take these defaults.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct HuberConfig {
    /// Where the loss turns from quadratic to linear, in normalized intensity units.
    pub delta: f64,
}

impl Default for HuberConfig {
    fn default() -> Self {
        Self { delta: 1.0 }
    }
}

pub struct Huber {
    delta: f64,
}

impl Component for Huber {
    const NAME: &'static str = "huber";
    const SUMMARY: &'static str = "Huber (smooth L1) loss between prediction and target";
    type Config = HuberConfig;
}

impl Loss for Huber {
    fn build(config: HuberConfig) -> Result<Self, PluginError> {
        if config.delta.is_nan() || config.delta <= 0.0 {
            return Err(PluginError::new(format!(
                "key `delta` must be positive, got {}",
                config.delta
            )));
        }
        Ok(Self {
            delta: config.delta,
        })
    }

    fn generator_term(&self, inputs: &LossInputs) -> Result<Tensor, PluginError> {
        let prediction = inputs.tensor(names::PREDICTION)?;
        let target = inputs.tensor(names::TARGET)?;
        Ok(prediction.f_huber_loss(&target, Reduction::Mean, self.delta)?)
    }
}

silico_plugin_api::export_plugin! {
    losses: [Huber],
}

// The tests build the loss as the host does (from its registry table as TOML) and check that
// it is a finite scalar the generator can learn from and that a misspelt key is refused.
#[cfg(test)]
mod tests {
    use super::*;
    use silico_plugin_api::testing::check_loss;

    #[test]
    fn quadratic_below_delta_and_linear_above() {
        let prediction = Tensor::from_slice(&[0.5f32, 3.0]);
        let target = Tensor::zeros([2], (Kind::Float, Device::Cpu));
        let inputs = [(names::PREDICTION, &prediction), (names::TARGET, &target)];
        // delta = 1: 0.5 · 0.5² = 0.125 and 1 · (3 − 0.5) = 2.5, averaged.
        let report = check_loss::<Huber>("delta = 1.0", 0, &inputs).unwrap();
        assert_eq!(report.generator_term, 1.3125);
        assert_eq!(report.discriminator_term, None);
    }

    #[test]
    fn delta_must_be_positive() {
        let err = Huber::build(HuberConfig { delta: 0.0 }).err().unwrap();
        assert_eq!(err.message(), "key `delta` must be positive, got 0");
    }
}
