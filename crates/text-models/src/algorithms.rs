//! MLE, SeqGAN and RelGAN training of an [`LstmGenerator`] against a [`CnnDiscriminator`], as a
//! [`GanTask`] for `gan_core`'s trainer (the "instructor" of TextGAN-PyTorch, without its global
//! config).

use candle_core::Tensor;
use gan_core::loss::gradient_penalty;
use gan_core::{GanTask, LossReport, Metrics, ParamStore, SeededRng, StepContext};
use serde::{Deserialize, Serialize};
use socgan_data::TokenSequences;

use crate::discriminator::DiscriminatorInput;
use crate::generator::one_hot;
use crate::{CnnDiscriminator, Error, LstmGenerator, Result, SamplingConfig, SequenceEvaluator};

/// How the generator is trained after maximum-likelihood pretraining.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Algorithm {
    /// Maximum likelihood only (the baseline): no adversarial rounds.
    Mle,
    /// SeqGAN (Yu et al. 2017): REINFORCE with the discriminator's probability of "real" as the
    /// reward, each prefix's reward estimated by `rollouts` Monte-Carlo completions.
    #[serde(rename = "seqgan")]
    SeqGan { rollouts: usize },
    /// RelGAN (Nie et al. 2019): Gumbel-softmax relaxation of the generator's samples, trained
    /// through the discriminator, inverse temperature `beta_max^(n/N)` over the run's `N`
    /// adversarial rounds (RelGAN's "exp" schedule).
    #[serde(rename = "relgan")]
    RelGan {
        beta_max: f64,
        straight_through: bool,
    },
}

impl Algorithm {
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::Mle => "mle",
            Algorithm::SeqGan { .. } => "seqgan",
            Algorithm::RelGan { .. } => "relgan",
        }
    }

    pub fn validate(&self) -> Result<()> {
        match self {
            Algorithm::SeqGan { rollouts: 0 } => {
                Err(Error::Config("seqgan needs at least one rollout".into()))
            }
            Algorithm::RelGan { beta_max, .. } if *beta_max < 1.0 => {
                Err(Error::Config("relgan beta_max must be >= 1".into()))
            }
            _ => Ok(()),
        }
    }

    /// RelGAN's inverse temperature at adversarial round `step` of `total`.
    pub fn beta(beta_max: f64, step: u64, total: u64) -> f64 {
        beta_max.powf(step as f64 / total.max(1) as f64)
    }
}

/// A text GAN: generator, discriminator, training data, algorithm and evaluator.
pub struct TextGan<E: SequenceEvaluator> {
    pub generator: LstmGenerator,
    pub discriminator: CnnDiscriminator,
    pub train: TokenSequences,
    pub algorithm: Algorithm,
    pub batch_size: usize,
    pub evaluator: E,
}

impl<E: SequenceEvaluator> TextGan<E> {
    pub fn new(
        generator: LstmGenerator,
        discriminator: CnnDiscriminator,
        train: TokenSequences,
        algorithm: Algorithm,
        batch_size: usize,
        evaluator: E,
    ) -> Result<Self> {
        algorithm.validate()?;
        if batch_size == 0 || train.len() < batch_size {
            return Err(Error::Config(format!(
                "batch size {batch_size} needs 1..={} training sequences",
                train.len()
            )));
        }
        if train.seq_len() != generator.config().seq_len {
            return Err(Error::Shape(format!(
                "training sequences have length {}, generator {}",
                train.seq_len(),
                generator.config().seq_len
            )));
        }
        if train.vocab_bound() as usize > generator.config().vocab_size {
            return Err(Error::Shape(format!(
                "training data has token id {} outside the vocabulary of {}",
                train.vocab_bound() - 1,
                generator.config().vocab_size
            )));
        }
        Ok(Self {
            generator,
            discriminator,
            train,
            algorithm,
            batch_size,
            evaluator,
        })
    }

