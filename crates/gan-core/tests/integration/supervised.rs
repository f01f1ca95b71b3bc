//! A supervised model (not a GAN) through the same trainer: a two-layer classifier built from
//! candle-nn layers under the seeded builder, trained on seeded Gaussian blobs, with model
//! selection on validation accuracy, early stopping, and resumption after a real SIGKILL.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use candle_core::{DType, Device, Module, Tensor, D};
use gan_core::gradient_flow::check_gradient_flow;
use gan_core::{
    AdamConfig, Checkpoint, EvalContext, Evaluation, Goal, Losses, Metrics, Mode, OptimizerSpec,
    ParamGroup, ParamStore, PhaseSpec, Pick, Result, RunOptions, SeededRng, Selection, StepContext,
    Task, Trainer, TrainerConfig, UpdateKind,
};

#[derive(Clone, Copy, Debug)]
struct Train;

impl UpdateKind for Train {
    fn name(&self) -> &'static str {
        "train"
    }
}

/// Three Gaussian blobs in 4-D; the classes overlap, so accuracy saturates below 1.
struct Split {
    x: Tensor,
    y: Tensor,
    labels: Vec<u32>,
}

fn blobs(n: usize, rng: &mut SeededRng) -> Split {
    let centres = [
        [1.0f32, 0.0, 0.5, 0.0],
        [0.0, 1.0, 0.0, 0.5],
        [-1.0, -1.0, 0.0, 0.0],
    ];
    let mut x = Vec::with_capacity(n * 4);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 3;
        let noise = rng.normal_vec(4, 0.0, 0.8);
        x.extend(centres[class].iter().zip(noise).map(|(c, e)| c + e));
        labels.push(class as u32);
    }
    Split {
        x: Tensor::from_vec(x, (n, 4), &Device::Cpu).unwrap(),
        y: Tensor::new(labels.as_slice(), &Device::Cpu).unwrap(),
        labels,
    }
}

struct Classifier {
    params: ParamStore,
    hidden: candle_nn::Linear,
    out: candle_nn::Linear,
    train: Split,
    val: Split,
    test: Split,
    batch: usize,
}

impl Classifier {
    fn new(seed: u64) -> Self {
        let mut params = ParamStore::new(&Device::Cpu);
        let mut init_rng = SeededRng::derive(seed, "init", 0);
        let (hidden, out) = {
            let vb = params.var_builder(&mut init_rng);
            let hidden = candle_nn::linear(4, 16, vb.pp("hidden")).unwrap();
            (hidden, candle_nn::linear(16, 3, vb.pp("out")).unwrap())
        };
        // The data does not depend on the run seed: every run sees the same splits.
        let mut data_rng = SeededRng::new(1000);
        Self {
            params,
            hidden,
            out,
            train: blobs(600, &mut data_rng),
            val: blobs(150, &mut data_rng),
            test: blobs(150, &mut data_rng),
            batch: 30,
        }
    }

    fn logits(&self, x: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let h = self.hidden.forward(x)?.relu()?;
        let h = mode.dropout(&h, 0.1)?;
        Ok(self.out.forward(&h)?)
    }

    fn loss(&self, x: &Tensor, y: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        Ok(candle_nn::loss::cross_entropy(&self.logits(x, mode)?, y)?)
    }

    fn batches_per_epoch(&self) -> u64 {
        (self.train.labels.len() / self.batch) as u64
    }

    fn scores(&self, split: &Split) -> Result<Metrics> {
        let logits = self.logits(&split.x, &mut Mode::Eval)?;
        let predicted: Vec<u32> = logits.argmax(D::Minus1)?.to_vec1()?;
        let correct = predicted
            .iter()
            .zip(&split.labels)
            .filter(|(p, l)| p == l)
            .count();
        let loss = self.loss(&split.x, &split.y, &mut Mode::Eval)?;
        Ok(Metrics::from([
            (
                "accuracy".into(),
                correct as f64 / split.labels.len() as f64,
            ),
            ("loss".into(), loss.to_dtype(DType::F64)?.to_scalar()?),
        ]))
    }
}

impl Task for Classifier {
    type Update = Train;

