//! Pixel-wise loss terms: mean squared error (the loss of Ounkomol et al. 2018, pytorch_fnet's
//! `torch.nn.MSELoss`) and mean absolute error (the λ·L1 term of pix2pix, Isola et al. 2017).
//! Sun et al. 2022 (Section 2.4) use L1 for membrane-like and L2 for tubule-like structures.
//! Also the exclusivity term of their retraining (Section 2.4; see [`ExclusivityLoss`]).

mod adversarial;
mod exclusivity;

pub use adversarial::Adversarial;
pub use exclusivity::{ExclusivityLoss, ExclusivityLossConfig};
use silico_plugin_api::prelude::*;
use std::marker::PhantomData;
use tch::Reduction;

/// How the per-voxel errors are combined into one number.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReductionKind {
    #[default]
    Mean,
    Sum,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PixelLossConfig {
    /// `"mean"` (default) or `"sum"` over all voxels of the batch.
    pub reduction: ReductionKind,
}

impl From<ReductionKind> for Reduction {
    fn from(kind: ReductionKind) -> Self {
        match kind {
            ReductionKind::Mean => Reduction::Mean,
            ReductionKind::Sum => Reduction::Sum,
        }
    }
}

/// Prediction and target of the same shape, or an error saying which shapes differ.
fn prediction_and_target(inputs: &LossInputs) -> Result<(Tensor, Tensor), PluginError> {
    let prediction = inputs.tensor(names::PREDICTION)?;
    let target = inputs.tensor(names::TARGET)?;
    if prediction.size() != target.size() {
        return Err(PluginError::new(format!(
            "prediction has shape {:?} but target has {:?}",
            prediction.size(),
            target.size()
        )));
    }
    Ok((prediction, target))
}

/// What distinguishes one pixel-wise loss from another: its name and its per-voxel error.
pub trait PixelError: Send + 'static {
    const NAME: &'static str;
    const SUMMARY: &'static str;
    fn loss(
        prediction: &Tensor,
        target: &Tensor,
        reduction: Reduction,
    ) -> Result<Tensor, tch::TchError>;
}

/// A pixel-wise loss between prediction and target, reduced over the batch.
pub struct PixelLoss<E> {
    reduction: Reduction,
    error: PhantomData<E>,
}

impl<E: PixelError> Component for PixelLoss<E> {
    const NAME: &'static str = E::NAME;
    const SUMMARY: &'static str = E::SUMMARY;
    type Config = PixelLossConfig;
}

impl<E: PixelError> Loss for PixelLoss<E> {
    fn build(config: PixelLossConfig) -> Result<Self, PluginError> {
        Ok(Self {
            reduction: config.reduction.into(),
            error: PhantomData,
        })
    }

    fn generator_term(&self, inputs: &LossInputs) -> Result<Tensor, PluginError> {
        let (prediction, target) = prediction_and_target(inputs)?;
        Ok(E::loss(&prediction, &target, self.reduction)?)
    }
}

pub enum Squared {}

impl PixelError for Squared {
    const NAME: &'static str = "mse";
    const SUMMARY: &'static str = "Mean squared error between prediction and target (L2)";
    fn loss(
        prediction: &Tensor,
        target: &Tensor,
        reduction: Reduction,
    ) -> Result<Tensor, tch::TchError> {
        prediction.f_mse_loss(target, reduction)
    }
}

pub enum Absolute {}

impl PixelError for Absolute {
    const NAME: &'static str = "l1";
    const SUMMARY: &'static str = "Mean absolute error between prediction and target (L1)";
    fn loss(
        prediction: &Tensor,
        target: &Tensor,
        reduction: Reduction,
    ) -> Result<Tensor, tch::TchError> {
        prediction.f_l1_loss(target, reduction)
    }
}

pub type MeanSquaredError = PixelLoss<Squared>;
pub type MeanAbsoluteError = PixelLoss<Absolute>;

silico_plugin_api::export_plugin! {
    losses: [MeanSquaredError, MeanAbsoluteError, Adversarial, ExclusivityLoss],
}

#[cfg(test)]
mod tests {
    use super::*;
    use silico_plugin_api::testing::{check_loss, LossReport};

    fn tensor(values: &[f32], shape: [i64; 5]) -> Tensor {
        Tensor::from_slice(values).reshape(shape)
    }

    fn generator_only(value: f64) -> LossReport {
        LossReport {
            generator_term: value,
            discriminator_term: None,
        }
    }

    #[test]
    fn pixel_losses_reduce_by_mean_or_sum() {
        let prediction = tensor(&[1.0, -3.0], [1, 1, 1, 1, 2]);
        let target = tensor(&[0.0, 0.0], [1, 1, 1, 1, 2]);
        let inputs = [(names::PREDICTION, &prediction), (names::TARGET, &target)];
        for (config, mse, l1) in [("", 5.0, 2.0), ("reduction = \"sum\"", 10.0, 4.0)] {
            let report = check_loss::<MeanSquaredError>(config, 0, &inputs).unwrap();
            assert_eq!(report, generator_only(mse), "mse {config}");
            let report = check_loss::<MeanAbsoluteError>(config, 0, &inputs).unwrap();
            assert_eq!(report, generator_only(l1), "l1 {config}");
        }
    }

    #[test]
    fn pixel_losses_refuse_mismatched_shapes() {
        let prediction = Tensor::zeros([1, 1, 2, 2, 2], (Kind::Float, Device::Cpu));
        let target = Tensor::zeros([1, 1, 2, 2, 1], (Kind::Float, Device::Cpu));
        let inputs = [(names::PREDICTION, &prediction), (names::TARGET, &target)];
        let err = check_loss::<MeanSquaredError>("", 0, &inputs).unwrap_err();
        assert!(
            err.message()
                .ends_with("prediction has shape [1, 1, 2, 2, 2] but target has [1, 1, 2, 2, 1]"),
            "{err}"
        );
    }

    #[test]
    fn adversarial_terms_after_and_during_the_warm_start() {
        let logits = Tensor::zeros([2, 1, 2, 2, 2], (Kind::Float, Device::Cpu));
        let inputs = [(names::DISC_REAL, &logits), (names::DISC_FAKE, &logits)];
        // Clean labels: BCE of logit 0 is ln 2 for either label; the discriminator's sum of
        // two is halved by the default scale.
        let report = check_loss::<Adversarial>("warm_start = 0", 0, &inputs).unwrap();
        let ln2 = std::f64::consts::LN_2;
        assert!((report.generator_term - ln2).abs() < 1e-6, "{report:?}");
        assert!(
            (report.discriminator_term.unwrap() - ln2).abs() < 1e-6,
            "{report:?}"
        );
        check_loss::<Adversarial>("", 0, &inputs).unwrap();
    }

    #[test]
    fn exclusivity_rewards_distance_from_the_others_maximum_up_to_the_margin() {
        let prediction = Tensor::zeros([1, 1, 1, 2, 2], (Kind::Float, Device::Cpu));
        let others = tensor(
            &[0.25, 0.25, 5.0, -0.25, 0.0, 0.0, 0.0, 0.0],
            [1, 2, 1, 2, 2],
        );
        let inputs = [(names::PREDICTION, &prediction), (names::OTHERS, &others)];
        // Distances to the maximum 0.25, 0.25, 5, 0: relu(1 − d) = 0.75, 0.75, 0, 1.
        let report = check_loss::<ExclusivityLoss>("", 0, &inputs).unwrap();
        assert_eq!(report, generator_only(0.625));
    }
}
