//! `cargo xtask train`: MLE, then SeqGAN and RelGAN from the MLE generator, on the synthetic
//! oracle; a table of NLL_oracle and NLL_gen beside the published figures.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::{build_socgan, workspace_root};

/// RelGAN paper (Nie et al., ICLR 2019), Table 1, length 20: NLL_oracle.
const PUBLISHED: [(&str, f64); 6] = [
    ("Real (oracle floor)", 5.750),
    ("MLE", 9.038),
    ("SeqGAN", 8.736),
    ("RankGAN", 8.247),
    ("LeakGAN", 7.038),
    ("RelGAN(100)", 6.680),
];

/// Sizes of the quick and the full run.
struct Protocol {
    name: &'static str,
    mle_epochs: u64,
    mle_eval_every_epochs: u64,
    /// MLE epoch the SeqGAN generator starts from (SeqGAN pretrains 120 epochs, RelGAN 150).
    seqgan_init_epoch: u64,
    seqgan_rounds: u64,
    seqgan_rollouts: u64,
    seqgan_d_pretrain_steps: u64,
    seqgan_d_steps: u64,
    seqgan_eval_every: u64,
    relgan_rounds: u64,
    relgan_d_steps: u64,
    relgan_eval_every: u64,
    /// Adam learning rate of RelGAN's adversarial G and D updates.
    relgan_lr: f64,
    eval_samples: u64,
}

const QUICK: Protocol = Protocol {
    name: "quick",
    mle_epochs: 12,
    mle_eval_every_epochs: 4,
    seqgan_init_epoch: 12,
    seqgan_rounds: 20,
    seqgan_rollouts: 8,
    seqgan_d_pretrain_steps: 100,
    seqgan_d_steps: 3,
    seqgan_eval_every: 10,
    relgan_rounds: 40,
    relgan_d_steps: 3,
    relgan_eval_every: 20,
    // The paper's 1e-4 moves NLL_oracle by about one standard error in 40 steps (of its 3000);
    // the quick run takes 10x larger steps so that the adversarial effect is visible.
    relgan_lr: 1e-3,
    eval_samples: 5000,
};

/// The papers' protocol: SeqGAN 120 MLE epochs, 200 rounds, 16 rollouts; RelGAN 150 MLE epochs,
/// 3000 adversarial steps with 5 D steps each. SeqGAN's own D schedule (5 x 3 epochs over
/// 20,000 sequences per round) is replaced by 15 minibatch steps: see docs/BENCHMARKS.md.
const FULL: Protocol = Protocol {
    name: "full",
    mle_epochs: 150,
    mle_eval_every_epochs: 10,
    seqgan_init_epoch: 120,
    seqgan_rounds: 200,
    seqgan_rollouts: 16,
    seqgan_d_pretrain_steps: 1500,
    seqgan_d_steps: 15,
    seqgan_eval_every: 10,
    relgan_rounds: 3000,
    relgan_d_steps: 5,
    relgan_eval_every: 50,
    relgan_lr: 1e-4,
    eval_samples: 10_000,
};

/// Real text (COCO captions): MLE stops at 10 epochs (held-out NLL_gen rises after about 8 with
/// the 32-unit LSTM), SeqGAN as on the oracle, RelGAN with the paper's 5 D steps and Adam 1e-4 but
/// 300 adversarial steps (of its 2,000+; each is ~6 s on two cores at length 40). 1,000
/// hypotheses are scored during training; the report adds the papers' 200.
const TEXT: Protocol = Protocol {
    name: "text",
    mle_epochs: 10,
    mle_eval_every_epochs: 2,
    seqgan_init_epoch: 10,
    seqgan_rounds: 30,
    seqgan_rollouts: 16,
    seqgan_d_pretrain_steps: 300,
    seqgan_d_steps: 15,
    seqgan_eval_every: 5,
    relgan_rounds: 300,
    relgan_d_steps: 5,
    relgan_eval_every: 25,
    relgan_lr: 1e-4,
    eval_samples: 1000,
};

