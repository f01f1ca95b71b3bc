//! `socgan bench --workload minilm-encode`: sentence vectors of real tweets from the frozen
//! all-MiniLM-L6-v2, as `socgan train` computes them before caching (batches of 32 sorted by
//! length, mean pooling, L2 normalisation). The model is `$SOCGAN_MINILM` (a directory or hub
//! id), the texts the first `$SOCGAN_BENCH_TWEETS` (default 512) lines of
//! `$SOCGAN_BENCH_TEXTS` (default TweetEval sentiment's test file). One untimed warm-up encode,
//! then the median of the timed encodes of all; the peer is `benches/peers/minilm_encode.py`.

use std::path::PathBuf;

use candle_core::Device;
use gan_core::bench::{record, time_median};
use serde_json::{json, Value};

use crate::encoder::{MiniLm, MiniLmConfig};
use crate::{Error, Result};

/// The workloads, in the order `cargo xtask bench` runs them.
pub const WORKLOADS: [&str; 1] = ["minilm-encode"];

/// Runs `workload` on `device`; one JSON record (see [`gan_core::bench::record`]).
pub fn run(workload: &str, repeats: usize, device: &Device) -> Result<Value> {
    if workload != WORKLOADS[0] {
        return Err(Error::Config(format!("unknown workload `{workload}`")));
    }
    let model = std::env::var("SOCGAN_MINILM").unwrap_or_else(|_| MiniLmConfig::default().model);
    let texts_path = std::env::var_os("SOCGAN_BENCH_TEXTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data/tweeteval/sentiment/test_text.txt"));
    let limit: usize = std::env::var("SOCGAN_BENCH_TWEETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let text = std::fs::read_to_string(&texts_path)
        .map_err(|e| Error::file(&texts_path, e.to_string()))?;
    let texts: Vec<String> = text.split('\n').take(limit).map(str::to_string).collect();
    let encoder = MiniLm::load(
        &MiniLmConfig {
            model,
            ..MiniLmConfig::default()
        },
        device,
    )?;
    let seconds = time_median(repeats.max(1), device, || {
        encoder.embed(&texts, |_| {}).map(|_| ())
    })?;
    Ok(record(
        workload,
        device,
        seconds,
        json!({
            "tweets": texts.len(),
            "tweets_per_s": texts.len() as f64 / seconds,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_its_workload_is_known() {
        let err = run("mle-epoch", 1, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("unknown workload `mle-epoch`"), "{err}");
    }
}
