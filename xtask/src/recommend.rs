//! `cargo xtask recommend`: the next-item protocol of one data set. Every model and loss of
//! `configs/behaviour/<protocol>-*.toml` through `socgan train`, then a table of each run's test
//! metrics at its selected checkpoint (best validation NDCG@10, full ranking) under both
//! protocols, beside the published rows. Finished runs (a `results.json`) are read, not
//! retrained, so an interrupted sweep resumes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{build_socgan, workspace_root};

/// `cargo xtask recommend` options.
#[derive(clap::Args)]
pub struct RecommendArgs {
    /// games (SASRec's Amazon Games) or movielens (ml-latest-small).
    #[arg(long, default_value = "games")]
    protocol: String,
    /// Runs, as config names without the protocol prefix.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "popularity,sasrec-bce,sasrec-softmax,gru4rec-bce,gru4rec-softmax"
    )]
    runs: Vec<String>,
    /// Extra `--set` overrides for every run (e.g. training.epochs=50).
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Output folder (default runs/recommend-<protocol>).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    features: Vec<String>,
}

/// Published rows (sampled protocol: 100 negatives).
fn published(protocol: &str) -> &'static str {
    match protocol {
        "games" => "SASRec paper (Kang & McAuley 2018, Table III, Amazon Games, sampled): PopRec HR@10 0.4724 / NDCG@10 0.2779, SASRec 0.7410 / 0.5360; pmixer/SASRec.pytorch 0.7318 / 0.5308",
        "movielens" => "no published figures for ml-latest-small; SASRec's MovieLens rows are on ML-1M",
        _ => "",
    }
}

fn train(socgan: &Path, config: &Path, run: &Path, sets: &[String]) -> Result<(), String> {
    let mut cmd = Command::new(socgan);
    cmd.current_dir(workspace_root())
        .arg("train")
        .arg("--config")
        .arg(config)
        .arg("--out-dir")
        .arg(run)
        .arg("--resume");
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run socgan: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("training {} failed", config.display()))
}

pub fn run(args: RecommendArgs) -> Result<(), String> {
    let socgan = build_socgan(&args.features)?;
    let root = workspace_root();
    let out = args.out.clone().unwrap_or_else(|| {
        root.join("runs")
            .join(format!("recommend-{}", args.protocol))
    });
    let mut table = String::from(
        "| model | loss | full HR@10 | full NDCG@10 | full MRR | sampled HR@10 | sampled NDCG@10 | selected step |\n|---|---|---|---|---|---|---|---|\n",
    );
    for name in &args.runs {
        let config = root.join(format!("configs/behaviour/{}-{name}.toml", args.protocol));
        let run = out.join(name);
        if !crate::results::finished(&run) {
            train(&socgan, &config, &run, &args.sets)?;
        }
        let m = crate::results::selected_metrics(&run)?;
        let f = |k: &str| {
            m[format!("test/{k}")]
                .as_f64()
                .map_or("-".into(), |v| format!("{v:.4}"))
        };
        let (model, loss) = name.split_once('-').unwrap_or((name, "-"));
        table += &format!(
            "| {model} | {loss} | {} | {} | {} | {} | {} | {} |\n",
            f("full/hr@10"),
            f("full/ndcg@10"),
            f("full/mrr"),
            f("sampled/hr@10"),
            f("sampled/ndcg@10"),
            crate::results::selected_step(&run).map_or("-".into(), |s| s.to_string())
        );
    }
    println!(
        "\nTest metrics at each run's selected checkpoint; full ranking excludes the user's history (RecBole's default), ties count against the target; sampled: 100 uniform negatives, at most 10,000 users.\n\n{table}\n{}",
        published(&args.protocol)
    );
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    fs::write(out.join("table.md"), &table).map_err(|e| format!("{}: {e}", out.display()))
}