/// `cargo xtask train` options.
#[derive(clap::Args, Default)]
pub struct TrainArgs {
    /// The papers' protocol (hours on CPU) instead of the quick size; oracle only.
    #[arg(long, conflicts_with = "dataset")]
    full: bool,
    /// Oracle weights (default: SeqGAN's from ../shared/data, else a seeded random oracle).
    #[arg(long)]
    oracle: Option<PathBuf>,
    /// Output folder (default runs/<data>-<protocol>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Cargo features of the socgan build (e.g. cuda).
    #[arg(long)]
    features: Vec<String>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run one model only (the others' runs must exist in --out).
    #[arg(long, value_parser = ["mle", "seqgan", "relgan"])]
    only: Option<String>,
    /// A real-text data set instead of the oracle: image_coco, tweet_eval/<task>, emnlp_news.
    #[arg(long)]
    dataset: Option<String>,
}

/// SeqGAN's fixed oracle from the workspace's shared data, if present.
fn default_oracle() -> Option<PathBuf> {
    let path = workspace_root()
        .join("../shared/data/seqgan_oracle/seqgan_oracle_target_params.safetensors");
    path.is_file().then(|| path.canonicalize().unwrap_or(path))
}

fn toml_path(p: &Path) -> String {
    Value::String(p.display().to_string()).to_string()
}

pub fn run(o: TrainArgs) -> Result<(), String> {
    let p: &Protocol = match (&o.dataset, o.full) {
        (Some(_), _) => &TEXT,
        (None, true) => &FULL,
        (None, false) => &QUICK,
    };
    let socgan = build_socgan(&o.features)?;
    let text = match o.dataset.as_deref() {
        None => None,
        Some(name) => Some(text_dataset(&socgan, name)?),
    };
    let run_name = o
        .dataset
        .as_deref()
        .map(|d| d.replace('/', "-"))
        .unwrap_or_else(|| "oracle".to_string());
    let out = o.out.clone().unwrap_or_else(|| {
        workspace_root()
            .join("runs")
            .join(format!("{run_name}-{}", p.name))
    });
    fs::create_dir_all(out.join("configs")).map_err(|e| format!("{}: {e}", out.display()))?;
    let oracle = match o.oracle.clone().or_else(default_oracle) {
        _ if text.is_some() => String::new(),
        Some(path) => {
            println!("oracle: SeqGAN's fixed oracle, {}", path.display());
            format!("{{ source = \"seqgan\", path = {} }}", toml_path(&path))
        }
        None => {
            println!("oracle: ../shared/data/seqgan_oracle not found; using a seeded random oracle (not comparable to the papers' tables; pass --oracle FILE)");
            "{ source = \"random\", seed = 1 }".to_string()
        }
    };
    let batches_per_epoch = 10_000 / 64;
    let common = |dir: &str| {
        format!(
            "seed = {seed}\nout_dir = {out}\nbatch_size = 64\n",
            seed = o.seed,
            out = toml_path(&out.join(dir)),
        )
    };
    let data = match &text {
        // COCO captions as Texygen / RelGAN / TextGAN-PyTorch use them: words and punctuation apart,
        // padded to 40 positions (the longest caption has 37 such tokens). Tweets are cut at 40.
        Some((train, test)) => format!(
            "[data]\nkind = \"text\"\ntrain = {}\ntest = {}\nnum_hypotheses = {}\n[generator]\nseq_len = 40\n",
            toml_path(train),
            toml_path(test),
            p.eval_samples
        ),
        None => format!("[data]\nkind = \"oracle\"\noracle = {oracle}\nnum_train = 10000\nnum_test = 10000\neval_samples = {}\n", p.eval_samples),
    };

    let mle = format!(
        "{}algorithm = {{ kind = \"mle\" }}\n{data}[schedule]\nmle_epochs = {}\nmle_eval_every_epochs = {}\ncheckpoint_every = {}\nkeep_checkpoints = 100\n",
        common("mle"),
        p.mle_epochs,
        p.mle_eval_every_epochs,
        p.mle_eval_every_epochs * batches_per_epoch
    );
    let seqgan_init = if p.seqgan_init_epoch == p.mle_epochs {
        out.join("mle")
    } else {
        out.join("mle").join("checkpoints").join(format!(
            "step-{:08}",
            p.seqgan_init_epoch * batches_per_epoch
        ))
    };
    // SeqGAN (Yu et al. 2017): its CNN discriminator, G Adam lr 0.01 as in pretraining, D lr 1e-4.
    let seqgan = format!(
        "{}algorithm = {{ kind = \"seqgan\", rollouts = {} }}\ninit_from = {}\nloss = {{ kind = \"non_saturating\" }}\n{data}\
         [discriminator]\nembed_dim = 64\nnum_rep = 1\nfilter_sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]\n\
         num_filters = [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]\ndropout = 0.25\n\
         [schedule]\ndiscriminator_pretrain_steps = {}\nadversarial_rounds = {}\ndiscriminator_steps_per_round = {}\n\
         adversarial_eval_every = {}\nlog_every = 1\ncheckpoint_every = {}\n\
         [optim.generator]\nlr = 0.01\nbeta1 = 0.9\ngrad_clip = 5.0\n",
        common("seqgan"),
        p.seqgan_rollouts,
        toml_path(&seqgan_init),
        p.seqgan_d_pretrain_steps,
        p.seqgan_rounds,
        p.seqgan_d_steps,
        p.seqgan_eval_every,
        p.seqgan_eval_every,
    );
    // RelGAN (Nie et al. 2019): multi-representation CNN D, RSGAN loss, beta_max 100, Adam 1e-4.
    let relgan = format!(
        "{}algorithm = {{ kind = \"relgan\", beta_max = 100.0, straight_through = false }}\ninit_from = {}\n{data}\
         [schedule]\nadversarial_rounds = {}\ndiscriminator_steps_per_round = {}\nadversarial_eval_every = {}\nlog_every = 1\ncheckpoint_every = {}\n\
         [optim.generator]\nlr = {lr}\nbeta1 = 0.9\ngrad_clip = 5.0\n[optim.discriminator]\nlr = {lr}\nbeta1 = 0.9\ngrad_clip = 5.0\n",
        common("relgan"),
        toml_path(&out.join("mle")),
        p.relgan_rounds,
        p.relgan_d_steps,
        p.relgan_eval_every,
        p.relgan_eval_every,
        lr = p.relgan_lr,
    );

    let runs = [("mle", mle), ("seqgan", seqgan), ("relgan", relgan)];
    for (name, config) in &runs {
        if o.only.as_deref().is_some_and(|only| only != *name) {
            continue;
        }
        let path = out.join("configs").join(format!("{name}.toml"));
        fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
        println!(
            "== {name}: {} train --config {}",
            socgan.display(),
            path.display()
        );
        let status = Command::new(&socgan)
            .args(["train", "--config"])
            .arg(&path)
            .arg("--overwrite")
            .status()
            .map_err(|e| format!("cannot run {}: {e}", socgan.display()))?;
        if !status.success() {
            return Err(format!("{name} run failed"));
        }
    }
    if text.is_some() {
        let published = o.dataset.as_deref() == Some("image_coco");
        print_text_table(&out, p, &socgan, &run_name, published)
    } else {
        print_table(&out, p)
    }
}

/// RelGAN paper (Nie et al. 2019) Table 2, COCO captions: BLEU-2..5 and NLL_gen; Texygen (Zhu et
/// al. 2018) for MLE's Self-BLEU-2..5.
const PUBLISHED_COCO: [(&str, [f64; 4], f64); 2] = [
    ("MLE", [0.731, 0.497, 0.305, 0.189], 0.718),
    ("RelGAN(100)", [0.849, 0.687, 0.502, 0.331], f64::NAN),
];
const TEXYGEN_MLE_SELF_BLEU: [f64; 4] = [0.916, 0.769, 0.583, 0.408];

/// Temperatures of the quality-diversity sweep (Caccia et al. 2020 sweep MLE's temperature to
/// trade quality for diversity; each GAN gets the same sweep).
const SWEEP_TEMPERATURES: &str = "0.6,0.8,0.9,1.0,1.1,1.3";

/// Runs `socgan eval` and returns its JSON lines (one per checkpoint and temperature).
fn socgan_eval(socgan: &Path, args: &[String]) -> Result<Vec<Value>, String> {
    let output = Command::new(socgan)
        .arg("eval")
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", socgan.display()))?;
    if !output.status.success() {
        return Err(format!("socgan eval {} failed", args.join(" ")));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("socgan eval printed `{l}`: {e}")))
        .collect()
}

