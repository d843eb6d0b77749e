//! `silico bench`: seconds per training iteration of a registry model on random data of its
//! batch and patch size, the number `python/bench_train.py` measures for the same network in
//! PyTorch (`scripts/bench` runs both and prints the ratios).

use crate::{
    data::Batch, model::Model, optim::Adam, plugins::Plugins, registry::Registry, train::step,
};
use anyhow::Result;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

pub struct BenchResult {
    pub seconds_per_iteration: f64,
    pub iterations: u64,
}

/// Times `iterations` training steps after `warmup` untimed ones.
pub fn bench_training(
    registry: &Registry,
    plugins: &Plugins,
    model_name: &str,
    warmup: u64,
    iterations: u64,
    device: Device,
) -> Result<BenchResult> {
    let spec = registry.model(model_name)?;
    tch::manual_seed(0);
    let mut model = Model::build(plugins, model_name, spec, 1, 1)?;
    model.generator.set_device(device)?;
    if let Some(d) = &mut model.discriminator {
        d.set_device(device)?;
    }
    let settings = &spec.train;
    let mut optimizer_g = Adam::new(model.generator.parameters()?, settings.lr, settings.betas);
    let mut optimizer_d = match &model.discriminator {
        Some(d) => Some(Adam::new(d.parameters()?, settings.lr, settings.betas)),
        None => None,
    };
    let [z, y, x] = settings.patch;
    let shape = [settings.batch as i64, 1, z, y, x];
    let batch = Batch {
        signal: Tensor::randn(shape, (Kind::Float, device)),
        target: Tensor::randn(shape, (Kind::Float, device)),
        others: None,
    };
    let mut run = |iteration: u64| {
        step(
            &mut model,
            &mut optimizer_g,
            optimizer_d.as_mut(),
            &batch,
            iteration,
        )
    };
    for i in 0..warmup {
        run(i)?;
    }
    let started = Instant::now();
    for i in 0..iterations {
        run(warmup + i)?;
    }
    if device.is_cuda() {
        tch::Cuda::synchronize(0);
    }
    Ok(BenchResult {
        seconds_per_iteration: started.elapsed().as_secs_f64() / iterations.max(1) as f64,
        iterations,
    })
}
