//! One run step: every update of the step's phase, each loss backpropagated once and stepped by
//! the optimizers that train on it. [`crate::Trainer`] drives it through a run; a benchmark can
//! drive it alone, so that what it times is exactly what training does.

use std::collections::BTreeMap;

use candle_core::DType;
use serde::{Deserialize, Serialize};

use crate::trainer::plan::{OptimizerSpec, TrainerConfig, UpdateKind};
use crate::trainer::task::{Losses, StepContext, Task};
use crate::{Adam, Error, Metrics, ParamGroup, ParamStore, Result, SeededRng};

/// An optimizer and the group it trains.
pub(crate) struct Slot {
    pub(crate) spec: OptimizerSpec,
    pub(crate) adam: Adam,
    params: ParamStore,
}

/// Optimizers, RNG and divergence watch of a run, advancing it one step at a time.
pub struct Stepper<'c, U> {
    config: &'c TrainerConfig<U>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) rng: SeededRng,
    pub(crate) guard: DivergenceGuard,
}

impl<'c, U: UpdateKind> Stepper<'c, U> {
    /// Optimizers for `task`'s groups as `config` declares them, and the run's RNG.
    pub fn new<T: Task<Update = U>>(config: &'c TrainerConfig<U>, task: &T) -> Result<Self> {
        config.validate()?;
        let groups = task.groups();
        let mut slots = Vec::with_capacity(config.optimizers.len());
        for spec in &config.optimizers {
            let params = groups
                .iter()
                .find_map(|g| match g {
                    ParamGroup::Trained { name, params } if *name == spec.group => {
                        Some((*params).clone())
                    }
                    _ => None,
                })
                .ok_or_else(|| {
                    let names: Vec<&str> = groups.iter().map(ParamGroup::name).collect();
                    Error::Config(format!(
                        "optimizer `{}` trains group `{}`, which is not a trained group of the task (groups: {})",
                        spec.name,
                        spec.group,
                        names.join(", ")
                    ))
                })?;
            slots.push(Slot {
                adam: Adam::new(&params, spec.adam.clone())?,
                spec: spec.clone(),
                params,
            });
        }
        Ok(Self {
            config,
            slots,
            rng: SeededRng::new(config.seed),
            guard: DivergenceGuard::default(),
        })
    }

    /// Runs run step `step`: each update of its phase's round, repeated as declared. Returns the
    /// step's record: each loss, gradient norm and learning rate (means over repetitions) and
    /// the task's own metrics.
    pub fn step<T: Task<Update = U>>(&mut self, task: &mut T, step: u64) -> Result<Metrics> {
        let (phase, phase_step) = self.config.locate(step);
        let mut record = RoundRecord::default();
        for &(update, repeats) in &phase.round {
            for repeat in 0..repeats {
                let mut ctx = StepContext {
                    rng: &mut self.rng,
                    seed: self.config.seed,
                    phase: &phase.name,
                    step: phase_step,
                    phase_steps: phase.steps,
                    repeat,
                };
                let losses = task.update(update, &mut ctx)?;
                self.apply(
                    losses,
                    step,
                    &phase.name,
                    phase_step,
                    phase.steps,
                    &mut record,
                )?;
            }
        }
        Ok(record.means())
    }

