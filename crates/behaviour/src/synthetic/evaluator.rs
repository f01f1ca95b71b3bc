//! The behaviour generator's evaluation: its NLL of held-out users' histories, and a sample of
//! synthetic histories measured against the histories it learnt from (popularity, lengths,
//! copying; the measures of [`socgan_audit`], distances over sets of items). Beside them (`real/...`), once: the statistics of
//! as many histories drawn (with replacement) from the training ones, what a generator that
//! reproduced the real distribution would score at this sample size (the divergences shrink
//! with the sample, so only same-size figures compare).

use gan_core::{Metrics, SeededRng};
use socgan_data::TokenSequences;
use text_models::{SamplingConfig, SequenceEvaluator, SequenceGenerator};

use socgan_audit::copies::exact_copy_rate;
use socgan_audit::divergence::{jensen_shannon, ks_distance, token_distribution};
use socgan_audit::privacy::distance_to_closest;

use crate::synthetic::HistoryCodec;
use crate::Result;

/// Metric names (logged under `test/`).
pub mod metric_names {
    pub const NLL_GEN: &str = "nll_gen";
    pub const POPULARITY_JSD: &str = "popularity_jsd";
    pub const LENGTH_KS: &str = "length_ks";
    pub const MEAN_LENGTH: &str = "mean_length";
    pub const EMPTY_RATE: &str = "empty_rate";
    pub const DISTINCT_ITEMS: &str = "distinct_items";
    /// Share of the generator's training histories longer than `max_items` (cut to their newest
    /// items): the statistics compare with the cut histories, which is all a generator of
    /// `max_items` can reproduce.
    pub const TRUNCATED_SHARE: &str = "truncated_share";
    pub const COPY_RATE: &str = "copy_rate";
    pub const CLOSER_TO_TRAINING: &str = "dcr/closer_to_training";
    pub const CLOSER_LOW: &str = "dcr/closer_to_training_low";
    pub const CLOSER_HIGH: &str = "dcr/closer_to_training_high";
    pub const DCR_PROTECTION: &str = "dcr/overfitting_protection";
    /// Real (training) histories resampled to the synthetic sample size, measured the same way.
    pub const REAL_PREFIX: &str = "real/";
}

use metric_names as m;

pub struct BehaviourEvaluator {
    codec: HistoryCodec,
    /// The generator's training histories (truncated as it sees them).
    training: Vec<Vec<u32>>,
    /// As many training histories as held-out ones, for the distance comparison.
    training_sample: Vec<Vec<u32>>,
    holdout: Vec<Vec<u32>>,
    holdout_rows: TokenSequences,
    samples: usize,
    sampling: SamplingConfig,
    /// The statistics of real histories at the same sample size (computed once).
    real: Metrics,
}

impl BehaviourEvaluator {
    /// `training` and `holdout`: non-empty histories; `samples` synthetic ones per evaluation.
    pub fn new(
        codec: HistoryCodec,
        training: &[Vec<u32>],
        holdout: &[Vec<u32>],
        samples: usize,
        seed: u64,
    ) -> Result<Self> {
        if training.is_empty() || holdout.is_empty() {
            return Err(crate::Error::Config(format!(
                "the audit needs training and held-out histories ({} and {} given)",
                training.len(),
                holdout.len()
            )));
        }
        let truncated_share = training
            .iter()
            .filter(|h| h.len() > codec.max_items)
            .count() as f64
            / training.len().max(1) as f64;
        let truncate = |hs: &[Vec<u32>]| -> Vec<Vec<u32>> {
            hs.iter().map(|h| codec.truncate(h).to_vec()).collect()
        };
        let training = truncate(training);
        let holdout = truncate(holdout);
        let order = SeededRng::derive(seed, "dcr-training-sample", 0).permutation(training.len());
        let training_sample = order
            .iter()
            .take(holdout.len())
            .map(|&i| training[i].clone())
            .collect();
        let mut evaluator = Self {
            codec,
            holdout_rows: codec.encode(&holdout)?,
            training,
            training_sample,
            holdout,
            samples,
            sampling: SamplingConfig::default(),
            real: Metrics::new(),
        };
        let mut draw = SeededRng::derive(seed, "real-floor", 0);
        let resampled: Vec<Vec<u32>> = (0..samples)
            .map(|_| evaluator.training[draw.below(evaluator.training.len())].clone())
            .collect();
        evaluator.real = evaluator
            .statistics(&resampled)
            .into_iter()
            .map(|(k, v)| (format!("{}{k}", m::REAL_PREFIX), v))
            .collect();
        evaluator
            .real
            .insert(m::TRUNCATED_SHARE.into(), truncated_share);
        Ok(evaluator)
    }

