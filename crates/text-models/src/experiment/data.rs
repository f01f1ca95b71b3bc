//! Building a run from its config: the oracle and its samples, or real text read, normalised,
//! tokenised and encoded; the evaluator of each protocol; the generator.

use std::path::Path;

use candle_core::Device;
use gan_core::{Checkpoint, SeededRng};
use socgan_audit::canaries::CanarySet;
use socgan_data::labels::LabelMap;
use socgan_data::tokenizer::TextTokenizer;
use socgan_data::TokenSequences;

use crate::algorithms::names;
use crate::algorithms::TrainingRows;
use crate::evaluation::ToWords;
use crate::experiment::config::{CanaryConfig, DataConfig, OracleSource, TextGanConfig};
use crate::experiment::posts::{check_every_class, Posts, ReadSettings};
use crate::{
    ClassTextEvaluator, Error, GeneratorConfig, Oracle, OracleEvaluator, Result, SequenceEvaluator,
    SequenceGenerator, TextEvaluator,
};

/// What a run trains on and how it is scored.
pub struct Prepared {
    pub train: TrainingRows,
    pub evaluator: Box<dyn SequenceEvaluator>,
    /// The tokenizer of a text run.
    pub tokenizer: Option<TextTokenizer>,
    /// The classes of a class-conditional run.
    pub label_map: Option<LabelMap>,
    /// The canaries planted in the training posts, if the config asks for them.
    pub canaries: Option<CanarySet>,
}

/// Builds the data and evaluator of `config`. A text run trains its tokenizer (or loads
/// `tokenizer`, e.g. the one saved beside a checkpoint) and records the vocabulary size and
/// `<bos>` id in `config.generator`.
pub fn prepare(
    config: &mut TextGanConfig,
    device: &Device,
    tokenizer: Option<&Path>,
) -> Result<Prepared> {
    match config.data.clone() {
        DataConfig::Oracle { .. } => {
            let data = oracle_data(config, device)?;
            Ok(Prepared {
                train: data.train.into(),
                evaluator: Box::new(OracleEvaluator::new(
                    data.oracle,
                    data.test,
                    data.eval_samples,
                )),
                tokenizer: None,
                label_map: None,
                canaries: None,
            })
        }
        DataConfig::Text { .. } => prepare_text(config, tokenizer),
    }
}

