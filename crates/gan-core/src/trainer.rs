//! The training loop shared by every model crate: pretrain the generator, pretrain the
//! discriminator, then alternate discriminator and generator updates for a number of rounds.
//!
//! A model crate implements [`GanTask`] (the losses and the evaluation); the [`Trainer`] owns the
//! optimizers, the RNG, the schedule, metrics, checkpoints and resumption. Everything random in a
//! run comes from the trainer's seed, so the same seed on the same device gives the same losses,
//! and a run resumed from a checkpoint continues exactly as if it had never stopped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::checkpoint::{write_atomic, Checkpoint, CheckpointStore};
use crate::{
    Adam, AdamConfig, AdversarialLoss, Error, Metrics, MetricsLog, ParamStore, Result, SeededRng,
};

/// The phases of a run, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    GeneratorPretrain,
    DiscriminatorPretrain,
    Adversarial,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::GeneratorPretrain => "generator_pretrain",
            Phase::DiscriminatorPretrain => "discriminator_pretrain",
            Phase::Adversarial => "adversarial",
        }
    }
}

/// How many updates of each kind a run makes, and how often it evaluates and checkpoints.
/// A run's steps are counted across phases: pretraining steps are single updates, an adversarial
/// step is a round of `discriminator_steps_per_round` D updates then `generator_steps_per_round`
/// G updates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSchedule {
    pub generator_pretrain_steps: u64,
    pub discriminator_pretrain_steps: u64,
    pub adversarial_rounds: u64,
    pub discriminator_steps_per_round: u64,
    pub generator_steps_per_round: u64,
    /// Evaluate every this many pretraining steps (0: only at the end of each phase).
    pub pretrain_eval_every: u64,
    /// Evaluate every this many adversarial rounds (0: only at the end).
    pub adversarial_eval_every: u64,
    /// Write a training record every this many steps.
    pub log_every: u64,
    /// Checkpoint every this many steps (0: only at the end of each phase).
    pub checkpoint_every: u64,
    /// Complete checkpoints kept on disk.
    pub keep_checkpoints: usize,
}

impl Default for TrainSchedule {
    fn default() -> Self {
        Self {
            generator_pretrain_steps: 0,
            discriminator_pretrain_steps: 0,
            adversarial_rounds: 0,
            discriminator_steps_per_round: 1,
            generator_steps_per_round: 1,
            pretrain_eval_every: 0,
            adversarial_eval_every: 0,
            log_every: 10,
            checkpoint_every: 0,
            keep_checkpoints: 2,
        }
    }
}

impl TrainSchedule {
    pub fn total_steps(&self) -> u64 {
        self.generator_pretrain_steps + self.discriminator_pretrain_steps + self.adversarial_rounds
    }

    /// Phase, step within the phase, and length of the phase for a run step.
    pub fn locate(&self, step: u64) -> (Phase, u64, u64) {
        let g = self.generator_pretrain_steps;
        let d = self.discriminator_pretrain_steps;
        if step < g {
            (Phase::GeneratorPretrain, step, g)
        } else if step < g + d {
            (Phase::DiscriminatorPretrain, step - g, d)
        } else {
            (Phase::Adversarial, step - g - d, self.adversarial_rounds)
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.adversarial_rounds > 0
            && self.discriminator_steps_per_round + self.generator_steps_per_round == 0
        {
            return Err(Error::Config(
                "an adversarial round needs at least one D or G step".into(),
            ));
        }
        if self.log_every == 0 {
            return Err(Error::Config("log_every must be at least 1".into()));
        }
        Ok(())
    }
}

/// Optimizers, loss and schedule of a run. The model crates embed this in their own configs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainerConfig {
    pub seed: u64,
    pub schedule: TrainSchedule,
    pub loss: AdversarialLoss,
    /// Optimizer of generator pretraining (e.g. maximum likelihood).
    pub generator_pretrain_optim: AdamConfig,
    pub generator_optim: AdamConfig,
    pub discriminator_optim: AdamConfig,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            schedule: TrainSchedule::default(),
            loss: AdversarialLoss::NonSaturating,
            generator_pretrain_optim: AdamConfig::default(),
            generator_optim: AdamConfig::default(),
            discriminator_optim: AdamConfig::default(),
        }
    }
}

impl TrainerConfig {
    pub fn validate(&self) -> Result<()> {
        self.schedule.validate()?;
        self.loss.validate()?;
        self.generator_pretrain_optim
            .validate("generator_pretrain_optim")?;
        self.generator_optim.validate("generator_optim")?;
        self.discriminator_optim.validate("discriminator_optim")
    }
}

