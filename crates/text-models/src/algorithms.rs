//! MLE, SeqGAN, RelGAN and CatGAN training of an [`SequenceGenerator`] (against a
//! [`CnnDiscriminator`] for the adversarial ones) as a [`gan_core::Task`] (the "instructor" of
//! TextGAN-PyTorch, without its global config). The same task trains over words or over item
//! ids: nothing here is textual. With class labels beside the training rows the generator is
//! class-conditional: MLE learns `p(x | class)`, CatGAN trains it adversarially.

use candle_core::Tensor;
use gan_core::loss::gradient_penalty;
use gan_core::{
    AdversarialLoss, EvalContext, Evaluation, Losses, Mode, ParamGroup, SeededRng, StepContext,
    Task, UpdateKind,
};
use serde::{Deserialize, Serialize};
use socgan_data::TokenSequences;

use crate::discriminator::DiscriminatorInput;
use crate::discriminator_pool::{DiscriminatorData, PoolPlan, SamplePool};
use crate::generator::one_hot;
use crate::{
    CnnDiscriminator, Error, Result, SamplingConfig, SequenceEvaluator, SequenceGenerator,
};

/// Parameter group and optimizer names of a text GAN run (checkpoint keys start with them).
pub mod names {
    pub const GENERATOR: &str = "generator";
    pub const DISCRIMINATOR: &str = "discriminator";
    /// The generator's Adam during maximum-likelihood pretraining.
    pub const GENERATOR_PRETRAIN_OPTIMIZER: &str = "generator_pretrain";
    /// The generator's Adam during adversarial training.
    pub const GENERATOR_OPTIMIZER: &str = "generator";
    /// The discriminator's Adam, in pretraining and adversarial rounds alike.
    pub const DISCRIMINATOR_OPTIMIZER: &str = "discriminator";
    pub const G_LOSS: &str = "g_loss";
    pub const D_LOSS: &str = "d_loss";
}

/// How the generator is trained (the config's `algorithm`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Algorithm {
    /// Maximum likelihood only (the baseline): no discriminator, no adversarial rounds.
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
    /// CatGAN (Liu et al. 2020, as TextGAN-PyTorch's `CatGAN_G` / `CatGAN_D`): RelGAN's
    /// relaxation for a generator conditioned on the class, against a multi-class discriminator
    /// with one logit per class; each real post and the fake of its class are compared on that
    /// class's logit (the category-wise relativistic loss). Needs labelled training posts.
    #[serde(rename = "catgan")]
    CatGan {
        beta_max: f64,
        straight_through: bool,
    },
}

/// The adversarial algorithms: how a generator update uses the discriminator.
#[derive(Clone, Debug, PartialEq)]
pub enum AdversarialMethod {
    SeqGan {
        rollouts: usize,
    },
    /// RelGAN's Gumbel-softmax updates; `per_class` for CatGAN (conditional generator, one
    /// discriminator logit per class).
    RelGan {
        beta_max: f64,
        straight_through: bool,
        per_class: bool,
    },
}

impl Algorithm {
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::Mle => "mle",
            Algorithm::SeqGan { .. } => "seqgan",
            Algorithm::RelGan { .. } => "relgan",
            Algorithm::CatGan { .. } => "catgan",
        }
    }

    /// The adversarial method, or `None` for maximum likelihood.
    pub fn adversarial(&self) -> Option<AdversarialMethod> {
        match *self {
            Algorithm::Mle => None,
            Algorithm::SeqGan { rollouts } => Some(AdversarialMethod::SeqGan { rollouts }),
            Algorithm::RelGan {
                beta_max,
                straight_through,
            } => Some(AdversarialMethod::RelGan {
                beta_max,
                straight_through,
                per_class: false,
            }),
            Algorithm::CatGan {
                beta_max,
                straight_through,
            } => Some(AdversarialMethod::RelGan {
                beta_max,
                straight_through,
                per_class: true,
            }),
        }
    }

    /// Whether the algorithm trains a class-conditional generator only.
    pub fn needs_classes(&self) -> bool {
        matches!(self, Algorithm::CatGan { .. })
    }

    pub fn validate(&self) -> Result<()> {
        match self {
            Algorithm::SeqGan { rollouts: 0 } => {
                Err(Error::Config("seqgan needs at least one rollout".into()))
            }
            Algorithm::RelGan { beta_max, .. } | Algorithm::CatGan { beta_max, .. }
                if *beta_max < 1.0 =>
            {
                Err(Error::Config(format!(
                    "{} beta_max must be >= 1",
                    self.name()
                )))
            }
            _ => Ok(()),
        }
    }

    /// RelGAN's inverse temperature at adversarial round `step` of `total`.
    pub fn beta(beta_max: f64, step: u64, total: u64) -> f64 {
        beta_max.powf(step as f64 / total.max(1) as f64)
    }
}

