//! `cargo xtask detectability`: how easily socgan's own generators are told from people, as a
//! classifier two-sample test. Real held-out posts (the data set's test split, rendered as the
//! generators write: `socgan data render`) against as many posts from each generator (MLE,
//! SeqGAN, RelGAN, and CatGAN where labels exist). Per generator: a trained detector (a
//! `configs/detection/generated-*.toml` run on half of the posts, validated on a quarter, tested
//! on the last quarter; ROC-AUC with a bootstrap interval), the same detector trained without
//! that generator's posts (leave-one-generator-out), and from `socgan audit` the trivial tells
//! (naive Bayes on the length alone, on the words alone) and the zero-shot detector (likelihood
//! and GLTR rank shares under the MLE language model). Generators missing from the runs folder
//! are trained first, with shortened adversarial schedules (`--rounds`).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::train::text_dataset;
use crate::{build_socgan, results, socgan_stdout, workspace_root};

#[derive(clap::Args)]
pub struct DetectabilityArgs {
    /// image_coco or tweet_eval/<task> (CatGAN on tweet_eval/emotion, whose labels its configs
    /// use).
    #[arg(long, default_value = "image_coco")]
    dataset: String,
    /// The generator runs (default runs/detect/<dataset>); missing ones are trained there.
    #[arg(long)]
    runs: Option<PathBuf>,
    /// Adversarial rounds of a generator this trains, MODEL=N (repeatable; defaults: seqgan 10,
    /// relgan 100 on COCO and 50 on tweets, catgan 40; the configs' full schedules are hours).
    #[arg(long = "rounds", value_name = "MODEL=N")]
    rounds: Vec<String>,
    /// The trained detector's config.
    #[arg(long, default_value = "configs/detection/generated-tfidf.toml")]
    detector: PathBuf,
    /// Seeds the generators' samples and the split of the posts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where the real held-out posts come from: `train-share`, a fifth of the training file
    /// (the generators learn from the rest: held-out posts of the same distribution), or
    /// `test`, the data set's test file (generators trained on the whole training file, in
    /// runs/detect/<dataset>-test). Texygen's COCO test captions are not of its training
    /// captions' distribution (a detector tells them apart at AUC 0.97), so COCO needs the share.
    #[arg(long, value_enum, default_value = "train-share")]
    heldout: Heldout,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Heldout {
    TrainShare,
    Test,
}

/// The training file without a fifth of its posts, and that fifth (by a hash of the seed and
/// the post's index), written under `dir`; TweetEval's paired label files split alike (and its
/// `mapping.txt` copied), so that a class-conditional generator trains on the share too.
fn split_training(train: &Path, dir: &Path, seed: u64) -> Result<(PathBuf, PathBuf), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = train
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let paired = name.ends_with("_text.txt");
    let (kept_name, held_name) = if paired {
        ("train_text.txt", "heldout_text.txt")
    } else {
        ("train.txt", "heldout.txt")
    };
    let held = |i: usize| Sha256::digest(format!("{seed}/heldout/{i}"))[0] % 5 == 0;
    let mut files = vec![(
        train.to_path_buf(),
        kept_name.to_string(),
        held_name.to_string(),
    )];
    if paired {
        files.push((
            train.with_file_name(name.replace("_text.txt", "_labels.txt")),
            "train_labels.txt".into(),
            "heldout_labels.txt".into(),
        ));
        let mapping = train.with_file_name("mapping.txt");
        fs::copy(&mapping, dir.join("mapping.txt"))
            .map_err(|e| format!("{}: {e}", mapping.display()))?;
    }
    for (source, kept, out) in files {
        let lines = read_lines(&source)?;
        let (mut a, mut b) = (String::new(), String::new());
        for (i, line) in lines.iter().enumerate() {
            let side = if held(i) { &mut b } else { &mut a };
            side.push_str(line);
            side.push('\n');
        }
        for (file, text) in [(kept, a), (out, b)] {
            let path = dir.join(file);
            fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok((dir.join(kept_name), dir.join(held_name)))
}

/// One generator run: its name (and folder), config and the run it starts from.
struct Generator {
    name: &'static str,
    config: String,
    init_from: Option<&'static str>,
    /// Adversarial rounds when this trains it (None: an MLE run).
    rounds: Option<u64>,
    /// Class-conditional: sampled per label, in the test set's label proportions.
    conditional: bool,
    /// A row of the table (CatGAN's conditional MLE start is not).
    tabled: bool,
}

fn generator(name: &'static str, config: &str) -> Generator {
    Generator {
        name,
        config: config.to_string(),
        init_from: None,
        rounds: None,
        conditional: false,
        tabled: true,
    }
}

fn generators(dataset: &str) -> Result<Vec<Generator>, String> {
    let (dir, relgan_rounds) = match dataset {
        "image_coco" => ("coco", 100),
        d if d.starts_with("tweet_eval/") => ("tweeteval", 50),
        d => {
            return Err(format!(
                "{d}: detectability runs on image_coco or tweet_eval/<task>"
            ))
        }
    };
    let adversarial = |name, config: &str, rounds| Generator {
        init_from: Some("mle"),
        rounds: Some(rounds),
        ..generator(name, config)
    };
    let config = |model: &str| format!("configs/{dir}/{model}.toml");
    let mut list = vec![
        generator("mle", &config("mle")),
        adversarial("seqgan", &config("seqgan"), 10),
        adversarial("relgan", &config("relgan"), relgan_rounds),
    ];
    if dataset == "tweet_eval/emotion" {
        list.push(Generator {
            tabled: false,
            ..generator("catgan-mle", "configs/emotion-catgan/mle.toml")
        });
        list.push(Generator {
            init_from: Some("catgan-mle"),
            rounds: Some(40),
            conditional: true,
            ..generator("catgan", "configs/emotion-catgan/catgan.toml")
        });
    }
    Ok(list)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// Trains `g` into `runs/<name>` unless a finished run is there (a stopped one is resumed).
fn ensure_trained(
    socgan: &Path,
    g: &Generator,
    runs: &Path,
    data: &[String],
    rounds: Option<u64>,
) -> Result<(), String> {
    let dir = runs.join(g.name);
    if results::finished(&dir) {
        println!("== {}: trained ({})", g.name, dir.display());
        return Ok(());
    }
    let mut command = args(&["train", "--quiet", "--config", &g.config]);
    if dir.exists() {
        command.push("--resume".into());
    }
    let mut sets = data.to_vec();
    sets.push(format!("out_dir={:?}", path_arg(&dir)));
    if let Some(from) = g.init_from {
        sets.push(format!("init_from={:?}", path_arg(&runs.join(from))));
    }
    if let Some(n) = rounds {
        sets.push(format!("schedule.adversarial_rounds={n}"));
    }
    for s in sets {
        command.extend(["--set".to_string(), s]);
    }
    println!("== {}: socgan {}", g.name, command.join(" "));
    socgan_stdout(socgan, &command).map(|_| ())
}

/// `--rounds MODEL=N` overrides of the defaults.
fn rounds_of(g: &Generator, overrides: &[String]) -> Result<Option<u64>, String> {
    for o in overrides {
        let (name, n) = o
            .split_once('=')
            .ok_or_else(|| format!("--rounds {o}: expected MODEL=N"))?;
        if name == g.name {
            return n
                .parse()
                .map(Some)
                .map_err(|_| format!("--rounds {o}: N must be a whole number"));
        }
    }
    Ok(g.rounds)
}

fn read_lines(path: &Path) -> Result<Vec<String>, String> {
    Ok(fs::read_to_string(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .lines()
        .map(str::to_string)
        .collect())
}

/// The posts per label name of a TweetEval file (`<split>_labels.txt` and `mapping.txt` beside
/// its `<split>_text.txt`).
fn label_counts(test: &Path) -> Result<Vec<(String, usize)>, String> {
    let name = test
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let ids = read_lines(&test.with_file_name(name.replace("_text.txt", "_labels.txt")))?;
    let mapping = read_lines(&test.with_file_name("mapping.txt"))?;
    Ok(mapping
        .iter()
        .filter_map(|l| l.split_once('\t'))
        .map(|(id, label)| {
            let n = ids.iter().filter(|i| i.trim() == id.trim()).count();
            (label.trim().to_string(), n)
        })
        .collect())
}

/// `n` posts of `g` (per label in the held-out posts' proportions for a conditional run).
fn generate(
    socgan: &Path,
    g: &Generator,
    run: &Path,
    n: usize,
    heldout: &Path,
    seed: u64,
) -> Result<Vec<String>, String> {
    let draw = |label: Option<&str>, count: usize| -> Result<Vec<String>, String> {
        let mut command = args(&["generate", "--checkpoint", &path_arg(run)]);
        command.extend([
            "-n".into(),
            count.to_string(),
            "--seed".into(),
            seed.to_string(),
        ]);
        if let Some(label) = label {
            command.extend(["--label".into(), label.to_string()]);
        }
        Ok(socgan_stdout(socgan, &command)?
            .lines()
            .map(str::to_string)
            .collect())
    };
    if !g.conditional {
        return draw(None, n);
    }
    let mut posts = Vec::new();
    for (label, count) in label_counts(heldout)? {
        posts.extend(draw(Some(&label), count)?);
    }
    Ok(posts)
}

/// Which part of the detector's data a post goes to: half train, a quarter validation, a
/// quarter test, by a hash of the seed, its source and its index (stable across machines).
fn part_of(seed: u64, source: &str, index: usize) -> &'static str {
    let digest = Sha256::digest(format!("{seed}/{source}/{index}"));
    match digest[0] % 4 {
        0 | 1 => "train",
        2 => "validation",
        _ => "test",
    }
}

fn csv_field(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The detector's files under `dir` (train / validation / test .csv with text, label and
/// source columns) from `(source, posts)` sets.
fn write_detector_files(dir: &Path, sets: &[(&str, &[String])], seed: u64) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for part in ["train", "validation", "test"] {
        let mut text = String::from("text,label,source\n");
        for (source, posts) in sets {
            let label = if *source == "human" {
                "human"
            } else {
                "machine"
            };
            for (i, post) in posts.iter().enumerate() {
                if part_of(seed, source, i) == part {
                    text += &format!("{},{label},{source}\n", csv_field(post));
                }
            }
        }
        let path = dir.join(format!("{part}.csv"));
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Trains the detector config on the files of `data` into `out` and returns its test report
/// (ROC-AUC with its interval, accuracy per source).
fn detector(
    socgan: &Path,
    config: &Path,
    data: &Path,
    out: &Path,
    extra: &[String],
) -> Result<Value, String> {
    let mut command = args(&[
        "train",
        "--quiet",
        "--overwrite",
        "--config",
        &path_arg(config),
    ]);
    let mut sets: Vec<String> = ["train", "validation", "test"]
        .iter()
        .map(|p| format!("data.{p}={:?}", path_arg(&data.join(format!("{p}.csv")))))
        .collect();
    sets.push(format!("out_dir={:?}", path_arg(out)));
    sets.extend(extra.iter().cloned());
    for s in sets {
        command.extend(["--set".to_string(), s]);
    }
    socgan_stdout(socgan, &command)?;
    // The test report's JSON (a TF-IDF run keeps no checkpoint to evaluate again).
    let path = out.join("test_report.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `socgan audit` of the posts in `work/<name>.txt`: the tells and the zero-shot detector (and
/// membership inference under `checkpoint`, the generator's own run).
fn audit(
    socgan: &Path,
    work: &Path,
    name: &str,
    runs: &Path,
    checkpoint: Option<PathBuf>,
) -> Result<serde_json::Map<String, Value>, String> {
    let out = work.join("audit").join(name);
    let mut command = args(&[
        "audit",
        "--train",
        &path_arg(&work.join("train.txt")),
        "--synthetic",
        &path_arg(&work.join(format!("{name}.txt"))),
        "--holdout",
        &path_arg(&work.join("real.txt")),
        "--out",
        &path_arg(&out),
        "--zero-shot",
        &path_arg(&runs.join("mle")),
    ]);
    if let Some(run) = checkpoint {
        command.extend(["--checkpoint".into(), path_arg(&run)]);
    }
    socgan_stdout(socgan, &command)?;
    let path = out.join("audit.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let report: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    report["measures"]
        .as_object()
        .cloned()
        .ok_or_else(|| format!("{}: no measures", path.display()))
}

/// `name` of `m` with its interval as `0.912 (0.90-0.93)`.
fn with_interval(m: &serde_json::Map<String, Value>, name: &str, low: &str, high: &str) -> String {
    match (m.get(name), m.get(low), m.get(high)) {
        (Some(v), Some(l), Some(h)) => format!(
            "{:.3} ({:.3}-{:.3})",
            v.as_f64().unwrap_or(f64::NAN),
            l.as_f64().unwrap_or(f64::NAN),
            h.as_f64().unwrap_or(f64::NAN)
        ),
        _ => "-".into(),
    }
}

fn measure(m: &serde_json::Map<String, Value>, name: &str) -> String {
    with_interval(m, name, &format!("{name}_low"), &format!("{name}_high"))
}

/// The rendered real posts (held-out and training) and every generator's posts, under `work`.
fn write_posts(
    socgan: &Path,
    list: &[&Generator],
    runs: &Path,
    (train, heldout): (&Path, &Path),
    work: &Path,
    seed: u64,
) -> Result<Vec<String>, String> {
    for (input, name) in [(heldout, "real.txt"), (train, "train.txt")] {
        socgan_stdout(
            socgan,
            &args(&[
                "data",
                "render",
                "--checkpoint",
                &path_arg(&runs.join("mle")),
                "--input",
                &path_arg(input),
                "--output",
                &path_arg(&work.join(name)),
            ]),
        )?;
    }
    let real = read_lines(&work.join("real.txt"))?;
    for g in list {
        let posts = generate(socgan, g, &runs.join(g.name), real.len(), heldout, seed)?;
        let path = work.join(format!("{}.txt", g.name));
        fs::write(&path, posts.join("\n") + "\n")
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(real)
}

/// Where the posts and detectors of one data set are, and how detectors are trained.
struct Bench<'a> {
    socgan: &'a Path,
    config: PathBuf,
    runs: &'a Path,
    work: PathBuf,
    real: Vec<String>,
    seed: u64,
}

impl Bench<'_> {
    /// The detector on the real posts against `name`'s alone (pairs/<name>), and the audit.
    fn pair_row<'r>(
        &self,
        name: &'r str,
        own: &[String],
        checkpoint: Option<PathBuf>,
    ) -> Result<Row<'r>, String> {
        let pair = self.work.join("pairs").join(name);
        write_detector_files(&pair, &[("human", &self.real), (name, own)], self.seed)?;
        let out = self.work.join("detectors").join(name);
        Ok(Row {
            name,
            alone: detector(self.socgan, &self.config, &pair, &out, &[])?,
            left_out: None,
            audit: audit(self.socgan, &self.work, name, self.runs, checkpoint)?,
        })
    }

    /// The detector trained on every other generator (work/all without `name`), tested on it.
    fn left_out(&self, name: &str) -> Result<Value, String> {
        detector(
            self.socgan,
            &self.config,
            &self.work.join("all"),
            &self.work.join("detectors").join(format!("without-{name}")),
            &[format!("detection.held_out_source={name:?}")],
        )
    }
}

/// A calibration set: as many real training posts as there are held-out ones (drawn by a hash
/// of the seed), as if a generator had written them: what a perfect copier would score.
fn calibration_posts(work: &Path, n: usize, seed: u64) -> Result<Vec<String>, String> {
    let train = read_lines(&work.join("train.txt"))?;
    let mut order: Vec<(Vec<u8>, usize)> = (0..train.len())
        .map(|i| {
            (
                Sha256::digest(format!("{seed}/calibration/{i}")).to_vec(),
                i,
            )
        })
        .collect();
    order.sort();
    let posts: Vec<String> = order
        .iter()
        .take(n)
        .map(|(_, i)| train[*i].clone())
        .collect();
    let path = work.join(format!("{CALIBRATION}.txt"));
    fs::write(&path, posts.join("\n") + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(posts)
}

/// The calibration row's name.
const CALIBRATION: &str = "real-training-posts";

pub fn run(o: DetectabilityArgs) -> Result<(), String> {
    let socgan = build_socgan(&[])?;
    let all = generators(&o.dataset)?;
    let (train, test) = text_dataset(&socgan, &o.dataset)?;
    let runs = o.runs.clone().unwrap_or_else(|| {
        let name = o.dataset.replace('/', "-");
        let name = match o.heldout {
            Heldout::TrainShare => name,
            Heldout::Test => format!("{name}-test"),
        };
        workspace_root().join("runs/detect").join(name)
    });
    // The generators learn from `train`; `heldout` are the real posts they are told from.
    let (train, heldout) = match o.heldout {
        Heldout::TrainShare => split_training(&train, &runs.join("data"), o.seed)?,
        Heldout::Test => (train, test.clone()),
    };
    let data = vec![
        format!("data.train={:?}", path_arg(&train)),
        format!("data.test={:?}", path_arg(&test)),
    ];
    for g in &all {
        ensure_trained(&socgan, g, &runs, &data, rounds_of(g, &o.rounds)?)?;
    }
    let tabled: Vec<&Generator> = all.iter().filter(|g| g.tabled).collect();
    let work = runs.join("work");
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    println!("== posts: rendering real ones, sampling each generator");
    let real = write_posts(&socgan, &tabled, &runs, (&train, &heldout), &work, o.seed)?;
    let calibration = calibration_posts(&work, real.len(), o.seed)?;
    let posts: Vec<(&str, Vec<String>)> = tabled
        .iter()
        .map(|g| Ok((g.name, read_lines(&work.join(format!("{}.txt", g.name)))?)))
        .collect::<Result<_, String>>()?;
    let bench = Bench {
        socgan: &socgan,
        config: workspace_root().join(&o.detector),
        runs: &runs,
        work,
        real,
        seed: o.seed,
    };
    // As many machine posts as human ones in all: an equal share of each generator's (its
    // posts are independent samples, so the first ones are a random subset), so that accuracy
    // per source is not argmax leaning to the larger class.
    let share = bench.real.len() / posts.len().max(1);
    let mut sets: Vec<(&str, &[String])> = vec![("human", &bench.real)];
    sets.extend(posts.iter().map(|(n, p)| (*n, &p[..share.min(p.len())])));
    write_detector_files(&bench.work.join("all"), &sets, o.seed)?;
    println!(
        "== detector on every generator at once ({})",
        o.detector.display()
    );
    let everyone = detector(
        &socgan,
        &bench.config,
        &bench.work.join("all"),
        &bench.work.join("detectors/all"),
        &[],
    )?;
    println!("== {CALIBRATION}: detector, audit");
    let mut rows = vec![bench.pair_row(CALIBRATION, &calibration, None)?];
    for (g, (name, own)) in tabled.iter().zip(&posts) {
        println!("== {name}: detector, leave-one-out detector, audit");
        let checkpoint = (!g.conditional).then(|| runs.join(name));
        let mut row = bench.pair_row(name, own, checkpoint)?;
        row.left_out = Some(bench.left_out(name)?);
        rows.push(row);
    }
    let table = render_table(&o, &rows, &everyone, bench.real.len());
    println!("\n{table}");
    let summary = runs.join("summary.md");
    fs::write(&summary, &table).map_err(|e| format!("{}: {e}", summary.display()))?;
    println!("written: {}", summary.display());
    Ok(())
}

struct Row<'a> {
    name: &'a str,
    alone: Value,
    /// The detector trained without this generator (none for the calibration row).
    left_out: Option<Value>,
    audit: serde_json::Map<String, Value>,
}

fn roc(eval: &Value) -> String {
    let m = eval.as_object().cloned().unwrap_or_default();
    with_interval(&m, "roc_auc", "roc_auc_low", "roc_auc_high")
}

fn source_accuracy(everyone: &Value, source: &str) -> String {
    everyone["per_source"][source]["accuracy"]
        .as_f64()
        .map_or("-".into(), |a| format!("{:.1}%", 100.0 * a))
}

fn render_table(o: &DetectabilityArgs, rows: &[Row], everyone: &Value, n: usize) -> String {
    let detector = o
        .detector
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut table = format!(
        "Detectability on {} ({n} real held-out posts, {}, against as many from each generator; seed {}; detector {detector}; AUC with 95% bootstrap intervals, 0.5: indistinguishable)\n\n\
| generator | detector AUC | detector trained without it | all-generator detector's accuracy on its posts | naive Bayes 1-2-grams | words only | length only | zero-shot likelihood (MLE LM) | GLTR top-10 share | membership AUC |\n|---|---|---|---|---|---|---|---|---|---|\n",
        o.dataset,
        match o.heldout {
            Heldout::TrainShare => "a fifth of the training file, which the generators never saw",
            Heldout::Test => "the test file",
        },
        o.seed
    );
    for r in rows {
        table += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            roc(&r.alone),
            r.left_out.as_ref().map_or("-".into(), roc),
            source_accuracy(everyone, r.name),
            measure(&r.audit, "detection_auc"),
            measure(&r.audit, "unigram_detection_auc"),
            measure(&r.audit, "length_detection_auc"),
            measure(&r.audit, "zero_shot_auc"),
            measure(&r.audit, "gltr_top10_auc"),
            r.audit
                .get("membership_auc")
                .and_then(Value::as_f64)
                .map_or("-".into(), |v| format!("{v:.3}")),
        );
    }
    table += &format!(
        "\n`{CALIBRATION}`: real posts the generators learnt from, in a generator's place (the calibration: how far the training posts themselves stand from the held-out ones).\n"
    );
    table += &format!(
        "The all-generator detector ({}) labels {} of the real posts human; its ROC-AUC over every source: {}.\n",
        detector,
        source_accuracy(everyone, "human"),
        roc(everyone)
    );
    if let Some(hardest) = rows
        .iter()
        .filter(|r| r.name != CALIBRATION)
        .min_by(|a, b| {
            let auc = |r: &Row| r.alone["roc_auc"].as_f64().unwrap_or(f64::INFINITY);
            auc(a).total_cmp(&auc(b))
        })
    {
        table += &format!(
            "Hardest to detect: {} (the lowest detector AUC, {}).\n",
            hardest.name,
            roc(&hardest.alone)
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_split_half_quarter_quarter_the_same_way_every_time() {
        let parts: Vec<&str> = (0..4000).map(|i| part_of(0, "mle", i)).collect();
        let share = |p: &str| parts.iter().filter(|&&x| x == p).count() as f64 / 4000.0;
        assert!((share("train") - 0.5).abs() < 0.03, "{}", share("train"));
        assert!((share("test") - 0.25).abs() < 0.03, "{}", share("test"));
        assert_eq!(part_of(0, "mle", 17), part_of(0, "mle", 17));
        assert_eq!(csv_field("say \"hi\", ok"), "\"say \"\"hi\"\", ok\"");
    }

    #[test]
    fn a_fifth_of_the_training_posts_is_held_out_with_its_labels() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let texts: String = (0..500).map(|i| format!("post {i}\n")).collect();
        let labels: String = (0..500).map(|i| format!("{}\n", i % 2)).collect();
        fs::write(d.join("train_text.txt"), texts).unwrap();
        fs::write(d.join("train_labels.txt"), labels).unwrap();
        fs::write(d.join("mapping.txt"), "0\ta\n1\tb\n").unwrap();
        let (kept, held) = split_training(&d.join("train_text.txt"), &d.join("split"), 0).unwrap();
        let (kept, held) = (read_lines(&kept).unwrap(), read_lines(&held).unwrap());
        assert_eq!(kept.len() + held.len(), 500);
        assert!((80..120).contains(&held.len()), "{}", held.len());
        // Each post keeps its label (post i has label i % 2).
        let held_labels = read_lines(&d.join("split/heldout_labels.txt")).unwrap();
        for (post, label) in held.iter().zip(&held_labels) {
            let i: usize = post.trim_start_matches("post ").parse().unwrap();
            assert_eq!(label, &(i % 2).to_string());
        }
        assert_eq!(
            label_counts(&d.join("split/heldout_text.txt"))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn rounds_are_overridden_by_name_and_checked() {
        let list = generators("image_coco").unwrap();
        let seqgan = list.iter().find(|g| g.name == "seqgan").unwrap();
        assert_eq!(rounds_of(seqgan, &[]).unwrap(), Some(10));
        assert_eq!(rounds_of(seqgan, &["seqgan=30".into()]).unwrap(), Some(30));
        assert!(rounds_of(seqgan, &["seqgan".into()]).is_err());
        assert!(generators("mnist").is_err());
        assert!(generators("tweet_eval/emotion")
            .unwrap()
            .iter()
            .any(|g| g.name == "catgan" && g.conditional));
    }
}
