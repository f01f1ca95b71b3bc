//! `socgan bench --workload W`: one timed workload per process (so that its peak memory is its
//! own), printed as one JSON line. `cargo xtask bench` runs these alternately with the PyTorch
//! peers in `benches/peers/` and reports ratios. Sizes are the SeqGAN/RelGAN synthetic setting:
//! vocabulary 5,000, embedding 32, hidden 32, length 20, batch 64, 10,000 sequences. Training
//! workloads run the trainer's own [`Stepper`] over the text GAN task, so what they time is what
//! training does.

use candle_core::Device;
use gan_core::bench::{record, time_median};
use gan_core::trainer::Stepper;
use gan_core::{
    AdamConfig, AdversarialLoss, Metrics, OptimizerSpec, PhaseSpec, SeededRng, TrainerConfig,
};
use serde_json::{json, Value};
use socgan_data::TokenSequences;

use crate::algorithms::{names, TextUpdate};
use crate::{
    Algorithm, CnnDiscriminator, CoreConfig, DiscriminatorConfig, Error, GeneratorConfig, Oracle,
    RelationalMemoryConfig, Result, SamplingConfig, SequenceEvaluator, SequenceGenerator, TextGan,
};

/// The workloads, in the order `cargo xtask bench` runs them.
pub const WORKLOADS: [&str; 7] = [
    "mle-epoch",
    "sample-10k",
    "seqgan-round",
    "relgan-step",
    "nll-oracle-10k",
    "rmc-mle-epoch",
    "relgan-rmc-step",
];

/// The generator of the `rmc-` / `-rmc-` workloads: RelGAN's relational memory at the paper's
/// synthetic-data sizes (1 slot, 2 heads of 256), the rest as the LSTM's.
fn relational_memory_generator() -> GeneratorConfig {
    GeneratorConfig {
        core: CoreConfig::RelationalMemory(RelationalMemoryConfig::default()),
        ..GeneratorConfig::default()
    }
}

const N: usize = 10_000;
const BATCH: usize = 64;
const SEQ_LEN: usize = 20;
const VOCAB: usize = 5000;

struct NoEvaluation;
impl SequenceEvaluator for NoEvaluation {
    fn evaluate(&mut self, _: &SequenceGenerator, _: &mut SeededRng) -> Result<Metrics> {
        Ok(Metrics::new())
    }
    fn set_sampling(&mut self, _: SamplingConfig) {}
}

fn random_sequences(rng: &mut SeededRng) -> Result<TokenSequences> {
    let tokens = (0..N * SEQ_LEN).map(|_| rng.below(VOCAB) as u32).collect();
    Ok(TokenSequences::new(SEQ_LEN, tokens)?)
}

/// torch.optim.Adam's defaults, as the peers use them, with clipping to norm 5.
fn adam(lr: f64) -> AdamConfig {
    AdamConfig {
        lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        grad_clip: Some(5.0),
        ..Default::default()
    }
}

/// One MLE epoch (156 steps of 64 sequences), through the trainer's stepper.
fn mle_epoch(
    generator: GeneratorConfig,
    repeats: usize,
    rng: &mut SeededRng,
    device: &Device,
) -> Result<f64> {
    let g = SequenceGenerator::new(generator, device, rng)?;
    let mut task = TextGan::new(
        g,
        None,
        &Algorithm::Mle,
        AdversarialLoss::NonSaturating,
        random_sequences(rng)?,
        BATCH,
        NoEvaluation,
    )?;
    let per_epoch = task.batches_per_epoch();
    let config = TrainerConfig {
        phases: vec![PhaseSpec {
            name: "generator_pretrain".into(),
            steps: per_epoch * (repeats as u64 + 1),
            round: vec![(TextUpdate::Mle, 1)],
            eval_every: 0,
            checkpoint_every: 0,
        }],
        optimizers: vec![OptimizerSpec::new(
            names::GENERATOR_PRETRAIN_OPTIMIZER,
            names::GENERATOR,
            adam(0.01),
        )],
        ..TrainerConfig::new(0)
    };
    let mut stepper = Stepper::new(&config, &task)?;
    let mut step = 0;
    time_median(repeats, device, || {
        for _ in 0..per_epoch {
            stepper.step(&mut task, step)?;
            step += 1;
        }
        Ok(())
    })
}

