//! The training loop on a toy GAN: a 1-D affine generator against a logistic discriminator on
//! (x, x^2) features, real data N(3, 0.5^2).

use candle_core::{Device, Tensor};
use gan_core::metrics::read_records;
use gan_core::trainer::METRICS_FILE;
use gan_core::{
    AdamConfig, AdversarialLoss, EvalContext, Evaluation, Init, Losses, Metrics, OptimizerSpec,
    ParamGroup, ParamStore, PhaseSpec, Result, RunOptions, SeededRng, StepContext, Task, Trainer,
    TrainerConfig, UpdateKind,
};

#[derive(Clone, Copy, Debug)]
enum ToyUpdate {
    Pretrain,
    Discriminator,
    Generator,
}

impl UpdateKind for ToyUpdate {
    fn name(&self) -> &'static str {
        match self {
            ToyUpdate::Pretrain => "pretrain",
            ToyUpdate::Discriminator => "discriminator",
            ToyUpdate::Generator => "generator",
        }
    }
}

struct ToyGan {
    g: ParamStore,
    d: ParamStore,
    loss: AdversarialLoss,
    batch: usize,
}

impl ToyGan {
    fn new(seed: u64, loss: AdversarialLoss) -> Self {
        let mut rng = SeededRng::new(seed);
        let normal = Init::Normal {
            mean: 0.0,
            std: 0.1,
        };
        let mut g = ParamStore::new(&Device::Cpu);
        g.create("scale", 1, Init::Const(1.0), &mut rng).unwrap();
        g.create("shift", 1, normal, &mut rng).unwrap();
        let mut d = ParamStore::new(&Device::Cpu);
        d.create("w", (2, 1), normal, &mut rng).unwrap();
        d.create("b", 1, Init::Const(0.0), &mut rng).unwrap();
        Self {
            g,
            d,
            loss,
            batch: 64,
        }
    }
    fn fake(&self, rng: &mut SeededRng) -> Result<Tensor> {
        let z = rng.normal((self.batch, 1), 0.0, 1.0, &Device::Cpu)?;
        let scale = self.g.get("scale").unwrap().as_tensor();
        let shift = self.g.get("shift").unwrap().as_tensor();
        Ok(z.broadcast_mul(scale)?.broadcast_add(shift)?)
    }
    fn real(&self, rng: &mut SeededRng) -> Result<Tensor> {
        rng.normal((self.batch, 1), 3.0, 0.5, &Device::Cpu)
    }
    fn critic(&self, x: &Tensor) -> Result<Tensor> {
        let features = Tensor::cat(&[x, &(x.sqr()? / 10.0)?], 1)?;
        let w = self.d.get("w").unwrap().as_tensor();
        let b = self.d.get("b").unwrap().as_tensor();
        Ok(features.matmul(w)?.broadcast_add(b)?.squeeze(1)?)
    }
}

impl Task for ToyGan {
    type Update = ToyUpdate;

    fn groups(&self) -> Vec<ParamGroup<'_>> {
        vec![
            ParamGroup::Trained {
                name: "generator",
                params: &self.g,
            },
            ParamGroup::Trained {
                name: "discriminator",
                params: &self.d,
            },
        ]
    }

    fn update(&mut self, update: ToyUpdate, ctx: &mut StepContext) -> Result<Losses> {
        match update {
            ToyUpdate::Pretrain => {
                // Moment matching toward a rough prior of the data mean.
                let fake = self.fake(ctx.rng)?;
                let loss = (fake.mean_all()? - 2.0)?.sqr()?;
                Ok(Losses::single("g_loss", loss, &["generator_pretrain"]))
            }
            ToyUpdate::Discriminator => {
                let real = self.real(ctx.rng)?;
                let fake = self.fake(ctx.rng)?.detach();
                let loss = self
                    .loss
                    .discriminator_loss(&self.critic(&real)?, &self.critic(&fake)?)?;
                Ok(Losses::single("d_loss", loss, &["discriminator"]))
            }
            ToyUpdate::Generator => {
                let real = self.real(ctx.rng)?;
                let fake = self.fake(ctx.rng)?;
                let loss = self
                    .loss
                    .generator_loss(&self.critic(&real)?, &self.critic(&fake)?)?;
                Ok(Losses::single("g_loss", loss, &["generator"]))
            }
        }
    }

    fn evaluate(&mut self, ctx: &mut EvalContext) -> Result<Evaluation> {
        let fake = self.fake(ctx.rng)?;
        let mean = fake.mean_all()?.to_scalar::<f32>()? as f64;
        Ok(Evaluation::test_only(Metrics::from([(
            "fake_mean".to_string(),
            mean,
        )])))
    }
}

