//! What a run does, declared by the task: its phases, the updates of one step of each phase, the
//! optimizers, model selection and bookkeeping.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{AdamConfig, AdversarialLoss, Error, Result};

/// The kinds of update a task makes (e.g. maximum likelihood, a discriminator step, a generator
/// step). An enum of the task's own; the trainer only needs its name for logs.
pub trait UpdateKind: Copy + std::fmt::Debug {
    fn name(&self) -> &'static str;
}

/// A phase of a run: `steps` steps, each made of the updates in `round` (each repeated): an
/// adversarial round is `[(Discriminator, 5), (Generator, 1)]`, a supervised epoch's step
/// `[(Train, 1)]`.
#[derive(Clone, Debug)]
pub struct PhaseSpec<U> {
    pub name: String,
    pub steps: u64,
    pub round: Vec<(U, u64)>,
    /// Evaluate every this many steps of the phase (0: only at its end).
    pub eval_every: u64,
    /// Checkpoint every this many steps of the phase (0: only at its end).
    pub checkpoint_every: u64,
}

/// One optimizer: Adam over the parameters of `group`. Several optimizers may share a group (a
/// text GAN pretrains its generator with one Adam and trains it adversarially with another);
/// each keeps its own moments, saved under `optim.{name}.`.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerSpec {
    pub name: String,
    pub group: String,
    pub adam: AdamConfig,
    /// Clamp every weight of the group to `[-c, c]` after each step (WGAN's critic).
    pub clamp_weights: Option<f64>,
}

impl OptimizerSpec {
    pub fn new(name: &str, group: &str, adam: AdamConfig) -> Self {
        Self {
            name: name.to_string(),
            group: group.to_string(),
            adam,
            clamp_weights: None,
        }
    }

    /// A discriminator's (critic's) optimizer: with WGAN's weight clamp when `loss` has one.
    pub fn critic(name: &str, group: &str, adam: AdamConfig, loss: &AdversarialLoss) -> Self {
        Self {
            clamp_weights: loss.weight_clip(),
            ..Self::new(name, group, adam)
        }
    }
}

/// Whether a smaller or a larger value of the selection metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    Min,
    Max,
}

/// Model selection: keep the checkpoint with the best value of a validation metric beside the
/// latest one, and optionally stop after `patience` evaluations without improvement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// A validation metric, `val/...` (selecting on test metrics would report an optimistic
    /// test score, so it is refused).
    pub metric: String,
    pub goal: Goal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<u64>,
}

impl Selection {
    /// Whether `value` beats `best`.
    pub fn improves(&self, value: f64, best: Option<f64>) -> bool {
        match (best, self.goal) {
            (None, _) => value.is_finite(),
            (Some(b), Goal::Min) => value < b,
            (Some(b), Goal::Max) => value > b,
        }
    }
}

/// Everything the [`crate::Trainer`] needs to run a task.
#[derive(Clone, Debug)]
pub struct TrainerConfig<U> {
    pub seed: u64,
    pub phases: Vec<PhaseSpec<U>>,
    pub optimizers: Vec<OptimizerSpec>,
    pub selection: Option<Selection>,
    /// Write a training record every this many steps of a phase (and at its last step).
    pub log_every: u64,
    /// Complete step checkpoints kept on disk (the best one is kept apart).
    pub keep_checkpoints: usize,
    /// Stop the run when a loss exceeds this many times its running low (floored at 1), or turns
    /// non-finite; `None` stops on non-finite losses only.
    pub divergence_factor: Option<f64>,
}

/// The default divergence threshold: a loss 1,000 times above where it has been.
pub const DEFAULT_DIVERGENCE_FACTOR: f64 = 1000.0;

impl<U: UpdateKind> TrainerConfig<U> {
    /// A config with no phases or optimizers yet, logging every 10 steps, keeping 2 checkpoints.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            phases: Vec::new(),
            optimizers: Vec::new(),
            selection: None,
            log_every: 10,
            keep_checkpoints: 2,
            divergence_factor: Some(DEFAULT_DIVERGENCE_FACTOR),
        }
    }

    /// Total run steps over all phases.
    pub fn total_steps(&self) -> u64 {
        self.phases.iter().map(|p| p.steps).sum()
    }

    /// The phase of run step `step` (`< total_steps`), and the step within it.
    pub fn locate(&self, step: u64) -> (&PhaseSpec<U>, u64) {
        let mut start = 0;
        for phase in &self.phases {
            if step < start + phase.steps {
                return (phase, step - start);
            }
            start += phase.steps;
        }
        panic!("step {step} is past the run's {start} steps");
    }

    /// The phase a run at `step` is in (the last one once the run is complete).
    pub fn phase_name_at(&self, step: u64) -> &str {
        if step < self.total_steps() {
            &self.locate(step).0.name
        } else {
            self.phases.last().map_or("", |p| p.name.as_str())
        }
    }

    pub fn validate(&self) -> Result<()> {
        let invalid = |m: String| Err(Error::Config(m));
        if self.log_every == 0 {
            return invalid("log_every must be at least 1".into());
        }
        let mut names = BTreeSet::new();
        for phase in &self.phases {
            if !names.insert(phase.name.as_str()) {
                return invalid(format!("phase `{}` is declared twice", phase.name));
            }
            if phase.steps > 0 && phase.round.iter().all(|(_, repeats)| *repeats == 0) {
                return invalid(format!(
                    "phase `{}` has {} steps but no update in a step",
                    phase.name, phase.steps
                ));
            }
        }
        let mut optimizers = BTreeSet::new();
        for spec in &self.optimizers {
            if !optimizers.insert(spec.name.as_str()) {
                return invalid(format!("optimizer `{}` is declared twice", spec.name));
            }
            spec.adam.validate(&spec.name)?;
            if spec.clamp_weights.is_some_and(|c| c <= 0.0) {
                return invalid(format!(
                    "optimizer `{}`: weight clamp must be > 0",
                    spec.name
                ));
            }
        }
        if let Some(s) = &self.selection {
            if !s.metric.starts_with(crate::evaluation::VALIDATION_PREFIX) {
                return invalid(format!(
                    "selection metric `{}` is not a validation metric (`{}...`): selecting on test data overstates the test score",
                    s.metric,
                    crate::evaluation::VALIDATION_PREFIX
                ));
            }
            if s.patience == Some(0) {
                return invalid("selection patience must be at least 1".into());
            }
        }
        if self
            .divergence_factor
            .is_some_and(|f| f.is_nan() || f <= 1.0)
        {
            return invalid("divergence_factor must be > 1".into());
        }
        Ok(())
    }
}
