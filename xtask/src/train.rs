//! `cargo xtask train`: MLE, then SeqGAN and RelGAN from the MLE generator, from the configs
//! under `configs/` (`--config` + `--set`); on the synthetic oracle a table of NLL_oracle and
//! NLL_gen beside the published figures, on real text BLEU / Self-BLEU tables and a
//! quality-diversity sweep. Results are read from the files each run writes (`results.json`,
//! `socgan eval --output`), never from its printed output.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::{build_socgan, workspace_root};

/// Metric names as socgan logs them (text-models' `evaluation::metric`, under `test/`).
mod metric {
    pub const NLL_ORACLE: &str = "test/nll_oracle";
    pub const NLL_GEN: &str = "test/nll_gen";
    pub const NLL_ORACLE_FLOOR: &str = "test/nll_oracle_floor";
    pub fn bleu(n: usize) -> String {
        format!("test/bleu{n}")
    }
    pub fn self_bleu(n: usize) -> String {
        format!("test/self_bleu{n}")
    }
}

/// `results.json` of a run (written by the trainer).
#[derive(Deserialize)]
struct RunResults {
    completed: bool,
    #[serde(rename = "final")]
    final_metrics: BTreeMap<String, f64>,
}

/// One line of `socgan eval --output`.
#[derive(Deserialize)]
struct EvalResult {
    /// The checkpoint folder evaluated.
    checkpoint: String,
    algorithm: String,
    temperature: f64,
    metrics: BTreeMap<String, f64>,
}

/// RelGAN paper (Nie et al., ICLR 2019), Table 1, length 20: NLL_oracle.
const PUBLISHED: [(&str, f64); 6] = [
    ("Real (oracle floor)", 5.750),
    ("MLE", 9.038),
    ("SeqGAN", 8.736),
    ("RankGAN", 8.247),
    ("LeakGAN", 7.038),
    ("RelGAN(100)", 6.680),
];

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

/// A model of the tables.
struct Model {
    /// Run folder and config name (`configs/<protocol>/<name>.toml`).
    name: &'static str,
    label: &'static str,
    /// The row of the papers' tables it is compared with.
    published: Option<&'static str>,
    /// The MLE run it starts from.
    init_from: Option<&'static str>,
    /// RelGAN's relational memory: trained by the full and text protocols only (its MLE epoch
    /// costs minutes on two cores).
    relational_memory: bool,
}

/// The models, in training order.
const MODELS: [Model; 5] = [
    Model {
        name: "mle",
        label: "MLE",
        published: Some("MLE"),
        init_from: None,
        relational_memory: false,
    },
    Model {
        name: "seqgan",
        label: "SeqGAN",
        published: Some("SeqGAN"),
        init_from: Some("mle"),
        relational_memory: false,
    },
    Model {
        name: "relgan",
        label: "RelGAN(100), LSTM",
        published: None,
        init_from: Some("mle"),
        relational_memory: false,
    },
    Model {
        name: "mle-rmc",
        label: "MLE, RMC",
        published: None,
        init_from: None,
        relational_memory: true,
    },
    Model {
        name: "relgan-rmc",
        label: "RelGAN(100), RMC",
        published: Some("RelGAN(100)"),
        init_from: Some("mle-rmc"),
        relational_memory: true,
    },
];

/// `cargo xtask train` options.
#[derive(clap::Args, Default)]
pub struct TrainArgs {
    /// The papers' protocol (hours on CPU) instead of the quick size; oracle only.
    #[arg(long, conflicts_with = "dataset")]
    full: bool,
    /// Oracle weights (default: the configs' SeqGAN oracle in ../shared/data, else a seeded
    /// random oracle).
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
    #[arg(long, value_parser = ["mle", "seqgan", "relgan", "mle-rmc", "relgan-rmc"])]
    only: Option<String>,
    /// A real-text data set instead of the oracle: image_coco, tweet_eval/<task>, emnlp_news.
    #[arg(long)]
    dataset: Option<String>,
}

/// What a protocol trains: its configs folder and name, and the data overrides.
struct Protocol {
    /// Folder under `configs/`.
    configs: &'static str,
    /// Name in the output folder and tables.
    name: &'static str,
    /// `--set` overrides of every run's data.
    data: Vec<String>,
    /// Whether it trains the relational-memory models too.
    relational_memory: bool,
}

fn toml_string(s: &str) -> String {
    format!("{s:?}")
}

