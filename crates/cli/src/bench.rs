//! `socgan bench --workload W`: one timed workload per process (so that its peak memory is its
//! own), printed as one JSON line. `cargo xtask bench` runs these alternately with the PyTorch
//! peers in `benches/peers/` and reports ratios. Sizes are the SeqGAN/RelGAN synthetic setting:
//! vocabulary 5,000, embedding 32, hidden 32, length 20, batch 64, 10,000 sequences.

use std::time::Instant;

use anyhow::{bail, Result};
use candle_core::Device;
use gan_core::{
    Adam, AdamConfig, AdversarialLoss, GanTask, Metrics, Phase, SeededRng, StepContext,
};
use serde_json::json;
use socgan_data::TokenSequences;
use text_models::{
    Algorithm, CnnDiscriminator, DiscriminatorConfig, GeneratorConfig, LstmGenerator, Oracle,
    SamplingConfig, SequenceEvaluator, TextGan,
};

pub const WORKLOADS: [&str; 5] = [
    "mle-epoch",
    "sample-10k",
    "seqgan-round",
    "relgan-step",
    "nll-oracle-10k",
];

const N: usize = 10_000;
const BATCH: usize = 64;

struct NoEvaluation;
impl SequenceEvaluator for NoEvaluation {
    fn evaluate(&mut self, _: &LstmGenerator, _: &mut SeededRng) -> text_models::Result<Metrics> {
        Ok(Metrics::new())
    }
    fn set_sampling(&mut self, _: SamplingConfig) {}
}

fn random_sequences(rng: &mut SeededRng, vocab: usize, len: usize) -> Result<TokenSequences> {
    let tokens = (0..N * len).map(|_| rng.below(vocab) as u32).collect();
    Ok(TokenSequences::new(len, tokens)?)
}

/// Peak resident memory of this process, from the kernel.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn adam(lr: f64, beta1: f64) -> AdamConfig {
    // torch.optim.Adam's defaults, as the peers use them, with clipping to norm 5.
    AdamConfig {
        lr,
        beta1,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        grad_clip: Some(5.0),
        ..Default::default()
    }
}

fn text_gan(
    algorithm: Algorithm,
    disc: DiscriminatorConfig,
    rng: &mut SeededRng,
) -> Result<TextGan<NoEvaluation>> {
    let device = Device::Cpu;
    let g = LstmGenerator::new(GeneratorConfig::default(), &device, rng)?;
    let d = CnnDiscriminator::new(disc, 5000, 20, &device, rng)?;
    let data = random_sequences(rng, 5000, 20)?;
    Ok(TextGan::new(g, d, data, algorithm, BATCH, NoEvaluation)?)
}

/// One adversarial round of `d_steps` D updates and one G update, as the trainer makes it.
fn adversarial_round(
    task: &mut TextGan<NoEvaluation>,
    opts: &mut (Adam, Adam),
    loss: &AdversarialLoss,
    d_steps: u64,
    step: u64,
    rng: &mut SeededRng,
) -> Result<()> {
    let mut ctx = StepContext {
        rng,
        seed: 0,
        phase: Phase::Adversarial,
        step,
        phase_steps: 3000,
        update_in_round: 0,
        loss,
    };
    for _ in 0..d_steps {
        let report = task.discriminator_loss(&mut ctx)?;
        opts.1.step(&report.loss.backward()?, 1.0)?;
    }
    let report = task.generator_loss(&mut ctx)?;
    opts.0.step(&report.loss.backward()?, 1.0)?;
    Ok(())
}

/// Runs `workload` and prints `{"workload", "seconds", "throughput", "unit", "peak_rss_mb"}`.
pub fn run(workload: &str, repeats: usize) -> Result<()> {
    let mut rng = SeededRng::new(0);
    let device = Device::Cpu;
    let (seconds, throughput, unit) = match workload {
        "mle-epoch" => {
            let g = LstmGenerator::new(GeneratorConfig::default(), &device, &mut rng)?;
            let data = random_sequences(&mut rng, 5000, 20)?;
            let mut opt = Adam::new(g.params(), adam(0.01, 0.9))?;
            let mut epoch = || -> Result<f64> {
                let start = Instant::now();
                for b in 0..N / BATCH {
                    let batch = data.slice(b * BATCH, (b + 1) * BATCH);
                    opt.step(&g.nll_loss(&batch)?.backward()?, 1.0)?;
                }
                Ok(start.elapsed().as_secs_f64())
            };
            epoch()?; // warm-up, as the peer does
            let s = median((0..repeats).map(|_| epoch()).collect::<Result<Vec<_>>>()?);
            (s, (N / BATCH * BATCH * 20) as f64 / s, "tokens/s")
        }
        "sample-10k" => {
            let g = LstmGenerator::new(GeneratorConfig::default(), &device, &mut rng)?;
            g.sample(BATCH, &SamplingConfig::default(), &mut rng)?;
            let s = median(
                (0..repeats)
                    .map(|_| {
                        let start = Instant::now();
                        g.sample(N, &SamplingConfig::default(), &mut rng)
                            .map(|_| start.elapsed().as_secs_f64())
                    })
                    .collect::<text_models::Result<Vec<_>>>()?,
            );
            (s, (N * 20) as f64 / s, "tokens/s")
        }
        "seqgan-round" | "relgan-step" => {
            let (algorithm, disc, loss, d_steps, lrs) = if workload == "seqgan-round" {
                (
                    Algorithm::SeqGan { rollouts: 16 },
                    DiscriminatorConfig::seqgan(),
                    AdversarialLoss::NonSaturating,
                    15,
                    (0.01, 1e-4),
                )
            } else {
                (
                    Algorithm::RelGan {
                        beta_max: 100.0,
                        straight_through: false,
                    },
                    DiscriminatorConfig::relgan(),
                    AdversarialLoss::Rsgan,
                    5,
                    (1e-4, 1e-4),
                )
            };
            let mut task = text_gan(algorithm, disc, &mut rng)?;
            let mut opts = (
                Adam::new(task.generator_params(), adam(lrs.0, 0.9))?,
                Adam::new(task.discriminator_params(), adam(lrs.1, 0.9))?,
            );
            adversarial_round(&mut task, &mut opts, &loss, d_steps, 0, &mut rng)?;
            let mut times = Vec::new();
            for step in 1..=repeats as u64 {
                let start = Instant::now();
                adversarial_round(&mut task, &mut opts, &loss, d_steps, step, &mut rng)?;
                times.push(start.elapsed().as_secs_f64());
            }
            (median(times), 1.0, "rounds")
        }
        "nll-oracle-10k" => {
            let oracle = Oracle::random(GeneratorConfig::default(), 1, &device)?;
            let samples = random_sequences(&mut rng, 5000, 20)?;
            oracle.nll(&samples.slice(0, BATCH))?;
            let s = median(
                (0..repeats)
                    .map(|_| {
                        let start = Instant::now();
                        oracle.nll(&samples).map(|_| start.elapsed().as_secs_f64())
                    })
                    .collect::<text_models::Result<Vec<_>>>()?,
            );
            (s, (N * 20) as f64 / s, "tokens/s")
        }
        other => bail!(
            "unknown workload `{other}`; one of {}",
            WORKLOADS.join(", ")
        ),
    };
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!(
        "{}",
        json!({ "workload": workload, "threads": threads, "seconds": seconds, "throughput": throughput, "unit": unit, "peak_rss_mb": peak_rss_mb() })
    );
    Ok(())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
