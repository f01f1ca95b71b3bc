//! `socgan bench --workload W` for image GANs, timed through the trainer's own [`Stepper`] (what
//! training does), one workload per process. The PyTorch peer is `benches/peers/image_gans.py`:
//! - `dcgan-step`: one DCGAN step at 64x64, 3 channels, batch 64: a discriminator update on a
//!   real and a generated batch, a generator update on the same generated batch; non-saturating
//!   loss; Adam(2e-4, 0.5, 0.999);
//! - `mlp-gan-epoch`: one epoch (156 steps of 64) of the MLP GAN over 10,000 28x28 images.

use candle_core::Device;
use gan_core::bench::{record, time_median};
use gan_core::trainer::Stepper;
use gan_core::{AdversarialLoss, SeededRng};
use serde_json::{json, Value};
use socgan_data::images::ImageSet;

use crate::experiment::config::{ImageData, ImageGanConfig, ModelConfig};
use crate::layers::Normalization;
use crate::nets::{discriminator, generator, Architecture};
use crate::task::ImageGan;
use crate::{Error, Result};

/// The workloads, in the order `cargo xtask bench` runs them.
pub const WORKLOADS: [&str; 2] = ["dcgan-step", "mlp-gan-epoch"];

const BATCH: usize = 64;

/// Uniform random images: speed does not depend on what they show.
fn random_images(n: usize, channels: usize, size: usize, rng: &mut SeededRng) -> ImageSet {
    ImageSet {
        channels,
        height: size,
        width: size,
        pixels: rng.uniform_vec(n * channels * size * size, 0.0, 1.0),
        labels: None,
        class_names: Vec::new(),
    }
}

/// A task and its trainer config for `architecture` on `images`, DCGAN's optimiser settings.
fn task(
    architecture: Architecture,
    images: ImageSet,
    rng: &mut SeededRng,
    device: &Device,
) -> Result<(ImageGan, ImageGanConfig)> {
    let config = ImageGanConfig {
        task: Default::default(),
        seed: 0,
        out_dir: "bench".into(),
        batch_size: BATCH,
        model: ModelConfig {
            architecture,
            noise_dim: 100,
            width: None,
            normalization: if architecture == Architecture::Mlp {
                Normalization::None
            } else {
                Normalization::Batch
            },
            mlp: None,
        },
        loss: AdversarialLoss::NonSaturating,
        data: ImageData::Mnist,
        data_seed: 0,
        schedule: Default::default(),
        optim: Default::default(),
        evaluation: Default::default(),
        stabilizers: Default::default(),
    };
    let shape = config.net_shape(images.channels, images.height);
    let g = generator(&shape, device, rng)?;
    let d = discriminator(&shape, device, rng)?;
    let grid = rng.normal((1, 100), 0.0, 1.0, device)?;
    let gan = ImageGan::new(
        g,
        d,
        shape,
        config.loss.clone(),
        images,
        BATCH,
        1,
        None,
        grid,
    )?;
    Ok((gan, config))
}

/// Runs `steps_per_repeat` trainer steps per timed repetition, after one untimed repetition;
/// the median seconds.
fn time_steps(
    gan: &mut ImageGan,
    config: &ImageGanConfig,
    steps_per_repeat: u64,
    repeats: usize,
) -> Result<f64> {
    let mut trainer_config = config.trainer_config();
    trainer_config.phases[0].steps = steps_per_repeat * (repeats.max(1) as u64 + 1);
    let device = gan.g_params.device().clone();
    let mut stepper = Stepper::new(&trainer_config, gan)?;
    let mut step = 0;
    time_median(repeats, &device, || {
        for _ in 0..steps_per_repeat {
            stepper.step(gan, step)?;
            step += 1;
        }
        Ok(())
    })
}

/// Runs `workload` on `device`; one JSON record (see [`gan_core::bench::record`]).
pub fn run(workload: &str, repeats: usize, device: &Device) -> Result<Value> {
    let mut rng = SeededRng::new(0);
    let (seconds, throughput, unit) = match workload {
        "dcgan-step" => {
            let (mut gan, config) = task(
                Architecture::Dcgan,
                random_images(BATCH * 4, 3, 64, &mut rng),
                &mut rng,
                device,
            )?;
            let s = time_steps(&mut gan, &config, 1, repeats)?;
            (s, BATCH as f64 / s, "images/s")
        }
        "mlp-gan-epoch" => {
            let images = random_images(10_000, 1, 28, &mut rng);
            let (mut gan, config) = task(Architecture::Mlp, images, &mut rng, device)?;
            let per_epoch = gan.batches_per_epoch();
            let s = time_steps(&mut gan, &config, per_epoch, repeats)?;
            (s, (per_epoch as usize * BATCH) as f64 / s, "images/s")
        }
        other => {
            return Err(Error::Config(format!(
                "unknown workload `{other}`; one of {}",
                WORKLOADS.join(", ")
            )))
        }
    };
    Ok(record(
        workload,
        device,
        seconds,
        json!({ "throughput": throughput, "unit": unit }),
    ))
}
