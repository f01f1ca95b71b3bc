//! The config of a `ring_gan` run: the unrolled-GAN paper's mixture, networks and batch (Metz et
//! al. 2017: batch 512); the schedule and optimizers are the sections every two-network GAN
//! shares (`gan_core::sections`; `configs/ring/gan.toml` sets the paper's Adam lr 1e-4).

use std::path::{Path, PathBuf};

use gan_core::sections::{AdversarialSchedule, TwoNetworkOptim, TwoNetworks};
use gan_core::{AdversarialLoss, RunConfig, TrainerConfig};
use serde::{Deserialize, Serialize};

use crate::nets::NetsConfig;
use crate::ring::Ring;
use crate::task::{names, RingUpdate};

gan_core::task_tag!(
    /// The `task` tag of a ring GAN config: `task = "ring_gan"`.
    RingGanTag,
    RingGan,
    "ring_gan"
);

/// A whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingGanConfig {
    pub task: RingGanTag,
    #[serde(default)]
    pub seed: u64,
    pub out_dir: PathBuf,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_loss")]
    pub loss: AdversarialLoss,
    #[serde(default)]
    pub ring: Ring,
    #[serde(default)]
    pub nets: NetsConfig,
    /// Generated points scored per evaluation.
    #[serde(default = "default_samples")]
    pub samples: usize,
    #[serde(default)]
    pub schedule: AdversarialSchedule,
    #[serde(default)]
    pub optim: TwoNetworkOptim,
}

fn default_batch() -> usize {
    512
}
fn default_loss() -> AdversarialLoss {
    AdversarialLoss::NonSaturating
}
fn default_samples() -> usize {
    2500
}

impl RunConfig for RingGanConfig {
    const TASK: &'static str = RingGanTag::TAG;

    fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    fn validate(&self) -> gan_core::Result<()> {
        let bail = |m: &str| Err(gan_core::Error::Config(m.to_string()));
        self.loss.validate()?;
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if self.ring.modes == 0 || !positive(self.ring.std) || !positive(self.ring.radius) {
            return bail("ring.modes, ring.radius and ring.std must be positive");
        }
        if self.batch_size == 0 || self.samples == 0 || self.nets.noise_dim == 0 {
            return bail("batch_size, samples and nets.noise_dim must be at least 1");
        }
        if self.nets.hidden == 0 || self.schedule.discriminator_steps == 0 {
            return bail("nets.hidden and schedule.discriminator_steps must be at least 1");
        }
        self.trainer_config().validate()
    }
}

impl RingGanConfig {
    /// One phase of adversarial rounds; Adam for each network (WGAN's clamp on the critic).
    pub fn trainer_config(&self) -> TrainerConfig<RingUpdate> {
        let nets = TwoNetworks {
            discriminator_update: RingUpdate::Discriminator,
            generator_update: RingUpdate::Generator,
            generator_group: names::GENERATOR,
            discriminator_group: names::DISCRIMINATOR,
        };
        self.schedule
            .trainer_config(self.seed, nets, &self.optim, &self.loss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gan_core::config::ConfigTable;

    #[test]
    fn the_example_config_is_valid_and_bad_settings_are_one_line_errors() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let configs = gan_core::config::example_configs(&root, RingGanTag::TAG).unwrap();
        assert!(!configs.is_empty());
        for (path, table) in configs {
            let c = RingGanConfig::from_table(table)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                RingGanConfig::parse(&c.to_toml().unwrap(), "saved").unwrap(),
                c
            );
        }
        let table = ConfigTable::parse("task = \"ring_gan\"\nout_dir = \"x\"\n", "t.toml")
            .unwrap()
            .with_overrides(&["ring.std=0".into()])
            .unwrap();
        let err = RingGanConfig::from_table(table).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid setting: t.toml: ring.modes, ring.radius and ring.std must be positive"
        );
    }
}