    fn groups(&self) -> Vec<ParamGroup<'_>> {
        vec![ParamGroup::Trained {
            name: "classifier",
            params: &self.params,
        }]
    }

    fn update(&mut self, _: Train, ctx: &mut StepContext) -> Result<Losses> {
        let per_epoch = self.batches_per_epoch();
        let order = SeededRng::derive(ctx.seed, "batches", ctx.step / per_epoch)
            .permutation(self.train.labels.len());
        let start = (ctx.step % per_epoch) as usize * self.batch;
        let rows: Vec<u32> = order[start..start + self.batch]
            .iter()
            .map(|&i| i as u32)
            .collect();
        let rows = Tensor::new(rows.as_slice(), &Device::Cpu)?;
        let x = self.train.x.index_select(&rows, 0)?;
        let y = self.train.y.index_select(&rows, 0)?;
        let loss = self.loss(&x, &y, &mut Mode::Train(ctx.rng))?;
        Ok(Losses::single("loss", loss, &["classifier"]))
    }

    fn evaluate(&mut self, _ctx: &mut EvalContext) -> Result<Evaluation> {
        Ok(Evaluation {
            validation: self.scores(&self.val)?,
            test: self.scores(&self.test)?,
        })
    }
}

fn config(seed: u64, epochs: u64, batches_per_epoch: u64) -> TrainerConfig<Train> {
    TrainerConfig {
        phases: vec![PhaseSpec {
            name: "supervised".into(),
            steps: epochs * batches_per_epoch,
            round: vec![(Train, 1)],
            eval_every: batches_per_epoch,
            checkpoint_every: 10,
        }],
        optimizers: vec![OptimizerSpec::new(
            "classifier",
            "classifier",
            AdamConfig {
                lr: 0.01,
                beta1: 0.9,
                ..Default::default()
            },
        )],
        selection: Some(Selection {
            metric: "val/accuracy".into(),
            goal: Goal::Max,
            patience: None,
        }),
        log_every: 1,
        ..TrainerConfig::new(seed)
    }
}

fn options() -> RunOptions {
    gan_core::testing::quiet_options("toy_classifier")
}

fn run(seed: u64, epochs: u64, dir: &Path, options: RunOptions) -> gan_core::RunOutcome {
    let mut model = Classifier::new(seed);
    let cfg = config(seed, epochs, model.batches_per_epoch());
    Trainer::new(cfg, dir, options)
        .unwrap()
        .run(&mut model)
        .unwrap()
}

/// The metrics log without wall-clock times.
fn weights(model: &Classifier) -> Vec<Vec<f32>> {
    model
        .params
        .named_vars()
        .map(|(_, v)| v.flatten_all().unwrap().to_vec1().unwrap())
        .collect()
}

#[test]
fn candle_nn_layers_under_the_seeded_builder_give_the_same_weights_and_losses_per_seed() {
    assert_eq!(weights(&Classifier::new(3)), weights(&Classifier::new(3)));
    assert_ne!(weights(&Classifier::new(3)), weights(&Classifier::new(4)));
    let logs: Vec<_> = [3u64, 3, 4]
        .iter()
        .map(|&seed| {
            let dir = tempfile::tempdir().unwrap();
            run(seed, 2, dir.path(), options());
            gan_core::testing::logged_records(dir.path())
        })
        .collect();
    assert_eq!(logs[0], logs[1]);
    assert_ne!(logs[0], logs[2]);
}

#[test]
fn every_classifier_weight_gets_a_gradient() {
    let model = Classifier::new(0);
    let mut rng = SeededRng::new(0);
    let loss = model
        .loss(&model.train.x, &model.train.y, &mut Mode::Train(&mut rng))
        .unwrap();
    check_gradient_flow(&loss, &model.params).unwrap();
}

