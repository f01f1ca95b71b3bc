//! `socgan`: train, sample from and evaluate GANs on social-media data.
//!
//! Errors are printed as one line (`error: ...`) with a non-zero exit; nothing already written is
//! replaced except through atomic renames.

mod bench;
mod charts;
mod config;
mod fetch;
mod run;
mod stats;
mod tokenize;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use gan_core::metrics::read_records;
use gan_core::trainer::RunOptions;
use gan_core::{AdversarialLoss, Checkpoint, GanTask, SeededRng, Trainer};
use socgan_data::tokenizer::TextTokenizer;
use text_models::{SamplingConfig, SequenceEvaluator};

use crate::config::RunConfig;

#[derive(Parser)]
#[command(
    name = "socgan",
    version,
    about = "GANs for social-media data, on candle"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model from a TOML run config.
    Train(TrainArgs),
    /// Sample sequences from a checkpoint.
    Generate(GenerateArgs),
    /// Evaluate a checkpoint with its run's protocol.
    Eval(EvalArgs),
    /// Time one benchmark workload (used by `cargo xtask bench`).
    Bench(BenchArgs),
    /// Inspect data.
    #[command(subcommand)]
    Data(DataCommand),
}

#[derive(Subcommand)]
enum DataCommand {
    /// Posts, tokens, vocabulary, length histogram and top tokens of a corpus file.
    Stats {
        file: PathBuf,
        /// Column (CSV/TSV) or field (JSONL) holding the text.
        #[arg(long, default_value = "text")]
        text_field: String,
        #[arg(long)]
        lossy: bool,
        /// How many of the most frequent tokens to list.
        #[arg(long, default_value_t = 20)]
        top: usize,
        #[arg(long)]
        json: bool,
    },
    /// Files of a Hugging Face hub repository into the hub cache ($HF_HOME, $HF_ENDPOINT); prints
    /// their local paths.
    Fetch {
        /// OWNER/NAME of a data set (or of a model, with --model).
        repo: String,
        #[arg(long, default_value = "main")]
        revision: String,
        /// Only files matching this glob, e.g. `emotion/*.parquet`.
        #[arg(long)]
        include: Option<String>,
        #[arg(long)]
        model: bool,
        /// Use the cache only; say what is missing.
        #[arg(long)]
        offline: bool,
    },
    /// Train a tokenizer on a corpus and encode every post to fixed-length ids, streaming (a
    /// corpus larger than memory works); writes OUT/tokenizer.json and OUT/ids.txt.
    Tokenize {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Column (CSV/TSV, Parquet) or field (JSONL) holding the text.
        #[arg(long, default_value = "text")]
        text_field: String,
        #[arg(long)]
        lossy: bool,
        #[arg(long, value_enum, default_value = "word-level")]
        kind: TokenizerKindArg,
        /// Split on whitespace only (default: words and punctuation apart).
        #[arg(long)]
        whitespace: bool,
        #[arg(long, default_value_t = 30_000)]
        vocab_size: usize,
        #[arg(long, default_value_t = 1)]
        min_frequency: u64,
        /// Encode with this tokenizer.json instead of training one.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// Ids per post: tokens, <eos>, <pad>s (longer posts are cut).
        #[arg(long, default_value_t = 40)]
        seq_len: usize,
    },
    /// Named data sets (tweet_eval, tweet_eval/<task>, image_coco, emnlp_news) into the cache.
    Download {
        #[arg(required = true)]
        names: Vec<String>,
        /// Use the cache only; say what is missing.
        #[arg(long)]
        offline: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TokenizerKindArg {
    WordLevel,
    Bpe,
}

#[derive(Args)]
struct BenchArgs {
    /// mle-epoch, sample-10k, seqgan-round, relgan-step or nll-oracle-10k.
    #[arg(long)]
    workload: String,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
}

#[derive(Args)]
struct TrainArgs {
    /// Run config (TOML); optional with --dataset (then a 10-epoch MLE run).
    #[arg(long, required_unless_present = "dataset")]
    config: Option<PathBuf>,
    /// Train on this corpus file (text, CSV/TSV, JSONL, Parquet; 10% held out as the test set
    /// unless --test is given) or named data set (`tweet_eval/emotion`, `image_coco`, ...,
    /// from the cache: `socgan data download NAME` first).
    #[arg(long)]
    dataset: Option<String>,
    /// Test file for a --dataset file (instead of holding out a tenth of it).
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
    /// Replace an existing run in `out_dir`.
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Stop after this many run steps (checkpointed; continue with --resume).
    #[arg(long)]
    halt_after: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Replace invalid UTF-8 in text data (counted) instead of stopping (sets `data.lossy`).
    #[arg(long)]
    lossy: bool,
}

#[derive(Args)]
struct GenerateArgs {
    /// Checkpoint: a run directory or a step directory.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Number of sequences.
    #[arg(short = 'n', long, default_value_t = 10)]
    num: usize,
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long)]
    top_p: Option<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write to this file (atomically) instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct EvalArgs {
    /// Checkpoint(s); several, with --temperatures, draw one quality-diversity curve each.
    #[arg(long, required = true, num_args = 1..)]
    checkpoint: Vec<PathBuf>,
    /// Sweep the sampling temperature (e.g. 0.6,0.8,1.0,1.2): a quality-diversity table and chart.
    #[arg(long, value_delimiter = ',')]
    temperatures: Vec<f32>,
    /// Where the quality-diversity chart goes (with --temperatures).
    #[arg(long, default_value = "quality_diversity.svg")]
    chart: PathBuf,
    /// Generator samples scored (default: the run's `eval_samples`).
    #[arg(long)]
    samples: Option<usize>,
    /// A published figure on the chart: `NAME=SELF_BLEU4,BLEU4` (a point) or `NAME=,BLEU4` (a
    /// line), in the chart's units (repeatable).
    #[arg(long = "reference", value_name = "NAME=X,Y")]
    references: Vec<charts::Reference>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// candle allocates a fresh buffer for every op; a GAN step makes many of tens of megabytes.
/// glibc serves blocks above its mmap threshold (at most 32 MB) straight from the kernel and
/// returns them on free, so each op pays page faults and page clearing (a fifth of the time of a
/// RelGAN round, measured with perf). Raising the threshold and the trim threshold keeps freed
/// blocks in the heap for reuse.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train(args),
        Command::Generate(args) => generate(args),
        Command::Eval(args) => eval(args),
        Command::Bench(args) => bench::run(&args.workload, args.repeats.max(1)),
        Command::Data(DataCommand::Stats {
            file,
            text_field,
            lossy,
            top,
            json,
        }) => stats::run(&file, &text_field, lossy, top, json),
        Command::Data(DataCommand::Fetch {
            repo,
            revision,
            include,
            model,
            offline,
        }) => fetch::fetch(&repo, &revision, include.as_deref(), model, offline),
        Command::Data(DataCommand::Download { names, offline }) => fetch::download(&names, offline),
        Command::Data(DataCommand::Tokenize {
            file,
            out,
            text_field,
            lossy,
            kind,
            whitespace,
            vocab_size,
            min_frequency,
            tokenizer,
            seq_len,
        }) => tokenize::run(
            &file,
            &out,
            &tokenize::TokenizeOptions {
                text_field: &text_field,
                lossy,
                kind: match kind {
                    TokenizerKindArg::WordLevel => socgan_data::tokenizer::TokenizerKind::WordLevel,
                    TokenizerKindArg::Bpe => socgan_data::tokenizer::TokenizerKind::Bpe,
                },
                pre_tokenizer: if whitespace {
                    socgan_data::tokenizer::PreTokenizer::Whitespace
                } else {
                    socgan_data::tokenizer::PreTokenizer::WordsAndPunctuation
                },
                vocab_size,
                min_frequency,
                pretrained: tokenizer.as_deref(),
                seq_len,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn train(args: TrainArgs) -> Result<()> {
    let mut overrides = args.overrides.clone();
    if let Some(seed) = args.seed {
        overrides.push(format!("seed={seed}"));
    }
    if let Some(dir) = &args.out_dir {
        overrides.push(format!(
            "out_dir={}",
            toml::Value::String(dir.display().to_string())
        ));
    }
    if args.lossy {
        overrides.push("data.lossy=true".to_string());
    }
    let dataset = match &args.dataset {
        Some(name) => {
            let (train, test, text_field) = fetch::dataset_files(name)?;
            Some(config::DatasetChoice {
                name: name.clone(),
                train,
                test: args.test.clone().map(|t| vec![t]).or(test),
                text_field,
            })
        }
        None => None,
    };
    let mut config =
        RunConfig::load_for_training(args.config.as_deref(), dataset.as_ref(), &overrides)?;
    if matches!(config.loss, AdversarialLoss::WganGp { .. }) {
        // The gradient penalty differentiates a gradient: candle keeps that graph only with this
        // set before the first backward pass (still single-threaded here).
        std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    }
    let run_dir = config.out_dir.clone();
    let has_run = run_dir.join("checkpoints").exists() || run_dir.join("metrics.jsonl").exists();
    if has_run && !args.resume && !args.overwrite {
        bail!(
            "{}: already holds a run; pass --resume to continue it or --overwrite to replace it",
            run_dir.display()
        );
    }
    let device = run::device()?;
    // A resumed text run keeps the tokenizer it was trained with.
    let saved_tokenizer = run_dir.join("tokenizer.json");
    let keep_tokenizer =
        (args.resume && saved_tokenizer.is_file()).then_some(saved_tokenizer.as_path());
    // Data errors surface here, before anything in the run directory is touched.
    let prepared = run::prepare(&mut config, &device, keep_tokenizer)?;
    if args.overwrite && run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("{}: cannot remove", run_dir.display()))?;
    }
    let config_toml = config.to_toml()?;
    gan_core::checkpoint::write_atomic(&run_dir.join("config.toml"), config_toml.as_bytes())?;
    let mut checkpoint_files = vec![("config.toml".to_string(), config_toml)];
    let tokenizer = prepared.tokenizer.clone();
    if let Some(tok) = &tokenizer {
        let json = tok.to_json()?;
        gan_core::checkpoint::write_atomic(&saved_tokenizer, json.as_bytes())?;
        checkpoint_files.push(("tokenizer.json".to_string(), json));
    }
    let batches_per_epoch = prepared.train.batches_per_epoch(config.batch_size) as u64;
    let mut task = run::text_gan(&config, prepared, &device)?;
    if !args.quiet {
        eprintln!(
            "socgan: {} on {} ({} generator / {} discriminator parameters) -> {}",
            config.algorithm.name(),
            if device.is_cpu() { "cpu" } else { "cuda" },
            task.generator_params().num_parameters(),
            task.discriminator_params().num_parameters(),
            run_dir.display()
        );
    }
    let options = RunOptions {
        quiet: args.quiet,
        resume: args.resume,
        halt_after: args.halt_after,
        config_json: serde_json::to_value(&config)?,
        checkpoint_files,
    };
    let outcome = Trainer::new(config.trainer_config(batches_per_epoch), &run_dir, options)?
        .run(&mut task)?;

    let records = read_records(&run_dir.join("metrics.jsonl"))?;
    charts::write_svg(
        &run_dir.join("loss_curve.svg"),
        &charts::run_panels(&records),
    )?;
    if outcome.completed {
        let samples = task.generator.sample(
            1000,
            &SamplingConfig::default(),
            &mut SeededRng::derive(config.seed, "samples", 0),
        )?;
        write_samples(
            &samples,
            tokenizer.as_ref(),
            Some(&run_dir.join("samples.txt")),
        )?;
    }
    let summary = serde_json::json!({
        "run": run_dir.display().to_string(),
        "algorithm": config.algorithm.name(),
        "completed": outcome.completed,
        "steps": outcome.steps_done,
        "metrics": outcome.final_metrics,
    });
    println!("{summary}");
    Ok(())
}

fn checkpoint_config(checkpoint: &std::path::Path) -> Result<(RunConfig, Checkpoint)> {
    let device = run::device()?;
    let ckpt = Checkpoint::load(checkpoint, &device)?;
    let text = ckpt.read_extra("config.toml")?;
    let config = RunConfig::parse(&text, &[])
        .with_context(|| format!("{}: config.toml", ckpt.dir.display()))?;
    Ok((config, ckpt))
}

/// The tokenizer saved beside a text run's checkpoint, if any.
fn checkpoint_tokenizer(ckpt: &Checkpoint) -> Option<std::path::PathBuf> {
    let path = ckpt.dir.join("tokenizer.json");
    path.is_file().then_some(path)
}

/// Writes samples as text (decoded) for a text run, as ids otherwise; to `output` atomically, or
/// to standard output.
fn write_samples(
    samples: &socgan_data::TokenSequences,
    tokenizer: Option<&TextTokenizer>,
    output: Option<&std::path::Path>,
) -> Result<()> {
    let mut out = String::new();
    for row in samples.rows() {
        match tokenizer {
            Some(tok) => out.push_str(&tok.decode(row)?),
            None => out.push_str(
                &row.iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        }
        out.push('\n');
    }
    match output {
        Some(path) => gan_core::checkpoint::write_atomic(path, out.as_bytes())?,
        None => print!("{out}"),
    }
    Ok(())
}

fn generate(args: GenerateArgs) -> Result<()> {
    let sampling = SamplingConfig {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
    };
    sampling.validate()?;
    let (config, ckpt) = checkpoint_config(&args.checkpoint)?;
    let device = run::device()?;
    let generator = run::generator(&config, &device)?;
    generator
        .params()
        .load_with_prefix(&ckpt.tensors, "generator.", &ckpt.dir)?;
    let samples = generator.sample(
        args.num,
        &sampling,
        &mut SeededRng::derive(args.seed, "generate", 0),
    )?;
    let tokenizer = checkpoint_tokenizer(&ckpt)
        .map(|p| TextTokenizer::load(&p))
        .transpose()?;
    write_samples(&samples, tokenizer.as_ref(), args.output.as_deref())?;
    Ok(())
}

fn eval(args: EvalArgs) -> Result<()> {
    let temperatures = if args.temperatures.is_empty() {
        vec![1.0]
    } else {
        args.temperatures.clone()
    };
    let mut curves = Vec::new();
    for checkpoint in &args.checkpoint {
        let (mut config, ckpt) = checkpoint_config(checkpoint)?;
        if let Some(n) = args.samples {
            match &mut config.data {
                config::DataConfig::Oracle { eval_samples, .. } => *eval_samples = n,
                config::DataConfig::Text { num_hypotheses, .. } => *num_hypotheses = n,
            }
        }
        let device = run::device()?;
        let tokenizer = checkpoint_tokenizer(&ckpt);
        let mut prepared = run::prepare(&mut config, &device, tokenizer.as_deref())?;
        let generator = run::generator(&config, &device)?;
        generator
            .params()
            .load_with_prefix(&ckpt.tensors, "generator.", &ckpt.dir)?;
        let mut points = Vec::new();
        for &temperature in &temperatures {
            let sampling = SamplingConfig {
                temperature,
                ..Default::default()
            };
            sampling.validate()?;
            prepared.evaluator.set_sampling(sampling);
            let metrics = prepared.evaluator.evaluate(
                &generator,
                &mut SeededRng::derive(args.seed, "evaluation", 0),
            )?;
            println!(
                "{}",
                serde_json::json!({ "checkpoint": ckpt.dir.display().to_string(), "algorithm": config.algorithm.name(), "temperature": temperature, "metrics": metrics })
            );
            points.push((temperature, metrics));
        }
        // The run folder's name (not the whole path) keeps the chart's legend readable.
        let run_name = checkpoint
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        curves.push((format!("{} ({run_name})", config.algorithm.name()), points));
    }
    if !args.temperatures.is_empty() {
        charts::write_svg(
            &args.chart,
            &[charts::quality_diversity_panel(&curves, &args.references)],
        )?;
        eprintln!(
            "socgan: quality-diversity chart written to {}",
            args.chart.display()
        );
    }
    Ok(())
}
