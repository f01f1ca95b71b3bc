//! The model crates the binary dispatches to, by the `task` tag of a config or checkpoint. Adding
//! a model crate adds a variant here and one arm per command in `main.rs`.

use anyhow::{anyhow, bail, Result};
use gan_core::config::ConfigTable;

/// A task tag the binary knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TaskKind {
    /// Token-sequence GANs (MLE, SeqGAN, RelGAN) on the synthetic oracle or real text.
    TextGan,
    /// Image GANs (DCGAN, the MLP GAN) on MNIST or a folder of images.
    ImageGan,
    /// Few-label text classification: the semi-supervised GAN classifier and its baselines.
    TextClassifier,
    /// Next-item prediction and recommendation from interaction logs (SASRec, GRU4Rec,
    /// popularity).
    Behaviour,
    /// Behaviour-sequence GANs (items as tokens) for augmentation and synthetic logs.
    BehaviourGan,
}

impl TaskKind {
    pub const ALL: [TaskKind; 5] = [
        TaskKind::TextGan,
        TaskKind::ImageGan,
        TaskKind::TextClassifier,
        TaskKind::Behaviour,
        TaskKind::BehaviourGan,
    ];

    pub fn tag(self) -> &'static str {
        match self {
            TaskKind::TextGan => text_models::experiment::TASK,
            TaskKind::ImageGan => image_models::experiment::TASK,
            TaskKind::TextClassifier => text_classifier::experiment::TASK,
            TaskKind::Behaviour => behaviour::experiment::TASK,
            TaskKind::BehaviourGan => behaviour::experiment::GAN_TASK,
        }
    }

    pub fn from_tag(tag: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.tag() == tag)
            .ok_or_else(|| anyhow!("unknown task `{tag}` (tasks: {})", Self::tags()))
    }

    /// The task a config names in its `task` key.
    pub fn of_config(config: &ConfigTable) -> Result<Self> {
        match config.task()? {
            Some(tag) => Self::from_tag(tag).map_err(|e| anyhow!("{}: {e}", config.origin)),
            None => bail!(
                "{}: no `task` key; add e.g. task = \"{}\" (tasks: {})",
                config.origin,
                TaskKind::TextGan.tag(),
                Self::tags()
            ),
        }
    }

    /// The task whose crate owns benchmark `workload`.
    pub fn owning_workload(workload: &str) -> Result<Self> {
        if text_models::experiment::bench::WORKLOADS.contains(&workload) {
            return Ok(TaskKind::TextGan);
        }
        if image_models::experiment::bench::WORKLOADS.contains(&workload) {
            return Ok(TaskKind::ImageGan);
        }
        if text_classifier::experiment::bench::WORKLOADS.contains(&workload) {
            return Ok(TaskKind::TextClassifier);
        }
        if behaviour::experiment::bench::WORKLOADS.contains(&workload) {
            return Ok(TaskKind::Behaviour);
        }
        bail!(
            "unknown workload `{workload}`; text_gan: {}; image_gan: {}; text_classifier: {}; behaviour: {}",
            text_models::experiment::bench::WORKLOADS.join(", "),
            image_models::experiment::bench::WORKLOADS.join(", "),
            text_classifier::experiment::bench::WORKLOADS.join(", "),
            behaviour::experiment::bench::WORKLOADS.join(", ")
        )
    }

    fn tags() -> String {
        Self::ALL.map(|t| t.tag()).join(", ")
    }
}
