//! What the discriminator trains on: fresh batches every step, or SeqGAN's own schedule of
//! sample pools trained on for whole epochs.
//!
//! SeqGAN (LantaoYu/SeqGAN `sequence_gan.py`) refreshes its discriminator's data 5 times per
//! adversarial round, after the round's generator step: the generator writes 10,000 sequences,
//! which beside the 10,000 real ones are shuffled together once and trained on for 3 epochs of
//! batches of 64 in that order (312 batches an epoch, 4,680 discriminator steps a round;
//! pretraining is 50 such refreshes). Two small departures: a pool holds exactly `samples`
//! generated sequences (SeqGAN writes `int(10000 / 64) * 64 = 9,984`, still 312 batches), and
//! the real rows are `samples` of the training set in a seeded order (all of it when the sizes
//! match, as in SeqGAN). TextGAN-PyTorch and socgan's default instead draw a real and a generated
//! batch per step, a few steps a round, before the generator step.
//!
//! Every pool and its order are a pure function of the run seed, the phase and the pool's
//! number, so a run resumed from any checkpoint rebuilds the pool it was training on (the
//! generator does not change between the discriminator steps of a phase or a round).

use gan_core::{AdversarialLoss, SeededRng};
use serde::{Deserialize, Serialize};
use socgan_data::TokenSequences;

use crate::algorithms::AdversarialMethod;
use crate::{Error, Result};

/// The discriminator's data in pretraining and adversarial rounds (`schedule.discriminator_data`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DiscriminatorData {
    /// Each step draws a batch of real rows and generates a batch of fakes
    /// (`schedule.discriminator_steps_per_round` steps a round).
    #[default]
    FreshBatches,
    /// SeqGAN's: `refreshes` times a round the generator writes `samples` sequences, trained on
    /// beside as many real rows for `epochs` epochs of mixed batches (SeqGAN: 5, 3, 10,000).
    /// Discriminator pretraining refreshes its pool as often, every `epochs` epochs.
    SampledPool {
        refreshes: u64,
        epochs: u64,
        samples: usize,
    },
}

impl DiscriminatorData {
    /// Discriminator steps in one adversarial round, or `None` for fresh batches (the
    /// schedule's own count). Saturates where [`Self::validate`] refuses the sizes.
    pub fn steps_per_round(&self, batch_size: usize) -> Option<u64> {
        self.plan(batch_size)
            .map(|p| p.refreshes.saturating_mul(p.steps_per_pool()))
    }

    /// The pool plan with `batch_size` rows a step, or `None` for fresh batches.
    pub(crate) fn plan(&self, batch_size: usize) -> Option<PoolPlan> {
        match *self {
            DiscriminatorData::FreshBatches => None,
            DiscriminatorData::SampledPool {
                refreshes,
                epochs,
                samples,
            } => Some(PoolPlan {
                refreshes,
                epochs,
                samples,
                batch_size,
            }),
        }
    }

    /// Refuses pools for algorithms whose discriminator sees relaxed samples (RelGAN, CatGAN),
    /// losses without a term per row, and sizes that make no batch.
    pub fn validate(
        &self,
        method: Option<&AdversarialMethod>,
        loss: &AdversarialLoss,
        batch_size: usize,
    ) -> Result<()> {
        let DiscriminatorData::SampledPool {
            refreshes,
            epochs,
            samples,
        } = *self
        else {
            return Ok(());
        };
        let bail = |m: String| Err(Error::Config(format!("schedule.discriminator_data: {m}")));
        if !matches!(method, Some(AdversarialMethod::SeqGan { .. })) {
            return bail("sampled_pool is SeqGAN's schedule, for algorithm seqgan only (RelGAN and CatGAN train the discriminator on relaxed samples; MLE has none)".into());
        }
        if matches!(
            loss,
            AdversarialLoss::Rsgan | AdversarialLoss::WganGp { .. }
        ) {
            return bail(format!(
                "sampled_pool mixes real and generated rows in a batch; the {} loss pairs them",
                loss.name()
            ));
        }
        let batches = samples
            .checked_mul(2)
            .map(|rows| (rows / batch_size.max(1)) as u64);
        let per_round = batches
            .and_then(|b| b.checked_mul(epochs))
            .and_then(|s| s.checked_mul(refreshes));
        if refreshes == 0 || epochs == 0 || batches.is_none_or(|b| b == 0) || per_round.is_none() {
            return bail(format!(
                "refreshes {refreshes} and epochs {epochs} must be at least 1, 2 x samples ({samples}) at least one batch ({batch_size}), and a round's steps must fit a 64-bit count"
            ));
        }
        Ok(())
    }
}