    fn tokens(&self, seqs: &TokenSequences) -> Result<Tensor> {
        Ok(seqs.to_tensor(self.generator.device())?)
    }

    /// `[B, T, V]` one-hot rows of `seqs`.
    fn one_hot(&self, seqs: &TokenSequences) -> Result<Tensor> {
        let v = self.generator.config().vocab_size;
        Ok(
            one_hot(seqs.tokens(), v, self.generator.device())?.reshape((
                seqs.len(),
                seqs.seq_len(),
                v,
            ))?,
        )
    }

    /// Fake discriminator input for a D update: hard samples (MLE, SeqGAN) or RelGAN's relaxed
    /// samples at the current temperature, detached.
    fn fake_for_discriminator(&self, ctx: &mut StepContext) -> Result<(Tensor, bool)> {
        match self.algorithm {
            Algorithm::RelGan {
                beta_max,
                straight_through,
            } if ctx.phase == gan_core::Phase::Adversarial => {
                let beta = Algorithm::beta(beta_max, ctx.step, ctx.phase_steps);
                let (soft, _) = self.generator.gumbel_sample(
                    self.batch_size,
                    beta,
                    straight_through,
                    ctx.rng,
                )?;
                Ok((soft.detach(), true))
            }
            _ => {
                let fake =
                    self.generator
                        .sample(self.batch_size, &SamplingConfig::default(), ctx.rng)?;
                Ok((self.tokens(&fake)?, false))
            }
        }
    }

    fn discriminator_update(&mut self, ctx: &mut StepContext) -> Result<LossReport> {
        let real = self.train.random_batch(self.batch_size, ctx.rng);
        let (fake, fake_is_soft) = self.fake_for_discriminator(ctx)?;
        let real_ids = self.tokens(&real)?;
        let d_real = self
            .discriminator
            .forward(DiscriminatorInput::Tokens(&real_ids), Some(ctx.rng))?;
        let fake_input = if fake_is_soft {
            DiscriminatorInput::OneHot(&fake)
        } else {
            DiscriminatorInput::Tokens(&fake)
        };
        let d_fake = self.discriminator.forward(fake_input, Some(ctx.rng))?;
        let mut loss = ctx.loss.discriminator_loss(&d_real, &d_fake)?;
        if let Some(lambda) = ctx.loss.gradient_penalty_weight() {
            let real_soft = self.one_hot(&real)?;
            let fake_soft = if fake_is_soft {
                fake.clone()
            } else {
                self.one_hot(&TokenSequences::new(
                    real.seq_len(),
                    fake.flatten_all()?.to_vec1()?,
                )?)?
            };
            let disc = &self.discriminator;
            let critic = |x: &Tensor| {
                disc.forward(DiscriminatorInput::OneHot(x), None)
                    .map_err(gan_core::Error::from)
            };
            let penalty = gradient_penalty(critic, &real_soft, &fake_soft, ctx.rng)?;
            loss = (loss + (penalty * lambda)?)?;
        }
        let accuracy = binary_accuracy(&d_real, &d_fake)?;
        Ok(LossReport::new(loss).with("d_accuracy", accuracy))
    }

    /// SeqGAN's reward of every token: the discriminator's mean "real" probability over the
    /// rollouts that complete its prefix (the whole sequence's probability at the last token).
    fn rollout_rewards(
        &self,
        samples: &TokenSequences,
        rollouts: usize,
        rng: &mut SeededRng,
    ) -> Result<Vec<f32>> {
        let (b, t) = (samples.len(), samples.seq_len());
        let mut rewards = vec![0f32; b * t];
        for (given_minus_1, completed) in self
            .generator
            .rollouts(samples, rollouts, rng)?
            .iter()
            .enumerate()
        {
            let ids = self.tokens(completed)?;
            let probs = self
                .discriminator
                .real_probability(DiscriminatorInput::Tokens(&ids))?;
            for (row, p) in probs.iter().enumerate() {
                rewards[(row % b) * t + given_minus_1] += p / rollouts as f32;
            }
        }
        let ids = self.tokens(samples)?;
        for (row, p) in self
            .discriminator
            .real_probability(DiscriminatorInput::Tokens(&ids))?
            .iter()
            .enumerate()
        {
            rewards[row * t + t - 1] = *p;
        }
        Ok(rewards)
    }
}

