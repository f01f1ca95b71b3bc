//! `cargo xtask images`: an image GAN (`configs/mnist/<model>.toml`) trained with each adversarial
//! loss and each stabilizer variant asked for, every run scored with one shared classifier; a
//! table per run of the selected (best `val/classifier_fid`) evaluation: its step and wall-clock
//! minutes, classifier-FID, precision, recall, the confident share and its classes, beside the
//! floor and ceiling rows; and a chart of FID against training steps. Results are read from the
//! files each run writes (`results.json`, `metrics.jsonl`).

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
    pub const PRECISION: &str = "test/precision";
    pub const RECALL: &str = "test/recall";
    pub const PRECISION_FLOOR: &str = "test/precision_floor_real";
    pub const RECALL_FLOOR: &str = "test/recall_floor_real";
    pub const CONFIDENT: &str = "test/confident_share";
    pub const CONFIDENT_CLASSES: &str = "test/confident_classes";
}

/// What the literature uses against collapse, each alone on top of a loss: name and overrides.
const VARIANTS: [(&str, &[&str]); 6] = [
    ("plain", &[]),
    ("label_smoothing", &["stabilizers.real_label=0.9"]),
    ("instance_noise", &["stabilizers.instance_noise=0.1"]),
    (
        "two_timescale",
        &["optim.discriminator.lr=4e-4", "optim.generator.lr=1e-4"],
    ),
    ("minibatch_stddev", &["stabilizers.minibatch_stddev=true"]),
    // Miyato et al. 2018: every discriminator weight divided by its largest singular value.
    ("spectral_norm", &["model.normalization=\"spectral\""]),
];

/// The overrides of a variant: one of `VARIANTS` or several joined by `+` (combined stabilizers,
/// e.g. `instance_noise+minibatch_stddev`).
fn variant_overrides(variant: &str) -> Result<Vec<&'static str>, String> {
    let mut sets = Vec::new();
    for part in variant.split('+') {
        let Some((_, part_sets)) = VARIANTS.iter().find(|(name, _)| *name == part) else {
            let names: Vec<&str> = VARIANTS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "no variant `{part}`; one of {}, or several joined by `+`",
                names.join(", ")
            ));
        };
        sets.extend_from_slice(part_sets);
    }
    Ok(sets)
}

/// Each loss: name, config value, critic steps per generator step, and its paper's optimiser
/// where it differs from DCGAN's Adam(2e-4, 0.5, 0.999).
type LossRow = (&'static str, &'static str, u64, &'static [&'static str]);
const LOSSES: [LossRow; 7] = [
    ("non_saturating", "{ kind = \"non_saturating\" }", 1, &[]),
    ("minimax", "{ kind = \"minimax\" }", 1, &[]),
    ("least_squares", "{ kind = \"least_squares\" }", 1, &[]),
    ("hinge", "{ kind = \"hinge\" }", 1, &[]),
    ("rsgan", "{ kind = \"rsgan\" }", 1, &[]),
    (
        "wasserstein",
        "{ kind = \"wasserstein\", clip = 0.01 }",
        5,
        &[],
    ),
    // Gulrajani et al. 2017, Algorithm 1: Adam(1e-4, 0, 0.9) for critic and generator.
    (
        "wgan_gp",
        "{ kind = \"wgan_gp\", lambda = 10.0 }",
        5,
        &[
            "optim.generator={ lr = 1e-4, beta1 = 0.0, beta2 = 0.9 }",
            "optim.discriminator={ lr = 1e-4, beta1 = 0.0, beta2 = 0.9 }",
        ],
    ),
];

