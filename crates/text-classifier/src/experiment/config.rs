//! The config of a classifier run (`task = "text_classifier"`): data and the labelled fraction,
//! encoder, method, the networks' shape, schedule and optimizers. Defaults follow GAN-BERT's
//! PyTorch port (batch 64, noise 100, dropout 0.1, one hidden layer each, AdamW betas
//! (0.9, 0.999)); the learning rates are for heads over frozen vectors and a CNN trained from
//! scratch (GAN-BERT's 5e-5 is for fine-tuning BERT), the generator's a tenth of the
//! discriminator's.

use std::num::NonZeroU64;
use std::path::PathBuf;

use gan_core::trainer::plan::DEFAULT_DIVERGENCE_FACTOR;
use gan_core::{AdamConfig, Goal, OptimizerSpec, PhaseSpec, RunConfig, Selection, TrainerConfig};
use serde::{Deserialize, Serialize};
use socgan_data::posts::Normalizer;

use crate::baseline::tfidf::TfidfConfig;
use crate::encoder::EncoderConfig;
use crate::metrics::Score;
use crate::ssgan::{GanShape, Head};
use crate::task::{metric_names, names, ClassifierUpdate, Method};

gan_core::task_tag!(
    /// The `task` tag of a classifier config: `task = "text_classifier"`.
    ClassifierTag,
    TextClassifier,
    "text_classifier"
);

/// How a file's posts and labels are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileLayout {
    /// By extension: `*_text.txt` is TweetEval's paired files, `.csv` / `.tsv` / `.jsonl` /
    /// `.parquet` read `text_field` and `label_field`.
    #[default]
    Auto,
    /// GAN-BERT's question files: a header, then `LABEL text` per line.
    LabelFirst,
}

/// Which posts, and how they are split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierData {
    /// The benchmark's name (`sentiment`, `emotion`, `irony`, `trec`, ...): names the run's
    /// score unless `score` is set.
    #[serde(default)]
    pub name: String,
    pub train: PathBuf,
    /// Labelled validation posts; without them the run trains a fixed number of epochs and
    /// selects nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<PathBuf>,
    pub test: PathBuf,
    /// Extra unlabelled posts (their labels, if any, are ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlabelled: Option<PathBuf>,
    #[serde(default)]
    pub layout: FileLayout,
    #[serde(default = "default_text_field")]
    pub text_field: String,
    #[serde(default = "default_label_field")]
    pub label_field: String,
    /// The delimiter of CSV-like files, one ASCII character (`";"`); by default `.csv` files
    /// have theirs sniffed from the header and `.tsv` files use tabs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// Replace invalid UTF-8 instead of failing.
    #[serde(default)]
    pub lossy: bool,
}

fn default_text_field() -> String {
    "text".into()
}
fn default_label_field() -> String {
    "label".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    pub epochs: u64,
    /// At least this many updates: a labelled-only run on 1% of the labels has a few batches
    /// per epoch and would stop after a few dozen updates (evaluation then comes every
    /// `min_steps / 20` updates, at least once per epoch).
    pub min_steps: u64,
    pub batch_size: usize,
    /// Stop when the validation score has not improved for this many evaluations.
    pub patience: Option<u64>,
    /// Save a resumable checkpoint this many updates apart between evaluations (default: at
    /// each evaluation). A fine-tuned encoder's epoch is hours of CPU, and a run killed
    /// mid-epoch would otherwise restart it.
    pub checkpoint_every: Option<NonZeroU64>,
    pub log_every: u64,
    pub divergence_factor: Option<f64>,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            min_steps: 5000,
            batch_size: 64,
            patience: None,
            checkpoint_every: None,
            log_every: 50,
            divergence_factor: Some(DEFAULT_DIVERGENCE_FACTOR),
        }
    }
}

fn adam(lr: f64) -> AdamConfig {
    AdamConfig {
        lr,
        beta1: 0.9,
        beta2: 0.999,
        ..AdamConfig::default()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    pub discriminator: AdamConfig,
    pub generator: AdamConfig,
    /// A trainable encoder's optimizer (it steps on the discriminator's loss).
    pub encoder: AdamConfig,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            discriminator: adam(1e-3),
            // A tenth of D's rate: at equal rates the generator overpowers the discriminator on
            // frozen sentence vectors and the classifier stops learning (TweetEval sentiment at
            // 10%, MiniLM: validation macro-recall 0.43 after two epochs at 1e-4 / 1e-4, 0.36 at
            // 1e-3 / 1e-3, 0.64 at 1e-3 / 1e-4).
            generator: adam(1e-4),
            encoder: adam(1e-3),
        }
    }
}

