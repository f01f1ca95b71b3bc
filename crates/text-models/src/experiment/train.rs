//! `socgan train` for a text GAN config: data, models, trainer, samples.

use candle_core::Device;
use gan_core::experiment::TrainRequest;
use gan_core::run_dir::{Existing, Invocation, RunFile, RunFolder};
use gan_core::{Checkpoint, RunConfig, RunOutcome, SeededRng, Task};
use socgan_data::datasets::training_files;

use crate::experiment::args::TextTrainArgs;
use crate::experiment::config::TextGanConfig;
use crate::experiment::data::{self, Prepared};
use crate::experiment::write_samples;
use crate::{CnnDiscriminator, Error, Result, SamplingConfig, TextGan};

/// The config of `socgan train`: `--config` (or, with only a data set, a default MLE run) with
/// the data set's files in place of its own and the overrides applied last.
pub fn resolve_config(request: &TrainRequest<'_>, args: &TextTrainArgs) -> Result<TextGanConfig> {
    let dataset =
        match request.dataset.as_deref() {
            Some(name) => {
                let mut files = training_files(name)?;
                if let Some(test) = &request.test {
                    files.test = Some(vec![test.clone()]);
                }
                Some(files)
            }
            None if request.config.is_none() => return Err(Error::Config(
                "no config: pass --config FILE, or --dataset NAME_OR_FILE for a default MLE run"
                    .into(),
            )),
            None => None,
        };
    let mut overrides = request.overrides.clone();
    if args.lossy {
        overrides.push("data.lossy=true".to_string());
    }
    TextGanConfig::load_for_training(request.config.clone(), dataset.as_ref(), &overrides)
}

/// Trains the run `config` describes.
pub fn train(mut config: TextGanConfig, invocation: &Invocation) -> Result<RunOutcome> {
    let folder = RunFolder::claim(config.out_dir(), invocation)?;
    let device = &invocation.device;
    // A resumed text run keeps the tokenizer it was trained with.
    let saved_tokenizer = folder.dir().join(TOKENIZER_FILE);
    let keep_tokenizer = (invocation.existing == Existing::Resume && saved_tokenizer.is_file())
        .then_some(saved_tokenizer.as_path());
    // Data and init errors surface here, before anything in the run directory is touched.
    let prepared = data::prepare(&mut config, device, keep_tokenizer)?;
    let batches_per_epoch = prepared.train.rows.batches_per_epoch(config.batch_size) as u64;
    let init = init_checkpoint(&config, batches_per_epoch, device)?;
    if let (Some(ckpt), Some(map)) = (&init, &prepared.label_map) {
        check_same_classes(ckpt, map)?;
    }
    let mut files = Vec::new();
    let tokenizer = prepared.tokenizer.clone();
    if let Some(tok) = &tokenizer {
        files.push(RunFile::beside_run(TOKENIZER_FILE, tok.to_json()?));
    }
    if let Some(canaries) = &prepared.canaries {
        let json = serde_json::to_string_pretty(canaries)
            .map_err(|e| Error::Config(format!("canaries as JSON: {e}")))?;
        files.push(RunFile::beside_run(CANARIES_FILE, json));
    }
    let label_map = prepared.label_map.clone();
    if let Some(map) = &label_map {
        let json = serde_json::to_string_pretty(map)
            .map_err(|e| Error::Config(format!("label map as JSON: {e}")))?;
        files.push(RunFile::beside_run(LABELS_FILE, json));
    }
    let mut task = build_task(&config, prepared, device)?;
    if let Some(ckpt) = &init {
        data::load_generator(&task.generator, ckpt)?;
    }
    let launch = folder.begin(&config, files, invocation)?;
    if !invocation.quiet {
        let counts: Vec<String> = task
            .groups()
            .iter()
            .filter_map(|g| match g {
                gan_core::ParamGroup::Trained { name, params } => {
                    Some(format!("{} {name}", params.num_parameters()))
                }
                gan_core::ParamGroup::Frozen { .. } => None,
            })
            .collect();
        eprintln!(
            "socgan: {} on {} ({} parameters) -> {}",
            config.algorithm.name(),
            gan_core::host::device_name(device),
            counts.join(" / "),
            launch.dir().display()
        );
    }
    let outcome = launch.train(config.trainer_config(batches_per_epoch), &mut task)?;
    if outcome.completed {
        write_final_samples(
            &task.generator,
            &config,
            label_map.as_ref(),
            tokenizer.as_ref(),
        )?;
    }
    Ok(outcome)
}