/// Where a discriminator step falls in SeqGAN's pools.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PoolPlan {
    refreshes: u64,
    epochs: u64,
    pub samples: usize,
    batch_size: usize,
}

/// Which pool a step trains on, the epoch over it and the batch within the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolStep {
    /// Pools are numbered through their phase (pretraining and adversarial rounds apart).
    pub pool: u64,
    pub epoch: u64,
    pub batch: u64,
}

impl PoolStep {
    /// Positions of this step's batch in its pool's order.
    pub fn batch_range(&self, batch_size: usize) -> std::ops::Range<usize> {
        let first = self.batch as usize * batch_size;
        first..first + batch_size
    }
}

impl PoolPlan {
    /// Full batches in an epoch over `samples` real and `samples` generated rows (the last
    /// partial batch is dropped, as SeqGAN's loader does).
    fn batches_per_epoch(&self) -> u64 {
        (2 * self.samples / self.batch_size.max(1)) as u64
    }

    fn steps_per_pool(&self) -> u64 {
        self.epochs.saturating_mul(self.batches_per_epoch())
    }

    /// Step `step` of discriminator pretraining.
    pub fn pretraining_step(&self, step: u64) -> PoolStep {
        self.locate(step / self.steps_per_pool(), step % self.steps_per_pool())
    }

    /// Discriminator step `repeat` of adversarial round `round`.
    pub fn round_step(&self, round: u64, repeat: u64) -> PoolStep {
        let per_pool = self.steps_per_pool();
        self.locate(
            round * self.refreshes + repeat / per_pool,
            repeat % per_pool,
        )
    }

    fn locate(&self, pool: u64, within: u64) -> PoolStep {
        let per_epoch = self.batches_per_epoch();
        PoolStep {
            pool,
            epoch: within / per_epoch,
            batch: within % per_epoch,
        }
    }

    /// Pool `pool`'s order over positions `[0, 2 samples)`: below `samples` a real row of the
    /// pool, from `samples` on a generated one. Shuffled once; every epoch reads it again from
    /// the start (SeqGAN's loader shuffles when it loads and `reset_pointer`s each epoch).
    pub fn order(&self, seed: u64, phase: &str, pool: u64) -> Vec<usize> {
        SeededRng::derive(seed, &format!("{phase}/discriminator_pool_batches"), pool)
            .permutation(2 * self.samples)
    }

    /// The training rows of pool `pool`: `samples` of them in a seeded order (cycling when the
    /// training set is smaller; all of it when it is the same size, as in SeqGAN).
    pub fn real_rows(&self, seed: u64, phase: &str, pool: u64, train_len: usize) -> Vec<usize> {
        let order = SeededRng::derive(seed, &format!("{phase}/discriminator_pool_real"), pool)
            .permutation(train_len);
        order.iter().copied().cycle().take(self.samples).collect()
    }
}

/// The pool a run is training its discriminator on.
pub(crate) struct SamplePool {
    pub phase: String,
    pub pool: u64,
    pub real_rows: Vec<usize>,
    pub fakes: TokenSequences,
    /// [`PoolPlan::order`] of this pool.
    pub order: Vec<usize>,
}

impl SamplePool {
    pub fn is(&self, phase: &str, pool: u64) -> bool {
        self.phase == phase && self.pool == pool
    }