/// How a run learns: a neural classifier (the GAN or its labelled-only baseline, through the
/// trainer), or the TF-IDF + logistic-regression baseline (fitted directly).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RunMethod {
    /// The semi-supervised GAN with the given discriminator head.
    Gan { head: Head },
    /// The same encoder and head trained on the labelled posts only.
    LabelledOnly,
    /// TF-IDF features and a logistic regression on the labelled posts (no encoder).
    TfidfLogistic,
}

impl RunMethod {
    /// The neural method, `None` for the TF-IDF baseline.
    pub fn neural(self) -> Option<Method> {
        match self {
            RunMethod::Gan { head } => Some(Method::Gan { head }),
            RunMethod::LabelledOnly => Some(Method::LabelledOnly),
            RunMethod::TfidfLogistic => None,
        }
    }

    pub fn name(self) -> &'static str {
        self.neural().map_or("tfidf_logistic", Method::name)
    }
}

/// The detection protocol's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionConfig {
    /// The label of the posts to detect, by name (`fake`, `machine`): the positive class of
    /// ROC-AUC, PR-AUC and the decision threshold. (A two-class run without `[detection]`
    /// treats the second class of the label map as positive.)
    pub positive_class: String,
    /// The column or field naming who wrote each post (`human`, a bot, a generator): the test
    /// report gives accuracy per source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_field: Option<String>,
    /// Leave one source out: train and validate without this source's posts, test on them and
    /// on every real (not positive) post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_source: Option<String>,
}

/// A classifier run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    pub task: ClassifierTag,
    #[serde(default)]
    pub seed: u64,
    pub out_dir: PathBuf,
    pub data: ClassifierData,
    /// Share of the training posts whose labels are kept (stratified, drawn per seed; the rest
    /// are unlabelled). The validation posts are cut to the same share, so a few-label run never
    /// selects its checkpoint on labels it would not have.
    #[serde(default = "one")]
    pub labelled_fraction: f64,
    /// The official score; by default the benchmark's (`data.name`), else accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Score>,
    /// The detection protocol (`[detection]`): a two-class run that tells fake or machine-made
    /// posts from real ones, scored by weighted F1 unless `score` says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<DetectionConfig>,
    #[serde(default)]
    pub encoder: EncoderConfig,
    #[serde(default = "default_method")]
    pub method: RunMethod,
    /// The TF-IDF baseline's settings (`method = { kind = "tfidf_logistic" }`).
    #[serde(default)]
    pub tfidf: TfidfConfig,
    #[serde(default)]
    pub gan: GanShape,
    #[serde(default)]
    pub normalize: Normalizer,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub optim: OptimConfig,
}

fn one() -> f64 {
    1.0
}

fn default_method() -> RunMethod {
    RunMethod::Gan {
        head: Head::KPlusOne,
    }
}

impl RunConfig for ClassifierConfig {
    const TASK: &'static str = ClassifierTag::TAG;

    fn out_dir(&self) -> &std::path::Path {
        &self.out_dir
    }

