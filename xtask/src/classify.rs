//! `cargo xtask classify`: the few-label protocol. For each labelled fraction, seed, encoder and
//! method, `socgan train` on a config of `configs/sentiment/` (other TweetEval tasks through data
//! overrides; TREC through `configs/trec/`); then a table of the official test score at each
//! run's selected checkpoint (mean and standard deviation over seeds) beside the published rows.
//! Finished runs (a `results.json`) are read, not retrained, and an interrupted run continues
//! from its last checkpoint, so an interrupted sweep resumes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{build_socgan, workspace_root};

/// `cargo xtask classify` options.
#[derive(clap::Args)]
pub struct ClassifyArgs {
    /// sentiment, emotion or irony (TweetEval), or trec (GAN-BERT's split).
    #[arg(long, default_value = "sentiment")]
    protocol: String,
    #[arg(long, value_delimiter = ',', default_value = "minilm")]
    encoders: Vec<String>,
    /// gan-bert, gan-salimans, labelled-only, tfidf-logistic.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "gan-bert,labelled-only,tfidf-logistic"
    )]
    methods: Vec<String>,
    #[arg(long, value_delimiter = ',', default_value = "0.01,0.05,0.1,0.5,1")]
    fractions: Vec<f64>,
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// The pretrained encoder (directory or hub id).
    #[arg(long)]
    model: Option<String>,
    /// Extra `--set` overrides for every run.
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Output folder (default runs/classify-<protocol>).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    features: Vec<String>,
}

/// Published rows for the protocol's score (TweetEval paper, Table 2; GAN-BERT, Table 1).
fn published(protocol: &str) -> &'static str {
    match protocol {
        "sentiment" => "leaderboard (100% of labels, macro-recall): LSTM 58.3, SVM 62.9, FastText 62.9, RoBERTa-base 71.3, BERTweet 73.4, TimeLMs 73.7",
        "emotion" => "leaderboard (100%, macro-F1): SVM 64.7, FastText 65.2, LSTM 66.0, RoBERTa-base 76.1, BERTweet 79.3",
        "irony" => "leaderboard (100%, F1 of irony): SVM 61.7, LSTM 62.8, FastText 63.1, RoBERTa-base 59.7",
        "trec" => "GAN-BERT paper (109 labels, accuracy): BERT 13.6, GAN-BERT 41.8; the PyTorch port 62.6; a tuned BERT about 60",
        _ => "",
    }
}

fn method_toml(method: &str) -> Result<(&'static str, &'static str), String> {
    Ok(match method {
        "gan-bert" => ("gan-bert", "{ kind = \"gan\", head = \"k_plus_one\" }"),
        "gan-salimans" => (
            "gan-bert",
            "{ kind = \"gan\", head = \"fixed_fake_logit\" }",
        ),
        "labelled-only" => ("labelled-only", "{ kind = \"labelled_only\" }"),
        "tfidf-logistic" => ("labelled-only", "{ kind = \"tfidf_logistic\" }"),
        other => return Err(format!("unknown method `{other}`")),
    })
}

/// The config file and overrides of one run.
fn run_args(
    args: &ClassifyArgs,
    encoder: &str,
    method: &str,
    fraction: f64,
    seed: u64,
    run: &Path,
) -> Result<Vec<String>, String> {
    let root = workspace_root();
    let (config_method, method_value) = method_toml(method)?;
    let encoder = if method == "tfidf-logistic" {
        "cnn"
    } else {
        encoder
    };
    let (folder, stem) = if args.protocol == "trec" {
        ("trec", format!("minilm-{config_method}"))
    } else {
        ("sentiment", format!("{encoder}-{config_method}"))
    };
    let config = root
        .join("configs")
        .join(folder)
        .join(format!("{stem}.toml"));
    let mut out = vec![
        "train".into(),
        "--quiet".into(),
        "--config".into(),
        config.display().to_string(),
        "--seed".into(),
        seed.to_string(),
        "--out-dir".into(),
        run.display().to_string(),
        "--set".into(),
        format!("method={method_value}"),
        "--set".into(),
        format!("labelled_fraction={fraction}"),
    ];
    if !["sentiment", "trec"].contains(&args.protocol.as_str()) {
        let data = root.join("../shared/data/tweeteval").join(&args.protocol);
        for (key, file) in [
            ("train", "train_text.txt"),
            ("validation", "val_text.txt"),
            ("test", "test_text.txt"),
        ] {
            out.extend([
                "--set".into(),
                format!("data.{key}={:?}", data.join(file).display().to_string()),
            ]);
        }
        out.extend(["--set".into(), format!("data.name={:?}", args.protocol)]);
    }
    if let (Some(model), true) = (&args.model, encoder == "minilm") {
        out.extend(["--set".into(), format!("encoder.model={model:?}")]);
    }
    for s in &args.sets {
        out.extend(["--set".into(), s.clone()]);
    }
    Ok(out)
}