/// What a task sees during one update.
pub struct StepContext<'a> {
    /// The run's RNG: noise, dropout and sampling draw from it.
    pub rng: &'a mut SeededRng,
    /// The run seed, for [`SeededRng::derive`] streams (e.g. the batch order of an epoch).
    pub seed: u64,
    pub phase: Phase,
    /// Step within the phase (0-based) and the phase's length: schedules such as RelGAN's
    /// temperature `beta_max^(step/phase_steps)` read them.
    pub step: u64,
    pub phase_steps: u64,
    /// Index of this update within the round (a round makes several D updates).
    pub update_in_round: u64,
    pub loss: &'a AdversarialLoss,
}

/// A loss to minimise and metrics to log beside it.
pub struct LossReport {
    pub loss: Tensor,
    pub metrics: Metrics,
}

impl LossReport {
    pub fn new(loss: Tensor) -> Self {
        Self {
            loss,
            metrics: Metrics::new(),
        }
    }
    pub fn with(mut self, name: &str, value: f64) -> Self {
        self.metrics.insert(name.to_string(), value);
        self
    }
}

/// A generator/discriminator pair with its data: what a model crate gives the [`Trainer`].
///
/// When `ctx.loss` carries a gradient penalty (WGAN-GP), the task adds
/// [`crate::loss::gradient_penalty`] on its own inputs to its discriminator loss; weight
/// clipping (WGAN) is applied by the trainer.
pub trait GanTask {
    fn generator_params(&self) -> &ParamStore;
    fn discriminator_params(&self) -> &ParamStore;
    /// Loss of one supervised generator update (e.g. maximum likelihood on real data).
    fn generator_pretrain_loss(&mut self, ctx: &mut StepContext) -> Result<LossReport>;
    /// Loss of one discriminator pretraining update; by default the adversarial D loss.
    fn discriminator_pretrain_loss(&mut self, ctx: &mut StepContext) -> Result<LossReport> {
        self.discriminator_loss(ctx)
    }
    fn discriminator_loss(&mut self, ctx: &mut StepContext) -> Result<LossReport>;
    fn generator_loss(&mut self, ctx: &mut StepContext) -> Result<LossReport>;
    /// Evaluation metrics; `rng` is a stream of its own, so evaluating never changes training.
    fn evaluate(&mut self, rng: &mut SeededRng) -> Result<Metrics>;
}

/// Options of one invocation that are not part of the run's identity.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Hide the progress bar.
    pub quiet: bool,
    /// Continue from the run directory's latest checkpoint if there is one.
    pub resume: bool,
    /// Stop (after checkpointing) once this many run steps are done; used to split a run across
    /// invocations and to test resumption.
    pub halt_after: Option<u64>,
    /// The config as JSON, stored in every checkpoint's `state.json`.
    pub config_json: Value,
    /// Files written beside every checkpoint, e.g. `("config.toml", text)`.
    pub checkpoint_files: Vec<(String, String)>,
}

/// How a call to [`Trainer::run`] ended.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub steps_done: u64,
    pub completed: bool,
    /// The last evaluation's metrics.
    pub final_metrics: Metrics,
    pub resumed_from: Option<u64>,
}

/// Runs a [`GanTask`] through its schedule.
pub struct Trainer {
    config: TrainerConfig,
    run_dir: PathBuf,
    options: RunOptions,
}

