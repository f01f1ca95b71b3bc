//! The command-line flags of classifier runs, included by the `socgan` binary beside its own.

use std::path::PathBuf;

/// The encoder of a run without a config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EncoderArg {
    /// A CNN over word-level tokens, trained with the classifier.
    Cnn,
    /// all-MiniLM-L6-v2, frozen (vectors cached).
    Minilm,
    /// all-MiniLM-L6-v2, fine-tuned with the classifier.
    MinilmFinetuned,
}

/// How a run without a config learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// GAN-BERT's K+1 discriminator.
    GanBert,
    /// Salimans et al.'s K logits with the fake logit fixed at 0.
    GanSalimans,
    /// The same encoder and head on the labelled posts only.
    LabelledOnly,
    /// TF-IDF + logistic regression on the labelled posts (no encoder).
    TfidfLogistic,
}

impl MethodArg {
    pub fn toml(self) -> &'static str {
        match self {
            MethodArg::GanBert => "{ kind = \"gan\", head = \"k_plus_one\" }",
            MethodArg::GanSalimans => "{ kind = \"gan\", head = \"fixed_fake_logit\" }",
            MethodArg::LabelledOnly => "{ kind = \"labelled_only\" }",
            MethodArg::TfidfLogistic => "{ kind = \"tfidf_logistic\" }",
        }
    }
}

/// `socgan train --task text-classifier` flags of runs without a config file.
#[derive(clap::Args, Clone, Debug)]
pub struct ClassifierTrainArgs {
    /// Share of the training labels kept (stratified per class, drawn with the seed).
    #[arg(long, default_value_t = 1.0)]
    pub labelled_fraction: f64,
    /// Extra unlabelled posts for the GAN (any format; labels in it are ignored).
    #[arg(long)]
    pub unlabelled: Option<PathBuf>,
    /// Labelled validation posts (default: the data set's validation split, if it has one).
    #[arg(long)]
    pub validation: Option<PathBuf>,
    /// Sentence encoder.
    #[arg(long, value_enum, default_value_t = EncoderArg::Cnn)]
    pub encoder: EncoderArg,
    /// The pretrained encoder: a directory with config.json, tokenizer.json and
    /// model.safetensors, or a hub model id in the cache.
    #[arg(long)]
    pub encoder_model: Option<String>,
    #[arg(long, value_enum, default_value_t = MethodArg::GanBert)]
    pub method: MethodArg,
    #[arg(long, default_value_t = 10)]
    pub epochs: u64,
    /// Label column or field of CSV / JSONL / Parquet files.
    #[arg(long, default_value = "label")]
    pub label_field: String,
}

/// `socgan eval` flags of classifier runs.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ClassifierEvalArgs {
    /// Classifier runs: score these labelled posts instead of the run's test file.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// `socgan predict`: label every post of a file with a classifier checkpoint.
#[derive(clap::Args, Clone, Debug)]
pub struct PredictArgs {
    /// Classifier checkpoint: a run directory (its best checkpoint if it has one, else the
    /// latest) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Posts to label: text (one per line), CSV/TSV, JSONL or Parquet.
    #[arg(long)]
    pub input: PathBuf,
    /// Column or field holding the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    #[arg(long)]
    pub lossy: bool,
    /// Write here (atomically; `.csv` or `.jsonl`) instead of CSV on standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// `socgan data embed`: sentence vectors of every post of a file.
#[derive(clap::Args, Clone, Debug)]
pub struct EmbedArgs {
    pub file: PathBuf,
    /// A directory with config.json, tokenizer.json and model.safetensors, or a hub id in the
    /// cache.
    #[arg(long, default_value = "sentence-transformers/all-MiniLM-L6-v2")]
    pub model: String,
    #[arg(long, default_value = "text")]
    pub text_field: String,
    #[arg(long)]
    pub lossy: bool,
    /// Which BERT computes the vectors: the frozen encoder's or the fine-tuned encoder's.
    #[arg(long, value_enum, default_value = "frozen")]
    pub implementation: crate::experiment::BertImplementation,
    /// Write here (atomically) instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}
