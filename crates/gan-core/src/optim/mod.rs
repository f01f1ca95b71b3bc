//! Adam / AdamW with global-norm gradient clipping and learning-rate schedules.
//!
//! candle-nn's `AdamW` keeps its moments private (they cannot be checkpointed), defaults to weight
//! decay 0.01 and has no clipping; this optimizer exposes its state so that a resumed run
//! continues exactly where the interrupted one stopped.

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::{Error, ParamStore, Result};

mod fused;

/// Learning-rate multiplier over the steps of a phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    #[default]
    Constant,
    /// Linear warm-up from 0, then linear decay to `final_factor`.
    Linear {
        warmup_steps: u64,
        final_factor: f64,
    },
    /// Linear warm-up from 0, then cosine decay to `final_factor`.
    Cosine {
        warmup_steps: u64,
        final_factor: f64,
    },
}

impl LrSchedule {
    /// The multiplier at `step` (0-based) of `total_steps`.
    pub fn factor(&self, step: u64, total_steps: u64) -> f64 {
        let (warmup, final_factor, cosine) = match *self {
            LrSchedule::Constant => return 1.0,
            LrSchedule::Linear {
                warmup_steps,
                final_factor,
            } => (warmup_steps, final_factor, false),
            LrSchedule::Cosine {
                warmup_steps,
                final_factor,
            } => (warmup_steps, final_factor, true),
        };
        if step < warmup {
            return (step + 1) as f64 / warmup as f64;
        }
        let span = total_steps.saturating_sub(warmup).max(1) as f64;
        let progress = ((step - warmup) as f64 / span).min(1.0);
        let decay = if cosine {
            0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
        } else {
            1.0 - progress
        };
        final_factor + (1.0 - final_factor) * decay
    }
}

/// Adam settings. The defaults are DCGAN's (Radford et al. 2016): lr 2e-4, betas (0.5, 0.999),
/// no weight decay, no clipping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay (AdamW); 0 gives plain Adam.
    pub weight_decay: f64,
    /// Rescale all gradients so that their global L2 norm is at most this.
    pub grad_clip: Option<f64>,
    pub schedule: LrSchedule,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            grad_clip: None,
            schedule: LrSchedule::Constant,
        }
    }
}

impl AdamConfig {
    pub fn validate(&self, name: &str) -> Result<()> {
        let ok = self.lr > 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps > 0.0
            && self.weight_decay >= 0.0
            && self.grad_clip.is_none_or(|c| c > 0.0);
        if ok {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "optimizer `{name}`: need lr > 0, betas in [0, 1), eps > 0, weight_decay >= 0, grad_clip > 0"
            )))
        }
    }
}

/// What one optimizer step did.
#[derive(Clone, Copy, Debug)]
pub struct StepStats {
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    pub lr: f64,
}

/// Adam over the variables of one [`ParamStore`].
pub struct Adam {
    config: AdamConfig,
    names: Vec<String>,
    vars: Vec<Var>,
    first_moments: Vec<Tensor>,
    second_moments: Vec<Tensor>,
    step: u64,
    /// Whether updates take the fused in-place path (CPU `f32`, contiguous variables).
    fused: bool,
}