/// `cargo xtask images` options.
#[derive(clap::Args)]
pub struct ImagesArgs {
    /// configs/mnist/<model>.toml.
    #[arg(long, value_parser = ["mlp", "dcgan", "dcgan32", "mlp-seed-a", "mlp-seed-b", "mlp-seed-c", "mlp-spectral"], default_value = "mlp")]
    model: String,
    /// Losses to train (default: all seven).
    #[arg(long, value_delimiter = ',')]
    losses: Vec<String>,
    /// Stabilizer variants, each on every loss: plain, label_smoothing, instance_noise,
    /// two_timescale, minibatch_stddev, spectral_norm, or several joined by `+` (default: plain).
    #[arg(long, value_delimiter = ',')]
    variants: Vec<String>,
    /// Override the config's number of steps (the most a run takes).
    #[arg(long)]
    steps: Option<u64>,
    /// Override the config's evaluation interval.
    #[arg(long)]
    eval_every: Option<u64>,
    /// Override the config's early stopping: evaluations without a new best FID.
    #[arg(long)]
    patience: Option<u64>,
    /// Output folder (default runs/mnist-<model>).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Cargo features of the socgan build (e.g. cuda).
    #[arg(long)]
    features: Vec<String>,
    /// Train nothing: the table and chart of the runs already in --out (e.g. runs resumed with
    /// `socgan train --resume`, or trained by hand with the overrides printed here).
    #[arg(long)]
    report_only: bool,
}

#[derive(Deserialize)]
struct RunResults {
    completed: bool,
    steps: u64,
    stopped_early: bool,
    #[serde(rename = "final")]
    final_metrics: BTreeMap<String, f64>,
    best: Option<Best>,
}

/// The selected evaluation: the lowest FID against the held-out validation digits.
#[derive(Deserialize)]
struct Best {
    step: u64,
    metrics: BTreeMap<String, f64>,
}

fn results(dir: &Path) -> Option<RunResults> {
    let text = fs::read_to_string(dir.join("results.json")).ok()?;
    serde_json::from_str::<RunResults>(&text)
        .ok()
        .filter(|r| r.completed)
}

/// Wall-clock minutes from a run's start to its evaluation at `step`, from its metrics log.
fn minutes_to(dir: &Path, step: u64) -> Option<f64> {
    let text = fs::read_to_string(dir.join("metrics.jsonl")).ok()?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["kind"] == "eval" && r["step"].as_u64() == Some(step))
        .filter_map(|r| r["elapsed_s"].as_f64())
        .next_back()
        .map(|s| s / 60.0)
}

/// The runs asked for: `(folder name, overrides)` for each loss and variant.
fn planned_runs(o: &ImagesArgs) -> Result<Vec<(String, Vec<String>)>, String> {
    let losses: Vec<&LossRow> = LOSSES
        .iter()
        .filter(|(name, ..)| o.losses.is_empty() || o.losses.iter().any(|l| l == name))
        .collect();
    if losses.is_empty() {
        return Err(format!("no such loss among {:?}", o.losses));
    }
    let wanted: Vec<&str> = if o.variants.is_empty() {
        vec!["plain"]
    } else {
        o.variants.iter().map(String::as_str).collect()
    };
    let mut runs = Vec::new();
    for variant in &wanted {
        let sets = variant_overrides(variant)?;
        for (loss, toml, critic_steps, optimiser) in &losses {
            let name = match *variant {
                "plain" => loss.to_string(),
                v => format!("{loss}+{v}"),
            };
            let mut overrides = vec![
                format!("loss={toml}"),
                format!("schedule.discriminator_steps={critic_steps}"),
            ];
            if *loss == "wgan_gp" && !o.model.starts_with("mlp") {
                // The penalty is per sample, so batch norm in the critic is out; the paper's MNIST
                // critic (gan_mnist.py) has no normalisation at all.
                overrides.push("model.normalization=\"none\"".into());
            }
            overrides.extend(optimiser.iter().map(|s| s.to_string()));
            overrides.extend(sets.iter().map(|s| s.to_string()));
            runs.push((name, overrides));
        }
    }
    Ok(runs)
}