    fn validate(&self) -> gan_core::Result<()> {
        let bail = |m: &str| Err(gan_core::Error::Config(m.to_string()));
        if let Some(d) = self.data.delimiter {
            if !d.is_ascii() || d.is_ascii_alphanumeric() || d == '"' || d == '\n' {
                return bail("data.delimiter must be one ASCII punctuation or whitespace character, such as \";\" or \"\\t\"");
            }
        }
        if let Some(d) = &self.detection {
            if d.held_out_source.is_some() && d.source_field.is_none() {
                return bail("detection.held_out_source needs detection.source_field, the column naming each post's source");
            }
            if d.source_field.as_deref() == Some(self.data.text_field.as_str())
                || d.source_field.as_deref() == Some(self.data.label_field.as_str())
            {
                return bail(
                    "detection.source_field must name a column other than the text and the label",
                );
            }
        }
        if !(self.labelled_fraction > 0.0 && self.labelled_fraction <= 1.0) {
            return bail("labelled_fraction must be in (0, 1]");
        }
        if self.schedule.epochs == 0 || self.schedule.batch_size == 0 {
            return bail("schedule.epochs and schedule.batch_size must be positive");
        }
        if !(0.0..1.0).contains(&self.gan.dropout) || self.gan.noise_dim == 0 {
            return bail("gan.dropout must be in [0, 1) and gan.noise_dim positive");
        }
        match &self.encoder {
            EncoderConfig::Cnn(cnn) => cnn.validate()?,
            EncoderConfig::Minilm(m) | EncoderConfig::MinilmFinetuned(m)
                if m.max_seq_length < 2 || m.batch_size == 0 =>
            {
                return bail("encoder.max_seq_length must be at least 2 ([CLS] and [SEP]) and encoder.batch_size positive");
            }
            EncoderConfig::Minilm(_) | EncoderConfig::MinilmFinetuned(_) => {}
        }
        let c_positive = self.tfidf.c > 0.0;
        if !c_positive || self.tfidf.iterations == 0 || self.tfidf.max_features == 0 {
            return bail(
                "tfidf.c must be positive, tfidf.iterations and tfidf.max_features at least 1",
            );
        }
        for (name, a) in [
            ("discriminator", &self.optim.discriminator),
            ("generator", &self.optim.generator),
            ("encoder", &self.optim.encoder),
        ] {
            a.validate(name)?;
        }
        Ok(())
    }
}

impl ClassifierConfig {
    /// The index of the positive class among `class_names` (see
    /// [`DetectionConfig::positive_class`]); an error naming the labels when the config names
    /// one that is not there, or when a detection run has other than two classes.
    pub fn positive_class_index(&self, class_names: &[String]) -> crate::Result<usize> {
        let Some(detection) = &self.detection else {
            return Ok(1.min(class_names.len().saturating_sub(1)));
        };
        let name = &detection.positive_class;
        if class_names.len() != 2 {
            return Err(crate::Error::Config(format!(
                "detection tells two classes apart; the labels are {} ({})",
                class_names.len(),
                class_names.join(", ")
            )));
        }
        class_names.iter().position(|n| n == name).ok_or_else(|| {
            crate::Error::Config(format!(
                "detection.positive_class `{name}` is not among the labels ({})",
                class_names.join(", ")
            ))
        })
    }

    /// The run's score: the config's, else weighted F1 for detection, else the benchmark's.
    pub fn score(&self) -> Score {
        match (&self.score, &self.detection) {
            (Some(score), _) => score.clone(),
            (None, Some(_)) => Score::WeightedF1,
            (None, None) => Score::for_benchmark(&self.data.name),
        }
    }

