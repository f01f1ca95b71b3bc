//! `socgan train` for a classifier: posts, the few-label cut, encoding, networks, trainer; then
//! the best (or, without validation posts, the last) checkpoint's test report and confusion
//! matrix beside the run.

use candle_core::Device;
use gan_core::experiment::TrainRequest;
use gan_core::run_dir::{Invocation, RunFile, RunFolder};
use gan_core::{RunConfig, RunOutcome, SeededRng};
use socgan_data::labels::LabelMap;

use crate::encoder::bert::read_config;
use crate::encoder::{CnnEncoder, Encoder, EncoderConfig, TrainableBert};
use crate::experiment::args::ClassifierTrainArgs;
use crate::experiment::config::ClassifierConfig;
use crate::experiment::data::{read_posts, RunPosts};
use crate::experiment::encoding::{TextEncoding, TOKENIZER_FILE};
use crate::experiment::{default_run, report};
use crate::ssgan::{FeatureGenerator, Head, KPlusOneDiscriminator};
use crate::task::{ClassifierNets, ClassifierTask, LabelledInputs, Method, TrainingPosts};
use crate::{Error, Result};

/// The label map file of a run and its checkpoints.
pub const LABELS_FILE: &str = "labels.json";

/// The config of `socgan train`: `--config` (or the default run of `--dataset` and the flags)
/// with the overrides applied last.
pub fn resolve_config(
    request: &TrainRequest<'_>,
    args: &ClassifierTrainArgs,
) -> Result<ClassifierConfig> {
    let table = match &request.config {
        Some(t) => t.clone(),
        None => default_run::table(request.dataset.as_deref(), request.test.as_deref(), args)?,
    };
    Ok(ClassifierConfig::from_table(
        table.with_overrides(&request.overrides)?,
    )?)
}

/// Trains the run `config` describes.
pub fn train(config: ClassifierConfig, invocation: &Invocation) -> Result<RunOutcome> {
    let folder = RunFolder::claim(config.out_dir(), invocation)?;
    let device = &invocation.device;
    // Data and encoder errors surface before anything in the run directory is touched.
    let posts = read_posts(&config)?;
    config.score().validate(posts.map.names())?;
    let Some(method) = config.method.neural() else {
        return crate::experiment::tfidf_run::run(&config, &posts, folder, invocation);
    };
    // A CNN's tokenizer learns from every training post, labelled or not.
    let texts: Vec<String> = posts
        .labelled
        .texts
        .iter()
        .chain(&posts.unlabelled)
        .cloned()
        .collect();
    let encoding = TextEncoding::for_new_run(&config.encoder, &texts, device, invocation.quiet)?;
    let mut task = build_task(&config, method, &posts, &encoding, device)?;
    let labels_json = serde_json::to_string_pretty(&posts.map)
        .map_err(|e| Error::Config(format!("label map as JSON: {e}")))?;
    let mut files = vec![RunFile::in_checkpoints(LABELS_FILE, labels_json)];
    if let Some(tokenizer) = encoding.tokenizer() {
        files.push(RunFile::in_checkpoints(
            TOKENIZER_FILE,
            tokenizer.to_json()?,
        ));
    }
    let launch = folder.begin(&config, files, invocation)?;
    if !invocation.quiet {
        eprintln!(
            "socgan: {} classifier, {} encoder, {} labelled / {} unlabelled training posts ({} classes, {}% labelled) -> {}",
            config.method.name(),
            config.encoder.name(),
            posts.labelled.len(),
            posts.unlabelled.len(),
            posts.map.num_classes(),
            config.labelled_fraction * 100.0,
            launch.dir().display()
        );
    }
    let trainer_config = config.trainer_config(
        method,
        task.batches_per_epoch(),
        task.validation.is_some(),
        task.nets.encoder.params().is_some(),
    );
    let run_dir = launch.dir().to_path_buf();
    let outcome = launch.train(trainer_config, &mut task)?;
    if outcome.completed {
        report::write_run_report(&run_dir, device)?;
    }
    Ok(outcome)
}