impl Adam {
    pub fn new(params: &ParamStore, config: AdamConfig) -> Result<Self> {
        let mut names = Vec::new();
        let mut vars = Vec::new();
        let mut first_moments = Vec::new();
        let mut second_moments = Vec::new();
        for (name, var) in params.named_vars() {
            names.push(name.to_string());
            vars.push(var.clone());
            // Separate storages: the fused path updates each moment in place.
            first_moments.push(var.zeros_like()?);
            second_moments.push(var.zeros_like()?);
        }
        let fused = vars.iter().all(|v| fused::applies(&[v.as_tensor()]));
        Ok(Self {
            config,
            names,
            vars,
            first_moments,
            second_moments,
            step: 0,
            fused,
        })
    }

    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Number of updates applied so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Global L2 norm of the gradients of this optimizer's variables: each variable's sum of
    /// squares on its device, all read back at once (a read per variable would make a GPU wait
    /// once per tensor), added in f64 in variable order.
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let sums = self
            .vars
            .iter()
            .filter_map(|var| grads.get(var))
            .map(|g| g.sqr()?.sum_all())
            .collect::<candle_core::Result<Vec<_>>>()?;
        if sums.is_empty() {
            return Ok(0.0);
        }
        let sums = Tensor::stack(&sums, 0)?.to_vec1::<f32>()?;
        Ok(sums.iter().map(|&s| s as f64).sum::<f64>().sqrt())
    }

    /// One update from `grads`; `lr_factor` comes from the phase's [`LrSchedule`].
    pub fn step(&mut self, grads: &GradStore, lr_factor: f64) -> Result<StepStats> {
        let grad_norm = self.grad_norm(grads)?;
        if !grad_norm.is_finite() {
            return Err(Error::Config(format!(
                "non-finite gradient norm at optimizer step {} (lower the learning rate or clip gradients)",
                self.step
            )));
        }
        let clip_scale = match self.config.grad_clip {
            Some(max) if grad_norm > max => max / (grad_norm + 1e-6),
            _ => 1.0,
        };
        self.step = self.step.saturating_add(1);
        let c = &self.config;
        let lr = c.lr * lr_factor;
        let bias1 = 1.0 - c.beta1.powi(self.step as i32);
        let bias2 = 1.0 - c.beta2.powi(self.step as i32);
        // The scalars exactly as candle rounds them for the generic path's `t * s` / `t / s`.
        let coefficients = fused::Coefficients {
            clip: (clip_scale != 1.0).then_some(clip_scale as f32),
            beta1: c.beta1 as f32,
            one_minus_beta1: (1.0 - c.beta1) as f32,
            beta2: c.beta2 as f32,
            one_minus_beta2: (1.0 - c.beta2) as f32,
            inv_bias1: (1.0 / bias1) as f32,
            inv_bias2: (1.0 / bias2) as f32,
            eps: c.eps as f32,
            decay: (c.weight_decay > 0.0).then_some((1.0 - lr * c.weight_decay) as f32),
            lr: lr as f32,
        };
        for i in 0..self.vars.len() {
            let Some(grad) = grads.get(&self.vars[i]) else {
                continue;
            };
            // A gradient can still reference its step's forward graph (candle tracks ops on
            // variables inside backward formulas); folding it into the moments undetached would
            // keep every past step's graph alive through the moment chain.
            let grad = grad.detach();
            if self.fused {
                self.fused_update(i, &grad.contiguous()?, coefficients)?;
            } else {
                self.generic_update(i, grad, clip_scale, lr, bias1, bias2)?;
            }
        }
        Ok(StepStats { grad_norm, lr })
    }

    /// One variable's update in three in-place passes (CPU `f32`; see [`fused`]).
    fn fused_update(&self, i: usize, grad: &Tensor, c: fused::Coefficients) -> Result<()> {
        let (m, v) = (&self.first_moments[i], &self.second_moments[i]);
        m.inplace_op2(grad, &fused::FirstMoment(c))?;
        v.inplace_op2(grad, &fused::SecondMoment(c))?;
        self.vars[i]
            .as_tensor()
            .inplace_op3(m, v, &fused::ParameterUpdate(c))?;
        Ok(())
    }

    /// One variable's update as a candle composition (any device and dtype).
    fn generic_update(
        &mut self,
        i: usize,
        grad: Tensor,
        clip_scale: f64,
        lr: f64,
        bias1: f64,
        bias2: f64,
    ) -> Result<()> {
        let c = &self.config;
        let grad = if clip_scale != 1.0 {
            (grad * clip_scale)?
        } else {
            grad
        };
        let m = ((&self.first_moments[i] * c.beta1)? + (&grad * (1.0 - c.beta1))?)?;
        let v = ((&self.second_moments[i] * c.beta2)? + (grad.sqr()? * (1.0 - c.beta2))?)?;
        let update = ((&m / bias1)? / ((&v / bias2)?.sqrt()? + c.eps)?)?;
        let var = &self.vars[i];
        let mut value = var.as_tensor().detach();
        if c.weight_decay > 0.0 {
            value = (value * (1.0 - lr * c.weight_decay))?;
        }
        var.set(&(value - (update * lr)?)?)?;
        self.first_moments[i] = m;
        self.second_moments[i] = v;
        Ok(())
    }

    /// Moments as named tensors (`{prefix}m.{var}`, `{prefix}v.{var}`) for a checkpoint.
    pub fn state_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.names.len());
        for (i, name) in self.names.iter().enumerate() {
            out.push((format!("{prefix}m.{name}"), self.first_moments[i].clone()));
            out.push((format!("{prefix}v.{name}"), self.second_moments[i].clone()));
        }
        out
    }

    /// Restores moments and the step count saved by [`Adam::state_tensors`].
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        step: u64,
        source: &Path,
    ) -> Result<()> {
        for (i, name) in self.names.iter().enumerate() {
            for (kind, slot) in [
                ("m", &mut self.first_moments[i]),
                ("v", &mut self.second_moments[i]),
            ] {
                let key = format!("{prefix}{kind}.{name}");
                let t = tensors.get(&key).ok_or_else(|| {
                    Error::checkpoint(source, format!("missing optimizer tensor `{key}`"))
                })?;
                if t.dims() != slot.dims() {
                    return Err(Error::checkpoint(
                        source,
                        format!(
                            "optimizer tensor `{key}` has shape {:?}, expected {:?}",
                            t.dims(),
                            slot.dims()
                        ),
                    ));
                }
                // A copy of its own: the fused path updates moments in place, and `tensors` may
                // be read again (or saved) by the caller.
                *slot = t.to_device(slot.device())?.contiguous()?.copy()?;
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Init, SeededRng};
    use candle_core::Device;

    #[test]
    fn adam_minimises_a_quadratic_and_clips() {
        let mut rng = SeededRng::new(0);
        let mut params = ParamStore::new(&Device::Cpu);
        let x = params.create("x", 3, Init::Const(5.0), &mut rng).unwrap();
        let config = AdamConfig {
            lr: 0.1,
            beta1: 0.9,
            grad_clip: Some(1.0),
            ..Default::default()
        };
        let mut opt = Adam::new(&params, config).unwrap();
        let mut first_norm = 0.0;
        for step in 0..300 {
            let loss = x.sqr().unwrap().sum_all().unwrap();
            let stats = opt.step(&loss.backward().unwrap(), 1.0).unwrap();
            if step == 0 {
                first_norm = stats.grad_norm;
            }
        }
        // Gradient 2x = 10 per coordinate at the start: norm sqrt(300).
        assert!((first_norm - 300f64.sqrt()).abs() < 1e-3);
        let left: Vec<f32> = x.to_vec1().unwrap();
        assert!(left.iter().all(|v| v.abs() < 0.05), "{left:?}");
    }

    #[test]
    fn optimizer_state_does_not_hold_the_step_graph() {
        // The gradient of `w` in `x @ w` is computed from `x`; when `x` is itself a variable the
        // gradient tensor tracks ops, and an optimizer that stores it keeps the graph alive.
        let mut rng = SeededRng::new(1);
        let mut params = ParamStore::new(&Device::Cpu);
        let w = params
            .create(
                "w",
                (3, 2),
                Init::Normal {
                    mean: 0.0,
                    std: 1.0,
                },
                &mut rng,
            )
            .unwrap();
        let x = candle_core::Var::new(&[[1f32, 2.0, 3.0]], &Device::Cpu).unwrap();
        let loss = x.matmul(&w).unwrap().sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let mut opt = Adam::new(&params, AdamConfig::default()).unwrap();
        opt.step(&grads, 1.0).unwrap();
        for (name, t) in opt.state_tensors("") {
            assert!(!t.track_op(), "{name} keeps a graph");
        }
        assert!(!w.track_op() || w.is_variable());
    }

    /// Runs `steps` updates of a small model under `config`, fused or not, and returns the
    /// weights and moments after each step.
    fn trajectory(config: &AdamConfig, fused: bool, steps: usize) -> Vec<Vec<u32>> {
        let mut rng = SeededRng::new(3);
        let mut params = ParamStore::new(&Device::Cpu);
        let normal = Init::Normal {
            mean: 0.0,
            std: 1.0,
        };
        // Large enough to be split into parallel chunks.
        let w = params.create("w", (300, 200), normal, &mut rng).unwrap();
        let b = params.create("b", 200, normal, &mut rng).unwrap();
        let x = rng.normal((8, 300), 0.0, 1.0, &Device::Cpu).unwrap();
        let mut opt = Adam::new(&params, config.clone()).unwrap();
        assert!(opt.fused);
        opt.fused = fused;
        let mut out = Vec::new();
        for step in 0..steps {
            let y = x.matmul(&w).unwrap().broadcast_add(&b).unwrap();
            let loss = y.tanh().unwrap().sqr().unwrap().mean_all().unwrap();
            opt.step(&loss.backward().unwrap(), 0.5 + step as f64 * 0.1)
                .unwrap();
            let mut bits = Vec::new();
            let state = opt.state_tensors("");
            for t in [&w, &b].into_iter().chain(state.iter().map(|(_, t)| t)) {
                let values: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
                bits.extend(values.iter().map(|v| v.to_bits()));
            }
            out.push(bits);
        }
        out
    }

    #[test]
    fn fused_updates_equal_the_candle_composition_bit_for_bit() {
        let plain = AdamConfig {
            lr: 1e-2,
            ..Default::default()
        };
        let clipped_adamw = AdamConfig {
            lr: 3e-3,
            beta1: 0.9,
            weight_decay: 0.01,
            grad_clip: Some(1e-3),
            ..Default::default()
        };
        for config in [plain, clipped_adamw] {
            let fused = trajectory(&config, true, 4);
            let generic = trajectory(&config, false, 4);
            assert_eq!(fused, generic, "{config:?}");
            assert_ne!(fused[0], fused[3], "the weights move");
        }
    }

    #[test]
    fn loaded_moments_are_not_shared_with_the_checkpoint_map() {
        let mut rng = SeededRng::new(4);
        let mut params = ParamStore::new(&Device::Cpu);
        let x = params.create("x", 4, Init::Const(1.0), &mut rng).unwrap();
        let mut opt = Adam::new(&params, AdamConfig::default()).unwrap();
        let saved: HashMap<String, Tensor> = opt.state_tensors("").into_iter().collect();
        opt.load_state(&saved, "", 0, Path::new("test")).unwrap();
        opt.step(
            &x.sqr().unwrap().sum_all().unwrap().backward().unwrap(),
            1.0,
        )
        .unwrap();
        let m: Vec<f32> = saved["m.x"].to_vec1().unwrap();
        assert_eq!(
            m,
            vec![0.0; 4],
            "the update wrote into the caller's tensors"
        );
    }

    #[test]
    fn schedules_warm_up_and_decay() {
        let s = LrSchedule::Linear {
            warmup_steps: 10,
            final_factor: 0.1,
        };
        assert!((s.factor(0, 110) - 0.1).abs() < 1e-9);
        assert!((s.factor(10, 110) - 1.0).abs() < 1e-9);
        assert!((s.factor(110, 110) - 0.1).abs() < 1e-9);
        let c = LrSchedule::Cosine {
            warmup_steps: 0,
            final_factor: 0.0,
        };
        assert!((c.factor(50, 100) - 0.5).abs() < 1e-9);
        assert_eq!(LrSchedule::Constant.factor(7, 9), 1.0);
    }
}