const TEXT_MODELS: [(&str, &str); 3] = [
    ("mle", "MLE"),
    ("seqgan", "SeqGAN"),
    ("relgan", "RelGAN(100)"),
];

/// The train and test files of a named data set: the workspace's copy in `../shared/data` when
/// there is one, else the hub cache (`cargo xtask download NAME` fills it).
fn text_dataset(socgan: &Path, name: &str) -> Result<(PathBuf, PathBuf), String> {
    let shared = workspace_root().join("../shared/data");
    let local = match name.split_once('/') {
        None if name == "image_coco" => Some((
            shared.join("image_coco/image_coco.txt"),
            shared.join("image_coco/image_coco_test.txt"),
        )),
        Some(("tweet_eval", task)) => Some((
            shared.join(format!("tweeteval/{task}/train_text.txt")),
            shared.join(format!("tweeteval/{task}/test_text.txt")),
        )),
        _ => None,
    };
    if let Some((train, test)) = local.filter(|(a, b)| a.is_file() && b.is_file()) {
        println!("data: {name} from {}", train.parent().unwrap().display());
        return Ok((train, test));
    }
    let output = Command::new(socgan)
        .args(["data", "download", "--offline", name])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", socgan.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{name}: not in ../shared/data nor in the hub cache ({}); run `cargo xtask download {}` on a machine with internet",
            String::from_utf8_lossy(&output.stderr).trim(),
            name.split('/').next().unwrap_or(name)
        ));
    }
    let listing = String::from_utf8_lossy(&output.stdout).to_string();
    let split = |wanted: &str| {
        let files: Vec<&str> = listing
            .lines()
            .filter_map(|l| {
                let mut cols = l.split('\t');
                let (_, split, path) = (cols.next()?, cols.next()?, cols.next()?);
                (split == wanted).then_some(path)
            })
            .collect();
        match files.as_slice() {
            [one] => Ok(PathBuf::from(one)),
            _ => Err(format!(
                "{name}: expected one {wanted} file, found {files:?}"
            )),
        }
    };
    println!("data: {name} from the hub cache");
    Ok((split("train")?, split("test")?))
}

