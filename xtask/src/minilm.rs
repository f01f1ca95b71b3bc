//! `cargo xtask check-minilm`: socgan's all-MiniLM-L6-v2 vectors against the reference vectors
//! `SentenceTransformer.encode` gave for 48 real tweets (committed without the tweets in
//! `crates/text-classifier/tests/fixtures/minilm_reference.json`; `benches/peers/
//! make_minilm_reference.py` made them). The tweets are read from `../shared/data/tweeteval`
//! and checked against the hashes recorded beside the vectors.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{build_socgan, workspace_root};

/// The largest difference allowed in any coordinate.
const TOLERANCE: f64 = 1e-4;

#[derive(clap::Args)]
pub struct CheckMiniLmArgs {
    /// The encoder: a directory (config.json, tokenizer.json, model.safetensors) or a hub id in
    /// the cache.
    #[arg(long, default_value = "sentence-transformers/all-MiniLM-L6-v2")]
    model: String,
    /// TweetEval's folder.
    #[arg(long)]
    tweeteval: Option<PathBuf>,
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn run(args: CheckMiniLmArgs) -> Result<(), String> {
    let root = workspace_root();
    let fixture = root.join("crates/text-classifier/tests/fixtures/minilm_reference.json");
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(&fixture).map_err(|e| format!("{}: {e}", fixture.display()))?,
    )
    .map_err(|e| format!("{}: {e}", fixture.display()))?;
    let data = args
        .tweeteval
        .unwrap_or_else(|| root.join("../shared/data/tweeteval"));
    if !data.is_dir() {
        return Err(format!(
            "{}: TweetEval's folder is missing (pass --tweeteval DIR)",
            data.display()
        ));
    }
    let items = reference["items"].as_array().cloned().unwrap_or_default();
    let mut texts = Vec::new();
    for item in &items {
        let file = data.join(item["file"].as_str().unwrap_or_default());
        let line = item["line"].as_u64().unwrap_or(0) as usize;
        let content =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let text = content
            .split('\n')
            .nth(line.saturating_sub(1))
            .ok_or_else(|| format!("{}: no line {line}", file.display()))?;
        if hex_sha256(text) != item["text_sha256"].as_str().unwrap_or_default() {
            return Err(format!(
                "{}:{line}: not the tweet the reference vector was computed from",
                file.display()
            ));
        }
        texts.push(text.to_string());
    }
    let dir = std::env::temp_dir().join(format!("socgan-check-minilm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let input = dir.join("tweets.txt");
    std::fs::write(&input, texts.join("\n") + "\n").map_err(|e| e.to_string())?;
    let socgan = build_socgan(&[])?;
    let mut failures = Vec::new();
    // The frozen encoder's BERT (packed inference on the CPU) and the fine-tuned one's.
    for implementation in ["frozen", "trainable"] {
        let output = dir.join(format!("{implementation}.jsonl"));
        let status = Command::new(&socgan)
            .args(["data", "embed"])
            .arg(&input)
            .args(["--model", &args.model, "--implementation", implementation])
            .arg("--output")
            .arg(&output)
            .status()
            .map_err(|e| format!("cannot run {}: {e}", socgan.display()))?;
        if !status.success() {
            return Err(format!(
                "socgan data embed --implementation {implementation} failed"
            ));
        }
        let produced = std::fs::read_to_string(&output).map_err(|e| e.to_string())?;
        let worst = largest_difference(&produced, &items)?;
        println!(
            "check-minilm ({implementation} BERT): {} tweets, largest difference from SentenceTransformer.encode {worst:.2e} (tolerance {TOLERANCE:.0e}); reference: {}",
            items.len(),
            reference["produced_by"].as_str().unwrap_or("?")
        );
        if worst.is_nan() || worst > TOLERANCE {
            failures.push(format!(
                "{implementation}: vectors differ by {worst:.2e} > {TOLERANCE:.0e}"
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    Ok(())
}

/// The largest absolute difference between the vectors `produced` (JSON lines) and the reference.
fn largest_difference(produced: &str, items: &[Value]) -> Result<f64, String> {
    let mut worst = 0f64;
    let mut count = 0;
    for (line, item) in produced.lines().zip(items) {
        let ours: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let (a, b) = (
            ours["embedding"].as_array().cloned().unwrap_or_default(),
            item["embedding"].as_array().cloned().unwrap_or_default(),
        );
        if a.len() != b.len() || a.is_empty() {
            return Err(format!("vector widths differ: {} vs {}", a.len(), b.len()));
        }
        for (x, y) in a.iter().zip(&b) {
            worst = worst.max((x.as_f64().unwrap_or(f64::NAN) - y.as_f64().unwrap_or(0.0)).abs());
        }
        count += 1;
    }
    if count != items.len() {
        return Err(format!("{count} vectors for {} tweets", items.len()));
    }
    Ok(worst)
}