/// The oracle override: `--oracle`, else the configs' own SeqGAN oracle when it is there, else
/// the one `cargo xtask download seqgan_oracle` converted into the hub cache, else a seeded
/// random one.
fn oracle_override(o: &TrainArgs, socgan: &Path) -> Result<Vec<String>, String> {
    if let Some(path) = &o.oracle {
        let path = path
            .canonicalize()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("oracle: {}", path.display());
        return Ok(vec![format!(
            "data.oracle={{ source = \"seqgan\", path = {} }}",
            toml_string(&path.display().to_string())
        )]);
    }
    let shared = workspace_root()
        .join("../shared/data/seqgan_oracle/seqgan_oracle_target_params.safetensors");
    if shared.is_file() {
        println!("oracle: SeqGAN's fixed oracle, {}", shared.display());
        return Ok(Vec::new());
    }
    if let Some(cached) = cached_seqgan_oracle(socgan) {
        println!("oracle: SeqGAN's fixed oracle, {}", cached.display());
        return Ok(vec![format!(
            "data.oracle={{ source = \"seqgan\", path = {} }}",
            toml_string(&cached.display().to_string())
        )]);
    }
    println!("oracle: SeqGAN's fixed oracle is neither in ../shared/data nor downloaded (`cargo xtask download seqgan_oracle`); using a seeded random oracle (not comparable to the papers' tables; pass --oracle FILE)");
    Ok(vec!["data.oracle={ source = \"random\", seed = 1 }".into()])
}

/// The oracle `socgan data download seqgan_oracle` put in the hub cache, if it is there.
fn cached_seqgan_oracle(socgan: &Path) -> Option<PathBuf> {
    let files = cached_files(socgan, "seqgan_oracle").ok()?;
    let (_, path) = files.into_iter().next()?;
    path.is_file().then_some(path)
}

/// The files of a named data set in the hub cache as `(split, path)`, from what `socgan data
/// download --offline NAME` lists (`name <TAB> split <TAB> path`, one file per line).
fn cached_files(socgan: &Path, name: &str) -> Result<Vec<(String, PathBuf)>, String> {
    let output = Command::new(socgan)
        .args(["data", "download", "--offline", name])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", socgan.display()))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let (_, split, path) = (cols.next()?, cols.next()?, cols.next()?);
            Some((split.to_string(), PathBuf::from(path)))
        })
        .collect())
}

fn protocol(o: &TrainArgs, socgan: &Path) -> Result<Protocol, String> {
    let Some(name) = o.dataset.as_deref() else {
        return Ok(Protocol {
            configs: if o.full {
                "oracle-full"
            } else {
                "oracle-quick"
            },
            name: if o.full { "full" } else { "quick" },
            data: oracle_override(o, socgan)?,
            relational_memory: o.full,
        });
    };
    let (train, test) = text_dataset(socgan, name)?;
    Ok(Protocol {
        configs: if name.starts_with("tweet_eval") {
            "tweeteval"
        } else {
            "coco"
        },
        name: "text",
        relational_memory: true,
        data: vec![
            format!("data.train={}", toml_string(&train.display().to_string())),
            format!("data.test={}", toml_string(&test.display().to_string())),
        ],
    })
}

pub fn run(o: TrainArgs) -> Result<(), String> {
    let quick = !o.full && o.dataset.is_none();
    if let Some(only) = o.only.as_deref() {
        if quick && MODELS.iter().any(|m| m.name == only && m.relational_memory) {
            return Err(format!(
                "--only {only}: the quick protocol has no relational-memory models; add --full or --dataset"
            ));
        }
    }
    let socgan = build_socgan(&o.features)?;
    let p = protocol(&o, &socgan)?;
    let data_name = o
        .dataset
        .as_deref()
        .map(|d| d.replace('/', "-"))
        .unwrap_or_else(|| "oracle".to_string());
    let out = o.out.clone().unwrap_or_else(|| {
        workspace_root()
            .join("runs")
            .join(format!("{data_name}-{}", p.name))
    });
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let out = out
        .canonicalize()
        .map_err(|e| format!("{}: {e}", out.display()))?;
    for model in &MODELS {
        let wanted = match o.only.as_deref() {
            Some(only) => only == model.name,
            None => p.relational_memory || !model.relational_memory,
        };
        if wanted {
            train_model(&socgan, &p, model, &out, o.seed)?;
        }
    }
    match &o.dataset {
        Some(name) => print_text_table(&out, &socgan, name, name == "image_coco"),
        None => print_oracle_table(&out, &p),
    }
}