    /// The generator's draws for pool `pool` of `phase` come from a stream of their own.
    pub fn rng(seed: u64, phase: &str, pool: u64) -> SeededRng {
        SeededRng::derive(seed, &format!("{phase}/discriminator_pool_samples"), pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqgan() -> PoolPlan {
        DiscriminatorData::SampledPool {
            refreshes: 5,
            epochs: 3,
            samples: 10_000,
        }
        .plan(64)
        .unwrap()
    }

    #[test]
    fn seqgans_round_is_five_pools_of_three_epochs_of_312_batches() {
        let data = DiscriminatorData::SampledPool {
            refreshes: 5,
            epochs: 3,
            samples: 10_000,
        };
        assert_eq!(data.steps_per_round(64), Some(5 * 3 * 312));
        assert_eq!(DiscriminatorData::FreshBatches.steps_per_round(64), None);
        let p = seqgan();
        let at = |pool, epoch, batch| PoolStep { pool, epoch, batch };
        assert_eq!(p.round_step(0, 0), at(0, 0, 0));
        assert_eq!(p.round_step(0, 311), at(0, 0, 311));
        assert_eq!(p.round_step(0, 312), at(0, 1, 0));
        assert_eq!(p.round_step(0, 936), at(1, 0, 0));
        assert_eq!(p.round_step(2, 4679), at(14, 2, 311));
        assert_eq!(p.pretraining_step(936 * 49 + 5), at(49, 0, 5));
    }

    #[test]
    fn an_epoch_visits_each_pool_row_once_in_the_pools_order_and_pools_differ() {
        let p = DiscriminatorData::SampledPool {
            refreshes: 2,
            epochs: 2,
            samples: 50,
        }
        .plan(16)
        .unwrap();
        let order = p.order(3, "adversarial", 1);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(order, p.order(3, "adversarial", 2));
        assert_ne!(order, p.order(3, "discriminator_pretrain", 1));
        // Six full batches an epoch; the second epoch reads the same order again.
        let at = p.round_step(0, 13);
        assert_eq!((at.pool, at.epoch, at.batch), (1, 0, 1));
        assert_eq!(p.round_step(0, 19).batch, 1);
        assert_eq!(at.batch_range(16), 16..32);
        let real = p.real_rows(3, "adversarial", 0, 30);
        assert_eq!(real.len(), 50);
        // All 30 training rows, then the same order again.
        assert_eq!(real[30..], real[..20]);
        let mut first: Vec<usize> = real[..30].to_vec();
        first.sort_unstable();
        assert_eq!(first, (0..30).collect::<Vec<_>>());
        assert_ne!(real, p.real_rows(3, "adversarial", 1, 30));
    }

    #[test]
    fn pools_are_refused_where_they_do_not_apply() {
        let pool = DiscriminatorData::SampledPool {
            refreshes: 5,
            epochs: 3,
            samples: 10_000,
        };
        let seqgan = AdversarialMethod::SeqGan { rollouts: 16 };
        let relgan = AdversarialMethod::RelGan {
            beta_max: 100.0,
            straight_through: false,
            per_class: false,
        };
        let ns = AdversarialLoss::NonSaturating;
        assert!(pool.validate(Some(&seqgan), &ns, 64).is_ok());
        assert!(pool.validate(Some(&relgan), &ns, 64).is_err());
        assert!(pool.validate(None, &ns, 64).is_err());
        assert!(pool
            .validate(Some(&seqgan), &AdversarialLoss::Rsgan, 64)
            .is_err());
        let tiny = DiscriminatorData::SampledPool {
            refreshes: 1,
            epochs: 1,
            samples: 10,
        };
        assert!(tiny.validate(Some(&seqgan), &ns, 64).is_err());
        let huge = DiscriminatorData::SampledPool {
            refreshes: u64::MAX,
            epochs: 3,
            samples: 10_000,
        };
        assert!(huge.validate(Some(&seqgan), &ns, 64).is_err());
        assert!(DiscriminatorData::FreshBatches
            .validate(Some(&relgan), &AdversarialLoss::Rsgan, 64)
            .is_ok());
    }
}
