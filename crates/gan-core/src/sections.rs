//! Config sections that model crates embed as they are (`[schedule]`, `[optim]`), so that two
//! crates whose runs have the same shape read the same keys and build the same trainer plan.

use serde::{Deserialize, Serialize};

use crate::trainer::plan::{UpdateKind, DEFAULT_DIVERGENCE_FACTOR};
use crate::{AdamConfig, AdversarialLoss, OptimizerSpec, PhaseSpec, TrainerConfig};

/// The schedule of a two-network GAN trained in rounds of `discriminator_steps` D updates and
/// one G update (DCGAN, the MLP GANs, the ring GAN): how long, and how often it is evaluated,
/// checkpointed and logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdversarialSchedule {
    /// Adversarial rounds.
    pub steps: u64,
    /// Discriminator updates per round (WGAN: 5).
    pub discriminator_steps: u64,
    pub eval_every: u64,
    pub checkpoint_every: u64,
    pub keep_checkpoints: usize,
    pub log_every: u64,
    /// Stop when a loss exceeds this many times its running low (see the trainer).
    pub divergence_factor: Option<f64>,
}

impl Default for AdversarialSchedule {
    fn default() -> Self {
        Self {
            steps: 1000,
            discriminator_steps: 1,
            eval_every: 100,
            checkpoint_every: 100,
            keep_checkpoints: 2,
            log_every: 10,
            divergence_factor: Some(DEFAULT_DIVERGENCE_FACTOR),
        }
    }
}

/// One Adam for each network; both DCGAN's by default (lr 2e-4, betas (0.5, 0.999)).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwoNetworkOptim {
    pub generator: AdamConfig,
    pub discriminator: AdamConfig,
}

/// The names of a two-network task's updates and groups (each group's optimizer is named as
/// the group).
pub struct TwoNetworks<U> {
    pub discriminator_update: U,
    pub generator_update: U,
    pub generator_group: &'static str,
    pub discriminator_group: &'static str,
}

impl AdversarialSchedule {
    /// One phase, `adversarial`, of `steps` rounds; Adam for each network, WGAN's clamp on the
    /// critic when `loss` has one.
    pub fn trainer_config<U: UpdateKind>(
        &self,
        seed: u64,
        nets: TwoNetworks<U>,
        optim: &TwoNetworkOptim,
        loss: &AdversarialLoss,
    ) -> TrainerConfig<U> {
        TrainerConfig {
            phases: vec![PhaseSpec {
                name: "adversarial".into(),
                steps: self.steps,
                round: vec![
                    (nets.discriminator_update, self.discriminator_steps),
                    (nets.generator_update, 1),
                ],
                eval_every: self.eval_every,
                checkpoint_every: self.checkpoint_every,
            }],
            optimizers: vec![
                OptimizerSpec::new(
                    nets.generator_group,
                    nets.generator_group,
                    optim.generator.clone(),
                ),
                OptimizerSpec::critic(
                    nets.discriminator_group,
                    nets.discriminator_group,
                    optim.discriminator.clone(),
                    loss,
                ),
            ],
            log_every: self.log_every,
            keep_checkpoints: self.keep_checkpoints,
            divergence_factor: self.divergence_factor,
            ..TrainerConfig::new(seed)
        }
    }
}