fn print_text_table(
    out: &Path,
    p: &Protocol,
    socgan: &Path,
    dataset: &str,
    published: bool,
) -> Result<(), String> {
    let fmt = |v: Option<f64>| {
        v.filter(|x| x.is_finite())
            .map(|x| format!("{x:.3}"))
            .unwrap_or_else(|| "-".into())
    };
    let row = |label: &str, hyps: &str, m: &Value| {
        let get = |k: String| m[&k].as_f64();
        let bleu: Vec<String> = (2..=5).map(|n| fmt(get(format!("bleu{n}")))).collect();
        let selfb: Vec<String> = (2..=5).map(|n| fmt(get(format!("self_bleu{n}")))).collect();
        format!(
            "| {label} | {hyps} | {} | {} | {} |\n",
            bleu.join(" | "),
            selfb.join(" | "),
            fmt(get("nll_gen".into()))
        )
    };
    let mut table = format!(
        "{dataset} ({} protocol; hypotheses sampled at temperature 1, scored against the whole test set)\n\n\
         | model | hypotheses | BLEU-2 | BLEU-3 | BLEU-4 | BLEU-5 | Self-BLEU-2 | Self-BLEU-3 | Self-BLEU-4 | Self-BLEU-5 | NLL_gen |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
        p.name
    );
    let runs: Vec<(&str, PathBuf)> = TEXT_MODELS
        .iter()
        .map(|(name, label)| (*label, out.join(name)))
        .filter(|(_, dir)| dir.join("final_metrics.json").is_file())
        .collect();
    for (label, dir) in &runs {
        // The papers' count (RelGAN 100, TextGAN-PyTorch 200) beside the run's larger one.
        let at_200 = socgan_eval(
            socgan,
            &[
                "--checkpoint".into(),
                dir.display().to_string(),
                "--samples".into(),
                "200".into(),
            ],
        )?;
        if let Some(m) = at_200.first() {
            table += &row(&format!("socgan {label}"), "200", &m["metrics"]);
        }
        if let Some(m) = final_metrics(dir) {
            table += &row(&format!("socgan {label}"), &p.eval_samples.to_string(), &m);
        }
    }
    for (label, bleu, nll) in PUBLISHED_COCO.into_iter().filter(|_| published) {
        let mut m = serde_json::Map::new();
        for (n, v) in (2..=5).zip(bleu) {
            m.insert(format!("bleu{n}"), v.into());
        }
        if label == "MLE" {
            for (n, v) in (2..=5).zip(TEXYGEN_MLE_SELF_BLEU) {
                m.insert(format!("self_bleu{n}"), v.into());
            }
        }
        if nll.is_finite() {
            m.insert("nll_gen".into(), nll.into());
        }
        let hyps = if label == "MLE" {
            "100 / Texygen's"
        } else {
            "100"
        };
        table += &row(&format!("published {label}"), hyps, &Value::Object(m));
    }

    // Quality-diversity: every model over the same temperatures, one curve each.
    let chart = out.join("quality_diversity.svg");
    let mut args = vec!["--checkpoint".to_string()];
    args.extend(runs.iter().map(|(_, dir)| dir.display().to_string()));
    args.extend([
        "--temperatures".into(),
        SWEEP_TEMPERATURES.into(),
        "--samples".into(),
        p.eval_samples.to_string(),
        "--chart".into(),
        chart.display().to_string(),
    ]);
    if published {
        // Where the papers' COCO figures fall: the published MLE (BLEU-4 from RelGAN's Table 2,
        // Self-BLEU-4 from Texygen) as a point; RelGAN(100), which reports no Self-BLEU, as a line.
        args.extend([
            "--reference".into(),
            format!(
                "published MLE={},{}",
                TEXYGEN_MLE_SELF_BLEU[2], PUBLISHED_COCO[0].1[2]
            ),
            "--reference".into(),
            format!("published RelGAN(100) BLEU-4=,{}", PUBLISHED_COCO[1].1[2]),
        ]);
    }
    let sweep = socgan_eval(socgan, &args)?;
    table += &format!(
        "\nQuality-diversity sweep ({} hypotheses per point; chart: {})\n\n\
         | model | temperature | BLEU-4 | Self-BLEU-4 | NLL_gen |\n|---|---|---|---|---|\n",
        p.eval_samples,
        chart.display()
    );
    for point in &sweep {
        let m = &point["metrics"];
        table += &format!(
            "| {} | {:.2} | {} | {} | {} |\n",
            point["algorithm"].as_str().unwrap_or("?"),
            point["temperature"].as_f64().unwrap_or(f64::NAN),
            fmt(m["bleu4"].as_f64()),
            fmt(m["self_bleu4"].as_f64()),
            fmt(m["nll_gen"].as_f64()),
        );
    }
    let sweep_path = out.join("quality_diversity.jsonl");
    let lines: Vec<String> = sweep.iter().map(Value::to_string).collect();
    fs::write(&sweep_path, lines.join("\n") + "\n")
        .map_err(|e| format!("{}: {e}", sweep_path.display()))?;

    println!("\n{table}");
    let summary = out.join("summary.md");
    fs::write(&summary, &table).map_err(|e| format!("{}: {e}", summary.display()))?;
    println!("written: {}", summary.display());
    Ok(())
}