/// The networks of `config` for `classes` classes, vectors of `feature_dim` (frozen encoders)
/// or a CNN over `vocab_size` token ids; initialised from the run seed.
pub fn build_nets(
    config: &ClassifierConfig,
    method: Method,
    classes: usize,
    encoding: &TextEncoding,
    device: &Device,
) -> Result<ClassifierNets> {
    let init = |i| SeededRng::derive(config.seed, "init", i);
    let (encoder, feature_dim) = match (&config.encoder, encoding) {
        (EncoderConfig::Cnn(cnn), TextEncoding::Tokens { tokenizer, .. }) => (
            Encoder::Cnn(CnnEncoder::new(
                cnn,
                tokenizer.vocab_size(),
                device,
                &mut init(0),
            )?),
            cnn.feature_dim(),
        ),
        (EncoderConfig::Minilm(_), TextEncoding::Frozen { model, .. }) => {
            (Encoder::Frozen { dim: model.dim }, model.dim)
        }
        (EncoderConfig::MinilmFinetuned(_), TextEncoding::PretrainedTokens { model_dir, .. }) => {
            let bert = TrainableBert::load(
                &read_config(model_dir)?,
                &model_dir.join("model.safetensors"),
                device,
            )?;
            let dim = bert.dim;
            (Encoder::Bert(Box::new(bert)), dim)
        }
        _ => {
            return Err(Error::Config(
                "the encoding does not match the encoder".into(),
            ))
        }
    };
    let (head, generator) = match method {
        Method::Gan { head } => (
            head,
            Some(FeatureGenerator::new(
                &config.gan,
                feature_dim,
                device,
                &mut init(2),
            )?),
        ),
        // The baseline's head has the K class outputs only.
        Method::LabelledOnly => (Head::FixedFakeLogit, None),
    };
    let discriminator = KPlusOneDiscriminator::new(
        &config.gan,
        feature_dim,
        classes,
        head,
        device,
        &mut init(1),
    )?;
    Ok(ClassifierNets {
        encoder,
        discriminator,
        generator,
    })
}

fn build_task(
    config: &ClassifierConfig,
    method: Method,
    posts: &RunPosts,
    encoding: &TextEncoding,
    device: &Device,
) -> Result<ClassifierTask> {
    let mut texts = posts.labelled.texts.clone();
    let mut labels: Vec<Option<u32>> = posts.labelled.labels.iter().map(|&l| Some(l)).collect();
    let gan = matches!(method, Method::Gan { .. });
    if gan {
        texts.extend(posts.unlabelled.iter().cloned());
        labels.extend(std::iter::repeat_n(None, posts.unlabelled.len()));
    }
    let inputs = encoding.encode_from_pool(&posts.train_pool, &texts, "training posts", device)?;
    // GAN-BERT repeats the labelled rows by the share of labelled rows among all training rows
    // (TREC: 109 of 5,452, so 5 times).
    let repeats = if gan {
        let share =
            posts.labelled.len() as f64 / (posts.labelled.len() + posts.unlabelled.len()) as f64;
        TrainingPosts::label_repeats(share)
    } else {
        1
    };
    let train = TrainingPosts::new(inputs, labels, repeats, gan);
    let labelled = |p: &socgan_data::labels::LabelledPosts,
                    pool: &[String],
                    what: &str|
     -> Result<LabelledInputs> {
        Ok(LabelledInputs {
            inputs: encoding.encode_from_pool(pool, &p.texts, what, device)?,
            labels: p.labels.clone(),
        })
    };
    let validation = match (&posts.validation, &posts.validation_pool) {
        (Some(v), Some(pool)) => Some(labelled(v, pool, "validation posts")?),
        _ => None,
    };
    let test = labelled(&posts.test, &posts.test.texts, "test posts")?;
    Ok(ClassifierTask {
        nets: build_nets(config, method, posts.map.num_classes(), encoding, device)?,
        train,
        validation,
        test,
        batch_size: config.schedule.batch_size,
        score: config.score(),
        positive: config.positive_class_index(posts.map.names())?,
        class_names: posts.map.names().to_vec(),
        epoch_order: None,
    })
}

/// The label map saved in a checkpoint (checked as any label map is: at least two distinct
/// classes).
pub fn checkpoint_labels(ckpt: &gan_core::Checkpoint) -> Result<LabelMap> {
    Ok(LabelMap::load(&ckpt.dir.join(LABELS_FILE))?)
}
