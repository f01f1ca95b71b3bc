//! End-to-end tests of the few-label classifier through the `socgan` binary: train from a
//! TweetEval-layout folder without a config, predict, evaluate, the example configs, and the
//! bad inputs a user meets. Posts are generated here: each class has its own words.

use std::path::{Path, PathBuf};

use crate::support::run::{assert_one_line_error, assert_success, socgan, stdout_json};

const CLASS_WORDS: [&[&str]; 3] = [
    &["awful", "hate", "worst", "angry", "broken"],
    &["okay", "meeting", "schedule", "report", "today"],
    &["love", "great", "happy", "amazing", "win"],
];
const FILLER: [&str; 6] = ["the", "a", "my", "this", "@user", "so"];

/// `n` posts of a TweetEval split: `{split}_text.txt`, `{split}_labels.txt` (class ids).
fn write_split(dir: &Path, split: &str, n: usize, offset: usize) {
    let mut texts = String::new();
    let mut labels = String::new();
    for i in offset..offset + n {
        let class = i % 3;
        let words = CLASS_WORDS[class];
        texts.push_str(&format!(
            "{} {} {} {} \n",
            FILLER[i % FILLER.len()],
            words[i % words.len()],
            FILLER[(i / 3) % FILLER.len()],
            words[(i / 5) % words.len()]
        ));
        labels.push_str(&format!("{class}\n"));
    }
    std::fs::write(dir.join(format!("{split}_text.txt")), texts).unwrap();
    std::fs::write(dir.join(format!("{split}_labels.txt")), labels).unwrap();
}

pub(crate) fn tweeteval_folder(root: &Path) -> PathBuf {
    let dir = root.join("sentiment");
    std::fs::create_dir_all(&dir).unwrap();
    write_split(&dir, "train", 240, 0);
    write_split(&dir, "val", 30, 1000);
    write_split(&dir, "test", 60, 2000);
    std::fs::write(
        dir.join("mapping.txt"),
        "0\tnegative\n1\tneutral\n2\tpositive\n",
    )
    .unwrap();
    dir
}

/// A tiny CNN, so that a run takes a moment.
pub(crate) const TINY_CNN: [&str; 3] = [
    "encoder={ kind = \"cnn\", embed_dim = 8, filter_sizes = [2, 3], num_filters = [6, 6], max_len = 8, vocab_size = 64, min_frequency = 1 }",
    "gan.hidden_dim=16",
    "schedule.min_steps=0",
];

fn train(dataset: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--quiet",
        "--task",
        "text-classifier",
        "--dataset",
        dataset.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    for s in TINY_CNN {
        args.extend(["--set", s]);
    }
    socgan(&args)
}

/// The metrics log without its wall-clock times.
fn losses(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("elapsed_s");
            v
        })
        .collect()
}

