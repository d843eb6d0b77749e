//! The trainer builds a model where it is asked to: every parameter, buffer and optimizer
//! moment on the device before the first step and after it, and checkpoints that leave on the
//! CPU and come back onto the device. Runs on the CPU here and on every CUDA device libtorch
//! sees (the GPU check script runs this test on a GPU machine).

mod common;

use common::{scratch_registry, TINY};
use silico::{checkpoint::CheckpointMeta, data::Batch, Plugins, Registry, Trainer};
use tch::{Device, Kind, Tensor};

/// The tiny U-Net, and a tiny pix2pix whose discriminator and its optimizer must move too.
const MODELS: &str = r#"
[models.adversarial]
generator = { component = "unet3d", depth = 1, mult_chan = 2 }
discriminator = { component = "patchgan3d", base_channels = 2, layers = 1 }
losses = [{ component = "gan-bce" }, { component = "l1", weight = 10.0 }]
"#;

fn devices() -> Vec<Device> {
    let cuda = (0..tch::Cuda::device_count() as usize).map(Device::Cuda);
    std::iter::once(Device::Cpu).chain(cuda).collect()
}

fn batch(device: Device) -> Batch {
    let shape = [1, 1, 16, 16, 16];
    Batch {
        signal: Tensor::randn(shape, (Kind::Float, device)),
        target: Tensor::randn(shape, (Kind::Float, device)),
        others: None,
    }
}

#[test]
fn every_tensor_of_a_trainer_lives_on_its_device_and_checkpoints_cross_devices() {
    let text = TINY.replace(
        "unet3d = \"{unet3d}\"",
        "unet3d = \"{unet3d}\"\npatchgan3d = \"{patchgan3d}\"",
    ) + MODELS;
    let scratch = scratch_registry(&text);
    let registry = Registry::load(&scratch.path).unwrap();
    let plugins = Plugins::load(&registry).unwrap();
    for device in devices() {
        for name in ["tiny", "adversarial"] {
            let spec = registry.model(name).unwrap();
            let mut trainer = Trainer::build(&plugins, name, spec, 0, device).unwrap();
            let placements = trainer.placements().unwrap();
            let moments = placements
                .iter()
                .filter(|p| p.tensor.contains("optimizer"))
                .count();
            let buffers = placements
                .iter()
                .filter(|p| p.tensor.contains("running_mean"))
                .count();
            assert!(moments > 0 && buffers > 0, "{name}: {placements:?}");
            if name == "adversarial" {
                assert!(
                    placements
                        .iter()
                        .any(|p| p.tensor.starts_with("discriminator optimizer")),
                    "{placements:?}"
                );
            }
            for p in &placements {
                assert_eq!(
                    p.device, device,
                    "{name}: {} before the first step",
                    p.tensor
                );
            }
            trainer.step(&batch(device), 0).unwrap();
            trainer.check_placement().unwrap();

            // Saved from the device, the checkpoint holds CPU tensors, and loads back onto the
            // device, to the same weights.
            let run = scratch.dir.path().join(format!("{name}-{device:?}"));
            let meta = CheckpointMeta {
                iteration: 1,
                model: name.into(),
                model_table: registry.model_tables[name].to_string(),
                structure: "nucleoli".into(),
                in_channels: 1,
                out_channels: 1,
                voxel_um: None,
            };
            let dir = silico::checkpoint::checkpoint_dir(&run);
            trainer.save(&dir, &meta).unwrap();
            let saved =
                silico::checkpoint::read_tensors(&dir.join(silico::checkpoint::GENERATOR_FILE))
                    .unwrap();
            assert!(saved.iter().all(|(_, t)| t.device() == Device::Cpu));
            let mut restored = Trainer::build(&plugins, name, spec, 1, device).unwrap();
            restored.resume_from(&dir).unwrap();
            restored.check_placement().unwrap();
            let weights = |t: &Trainer| t.model().generator.state().unwrap();
            for ((name, a), (_, b)) in weights(&trainer).iter().zip(weights(&restored).iter()) {
                assert!(a.equal(b), "{name} differs after the round trip");
            }
        }
    }
}

#[test]
fn a_channels_last_model_trains_on_channels_last_weights_and_saves_standard_ones() {
    let text = TINY.replace(
        "losses = [{ component = \"mse\" }, { component = \"l1\", weight = 0.5 }]",
        "losses = [{ component = \"mse\" }]\ntrain = { memory_format = \"channels-last\", precision = \"bf16\" }",
    );
    let scratch = scratch_registry(&text);
    let registry = Registry::load(&scratch.path).unwrap();
    let plugins = Plugins::load(&registry).unwrap();
    let spec = registry.model("tiny").unwrap();
    let mut trainer = Trainer::build(&plugins, "tiny", spec, 0, Device::Cpu).unwrap();
    assert!(trainer.channels_last());
    let weights = |t: &Trainer| -> Vec<Tensor> { t.parameters().unwrap().0 };
    let convolutions = weights(&trainer)
        .into_iter()
        .filter(|w| w.dim() == 5)
        .collect::<Vec<_>>();
    assert!(!convolutions.is_empty());
    assert!(convolutions
        .iter()
        .all(silico::precision::is_channels_last_3d));
    let losses = trainer.step(&batch(Device::Cpu), 0).unwrap();
    assert!(losses.iter().all(|(_, v)| v.is_finite()), "{losses:?}");
    assert!(
        weights(&trainer)
            .iter()
            .filter(|w| w.dim() == 5)
            .all(silico::precision::is_channels_last_3d),
        "still channels-last after a step"
    );
    let dir = scratch.dir.path().join("checkpoint");
    let meta = CheckpointMeta {
        iteration: 1,
        model: "tiny".into(),
        model_table: registry.model_tables["tiny"].to_string(),
        structure: "nucleoli".into(),
        in_channels: 1,
        out_channels: 1,
        voxel_um: None,
    };
    trainer.save(&dir, &meta).unwrap();
    let saved =
        silico::checkpoint::read_tensors(&dir.join(silico::checkpoint::GENERATOR_FILE)).unwrap();
    // Row-major as PyTorch saves them (a 1-channel tensor is both layouts at once).
    assert!(saved.iter().all(|(_, t)| t.is_contiguous()));
    assert!(saved.iter().any(|(_, t)| t.dim() == 5
        && t.size()[1] > 1
        && !silico::precision::is_channels_last_3d(t)));
    let mut restored = Trainer::build(&plugins, "tiny", spec, 1, Device::Cpu).unwrap();
    restored.resume_from(&dir).unwrap();
    for (a, b) in weights(&trainer).iter().zip(&weights(&restored)) {
        assert!(a.equal(b));
    }
}
