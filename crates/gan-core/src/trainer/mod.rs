//! The training loop shared by every model crate.
//!
//! A model crate implements [`Task`] (its parameter groups, the losses of each kind of update, its
//! evaluation) and declares a run as [`TrainerConfig`]: phases made of rounds of updates (an
//! adversarial task: pretrain G, pretrain D, rounds of D and G steps; a supervised task: epochs of
//! one update), the optimizers, model selection. The [`Trainer`] owns everything else: the RNG,
//! metrics, evaluation, checkpoints, resumption, progress, charts. Everything random in a run
//! comes from the config's seed, so the same seed on the same device gives the same losses, and a
//! run resumed from a checkpoint continues exactly as if it had never stopped.

pub mod plan;
pub mod state;
pub mod stepper;
pub mod task;

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::{json, Value};

use crate::checkpoint::CheckpointStore;
use crate::host::Provenance;
use crate::metrics::read_records;
use crate::{charts, interrupt, Error, Metrics, MetricsLog, Result, SeededRng};

pub use plan::{Goal, OptimizerSpec, PhaseSpec, Selection, TrainerConfig, UpdateKind};
pub use state::{checkpoint_task, SelectionState};
pub use stepper::Stepper;
pub use task::{EvalContext, Losses, NamedLoss, StepContext, Task};

use state::{checkpoint_contents, restore, Snapshot};

/// The results file every run writes (and rewrites at the end of every invocation): what
/// `cargo xtask` and other tools read instead of parsing output.
pub const RESULTS_FILE: &str = "results.json";
/// The metrics log, one JSON object per line.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The loss and metric curves, redrawn at every evaluation.
pub const CURVES_FILE: &str = "loss_curve.svg";

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
    /// The run's task tag, recorded in every checkpoint so that a checkpoint alone says which
    /// model crate reads it.
    pub task: String,
    /// The config as JSON, stored in every checkpoint's `state.json`.
    pub config_json: Value,
    /// Files written beside every checkpoint, e.g. `("config.toml", text)`.
    pub checkpoint_files: Vec<(String, String)>,
    /// What is training: recorded in every checkpoint and in `results.json`.
    pub provenance: Provenance,
}

/// The best evaluation of a run by its selection metric: the checkpoint in `checkpoints/best`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Best {
    pub metric: String,
    pub value: f64,
    pub step: u64,
    /// Every validation and test metric of that evaluation (what tables report); absent for a
    /// run resumed from a checkpoint that predates it.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: Metrics,
}

/// How a call to [`Trainer::run`] ended; also written to [`RESULTS_FILE`].
#[derive(Clone, Debug, Serialize)]
pub struct RunOutcome {
    pub task: String,
    /// The run directory.
    #[serde(rename = "run")]
    pub run_dir: PathBuf,
    pub steps: u64,
    pub total_steps: u64,
    pub completed: bool,
    pub stopped_early: bool,
    /// Stopped by a request (Ctrl-C) after checkpointing; `--resume` continues.
    pub interrupted: bool,
    /// The last evaluation's metrics.
    #[serde(rename = "final")]
    pub final_metrics: Metrics,
    pub best: Option<Best>,
    pub provenance: Provenance,
    #[serde(skip)]
    pub resumed_from: Option<u64>,
}

impl RunOutcome {
    /// Writes `results.json` in the run folder (atomically).
    pub fn write(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Config(format!("results as JSON: {e}")))?;
        socgan_io::write_atomic(&self.run_dir.join(RESULTS_FILE), text.as_bytes())?;
        Ok(())
    }
}

/// Runs a [`Task`] through its [`TrainerConfig`].
pub struct Trainer<U> {
    config: TrainerConfig<U>,
    run_dir: PathBuf,
    options: RunOptions,
}