/// The updates a text GAN run is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextUpdate {
    /// One maximum-likelihood step of the generator on a batch of the epoch.
    Mle,
    /// A discriminator step against hard generator samples, before adversarial training.
    DiscriminatorPretrain,
    /// A discriminator step of an adversarial round (RelGAN: against relaxed samples).
    Discriminator,
    /// A generator step of an adversarial round.
    Generator,
}

impl UpdateKind for TextUpdate {
    fn name(&self) -> &'static str {
        match self {
            TextUpdate::Mle => "mle",
            TextUpdate::DiscriminatorPretrain => "discriminator_pretrain",
            TextUpdate::Discriminator => "discriminator",
            TextUpdate::Generator => "generator",
        }
    }
}

/// The discriminator side of an adversarial run.
pub struct Adversary {
    pub discriminator: CnnDiscriminator,
    pub method: AdversarialMethod,
    pub loss: AdversarialLoss,
}

/// Training sequences, and for a class-conditional run the class of each.
pub struct TrainingRows {
    pub rows: TokenSequences,
    pub classes: Option<Vec<u32>>,
}

impl From<TokenSequences> for TrainingRows {
    fn from(rows: TokenSequences) -> Self {
        Self {
            rows,
            classes: None,
        }
    }
}

/// A text GAN: generator, (for the adversarial algorithms) discriminator, training data,
/// evaluator.
pub struct TextGan<E: SequenceEvaluator> {
    pub generator: SequenceGenerator,
    pub adversary: Option<Adversary>,
    pub train: TokenSequences,
    /// The class of each training row, for a class-conditional generator.
    pub train_classes: Option<Vec<u32>>,
    pub batch_size: usize,
    pub evaluator: E,
    /// Fresh batches (the default) or SeqGAN's sample pools.
    discriminator_data: DiscriminatorData,
    /// The pool the discriminator is training on (SeqGAN's schedule); rebuilt from the seed
    /// after a resume.
    pool: Option<SamplePool>,
}