fn config(seed: u64, loss: &AdversarialLoss) -> TrainerConfig<ToyUpdate> {
    let adam = AdamConfig {
        lr: 0.02,
        ..Default::default()
    };
    let mut discriminator = OptimizerSpec::new(
        "discriminator",
        "discriminator",
        AdamConfig {
            grad_clip: Some(5.0),
            ..adam.clone()
        },
    );
    discriminator.clamp_weights = loss.weight_clip();
    let phase = |name: &str, steps, round, eval_every| PhaseSpec {
        name: name.to_string(),
        steps,
        round,
        eval_every,
        checkpoint_every: 40,
    };
    TrainerConfig {
        phases: vec![
            phase("generator_pretrain", 10, vec![(ToyUpdate::Pretrain, 1)], 0),
            phase(
                "discriminator_pretrain",
                5,
                vec![(ToyUpdate::Discriminator, 1)],
                0,
            ),
            phase(
                "adversarial",
                300,
                vec![(ToyUpdate::Discriminator, 2), (ToyUpdate::Generator, 1)],
                50,
            ),
        ],
        optimizers: vec![
            OptimizerSpec::new("generator_pretrain", "generator", adam.clone()),
            OptimizerSpec::new("generator", "generator", adam),
            discriminator,
        ],
        log_every: 1,
        ..TrainerConfig::new(seed)
    }
}

fn losses(run: &std::path::Path) -> Vec<(u64, f64, f64)> {
    read_records(&run.join(METRICS_FILE))
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "train")
        .map(|r| {
            (
                r["step"].as_u64().unwrap(),
                r["g_loss"].as_f64().unwrap_or(0.0),
                r["d_loss"].as_f64().unwrap_or(0.0),
            )
        })
        .collect()
}

fn quiet() -> RunOptions {
    gan_core::testing::quiet_options("toy_gan")
}

fn train(seed: u64, dir: &std::path::Path, options: RunOptions) -> (ToyGan, gan_core::RunOutcome) {
    let loss = AdversarialLoss::NonSaturating;
    let mut gan = ToyGan::new(seed, loss.clone());
    let outcome = Trainer::new(config(seed, &loss), dir, options)
        .unwrap()
        .run(&mut gan)
        .unwrap();
    (gan, outcome)
}

#[test]
fn toy_gan_learns_the_data_mean() {
    let dir = tempfile::tempdir().unwrap();
    let (_, outcome) = train(1, dir.path(), quiet());
    assert!(outcome.completed);
    let mean = outcome.final_metrics["test/fake_mean"];
    assert!(
        (mean - 3.0).abs() < 0.5,
        "generator mean {mean}, data mean 3"
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["task"], "toy_gan");
    assert_eq!(results["completed"], true);
    assert!(dir.path().join("loss_curve.svg").is_file());
    // Every trained group and every optimizer is in the checkpoint, under its name.
    let ckpt = gan_core::Checkpoint::load(dir.path(), &Device::Cpu).unwrap();
    for key in [
        "generator.scale",
        "discriminator.w",
        "optim.generator_pretrain.m.scale",
        "optim.discriminator.v.w",
    ] {
        assert!(ckpt.tensors.contains_key(key), "{key} missing");
    }
}

