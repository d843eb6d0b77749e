//! Adam (Kingma & Ba 2015) over plugin-owned parameters, with its state in plain tensors so
//! that a checkpoint holds it and a resumed run continues exactly. The update is PyTorch's
//! `torch.optim.Adam` (no weight decay, no amsgrad):
//! m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − lr · m̂ / (√v̂ + ε), m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).

use anyhow::{bail, Result};
use tch::Tensor;

pub struct Adam {
    parameters: Vec<Tensor>,
    lr: f64,
    betas: [f64; 2],
    eps: f64,
    step: u64,
    first_moments: Vec<Tensor>,
    second_moments: Vec<Tensor>,
}

impl Adam {
    pub fn new(parameters: Vec<Tensor>, lr: f64, betas: [f64; 2]) -> Self {
        let zeros = |ps: &[Tensor]| ps.iter().map(Tensor::zeros_like).collect();
        Self {
            first_moments: zeros(&parameters),
            second_moments: zeros(&parameters),
            parameters,
            lr,
            betas,
            eps: 1e-8,
            step: 0,
        }
    }

    /// The parameters this optimizer updates.
    pub fn parameters(&self) -> &[Tensor] {
        &self.parameters
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.parameters {
            let mut grad = p.grad();
            if grad.defined() {
                let _ = grad.detach_().zero_();
            }
        }
    }

    /// One update from the gradients now held by the parameters; parameters without a
    /// gradient are left as they are.
    pub fn step(&mut self) -> Result<()> {
        self.step += 1;
        let [beta1, beta2] = self.betas;
        let correction1 = 1.0 - beta1.powi(self.step as i32);
        let correction2 = 1.0 - beta2.powi(self.step as i32);
        tch::no_grad(|| -> Result<()> {
            for ((p, m), v) in self
                .parameters
                .iter_mut()
                .zip(&mut self.first_moments)
                .zip(&mut self.second_moments)
            {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                // In place, as torch.optim.Adam's single-tensor step: one temporary per moment.
                let _ = m.f_lerp_(&grad, 1.0 - beta1)?;
                let _ = v.f_lerp_(&grad.f_square()?, 1.0 - beta2)?;
                let mut denominator = v.f_sqrt()?;
                let _ = denominator
                    .f_div_scalar_(correction2.sqrt())?
                    .f_add_scalar_(self.eps)?
                    .f_div_scalar_(-self.lr / correction1)?;
                let _ = p.f_addcdiv_(m, &denominator)?;
            }
            Ok(())
        })
    }

    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The moments by name (`m.<i>`, `v.<i>`), for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let named = |prefix: &str, ts: &[Tensor]| {
            ts.iter()
                .enumerate()
                .map(|(i, t)| (format!("{prefix}.{i}"), t.shallow_clone()))
                .collect::<Vec<_>>()
        };
        let mut state = named("m", &self.first_moments);
        state.extend(named("v", &self.second_moments));
        state
    }

    /// Restores the moments saved by [`Adam::state`] after `steps` updates.
    pub fn load_state(&mut self, state: &[(String, Tensor)], steps: u64) -> Result<()> {
        let find = |name: String| state.iter().find(|(n, _)| *n == name).map(|(_, t)| t);
        for (i, (m, v)) in self
            .first_moments
            .iter_mut()
            .zip(&mut self.second_moments)
            .enumerate()
        {
            let (Some(saved_m), Some(saved_v)) = (find(format!("m.{i}")), find(format!("v.{i}")))
            else {
                bail!("the optimizer state has no moments for parameter {i}; was it saved for another model?");
            };
            if saved_m.size() != m.size() || saved_v.size() != v.size() {
                bail!(
                    "the optimizer state of parameter {i} has shape {:?}, the model {:?}",
                    saved_m.size(),
                    m.size()
                );
            }
            tch::no_grad(|| -> Result<()> {
                m.f_copy_(saved_m)?;
                v.f_copy_(saved_v)?;
                Ok(())
            })?;
        }
        self.step = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn matches_pytorch_adam_on_a_quadratic() {
        // torch.optim.Adam([p], lr=0.1, betas=(0.5, 0.999)) on sum(p²) from p = [1, -2],
        // three steps: p = [0.706971313566, -1.703216103692] (printed by PyTorch 2.13).
        let p = Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true);
        let mut adam = Adam::new(vec![p.shallow_clone()], 0.1, [0.5, 0.999]);
        for _ in 0..3 {
            adam.zero_grad();
            p.square().sum(Kind::Double).backward();
            adam.step().unwrap();
        }
        let values = Vec::<f64>::try_from(&p.detach()).unwrap();
        assert!((values[0] - 0.706_971_313_566).abs() < 1e-10, "{values:?}");
        assert!((values[1] + 1.703_216_103_692).abs() < 1e-10, "{values:?}");
    }

    #[test]
    fn resumed_state_continues_identically() {
        let run = |split: Option<usize>| {
            let p = Tensor::from_slice(&[0.5f32, 1.5, -1.0]).set_requires_grad(true);
            let mut adam = Adam::new(vec![p.shallow_clone()], 0.05, [0.9, 0.999]);
            for i in 0..6 {
                if Some(i) == split {
                    let (state, steps) = (adam.state(), adam.steps());
                    adam = Adam::new(vec![p.shallow_clone()], 0.05, [0.9, 0.999]);
                    adam.load_state(
                        &state
                            .iter()
                            .map(|(n, t)| (n.clone(), t.copy()))
                            .collect::<Vec<_>>(),
                        steps,
                    )
                    .unwrap();
                }
                adam.zero_grad();
                (p.pow_tensor_scalar(4) - &p).sum(Kind::Float).backward();
                adam.step().unwrap();
            }
            p.detach()
        };
        assert!(run(None).equal(&run(Some(3))));
    }
}
