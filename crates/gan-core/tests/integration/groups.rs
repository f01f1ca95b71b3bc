//! Parameter groups: each optimizer steps on its own loss only, even when two losses come from
//! one forward pass; frozen groups are referenced by hash, not copied, and a changed file stops a
//! resume.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use gan_core::{
    AdamConfig, Checkpoint, EvalContext, Evaluation, FrozenSource, Init, Losses, Metrics,
    OptimizerSpec, ParamGroup, ParamStore, PhaseSpec, Result, RunOptions, SeededRng, StepContext,
    Task, Trainer, TrainerConfig, UpdateKind,
};

#[derive(Clone, Copy, Debug)]
struct Both;

impl UpdateKind for Both {
    fn name(&self) -> &'static str {
        "both"
    }
}

/// Two scalars `a` and `b`, one forward pass `x = a * b * scale`, where `scale` is a frozen
/// "pretrained" constant read from a file.
struct TwoLosses {
    a: ParamStore,
    b: ParamStore,
    frozen: FrozenSource,
    scale: Tensor,
    /// Optimizer names the losses ask for (to test the errors).
    optimizers: [&'static str; 2],
}

impl TwoLosses {
    fn new(frozen_file: &Path) -> Self {
        let mut rng = SeededRng::new(0);
        let mut a = ParamStore::new(&Device::Cpu);
        a.create("value", 1, Init::Const(1.0), &mut rng).unwrap();
        let mut b = ParamStore::new(&Device::Cpu);
        b.create("value", 1, Init::Const(2.0), &mut rng).unwrap();
        let tensors = candle_core::safetensors::load(frozen_file, &Device::Cpu).unwrap();
        Self {
            a,
            b,
            frozen: FrozenSource::of_file(frozen_file).unwrap(),
            scale: tensors["scale"].clone(),
            optimizers: ["a", "b"],
        }
    }

    fn value(store: &ParamStore) -> f32 {
        store.get("value").unwrap().to_vec1::<f32>().unwrap()[0]
    }
}

impl Task for TwoLosses {
    type Update = Both;

    fn groups(&self) -> Vec<ParamGroup<'_>> {
        vec![
            ParamGroup::Trained {
                name: "a",
                params: &self.a,
            },
            ParamGroup::Trained {
                name: "b",
                params: &self.b,
            },
            ParamGroup::Frozen {
                name: "encoder",
                source: &self.frozen,
            },
        ]
    }

    fn update(&mut self, _: Both, _: &mut StepContext) -> Result<Losses> {
        let a = self.a.get("value").unwrap().as_tensor();
        let b = self.b.get("value").unwrap().as_tensor();
        let x = (a * b)?.mul(&self.scale)?; // one forward pass, x = 2 at the start
                                            // d loss_a / da = 2 (x - 3) b = -4: `a` must grow. d loss_b / da = 3 b = 6: had `a`
                                            // stepped on the sum of both losses, it would shrink.
        let loss_a = (&x - 3.0)?.sqr()?.sum_all()?;
        let loss_b = (&x * 3.0)?.sum_all()?;
        Ok(Losses::default()
            .loss("a_loss", loss_a, &[self.optimizers[0]])
            .loss("b_loss", loss_b, &[self.optimizers[1]]))
    }

    fn evaluate(&mut self, _ctx: &mut EvalContext) -> Result<Evaluation> {
        Ok(Evaluation::test_only(Metrics::from([(
            "a".to_string(),
            Self::value(&self.a) as f64,
        )])))
    }
}

fn config(steps: u64) -> TrainerConfig<Both> {
    let adam = AdamConfig {
        lr: 0.1,
        ..Default::default()
    };
    TrainerConfig {
        phases: vec![PhaseSpec {
            name: "train".into(),
            steps,
            round: vec![(Both, 1)],
            eval_every: 0,
            checkpoint_every: 1,
        }],
        optimizers: vec![
            OptimizerSpec::new("a", "a", adam.clone()),
            OptimizerSpec::new("b", "b", adam),
        ],
        ..TrainerConfig::new(0)
    }
}