#[test]
fn same_seed_gives_identical_losses_and_other_seed_does_not() {
    let runs: Vec<_> = [7u64, 7, 8]
        .iter()
        .map(|&seed| {
            let dir = tempfile::tempdir().unwrap();
            train(seed, dir.path(), quiet());
            losses(dir.path())
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
    assert_ne!(runs[0], runs[2]);
}

#[test]
fn halted_and_resumed_run_matches_uninterrupted_run() {
    let full = tempfile::tempdir().unwrap();
    let (_, whole) = train(5, full.path(), quiet());

    let split = tempfile::tempdir().unwrap();
    // First invocation stops mid-way through the adversarial phase, between checkpoints.
    let halted = RunOptions {
        halt_after: Some(137),
        ..quiet()
    };
    let (_, first) = train(5, split.path(), halted);
    assert!(!first.completed && first.steps == 137);
    // A fresh process builds the task from scratch (a different init seed on purpose: the
    // checkpoint must overwrite everything).
    let loss = AdversarialLoss::NonSaturating;
    let resume = RunOptions {
        resume: true,
        ..quiet()
    };
    let second = Trainer::new(config(5, &loss), split.path(), resume)
        .unwrap()
        .run(&mut ToyGan::new(99, loss))
        .unwrap();
    assert_eq!(second.resumed_from, Some(137));
    assert!(second.completed);
    assert_eq!(whole.final_metrics, second.final_metrics);
    assert_eq!(losses(full.path()), losses(split.path()));
}

#[test]
fn resume_from_a_periodic_checkpoint_drops_later_log_records() {
    let dir = tempfile::tempdir().unwrap();
    let halted = RunOptions {
        halt_after: Some(100),
        ..quiet()
    };
    train(2, dir.path(), halted);
    // Simulate a kill at step 100 before its checkpoint was written: the latest complete one is
    // the periodic checkpoint at step 95 (round 80), and the log already runs past it.
    let ckpts = dir.path().join("checkpoints");
    std::fs::remove_dir_all(ckpts.join("step-00000100")).unwrap();
    std::fs::write(ckpts.join("latest"), "step-00000095").unwrap();
    assert!(ckpts.join("step-00000095").is_dir());
    let resume = RunOptions {
        resume: true,
        ..quiet()
    };
    let (_, out) = train(2, dir.path(), resume);
    assert_eq!(out.resumed_from, Some(95));
    let full = tempfile::tempdir().unwrap();
    train(2, full.path(), quiet());
    assert_eq!(losses(full.path()), losses(dir.path()));
}

/// A run killed between the two renames of a checkpoint swap (re-saving a step after a resume)
/// leaves `latest` naming a folder that is gone and the complete old copy beside it: `--resume`
/// continues from that copy, as if nothing had happened.
#[test]
fn resume_recovers_a_checkpoint_whose_swap_was_cut() {
    let dir = tempfile::tempdir().unwrap();
    let halted = RunOptions {
        halt_after: Some(100),
        ..quiet()
    };
    train(2, dir.path(), halted);
    let ckpts = dir.path().join("checkpoints");
    std::fs::rename(
        ckpts.join("step-00000100"),
        ckpts.join(".step-00000100.old"),
    )
    .unwrap();
    let resume = RunOptions {
        resume: true,
        ..quiet()
    };
    let (_, out) = train(2, dir.path(), resume.clone());
    assert_eq!(out.resumed_from, Some(100));
    let full = tempfile::tempdir().unwrap();
    train(2, full.path(), quiet());
    assert_eq!(losses(full.path()), losses(dir.path()));

    // Checkpoints written, none complete: the run stops instead of starting over at step 0.
    let broken = tempfile::tempdir().unwrap();
    let ckpts = broken.path().join("checkpoints");
    std::fs::create_dir_all(ckpts.join("step-00000010")).unwrap();
    std::fs::write(ckpts.join("latest"), "step-00000010").unwrap();
    let loss = AdversarialLoss::NonSaturating;
    let err = Trainer::new(config(2, &loss), broken.path(), resume)
        .unwrap()
        .run(&mut ToyGan::new(2, loss))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no complete checkpoint"), "{err}");
    assert!(
        !broken.path().join("metrics.jsonl").exists(),
        "nothing was trained over it"
    );
}

#[test]
fn every_loss_trains_the_toy_without_nan_and_wgan_clips_the_trained_critic() {
    for loss in [
        AdversarialLoss::Minimax,
        AdversarialLoss::Wasserstein { clip: 0.05 },
        AdversarialLoss::Hinge,
        AdversarialLoss::LeastSquares,
        AdversarialLoss::Rsgan,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(3, &loss);
        cfg.phases[2].steps = 60;
        let mut gan = ToyGan::new(3, loss.clone());
        let out = Trainer::new(cfg, dir.path(), quiet())
            .unwrap()
            .run(&mut gan)
            .unwrap();
        assert!(out.final_metrics["test/fake_mean"].is_finite(), "{loss:?}");
        if let Some(c) = loss.weight_clip() {
            // The critic that was trained, not a fresh one: its weights sit at the clip bound
            // (an lr of 0.02 pushes them past 0.05 within a step), and no further.
            let w: Vec<f32> = gan
                .d
                .get("w")
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!(w.iter().all(|x| x.abs() <= c as f32 + 1e-6), "{w:?}");
            assert!(
                w.iter().any(|x| (x.abs() - c as f32).abs() < 1e-6),
                "{w:?} never reached the clip"
            );
        }
    }
}

#[test]
fn a_diverging_run_stops_naming_the_step_and_keeps_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let loss = AdversarialLoss::NonSaturating;
    let mut cfg = config(4, &loss);
    // A discriminator learning rate of 1e6: its first step throws every logit to ~1e6.
    cfg.optimizers[2].adam.lr = 1e6;
    let err = Trainer::new(cfg, dir.path(), quiet())
        .unwrap()
        .run(&mut ToyGan::new(4, loss))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("step 12: discriminator_pretrain: loss `d_loss`") && err.contains("diverged"),
        "{err}"
    );
    // Generator pretraining ended before it and was checkpointed; nothing later was.
    let ckpts = dir.path().join("checkpoints");
    assert!(ckpts.join("step-00000010").is_dir(), "{err}");
    assert_eq!(
        std::fs::read_to_string(ckpts.join("latest")).unwrap(),
        "step-00000010"
    );
}
