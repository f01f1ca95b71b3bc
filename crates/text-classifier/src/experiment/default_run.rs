//! The config of a run without a file (`socgan train --task text-classifier --dataset ...`):
//! a TweetEval folder (`train_text.txt` ...), GAN-BERT's TREC folder (`labeled.tsv` ...), a
//! named data set from the hub cache (`tweet_eval/sentiment`), or a labelled file with `--test`.

use std::path::{Path, PathBuf};

use gan_core::config::ConfigTable;

use crate::experiment::args::{ClassifierTrainArgs, EncoderArg};
use crate::{Error, Result};

/// Train / validation / test / unlabelled files and the benchmark's name.
struct Files {
    name: String,
    train: PathBuf,
    validation: Option<PathBuf>,
    test: PathBuf,
    unlabelled: Option<PathBuf>,
    label_first: bool,
    /// A named data set's text and label columns (`tweet`, `label` for Constraint).
    text_field: Option<String>,
    label_field: Option<String>,
}

fn files(dataset: &str, test: Option<&Path>) -> Result<Files> {
    let path = Path::new(dataset);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if path.join("train_text.txt").is_file() {
        let val = path.join("val_text.txt");
        return Ok(Files {
            name,
            train: path.join("train_text.txt"),
            validation: val.is_file().then_some(val),
            test: path.join("test_text.txt"),
            unlabelled: None,
            label_first: false,
            text_field: None,
            label_field: None,
        });
    }
    if path.join("labeled.tsv").is_file() {
        return Ok(Files {
            name: "trec".into(),
            train: path.join("labeled.tsv"),
            validation: None,
            test: path.join("test.tsv"),
            unlabelled: Some(path.join("unlabeled.tsv")).filter(|p| p.is_file()),
            label_first: true,
            text_field: None,
            label_field: None,
        });
    }
    if path.is_file() {
        let test = test.ok_or_else(|| {
            Error::Config(format!(
                "--dataset {dataset}: a single file needs --test FILE (labelled posts to score)"
            ))
        })?;
        return Ok(Files {
            name: path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            train: path.to_path_buf(),
            validation: None,
            test: test.to_path_buf(),
            unlabelled: None,
            label_first: false,
            text_field: None,
            label_field: None,
        });
    }
    let named = socgan_data::datasets::training_files(dataset)?;
    let first = |files: Option<Vec<PathBuf>>| files.and_then(|f| f.into_iter().next());
    Ok(Files {
        name: dataset.rsplit('/').next().unwrap_or(dataset).to_string(),
        train: first(Some(named.train)).unwrap_or_default(),
        validation: first(named.validation),
        test: first(named.test)
            .ok_or_else(|| Error::Config(format!("{dataset}: the data set has no test split")))?,
        unlabelled: None,
        label_first: false,
        text_field: Some(named.text_field),
        label_field: named.label_field,
    })
}

fn quoted(p: &Path) -> String {
    toml::Value::String(p.display().to_string()).to_string()
}

/// The TOML of the default run.
pub fn table(
    dataset: Option<&str>,
    test: Option<&Path>,
    args: &ClassifierTrainArgs,
) -> Result<ConfigTable> {
    let dataset = dataset.ok_or_else(|| {
        Error::Config(
            "no config: pass --config FILE, or --dataset (a TweetEval folder, GAN-BERT's TREC folder, tweet_eval/<task>, or a labelled file with --test)".into(),
        )
    })?;
    let f = files(dataset, test)?;
    // A named data set knows its columns; --label-field still wins when given.
    let label_field = match &f.label_field {
        Some(named) if args.label_field == "label" => named,
        _ => &args.label_field,
    };
    let mut data = format!(
        "name = {:?}\ntrain = {}\ntest = {}\nlabel_field = {:?}\n",
        f.name,
        quoted(&f.train),
        quoted(&f.test),
        label_field
    );
    if let Some(text_field) = &f.text_field {
        data.push_str(&format!("text_field = {text_field:?}\n"));
    }
    if let Some(v) = args.validation.as_ref().or(f.validation.as_ref()) {
        data.push_str(&format!("validation = {}\n", quoted(v)));
    }
    if let Some(u) = args.unlabelled.as_ref().or(f.unlabelled.as_ref()) {
        data.push_str(&format!("unlabelled = {}\n", quoted(u)));
    }
    if f.label_first {
        data.push_str("layout = \"label_first\"\n");
    }
    let encoder = match (args.encoder, &args.encoder_model) {
        (EncoderArg::Cnn, _) => "{ kind = \"cnn\" }".to_string(),
        (pretrained, model) => {
            let kind = match pretrained {
                EncoderArg::MinilmFinetuned => "minilm_finetuned",
                _ => "minilm",
            };
            match model {
                Some(m) => format!("{{ kind = \"{kind}\", model = {m:?} }}"),
                None => format!("{{ kind = \"{kind}\" }}"),
            }
        }
    };
    let method = args.method.toml();
    let slug = format!(
        "{}-{}-{}-{}pct",
        f.name,
        args.encoder_name(),
        args.method_name(),
        args.labelled_fraction * 100.0
    );
    let text = format!(
        "task = \"text_classifier\"\nout_dir = \"runs/{slug}\"\nlabelled_fraction = {}\nencoder = {encoder}\nmethod = {method}\n[schedule]\nepochs = {}\n[data]\n{data}",
        args.labelled_fraction, args.epochs
    );
    Ok(ConfigTable::parse(&text, "default classifier run")?)
}

impl ClassifierTrainArgs {
    fn encoder_name(&self) -> &'static str {
        match self.encoder {
            EncoderArg::Cnn => "cnn",
            EncoderArg::Minilm => "minilm",
            EncoderArg::MinilmFinetuned => "minilm_finetuned",
        }
    }

    fn method_name(&self) -> &'static str {
        match self.method {
            crate::experiment::args::MethodArg::GanBert => "gan_bert",
            crate::experiment::args::MethodArg::GanSalimans => "gan_salimans",
            crate::experiment::args::MethodArg::LabelledOnly => "labelled_only",
            crate::experiment::args::MethodArg::TfidfLogistic => "tfidf_logistic",
        }
    }
}
