//! The training loop on a toy task: a 1-D affine generator against a logistic discriminator on
//! (x, x^2) features, real data N(3, 0.5^2).

use candle_core::{Device, Tensor};
use gan_core::metrics::read_records;
use gan_core::trainer::RunOptions;
use gan_core::{
    AdamConfig, AdversarialLoss, GanTask, Init, LossReport, Metrics, ParamStore, Result, SeededRng,
    StepContext, TrainSchedule, Trainer, TrainerConfig,
};

struct ToyGan {
    g: ParamStore,
    d: ParamStore,
    batch: usize,
}

impl ToyGan {
    fn new(seed: u64) -> Self {
        let mut rng = SeededRng::new(seed);
        let mut g = ParamStore::new(&Device::Cpu);
        g.create("scale", 1, Init::Const(1.0), &mut rng).unwrap();
        g.create(
            "shift",
            1,
            Init::Normal {
                mean: 0.0,
                std: 0.1,
            },
            &mut rng,
        )
        .unwrap();
        let mut d = ParamStore::new(&Device::Cpu);
        d.create(
            "w",
            (2, 1),
            Init::Normal {
                mean: 0.0,
                std: 0.1,
            },
            &mut rng,
        )
        .unwrap();
        d.create("b", 1, Init::Const(0.0), &mut rng).unwrap();
        Self { g, d, batch: 64 }
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

impl GanTask for ToyGan {
    fn generator_params(&self) -> &ParamStore {
        &self.g
    }
    fn discriminator_params(&self) -> &ParamStore {
        &self.d
    }
    fn generator_pretrain_loss(&mut self, ctx: &mut StepContext) -> Result<LossReport> {
        // Moment matching toward a rough prior of the data mean.
        let fake = self.fake(ctx.rng)?;
        Ok(LossReport::new((fake.mean_all()? - 2.0)?.sqr()?))
    }
    fn discriminator_loss(&mut self, ctx: &mut StepContext) -> Result<LossReport> {
        let real = self.real(ctx.rng)?;
        let fake = self.fake(ctx.rng)?.detach();
        let loss = ctx
            .loss
            .discriminator_loss(&self.critic(&real)?, &self.critic(&fake)?)?;
        Ok(LossReport::new(loss))
    }
    fn generator_loss(&mut self, ctx: &mut StepContext) -> Result<LossReport> {
        let real = self.real(ctx.rng)?;
        let fake = self.fake(ctx.rng)?;
        let loss = ctx
            .loss
            .generator_loss(&self.critic(&real)?, &self.critic(&fake)?)?;
        Ok(LossReport::new(loss))
    }
    fn evaluate(&mut self, rng: &mut SeededRng) -> Result<Metrics> {
        let fake = self.fake(rng)?;
        let mean = fake.mean_all()?.to_scalar::<f32>()? as f64;
        Ok(Metrics::from([("fake_mean".to_string(), mean)]))
    }
}

fn config(seed: u64) -> TrainerConfig {
    let adam = AdamConfig {
        lr: 0.02,
        ..Default::default()
    };
    TrainerConfig {
        seed,
        schedule: TrainSchedule {
            generator_pretrain_steps: 10,
            discriminator_pretrain_steps: 5,
            adversarial_rounds: 300,
            discriminator_steps_per_round: 2,
            generator_steps_per_round: 1,
            adversarial_eval_every: 50,
            log_every: 1,
            checkpoint_every: 40,
            ..Default::default()
        },
        loss: AdversarialLoss::NonSaturating,
        generator_pretrain_optim: adam.clone(),
        generator_optim: adam.clone(),
        discriminator_optim: AdamConfig {
            grad_clip: Some(5.0),
            ..adam
        },
    }
}

fn losses(run: &std::path::Path) -> Vec<(u64, f64, f64)> {
    read_records(&run.join("metrics.jsonl"))
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
    RunOptions {
        quiet: true,
        ..Default::default()
    }
}

#[test]
fn toy_gan_learns_the_data_mean() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = Trainer::new(config(1), dir.path(), quiet())
        .unwrap()
        .run(&mut ToyGan::new(1))
        .unwrap();
    assert!(outcome.completed);
    let mean = outcome.final_metrics["fake_mean"];
    assert!(
        (mean - 3.0).abs() < 0.5,
        "generator mean {mean}, data mean 3"
    );
    assert!(dir.path().join("final_metrics.json").is_file());
}

#[test]
fn same_seed_gives_identical_losses_and_other_seed_does_not() {
    let runs: Vec<_> = [7u64, 7, 8]
        .iter()
        .map(|&seed| {
            let dir = tempfile::tempdir().unwrap();
            Trainer::new(config(seed), dir.path(), quiet())
                .unwrap()
                .run(&mut ToyGan::new(seed))
                .unwrap();
            losses(dir.path())
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
    assert_ne!(runs[0], runs[2]);
}

#[test]
fn killed_and_resumed_run_matches_uninterrupted_run() {
    let full = tempfile::tempdir().unwrap();
    let whole = Trainer::new(config(5), full.path(), quiet())
        .unwrap()
        .run(&mut ToyGan::new(5))
        .unwrap();

    let split = tempfile::tempdir().unwrap();
    // First invocation stops mid-way through the adversarial phase, between checkpoints.
    let halted = RunOptions {
        halt_after: Some(137),
        ..quiet()
    };
    let first = Trainer::new(config(5), split.path(), halted)
        .unwrap()
        .run(&mut ToyGan::new(5))
        .unwrap();
    assert!(!first.completed && first.steps_done == 137);
    // A fresh process would build the task from scratch (different init seed on purpose: the
    // checkpoint must overwrite everything).
    let resume = RunOptions {
        resume: true,
        ..quiet()
    };
    let second = Trainer::new(config(5), split.path(), resume)
        .unwrap()
        .run(&mut ToyGan::new(99))
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
    Trainer::new(config(2), dir.path(), halted)
        .unwrap()
        .run(&mut ToyGan::new(2))
        .unwrap();
    // Simulate a kill at step 100 before its checkpoint was written: the latest complete one is
    // the periodic checkpoint at step 80, and the log already runs past it.
    let ckpts = dir.path().join("checkpoints");
    std::fs::remove_dir_all(ckpts.join("step-00000100")).unwrap();
    std::fs::write(ckpts.join("latest"), "step-00000080").unwrap();
    assert!(ckpts.join("step-00000080").is_dir());
    let resume = RunOptions {
        resume: true,
        ..quiet()
    };
    let out = Trainer::new(config(2), dir.path(), resume)
        .unwrap()
        .run(&mut ToyGan::new(2))
        .unwrap();
    assert_eq!(out.resumed_from, Some(80));
    let full = tempfile::tempdir().unwrap();
    Trainer::new(config(2), full.path(), quiet())
        .unwrap()
        .run(&mut ToyGan::new(2))
        .unwrap();
    assert_eq!(losses(full.path()), losses(dir.path()));
}

#[test]
fn every_loss_trains_the_toy_without_nan() {
    for loss in [
        AdversarialLoss::Minimax,
        AdversarialLoss::Wasserstein { clip: 0.5 },
        AdversarialLoss::Hinge,
        AdversarialLoss::LeastSquares,
        AdversarialLoss::Rsgan,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(3);
        cfg.loss = loss.clone();
        cfg.schedule.adversarial_rounds = 60;
        let out = Trainer::new(cfg, dir.path(), quiet())
            .unwrap()
            .run(&mut ToyGan::new(3))
            .unwrap();
        assert!(out.final_metrics["fake_mean"].is_finite(), "{loss:?}");
        if let Some(c) = loss.weight_clip() {
            let w: Vec<f32> = ToyGan::new(3)
                .d
                .get("w")
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!(w.iter().all(|x| x.abs() <= c as f32 + 1e-6));
        }
    }
}