impl<U: UpdateKind> Trainer<U> {
    pub fn new(config: TrainerConfig<U>, run_dir: &Path, options: RunOptions) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            run_dir: run_dir.to_path_buf(),
            options,
        })
    }

    pub fn run<T: Task<Update = U>>(&self, task: &mut T) -> Result<RunOutcome> {
        let _training = interrupt::Training::start();
        let cfg = &self.config;
        let mut stepper = Stepper::new(cfg, task)?;
        let store = CheckpointStore::new(&self.run_dir, cfg.keep_checkpoints);
        let mut step = 0u64;
        let mut last_eval = Metrics::new();
        let mut selection = SelectionState::default();
        let mut resumed_from = None;
        if self.options.resume {
            match store.recover_latest()? {
                Some(dir) => {
                    (step, last_eval, selection) = restore(task, &mut stepper, &dir)?;
                    resumed_from = Some(step);
                }
                // Killed before its first step checkpoint: nothing to continue, nothing to lose.
                None if !store.has_step_checkpoints() => {}
                None => {
                    return Err(Error::checkpoint(
                        store.root(),
                        "no complete checkpoint to resume from; the run cannot continue (start it again with --overwrite)",
                    ))
                }
            }
        }
        // A resumed run keeps the records up to its checkpoint; a run that starts afresh (also
        // a `--resume` that finds no checkpoint yet) starts an empty log.
        let mut log = MetricsLog::open(&self.run_dir.join(METRICS_FILE), resumed_from)?;
        let total = cfg.total_steps();
        let progress = self.progress_bar(total, step);
        let started = Instant::now();
        let mut run = RunState {
            trainer: self,
            store: &store,
            log: &mut log,
            progress: &progress,
            started,
        };
        if step == 0 && total > 0 {
            // Where the run starts (e.g. the MLE generator an adversarial run is initialised
            // from), so that curves show the change a run makes.
            last_eval = run.evaluate(task, 0, cfg.phase_name_at(0), 0)?;
            run.select(task, &stepper, 0, &last_eval, &mut selection)?;
        }
        let mut interrupted = false;
        while step < total && !selection.stopped_early {
            if self.options.halt_after.is_some_and(|h| step >= h) {
                break;
            }
            if interrupt::stop_requested() {
                // Stopped between steps: the checkpoint below holds everything done so far.
                run.save(task, &stepper, step, &last_eval, &selection)?;
                interrupted = true;
                break;
            }
            let (phase, phase_step) = cfg.locate(step);
            let record = stepper.step(task, step)?;
            step += 1;
            progress.inc(1);
            let phase_done = phase_step + 1 == phase.steps;
            if phase_step % cfg.log_every == 0 || phase_done {
                run.log_train(step, &phase.name, phase_step, &record)?;
            }
            let eval_due = phase.eval_every > 0 && (phase_step + 1) % phase.eval_every == 0;
            if phase_done || eval_due {
                last_eval = run.evaluate(task, step, &phase.name, phase_step + 1)?;
                run.select(task, &stepper, step, &last_eval, &mut selection)?;
            }
            let halting = self.options.halt_after.is_some_and(|h| step >= h);
            let periodic =
                phase.checkpoint_every > 0 && (phase_step + 1) % phase.checkpoint_every == 0;
            if phase_done || halting || periodic || selection.stopped_early {
                run.save(task, &stepper, step, &last_eval, &selection)?;
            }
        }
        if total == 0 {
            last_eval = run.evaluate(task, 0, "", 0)?;
            run.save(task, &stepper, 0, &last_eval, &selection)?;
        }
        progress.finish_and_clear();
        let outcome = RunOutcome {
            task: self.options.task.clone(),
            run_dir: self.run_dir.clone(),
            steps: step,
            total_steps: total,
            completed: step >= total || selection.stopped_early,
            stopped_early: selection.stopped_early,
            interrupted,
            final_metrics: last_eval,
            best: cfg.selection.as_ref().and_then(|s| {
                Some(Best {
                    metric: s.metric.clone(),
                    value: selection.best?,
                    step: selection.best_step?,
                    metrics: selection.best_metrics.clone(),
                })
            }),
            provenance: self.options.provenance.clone(),
            resumed_from,
        };
        outcome.write()?;
        run.draw_curves()?;
        Ok(outcome)
    }

    fn progress_bar(&self, total: u64, position: u64) -> ProgressBar {
        if self.options.quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (eta {eta})",
            )
            .expect("static template"),
        );
        bar.set_position(position);
        bar
    }
}

/// The parts of a run invocation that evaluation, logging and checkpointing share.
struct RunState<'a, U> {
    trainer: &'a Trainer<U>,
    store: &'a CheckpointStore,
    log: &'a mut MetricsLog,
    progress: &'a ProgressBar,
    started: Instant,
}