pub use socgan_audit::canaries::CANARIES_FILE;

/// The tokenizer file of a text run, beside the run and in every checkpoint.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// The label map file of a class-conditional run and its checkpoints.
pub const LABELS_FILE: &str = "labels.json";

/// 1,000 samples beside the run: `samples.txt`, or `samples-<class>.txt` per class.
fn write_final_samples(
    generator: &crate::SequenceGenerator,
    config: &TextGanConfig,
    label_map: Option<&socgan_data::labels::LabelMap>,
    tokenizer: Option<&socgan_data::tokenizer::TextTokenizer>,
) -> Result<()> {
    let mut rng = SeededRng::derive(config.seed, "samples", 0);
    let sampling = SamplingConfig::default();
    match label_map {
        None => {
            let samples = generator.sample(1000, &sampling, &mut rng)?;
            let path = config.out_dir.join("samples.txt");
            write_samples(&samples, tokenizer, Some(&path))
        }
        Some(map) => {
            for (class, name) in map.names().iter().enumerate() {
                let samples =
                    generator.sample_given(1000, Some(class as u32), &sampling, &mut rng)?;
                // Only letters, digits, `-` and `_` of the label name reach the file name.
                let safe: String = name
                    .chars()
                    .map(|c| {
                        if c.is_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let path = config.out_dir.join(format!("samples-{safe}.txt"));
                write_samples(&samples, tokenizer, Some(&path))?;
            }
            Ok(())
        }
    }
}

/// The generator, the discriminator the algorithm needs (none for MLE), and the data.
fn build_task(
    config: &TextGanConfig,
    data: Prepared,
    device: &Device,
) -> Result<TextGan<Box<dyn crate::SequenceEvaluator>>> {
    let generator = data::generator(config, device)?;
    let discriminator = match config.algorithm.adversarial() {
        None => None,
        Some(_) => Some(CnnDiscriminator::with_outputs(
            config.discriminator.clone(),
            config.generator.vocab_size,
            config.generator.seq_len,
            // CatGAN's discriminator has a logit per class.
            if config.algorithm.needs_classes() {
                config.generator.classes
            } else {
                1
            },
            device,
            &mut SeededRng::derive(config.seed, "init", 1),
        )?),
    };
    TextGan::new(
        generator,
        discriminator,
        &config.algorithm,
        config.loss.clone(),
        data.train,
        config.batch_size,
        data.evaluator,
    )?
    .with_discriminator_data(config.schedule.discriminator_data.clone())
}

/// The checkpoint `init_from` (and `init_from_epoch`) name.
fn init_checkpoint(
    config: &TextGanConfig,
    batches_per_epoch: u64,
    device: &Device,
) -> Result<Option<Checkpoint>> {
    let Some(init) = &config.init_from else {
        return Ok(None);
    };
    let path = match config.init_from_epoch {
        None => init.clone(),
        Some(epoch) => {
            let step = epoch.saturating_mul(batches_per_epoch);
            let dir = init.join("checkpoints").join(format!("step-{step:08}"));
            if !dir.is_dir() {
                return Err(Error::Config(format!(
                    "init_from {}: no checkpoint at the end of epoch {epoch} (step {step}); was it trained on the same data and batch size, keeping that checkpoint?",
                    init.display()
                )));
            }
            dir
        }
    };
    let ckpt = Checkpoint::load(&path, device)
        .map_err(|e| Error::Config(format!("init_from {}: {e}", init.display())))?;
    Ok(Some(ckpt))
}

/// A conditional run starting from `ckpt` gives each class the gate it had there.
fn check_same_classes(ckpt: &Checkpoint, map: &socgan_data::labels::LabelMap) -> Result<()> {
    let saved: socgan_data::labels::LabelMap = ckpt
        .read_extra(LABELS_FILE)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| {
            Error::Config(format!(
                "init_from {}: not a class-conditional run (no {LABELS_FILE})",
                ckpt.dir.display()
            ))
        })?;
    if saved.names() != map.names() {
        return Err(Error::Config(format!(
            "init_from {}: its classes are {}, this run's {}",
            ckpt.dir.display(),
            saved.names().join(", "),
            map.names().join(", ")
        )));
    }
    Ok(())
}

/// The tokenizer saved beside a text run's checkpoint, if any.
pub(crate) fn checkpoint_tokenizer(ckpt: &Checkpoint) -> Option<std::path::PathBuf> {
    let path = ckpt.dir.join(TOKENIZER_FILE);
    path.is_file().then_some(path)
}
