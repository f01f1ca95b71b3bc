//! `cargo xtask bench`: socgan's workloads side by side with PyTorch peers, alternating
//! (socgan, peer, socgan, peer, ...) at each thread count; ratios are computed pair by pair and
//! their median reported, so that load on a shared machine hits both sides alike.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::{build_socgan, workspace_root};

/// `cargo xtask bench` options.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Thread counts to run every workload at.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2])]
    threads: Vec<usize>,
    /// Timed repetitions per workload and side (the median pair ratio is reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Workloads to run.
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(WORKLOADS), default_values = WORKLOADS)]
    workloads: Vec<String>,
    /// Where bench.json and bench.md go (default runs/bench).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Cargo features of the socgan build (e.g. cuda).
    #[arg(long)]
    features: Vec<String>,
    /// all-MiniLM-L6-v2's directory (config.json, tokenizer.json, model.safetensors) for the
    /// `minilm-encode` workload, which is skipped without it.
    #[arg(long)]
    minilm_model: Option<PathBuf>,
    /// Batches of 128 users timed by the SASRec workloads (an epoch of Amazon Games is 243; the
    /// PyTorch peer's softmax epoch takes minutes).
    #[arg(long, default_value_t = 60)]
    sasrec_batches: usize,
}

const WORKLOADS: [&str; 12] = [
    "mle-epoch",
    "sample-10k",
    "seqgan-round",
    "relgan-step",
    "rmc-mle-epoch",
    "relgan-rmc-step",
    "nll-oracle-10k",
    "dcgan-step",
    "mlp-gan-epoch",
    "minilm-encode",
    "sasrec-epoch",
    "sasrec-epoch-softmax",
];

/// What a workload needs besides its name and thread count.
struct WorkloadInputs<'a> {
    minilm: Option<&'a Path>,
    sasrec_batches: usize,
}

