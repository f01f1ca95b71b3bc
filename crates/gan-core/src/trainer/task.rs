//! What a model crate implements for the [`crate::Trainer`]: its parameter groups, the losses of
//! each kind of update, and its evaluation.

use candle_core::Tensor;

use crate::trainer::plan::UpdateKind;
use crate::{Evaluation, Metrics, ParamGroup, Result, SeededRng};

/// What a task sees during one update.
pub struct StepContext<'a> {
    /// The run's RNG: noise, dropout and sampling draw from it.
    pub rng: &'a mut SeededRng,
    /// The run seed, for [`SeededRng::derive`] streams (e.g. the batch order of an epoch).
    pub seed: u64,
    pub phase: &'a str,
    /// Step within the phase (0-based) and the phase's length: schedules such as RelGAN's
    /// temperature `beta_max^(step/phase_steps)` read them.
    pub step: u64,
    pub phase_steps: u64,
    /// Which repetition of this update within the step (a round makes several D updates).
    pub repeat: u64,
}

/// What a task sees when it is evaluated.
pub struct EvalContext<'a> {
    /// A stream of its own (`derive(seed, "evaluation", step)`), so evaluating never changes
    /// training and every evaluation can be recomputed.
    pub rng: &'a mut SeededRng,
    /// The run step evaluated at.
    pub step: u64,
    /// Where the task may write what a person would look at (sample grids), atomically.
    pub run_dir: &'a std::path::Path,
}

/// One named loss and the optimizers that step on it.
pub struct NamedLoss {
    pub name: String,
    pub loss: Tensor,
    pub optimizers: Vec<String>,
}

/// The losses of one update. Each optimizer steps on the gradient of its own loss only: a
/// semi-supervised GAN returns the discriminator's loss for the `encoder` and `discriminator`
/// optimizers and the generator's loss for `generator`, both from one forward pass, and each
/// group moves on its own objective.
#[derive(Default)]
pub struct Losses {
    pub losses: Vec<NamedLoss>,
    /// Extra values logged beside the losses (accuracy, reward, temperature, ...).
    pub metrics: Metrics,
}

impl Losses {
    /// One loss, stepped by `optimizers`.
    pub fn single(name: &str, loss: Tensor, optimizers: &[&str]) -> Self {
        Self::default().loss(name, loss, optimizers)
    }

    pub fn loss(mut self, name: &str, loss: Tensor, optimizers: &[&str]) -> Self {
        self.losses.push(NamedLoss {
            name: name.to_string(),
            loss,
            optimizers: optimizers.iter().map(|o| o.to_string()).collect(),
        });
        self
    }

    pub fn with(mut self, metric: &str, value: f64) -> Self {
        self.metrics.insert(metric.to_string(), value);
        self
    }
}

/// A model, its data and its losses: what a model crate gives the [`crate::Trainer`].
pub trait Task {
    /// The kinds of update the task's phases are made of.
    type Update: UpdateKind;

    /// Every parameter group, trained or frozen. Optimizers name the group they train.
    fn groups(&self) -> Vec<ParamGroup<'_>>;

    /// The losses of one update of kind `update`.
    fn update(&mut self, update: Self::Update, ctx: &mut StepContext) -> Result<Losses>;

    /// Validation and test metrics.
    fn evaluate(&mut self, ctx: &mut EvalContext) -> Result<Evaluation>;
}