impl Trainer {
    pub fn new(config: TrainerConfig, run_dir: &Path, options: RunOptions) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            run_dir: run_dir.to_path_buf(),
            options,
        })
    }

    pub fn run<T: GanTask>(&self, task: &mut T) -> Result<RunOutcome> {
        let cfg = &self.config;
        let schedule = &cfg.schedule;
        let mut g_pretrain_opt = Adam::new(
            task.generator_params(),
            cfg.generator_pretrain_optim.clone(),
        )?;
        let mut g_opt = Adam::new(task.generator_params(), cfg.generator_optim.clone())?;
        let mut d_opt = Adam::new(task.discriminator_params(), cfg.discriminator_optim.clone())?;
        let mut rng = SeededRng::new(cfg.seed);
        let mut step = 0u64;
        let mut last_eval = Metrics::new();
        let store = CheckpointStore::new(&self.run_dir, schedule.keep_checkpoints);

        let mut resumed_from = None;
        if self.options.resume {
            if let Some(dir) = store.latest() {
                let ckpt = Checkpoint::load(&dir, task.generator_params().device())?;
                let state: CheckpointState = serde_json::from_value(ckpt.state.clone())
                    .map_err(|e| Error::checkpoint(&dir, format!("state.json: {e}")))?;
                task.generator_params()
                    .load_with_prefix(&ckpt.tensors, "generator.", &dir)?;
                task.discriminator_params().load_with_prefix(
                    &ckpt.tensors,
                    "discriminator.",
                    &dir,
                )?;
                g_pretrain_opt.load_state(
                    &ckpt.tensors,
                    "optim.generator_pretrain.",
                    state.optimizer_steps[0],
                    &dir,
                )?;
                g_opt.load_state(
                    &ckpt.tensors,
                    "optim.generator.",
                    state.optimizer_steps[1],
                    &dir,
                )?;
                d_opt.load_state(
                    &ckpt.tensors,
                    "optim.discriminator.",
                    state.optimizer_steps[2],
                    &dir,
                )?;
                rng = state.rng;
                step = state.step;
                last_eval = state.last_eval;
                resumed_from = Some(step);
            }
        }
        let mut log = MetricsLog::open(
            &self.run_dir.join("metrics.jsonl"),
            resumed_from.or(self.options.resume.then_some(0)),
        )?;

        let total = schedule.total_steps();
        let progress = if self.options.quiet {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (eta {eta})",
                )
                .expect("static template"),
            );
            bar
        };
        progress.set_position(step);
        let started = Instant::now();
        if step == 0 && total > 0 {
            // Where the run starts (e.g. the MLE generator an adversarial run is initialised
            // from), so that curves show the change a run makes.
            let initial = task.evaluate(&mut SeededRng::derive(cfg.seed, "evaluation", 0))?;
            log.write(&record_json(
                "eval",
                0,
                schedule.locate(0).0,
                0,
                started,
                &initial,
            ))?;
        }

        let save = |step: u64,
                    rng: &SeededRng,
                    last_eval: &Metrics,
                    opts: [&Adam; 3],
                    task: &T|
         -> Result<PathBuf> {
            let mut tensors = task.generator_params().tensors_with_prefix("generator.");
            tensors.extend(
                task.discriminator_params()
                    .tensors_with_prefix("discriminator."),
            );
            tensors.extend(opts[0].state_tensors("optim.generator_pretrain."));
            tensors.extend(opts[1].state_tensors("optim.generator."));
            tensors.extend(opts[2].state_tensors("optim.discriminator."));
            let state = CheckpointState {
                step,
                rng: rng.clone(),
                optimizer_steps: [
                    opts[0].step_count(),
                    opts[1].step_count(),
                    opts[2].step_count(),
                ],
                last_eval: last_eval.clone(),
                config: self.options.config_json.clone(),
            };
            let state = serde_json::to_value(&state).map_err(|e| Error::Config(e.to_string()))?;
            let files: Vec<(&str, &str)> = self
                .options
                .checkpoint_files
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            store.save(step, tensors, &state, &files)
        };

        while step < total {
            if self.options.halt_after.is_some_and(|h| step >= h) {
                break;
            }
            let (phase, phase_step, phase_len) = schedule.locate(step);
            let mut record = Metrics::new();
            let mut ctx = StepContext {
                rng: &mut rng,
                seed: cfg.seed,
                phase,
                step: phase_step,
                phase_steps: phase_len,
                update_in_round: 0,
                loss: &cfg.loss,
            };
            match phase {
                Phase::GeneratorPretrain => {
                    let report = task.generator_pretrain_loss(&mut ctx)?;
                    let factor = cfg
                        .generator_pretrain_optim
                        .schedule
                        .factor(phase_step, phase_len);
                    let stats = g_pretrain_opt.step(&report.loss.backward()?, factor)?;
                    add_report(&mut record, "g_", &report, stats)?;
                }
                Phase::DiscriminatorPretrain => {
                    let report = task.discriminator_pretrain_loss(&mut ctx)?;
                    discriminator_update(
                        task,
                        &mut d_opt,
                        cfg,
                        report,
                        phase_step,
                        phase_len,
                        &mut record,
                    )?;
                }
                Phase::Adversarial => {
                    for k in 0..schedule.discriminator_steps_per_round {
                        ctx.update_in_round = k;
                        let report = task.discriminator_loss(&mut ctx)?;
                        discriminator_update(
                            task,
                            &mut d_opt,
                            cfg,
                            report,
                            phase_step,
                            phase_len,
                            &mut record,
                        )?;
                    }
                    for k in 0..schedule.generator_steps_per_round {
                        ctx.update_in_round = k;
                        let report = task.generator_loss(&mut ctx)?;
                        let factor = cfg.generator_optim.schedule.factor(phase_step, phase_len);
                        let stats = g_opt.step(&report.loss.backward()?, factor)?;
                        add_report(&mut record, "g_", &report, stats)?;
                    }
                }
            }
            step += 1;
            progress.inc(1);
            let phase_done = phase_step + 1 == phase_len;
            if phase_step % schedule.log_every == 0 || phase_done {
                let summary: Vec<String> = ["g_loss", "d_loss"]
                    .iter()
                    .filter_map(|k| record.get(*k).map(|v| format!("{k} {v:.4}")))
                    .collect();
                progress.set_message(format!("{} {}", phase.name(), summary.join(" ")));
                log.write(&record_json(
                    "train", step, phase, phase_step, started, &record,
                ))?;
            }
            let eval_every = match phase {
                Phase::Adversarial => schedule.adversarial_eval_every,
                _ => schedule.pretrain_eval_every,
            };
            if phase_done || (eval_every > 0 && (phase_step + 1) % eval_every == 0) {
                let mut eval_rng = SeededRng::derive(cfg.seed, "evaluation", step);
                last_eval = task.evaluate(&mut eval_rng)?;
                log.write(&record_json(
                    "eval",
                    step,
                    phase,
                    phase_step + 1,
                    started,
                    &last_eval,
                ))?;
                let shown: Vec<String> = last_eval
                    .iter()
                    .take(3)
                    .map(|(k, v)| format!("{k} {v:.3}"))
                    .collect();
                progress.println(format!(
                    "step {step} {} eval: {}",
                    phase.name(),
                    shown.join(", ")
                ));
            }
            let halting = self.options.halt_after.is_some_and(|h| step >= h);
            if phase_done
                || halting
                || (schedule.checkpoint_every > 0 && step % schedule.checkpoint_every == 0)
            {
                save(
                    step,
                    &rng,
                    &last_eval,
                    [&g_pretrain_opt, &g_opt, &d_opt],
                    task,
                )?;
            }
        }
        if total == 0 {
            let mut eval_rng = SeededRng::derive(cfg.seed, "evaluation", 0);
            last_eval = task.evaluate(&mut eval_rng)?;
            save(0, &rng, &last_eval, [&g_pretrain_opt, &g_opt, &d_opt], task)?;
        }
        progress.finish_and_clear();
        let completed = step >= total;
        if completed {
            let text = serde_json::to_string_pretty(&last_eval)
                .map_err(|e| Error::Config(e.to_string()))?;
            write_atomic(&self.run_dir.join("final_metrics.json"), text.as_bytes())?;
        }
        Ok(RunOutcome {
            steps_done: step,
            completed,
            final_metrics: last_eval,
            resumed_from,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct CheckpointState {
    step: u64,
    rng: SeededRng,
    /// Update counts of the generator-pretrain, generator and discriminator optimizers.
    optimizer_steps: [u64; 3],
    last_eval: Metrics,
    config: Value,
}

fn add_report(
    record: &mut Metrics,
    prefix: &str,
    report: &LossReport,
    stats: crate::optim::StepStats,
) -> Result<()> {
    // Several updates per round: keep the mean of each quantity.
    let mut put = |key: String, value: f64| {
        let count_key = format!("{key}#n");
        let n = record.get(&count_key).copied().unwrap_or(0.0);
        let old = record.get(&key).copied().unwrap_or(0.0);
        record.insert(key, (old * n + value) / (n + 1.0));
        record.insert(count_key, n + 1.0);
    };
    put(
        format!("{prefix}loss"),
        report
            .loss
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?,
    );
    put(format!("{prefix}grad_norm"), stats.grad_norm);
    put(format!("{prefix}lr"), stats.lr);
    for (k, v) in &report.metrics {
        put(k.clone(), *v);
    }
    Ok(())
}

fn record_json(
    kind: &str,
    step: u64,
    phase: Phase,
    phase_step: u64,
    started: Instant,
    metrics: &Metrics,
) -> Value {
    let mut obj = json!({
        "kind": kind,
        "step": step,
        "phase": phase.name(),
        "phase_step": phase_step,
        "elapsed_s": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    });
    for (k, v) in metrics {
        if !k.ends_with("#n") {
            obj[k] = json!(v);
        }
    }
    obj
}

/// One discriminator update from `report`: optimizer step at the phase's learning rate, WGAN
/// weight clipping where the loss asks for it, metrics into `record`.
fn discriminator_update<T: GanTask>(
    task: &T,
    d_opt: &mut Adam,
    cfg: &TrainerConfig,
    report: LossReport,
    phase_step: u64,
    phase_len: u64,
    record: &mut Metrics,
) -> Result<()> {
    let factor = cfg
        .discriminator_optim
        .schedule
        .factor(phase_step, phase_len);
    let stats = d_opt.step(&report.loss.backward()?, factor)?;
    clip_weights(task.discriminator_params(), &cfg.loss)?;
    add_report(record, "d_", &report, stats)
}

fn clip_weights(params: &ParamStore, loss: &AdversarialLoss) -> Result<()> {
    if let Some(c) = loss.weight_clip() {
        for var in params.vars() {
            var.set(&var.as_tensor().clamp(-c, c)?)?;
        }
    }
    Ok(())
}
