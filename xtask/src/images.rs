//! `cargo xtask images`: an image GAN (`configs/mnist/<model>.toml`) trained with each adversarial
//! loss, every run scored with one shared classifier; a table of classifier-FID and classifier
//! score per loss beside the floor and ceiling rows, and a chart of FID against training steps.
//! Results are read from the files each run writes (`results.json`, `metrics.jsonl`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::{build_socgan, workspace_root};

/// Metric names as socgan logs them (image-models' `evaluation::metric`, under `test/`).
mod metric {
    pub const FID: &str = "test/classifier_fid";
    pub const SCORE: &str = "test/classifier_score";
    pub const FLOOR: &str = "test/fid_floor_real";
    pub const REPEATED: &str = "test/fid_ceiling_repeated";
    pub const NOISE: &str = "test/fid_ceiling_noise";
    pub const ACCURACY: &str = "test/classifier_accuracy";
}

/// Each loss: name, config value, critic steps per generator step.
const LOSSES: [(&str, &str, u64); 7] = [
    ("non_saturating", "{ kind = \"non_saturating\" }", 1),
    ("minimax", "{ kind = \"minimax\" }", 1),
    ("least_squares", "{ kind = \"least_squares\" }", 1),
    ("hinge", "{ kind = \"hinge\" }", 1),
    ("rsgan", "{ kind = \"rsgan\" }", 1),
    ("wasserstein", "{ kind = \"wasserstein\", clip = 0.01 }", 5),
    ("wgan_gp", "{ kind = \"wgan_gp\", lambda = 10.0 }", 5),
];

/// `cargo xtask images` options.
#[derive(clap::Args)]
pub struct ImagesArgs {
    /// configs/mnist/<model>.toml.
    #[arg(long, value_parser = ["mlp", "dcgan", "dcgan32"], default_value = "mlp")]
    model: String,
    /// Losses to train (default: all seven).
    #[arg(long, value_delimiter = ',')]
    losses: Vec<String>,
    /// Override the config's number of steps.
    #[arg(long)]
    steps: Option<u64>,
    /// Output folder (default runs/mnist-<model>).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Cargo features of the socgan build (e.g. cuda).
    #[arg(long)]
    features: Vec<String>,
}

#[derive(Deserialize)]
struct RunResults {
    completed: bool,
    steps: u64,
    #[serde(rename = "final")]
    final_metrics: BTreeMap<String, f64>,
}

fn results(dir: &Path) -> Option<RunResults> {
    let text = fs::read_to_string(dir.join("results.json")).ok()?;
    serde_json::from_str::<RunResults>(&text)
        .ok()
        .filter(|r| r.completed)
}

/// The lowest FID of a run's evaluations and its step, from its metrics log.
fn best_fid(dir: &Path) -> Option<(f64, u64)> {
    let text = fs::read_to_string(dir.join("metrics.jsonl")).ok()?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|r| Some((r[metric::FID].as_f64()?, r["step"].as_u64()?)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
}

pub fn run(o: ImagesArgs) -> Result<(), String> {
    let socgan = build_socgan(&o.features)?;
    let out = o.out.clone().unwrap_or_else(|| {
        workspace_root()
            .join("runs")
            .join(format!("mnist-{}", o.model))
    });
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let out = out
        .canonicalize()
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let config = workspace_root()
        .join("configs/mnist")
        .join(format!("{}.toml", o.model));
    let chosen: Vec<&(&str, &str, u64)> = LOSSES
        .iter()
        .filter(|(name, _, _)| o.losses.is_empty() || o.losses.iter().any(|l| l == name))
        .collect();
    if chosen.is_empty() {
        return Err(format!("no such loss among {:?}", o.losses));
    }
    let quote = |p: &Path| format!("{:?}", p.display().to_string());
    for (name, loss, critic_steps) in &chosen {
        let mut sets = vec![
            format!("loss={loss}"),
            format!("schedule.discriminator_steps={critic_steps}"),
            format!("seed={}", o.seed),
            format!("out_dir={}", quote(&out.join(name))),
            // One classifier for every run: FID is comparable only within one classifier.
            format!("evaluation.classifier={}", quote(&out.join("classifier"))),
        ];
        if *name == "wgan_gp" && o.model != "mlp" {
            // The penalty is per sample; batch norm in the critic would mix samples.
            sets.push("model.normalization=\"layer\"".into());
        }
        if let Some(steps) = o.steps {
            sets.push(format!("schedule.steps={steps}"));
        }
        let mut command = Command::new(&socgan);
        command
            .current_dir(workspace_root())
            .args(["train", "--overwrite", "--config"])
            .arg(&config);
        for s in &sets {
            command.args(["--set", s]);
        }
        println!(
            "== {name}: socgan train --config {} --set {}",
            config.display(),
            sets.join(" --set ")
        );
        let status = command
            .status()
            .map_err(|e| format!("cannot run socgan: {e}"))?;
        if !status.success() {
            return Err(format!("{name} run failed"));
        }
    }
    report(&socgan, &out, &o.model)
}

fn report(socgan: &Path, out: &Path, model: &str) -> Result<(), String> {
    let runs: Vec<(&str, RunResults)> = LOSSES
        .iter()
        .filter_map(|(name, _, _)| results(&out.join(name)).map(|r| (*name, r)))
        .collect();
    let Some((_, first)) = runs.first() else {
        return Err(format!("no completed run in {}", out.display()));
    };
    let fmt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
    let reference = |k: &str| fmt(first.final_metrics.get(k).copied());
    let mut table = format!(
        "MNIST, {model}; classifier-FID and classifier score of 2,000 generated images against the 2,000 test digits, one classifier for every row (test accuracy {})\n\n\
         | row | steps | classifier-FID (final) | best FID (step) | classifier score (final) |\n|---|---|---|---|---|\n",
        reference(metric::ACCURACY)
    );
    table += &format!(
        "| floor: real training digits (through the generator's resolution) | - | {} | - | - |\n",
        reference(metric::FLOOR)
    );
    table += &format!(
        "| ceiling: one digit repeated | - | {} | - | - |\n",
        reference(metric::REPEATED)
    );
    table += &format!(
        "| ceiling: uniform noise | - | {} | - | - |\n",
        reference(metric::NOISE)
    );
    for (name, r) in &runs {
        let best = best_fid(&out.join(name))
            .map(|(v, s)| format!("{v:.3} ({s})"))
            .unwrap_or_else(|| "-".into());
        table += &format!(
            "| {model}, {name} | {} | {} | {best} | {} |\n",
            r.steps,
            fmt(r.final_metrics.get(metric::FID).copied()),
            fmt(r.final_metrics.get(metric::SCORE).copied()),
        );
    }
    let chart = out.join("fid.svg");
    let mut command = Command::new(socgan);
    command.args([
        "chart",
        "--metric",
        metric::FID,
        "--title",
        &format!("{model} on MNIST: classifier-FID against training steps"),
    ]);
    command.arg("--out").arg(&chart);
    for (name, _) in &runs {
        command.arg(out.join(name));
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run socgan: {e}"))?;
    if !status.success() {
        return Err("socgan chart failed".into());
    }
    table += &format!(
        "\nchart: {}; sample grids: {}/<loss>/samples/\n",
        chart.display(),
        out.display()
    );
    println!("\n{table}");
    let summary = out.join("summary.md");
    fs::write(&summary, &table).map_err(|e| format!("{}: {e}", summary.display()))?;
    println!("written: {}", summary.display());
    Ok(())
}
