//! `socgan train` for a text GAN config: data, models, trainer, samples.

use candle_core::Device;
use gan_core::checkpoint::write_atomic;
use gan_core::config::ConfigTable;
use gan_core::run_dir::{self, Existing, Invocation};
use gan_core::{AdversarialLoss, Checkpoint, RunOptions, RunOutcome, SeededRng, Task, Trainer};
use socgan_data::datasets::training_files;

use crate::experiment::args::TextTrainArgs;
use crate::experiment::config::RunConfig;
use crate::experiment::data::{self, Prepared};
use crate::experiment::{write_samples, TASK};
use crate::{CnnDiscriminator, Error, Result, SamplingConfig, TextGan};

/// Trains the run `table` (or, with only a data set, a default MLE run) describes, with
/// `overrides` applied last; `dataset` (a file or a named data set) replaces its data files.
pub fn train(
    table: Option<ConfigTable>,
    overrides: &[String],
    dataset: Option<&str>,
    args: &TextTrainArgs,
    invocation: &Invocation,
) -> Result<RunOutcome> {
    let dataset =
        match dataset {
            Some(name) => {
                let mut files = training_files(name)?;
                if let Some(test) = &args.test {
                    files.test = Some(vec![test.clone()]);
                }
                Some(files)
            }
            None if table.is_none() => return Err(Error::Config(
                "no config: pass --config FILE, or --dataset NAME_OR_FILE for a default MLE run"
                    .into(),
            )),
            None => None,
        };
    let mut overrides = overrides.to_vec();
    if args.lossy {
        overrides.push("data.lossy=true".to_string());
    }
    let mut config = RunConfig::load_for_training(table, dataset.as_ref(), &overrides)?;
    if matches!(config.loss, AdversarialLoss::WganGp { .. }) {
        // The gradient penalty differentiates a gradient: candle keeps that graph only with this
        // set before the first backward pass of the thread (nothing has run one yet).
        std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    }
    let run_dir = config.out_dir.clone();
    run_dir::check(&run_dir, invocation.existing)?;
    let device = data::device()?;
    // A resumed text run keeps the tokenizer it was trained with.
    let saved_tokenizer = run_dir.join("tokenizer.json");
    let keep_tokenizer = (invocation.existing == Existing::Resume && saved_tokenizer.is_file())
        .then_some(saved_tokenizer.as_path());
    // Data and init errors surface here, before anything in the run directory is touched.
    let prepared = data::prepare(&mut config, &device, keep_tokenizer)?;
    let batches_per_epoch = prepared.train.rows.batches_per_epoch(config.batch_size) as u64;
    let init = init_checkpoint(&config, batches_per_epoch, &device)?;
    if let (Some(ckpt), Some(map)) = (&init, &prepared.label_map) {
        check_same_classes(ckpt, map)?;
    }
    run_dir::clear_for(&run_dir, invocation.existing)?;

    let config_toml = config.to_toml()?;
    write_atomic(&run_dir.join("config.toml"), config_toml.as_bytes())?;
    let mut checkpoint_files = vec![("config.toml".to_string(), config_toml)];
    let tokenizer = prepared.tokenizer.clone();
    if let Some(tok) = &tokenizer {
        let json = tok.to_json()?;
        write_atomic(&saved_tokenizer, json.as_bytes())?;
        checkpoint_files.push(("tokenizer.json".to_string(), json));
    }
    let label_map = prepared.label_map.clone();
    if let Some(map) = &label_map {
        let json = serde_json::to_string_pretty(map).expect("label map serialises");
        write_atomic(&run_dir.join(LABELS_FILE), json.as_bytes())?;
        checkpoint_files.push((LABELS_FILE.to_string(), json));
    }
    let mut task = build_task(&config, prepared, &device)?;
    if let Some(ckpt) = &init {
        data::load_generator(&task.generator, ckpt)?;
    }
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
            if device.is_cpu() { "cpu" } else { "cuda" },
            counts.join(" / "),
            run_dir.display()
        );
    }
    let options = RunOptions {
        quiet: invocation.quiet,
        resume: invocation.existing == Existing::Resume,
        halt_after: invocation.halt_after,
        task: TASK.to_string(),
        config_json: serde_json::to_value(&config).map_err(|e| Error::Config(e.to_string()))?,
        checkpoint_files,
    };
    let outcome = Trainer::new(config.trainer_config(batches_per_epoch), &run_dir, options)?
        .run(&mut task)?;
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

/// The label map file of a class-conditional run and its checkpoints.
pub const LABELS_FILE: &str = "labels.json";

/// 1,000 samples beside the run: `samples.txt`, or `samples-<class>.txt` per class.
fn write_final_samples(
    generator: &crate::LstmGenerator,
    config: &RunConfig,
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
    config: &RunConfig,
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
    )
}

/// The checkpoint `init_from` (and `init_from_epoch`) name.
fn init_checkpoint(
    config: &RunConfig,
    batches_per_epoch: u64,
    device: &Device,
) -> Result<Option<Checkpoint>> {
    let Some(init) = &config.init_from else {
        return Ok(None);
    };
    let path = match config.init_from_epoch {
        None => init.clone(),
        Some(epoch) => {
            let step = epoch * batches_per_epoch;
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
    let path = ckpt.dir.join("tokenizer.json");
    path.is_file().then_some(path)
}

/// The config saved beside a checkpoint.
pub(crate) fn checkpoint_config(ckpt: &Checkpoint) -> Result<RunConfig> {
    let text = ckpt.read_extra("config.toml")?;
    RunConfig::parse(&text, &ckpt.dir.join("config.toml").display().to_string())
}