#[test]
fn learns_and_keeps_the_best_checkpoint_by_validation_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(0, 8, dir.path(), options());
    assert!(out.completed && !out.stopped_early);
    assert!(
        out.final_metrics["test/accuracy"] > 0.7,
        "{:?}",
        out.final_metrics
    );
    let best = out.best.expect("a best evaluation");
    // The best is the highest validation accuracy of any evaluation in the log.
    let top = gan_core::testing::logged_records(dir.path())
        .iter()
        .filter(|r| r["kind"] == "eval")
        .map(|r| r["val/accuracy"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(best.value, top);
    let ckpt = Checkpoint::load_pick(dir.path(), Pick::Best, &Device::Cpu).unwrap();
    assert!(ckpt.dir.ends_with("checkpoints/best"));
    assert_eq!(ckpt.state["step"], best.step);
    assert_eq!(ckpt.state["last_eval"]["val/accuracy"], best.value);
    assert_eq!(ckpt.state["task"], "toy_classifier");
    // results.json carries that evaluation's validation and test metrics (what tables report),
    // and what produced it.
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let logged = gan_core::testing::logged_records(dir.path())
        .into_iter()
        .find(|r| r["kind"] == "eval" && r["step"].as_u64() == Some(best.step))
        .unwrap();
    for key in ["val/accuracy", "test/accuracy"] {
        assert_eq!(results["best"]["metrics"][key], logged[key], "{key}");
    }
    let provenance = &results["provenance"];
    assert_eq!(provenance["device"], "cpu");
    assert_eq!(provenance["format"], gan_core::host::CHECKPOINT_FORMAT);
    assert!(provenance["cpu"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(ckpt.state["provenance"], *provenance);
}

#[test]
fn early_stopping_ends_the_run_after_patience_evaluations_without_improvement() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Classifier::new(0);
    let batches_per_epoch = model.batches_per_epoch();
    let patient = move |epochs| {
        let mut cfg = config(0, epochs, batches_per_epoch);
        cfg.selection.as_mut().unwrap().patience = Some(3);
        cfg
    };
    let out = Trainer::new(patient(200), dir.path(), options())
        .unwrap()
        .run(&mut model)
        .unwrap();
    assert!(out.stopped_early && out.completed, "{out:?}");
    assert!(out.steps < out.total_steps);
    let best = out.best.unwrap();
    // Stopped exactly three evaluations (epochs) after the best one.
    assert_eq!(out.steps, best.step + 3 * batches_per_epoch);
    // A resumed, early-stopped run has nothing left to do.
    let again = Trainer::new(
        patient(200),
        dir.path(),
        RunOptions {
            resume: true,
            ..options()
        },
    )
    .unwrap()
    .run(&mut Classifier::new(0))
    .unwrap();
    assert_eq!(again.steps, out.steps);
}

const CHILD_RUN_DIR: &str = "SOCGAN_TEST_CHILD_RUN_DIR";
const KILL_TEST: &str = "supervised::killed_with_sigkill_and_resumed_matches_an_uninterrupted_run";
const KILL_EPOCHS: u64 = 60;

#[test]
fn killed_with_sigkill_and_resumed_matches_an_uninterrupted_run() {
    if let Ok(dir) = std::env::var(CHILD_RUN_DIR) {
        // The child: train until killed.
        run(9, KILL_EPOCHS, Path::new(&dir), options());
        return;
    }
    let full = tempfile::tempdir().unwrap();
    let whole = run(9, KILL_EPOCHS, full.path(), options());

    let killed = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", KILL_TEST, "--test-threads", "1"])
        .env(CHILD_RUN_DIR, killed.path())
        .spawn()
        .unwrap();
    let latest = killed.path().join("checkpoints/latest");
    let reached = |min_step: u64| {
        std::fs::read_to_string(&latest)
            .ok()
            .and_then(|n| n.trim().strip_prefix("step-")?.parse::<u64>().ok())
            .is_some_and(|s| s >= min_step)
    };
    // Kill a third of the way in, wherever the child is then (possibly mid-checkpoint).
    while !reached(whole.total_steps / 3) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let resumed = run(
        9,
        KILL_EPOCHS,
        killed.path(),
        RunOptions {
            resume: true,
            ..options()
        },
    );
    assert!(resumed.resumed_from.is_some_and(|s| s < whole.total_steps));
    assert_eq!(whole.final_metrics, resumed.final_metrics);
    assert_eq!(whole.best, resumed.best);
    assert_eq!(
        gan_core::testing::logged_records(full.path()),
        gan_core::testing::logged_records(killed.path())
    );
}