/// One adversarial round (`d_steps` D updates, then one G update), through the trainer's
/// stepper; the temperature schedule runs over RelGAN's 3,000 rounds.
fn adversarial_round(
    relgan: bool,
    generator: GeneratorConfig,
    repeats: usize,
    rng: &mut SeededRng,
    device: &Device,
) -> Result<f64> {
    let (algorithm, disc, loss, d_steps, g_lr) = if relgan {
        (
            Algorithm::RelGan {
                beta_max: 100.0,
                straight_through: false,
            },
            DiscriminatorConfig::relgan(),
            AdversarialLoss::Rsgan,
            5,
            1e-4,
        )
    } else {
        (
            Algorithm::SeqGan { rollouts: 16 },
            DiscriminatorConfig::seqgan(),
            AdversarialLoss::NonSaturating,
            15,
            0.01,
        )
    };
    let g = SequenceGenerator::new(generator, device, rng)?;
    let d = CnnDiscriminator::new(disc, VOCAB, SEQ_LEN, device, rng)?;
    let mut task = TextGan::new(
        g,
        Some(d),
        &algorithm,
        loss,
        random_sequences(rng)?,
        BATCH,
        NoEvaluation,
    )?;
    let config = TrainerConfig {
        phases: vec![PhaseSpec {
            name: "adversarial".into(),
            steps: 3000,
            round: vec![
                (TextUpdate::Discriminator, d_steps),
                (TextUpdate::Generator, 1),
            ],
            eval_every: 0,
            checkpoint_every: 0,
        }],
        optimizers: vec![
            OptimizerSpec::new(names::GENERATOR_OPTIMIZER, names::GENERATOR, adam(g_lr)),
            OptimizerSpec::new(
                names::DISCRIMINATOR_OPTIMIZER,
                names::DISCRIMINATOR,
                adam(1e-4),
            ),
        ],
        ..TrainerConfig::new(0)
    };
    let mut stepper = Stepper::new(&config, &task)?;
    let mut step = 0;
    time_median(repeats, device, || {
        stepper.step(&mut task, step)?;
        step += 1;
        Ok(())
    })
}

/// Runs `workload` on `device`; one JSON record (see [`gan_core::bench::record`]).
pub fn run(workload: &str, repeats: usize, device: &Device) -> Result<Value> {
    let mut rng = SeededRng::new(0);
    let tokens = (N * SEQ_LEN) as f64;
    let (seconds, throughput, unit) = match workload {
        "mle-epoch" | "rmc-mle-epoch" => {
            let generator = match workload {
                "mle-epoch" => GeneratorConfig::default(),
                _ => relational_memory_generator(),
            };
            let s = mle_epoch(generator, repeats, &mut rng, device)?;
            (s, ((N / BATCH * BATCH * SEQ_LEN) as f64) / s, "tokens/s")
        }
        "sample-10k" => {
            let g = SequenceGenerator::new(GeneratorConfig::default(), device, &mut rng)?;
            let mut draw = SeededRng::new(1);
            let s = time_median(repeats, device, || {
                g.sample(N, &SamplingConfig::default(), &mut draw)
                    .map(|_| ())
            })?;
            (s, tokens / s, "tokens/s")
        }
        "seqgan-round" => (
            adversarial_round(false, GeneratorConfig::default(), repeats, &mut rng, device)?,
            1.0,
            "rounds",
        ),
        "relgan-step" => (
            adversarial_round(true, GeneratorConfig::default(), repeats, &mut rng, device)?,
            1.0,
            "rounds",
        ),
        "relgan-rmc-step" => (
            adversarial_round(
                true,
                relational_memory_generator(),
                repeats,
                &mut rng,
                device,
            )?,
            1.0,
            "rounds",
        ),
        "nll-oracle-10k" => {
            let oracle = Oracle::random(GeneratorConfig::default(), 1, device)?;
            let samples = random_sequences(&mut rng)?;
            let s = time_median(repeats, device, || oracle.nll(&samples).map(|_| ()))?;
            (s, tokens / s, "tokens/s")
        }
        other => {
            return Err(Error::Config(format!(
                "unknown workload `{other}`; one of {}",
                WORKLOADS.join(", ")
            )))
        }
    };
    Ok(record(
        workload,
        device,
        seconds,
        json!({ "throughput": throughput, "unit": unit }),
    ))
}