fn options(resume: bool) -> RunOptions {
    RunOptions {
        resume,
        ..gan_core::testing::quiet_options("two_losses")
    }
}

fn frozen_file(dir: &Path, scale: f32) -> PathBuf {
    let path = dir.join("encoder.safetensors");
    let t = Tensor::new(&[scale], &Device::Cpu).unwrap();
    candle_core::safetensors::save(
        &std::collections::HashMap::from([("scale".to_string(), t)]),
        &path,
    )
    .unwrap();
    path
}

#[test]
fn each_optimizer_steps_on_its_own_loss_from_one_forward_pass() {
    let dir = tempfile::tempdir().unwrap();
    let mut task = TwoLosses::new(&frozen_file(dir.path(), 1.0));
    Trainer::new(config(1), &dir.path().join("run"), options(false))
        .unwrap()
        .run(&mut task)
        .unwrap();
    // Adam's first step moves each value by the learning rate against its own gradient's sign.
    assert!(
        (TwoLosses::value(&task.a) - 1.1).abs() < 1e-5,
        "a = {}",
        TwoLosses::value(&task.a)
    );
    assert!(
        (TwoLosses::value(&task.b) - 1.9).abs() < 1e-5,
        "b = {}",
        TwoLosses::value(&task.b)
    );
}

#[test]
fn losses_must_name_declared_optimizers_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let file = frozen_file(dir.path(), 1.0);
    for (optimizers, expected) in [
        (
            ["a", "c"],
            "asks for optimizer `c`, which the run does not declare",
        ),
        (
            ["a", "a"],
            "optimizer `a` is given two losses in one update",
        ),
    ] {
        let mut task = TwoLosses::new(&file);
        task.optimizers = optimizers;
        let err = Trainer::new(
            config(1),
            &dir.path().join(expected.len().to_string()),
            options(false),
        )
        .unwrap()
        .run(&mut task)
        .unwrap_err()
        .to_string();
        assert!(err.contains(expected), "{err}");
    }
    // An optimizer over a frozen group is refused before training.
    let mut cfg = config(1);
    cfg.optimizers[1].group = "encoder".into();
    let err = Trainer::new(cfg, &dir.path().join("frozen"), options(false))
        .unwrap()
        .run(&mut TwoLosses::new(&file))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`encoder`, which is not a trained group"),
        "{err}"
    );
}

#[test]
fn frozen_groups_are_referenced_by_hash_and_a_changed_file_stops_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let file = frozen_file(dir.path(), 1.0);
    let run = dir.path().join("run");
    let halted = RunOptions {
        halt_after: Some(2),
        ..options(false)
    };
    Trainer::new(config(4), &run, halted)
        .unwrap()
        .run(&mut TwoLosses::new(&file))
        .unwrap();
    let ckpt = Checkpoint::load(&run, &Device::Cpu).unwrap();
    assert!(ckpt.tensors.keys().all(|k| !k.starts_with("encoder.")));
    assert!(ckpt.tensors.contains_key("a.value") && ckpt.tensors.contains_key("optim.b.m.value"));
    let recorded = &ckpt.state["frozen_groups"]["encoder"];
    assert_eq!(
        recorded["sha256"],
        FrozenSource::of_file(&file).unwrap().sha256
    );
    // The same file: the run continues.
    Trainer::new(config(4), &run, options(true))
        .unwrap()
        .run(&mut TwoLosses::new(&file))
        .unwrap();
    // Other weights under the same name: refused.
    let run2 = dir.path().join("run2");
    Trainer::new(
        config(4),
        &run2,
        RunOptions {
            halt_after: Some(2),
            ..options(false)
        },
    )
    .unwrap()
    .run(&mut TwoLosses::new(&file))
    .unwrap();
    let changed = frozen_file(dir.path(), 5.0);
    let err = Trainer::new(config(4), &run2, options(true))
        .unwrap()
        .run(&mut TwoLosses::new(&changed))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("frozen group `encoder`") && err.contains("other weights"),
        "{err}"
    );
}