#[test]
fn few_label_gan_classifier_trains_predicts_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let data = tweeteval_folder(dir.path());
    let run = dir.path().join("run");
    let summary = stdout_json(&train(
        &data,
        &run,
        &[
            "--labelled-fraction",
            "0.1",
            "--epochs",
            "40",
            "--set",
            "optim.encoder.lr=0.01",
        ],
    ));
    crate::support::run::assert_declared_checkpoint_files(
        &run,
        gan_core::Experiment::checkpoint_files(&text_classifier::experiment::ClassifierExperiment),
    );
    assert_eq!(summary["completed"], true);
    assert_eq!(summary["best"]["metric"], "val/score");
    let score = summary["final"]["test/score"].as_f64().unwrap();
    assert!(score > 0.8, "macro-recall {score} on separable classes");
    assert!(run.join("confusion_matrix.svg").is_file());
    assert!(run.join("reliability.svg").is_file());
    let report = std::fs::read_to_string(run.join("test_report.txt")).unwrap();
    assert!(report.contains("macro-averaged recall"), "{report}");

    // Same seed, same losses.
    let again = dir.path().join("again");
    stdout_json(&train(
        &data,
        &again,
        &[
            "--labelled-fraction",
            "0.1",
            "--epochs",
            "40",
            "--set",
            "optim.encoder.lr=0.01",
        ],
    ));
    assert_eq!(losses(&run), losses(&again));

    // Predictions keep the input order, one row per post with every class probability.
    let input = dir.path().join("new.txt");
    std::fs::write(&input, "the hate my awful \na love, so great \n").unwrap();
    let out = dir.path().join("pred.csv");
    assert_success(&socgan(&[
        "predict",
        "--checkpoint",
        run.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]));
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "text,label,p_negative,p_neutral,p_positive");
    assert!(
        lines[1].starts_with("the hate my awful ,negative,"),
        "{csv}"
    );
    assert!(
        lines[2].starts_with("\"a love, so great \",positive,"),
        "{csv}"
    );
    let jsonl = dir.path().join("pred.jsonl");
    assert_success(&socgan(&[
        "predict",
        "--checkpoint",
        run.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        jsonl.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap().lines().count(), 2);

    // Evaluation prints the score and writes the chart.
    let eval = socgan(&["eval", "--checkpoint", run.to_str().unwrap(), "--best"]);
    let line = stdout_json(&eval);
    let best_step = summary["best"]["step"].as_u64().unwrap();
    let at_best = losses(&run)
        .into_iter()
        .find(|r| r["kind"] == "eval" && r["step"].as_u64() == Some(best_step))
        .unwrap();
    let best_score = at_best["test/score"].as_f64().unwrap();
    assert!((line["score"].as_f64().unwrap() - best_score).abs() < 1e-12);
    assert!(run.join("eval_confusion_matrix.svg").is_file());
}

#[test]
fn labelled_only_and_salimans_runs_train_and_a_tiny_bert_encodes_with_a_cache() {
    let dir = tempfile::tempdir().unwrap();
    let data = tweeteval_folder(dir.path());
    for method in ["labelled-only", "gan-salimans"] {
        let run = dir.path().join(method);
        let summary = stdout_json(&train(
            &data,
            &run,
            &[
                "--method",
                method,
                "--labelled-fraction",
                "0.5",
                "--epochs",
                "1",
            ],
        ));
        assert_eq!(summary["completed"], true, "{method}");
    }
    let bert = dir.path().join("bert");
    std::fs::create_dir_all(&bert).unwrap();
    text_classifier::encoder::minilm::testing::tiny_bert(&bert);
    let cache = dir.path().join("cache");
    let minilm = format!(
        "encoder={{ kind = \"minilm\", model = {:?}, cache_dir = {:?} }}",
        bert.display().to_string(),
        cache.display().to_string()
    );
    let run = |name: &str| {
        let out = dir.path().join(name);
        stdout_json(&socgan(&[
            "train",
            "--quiet",
            "--task",
            "text-classifier",
            "--dataset",
            data.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--epochs",
            "1",
            "--set",
            &minilm,
            "--set",
            "schedule.min_steps=0",
        ]));
        losses(&out)
    };
    let first = run("bert1");
    let cached = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(cached, 3, "train, validation and test vectors are cached");
    assert_eq!(run("bert2"), first, "the cached vectors give the same run");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 3);
}

