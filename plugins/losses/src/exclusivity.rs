//! The exclusivity loss of the retraining step (Sun et al., Bioinformatics 2022, Section 2.4,
//! Eq. 1: `MSE + p · Exc.Loss`; the registry's `weight` on this term is the paper's p).
//!
//! The paper's term maximizes the mean absolute difference between the prediction of the model
//! being trained and the voxel-wise maximum of all other organelles' current predictions: up
//! where this organelle is highest, down where it is not. Taken literally, −mean|pred − m| is
//! unbounded below, so training could win by inflating intensities without limit. This term
//! caps each voxel's reward at `margin`:
//!
//! ```text
//! m     = max over k of others[n, k, z, y, x]          (others treated as constants)
//! loss  = mean over n, z, y, x of relu(margin − |prediction − m|)
//!       = margin − mean(min(|prediction − m|, margin))
//! ```
//!
//! Its value lies in [0, margin]. Where a voxel is within `margin` of the others' maximum, its
//! gradient is the paper's, −sign(prediction − m) / voxels (pushing the prediction up where it is
//! above m, down where it is below); once a voxel is `margin` clear of m it contributes nothing,
//! so there is no gain in pushing intensities further. `margin` is in the units of the
//! predictions (z-scored intensities for the U-Net of Ounkomol et al. 2018); its default, 1.0, is
//! one standard deviation. At prediction = m exactly the gradient is 0 (the subgradient of |·|).

use silico_plugin_api::prelude::*;

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct ExclusivityLossConfig {
    /// The distance from the other organelles' maximum beyond which a voxel earns no more.
    pub margin: f64,
}

impl Default for ExclusivityLossConfig {
    fn default() -> Self {
        Self { margin: 1.0 }
    }
}

pub struct ExclusivityLoss {
    margin: f64,
}

impl Component for ExclusivityLoss {
    const NAME: &'static str = "exclusivity";
    const SUMMARY: &'static str =
        "Pushes a prediction away from the other organelles' voxel-wise maximum, capped at a margin";
    type Config = ExclusivityLossConfig;
}

impl Loss for ExclusivityLoss {
    fn build(config: ExclusivityLossConfig) -> Result<Self, PluginError> {
        if !(config.margin.is_finite() && config.margin > 0.0) {
            return Err(PluginError::new(format!(
                "key `margin`: must be a positive number, got {}",
                config.margin
            )));
        }
        Ok(Self {
            margin: config.margin,
        })
    }

    fn generator_term(&self, inputs: &LossInputs) -> Result<Tensor, PluginError> {
        let prediction = inputs.tensor(names::PREDICTION)?;
        let others = inputs.get(names::OTHERS).ok_or_else(|| {
            PluginError::new(format!(
                "needs the tensor `{}` (the other organelles' current predictions, (N, K, Z, Y, X)), which the host did not provide",
                names::OTHERS
            ))
        })?;
        let (p, o) = (prediction.size(), others.size());
        if p.len() != 5 || p[1] != 1 {
            return Err(PluginError::new(format!(
                "prediction has shape {p:?}; expected (N, 1, Z, Y, X)"
            )));
        }
        if o.len() != 5 {
            return Err(PluginError::new(format!(
                "others has shape {o:?}; expected (N, K, Z, Y, X)"
            )));
        }
        if o[1] == 0 {
            return Err(PluginError::new(
                "others has no channels (K = 0); the exclusivity loss needs at least one other organelle's prediction",
            ));
        }
        if (p[0], &p[2..]) != (o[0], &o[2..]) {
            return Err(PluginError::new(format!(
                "prediction has shape {p:?} but others has {o:?}; they must agree in N, Z, Y and X"
            )));
        }
        // The other organelles are fixed targets here: only this model is being retrained.
        let others_max = others.detach().f_amax([1i64], true)?;
        let distance = prediction.f_sub(&others_max)?.f_abs()?;
        Ok(distance
            .f_neg()?
            .f_add_scalar(self.margin)?
            .f_relu()?
            .f_mean(prediction.kind())?)
    }
}
