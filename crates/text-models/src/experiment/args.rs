//! The command-line flags of text GAN runs, included by the `socgan` binary beside its own.

use std::path::PathBuf;

use crate::experiment::quality_diversity::Reference;
use crate::{Result, SamplingConfig};

/// `socgan train` flags of text runs (`--dataset` and `--test` are the binary's own).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TextTrainArgs {
    /// Replace invalid UTF-8 in text data (counted) instead of stopping (sets `data.lossy`).
    #[arg(long)]
    pub lossy: bool,
}

/// How `socgan generate` samples from a text generator.
#[derive(clap::Args, Clone, Debug)]
pub struct SamplingArgs {
    /// Softmax temperature (text generators).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Keep only the k most likely tokens (text generators).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Nucleus sampling: keep the most likely tokens up to this probability (text generators).
    #[arg(long)]
    pub top_p: Option<f32>,
}

impl SamplingArgs {
    pub fn config(&self) -> Result<SamplingConfig> {
        let config = SamplingConfig {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
        };
        config.validate()?;
        Ok(config)
    }
}

/// `socgan eval` flags of text runs: the quality-diversity sweep.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TextEvalArgs {
    /// Sweep the sampling temperature (e.g. 0.6,0.8,1.0,1.2): a quality-diversity table and chart.
    #[arg(long, value_delimiter = ',')]
    pub temperatures: Vec<f32>,
    /// Where the quality-diversity chart goes (with --temperatures).
    #[arg(long, default_value = "quality_diversity.svg")]
    pub chart: PathBuf,
    /// A published figure on the chart: `NAME=SELF_BLEU4,BLEU4` (a point) or `NAME=,BLEU4` (a
    /// line), in the chart's units (repeatable).
    #[arg(long = "reference", value_name = "NAME=X,Y")]
    pub references: Vec<Reference>,
}