#[test]
fn bad_classifier_input_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = tweeteval_folder(dir.path());
    let run = dir.path().join("run");

    // A label outside the mapping, named with file and line.
    let labels = data.join("test_labels.txt");
    let good = std::fs::read_to_string(&labels).unwrap();
    std::fs::write(&labels, good.replacen("1\n", "7\n", 1)).unwrap();
    assert_one_line_error(
        &train(&data, &run, &[]),
        &["test_text.txt:3", "`7` is not in the mapping"],
    );
    std::fs::write(&labels, &good).unwrap();

    // Texts and labels of different lengths.
    std::fs::write(&labels, format!("{good}1\n")).unwrap();
    assert_one_line_error(&train(&data, &run, &[]), &["test", "labels"]);
    std::fs::write(&labels, &good).unwrap();

    // A class with no labelled post at the chosen fraction.
    std::fs::write(
        data.join("mapping.txt"),
        "0\tnegative\n1\tneutral\n2\tpositive\n3\trare\n",
    )
    .unwrap();
    let train_labels = data.join("train_labels.txt");
    let original = std::fs::read_to_string(&train_labels).unwrap();
    std::fs::write(&train_labels, original.replacen("0\n", "3\n", 1)).unwrap();
    assert_one_line_error(
        &train(&data, &run, &["--labelled-fraction", "0.1"]),
        &["class `rare` has no labelled post"],
    );
    std::fs::write(&train_labels, &original).unwrap();
    std::fs::write(
        data.join("mapping.txt"),
        "0\tnegative\n1\tneutral\n2\tpositive\n",
    )
    .unwrap();

    // An encoder directory without its files.
    let empty = dir.path().join("empty-model");
    std::fs::create_dir_all(&empty).unwrap();
    assert_one_line_error(
        &socgan(&[
            "train",
            "--task",
            "text-classifier",
            "--dataset",
            data.to_str().unwrap(),
            "--out-dir",
            run.to_str().unwrap(),
            "--encoder",
            "minilm",
            "--encoder-model",
            empty.to_str().unwrap(),
        ]),
        &[
            "empty-model",
            "config.json, tokenizer.json, model.safetensors missing",
        ],
    );
    // Nothing was written for any of them.
    assert!(!run.exists());
    // An unknown config key.
    assert_one_line_error(
        &train(&data, &run, &["--set", "nope=1"]),
        &["unknown field `nope`"],
    );
}