fn final_metrics(run: &Path) -> Option<Value> {
    let text = fs::read_to_string(run.join("final_metrics.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn print_table(out: &Path, p: &Protocol) -> Result<(), String> {
    let mut rows = Vec::new();
    let mut floor = None;
    for (name, label) in [
        ("mle", "MLE"),
        ("seqgan", "SeqGAN"),
        ("relgan", "RelGAN(100)"),
    ] {
        if let Some(m) = final_metrics(&out.join(name)) {
            floor = floor.or(m["nll_oracle_floor"].as_f64());
            rows.push((label, m["nll_oracle"].as_f64(), m["nll_gen"].as_f64()));
        }
    }
    let published = |label: &str| {
        PUBLISHED
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, v)| format!("{v:.3}"))
            .unwrap_or_default()
    };
    let fmt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
    let mut table = format!(
        "synthetic oracle, length 20 ({} protocol; NLL_oracle of {} samples)\n\n| model | NLL_oracle | NLL_gen | published NLL_oracle (RelGAN Table 1) |\n|---|---|---|---|\n",
        p.name, p.eval_samples
    );
    table += &format!(
        "| oracle floor | {} | - | {} |\n",
        fmt(floor),
        published("Real (oracle floor)")
    );
    for (label, nll_oracle, nll_gen) in rows {
        table += &format!(
            "| {label} | {} | {} | {} |\n",
            fmt(nll_oracle),
            fmt(nll_gen),
            published(label)
        );
    }
    println!("\n{table}");
    let summary = out.join("summary.md");
    fs::write(&summary, &table).map_err(|e| format!("{}: {e}", summary.display()))?;
    println!(
        "written: {} (loss curves: {}/*/loss_curve.svg)",
        summary.display(),
        out.display()
    );
    Ok(())
}