impl<U: UpdateKind> RunState<'_, U> {
    fn record(
        &self,
        kind: &str,
        step: u64,
        phase: &str,
        phase_step: u64,
        metrics: &Metrics,
    ) -> Value {
        let mut obj = json!({
            "kind": kind,
            "step": step,
            "phase": phase,
            "phase_step": phase_step,
            "elapsed_s": (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        });
        for (k, v) in metrics {
            obj[k] = json!(v);
        }
        obj
    }

    fn log_train(
        &mut self,
        step: u64,
        phase: &str,
        phase_step: u64,
        record: &Metrics,
    ) -> Result<()> {
        let losses: Vec<String> = record
            .iter()
            .filter(|(k, _)| k.ends_with("loss"))
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect();
        self.progress
            .set_message(format!("{phase} {}", losses.join(" ")));
        let line = self.record("train", step, phase, phase_step, record);
        self.log.write(&line)
    }

    /// Evaluates at run step `step` with the stream `derive(seed, "evaluation", step)`, logs the
    /// result and redraws the curves.
    fn evaluate<T: Task<Update = U>>(
        &mut self,
        task: &mut T,
        step: u64,
        phase: &str,
        phase_step: u64,
    ) -> Result<Metrics> {
        let seed = self.trainer.config.seed;
        let mut ctx = EvalContext {
            rng: &mut SeededRng::derive(seed, "evaluation", step),
            step,
            run_dir: &self.trainer.run_dir,
        };
        let metrics = task.evaluate(&mut ctx)?.flatten();
        let line = self.record("eval", step, phase, phase_step, &metrics);
        self.log.write(&line)?;
        let shown: Vec<String> = metrics
            .iter()
            .take(4)
            .map(|(k, v)| format!("{k} {v:.3}"))
            .collect();
        self.progress
            .println(format!("step {step} {phase} eval: {}", shown.join(", ")));
        self.draw_curves()?;
        Ok(metrics)
    }

    /// Model selection after an evaluation: a new best is checkpointed to `checkpoints/best`;
    /// `patience` evaluations without one stop the run.
    fn select<T: Task<Update = U>>(
        &mut self,
        task: &T,
        stepper: &Stepper<'_, U>,
        step: u64,
        eval: &Metrics,
        state: &mut SelectionState,
    ) -> Result<()> {
        let Some(selection) = &self.trainer.config.selection else {
            return Ok(());
        };
        let value = *eval.get(&selection.metric).ok_or_else(|| {
            let names: Vec<&str> = eval.keys().map(String::as_str).collect();
            Error::Config(format!(
                "selection metric `{}` is not among the evaluation's metrics ({})",
                selection.metric,
                names.join(", ")
            ))
        })?;
        if selection.improves(value, state.best) {
            state.best = Some(value);
            state.best_step = Some(step);
            state.best_metrics = eval.clone();
            state.evals_since_best = 0;
            let snap = Snapshot {
                step,
                stepper,
                last_eval: eval,
                selection: state,
            };
            let (tensors, json) = self.contents(task, &snap)?;
            self.store
                .save_best(tensors, &json, &self.trainer.checkpoint_files())?;
        } else {
            state.evals_since_best += 1;
            if selection
                .patience
                .is_some_and(|p| state.evals_since_best >= p)
            {
                state.stopped_early = true;
                self.progress.println(format!(
                    "stopping early at step {step}: {} has not improved on {:.4} (step {}) for {} evaluations",
                    selection.metric,
                    state.best.unwrap_or(f64::NAN),
                    state.best_step.unwrap_or(0),
                    state.evals_since_best
                ));
            }
        }
        Ok(())
    }

    fn contents<T: Task<Update = U>>(
        &self,
        task: &T,
        snap: &Snapshot<'_, U>,
    ) -> Result<(Vec<(String, candle_core::Tensor)>, Value)> {
        checkpoint_contents(task, snap, &self.trainer.options)
    }

    fn save<T: Task<Update = U>>(
        &mut self,
        task: &T,
        stepper: &Stepper<'_, U>,
        step: u64,
        last_eval: &Metrics,
        selection: &SelectionState,
    ) -> Result<PathBuf> {
        let snap = Snapshot {
            step,
            stepper,
            last_eval,
            selection,
        };
        let (tensors, json) = self.contents(task, &snap)?;
        self.store
            .save(step, tensors, &json, &self.trainer.checkpoint_files())
    }

    fn draw_curves(&self) -> Result<()> {
        let dir = &self.trainer.run_dir;
        let records = read_records(&dir.join(METRICS_FILE))?;
        charts::write_svg(&dir.join(CURVES_FILE), &charts::run_panels(&records))
    }
}

impl<U> Trainer<U> {
    fn checkpoint_files(&self) -> Vec<(&str, &str)> {
        self.options
            .checkpoint_files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect()
    }
}
