//! An image GAN as a [`gan_core::Task`]: discriminator and generator updates with any of the
//! core's adversarial losses, evaluation by classifier-FID, and a sample grid per evaluation.

use candle_core::{Device, Tensor};
use gan_core::loss::gradient_penalty;
use gan_core::{
    AdversarialLoss, EvalContext, Evaluation, Losses, Metrics, Mode, ParamGroup, ParamStore,
    SeededRng, StepContext, Task, UpdateKind,
};
use socgan_data::images::{write_grid, ImageSet};

use crate::classifier::batch_tensor;
use crate::evaluation::{images_of, FidEvaluator};
use crate::nets::{Discriminator, Generator, NetShape};
use crate::stabilizers::{add_instance_noise, smoothed_discriminator_loss, Stabilizers};
use crate::{Error, Result};

/// Group, optimizer and loss names of an image GAN run.
pub mod names {
    pub const GENERATOR: &str = "generator";
    pub const DISCRIMINATOR: &str = "discriminator";
    pub const G_LOSS: &str = "g_loss";
    pub const D_LOSS: &str = "d_loss";
}

/// The two updates of an adversarial round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageUpdate {
    Discriminator,
    Generator,
}

impl UpdateKind for ImageUpdate {
    fn name(&self) -> &'static str {
        match self {
            ImageUpdate::Discriminator => "discriminator",
            ImageUpdate::Generator => "generator",
        }
    }
}

/// Generator, discriminator, the training images (at the generator's resolution, `[0, 1]`) and
/// the evaluation.
pub struct ImageGan {
    pub generator: Generator,
    pub g_params: ParamStore,
    pub discriminator: Discriminator,
    /// `discriminator` with detached parameters, for generator updates.
    frozen_discriminator: Discriminator,
    pub d_params: ParamStore,
    pub shape: NetShape,
    pub loss: AdversarialLoss,
    pub train: ImageSet,
    pub batch_size: usize,
    /// Discriminator updates per round (to number the real batches).
    pub discriminator_steps: u64,
    /// `None` for unlabelled images: no classifier, no FID (losses and grids only).
    pub evaluator: Option<FidEvaluator>,
    /// Noise of the sample grid, the same at every evaluation so that a run can be watched.
    pub grid_noise: Tensor,
    /// Label smoothing, instance noise (the minibatch statistic is in the discriminator).
    pub stabilizers: Stabilizers,
    /// The run's rounds, over which instance noise is annealed.
    pub steps: u64,
    /// The image order of the epoch last read from (drawn from the seed, so not checkpointed).
    epoch_order: Option<(u64, Vec<usize>)>,
    /// The last discriminator update's generated batch (with its graph) and real batch: the
    /// generator update of the same round reuses them, as PyTorch's DCGAN does.
    pending: Option<(Tensor, Tensor)>,
}