impl<E: SequenceEvaluator> TextGan<E> {
    /// A run of `algorithm`; `discriminator` is needed by the adversarial algorithms and refused
    /// by maximum likelihood. Training rows with classes make the run class-conditional: the
    /// generator must have that many classes, and CatGAN's discriminator one output per class.
    pub fn new(
        generator: SequenceGenerator,
        discriminator: Option<CnnDiscriminator>,
        algorithm: &Algorithm,
        loss: AdversarialLoss,
        train: impl Into<TrainingRows>,
        batch_size: usize,
        evaluator: E,
    ) -> Result<Self> {
        algorithm.validate()?;
        let TrainingRows {
            rows: train,
            classes: train_classes,
        } = train.into();
        check_classes(&generator, algorithm, &train, train_classes.as_deref())?;
        if let Some(d) = &discriminator {
            let wanted = if algorithm.needs_classes() {
                generator.classes()
            } else {
                1
            };
            if d.outputs() != wanted {
                return Err(Error::Shape(format!(
                    "{} needs a discriminator with {wanted} outputs, got {}",
                    algorithm.name(),
                    d.outputs()
                )));
            }
        }
        let adversary = match (algorithm.adversarial(), discriminator) {
            (None, None) => None,
            (Some(method), Some(discriminator)) => Some(Adversary {
                discriminator,
                method,
                loss,
            }),
            (None, Some(_)) => {
                return Err(Error::Config(
                    "maximum likelihood trains no discriminator".into(),
                ))
            }
            (Some(_), None) => {
                return Err(Error::Config(format!(
                    "{} needs a discriminator",
                    algorithm.name()
                )))
            }
        };
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
            adversary,
            train,
            train_classes,
            batch_size,
            evaluator,
            discriminator_data: DiscriminatorData::FreshBatches,
            pool: None,
        })
    }

    /// Trains the discriminator on `data` instead of fresh batches (see [`DiscriminatorData`]).
    pub fn with_discriminator_data(mut self, data: DiscriminatorData) -> Result<Self> {
        let method = self.adversary.as_ref().map(|a| &a.method);
        let loss = self.adversary.as_ref().map(|a| &a.loss);
        data.validate(
            method,
            loss.unwrap_or(&AdversarialLoss::NonSaturating),
            self.batch_size,
        )?;
        self.discriminator_data = data;
        Ok(self)
    }

    /// The classes of training rows `rows` (`None` for an unconditional run).
    fn classes_of(&self, rows: &[usize]) -> Option<Vec<u32>> {
        self.train_classes
            .as_ref()
            .map(|c| rows.iter().map(|&r| c[r]).collect())
    }

    /// Batches of one maximum-likelihood epoch.
    pub fn batches_per_epoch(&self) -> u64 {
        self.train.batches_per_epoch(self.batch_size) as u64
    }

    fn adversary(&self) -> Result<&Adversary> {
        self.adversary
            .as_ref()
            .ok_or_else(|| Error::Config("maximum likelihood has no adversarial updates".into()))
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

    fn mle_update(&self, ctx: &StepContext) -> Result<Losses> {
        let per_epoch = self.batches_per_epoch();
        let rows = self.train.epoch_batch_rows(
            ctx.seed,
            ctx.step / per_epoch,
            (ctx.step % per_epoch) as usize,
            self.batch_size,
        );
        let batch = self.train.select(&rows);
        let loss = match self.classes_of(&rows) {
            Some(classes) => self.generator.nll_loss_given(&batch, &classes)?,
            None => self.generator.nll_loss(&batch)?,
        };
        Ok(Losses::single(
            names::G_LOSS,
            loss,
            &[names::GENERATOR_PRETRAIN_OPTIMIZER],
        ))
    }

    /// Fake discriminator input: RelGAN's relaxed samples at the current temperature in an
    /// adversarial round, hard samples otherwise; detached, and whether they are soft. A
    /// conditional run's fakes are of `classes`, row by row.
    fn fake_for_discriminator(
        &self,
        update: TextUpdate,
        classes: Option<&[u32]>,
        ctx: &mut StepContext,
    ) -> Result<(Tensor, bool)> {
        match self.adversary()?.method {
            AdversarialMethod::RelGan {
                beta_max,
                straight_through,
                ..
            } if update == TextUpdate::Discriminator => {
                let beta = Algorithm::beta(beta_max, ctx.step, ctx.phase_steps);
                let (soft, _) = self.generator.gumbel_sample_given(
                    self.batch_size,
                    classes,
                    beta,
                    straight_through,
                    ctx.rng,
                )?;
                Ok((soft.detach(), true))
            }
            _ => {
                let fake = self.hard_fakes(self.batch_size, classes, ctx.rng)?;
                Ok((self.tokens(&fake)?, false))
            }
        }
    }

    /// `n` sampled sequences; a conditional run's are of `classes`, row by row (the Gumbel-max
    /// draw is a sample of each row's own class), drawn a batch at a time.
    fn hard_fakes(
        &self,
        n: usize,
        classes: Option<&[u32]>,
        rng: &mut SeededRng,
    ) -> Result<TokenSequences> {
        let Some(classes) = classes else {
            return self.generator.sample(n, &SamplingConfig::default(), rng);
        };
        let mut tokens = Vec::with_capacity(n * self.generator.config().seq_len);
        for chunk in classes.chunks(self.batch_size) {
            let (_, hard) =
                self.generator
                    .gumbel_sample_given(chunk.len(), Some(chunk), 1.0, false, rng)?;
            tokens.extend_from_slice(hard.tokens());
        }
        Ok(TokenSequences::new(
            self.generator.config().seq_len,
            tokens,
        )?)
    }

    /// Builds the pool `at` trains on unless it is the one in hand: the training rows and the
    /// generator's samples of [`PoolPlan`]'s seeded streams.
    fn ensure_pool(&mut self, plan: &PoolPlan, phase: &str, pool: u64, seed: u64) -> Result<()> {
        if self.pool.as_ref().is_some_and(|p| p.is(phase, pool)) {
            return Ok(());
        }
        self.pool = None;
        let real_rows = plan.real_rows(seed, phase, pool, self.train.len());
        let classes = self.classes_of(&real_rows);
        let mut rng = SamplePool::rng(seed, phase, pool);
        let fakes = self.hard_fakes(plan.samples, classes.as_deref(), &mut rng)?;
        self.pool = Some(SamplePool {
            phase: phase.to_string(),
            pool,
            real_rows,
            fakes,
            order: plan.order(seed, phase, pool),
        });
        Ok(())
    }

    /// A discriminator step of SeqGAN's schedule: one batch of the current pool's epoch, real
    /// and generated rows mixed as they fall, every row weighted alike.
    fn pool_discriminator_update(
        &mut self,
        plan: PoolPlan,
        update: TextUpdate,
        ctx: &mut StepContext,
    ) -> Result<Losses> {
        // Pools are numbered within a phase (the trainer keeps phase names unique).
        let phase = ctx.phase;
        let at = match update {
            TextUpdate::DiscriminatorPretrain => plan.pretraining_step(ctx.step),
            _ => plan.round_step(ctx.step, ctx.repeat),
        };
        self.ensure_pool(&plan, phase, at.pool, ctx.seed)?;
        let pool = self.pool.as_ref().expect("ensure_pool keeps a pool");
        let (mut real_rows, mut fake_rows) = (Vec::new(), Vec::new());
        for &position in &pool.order[at.batch_range(self.batch_size)] {
            match position.checked_sub(plan.samples) {
                None => real_rows.push(pool.real_rows[position]),
                Some(fake) => fake_rows.push(fake),
            }
        }
        let adversary = self.adversary()?;
        let disc = &adversary.discriminator;
        let mut score = |seqs: TokenSequences| -> Result<Option<Tensor>> {
            if seqs.is_empty() {
                return Ok(None);
            }
            let ids = self.tokens(&seqs)?;
            Ok(Some(disc.forward(
                DiscriminatorInput::Tokens(&ids),
                Mode::Train(ctx.rng),
            )?))
        };
        let d_real = score(self.train.select(&real_rows))?;
        let d_fake = score(pool.fakes.select(&fake_rows))?;
        let loss = adversary
            .loss
            .mixed_batch_discriminator_loss(d_real.as_ref(), d_fake.as_ref())?;
        let loss = with_output_penalty(loss, disc)?;
        let accuracy = binary_accuracy(d_real.as_ref(), d_fake.as_ref())?;
        Ok(
            Losses::single(names::D_LOSS, loss, &[names::DISCRIMINATOR_OPTIMIZER])
                .with("d_accuracy", accuracy),
        )
    }

    /// The discriminator's logits of `input`: for CatGAN each representation's logit of its
    /// row's class, otherwise the single logit.
    fn logits(
        &self,
        disc: &CnnDiscriminator,
        input: DiscriminatorInput,
        classes: Option<&[u32]>,
        mode: Mode,
    ) -> Result<Tensor> {
        let logits = disc.forward(input, mode)?;
        match (&self.adversary()?.method, classes) {
            (
                AdversarialMethod::RelGan {
                    per_class: true, ..
                },
                Some(c),
            ) => class_logits(&logits, c, disc.config().num_rep),
            _ => Ok(logits),
        }
    }

    fn discriminator_update(&self, update: TextUpdate, ctx: &mut StepContext) -> Result<Losses> {
        let rows = self.train.random_rows(self.batch_size, ctx.rng);
        let real = self.train.select(&rows);
        let classes = self.classes_of(&rows);
        let classes = classes.as_deref();
        let (fake, fake_is_soft) = self.fake_for_discriminator(update, classes, ctx)?;
        let adversary = self.adversary()?;
        let disc = &adversary.discriminator;
        let real_ids = self.tokens(&real)?;
        let d_real = self.logits(
            disc,
            DiscriminatorInput::Tokens(&real_ids),
            classes,
            Mode::Train(ctx.rng),
        )?;
        let fake_input = if fake_is_soft {
            DiscriminatorInput::OneHot(&fake)
        } else {
            DiscriminatorInput::Tokens(&fake)
        };
        let d_fake = self.logits(disc, fake_input, classes, Mode::Train(ctx.rng))?;
        let mut loss = adversary.loss.discriminator_loss(&d_real, &d_fake)?;
        if let Some(lambda) = adversary.loss.gradient_penalty_weight() {
            let real_soft = self.one_hot(&real)?;
            let fake_soft = if fake_is_soft {
                fake.clone()
            } else {
                self.one_hot(&TokenSequences::new(
                    real.seq_len(),
                    fake.flatten_all()?.to_vec1()?,
                )?)?
            };
            let critic = |x: &Tensor| disc.critic(x).map_err(gan_core::Error::from);
            let penalty = gradient_penalty(critic, &real_soft, &fake_soft, ctx.rng)?;
            loss = (loss + (penalty * lambda)?)?;
        }
        let loss = with_output_penalty(loss, disc)?;
        let accuracy = binary_accuracy(Some(&d_real), Some(&d_fake))?;
        Ok(
            Losses::single(names::D_LOSS, loss, &[names::DISCRIMINATOR_OPTIMIZER])
                .with("d_accuracy", accuracy),
        )
    }

    fn generator_update(&self, ctx: &mut StepContext) -> Result<Losses> {
        let adversary = self.adversary()?;
        match adversary.method {
            AdversarialMethod::SeqGan { rollouts } => {
                let samples =
                    self.generator
                        .sample(self.batch_size, &SamplingConfig::default(), ctx.rng)?;
                let rewards = self.rollout_rewards(adversary, &samples, rollouts, ctx.rng)?;
                let mean_reward =
                    rewards.iter().map(|&r| r as f64).sum::<f64>() / rewards.len() as f64;
                // Maximise sum_t Q_t log p(y_t), averaged over the batch.
                let weights: Vec<f32> =
                    rewards.iter().map(|r| r / self.batch_size as f32).collect();
                let loss = self.generator.weighted_nll(&samples, &weights)?;
                Ok(
                    Losses::single(names::G_LOSS, loss, &[names::GENERATOR_OPTIMIZER])
                        .with("reward", mean_reward),
                )
            }
            AdversarialMethod::RelGan {
                beta_max,
                straight_through,
                ..
            } => {
                let beta = Algorithm::beta(beta_max, ctx.step, ctx.phase_steps);
                let rows = self.train.random_rows(self.batch_size, ctx.rng);
                let real_ids = self.tokens(&self.train.select(&rows))?;
                let classes = self.classes_of(&rows);
                let classes = classes.as_deref();
                let (soft, _) = self.generator.gumbel_sample_given(
                    self.batch_size,
                    classes,
                    beta,
                    straight_through,
                    ctx.rng,
                )?;
                // The generator step needs D's gradient with respect to its input only.
                let frozen = adversary.discriminator.frozen();
                let d_real = self.logits(
                    &frozen,
                    DiscriminatorInput::Tokens(&real_ids),
                    classes,
                    Mode::Train(ctx.rng),
                )?;
                let d_fake = self.logits(
                    &frozen,
                    DiscriminatorInput::OneHot(&soft),
                    classes,
                    Mode::Train(ctx.rng),
                )?;
                let loss = adversary.loss.generator_loss(&d_real, &d_fake)?;
                Ok(
                    Losses::single(names::G_LOSS, loss, &[names::GENERATOR_OPTIMIZER])
                        .with("beta", beta),
                )
            }
        }
    }

    /// SeqGAN's reward of every token: the discriminator's mean "real" probability over the
    /// rollouts that complete its prefix (the whole sequence's probability at the last token).
    fn rollout_rewards(
        &self,
        adversary: &Adversary,
        samples: &TokenSequences,
        rollouts: usize,
        rng: &mut SeededRng,
    ) -> Result<Vec<f32>> {
        let disc = &adversary.discriminator;
        let completions = self.generator.rollouts(samples, rollouts, rng)?;
        seqgan_rewards(samples, &completions, rollouts, |seqs| {
            let ids = self.tokens(seqs)?;
            disc.real_probability(DiscriminatorInput::Tokens(&ids))
        })
    }
}