    /// The statistics and copying measures of `synthetic` histories against the training ones.
    pub fn measure(&self, synthetic: &[Vec<u32>]) -> Metrics {
        let kept: Vec<Vec<u32>> = synthetic
            .iter()
            .filter(|h| !h.is_empty())
            .cloned()
            .collect();
        // Distances between sets of items (1-grams): the copy audit's unit since it was first
        // reported.
        let dcr = distance_to_closest(&kept, &self.training_sample, &self.holdout, 1);
        let mut metrics = self.statistics(&kept);
        metrics.extend([
            (
                m::EMPTY_RATE.to_string(),
                1.0 - kept.len() as f64 / synthetic.len().max(1) as f64,
            ),
            (m::COPY_RATE.into(), exact_copy_rate(&kept, &self.training)),
            (m::CLOSER_TO_TRAINING.into(), dcr.closer_to_training),
            (m::CLOSER_LOW.into(), dcr.low),
            (m::CLOSER_HIGH.into(), dcr.high),
            (m::DCR_PROTECTION.into(), dcr.overfitting_protection()),
        ]);
        metrics
    }

    /// Popularity, length and coverage of non-empty `histories` against the training ones.
    fn statistics(&self, kept: &[Vec<u32>]) -> Metrics {
        let n = self.codec.num_items;
        let lengths = |hs: &[Vec<u32>]| hs.iter().map(Vec::len).collect::<Vec<_>>();
        let mut distinct: Vec<u32> = kept.iter().flatten().copied().collect();
        distinct.sort_unstable();
        distinct.dedup();
        Metrics::from([
            (
                m::POPULARITY_JSD.to_string(),
                jensen_shannon(
                    &token_distribution(kept, n),
                    &token_distribution(&self.training, n),
                ),
            ),
            (
                m::LENGTH_KS.into(),
                ks_distance(&lengths(kept), &lengths(&self.training)),
            ),
            (
                m::MEAN_LENGTH.into(),
                lengths(kept).iter().sum::<usize>() as f64 / kept.len().max(1) as f64,
            ),
            (m::DISTINCT_ITEMS.into(), distinct.len() as f64),
        ])
    }

    /// Synthetic histories: `n` rows from `generator`, decoded.
    pub fn generate(
        &self,
        generator: &SequenceGenerator,
        n: usize,
        rng: &mut SeededRng,
    ) -> Result<Vec<Vec<u32>>> {
        Ok(self
            .codec
            .decode(&generator.sample(n, &self.sampling, rng)?))
    }
}

impl SequenceEvaluator for BehaviourEvaluator {
    fn evaluate(
        &mut self,
        generator: &SequenceGenerator,
        rng: &mut SeededRng,
    ) -> text_models::Result<Metrics> {
        let synthetic = self
            .generate(generator, self.samples, rng)
            .map_err(|e| text_models::Error::Config(e.to_string()))?;
        let mut metrics = self.measure(&synthetic);
        metrics.insert(m::NLL_GEN.into(), generator.mean_nll(&self.holdout_rows)?);
        metrics.extend(self.real.clone());
        Ok(metrics)
    }

    fn set_sampling(&mut self, sampling: SamplingConfig) {
        self.sampling = sampling;
    }
}
