//! Evaluation of a generator during and after training.

use gan_core::{Metrics, SeededRng};
use socgan_data::TokenSequences;

use crate::{Oracle, Result, SamplingConfig, SequenceGenerator};

/// The names of the metrics below (logged under `test/` by the trainer): the one place they
/// are spelled.
pub mod metric {
    /// The oracle's mean per-token NLL of generator samples.
    pub const NLL_ORACLE: &str = "nll_oracle";
    /// The generator's mean per-token NLL of held-out data.
    pub const NLL_GEN: &str = "nll_gen";
    /// The oracle's NLL of its own held-out samples.
    pub const NLL_ORACLE_FLOOR: &str = "nll_oracle_floor";
    /// BLEU-`n` of generated sentences against the test set.
    pub fn bleu(n: usize) -> String {
        format!("bleu{n}")
    }
    /// Self-BLEU-`n` of generated sentences against each other.
    pub fn self_bleu(n: usize) -> String {
        format!("self_bleu{n}")
    }
}

/// Scores a generator; called by the training loop at its evaluation points.
pub trait SequenceEvaluator {
    fn evaluate(&mut self, generator: &SequenceGenerator, rng: &mut SeededRng) -> Result<Metrics>;
    /// How generated samples are drawn (the temperature sweep of a quality-diversity curve).
    fn set_sampling(&mut self, sampling: SamplingConfig);
}

impl<T: SequenceEvaluator + ?Sized> SequenceEvaluator for Box<T> {
    fn evaluate(&mut self, generator: &SequenceGenerator, rng: &mut SeededRng) -> Result<Metrics> {
        (**self).evaluate(generator, rng)
    }
    fn set_sampling(&mut self, sampling: SamplingConfig) {
        (**self).set_sampling(sampling)
    }
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
    pub sampling: SamplingConfig,
    floor: Option<f64>,
}

impl OracleEvaluator {
    pub fn new(oracle: Oracle, held_out: TokenSequences, num_samples: usize) -> Self {
        Self {
            oracle,
            held_out,
            num_samples,
            sampling: SamplingConfig::default(),
            floor: None,
        }
    }
}

impl SequenceEvaluator for OracleEvaluator {
    fn evaluate(&mut self, generator: &SequenceGenerator, rng: &mut SeededRng) -> Result<Metrics> {
        let samples = generator.sample(self.num_samples, &self.sampling, rng)?;
        let floor = match self.floor {
            Some(f) => f,
            None => *self.floor.insert(self.oracle.nll(&self.held_out)?),
        };
        Ok(Metrics::from([
            (metric::NLL_ORACLE.to_string(), self.oracle.nll(&samples)?),
            (
                metric::NLL_GEN.to_string(),
                generator.mean_nll(&self.held_out)?,
            ),
            (metric::NLL_ORACLE_FLOOR.to_string(), floor),
        ]))
    }
    fn set_sampling(&mut self, sampling: SamplingConfig) {
        self.sampling = sampling;
    }
}

/// Turns a generated id sequence into the words BLEU compares (decoding, cutting at `<eos>`).
pub type ToWords = Box<dyn Fn(&[u32]) -> Vec<String> + Send>;

/// The real-text protocol (Texygen, RelGAN Table 2, TextGAN-PyTorch):
/// - `bleu{n}` for n = 2..5: mean NLTK sentence BLEU (method1 smoothing) of `num_hypotheses`
///   generated sentences against every test sentence;
/// - `self_bleu{n}`: each of those sentences against the others;
/// - `nll_gen`: the generator's mean NLL of the test sequences over all positions, padding
///   included, as the papers compute it.
pub struct TextEvaluator {
    test: TokenSequences,
    to_words: ToWords,
    references: socgan_audit::bleu::NgramIndex,
    words: socgan_audit::bleu::WordIds,
    pub num_hypotheses: usize,
    pub sampling: SamplingConfig,
}