/// The test score at the run's selected checkpoint (the best by validation score, else the
/// last evaluation).
fn selected_test_score(run: &Path) -> Result<f64, String> {
    crate::results::selected_metrics(run)?["test/score"]
        .as_f64()
        .ok_or_else(|| format!("{}: no test/score", run.display()))
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

pub fn run(args: ClassifyArgs) -> Result<(), String> {
    let socgan = build_socgan(&args.features)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| workspace_root().join(format!("runs/classify-{}", args.protocol)));
    let mut scores: BTreeMap<(String, String), BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let encoders: Vec<String> = args.encoders.clone();
    for method in &args.methods {
        let method_encoders = if method == "tfidf-logistic" {
            vec!["tfidf".to_string()]
        } else {
            encoders.clone()
        };
        for encoder in &method_encoders {
            for &fraction in &args.fractions {
                for &seed in &args.seeds {
                    let name = format!("{encoder}-{method}-{}pct-seed{seed}", fraction * 100.0);
                    let run = out.join(&name);
                    if !crate::results::finished(&run) {
                        println!("classify: training {name}");
                        let run_args = run_args(&args, encoder, method, fraction, seed, &run)?;
                        let mut cmd = Command::new(&socgan);
                        cmd.args(&run_args);
                        // An interrupted run continues from its last checkpoint (ending where
                        // an uninterrupted one would); one that never checkpointed restarts.
                        if run.join("checkpoints").join("latest").is_file() {
                            println!("classify: resuming {name}");
                            cmd.arg("--resume");
                        } else if run.exists() {
                            cmd.arg("--overwrite");
                        }
                        let status = cmd.status().map_err(|e| e.to_string())?;
                        if !status.success() {
                            return Err(format!("socgan train failed for {name}"));
                        }
                    }
                    let score = selected_test_score(&run)?;
                    println!("classify: {name}: test score {score:.4}");
                    scores
                        .entry((encoder.clone(), method.clone()))
                        .or_default()
                        .entry(format!("{}%", fraction * 100.0))
                        .or_default()
                        .push(score);
                }
            }
        }
    }
    let table = render(&args, &scores);
    println!("\n{table}");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    fs::write(out.join("table.md"), &table).map_err(|e| e.to_string())?;
    Ok(())
}

fn render(
    args: &ClassifyArgs,
    scores: &BTreeMap<(String, String), BTreeMap<String, Vec<f64>>>,
) -> String {
    let columns: Vec<String> = args
        .fractions
        .iter()
        .map(|f| format!("{}%", f * 100.0))
        .collect();
    let mut s = format!(
        "{} test score x100 at the selected checkpoint, mean +- sd over seeds {:?}\n\n| encoder | method | {} |\n|---|---|{}\n",
        args.protocol,
        args.seeds,
        columns.join(" | "),
        "---|".repeat(columns.len())
    );
    for ((encoder, method), by_fraction) in scores {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match by_fraction.get(c) {
                Some(v) if v.len() > 1 => {
                    let (m, sd) = mean_std(v);
                    format!("{:.1} +- {:.1}", 100.0 * m, 100.0 * sd)
                }
                Some(v) => format!("{:.1}", 100.0 * v[0]),
                None => String::new(),
            })
            .collect();
        s.push_str(&format!(
            "| {encoder} | {method} | {} |\n",
            cells.join(" | ")
        ));
    }
    s.push_str(&format!("\n{}\n", published(&args.protocol)));
    s
}