/// SeqGAN's rewards `[B * T]` of `samples` (`B` rows of `T` tokens): token `t < T - 1` gets the
/// mean of `real_probability` over the `rollouts` completions of its prefix
/// (`completions[t]`, rows rollout-major: row `r * B + i` completes sample `i`); the last token
/// gets the probability of the whole sample.
pub(crate) fn seqgan_rewards(
    samples: &TokenSequences,
    completions: &[TokenSequences],
    rollouts: usize,
    mut real_probability: impl FnMut(&TokenSequences) -> Result<Vec<f32>>,
) -> Result<Vec<f32>> {
    let (b, t) = (samples.len(), samples.seq_len());
    let mut rewards = vec![0f32; b * t];
    for (given_minus_1, completed) in completions.iter().enumerate() {
        for (row, p) in real_probability(completed)?.iter().enumerate() {
            rewards[(row % b) * t + given_minus_1] += p / rollouts as f32;
        }
    }
    for (row, p) in real_probability(samples)?.iter().enumerate() {
        rewards[row * t + t - 1] = *p;
    }
    Ok(rewards)
}

/// Each representation's logit of its row's class, `[B * R, K]` -> `[B * R]` (rows
/// sequence-major, `reps` representations per sequence).
fn class_logits(logits: &Tensor, classes: &[u32], reps: usize) -> Result<Tensor> {
    let k = logits.dim(1)?;
    let mut mask = vec![0f32; classes.len() * reps * k];
    for (b, &c) in classes.iter().enumerate() {
        for r in 0..reps {
            mask[(b * reps + r) * k + c as usize] = 1.0;
        }
    }
    let mask = Tensor::from_vec(mask, (classes.len() * reps, k), logits.device())?;
    Ok((logits * mask)?.sum(1)?)
}

