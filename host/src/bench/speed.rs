//! `silico bench`: seconds per training iteration of a registry model on random data of its
//! batch and patch size, the number `python/bench_train.py` measures for the same network in
//! PyTorch (`scripts/bench` runs both and prints the ratios).

use crate::{data::Batch, plugins::Plugins, registry::ModelSpec, trainer::Trainer};
use anyhow::Result;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

pub struct BenchResult {
    pub seconds_per_iteration: f64,
    pub iterations: u64,
    pub channels_last: bool,
}

/// Times `iterations` training steps after `warmup` untimed ones.
pub fn bench_training(
    plugins: &Plugins,
    model_name: &str,
    spec: &ModelSpec,
    warmup: u64,
    iterations: u64,
    device: Device,
) -> Result<BenchResult> {
    let mut trainer = Trainer::build(plugins, model_name, spec, 0, device)?;
    let settings = &spec.train;
    let [z, y, x] = settings.patch;
    let shape = [settings.batch as i64, 1, z, y, x];
    let batch = Batch {
        signal: Tensor::randn(shape, (Kind::Float, device)),
        target: Tensor::randn(shape, (Kind::Float, device)),
        others: None,
    };
    for i in 0..warmup {
        trainer.step(&batch, i)?;
    }
    synchronize(device);
    let started = Instant::now();
    for i in 0..iterations {
        trainer.step(&batch, warmup + i)?;
    }
    synchronize(device);
    Ok(BenchResult {
        seconds_per_iteration: started.elapsed().as_secs_f64() / iterations.max(1) as f64,
        iterations,
        channels_last: trainer.channels_last(),
    })
}

/// Waits for the device's queued kernels, so that a timing covers them.
fn synchronize(device: Device) {
    if let Device::Cuda(index) = device {
        tch::Cuda::synchronize(index as i64);
    }
}
