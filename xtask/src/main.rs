//! `cargo xtask`: project tasks that shell out to cargo and the `socgan` binary.
//!
//! - `cargo xtask bench`: speed and peak memory against PyTorch peers, side by side.
//! - `cargo xtask train`: the synthetic-oracle benchmark at a quick size (the embedded default);
//!   `--full` runs the papers' protocol. Prints the NLL table and writes everything under `runs/`.
//!   `--dataset NAME` trains on real text instead (COCO captions, TweetEval tweets, ...).
//! - `cargo xtask images --model mlp|dcgan|dcgan32`: an image GAN on MNIST with every loss, one
//!   classifier for all; classifier-FID table and chart.
//! - `cargo xtask download [NAME...]`: named data sets into the hub cache (needs internet).
//! - `cargo xtask recommend --protocol games|movielens`: next-item models and losses, full-ranking
//!   and sampled metrics beside the published rows.
//! - `cargo xtask detectability --dataset image_coco|tweet_eval/emotion`: real posts against each
//!   generator's, detectors and tells, the table of section 14 of the benchmarks.
//! - `cargo xtask eval ARGS`: `socgan eval ARGS` with a fresh release build.
//!
//! - `cargo xtask cuda-build`: socgan with CUDA (the toolkit from pinned PyPI wheels, no GPU
//!   needed), stripped to `target/cuda/socgan`.
//!
//! Pass `--features cuda` to build socgan with CUDA (into `target/cuda/`, with the same toolkit).

mod bench;
mod classify;
mod cuda;
mod detectability;
mod images;
mod minilm;
mod posts_on_request;
mod recommend;
mod results;
mod train;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

/// Project tasks; with no task, `train` (the embedded default).
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Option<Task>,
}

#[derive(Subcommand)]
enum Task {
    /// Synthetic-oracle benchmark (or real text with --dataset): MLE, SeqGAN, RelGAN; prints the
    /// table beside the published figures.
    Train(train::TrainArgs),
    /// Speed and memory against PyTorch peers, run alternately; prints ratios.
    Bench(bench::BenchArgs),
    /// An image GAN on MNIST with every adversarial loss: classifier-FID table and chart.
    Images(images::ImagesArgs),
    /// Named data sets into the hub cache ($HF_HOME): tweet_eval (all tasks) and image_coco by
    /// default; also tweet_eval/<task>, emnlp_news, mnist, constraint_covid19 (fake news),
    /// seqgan_oracle (SeqGAN's fixed oracle, converted from its pickle without executing it).
    /// Needs internet.
    Download {
        names: Vec<String>,
        /// Cargo features of the socgan build (e.g. cuda).
        #[arg(long)]
        features: Vec<String>,
    },
    /// The few-label classifier protocol: fractions x seeds x encoders x methods, a table of the
    /// official test score beside the published rows.
    Classify(classify::ClassifyArgs),
    /// Class-conditional generators (CatGAN, conditional MLE) judged by an independent
    /// classifier: the share of posts generated for each label that it labels so, beside
    /// per-label BLEU / Self-BLEU.
    PostsOnRequest(posts_on_request::PostsOnRequestArgs),
    /// How easily socgan's own generators are told from people (real held-out posts against
    /// each generator's): a trained detector with and without the generator, the length-only
    /// and words-only tells, the zero-shot likelihood and GLTR scores; names the hardest.
    Detectability(detectability::DetectabilityArgs),
    /// The next-item protocol of Amazon Games or MovieLens: every model and loss, a table of
    /// full-ranking and sampled test metrics beside the published rows.
    Recommend(recommend::RecommendArgs),
    /// socgan's all-MiniLM-L6-v2 sentence vectors against SentenceTransformer.encode's on real
    /// tweets (tolerance 1e-4).
    CheckMinilm(minilm::CheckMiniLmArgs),
    /// socgan with CUDA on a machine without a GPU: installs the CUDA 13.0 toolkit wheels into
    /// .cuda-toolkit/ (once), builds into target/cuda/ and strips the binary to target/cuda/socgan.
    CudaBuild(cuda::CudaBuildArgs),
    /// `socgan eval` with a fresh release build; arguments are passed on.
    Eval {
        /// Cargo features of the socgan build (e.g. cuda).
        #[arg(long)]
        features: Vec<String>,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        None => train::run(train::TrainArgs::default()),
        Some(Task::Train(args)) => train::run(args),
        Some(Task::Bench(args)) => bench::run(args),
        Some(Task::Images(args)) => images::run(args),
        Some(Task::CheckMinilm(args)) => minilm::run(args),
        Some(Task::CudaBuild(args)) => cuda::run(args),
        Some(Task::Classify(args)) => classify::run(args),
        Some(Task::PostsOnRequest(args)) => posts_on_request::run(args),
        Some(Task::Detectability(args)) => detectability::run(args),
        Some(Task::Recommend(args)) => recommend::run(args),
        Some(Task::Download {
            mut names,
            features,
        }) => {
            if names.is_empty() {
                names = vec!["tweet_eval".into(), "image_coco".into()];
            }
            run_socgan(&features, "data", &["download".to_string()], &names)
        }
        Some(Task::Eval { features, args }) => run_socgan(&features, "eval", &[], &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `socgan COMMAND ARGS...` with a fresh release build.
fn run_socgan(
    features: &[String],
    command: &str,
    sub: &[String],
    args: &[String],
) -> Result<(), String> {
    let socgan = build_socgan(features)?;
    let status = Command::new(&socgan)
        .arg(command)
        .args(sub)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", socgan.display()))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("socgan {command} failed"))
}

/// `socgan ARGS...` run from the workspace root: its standard output, or its error message.
pub fn socgan_stdout<S: AsRef<std::ffi::OsStr>>(
    socgan: &std::path::Path,
    args: &[S],
) -> Result<String, String> {
    let out = Command::new(socgan)
        .current_dir(workspace_root())
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", socgan.display()))?;
    if !out.status.success() {
        let line: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        return Err(format!(
            "socgan {} failed: {}",
            line.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Builds socgan in release mode (with `features`) and returns the path of the binary. A CUDA
/// build uses the toolkit of `cargo xtask cuda-build` and its own target folder.
pub fn build_socgan(features: &[String]) -> Result<PathBuf, String> {
    let root = workspace_root();
    let with_cuda = features
        .iter()
        .flat_map(|f| f.split(','))
        .any(|f| f.trim() == "cuda");
    let mut cmd = if with_cuda {
        cuda::cargo_with_toolkit(cuda::DEFAULT_COMPUTE_CAP)?
    } else {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&root);
        cmd
    };
    cmd.args(["build", "--release", "--package", "socgan"]);
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building socgan failed".into());
    }
    let target = if with_cuda {
        cuda::cuda_target_dir()
    } else {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
    };
    Ok(target.join("release").join("socgan"))
}
