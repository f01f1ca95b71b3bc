//! `cargo xtask`: project tasks that shell out to cargo and the `socgan` binary.
//!
//! - `cargo xtask bench`: speed and peak memory against PyTorch peers, side by side.
//! - `cargo xtask train`: the synthetic-oracle benchmark at a quick size (the embedded default);
//!   `--full` runs the papers' protocol. Prints the NLL table and writes everything under `runs/`.
//!   `--dataset NAME` trains on real text instead (COCO captions, TweetEval tweets, ...).
//! - `cargo xtask download [NAME...]`: named data sets into the hub cache (needs internet).
//! - `cargo xtask eval ARGS`: `socgan eval ARGS` with a fresh release build.
//!
//! Pass `--features cuda` to build socgan with CUDA.

mod bench;
mod train;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("train") | None => train::run(args.get(1..).unwrap_or(&[])),
        Some("bench") => bench::run(&args[1..]),
        Some("download") => download(&args[1..]),
        Some("eval") => passthrough("eval", &args[1..]),
        Some("-h") | Some("--help") | Some("help") => {
            println!("{}", USAGE);
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task> [options]
tasks:
  train [--full] [--dataset image_coco|tweet_eval/<task>|emnlp_news] [--oracle FILE] [--out DIR] [--features cuda] [--seed N] [--only mle|seqgan|relgan]
        synthetic-oracle benchmark (or COCO captions): MLE, SeqGAN, RelGAN; prints the table
  download [NAME...] [--features cuda]
        named data sets into the hub cache ($HF_HOME): tweet_eval (all tasks) and image_coco by
        default; also tweet_eval/<task>, emnlp_news
  eval --checkpoint RUN... [--temperatures 0.8,1.0] [--samples N]
        socgan eval with a release build
  bench [--threads 1,2] [--repeats 3] [--workloads a,b] [--out DIR]
        speed and memory against PyTorch peers, run alternately; prints ratios";

/// Splits `--features X` off the arguments.
fn take_features(args: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut features, mut rest) = (Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.clone().next()) {
            ("--features", Some(f)) => {
                features.push(f.clone());
                it.next();
            }
            _ => rest.push(a.clone()),
        }
    }
    (features, rest)
}

/// `cargo xtask download`: `socgan data download` of the named data sets.
fn download(args: &[String]) -> Result<(), String> {
    let (features, mut names) = take_features(args);
    if names.is_empty() {
        names = vec!["tweet_eval".into(), "image_coco".into()];
    }
    let socgan = build_socgan(&features)?;
    let status = Command::new(&socgan)
        .args(["data", "download"])
        .args(&names)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", socgan.display()))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("download of {} failed", names.join(" ")))
}

/// A socgan subcommand with a fresh release build.
fn passthrough(command: &str, args: &[String]) -> Result<(), String> {
    let (features, rest) = take_features(args);
    let socgan = build_socgan(&features)?;
    let status = Command::new(&socgan)
        .arg(command)
        .args(&rest)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", socgan.display()))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("socgan {command} failed"))
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Builds socgan in release mode (with `features`) and returns the path of the binary.
pub fn build_socgan(features: &[String]) -> Result<PathBuf, String> {
    let root = workspace_root();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root)
        .args(["build", "--release", "--package", "socgan"]);
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building socgan failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release").join("socgan"))
}
