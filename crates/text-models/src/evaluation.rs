//! Evaluation of a generator during and after training.

use gan_core::{Metrics, SeededRng};
use socgan_data::TokenSequences;

use crate::{LstmGenerator, Oracle, Result, SamplingConfig};

/// Scores a generator; called by the training loop at its evaluation points.
pub trait SequenceEvaluator {
    fn evaluate(&mut self, generator: &LstmGenerator, rng: &mut SeededRng) -> Result<Metrics>;
}

/// The synthetic-oracle protocol (SeqGAN, LeakGAN, RelGAN Table 1):
/// - `nll_oracle`: the oracle's mean per-token NLL of `num_samples` generator samples;
/// - `nll_gen`: the generator's mean per-token NLL of held-out oracle samples (a NLL_oracle far
///   below the floor with a rising NLL_gen is mode collapse, not success);
/// - `nll_oracle_floor`: the oracle's NLL of its own held-out samples (RelGAN's "Real", 5.750).
pub struct OracleEvaluator {
    pub oracle: Oracle,
    pub held_out: TokenSequences,
    pub num_samples: usize,
    floor: Option<f64>,
}

impl OracleEvaluator {
    pub fn new(oracle: Oracle, held_out: TokenSequences, num_samples: usize) -> Self {
        Self {
            oracle,
            held_out,
            num_samples,
            floor: None,
        }
    }
}

impl SequenceEvaluator for OracleEvaluator {
    fn evaluate(&mut self, generator: &LstmGenerator, rng: &mut SeededRng) -> Result<Metrics> {
        let samples = generator.sample(self.num_samples, &SamplingConfig::default(), rng)?;
        let floor = match self.floor {
            Some(f) => f,
            None => *self.floor.insert(self.oracle.nll(&self.held_out)?),
        };
        Ok(Metrics::from([
            ("nll_oracle".to_string(), self.oracle.nll(&samples)?),
            ("nll_gen".to_string(), generator.mean_nll(&self.held_out)?),
            ("nll_oracle_floor".to_string(), floor),
        ]))
    }
}