/// `socgan train --config configs/<protocol>/<model>.toml --set ...`, run from the workspace root
/// (the configs' relative paths start there).
fn train_model(
    socgan: &Path,
    p: &Protocol,
    model: &Model,
    out: &Path,
    seed: u64,
) -> Result<(), String> {
    let (model, init_from) = (model.name, model.init_from);
    let config = workspace_root()
        .join("configs")
        .join(p.configs)
        .join(format!("{model}.toml"));
    let mut sets = p.data.clone();
    sets.push(format!("seed={seed}"));
    sets.push(format!(
        "out_dir={}",
        toml_string(&out.join(model).display().to_string())
    ));
    if let Some(mle) = init_from {
        sets.push(format!(
            "init_from={}",
            toml_string(&out.join(mle).display().to_string())
        ));
    }
    let mut command = Command::new(socgan);
    command
        .current_dir(workspace_root())
        .args(["train", "--overwrite", "--config"])
        .arg(&config);
    for s in &sets {
        command.args(["--set", s]);
    }
    println!(
        "== {model}: socgan train --config {} --set {}",
        config.display(),
        sets.join(" --set ")
    );
    let status = command
        .status()
        .map_err(|e| format!("cannot run {}: {e}", socgan.display()))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("{model} run failed"))
}

/// The results of the completed run in `dir`, if there is one.
fn results(dir: &Path) -> Option<RunResults> {
    let text = fs::read_to_string(dir.join("results.json")).ok()?;
    serde_json::from_str::<RunResults>(&text)
        .ok()
        .filter(|r| r.completed)
}

fn fmt(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x:.3}"))
        .unwrap_or_else(|| "-".into())
}

fn write_summary(out: &Path, table: &str) -> Result<(), String> {
    println!("\n{table}");
    let summary = out.join("summary.md");
    fs::write(&summary, table).map_err(|e| format!("{}: {e}", summary.display()))?;
    println!("written: {}", summary.display());
    Ok(())
}

fn print_oracle_table(out: &Path, p: &Protocol) -> Result<(), String> {
    let mut rows = Vec::new();
    let mut floor = None;
    for model in &MODELS {
        if let Some(r) = results(&out.join(model.name)) {
            let m = &r.final_metrics;
            floor = floor.or(m.get(metric::NLL_ORACLE_FLOOR).copied());
            rows.push((
                model,
                m.get(metric::NLL_ORACLE).copied(),
                m.get(metric::NLL_GEN).copied(),
            ));
        }
    }
    let published = |row: Option<&str>| {
        PUBLISHED
            .iter()
            .find(|(l, _)| Some(*l) == row)
            .map(|(_, v)| format!("{v:.3}"))
            .unwrap_or_default()
    };
    let mut table = format!(
        "synthetic oracle, length 20 ({} protocol, configs/{})\n\n| model | NLL_oracle | NLL_gen | published NLL_oracle (RelGAN Table 1) |\n|---|---|---|---|\n",
        p.name, p.configs
    );
    table += &format!(
        "| oracle floor | {} | - | {} |\n",
        fmt(floor),
        published(Some("Real (oracle floor)"))
    );
    for (model, nll_oracle, nll_gen) in rows {
        table += &format!(
            "| {} | {} | {} | {} |\n",
            model.label,
            fmt(nll_oracle),
            fmt(nll_gen),
            published(model.published)
        );
    }
    table += &format!("\nloss curves: {}/*/loss_curve.svg\n", out.display());
    write_summary(out, &table)
}

/// Runs `socgan eval ARGS --output FILE` and reads FILE.
fn socgan_eval(socgan: &Path, args: &[String], output: &Path) -> Result<Vec<EvalResult>, String> {
    let status = Command::new(socgan)
        .arg("eval")
        .args(args)
        .arg("--output")
        .arg(output)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", socgan.display()))?;
    if !status.success() {
        return Err(format!("socgan eval {} failed", args.join(" ")));
    }
    let text = fs::read_to_string(output).map_err(|e| format!("{}: {e}", output.display()))?;
    text.lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("{}: `{l}`: {e}", output.display())))
        .collect()
}

/// The train and test files of a named data set: the workspace's copy in `../shared/data` when
/// there is one, else the hub cache (`cargo xtask download NAME` fills it).
pub(crate) fn text_dataset(socgan: &Path, name: &str) -> Result<(PathBuf, PathBuf), String> {
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
        let canonical = |p: PathBuf| p.canonicalize().unwrap_or(p);
        return Ok((canonical(train), canonical(test)));
    }
    let listing = cached_files(socgan, name).map_err(|e| {
        format!(
            "{name}: not in ../shared/data nor in the hub cache ({e}); run `cargo xtask download {}` on a machine with internet",
            name.split('/').next().unwrap_or(name)
        )
    })?;
    let split = |wanted: &str| {
        let files: Vec<&PathBuf> = listing
            .iter()
            .filter(|(split, _)| split == wanted)
            .map(|(_, path)| path)
            .collect();
        match files.as_slice() {
            [one] => Ok(one.to_path_buf()),
            _ => Err(format!(
                "{name}: expected one {wanted} file, found {files:?}"
            )),
        }
    };
    println!("data: {name} from the hub cache");
    Ok((split("train")?, split("test")?))
}