/// The Python that has torch: the project's `.peers-venv` (see ../shared/peers/README.md) or the
/// system's.
fn torch_python() -> Option<PathBuf> {
    let venv = workspace_root().join(".peers-venv/bin/python");
    let candidates = [venv, PathBuf::from("python3")];
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import torch"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// `key=value` fields of a peer's output line.
fn fields(text: &str) -> Vec<(String, String)> {
    text.split_whitespace()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn field(fs: &[(String, String)], key: &str) -> Option<f64> {
    fs.iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

struct Sample {
    seconds: f64,
    peak_rss_mb: f64,
}

fn run_socgan(
    socgan: &Path,
    workload: &str,
    threads: usize,
    inputs: &WorkloadInputs,
) -> Result<Sample, String> {
    let mut cmd = Command::new(socgan);
    if let Some(dir) = inputs.minilm {
        cmd.env("SOCGAN_MINILM", dir);
    }
    cmd.env("SOCGAN_BENCH_BATCHES", inputs.sasrec_batches.to_string());
    let out = cmd
        .current_dir(workspace_root())
        .args(["bench", "--workload", workload])
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .map_err(|e| format!("cannot run socgan: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "socgan bench {workload} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value =
        serde_json::from_str(line.trim()).map_err(|e| format!("socgan bench output: {e}"))?;
    Ok(Sample {
        seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
        peak_rss_mb: v["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
    })
}

/// Runs the peer of `workload`; workloads 1-2 share one process of the shared MLE script.
fn run_peer(
    python: &Path,
    workload: &str,
    threads: usize,
    inputs: &WorkloadInputs,
) -> Result<Sample, String> {
    let root = workspace_root();
    let peers = root.join("benches/peers");
    let mut cmd = Command::new(python);
    match workload {
        "mle-epoch" | "sample-10k" => {
            let script = root.join("../shared/peers/torch_lstm_mle.py");
            if !script.is_file() {
                return Err(format!("{} not found", script.display()));
            }
            cmd.arg(peers.join("peak_rss.py"))
                .arg(script)
                .arg(threads.to_string());
        }
        "seqgan-round" => {
            cmd.arg(peers.join("seqgan_round.py"))
                .arg(threads.to_string())
                .arg("1");
        }
        "relgan-step" | "relgan-rmc-step" => {
            let generator = if workload == "relgan-step" {
                "lstm"
            } else {
                "rmc"
            };
            cmd.arg(peers.join("relgan_step.py"))
                .arg(threads.to_string())
                .arg("1")
                .arg(generator);
        }
        "rmc-mle-epoch" => {
            cmd.arg(peers.join("rmc_mle_epoch.py"))
                .arg(threads.to_string())
                .arg("1");
        }
        "minilm-encode" => {
            let model = inputs.minilm.ok_or("minilm-encode needs --minilm-model")?;
            cmd.arg(peers.join("minilm_encode.py"))
                .args([
                    "--threads",
                    &threads.to_string(),
                    "--limit",
                    "512",
                    "--model-dir",
                ])
                .arg(model)
                .arg("--texts")
                .arg(root.join("../shared/data/tweeteval/sentiment/test_text.txt"));
        }
        "sasrec-epoch" | "sasrec-epoch-softmax" => {
            let loss = if workload == "sasrec-epoch" {
                "bce"
            } else {
                "ce"
            };
            cmd.arg(peers.join("sasrec_epoch.py"))
                .args(["--threads", &threads.to_string(), "--loss", loss])
                .args(["--batches", &inputs.sasrec_batches.to_string(), "--data"])
                .arg(root.join("../shared/data/sasrec-amazon-video-games/Video.txt"));
        }
        "dcgan-step" | "mlp-gan-epoch" => {
            cmd.arg(peers.join("image_gans.py"))
                .arg(workload)
                .arg(threads.to_string())
                .arg("1");
        }
        _ => {
            cmd.arg(peers.join("nll_oracle.py"))
                .arg(threads.to_string())
                .arg("1");
        }
    }
    let out = cmd
        .current_dir(&peers)
        .output()
        .map_err(|e| format!("cannot run the peer: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "peer of {workload} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let fs = fields(&String::from_utf8_lossy(&out.stdout));
    let seconds = match workload {
        "mle-epoch" => field(&fs, "mle_epoch_s"),
        "sample-10k" => field(&fs, "sample_10k_s"),
        "minilm-encode" => field(&fs, "encode_s"),
        "sasrec-epoch" | "sasrec-epoch-softmax" => field(&fs, "epoch_s"),
        _ => field(&fs, "seconds"),
    };
    Ok(Sample {
        seconds: seconds.unwrap_or(f64::NAN),
        peak_rss_mb: field(&fs, "peak_rss_mb").unwrap_or(f64::NAN),
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

pub fn run(o: BenchArgs) -> Result<(), String> {
    let socgan = build_socgan(&o.features)?;
    let out_dir = o
        .out
        .clone()
        .unwrap_or_else(|| workspace_root().join("runs").join("bench"));
    let python = torch_python();
    match &python {
        Some(py) => println!("peer: PyTorch via {}", py.display()),
        None => println!(
            "peer: torch is not installed (python3 -m venv .peers-venv && .peers-venv/bin/pip install torch numpy); reporting socgan's figures only"
        ),
    }
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mut records = Vec::new();
    for &threads in &o.threads {
        for workload in &o.workloads {
            if workload == "minilm-encode" && o.minilm_model.is_none() {
                println!("minilm-encode: skipped (pass --minilm-model DIR)");
                continue;
            }
            let inputs = WorkloadInputs {
                minilm: o.minilm_model.as_deref(),
                sasrec_batches: o.sasrec_batches,
            };
            let (mut ours, mut theirs, mut ratios, mut ours_mem, mut theirs_mem) =
                (vec![], vec![], vec![], vec![], vec![]);
            for rep in 0..o.repeats {
                let a = run_socgan(&socgan, workload, threads, &inputs)?;
                eprintln!(
                    "  {workload} threads={threads} rep={rep}: socgan {:.3}s",
                    a.seconds
                );
                ours.push(a.seconds);
                ours_mem.push(a.peak_rss_mb);
                if let Some(py) = &python {
                    match run_peer(py, workload, threads, &inputs) {
                        Ok(b) => {
                            eprintln!(
                                "  {workload} threads={threads} rep={rep}: torch  {:.3}s",
                                b.seconds
                            );
                            ratios.push(b.seconds / a.seconds);
                            theirs.push(b.seconds);
                            theirs_mem.push(b.peak_rss_mb);
                        }
                        Err(e) => eprintln!("  {e}"),
                    }
                }
            }
            let max = |xs: &[f64]| xs.iter().copied().fold(f64::NAN, f64::max);
            records.push(json!({
                "workload": workload,
                "threads": threads,
                "repeats": o.repeats,
                "socgan_median_s": median(ours),
                "peer_median_s": median(theirs.clone()),
                "speedup_median_of_pairs": median(ratios),
                "socgan_peak_rss_mb": max(&ours_mem),
                "peer_peak_rss_mb": max(&theirs_mem),
            }));
        }
    }
    let mut table = format!(
        "CPU: {cpu}; {} pairs per row, run alternately; speedup = peer seconds / socgan seconds, median over pairs\n\n\
         | workload | threads | socgan s | PyTorch s | speedup | socgan peak MB | PyTorch peak MB |\n|---|---|---|---|---|---|---|\n",
        o.repeats
    );
    let f = |v: &Value, k: &str, digits: usize| {
        v[k].as_f64()
            .filter(|x| x.is_finite())
            .map(|x| format!("{x:.digits$}"))
            .unwrap_or_else(|| "-".into())
    };
    for r in &records {
        table += &format!(
            "| {} | {} | {} | {} | {}x | {} | {} |\n",
            r["workload"].as_str().unwrap_or(""),
            r["threads"],
            f(r, "socgan_median_s", 3),
            f(r, "peer_median_s", 3),
            f(r, "speedup_median_of_pairs", 2),
            f(r, "socgan_peak_rss_mb", 0),
            f(r, "peer_peak_rss_mb", 0)
        );
    }
    println!("\n{table}");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let json_path = out_dir.join("bench.json");
    let doc = json!({ "cpu": cpu, "records": records });
    fs::write(
        &json_path,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", json_path.display()))?;
    fs::write(out_dir.join("bench.md"), &table)
        .map_err(|e| format!("{}: {e}", out_dir.display()))?;
    println!("written: {} and bench.md", json_path.display());
    Ok(())
}
