//! The GAN as a [`gan_core::Task`]: a discriminator update on a real and a generated batch, a
//! generator update through the discriminator, any of the core's losses.

use candle_core::Tensor;
use gan_core::loss::gradient_penalty;
use gan_core::{
    AdversarialLoss, EvalContext, Evaluation, Losses, ParamGroup, ParamStore, SeededRng,
    StepContext, Task, UpdateKind,
};
use socgan_nn::GradientOrder;

use crate::nets::{Mlp, NetsConfig};
use crate::ring::Ring;
use crate::Result;

/// Group and optimizer names.
pub mod names {
    pub const GENERATOR: &str = "generator";
    pub const DISCRIMINATOR: &str = "discriminator";
}

/// The two updates of a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingUpdate {
    Discriminator,
    Generator,
}

impl UpdateKind for RingUpdate {
    fn name(&self) -> &'static str {
        match self {
            RingUpdate::Discriminator => "discriminator",
            RingUpdate::Generator => "generator",
        }
    }
}

/// The generator, the discriminator and how they are scored.
pub struct RingGan {
    pub generator: Mlp,
    pub discriminator: Mlp,
    pub g_params: ParamStore,
    pub d_params: ParamStore,
    pub ring: Ring,
    pub loss: AdversarialLoss,
    pub noise_dim: usize,
    pub batch_size: usize,
    /// Points generated and scored per evaluation.
    pub samples: usize,
}

impl RingGan {
    /// Networks initialised from `seed`'s `init` streams on `params`' device.
    pub fn new(
        nets: &NetsConfig,
        ring: Ring,
        loss: AdversarialLoss,
        batch_size: usize,
        samples: usize,
        seed: u64,
        device: &candle_core::Device,
    ) -> Result<Self> {
        // A gradient penalty differentiates D's gradient: its layers must be candle's ops.
        let order = if loss.gradient_penalty_weight().is_some() {
            GradientOrder::Second
        } else {
            GradientOrder::First
        };
        let mut g_params = ParamStore::new(device);
        let mut d_params = ParamStore::new(device);
        let generator = Mlp::new(
            &mut g_params,
            names::GENERATOR,
            &Mlp::sizes(nets, nets.noise_dim, 2),
            GradientOrder::First,
            &mut SeededRng::derive(seed, "init", 0),
        )?;
        let discriminator = Mlp::new(
            &mut d_params,
            names::DISCRIMINATOR,
            &Mlp::sizes(nets, 2, 1),
            order,
            &mut SeededRng::derive(seed, "init", 1),
        )?;
        Ok(Self {
            generator,
            discriminator,
            g_params,
            d_params,
            ring,
            loss,
            noise_dim: nets.noise_dim,
            batch_size,
            samples,
        })
    }

    /// `n` generated points `[n, 2]`.
    pub fn generate(&self, n: usize, rng: &mut SeededRng) -> Result<Tensor> {
        let z = rng.normal((n, self.noise_dim), 0.0, 1.0, self.g_params.device())?;
        self.generator.forward(&z)
    }

    fn discriminator_update(&mut self, ctx: &mut StepContext) -> Result<Losses> {
        let device = self.d_params.device().clone();
        let real = self.ring.sample(self.batch_size, ctx.rng, &device)?;
        let fake = self.generate(self.batch_size, ctx.rng)?.detach();
        let d_real = self.discriminator.forward(&real)?;
        let d_fake = self.discriminator.forward(&fake)?;
        let mut loss = self.loss.discriminator_loss(&d_real, &d_fake)?;
        if let Some(lambda) = self.loss.gradient_penalty_weight() {
            let d = &self.discriminator;
            let critic = |x: &Tensor| d.forward(x).map_err(gan_core::Error::from);
            loss = (loss + (gradient_penalty(critic, &real, &fake, ctx.rng)? * lambda)?)?;
        }
        Ok(Losses::single("d_loss", loss, &[names::DISCRIMINATOR]))
    }

    fn generator_update(&mut self, ctx: &mut StepContext) -> Result<Losses> {
        let device = self.d_params.device().clone();
        let critic = self.discriminator.frozen();
        let fake = self.generate(self.batch_size, ctx.rng)?;
        let d_fake = critic.forward(&fake)?;
        let d_real = if self.loss.generator_needs_real() {
            critic.forward(&self.ring.sample(self.batch_size, ctx.rng, &device)?)?
        } else {
            d_fake.clone()
        };
        let loss = self.loss.generator_loss(&d_real, &d_fake)?;
        Ok(Losses::single("g_loss", loss, &[names::GENERATOR]))
    }
}

impl Task for RingGan {
    type Update = RingUpdate;

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

    fn update(&mut self, update: RingUpdate, ctx: &mut StepContext) -> gan_core::Result<Losses> {
        Ok(match update {
            RingUpdate::Discriminator => self.discriminator_update(ctx)?,
            RingUpdate::Generator => self.generator_update(ctx)?,
        })
    }

    fn evaluate(&mut self, ctx: &mut EvalContext) -> gan_core::Result<Evaluation> {
        let points = self
            .generate(self.samples, ctx.rng)
            .map_err(gan_core::Error::from)?;
        let values: Vec<f32> = points.flatten_all()?.to_vec1()?;
        Ok(Evaluation::test_only(self.ring.score(&values)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gan_core::gradient_flow::check_gradient_flow;

    #[test]
    fn every_weight_of_both_networks_gets_a_gradient() {
        let gan = RingGan::new(
            &NetsConfig::default(),
            Ring::default(),
            AdversarialLoss::NonSaturating,
            16,
            100,
            0,
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let mut rng = SeededRng::new(1);
        let fake = gan.generate(16, &mut rng).unwrap();
        let g_loss = gan
            .discriminator
            .forward(&fake)
            .unwrap()
            .mean_all()
            .unwrap();
        check_gradient_flow(&g_loss, &gan.g_params).unwrap();
        let real = gan
            .ring
            .sample(16, &mut rng, &candle_core::Device::Cpu)
            .unwrap();
        let d_loss = gan
            .loss
            .discriminator_loss(
                &gan.discriminator.forward(&real).unwrap(),
                &gan.discriminator.forward(&fake.detach()).unwrap(),
            )
            .unwrap();
        check_gradient_flow(&d_loss, &gan.d_params).unwrap();
    }
}