    fn apply(
        &mut self,
        losses: Losses,
        step: u64,
        phase: &str,
        phase_step: u64,
        phase_steps: u64,
        record: &mut RoundRecord,
    ) -> Result<()> {
        let mut stepped: Vec<&str> = Vec::new();
        for named in &losses.losses {
            let value = named.loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            self.guard.check(
                &named.name,
                value,
                self.config.divergence_factor,
                step + 1,
                phase,
            )?;
            record.add(&named.name, value);
            let grads = named.loss.backward()?;
            for optimizer in &named.optimizers {
                if stepped.contains(&optimizer.as_str()) {
                    return Err(Error::Config(format!(
                        "optimizer `{optimizer}` is given two losses in one update"
                    )));
                }
                stepped.push(optimizer);
                let slot = self
                    .slots
                    .iter_mut()
                    .find(|s| s.spec.name == *optimizer)
                    .ok_or_else(|| {
                        Error::Config(format!(
                            "loss `{}` asks for optimizer `{optimizer}`, which the run does not declare",
                            named.name
                        ))
                    })?;
                let factor = slot.spec.adam.schedule.factor(phase_step, phase_steps);
                let stats = slot.adam.step(&grads, factor)?;
                if let Some(c) = slot.spec.clamp_weights {
                    for var in slot.params.vars() {
                        var.set(&var.as_tensor().clamp(-c, c)?)?;
                    }
                }
                record.add(&format!("{optimizer}_grad_norm"), stats.grad_norm);
                record.add(&format!("{optimizer}_lr"), stats.lr);
            }
        }
        for (k, v) in &losses.metrics {
            record.add(k, *v);
        }
        Ok(())
    }
}

/// Means of the values logged over the updates of one step.
#[derive(Default)]
struct RoundRecord {
    sums: BTreeMap<String, (f64, u32)>,
}

impl RoundRecord {
    fn add(&mut self, key: &str, value: f64) {
        let entry = self.sums.entry(key.to_string()).or_insert((0.0, 0));
        entry.0 += value;
        entry.1 += 1;
    }

    fn means(self) -> Metrics {
        self.sums
            .into_iter()
            .map(|(k, (sum, n))| (k, sum / n as f64))
            .collect()
    }
}

/// Watches every loss for divergence: non-finite, or above `factor` times the lowest value its
/// running mean has reached (floored at 1, so losses near zero, such as a critic's, do not trip
/// it). Checkpointed, so a resumed run watches exactly as an uninterrupted one.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct DivergenceGuard {
    tracks: BTreeMap<String, LossTrack>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct LossTrack {
    mean: f64,
    low: f64,
}

impl DivergenceGuard {
    fn check(
        &mut self,
        name: &str,
        value: f64,
        factor: Option<f64>,
        step: u64,
        phase: &str,
    ) -> Result<()> {
        let diverged = |detail: String| Error::Diverged {
            step,
            message: format!("{phase}: {detail}"),
        };
        if !value.is_finite() {
            return Err(diverged(format!("loss `{name}` is {value}")));
        }
        let magnitude = value.abs();
        let Some(track) = self.tracks.get_mut(name) else {
            self.tracks.insert(
                name.to_string(),
                LossTrack {
                    mean: magnitude,
                    low: magnitude,
                },
            );
            return Ok(());
        };
        if let Some(f) = factor {
            let reference = track.low.max(1.0);
            if magnitude > f * reference {
                return Err(diverged(format!(
                    "loss `{name}` is {value:.4e}, over {f}x its running low {:.4}",
                    track.low
                )));
            }
        }
        track.mean = 0.9 * track.mean + 0.1 * magnitude;
        track.low = track.low.min(track.mean);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_stops_on_explosion_and_non_finite_but_not_on_noise() {
        let mut guard = DivergenceGuard::default();
        for (i, v) in [8.5, 8.2, 9.0, 7.9, 30.0, 8.0].iter().enumerate() {
            guard
                .check("g_loss", *v, Some(1000.0), i as u64, "mle")
                .unwrap();
        }
        let err = guard
            .check("g_loss", 2.5e7, Some(1000.0), 7, "mle")
            .unwrap_err()
            .to_string();
        assert!(err.contains("step 7") && err.contains("g_loss"), "{err}");
        // A critic loss near zero may grow a hundredfold without tripping the floor of 1.
        let mut critic = DivergenceGuard::default();
        for v in [0.01, -0.02, 0.005, 0.9, -3.0] {
            critic.check("d_loss", v, Some(1000.0), 1, "adv").unwrap();
        }
        let err = critic
            .check("d_loss", f64::NAN, None, 9, "adv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("NaN"), "{err}");
    }
}