/// The classes of a run agree with its generator, data and algorithm.
fn check_classes(
    generator: &SequenceGenerator,
    algorithm: &Algorithm,
    train: &TokenSequences,
    classes: Option<&[u32]>,
) -> Result<()> {
    let k = generator.classes();
    match classes {
        None if k > 0 || algorithm.needs_classes() => Err(Error::Config(format!(
            "{} with a {k}-class generator needs the class of every training post (data.label_field)",
            algorithm.name()
        ))),
        None => Ok(()),
        Some(_) if !matches!(algorithm, Algorithm::Mle | Algorithm::CatGan { .. }) => {
            Err(Error::Config(format!(
                "{} trains an unconditional generator; labelled posts train with mle or catgan",
                algorithm.name()
            )))
        }
        Some(c) if c.len() != train.len() => Err(Error::Shape(format!(
            "{} classes for {} training rows",
            c.len(),
            train.len()
        ))),
        Some(c) => match c.iter().find(|&&x| x as usize >= k) {
            Some(bad) => Err(Error::Config(format!(
                "class {bad} outside the generator's {k} classes"
            ))),
            None => Ok(()),
        },
    }
}

/// Share of rows the discriminator puts on the right side of 0 (either kind may be absent
/// from a mixed batch).
/// A discriminator loss with the output layer's L2 penalty added (SeqGAN's `l2_reg_lambda`).
fn with_output_penalty(loss: Tensor, disc: &CnnDiscriminator) -> Result<Tensor> {
    Ok(match disc.output_penalty()? {
        Some(penalty) => (loss + penalty)?,
        None => loss,
    })
}