/// A row of BLEU-2..5, Self-BLEU-2..5 and NLL_gen.
fn text_row(label: &str, hyps: &str, m: &BTreeMap<String, f64>) -> String {
    let get = |k: &str| m.get(k).copied();
    let bleu: Vec<String> = (2..=5).map(|n| fmt(get(&metric::bleu(n)))).collect();
    let selfb: Vec<String> = (2..=5).map(|n| fmt(get(&metric::self_bleu(n)))).collect();
    format!(
        "| {label} | {hyps} | {} | {} | {} |\n",
        bleu.join(" | "),
        selfb.join(" | "),
        fmt(get(metric::NLL_GEN))
    )
}

fn published_coco_rows() -> String {
    let mut rows = String::new();
    for (label, bleu, nll) in PUBLISHED_COCO {
        let mut m = BTreeMap::new();
        for (n, v) in (2..=5).zip(bleu) {
            m.insert(metric::bleu(n), v);
        }
        if label == "MLE" {
            for (n, v) in (2..=5).zip(TEXYGEN_MLE_SELF_BLEU) {
                m.insert(metric::self_bleu(n), v);
            }
        }
        m.insert(metric::NLL_GEN.into(), nll);
        let hyps = if label == "MLE" {
            "100 / Texygen's"
        } else {
            "100"
        };
        rows += &text_row(&format!("published {label}"), hyps, &m);
    }
    rows
}

fn print_text_table(
    out: &Path,
    socgan: &Path,
    dataset: &str,
    published: bool,
) -> Result<(), String> {
    let mut table = format!(
        "{dataset} (text protocol; hypotheses sampled at temperature 1, scored against the whole test set)\n\n\
         | model | hypotheses | BLEU-2 | BLEU-3 | BLEU-4 | BLEU-5 | Self-BLEU-2 | Self-BLEU-3 | Self-BLEU-4 | Self-BLEU-5 | NLL_gen |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    let runs: Vec<(&str, PathBuf, RunResults)> = MODELS
        .iter()
        .filter_map(|model| {
            let dir = out.join(model.name);
            results(&dir).map(|r| (model.label, dir, r))
        })
        .collect();
    for (label, dir, r) in &runs {
        // The papers' count (RelGAN 100, TextGAN-PyTorch 200) beside the run's larger one.
        let at_200 = socgan_eval(
            socgan,
            &[
                "--checkpoint".into(),
                dir.display().to_string(),
                "--samples".into(),
                "200".into(),
            ],
            &dir.join("eval-200.jsonl"),
        )?;
        if let Some(e) = at_200.first() {
            table += &text_row(&format!("socgan {label}"), "200", &e.metrics);
        }
        table += &text_row(&format!("socgan {label}"), "1000", &r.final_metrics);
    }
    if published {
        table += &published_coco_rows();
    }

    // Quality-diversity: every model over the same temperatures, one curve each.
    let chart = out.join("quality_diversity.svg");
    let mut args = vec!["--checkpoint".to_string()];
    args.extend(runs.iter().map(|(_, dir, _)| dir.display().to_string()));
    args.extend([
        "--temperatures".into(),
        SWEEP_TEMPERATURES.into(),
        "--samples".into(),
        "1000".into(),
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
    let sweep = socgan_eval(socgan, &args, &out.join("quality_diversity.jsonl"))?;
    table += &format!(
        "\nQuality-diversity sweep (1,000 hypotheses per point; chart: {})\n\n\
         | model | temperature | BLEU-4 | Self-BLEU-4 | NLL_gen |\n|---|---|---|---|---|\n",
        chart.display()
    );
    for point in &sweep {
        let m = &point.metrics;
        // The run's folder tells apart two runs of one algorithm (RelGAN's LSTM and RMC).
        let run = Path::new(&point.checkpoint)
            .ancestors()
            .find(|p| MODELS.iter().any(|m| p.ends_with(m.name)))
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        table += &format!(
            "| {} ({run}) | {:.2} | {} | {} | {} |\n",
            point.algorithm,
            point.temperature,
            fmt(m.get(&metric::bleu(4)).copied()),
            fmt(m.get(&metric::self_bleu(4)).copied()),
            fmt(m.get(metric::NLL_GEN).copied()),
        );
    }
    write_summary(out, &table)
}
