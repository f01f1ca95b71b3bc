//! The classifier experiment: what `socgan train / predict / eval` do for a run whose config says
//! `task = "text_classifier"`.

pub mod args;
pub mod bench;
pub mod config;
pub mod confusion_chart;
pub mod data;
mod default_run;
mod embed;
pub mod encoding;
mod predict;
pub mod reliability_chart;
pub mod report;
pub mod saved;
pub mod sources;
mod tfidf_run;
mod train;

use std::path::{Path, PathBuf};

use candle_core::Device;
use clap::{Args, Command, FromArgMatches};
use gan_core::checkpoint::Pick;
use gan_core::experiment::{
    BenchRequest, CommandPlace, CommandRequest, EvalRequest, Experiment, ExperimentResult,
    GenerateRequest, TrainRequest,
};
use gan_core::{Checkpoint, RunOutcome};
use serde_json::Value;

pub use embed::{embed_file, BertImplementation};
pub use predict::predict;
pub use train::{resolve_config, train};

use crate::experiment::args::{ClassifierEvalArgs, ClassifierTrainArgs, EmbedArgs, PredictArgs};
use crate::experiment::config::ClassifierTag;

/// The task tag of classifier configs and checkpoints.
pub const TASK: &str = ClassifierTag::TAG;

/// `task = "text_classifier"`: the semi-supervised GAN classifier and its baselines; it adds
/// `socgan predict` and `socgan data embed`.
pub struct ClassifierExperiment;

impl Experiment for ClassifierExperiment {
    fn task(&self) -> &'static str {
        TASK
    }

    fn about(&self) -> &'static str {
        "text classification: few-label (the semi-supervised GAN classifier and its baselines), and the detection protocol for fake or machine-made posts ([detection]: positive class, sources, leave-one-source-out)"
    }

    fn checkpoint_files(&self) -> &'static [&'static str] {
        &[train::LABELS_FILE, encoding::TOKENIZER_FILE]
    }

    fn train_flags(&self, command: Command) -> Command {
        ClassifierTrainArgs::augment_args(command)
    }

    fn eval_flags(&self, command: Command) -> Command {
        ClassifierEvalArgs::augment_args(command)
    }

    fn train(&self, request: TrainRequest<'_>) -> ExperimentResult<RunOutcome> {
        let args = ClassifierTrainArgs::from_arg_matches(request.flags)?;
        let config = resolve_config(&request, &args)?;
        Ok(train(config, &request.invocation)?)
    }

    fn generate(&self, request: GenerateRequest<'_>) -> ExperimentResult<()> {
        let path = request.path.display();
        Err(format!(
            "{path}: a classifier run generates nothing; label posts with `socgan predict --checkpoint {path} --input FILE`"
        )
        .into())
    }

    fn eval(&self, request: EvalRequest<'_>) -> ExperimentResult<Vec<Value>> {
        let args = ClassifierEvalArgs::from_arg_matches(request.flags)?;
        Ok(eval(
            &request.checkpoints,
            args.data.as_deref(),
            &request.device,
        )?)
    }

    fn workloads(&self) -> &'static [&'static str] {
        &bench::WORKLOADS
    }

    fn bench(&self, request: BenchRequest) -> ExperimentResult<Value> {
        Ok(bench::run(
            &request.workload,
            request.repeats,
            &request.device,
        )?)
    }

    fn commands(&self) -> Vec<(CommandPlace, Command)> {
        vec![
            (
                CommandPlace::TopLevel,
                PredictArgs::augment_args(Command::new("predict")).about(
                    "Label every post of a file with a classifier checkpoint (label and class probabilities per post, input order kept; CSV, or JSONL by the output's extension)",
                ),
            ),
            (
                CommandPlace::Data,
                EmbedArgs::augment_args(Command::new("embed")).about(
                    "Sentence vectors of every post of a file from a pretrained BERT sentence encoder (all-MiniLM-L6-v2 by default; mean pooling, L2 normalisation), one JSON line per post",
                ),
            ),
        ]
    }

    fn run_command(&self, request: CommandRequest<'_>) -> ExperimentResult<()> {
        match request.name {
            "predict" => {
                let args = PredictArgs::from_arg_matches(request.matches)?;
                let ckpt = Checkpoint::load_pick(
                    &args.checkpoint,
                    Pick::best_if_kept(&args.checkpoint),
                    &request.device,
                )?;
                if gan_core::trainer::checkpoint_task(&ckpt)?.0 != TASK {
                    return Err(format!(
                        "{}: not a classifier run; predict labels posts with a classifier (task {TASK})",
                        args.checkpoint.display()
                    )
                    .into());
                }
                Ok(predict(
                    &ckpt,
                    &args.input,
                    &args.text_field,
                    args.lossy,
                    args.output.as_deref(),
                    &request.device,
                )?)
            }
            "embed" => {
                let args = EmbedArgs::from_arg_matches(request.matches)?;
                Ok(embed_file(
                    &args.file,
                    &args.text_field,
                    args.lossy,
                    &args.model,
                    args.implementation,
                    args.output.as_deref(),
                    &request.device,
                )?)
            }
            other => Err(format!("{TASK} has no command `{other}`").into()),
        }
    }
}

/// `socgan eval` of classifier checkpoints: the score and per-class report on the run's test
/// posts (or on `data`), the confusion matrix written beside each run; one JSON line each.
pub fn eval(
    checkpoints: &[(PathBuf, Checkpoint)],
    data: Option<&Path>,
    device: &Device,
) -> crate::Result<Vec<serde_json::Value>> {
    let mut lines = Vec::new();
    for (path, ckpt) in checkpoints {
        let saved = saved::SavedClassifier::load(ckpt, device, false)?;
        let result = report::evaluate(&saved, data, device)?;
        eprint!("{}", result.report);
        let run_dir = if path.join("checkpoints").is_dir() || path.join("config.toml").is_file() {
            path.clone()
        } else {
            ckpt.dir.clone()
        };
        // Training wrote the selected checkpoint's chart; an evaluation writes its own.
        let chart = run_dir.join(report::EVAL_CONFUSION_CHART);
        confusion_chart::write_confusion_chart(
            &chart,
            &result.matrix,
            saved.map.names(),
            &format!(
                "{} ({})",
                saved.config.method.name(),
                saved.config.encoder.name()
            ),
        )?;
        eprintln!("socgan: confusion matrix written to {}", chart.display());
        let mut json = result.json;
        json["checkpoint"] = serde_json::Value::String(path.display().to_string());
        lines.push(json);
    }
    Ok(lines)
}
