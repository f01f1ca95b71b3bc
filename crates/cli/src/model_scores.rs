//! The audit's measures that need a model: membership inference and canary exposure from the
//! generator's per-record likelihood (`--checkpoint`), and the zero-shot detector from a
//! language model's likelihood and GLTR rank shares (`--zero-shot`). The model crate scores the
//! records through the common experiment interface.

use std::path::Path;

use anyhow::{Context, Result};
use candle_core::Device;
use gan_core::experiment::{Experiment, RankShares, ScoreRequest};
use gan_core::{Checkpoint, DeviceChoice};
use socgan_audit::audit::sample_indices;
use socgan_audit::canaries::{exposures, CanarySet, CANARIES_FILE};
use socgan_audit::roc::{auc, auc_interval};

use crate::experiments::Registry;
use crate::run::load_checkpoint;

/// A checkpoint and the experiment that scores records under its model.
pub struct Scorer<'a> {
    experiment: &'a dyn Experiment,
    path: &'a Path,
    checkpoint: Checkpoint,
    device: Device,
}

impl<'a> Scorer<'a> {
    pub fn open(registry: &'a Registry, path: &'a Path, device: DeviceChoice) -> Result<Self> {
        let device = device.open()?;
        let (tag, checkpoint) = load_checkpoint(path, false, &device)?;
        let experiment = registry
            .by_tag(&tag)
            .with_context(|| checkpoint.dir.display().to_string())?;
        Ok(Self {
            experiment,
            path,
            checkpoint,
            device,
        })
    }

    fn request<'r>(&'r self, records: &'r [String]) -> ScoreRequest<'r> {
        ScoreRequest {
            path: self.path,
            checkpoint: &self.checkpoint,
            records,
            device: &self.device,
        }
    }

    fn log_likelihoods(&self, records: &[String]) -> Result<Vec<f64>> {
        self.experiment
            .record_log_likelihoods(self.request(records))
            .map_err(anyhow::Error::from_boxed)
    }

    fn rank_shares(&self, records: &[String]) -> Result<Option<Vec<RankShares>>> {
        self.experiment
            .record_rank_shares(self.request(records))
            .map_err(anyhow::Error::from_boxed)
    }
}

/// Up to `size` of `records`, drawn from `seed`.
fn pick(records: &[String], size: usize, seed: u64) -> Vec<String> {
    sample_indices(records.len(), size.min(records.len()), seed)
        .into_iter()
        .map(|i| records[i].clone())
        .collect()
}

/// `name`: the AUC of `positive` over `negative` scores, with its bootstrap interval.
fn auc_with_interval(
    name: &str,
    positive: &[f64],
    negative: &[f64],
    seed: u64,
) -> [(String, f64); 3] {
    let (low, high) = auc_interval(positive, negative, seed).unwrap_or((f64::NAN, f64::NAN));
    [
        (
            name.to_string(),
            auc(positive, negative).unwrap_or(f64::NAN),
        ),
        (format!("{name}_low"), low),
        (format!("{name}_high"), high),
    ]
}

/// The zero-shot detector: up to `size` synthetic against as many held-out records by their
/// likelihood under the model and by their share of top-10 tokens.
pub fn zero_shot_measures(
    scorer: &Scorer,
    synthetic: &[String],
    holdout: &[String],
    size: usize,
    seed: u64,
) -> Result<Vec<(String, f64)>> {
    let (synthetic, holdout) = (
        pick(synthetic, size, seed ^ 3),
        pick(holdout, size, seed ^ 4),
    );
    let mut measures = auc_with_interval(
        "zero_shot_auc",
        &scorer.log_likelihoods(&synthetic)?,
        &scorer.log_likelihoods(&holdout)?,
        seed,
    )
    .to_vec();
    let top10 = |shares: Vec<RankShares>| shares.iter().map(|s| s.top10).collect::<Vec<_>>();
    if let (Some(synthetic), Some(holdout)) = (
        scorer.rank_shares(&synthetic)?,
        scorer.rank_shares(&holdout)?,
    ) {
        measures.extend(auc_with_interval(
            "gltr_top10_auc",
            &top10(synthetic),
            &top10(holdout),
            seed,
        ));
    }
    Ok(measures)
}

/// Membership inference (up to `size` training against as many held-out records) and, for a
/// run trained with canaries, their exposure.
pub fn model_measures(
    scorer: &Scorer,
    training: &[String],
    holdout: &[String],
    size: usize,
    seed: u64,
) -> Result<Vec<(String, f64)>> {
    let size = size.min(training.len()).min(holdout.len());
    let members = scorer.log_likelihoods(&pick(training, size, seed ^ 1))?;
    let outsiders = scorer.log_likelihoods(&pick(holdout, size, seed ^ 2))?;
    let mut measures = vec![(
        "membership_auc".to_string(),
        auc(&members, &outsiders).unwrap_or(f64::NAN),
    )];
    let checkpoint = &scorer.checkpoint;
    if checkpoint.dir.join(CANARIES_FILE).is_file() {
        let text = checkpoint.read_extra(CANARIES_FILE)?;
        let set: CanarySet = serde_json::from_str(&text)
            .with_context(|| checkpoint.dir.join(CANARIES_FILE).display().to_string())?;
        let exposure = exposures(
            &scorer.log_likelihoods(&set.canaries)?,
            &scorer.log_likelihoods(&set.candidates)?,
        );
        let mean = exposure.iter().sum::<f64>() / exposure.len().max(1) as f64;
        measures.extend([
            ("canaries".to_string(), set.canaries.len() as f64),
            ("canary_repeats".into(), set.repeats as f64),
            ("canary_exposure_mean".into(), mean),
            (
                "canary_exposure_max".into(),
                exposure.iter().copied().fold(0.0, f64::max),
            ),
            (
                "canary_exposure_possible".into(),
                ((set.candidates.len() + 1) as f64).log2(),
            ),
        ]);
    }
    Ok(measures)
}
