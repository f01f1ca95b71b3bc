//! The model crates the binary dispatches to. Adding a model crate adds one line here (and its
//! entry in this crate's Cargo.toml); nothing else in the binary changes.

use anyhow::{anyhow, bail, Result};
use gan_core::config::ConfigTable;
use gan_core::experiment::{flag_name, Experiment};

/// Every experiment the binary knows, in `--help` order.
pub fn all() -> Vec<Box<dyn Experiment>> {
    vec![
        Box::new(text_models::experiment::TextGanExperiment),
        Box::new(image_models::experiment::ImageGanExperiment),
        Box::new(text_classifier::experiment::ClassifierExperiment),
        Box::new(behaviour::experiment::BehaviourExperiment),
        Box::new(behaviour::experiment::BehaviourGanExperiment),
        Box::new(ring_gan::experiment::RingGanExperiment),
    ]
}

/// The experiments of the binary, looked up by task tag, workload or command.
pub struct Registry {
    experiments: Vec<Box<dyn Experiment>>,
}

impl Registry {
    pub fn new(experiments: Vec<Box<dyn Experiment>>) -> Self {
        Self { experiments }
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Experiment> {
        self.experiments.iter().map(|e| e.as_ref())
    }

    /// The experiment of task tag `tag` (`text_gan`, or as a flag, `text-gan`).
    pub fn by_tag(&self, tag: &str) -> Result<&dyn Experiment> {
        let tag = tag.replace('-', "_");
        self.iter()
            .find(|e| e.task() == tag)
            .ok_or_else(|| anyhow!("unknown task `{tag}` (tasks: {})", self.tags()))
    }

    /// The experiment a config names in its `task` key.
    pub fn of_config(&self, config: &ConfigTable) -> Result<&dyn Experiment> {
        match config.task()? {
            Some(tag) => self
                .by_tag(tag)
                .map_err(|e| anyhow!("{}: {e}", config.origin)),
            None => bail!(
                "{}: no `task` key; add e.g. task = \"text_gan\" (tasks: {})",
                config.origin,
                self.tags()
            ),
        }
    }

    /// The experiment that owns benchmark `workload`.
    pub fn owning_workload(&self, workload: &str) -> Result<&dyn Experiment> {
        self.iter()
            .find(|e| e.workloads().contains(&workload))
            .ok_or_else(|| {
                let lists: Vec<String> = self
                    .iter()
                    .filter(|e| !e.workloads().is_empty())
                    .map(|e| format!("{}: {}", e.task(), e.workloads().join(", ")))
                    .collect();
                anyhow!("unknown workload `{workload}`; {}", lists.join("; "))
            })
    }

    /// Task tags as `--task` takes them.
    pub fn flag_names(&self) -> Vec<String> {
        self.iter().map(|e| flag_name(e.task())).collect()
    }

    fn tags(&self) -> String {
        self.iter().map(|e| e.task()).collect::<Vec<_>>().join(", ")
    }

    /// One line per task for `socgan --help`.
    pub fn help(&self) -> String {
        let lines: Vec<String> = self
            .iter()
            .map(|e| format!("  {:<16} {}", e.task(), e.about()))
            .collect();
        format!(
            "Tasks (the `task` of a config or checkpoint):\n{}",
            lines.join("\n")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_workloads_and_commands_are_unique_and_found() {
        let registry = Registry::new(all());
        let mut tags: Vec<&str> = registry.iter().map(|e| e.task()).collect();
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), registry.iter().count(), "a task tag twice");
        let mut workloads = Vec::new();
        for e in registry.iter() {
            for w in e.workloads() {
                assert_eq!(registry.owning_workload(w).unwrap().task(), e.task());
                workloads.push(*w);
            }
        }
        let n = workloads.len();
        workloads.sort();
        workloads.dedup();
        assert_eq!(workloads.len(), n, "a workload in two experiments");
        let err = registry.owning_workload("nope").err().unwrap().to_string();
        assert!(
            err.contains("text_gan: mle-epoch") && err.contains("behaviour: sasrec-epoch"),
            "{err}"
        );
        assert_eq!(registry.by_tag("image-gan").unwrap().task(), "image_gan");
        let err = registry.by_tag("vae").err().unwrap().to_string();
        assert!(
            err.contains("unknown task `vae`") && err.contains("behaviour_gan"),
            "{err}"
        );
    }
}