pub fn run(o: ImagesArgs) -> Result<(), String> {
    let socgan = build_socgan(&o.features)?;
    let out = o.out.clone().unwrap_or_else(|| {
        workspace_root()
            .join("runs")
            .join(format!("mnist-{}", o.model))
    });
    if o.report_only && !out.is_dir() {
        return Err(format!("{}: no such folder to report on", out.display()));
    }
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let out = out
        .canonicalize()
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let config = workspace_root()
        .join("configs/mnist")
        .join(format!("{}.toml", o.model));
    let runs = planned_runs(&o)?;
    let quote = |p: &Path| format!("{:?}", p.display().to_string());
    for (name, overrides) in runs.iter().filter(|_| !o.report_only) {
        let mut sets = overrides.clone();
        sets.extend([
            format!("seed={}", o.seed),
            format!("out_dir={}", quote(&out.join(name))),
            // One classifier for every run: FID is comparable only within one classifier.
            format!("evaluation.classifier={}", quote(&out.join("classifier"))),
        ]);
        if let Some(steps) = o.steps {
            sets.push(format!("schedule.steps={steps}"));
        }
        if let Some(every) = o.eval_every {
            sets.push(format!("schedule.eval_every={every}"));
            sets.push(format!("schedule.checkpoint_every={every}"));
        }
        if let Some(patience) = o.patience {
            sets.push(format!("evaluation.patience={patience}"));
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
    let names: Vec<String> = runs.into_iter().map(|(name, _)| name).collect();
    report(&socgan, &out, &o.model, &names)
}

fn report(socgan: &Path, out: &Path, model: &str, names: &[String]) -> Result<(), String> {
    let runs: Vec<(&str, RunResults)> = names
        .iter()
        .filter_map(|name| results(&out.join(name)).map(|r| (name.as_str(), r)))
        .collect();
    let Some((_, first)) = runs.first() else {
        return Err(format!("no completed run in {}", out.display()));
    };
    let fmt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
    let reference = |k: &str| fmt(first.final_metrics.get(k).copied());
    let mut table = format!(
        "MNIST, {model}; 2,000 generated images against the 2,000 test digits in one classifier's feature space (test accuracy {}); each run's selected evaluation (lowest FID against the tenth of the training digits held out of training)\n\n\
         | row | selected step (of) | minutes to it | classifier-FID | precision | recall | confident share | confident classes | classifier score |\n|---|---|---|---|---|---|---|---|---|\n",
        reference(metric::ACCURACY)
    );
    table += &format!(
        "| floor: real training digits (through the generator's resolution) | - | - | {} | {} | {} | - | - | - |\n",
        reference(metric::FLOOR),
        reference(metric::PRECISION_FLOOR),
        reference(metric::RECALL_FLOOR),
    );
    table += &format!(
        "| ceiling: one digit repeated | - | - | {} | - | - | - | - | - |\n",
        reference(metric::REPEATED)
    );
    table += &format!(
        "| ceiling: uniform noise | - | - | {} | - | - | - | - | - |\n",
        reference(metric::NOISE)
    );
    for (name, r) in &runs {
        let Some(best) = &r.best else {
            table += &format!(
                "| {model}, {name} | - ({}) | - | - | - | - | - | - | - |\n",
                r.steps
            );
            continue;
        };
        let m = |k: &str| fmt(best.metrics.get(k).copied());
        let stop = if r.stopped_early { ", stopped" } else { "" };
        table += &format!(
            "| {model}, {name} | {} ({}{stop}) | {} | {} | {} | {} | {} | {} | {} |\n",
            best.step,
            r.steps,
            minutes_to(&out.join(name), best.step)
                .map(|v| format!("{v:.1}"))
                .unwrap_or_else(|| "-".into()),
            m(metric::FID),
            m(metric::PRECISION),
            m(metric::RECALL),
            m(metric::CONFIDENT),
            m(metric::CONFIDENT_CLASSES),
            m(metric::SCORE),
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
        "\nchart: {}; sample grids: {}/<run>/samples/\n",
        chart.display(),
        out.display()
    );
    println!("\n{table}");
    let summary = out.join("summary.md");
    fs::write(&summary, &table).map_err(|e| format!("{}: {e}", summary.display()))?;
    println!("written: {}", summary.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_combine_with_plus_and_unknown_ones_are_named() {
        let combined = variant_overrides("instance_noise+minibatch_stddev").unwrap();
        assert_eq!(
            combined,
            [
                "stabilizers.instance_noise=0.1",
                "stabilizers.minibatch_stddev=true"
            ]
        );
        assert!(variant_overrides("plain").unwrap().is_empty());
        let err = variant_overrides("instance_noise+dropout").unwrap_err();
        assert!(err.contains("`dropout`"), "{err}");
    }
}