#[test]
fn a_fine_tuned_bert_encoder_trains_and_its_checkpoint_scores_the_same_when_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let data = tweeteval_folder(dir.path());
    let bert = dir.path().join("bert");
    std::fs::create_dir_all(&bert).unwrap();
    text_classifier::encoder::minilm::testing::tiny_bert(&bert);
    let run = dir.path().join("finetuned");
    let summary = stdout_json(&socgan(&[
        "train",
        "--quiet",
        "--task",
        "text-classifier",
        "--dataset",
        data.to_str().unwrap(),
        "--out-dir",
        run.to_str().unwrap(),
        "--encoder",
        "minilm-finetuned",
        "--encoder-model",
        bert.to_str().unwrap(),
        "--labelled-fraction",
        "0.5",
        "--epochs",
        "2",
        "--set",
        "schedule.min_steps=0",
        "--set",
        "gan.hidden_dim=16",
    ]));
    assert_eq!(summary["completed"], true);

    // The encoder's weights moved away from the pretrained ones, every tensor of them.
    let pretrained =
        candle_core::safetensors::load(bert.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let latest = std::fs::read_to_string(run.join("checkpoints/latest")).unwrap();
    let saved = candle_core::safetensors::load(
        run.join("checkpoints")
            .join(latest.trim())
            .join("weights.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let mut compared = 0;
    for (name, before) in &pretrained {
        let after = &saved[&format!("encoder.{name}")];
        let moved = (after - before)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        // Only the rows of the positions and token types the posts use get a gradient.
        assert!(moved > 0.0, "{name} did not train");
        compared += 1;
    }
    assert!(compared > 20, "{compared}");

    // Loaded back, the fine-tuned encoder gives the test score the run logged.
    let line = stdout_json(&socgan(&["eval", "--checkpoint", run.to_str().unwrap()]));
    let last = losses(&run)
        .into_iter()
        .rfind(|r| r["kind"] == "eval")
        .unwrap();
    let logged = last["test/score"].as_f64().unwrap();
    assert!(
        (line["score"].as_f64().unwrap() - logged).abs() < 1e-9,
        "{line} vs {logged}"
    );
}

#[test]
fn every_example_classifier_config_trains_an_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let data = tweeteval_folder(dir.path());
    let bert = dir.path().join("bert");
    std::fs::create_dir_all(&bert).unwrap();
    text_classifier::encoder::minilm::testing::tiny_bert(&bert);
    let detection_files: Vec<(&str, PathBuf)> = ["train", "validation", "test"]
        .iter()
        .map(|name| {
            let mut text = String::from("tweet,text,label,source\n");
            for i in 0..40 {
                let (words, label, source) = [
                    ("officials report new cases today", "real", "human"),
                    ("miracle cure they hide from you", "fake", "bot"),
                ][i % 2];
                text += &format!("{words} {i},{words} {i},{label},{source}\n");
            }
            let path = dir.path().join(format!("detection-{name}.csv"));
            std::fs::write(&path, text).unwrap();
            (*name, path)
        })
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut configs: Vec<PathBuf> = ["sentiment", "trec", "detection"]
        .iter()
        .flat_map(|p| std::fs::read_dir(root.join(p)).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    configs.sort();
    let mut trained = 0;
    for config in configs {
        if config.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&config).unwrap();
        let protocol = config
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let out = dir.path().join(protocol).join(config.file_stem().unwrap());
        let mut sets = vec![
            format!("out_dir={:?}", out.display().to_string()),
            format!(
                "data.train={:?}",
                data.join("train_text.txt").display().to_string()
            ),
            format!(
                "data.validation={:?}",
                data.join("val_text.txt").display().to_string()
            ),
            format!(
                "data.test={:?}",
                data.join("test_text.txt").display().to_string()
            ),
            "schedule.epochs=1".into(),
            "schedule.min_steps=0".into(),
            "gan.hidden_dim=16".into(),
        ];
        if protocol == "detection" {
            // Two classes with a source column, under both text column names the configs use.
            for (name, path) in &detection_files {
                sets.push(format!("data.{name}={:?}", path.display().to_string()));
            }
            sets.push("detection.positive_class=\"fake\"".into());
        }
        if protocol == "trec" {
            sets.push("data.layout=\"auto\"".into());
            sets.push(format!(
                "data.unlabelled={:?}",
                data.join("val_text.txt").display().to_string()
            ));
        }
        if text.contains("\"minilm") {
            sets.push(format!("encoder.model={:?}", bert.display().to_string()));
            sets.push(format!(
                "encoder.cache_dir={:?}",
                dir.path().join("cache").display().to_string()
            ));
        } else if text.contains("level = \"character\"") {
            sets.push("encoder={ kind = \"cnn\", level = \"character\", embed_dim = 8, filter_sizes = [2, 3], num_filters = [6, 6], max_len = 24, vocab_size = 64, min_frequency = 1 }".to_string());
        } else {
            sets.push(TINY_CNN[0].to_string());
        }
        let mut args = vec!["train", "--quiet", "--config", config.to_str().unwrap()];
        for s in &sets {
            args.extend(["--set", s.as_str()]);
        }
        let summary = stdout_json(&socgan(&args));
        assert_eq!(summary["completed"], true, "{}", config.display());
        trained += 1;
    }
    assert!(trained >= 8, "{trained} configs");
}

#[test]
fn a_halted_and_resumed_classifier_run_ends_where_an_uninterrupted_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = tweeteval_folder(dir.path());
    let whole = dir.path().join("whole");
    let parts = dir.path().join("parts");
    let flags = ["--labelled-fraction", "0.5", "--epochs", "3"];
    stdout_json(&train(&data, &whole, &flags));
    let mut halted: Vec<&str> = flags.to_vec();
    halted.extend(["--halt-after", "7"]);
    let first = stdout_json(&train(&data, &parts, &halted));
    assert_eq!(first["completed"], false);
    let mut resumed: Vec<&str> = flags.to_vec();
    resumed.push("--resume");
    let done = stdout_json(&train(&data, &parts, &resumed));
    assert_eq!(done["completed"], true);
    assert_eq!(losses(&whole), losses(&parts));
}