fn prepare_text(config: &mut TextGanConfig, tokenizer: Option<&Path>) -> Result<Prepared> {
    let DataConfig::Text {
        train,
        test,
        holdout_fraction,
        text_field,
        label_field,
        lossy,
        normalize,
        tokenizer: tk,
        num_hypotheses,
        canaries,
    } = config.data.clone()
    else {
        return Err(Error::Config("not a text run".into()));
    };
    let first_file = train.paths()[0].display().to_string();
    let how = ReadSettings {
        text_field: &text_field,
        label_field: label_field.as_deref(),
        lossy,
        normalize: &normalize,
    };
    let mut train_posts = Posts::read(&train, &how, None)?;
    let test_posts = match &test {
        Some(files) => Posts::read(files, &how, train_posts.map.as_ref())?,
        None => {
            // File order, not a shuffle: the split does not depend on the seed, so runs with
            // different seeds are scored on the same posts.
            let held_out = ((train_posts.len() as f64 * holdout_fraction).round() as usize).max(1);
            if train_posts.len() < held_out + 1 {
                return Err(Error::Config(format!(
                    "{first_file}: too few posts ({}) to hold out a test set; pass a test file",
                    train_posts.len()
                )));
            }
            train_posts.split_off(held_out)
        }
    };
    if train_posts.is_empty() || test_posts.is_empty() {
        return Err(Error::Config(format!(
            "{first_file}: no non-empty posts to train or test on"
        )));
    }
    let canaries = canaries.map(|c| plant_canaries(&mut train_posts, &c, config.seed));
    if let Some(map) = &train_posts.map {
        check_every_class(&train_posts, map, &format!("{first_file} (training posts)"))?;
        check_every_class(&test_posts, map, "the test posts")?;
        config.generator.classes = map.num_classes();
    }
    let tok = match tokenizer.or(tk.pretrained.as_deref()) {
        Some(path) => TextTokenizer::load(path)?,
        None => TextTokenizer::train(
            train_posts.texts.iter(),
            tk.kind,
            tk.pre_tokenizer,
            tk.vocab_size,
            tk.min_frequency,
        )?,
    };
    config.generator.vocab_size = tok.vocab_size();
    config.generator.start_token = tok.bos_id();
    let seq_len = config.generator.seq_len;
    let encode = |texts: &[String]| -> Result<TokenSequences> {
        let mut ids = Vec::with_capacity(texts.len() * seq_len);
        for t in texts {
            ids.extend(tok.encode_fixed(t, seq_len)?);
        }
        Ok(TokenSequences::new(seq_len, ids)?)
    };
    let train = encode(&train_posts.texts)?;
    let test = encode(&test_posts.texts)?;
    let to_words = || -> ToWords {
        let decoder = tok.clone();
        Box::new(move |ids| {
            decoder
                .decode(ids)
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
    };
    let evaluator: Box<dyn SequenceEvaluator> = match (&train_posts.map, &test_posts.classes) {
        (Some(map), Some(classes)) => {
            let per_class = (0..map.num_classes() as u32)
                .map(|c| {
                    let rows: Vec<usize> =
                        (0..classes.len()).filter(|&i| classes[i] == c).collect();
                    let name = map.name(c).unwrap_or_default().to_string();
                    (
                        name,
                        TextEvaluator::new(test.select(&rows), to_words(), num_hypotheses),
                    )
                })
                .collect();
            Box::new(ClassTextEvaluator::new(per_class))
        }
        _ => Box::new(TextEvaluator::new(test, to_words(), num_hypotheses)),
    };
    Ok(Prepared {
        train: TrainingRows {
            rows: train,
            classes: train_posts.classes,
        },
        evaluator,
        tokenizer: Some(tok),
        label_map: train_posts.map,
        canaries,
    })
}

/// Draws the canaries of `config` from the form of `posts` (their lengths in words, their
/// words), seeded by the run's seed, and appends each `repeats` times to the training posts
/// (unlabelled: the config refuses canaries with labels).
fn plant_canaries(posts: &mut Posts, config: &CanaryConfig, seed: u64) -> CanarySet {
    let mut words: Vec<String> = posts
        .texts
        .iter()
        .flat_map(|t| t.split_whitespace().map(str::to_string))
        .collect();
    words.sort_unstable();
    words.dedup();
    let lengths: Vec<usize> = posts
        .texts
        .iter()
        .map(|t| t.split_whitespace().count())
        .collect();
    let mut rng = SeededRng::derive(seed, "canaries", 0);
    let set = CanarySet::draw(
        &words,
        &lengths,
        config.count,
        config.repeats,
        config.candidates,
        |n| rng.below(n),
    );
    for canary in &set.canaries {
        posts
            .texts
            .extend(std::iter::repeat_n(canary.clone(), config.repeats));
    }
    set
}

/// The oracle and its samples.
pub struct OracleData {
    pub oracle: Oracle,
    pub train: TokenSequences,
    pub test: TokenSequences,
    pub eval_samples: usize,
}

pub fn oracle_data(config: &TextGanConfig, device: &Device) -> Result<OracleData> {
    let DataConfig::Oracle {
        oracle,
        num_train,
        num_test,
        eval_samples,
        data_seed,
    } = &config.data
    else {
        return Err(Error::Config("not an oracle run".into()));
    };
    let g = &config.generator;
    let oracle = match oracle {
        OracleSource::Seqgan { path } => {
            let o = Oracle::load_seqgan(path, g.seq_len, device)?;
            let oc = o.config();
            if oc.vocab_size != g.vocab_size || g.start_token != 0 {
                return Err(Error::Config(format!(
                    "{}: the oracle's vocabulary is {}, but generator.vocab_size = {} (start_token must be 0)",
                    path.display(),
                    oc.vocab_size,
                    g.vocab_size
                )));
            }
            o
        }
        OracleSource::Random { seed } => {
            // TextGAN-PyTorch's oracle is an LSTM of the generator's sizes (embedding 32, hidden
            // 32), whatever the generator's core.
            let cfg = GeneratorConfig {
                embed_dim: 32,
                hidden_dim: 32,
                core: crate::CoreConfig::Lstm,
                ..g.clone()
            };
            Oracle::random(cfg, *seed, device)?
        }
    };
    let train = oracle.sample(
        *num_train,
        &mut SeededRng::derive(*data_seed, "oracle-data", 0),
    )?;
    let test = oracle.sample(
        *num_test,
        &mut SeededRng::derive(*data_seed, "oracle-data", 1),
    )?;
    Ok(OracleData {
        oracle,
        train,
        test,
        eval_samples: *eval_samples,
    })
}

/// A generator with the config's sizes, initialised from the run seed.
pub fn generator(config: &TextGanConfig, device: &Device) -> Result<SequenceGenerator> {
    SequenceGenerator::new(
        config.generator.clone(),
        device,
        &mut SeededRng::derive(config.seed, "init", 0),
    )
}

/// Loads the generator weights of a checkpoint into `generator`.
pub fn load_generator(generator: &SequenceGenerator, ckpt: &Checkpoint) -> Result<()> {
    generator
        .params()
        .load_with_prefix(&ckpt.tensors, &format!("{}.", names::GENERATOR), &ckpt.dir)
        .map_err(|e| Error::Config(format!("{e} (generator sizes must match the checkpoint's)")))
}