impl TextEvaluator {
    pub fn new(test: TokenSequences, to_words: ToWords, num_hypotheses: usize) -> Self {
        let mut words = socgan_audit::bleu::WordIds::default();
        let references: Vec<Vec<u32>> = test
            .rows()
            .map(|row| words.encode(&to_words(row).join(" ")))
            .collect();
        // One index up to order 5 serves every BLEU order.
        let references = socgan_audit::bleu::NgramIndex::new(&references, 5);
        Self {
            test,
            to_words,
            references,
            words,
            num_hypotheses,
            sampling: SamplingConfig::default(),
        }
    }
}

impl TextEvaluator {
    /// BLEU-2..5 of `samples` against the test set and their Self-BLEU-2..5.
    pub fn score_samples(&mut self, samples: &TokenSequences) -> Metrics {
        let hypotheses: Vec<Vec<u32>> = samples
            .rows()
            .map(|row| self.words.encode(&(self.to_words)(row).join(" ")))
            .collect();
        let mut metrics = Metrics::new();
        let index = &self.references;
        for n in 2..=5 {
            let total: f64 = hypotheses
                .iter()
                .map(|h| index.sentence_bleu(h, n, None))
                .sum();
            metrics.insert(metric::bleu(n), total / hypotheses.len().max(1) as f64);
            metrics.insert(
                metric::self_bleu(n),
                socgan_audit::bleu::self_bleu(&hypotheses, n),
            );
        }
        metrics
    }

    /// The test sequences.
    pub fn test(&self) -> &TokenSequences {
        &self.test
    }
}

impl SequenceEvaluator for TextEvaluator {
    fn evaluate(&mut self, generator: &SequenceGenerator, rng: &mut SeededRng) -> Result<Metrics> {
        let samples = generator.sample(self.num_hypotheses, &self.sampling, rng)?;
        let mut metrics = self.score_samples(&samples);
        metrics.insert(metric::NLL_GEN.to_string(), generator.mean_nll(&self.test)?);
        Ok(metrics)
    }
    fn set_sampling(&mut self, sampling: SamplingConfig) {
        self.sampling = sampling;
    }
}

/// The real-text protocol per class, for a class-conditional generator (CatGAN's evaluation):
/// for each class, `num_hypotheses` posts generated for that class are scored by BLEU against
/// that class's test posts and by Self-BLEU among themselves, and the generator's NLL of the
/// class's test posts given the class. Logged as `<class>/bleu3` and so on, with the mean over
/// classes under the plain names.
pub struct ClassTextEvaluator {
    classes: Vec<(String, TextEvaluator)>,
}

impl ClassTextEvaluator {
    /// One evaluator per class name, in class-id order.
    pub fn new(classes: Vec<(String, TextEvaluator)>) -> Self {
        Self { classes }
    }
}

impl SequenceEvaluator for ClassTextEvaluator {
    fn evaluate(&mut self, generator: &SequenceGenerator, rng: &mut SeededRng) -> Result<Metrics> {
        let mut metrics = Metrics::new();
        let mut sums = Metrics::new();
        for (class, (name, evaluator)) in self.classes.iter_mut().enumerate() {
            let class = Some(class as u32);
            let samples = generator.sample_given(
                evaluator.num_hypotheses,
                class,
                &evaluator.sampling,
                rng,
            )?;
            let mut scores = evaluator.score_samples(&samples);
            scores.insert(
                metric::NLL_GEN.to_string(),
                generator.mean_nll_given(evaluator.test(), class)?,
            );
            for (key, value) in scores {
                *sums.entry(key.clone()).or_insert(0.0) += value;
                metrics.insert(format!("{name}/{key}"), value);
            }
        }
        let k = self.classes.len().max(1) as f64;
        for (key, total) in sums {
            metrics.insert(key, total / k);
        }
        Ok(metrics)
    }
    fn set_sampling(&mut self, sampling: SamplingConfig) {
        for (_, e) in &mut self.classes {
            e.sampling = sampling.clone();
        }
    }
}