fn binary_accuracy(real: Option<&Tensor>, fake: Option<&Tensor>) -> Result<f64> {
    let count = |t: Tensor| -> Result<f32> {
        Ok(t.to_dtype(candle_core::DType::F32)?
            .sum_all()?
            .to_scalar::<f32>()?)
    };
    let (mut right, mut rows) = (0f32, 0usize);
    if let Some(r) = real {
        right += count(r.ge(0f32)?)?;
        rows += r.elem_count();
    }
    if let Some(f) = fake {
        right += count(f.lt(0f32)?)?;
        rows += f.elem_count();
    }
    Ok((right / rows.max(1) as f32) as f64)
}

impl<E: SequenceEvaluator> Task for TextGan<E> {
    type Update = TextUpdate;

    fn groups(&self) -> Vec<ParamGroup<'_>> {
        let mut groups = vec![ParamGroup::Trained {
            name: names::GENERATOR,
            params: self.generator.params(),
        }];
        if let Some(adversary) = &self.adversary {
            groups.push(ParamGroup::Trained {
                name: names::DISCRIMINATOR,
                params: adversary.discriminator.params(),
            });
        }
        groups
    }

    fn update(&mut self, update: TextUpdate, ctx: &mut StepContext) -> gan_core::Result<Losses> {
        Ok(match update {
            TextUpdate::Mle => self.mle_update(ctx)?,
            TextUpdate::DiscriminatorPretrain | TextUpdate::Discriminator => {
                match self.discriminator_data.plan(self.batch_size) {
                    Some(plan) => self.pool_discriminator_update(plan, update, ctx)?,
                    None => self.discriminator_update(update, ctx)?,
                }
            }
            TextUpdate::Generator => self.generator_update(ctx)?,
        })
    }

    fn evaluate(&mut self, ctx: &mut EvalContext) -> gan_core::Result<Evaluation> {
        Ok(Evaluation::test_only(
            self.evaluator.evaluate(&self.generator, ctx.rng)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequences(rows: &[[u32; 3]]) -> TokenSequences {
        TokenSequences::new(3, rows.iter().flatten().copied().collect()).unwrap()
    }

    /// A discriminator that believes a sequence as much as its first token says (id / 10).
    fn by_first_token(seqs: &TokenSequences) -> Result<Vec<f32>> {
        Ok(seqs.rows().map(|r| r[0] as f32 / 10.0).collect())
    }

    #[test]
    fn seqgan_rewards_average_each_prefixs_rollouts_and_score_whole_samples_last() {
        let samples = sequences(&[[1, 5, 5], [7, 5, 5]]);
        // Two rollouts of each of the two prefixes (lengths 1 and 2), rollout-major; the
        // completions keep each sample's first token.
        let completions = vec![
            sequences(&[[1, 2, 3], [7, 8, 9], [1, 4, 4], [7, 1, 1]]),
            sequences(&[[1, 5, 3], [7, 5, 9], [1, 5, 4], [7, 5, 1]]),
        ];
        let rewards = seqgan_rewards(&samples, &completions, 2, by_first_token).unwrap();
        let expected = [0.1f32, 0.1, 0.1, 0.7, 0.7, 0.7];
        for (r, e) in rewards.iter().zip(expected) {
            assert!((r - e).abs() < 1e-6, "{rewards:?}");
        }
        // A constant discriminator gives that constant everywhere, whatever the rollout count.
        for rollouts in [1usize, 3] {
            let completions: Vec<TokenSequences> = (0..2)
                .map(|_| {
                    let rows: Vec<usize> = (0..rollouts).flat_map(|_| 0..2).collect();
                    samples.select(&rows)
                })
                .collect();
            let constant = |s: &TokenSequences| Ok(vec![0.25f32; s.len()]);
            let rewards = seqgan_rewards(&samples, &completions, rollouts, constant).unwrap();
            assert!(
                rewards.iter().all(|r| (r - 0.25).abs() < 1e-6),
                "{rewards:?}"
            );
        }
    }

    #[test]
    fn relgans_inverse_temperature_rises_exponentially_to_beta_max_over_the_run() {
        let n = 3000;
        assert_eq!(Algorithm::beta(1000.0, 0, n), 1.0);
        assert!((Algorithm::beta(1000.0, n / 2, n) - 1000f64.sqrt()).abs() < 1e-9);
        assert!((Algorithm::beta(1000.0, n, n) - 1000.0).abs() < 1e-9);
        assert_eq!(Algorithm::beta(100.0, 0, 0), 1.0);
        let betas: Vec<f64> = (0..=n)
            .step_by(100)
            .map(|s| Algorithm::beta(100.0, s, n))
            .collect();
        assert!(betas.windows(2).all(|w| w[1] > w[0]));
        let err = Algorithm::RelGan {
            beta_max: 0.5,
            straight_through: false,
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("beta_max must be >= 1"), "{err}");
    }
}