/// A two-class run (fake or real posts, a CSV with named columns): the detection metrics beside
/// the label scores, the positive class chosen by name, and the decision threshold chosen on
/// validation posts and applied to the test posts.
#[test]
fn a_two_class_run_reports_detection_metrics_for_the_named_positive_class() {
    let dir = tempfile::tempdir().unwrap();
    let words = [
        ["cdc", "reports", "deaths", "today"],
        ["miracle", "cure", "hoax", "shocking"],
    ];
    let write = |name: &str, n: usize, offset: usize| {
        let mut text = String::from("id,tweet,label,source\n");
        for i in offset..offset + n {
            let class = i % 2;
            let w = words[class];
            text.push_str(&format!(
                "{i},{} {} {} the news,{},{}\n",
                w[i % 4],
                w[(i / 2) % 4],
                FILLER[i % FILLER.len()],
                ["real", "fake"][class],
                ["human", "bot_a", "human", "bot_b"][i % 4]
            ));
        }
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let (train, val, test) = (
        write("train.csv", 120, 0),
        write("val.csv", 40, 500),
        write("test.csv", 40, 900),
    );
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/detection/constraint-tfidf.toml");
    let run = |extra: &str| {
        let sets = [
            format!("data.train={:?}", train.display().to_string()),
            format!("data.validation={:?}", val.display().to_string()),
            format!("data.test={:?}", test.display().to_string()),
            format!("out_dir={:?}", dir.path().join("run").display().to_string()),
            extra.to_string(),
        ];
        let mut args = vec![
            "train",
            "--quiet",
            "--overwrite",
            "--config",
            config.to_str().unwrap(),
        ];
        for s in &sets {
            args.extend(["--set", s.as_str()]);
        }
        socgan(&args)
    };
    let summary = stdout_json(&run("detection.positive_class=\"fake\""));
    let m = &summary["final"];
    for key in [
        "test/ece",
        "test/roc_auc",
        "test/pr_auc",
        "val/threshold",
        "test/weighted_f1_at_threshold",
    ] {
        let v = m[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing: {m}"));
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    // The classes are separable: the positive class ranks above the other.
    assert!(m["test/roc_auc"].as_f64().unwrap() > 0.9, "{m}");
    let chart = std::fs::read_to_string(dir.path().join("run/reliability.svg")).unwrap();
    assert!(chart.contains("reliability (ECE"), "{chart}");
    // The same posts exported with `;` (commas in no post here): the delimiter is sniffed.
    for path in [&train, &val, &test] {
        let text = std::fs::read_to_string(path).unwrap().replace(',', ";");
        std::fs::write(path, text).unwrap();
    }
    let semicolons = stdout_json(&run("detection.positive_class=\"fake\""));
    assert_eq!(
        semicolons["final"]["test/weighted_f1"],
        m["test/weighted_f1"]
    );
    assert_one_line_error(&run("data.delimiter=\"x\""), &["data.delimiter"]);
    assert_one_line_error(
        &run("detection.positive_class=\"satire\""),
        &["positive_class `satire`", "fake, real"],
    );

    // Sources: accuracy per source in the report; leave one out: train without bot_b, test on it.
    stdout_json(&run("detection.source_field=\"source\""));
    let report = std::fs::read_to_string(dir.path().join("run/test_report.txt")).unwrap();
    assert!(
        report.contains("accuracy per source")
            && report.contains("bot_a")
            && report.contains("bot_b"),
        "{report}"
    );
    stdout_json(&run(
        "detection={ positive_class = \"fake\", source_field = \"source\", held_out_source = \"bot_b\" }",
    ));
    let report = std::fs::read_to_string(dir.path().join("run/test_report.txt")).unwrap();
    assert!(
        report.contains("`bot_b` held out of training")
            && report.contains("bot_b")
            && !report.contains("bot_a"),
        "{report}"
    );
    // The same report as JSON (a TF-IDF run keeps no checkpoint to `socgan eval`).
    let line: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run/test_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(line["posts"], 30, "{line}");
    assert_eq!(line["per_source"]["bot_b"]["posts"], 10, "{line}");
    let (low, high) = (
        line["roc_auc_low"].as_f64().unwrap(),
        line["roc_auc_high"].as_f64().unwrap(),
    );
    assert!(
        low <= line["roc_auc"].as_f64().unwrap() && high >= low,
        "{line}"
    );
    assert_one_line_error(
        &run("detection={ positive_class = \"fake\", source_field = \"source\", held_out_source = \"bot_c\" }"),
        &["test.csv", "no post of the held-out source `bot_c`", "bot_a, bot_b, human"],
    );
}