    /// One phase of `epochs` epochs, evaluated (and checkpointed) once per epoch; selection of
    /// the best checkpoint by the validation score when there are validation posts.
    pub fn trainer_config(
        &self,
        method: Method,
        batches_per_epoch: u64,
        has_validation: bool,
        trainable_encoder: bool,
    ) -> TrainerConfig<ClassifierUpdate> {
        let s = &self.schedule;
        let update = match method {
            Method::Gan { .. } => ClassifierUpdate::Adversarial,
            Method::LabelledOnly => ClassifierUpdate::Supervised,
        };
        let mut optimizers = vec![OptimizerSpec::new(
            names::DISCRIMINATOR,
            names::DISCRIMINATOR,
            self.optim.discriminator.clone(),
        )];
        if matches!(method, Method::Gan { .. }) {
            optimizers.push(OptimizerSpec::new(
                names::GENERATOR,
                names::GENERATOR,
                self.optim.generator.clone(),
            ));
        }
        if trainable_encoder {
            optimizers.push(OptimizerSpec::new(
                names::ENCODER,
                names::ENCODER,
                self.optim.encoder.clone(),
            ));
        }
        let steps = s.epochs.saturating_mul(batches_per_epoch).max(s.min_steps);
        let eval_every = batches_per_epoch.max(s.min_steps / 20).min(steps);
        TrainerConfig {
            phases: vec![PhaseSpec {
                name: "train".into(),
                steps,
                round: vec![(update, 1)],
                eval_every,
                checkpoint_every: s.checkpoint_every.map_or(eval_every, NonZeroU64::get),
            }],
            optimizers,
            selection: has_validation.then(|| Selection {
                metric: format!("val/{}", metric_names::SCORE),
                goal: Goal::Max,
                patience: s.patience,
            }),
            log_every: s.log_every,
            keep_checkpoints: 1,
            divergence_factor: s.divergence_factor,
            ..TrainerConfig::new(self.seed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gan_core::config::ConfigTable;

    const MINIMAL: &str = r#"
task = "text_classifier"
out_dir = "runs/x"
data = { name = "sentiment", train = "a_text.txt", test = "b_text.txt" }
"#;

    fn parse(overrides: &[&str]) -> gan_core::Result<ClassifierConfig> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        ClassifierConfig::from_table(ConfigTable::parse(MINIMAL, "test.toml")?.with_overrides(&o)?)
    }

    #[test]
    fn defaults_round_trip_and_bad_settings_are_refused() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.score(), Score::MacroRecall);
        assert_eq!(c.schedule.batch_size, 64);
        assert_eq!(
            ClassifierConfig::parse(&c.to_toml().unwrap(), "saved").unwrap(),
            c
        );
        let minilm = parse(&["encoder={ kind = \"minilm\", model = \"/m\" }"]).unwrap();
        assert!(
            matches!(minilm.encoder, EncoderConfig::Minilm(ref m) if m.model == "/m" && m.max_seq_length == 256)
        );
        assert_eq!(
            ClassifierConfig::parse(&minilm.to_toml().unwrap(), "saved").unwrap(),
            minilm
        );
        let salimans = parse(&["method={ kind = \"gan\", head = \"fixed_fake_logit\" }"]).unwrap();
        assert_eq!(salimans.method.name(), "gan_salimans");
        let err = parse(&["labelled_fraction=0"]).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid setting: test.toml: labelled_fraction must be in (0, 1]"
        );
        let err = parse(&["nope=1"]).unwrap_err().to_string();
        assert!(err.contains("unknown field `nope`"), "{err}");
        let err = parse(&["encoder={ kind = \"cnn\", max_len = 2 }"]).unwrap_err();
        assert!(err.to_string().contains("width"), "{err}");
        let err = parse(&["encoder={ kind = \"minilm\", nope = 1 }"]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn detection_names_its_positive_class_and_sources() {
        let c = parse(&["detection={ positive_class = \"fake\" }"]).unwrap();
        assert_eq!(c.score(), Score::WeightedF1);
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            c.positive_class_index(&names(&["fake", "real"])).unwrap(),
            0
        );
        let err = c.positive_class_index(&names(&["a", "b"])).unwrap_err();
        assert!(
            err.to_string()
                .contains("`fake` is not among the labels (a, b)"),
            "{err}"
        );
        let err = c
            .positive_class_index(&names(&["fake", "real", "satire"]))
            .unwrap_err();
        assert!(err.to_string().contains("two classes"), "{err}");
        let err = parse(&["detection={ positive_class = \"fake\", held_out_source = \"seqgan\" }"])
            .unwrap_err();
        assert!(
            err.to_string().contains("needs detection.source_field"),
            "{err}"
        );
        let err = parse(&["detection={ positive_class = \"fake\", source_field = \"text\" }"])
            .unwrap_err();
        assert!(err.to_string().contains("other than the text"), "{err}");
        let c = parse(&["detection={ positive_class = \"fake\", source_field = \"source\", held_out_source = \"seqgan\" }"]).unwrap();
        assert_eq!(
            ClassifierConfig::parse(&c.to_toml().unwrap(), "saved").unwrap(),
            c
        );
    }

    #[test]
    fn checkpoints_come_at_each_evaluation_unless_set_closer() {
        let phase = |c: &ClassifierConfig| {
            let t = c.trainer_config(Method::LabelledOnly, 700, true, false);
            (t.phases[0].eval_every, t.phases[0].checkpoint_every)
        };
        let c = parse(&["schedule.epochs=2", "schedule.min_steps=0"]).unwrap();
        assert_eq!(phase(&c), (700, 700));
        let c = parse(&["schedule.min_steps=0", "schedule.checkpoint_every=100"]).unwrap();
        assert_eq!(phase(&c), (700, 100));
        let err = parse(&["schedule.checkpoint_every=0"]).unwrap_err();
        assert!(err.to_string().contains("checkpoint_every"), "{err}");
    }
}