impl ImageGan {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (generator, g_params): (Generator, ParamStore),
        (discriminator, d_params): (Discriminator, ParamStore),
        shape: NetShape,
        loss: AdversarialLoss,
        train: ImageSet,
        batch_size: usize,
        discriminator_steps: u64,
        evaluator: Option<FidEvaluator>,
        grid_noise: Tensor,
    ) -> Result<Self> {
        if batch_size == 0 || train.len() < batch_size {
            return Err(Error::Config(format!(
                "batch size {batch_size} needs 1..={} training images",
                train.len()
            )));
        }
        if (train.channels, train.height) != (shape.channels, shape.size) {
            return Err(Error::Shape(format!(
                "training images are {}x{}x{}, the model makes {}x{}x{}",
                train.channels, train.height, train.width, shape.channels, shape.size, shape.size
            )));
        }
        Ok(Self {
            generator,
            g_params,
            frozen_discriminator: discriminator.frozen(),
            discriminator,
            d_params,
            shape,
            loss,
            train,
            batch_size,
            discriminator_steps: discriminator_steps.max(1),
            evaluator,
            grid_noise,
            stabilizers: Stabilizers::default(),
            steps: 1,
            epoch_order: None,
            pending: None,
        })
    }

    /// The task with `stabilizers` (instance noise annealed over `steps` rounds).
    pub fn with_stabilizers(self, stabilizers: Stabilizers, steps: u64) -> Self {
        Self {
            stabilizers,
            steps,
            ..self
        }
    }

    pub fn device(&self) -> &Device {
        self.g_params.device()
    }

    pub fn batches_per_epoch(&self) -> u64 {
        (self.train.len() / self.batch_size) as u64
    }

    /// Real batch number `index` of the run: epochs visit the images in the order of
    /// `derive(seed, "batches", epoch)`, in the generator's pixel range.
    fn real_batch(&mut self, seed: u64, index: u64) -> Result<Tensor> {
        let per_epoch = self.batches_per_epoch();
        let epoch = index / per_epoch;
        // The epoch's order is drawn once, not once a batch.
        if self.epoch_order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let order = SeededRng::derive(seed, "batches", epoch).permutation(self.train.len());
            self.epoch_order = Some((epoch, order));
        }
        let order = &self.epoch_order.as_ref().expect("drawn above").1;
        let start = (index % per_epoch) as usize * self.batch_size;
        let batch = self.train.select(&order[start..start + self.batch_size]);
        let x = batch_tensor(&batch, 0..batch.len(), self.device())?;
        self.shape.pixel_range().from_unit(&x)
    }

    fn noise(&self, rng: &mut SeededRng) -> Result<Tensor> {
        Ok(rng.normal(
            (self.batch_size, self.shape.noise_dim),
            0.0,
            1.0,
            self.device(),
        )?)
    }

    fn discriminator_update(&mut self, ctx: &mut StepContext) -> Result<Losses> {
        let index = ctx.step * self.discriminator_steps + ctx.repeat;
        let real = self.real_batch(ctx.seed, index)?;
        let z = self.noise(ctx.rng)?;
        let fake = self.generator.forward(&z, &Mode::Train(ctx.rng))?;
        let noise = self.stabilizers.noise_std(ctx.step, self.steps);
        let noisy_real = add_instance_noise(&real, noise, ctx.rng)?;
        let noisy_fake = add_instance_noise(&fake.detach(), noise, ctx.rng)?;
        let d_real = self
            .discriminator
            .forward(&noisy_real, &Mode::Train(ctx.rng))?;
        let d_fake = self
            .discriminator
            .forward(&noisy_fake, &Mode::Train(ctx.rng))?;
        let mut loss = match self.stabilizers.real_label {
            Some(label) => smoothed_discriminator_loss(&self.loss, &d_real, &d_fake, label)?,
            None => self.loss.discriminator_loss(&d_real, &d_fake)?,
        };
        if let Some(lambda) = self.loss.gradient_penalty_weight() {
            let disc = &self.discriminator;
            let critic = |x: &Tensor| disc.forward(x, &Mode::Eval).map_err(gan_core::Error::from);
            let penalty = gradient_penalty(critic, &real, &fake, ctx.rng)?;
            loss = (loss + (penalty * lambda)?)?;
        }
        let mean = |t: &Tensor| -> Result<f64> { Ok(t.mean_all()?.to_scalar::<f32>()? as f64) };
        let metrics = Losses::single(names::D_LOSS, loss, &[names::DISCRIMINATOR])
            .with("d_real", mean(&d_real)?)
            .with("d_fake", mean(&d_fake)?);
        self.pending = Some((fake, real));
        Ok(metrics)
    }

    fn generator_update(&mut self, ctx: &mut StepContext) -> Result<Losses> {
        let (fake, real) = match self.pending.take() {
            Some(p) => p,
            None => {
                let z = self.noise(ctx.rng)?;
                let real = self.real_batch(ctx.seed, ctx.step * self.discriminator_steps)?;
                (self.generator.forward(&z, &Mode::Train(ctx.rng))?, real)
            }
        };
        let critic = &self.frozen_discriminator;
        let noise = self.stabilizers.noise_std(ctx.step, self.steps);
        let fake = add_instance_noise(&fake, noise, ctx.rng)?;
        let d_fake = critic.forward(&fake, &Mode::Train(ctx.rng))?;
        let d_real = if self.loss.generator_needs_real() {
            let real = add_instance_noise(&real, noise, ctx.rng)?;
            critic.forward(&real, &Mode::Train(ctx.rng))?
        } else {
            d_fake.clone()
        };
        let loss = self.loss.generator_loss(&d_real, &d_fake)?;
        Ok(Losses::single(names::G_LOSS, loss, &[names::GENERATOR]))
    }

    /// The sample grid of the fixed grid noise, `[0, 1]`.
    pub fn grid(&self) -> Result<ImageSet> {
        let mut dims = (0, 0, 0);
        let pixels = images_of(
            &self.generator,
            self.shape.pixel_range(),
            &self.grid_noise,
            &mut dims,
        )?;
        Ok(ImageSet {
            channels: dims.0,
            height: dims.1,
            width: dims.2,
            pixels,
            labels: None,
            class_names: Vec::new(),
        })
    }

    /// The scores of `samples` generated images (none without a classifier).
    pub fn score(&self, rng: &mut SeededRng) -> Result<Evaluation> {
        let Some(evaluator) = &self.evaluator else {
            return Ok(Evaluation::test_only(Metrics::new()));
        };
        let images = crate::evaluation::generate(
            &self.generator,
            self.shape.pixel_range(),
            self.shape.noise_dim,
            evaluator.samples,
            rng,
            self.device(),
        )?;
        evaluator.score(&images)
    }
}

impl Task for ImageGan {
    type Update = ImageUpdate;

    fn groups(&self) -> Vec<ParamGroup<'_>> {
        vec![
            ParamGroup::Trained {
                name: names::GENERATOR,
                params: &self.g_params,
            },
            ParamGroup::Trained {
                name: names::DISCRIMINATOR,
                params: &self.d_params,
            },
        ]
    }

    fn update(&mut self, update: ImageUpdate, ctx: &mut StepContext) -> gan_core::Result<Losses> {
        Ok(match update {
            ImageUpdate::Discriminator => self.discriminator_update(ctx)?,
            ImageUpdate::Generator => self.generator_update(ctx)?,
        })
    }

    fn evaluate(&mut self, ctx: &mut EvalContext) -> gan_core::Result<Evaluation> {
        // A batch kept from a round's discriminator update is not carried across evaluations.
        self.pending = None;
        let grid = self.grid()?;
        let path = ctx
            .run_dir
            .join("samples")
            .join(format!("step-{:08}.png", ctx.step));
        let columns = (grid.len() as f64).sqrt().ceil() as usize;
        write_grid(&path, &grid, columns).map_err(Error::from)?;
        Ok(self.score(ctx.rng)?)
    }
}