fn binary_accuracy(real: &Tensor, fake: &Tensor) -> Result<f64> {
    let r = real
        .ge(0f32)?
        .to_dtype(candle_core::DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    let f = fake
        .lt(0f32)?
        .to_dtype(candle_core::DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    Ok(((r + f) / (real.elem_count() + fake.elem_count()) as f32) as f64)
}

impl<E: SequenceEvaluator> GanTask for TextGan<E> {
    fn generator_params(&self) -> &ParamStore {
        self.generator.params()
    }
    fn discriminator_params(&self) -> &ParamStore {
        self.discriminator.params()
    }

    fn generator_pretrain_loss(&mut self, ctx: &mut StepContext) -> gan_core::Result<LossReport> {
        let per_epoch = self.train.batches_per_epoch(self.batch_size) as u64;
        let batch = self.train.epoch_batch(
            ctx.seed,
            ctx.step / per_epoch,
            (ctx.step % per_epoch) as usize,
            self.batch_size,
        );
        let loss = self.generator.nll_loss(&batch)?;
        Ok(LossReport::new(loss))
    }

    fn discriminator_loss(&mut self, ctx: &mut StepContext) -> gan_core::Result<LossReport> {
        Ok(self.discriminator_update(ctx)?)
    }

    fn generator_loss(&mut self, ctx: &mut StepContext) -> gan_core::Result<LossReport> {
        match self.algorithm.clone() {
            Algorithm::Mle => Err(gan_core::Error::Config(
                "the mle algorithm has no adversarial rounds; set adversarial_rounds = 0".into(),
            )),
            Algorithm::SeqGan { rollouts } => {
                let samples =
                    self.generator
                        .sample(self.batch_size, &SamplingConfig::default(), ctx.rng)?;
                let rewards = self.rollout_rewards(&samples, rollouts, ctx.rng)?;
                let mean_reward =
                    rewards.iter().map(|&r| r as f64).sum::<f64>() / rewards.len() as f64;
                // Maximise sum_t Q_t log p(y_t), averaged over the batch.
                let weights: Vec<f32> =
                    rewards.iter().map(|r| r / self.batch_size as f32).collect();
                let loss = self.generator.weighted_nll(&samples, &weights)?;
                Ok(LossReport::new(loss).with("reward", mean_reward))
            }
            Algorithm::RelGan {
                beta_max,
                straight_through,
            } => {
                let beta = Algorithm::beta(beta_max, ctx.step, ctx.phase_steps);
                let real = self.train.random_batch(self.batch_size, ctx.rng);
                let real_ids = self.tokens(&real)?;
                let (soft, _) = self.generator.gumbel_sample(
                    self.batch_size,
                    beta,
                    straight_through,
                    ctx.rng,
                )?;
                // The generator step needs D's gradient with respect to its input only.
                let frozen = self.discriminator.frozen();
                let d_real =
                    frozen.forward(DiscriminatorInput::Tokens(&real_ids), Some(ctx.rng))?;
                let d_fake = frozen.forward(DiscriminatorInput::OneHot(&soft), Some(ctx.rng))?;
                let loss = ctx.loss.generator_loss(&d_real, &d_fake)?;
                Ok(LossReport::new(loss).with("beta", beta))
            }
        }
    }

    fn evaluate(&mut self, rng: &mut SeededRng) -> gan_core::Result<Metrics> {
        Ok(self.evaluator.evaluate(&self.generator, rng)?)
    }
}
