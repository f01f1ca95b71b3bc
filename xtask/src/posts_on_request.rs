//! `cargo xtask posts-on-request`: how well class-conditional generators write posts of a
//! requested label. For each generator run and each of its labels, `socgan generate --label`
//! writes `n` posts and an independent classifier run (one of the few-label classifier's, not
//! the discriminator the generator was trained against) labels them with `socgan predict`: the
//! share it assigns to the requested label. Beside it, from `socgan eval`, BLEU of each label's
//! posts against that label's real test posts, their Self-BLEU, and NLL_gen; and the same
//! classifier on the real test posts of each label (its recall: what a perfect generator would
//! score).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{build_socgan, socgan_stdout, workspace_root};

/// `cargo xtask posts-on-request` options.
#[derive(clap::Args)]
pub struct PostsOnRequestArgs {
    /// Class-conditional text GAN runs (e.g. runs/emotion-catgan/mle,runs/emotion-catgan/catgan).
    #[arg(long, value_delimiter = ',', required = true)]
    generators: Vec<PathBuf>,
    /// A text classifier run trained on the same labels.
    #[arg(long)]
    classifier: PathBuf,
    /// The labelled test split the generators were scored on: TweetEval `test_text.txt` (with
    /// `test_labels.txt` and `mapping.txt` beside it).
    #[arg(long, default_value = "../shared/data/tweeteval/emotion/test_text.txt")]
    test: PathBuf,
    /// Posts generated per label.
    #[arg(short = 'n', long, default_value_t = 200)]
    num: usize,
    /// Output folder (default runs/posts-on-request).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The share of `posts` (one per line) that the classifier labels `label`.
fn share_labelled(
    socgan: &Path,
    classifier: &Path,
    posts: &Path,
    label: &str,
) -> Result<f64, String> {
    let predictions = posts.with_extension("predictions.jsonl");
    socgan_stdout(
        socgan,
        &[
            "predict",
            "--checkpoint",
            &classifier.display().to_string(),
            "--input",
            &posts.display().to_string(),
            "--output",
            &predictions.display().to_string(),
        ],
    )?;
    let text = fs::read_to_string(&predictions).map_err(|e| e.to_string())?;
    let (mut hits, mut total) = (0usize, 0usize);
    for line in text.lines() {
        let row: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        total += 1;
        hits += usize::from(row["label"] == label);
    }
    if total == 0 {
        return Err(format!("{}: no predictions", predictions.display()));
    }
    Ok(hits as f64 / total as f64)
}

/// The real test posts of each label, one file per label under `dir`.
fn real_posts_by_label(test: &Path, labels: &[String], dir: &Path) -> Result<Vec<PathBuf>, String> {
    let read = |p: &Path| fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let texts = read(test)?;
    let name = test
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let labels_file = test.with_file_name(name.replace("_text.txt", "_labels.txt"));
    let ids = read(&labels_file)?;
    let mapping = read(&test.with_file_name("mapping.txt"))?;
    let name_of = |id: &str| -> Option<String> {
        mapping.lines().find_map(|l| {
            let (i, n) = l.split_once('\t')?;
            (i.trim() == id.trim()).then(|| n.trim().to_string())
        })
    };
    let mut files = Vec::new();
    for (class, label) in labels.iter().enumerate() {
        let posts: Vec<&str> = texts
            .lines()
            .zip(ids.lines())
            .filter(|(_, id)| name_of(id).as_deref() == Some(label.as_str()))
            .map(|(t, _)| t)
            .collect();
        if posts.is_empty() {
            return Err(format!("{}: no test post labelled {label}", test.display()));
        }
        let path = dir.join(format!("real-class{class}.txt"));
        fs::write(&path, posts.join("\n") + "\n").map_err(|e| e.to_string())?;
        files.push(path);
    }
    Ok(files)
}

/// The label names of a class-conditional run (its `labels.json`).
fn run_labels(run: &Path) -> Result<Vec<String>, String> {
    let path = run.join("labels.json");
    let text = fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (not a class-conditional run?)", path.display()))?;
    let map: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(map["names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

/// `socgan eval`'s metrics of a run, by name.
fn eval_metrics(socgan: &Path, run: &Path) -> Result<Value, String> {
    let out = socgan_stdout(
        socgan,
        &["eval", "--checkpoint", &run.display().to_string()],
    )?;
    let line: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
        .map_err(|e| format!("socgan eval output: {e}"))?;
    Ok(line["metrics"].clone())
}

fn metric(metrics: &Value, label: &str, name: &str) -> String {
    metrics[format!("test/{label}/{name}")]
        .as_f64()
        .map_or("-".into(), |v| format!("{v:.3}"))
}

pub fn run(args: PostsOnRequestArgs) -> Result<(), String> {
    let socgan = build_socgan(&[])?;
    let root = workspace_root();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("runs/posts-on-request"));
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let labels = run_labels(&args.generators[0])?;
    let mut table = format!(
        "Posts on request: {} posts per label; classifier {}\n\n| generator | label | classifier labels it so | BLEU-2 | BLEU-3 | BLEU-4 | Self-BLEU-3 | NLL_gen |\n|---|---|---|---|---|---|---|---|\n",
        args.num,
        args.classifier.display()
    );
    let real = real_posts_by_label(&args.test, &labels, &out)?;
    for (label, posts) in labels.iter().zip(&real) {
        let share = share_labelled(&socgan, &args.classifier, posts, label)?;
        table.push_str(&format!(
            "| real test posts | {label} | {:.1}% | - | - | - | - | - |\n",
            share * 100.0
        ));
    }
    for (run_index, generator) in args.generators.iter().enumerate() {
        if run_labels(generator)? != labels {
            return Err(format!(
                "{}: other labels than {labels:?}",
                generator.display()
            ));
        }
        let name = generator
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let metrics = eval_metrics(&socgan, generator)?;
        for (class, label) in labels.iter().enumerate() {
            let posts = out.join(format!("{run_index}-{name}-class{class}.txt"));
            socgan_stdout(
                &socgan,
                &[
                    "generate",
                    "--checkpoint",
                    &generator.display().to_string(),
                    "--label",
                    label,
                    "-n",
                    &args.num.to_string(),
                    "--output",
                    &posts.display().to_string(),
                ],
            )?;
            let share = share_labelled(&socgan, &args.classifier, &posts, label)?;
            println!("posts-on-request: {name} {label}: {:.1}%", share * 100.0);
            table.push_str(&format!(
                "| {name} | {label} | {:.1}% | {} | {} | {} | {} | {} |\n",
                share * 100.0,
                metric(&metrics, label, "bleu2"),
                metric(&metrics, label, "bleu3"),
                metric(&metrics, label, "bleu4"),
                metric(&metrics, label, "self_bleu3"),
                metric(&metrics, label, "nll_gen"),
            ));
        }
    }
    println!("\n{table}");
    fs::write(out.join("table.md"), &table).map_err(|e| e.to_string())?;
    Ok(())
}
