//! End-to-end tests of next-item prediction through the `socgan` binary: train from a log
//! without a config, evaluate the checkpoint, recommend (one user, a file, an ad-hoc history),
//! resume, the example configs, and the bad inputs a user meets. Logs are generated here: each
//! user walks through the catalogue one item at a time, so the next item is learnable.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::run::{assert_one_line_error, assert_success, socgan, stdout_json};

const ITEMS: usize = 40;
const USERS: usize = 60;

/// User `u`'s history: items `start, start + 1, ...` (wrapping), 6 to 10 of them.
fn history(u: usize) -> Vec<usize> {
    let start = (u * 7) % ITEMS;
    (0..6 + u % 5).map(|k| (start + k) % ITEMS + 1).collect()
}

/// SASRec's layout: `user item` per line, time-ordered; ids are names, not numbers.
pub(crate) fn sasrec_log(dir: &Path) -> PathBuf {
    let mut text = String::new();
    for u in 0..USERS {
        for item in history(u) {
            text.push_str(&format!("u{u} m{item}\n"));
        }
    }
    let path = dir.join("log.txt");
    std::fs::write(&path, text).unwrap();
    path
}

/// The same log as MovieLens' `ratings.csv`, rows shuffled (time order is in the timestamps).
fn movielens_log(dir: &Path) -> PathBuf {
    let mut rows = Vec::new();
    for u in 0..USERS {
        for (t, item) in history(u).into_iter().enumerate() {
            rows.push(format!("{u},{item},4.0,{}", 1_000_000 + t * 60));
        }
    }
    rows.reverse();
    let path = dir.join("ratings.csv");
    std::fs::write(
        &path,
        format!("userId,movieId,rating,timestamp\n{}\n", rows.join("\n")),
    )
    .unwrap();
    path
}

pub(crate) const TINY_SASREC: &str =
    "model={ kind = \"sasrec\", hidden = 16, blocks = 1, heads = 2, max_length = 8, dropout = 0.1 }";

fn train(log: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--task",
        "behaviour",
        "--dataset",
        log.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--quiet",
        "--set",
        "training.epochs=60",
        "--set",
        "training.eval_every_epochs=20",
        "--set",
        "training.optimizer.lr=0.01",
    ];
    args.extend_from_slice(extra);
    socgan(&args)
}

#[test]
fn trains_evaluates_and_recommends_with_original_ids() {
    let dir = tempfile::tempdir().unwrap();
    let log = sasrec_log(dir.path());
    let run = dir.path().join("sasrec");
    let summary = stdout_json(&train(&log, &run, &["--set", TINY_SASREC]));
    crate::support::run::assert_declared_checkpoint_files(
        &run,
        gan_core::Experiment::checkpoint_files(&behaviour::experiment::BehaviourExperiment),
    );
    let best = &summary["best"];
    assert_eq!(best["metric"], "val/full/ndcg@10");
    let popularity = stdout_json(&train(
        &log,
        &dir.path().join("pop"),
        &["--recommender", "popularity"],
    ));
    let hr = |s: &Value| s["final"]["test/full/hr@10"].as_f64().unwrap();
    assert!(hr(&summary) > 0.8, "SASRec learned the walk: {summary}");
    assert!(hr(&popularity) < 0.5, "{popularity}");

    // Evaluating the best checkpoint reproduces the run's own evaluation of it.
    let out = socgan(&["eval", "--checkpoint", run.to_str().unwrap(), "--best"]);
    assert_success(&out);
    let line: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let logged = gan_core::testing::logged_records(&run)
        .into_iter()
        .find(|r| r["kind"] == "eval" && r["step"] == best["step"])
        .unwrap();
    for key in ["test/full/ndcg@10", "test/sampled/hr@10", "val/full/mrr"] {
        assert_eq!(line["metrics"][key], logged[key], "{key}");
    }

    // User u3 has seen m22..m30: the next item of the walk comes first, nothing seen comes back.
    let out = socgan(&[
        "recommend",
        "--checkpoint",
        run.to_str().unwrap(),
        "--user",
        "u3",
        "-k",
        "5",
    ]);
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "user,rank,item,score");
    assert_eq!(rows.len(), 6);
    assert!(rows[1].starts_with("u3,1,m31,"), "{text}");
    let seen: Vec<String> = history(3).iter().map(|i| format!(",m{i},")).collect();
    assert!(rows[1..]
        .iter()
        .all(|r| seen.iter().all(|s| !r.contains(s.as_str()))));

    // An ad-hoc history, and a file of users written as JSONL.
    let out = socgan(&[
        "recommend",
        "--checkpoint",
        run.to_str().unwrap(),
        "--history",
        "m5,m6,m7",
        "-k",
        "3",
    ]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("history,1,m8,"));
    let users = dir.path().join("users.txt");
    std::fs::write(&users, "u1\n\nu2\n").unwrap();
    let jsonl = dir.path().join("recs.jsonl");
    let out = socgan(&[
        "recommend",
        "--checkpoint",
        run.to_str().unwrap(),
        "--users",
        users.to_str().unwrap(),
        "--output",
        jsonl.to_str().unwrap(),
    ]);
    assert_success(&out);
    let lines: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["user"], "u2");
    assert_eq!(lines[1]["items"].as_array().unwrap().len(), 10);

    // Unknown ids are one clear line.
    let ckpt = run.to_str().unwrap();
    assert_one_line_error(
        &socgan(&["recommend", "--checkpoint", ckpt, "--user", "nobody"]),
        &["user `nobody` is not in the run's log"],
    );
    assert_one_line_error(
        &socgan(&["recommend", "--checkpoint", ckpt, "--history", "m1,zzz"]),
        &["item `zzz` is not in the run's log"],
    );
    std::fs::write(&users, "u1\nghost\n").unwrap();
    assert_one_line_error(
        &socgan(&[
            "recommend",
            "--checkpoint",
            ckpt,
            "--users",
            users.to_str().unwrap(),
        ]),
        &["users.txt:2", "user `ghost`"],
    );
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let log = sasrec_log(dir.path());
    let whole = dir.path().join("whole");
    let split = dir.path().join("split");
    // BCE: the sampled negatives draw from the run's RNG too.
    let extra = [
        "--set",
        TINY_SASREC,
        "--next-item-loss",
        "bce",
        "--set",
        "training.epochs=12",
        "--set",
        "training.eval_every_epochs=4",
    ];
    assert_success(&train(&log, &whole, &extra));
    let halted: Vec<&str> = extra.iter().copied().chain(["--halt-after", "5"]).collect();
    assert_success(&train(&log, &split, &halted));
    let resumed: Vec<&str> = extra.iter().copied().chain(["--resume"]).collect();
    assert_success(&train(&log, &split, &resumed));
    assert_eq!(
        gan_core::testing::logged_records(&whole),
        gan_core::testing::logged_records(&split)
    );
}

/// `--dataset .../ratings.csv` without a config reads MovieLens' columns.
#[test]
fn a_movielens_ratings_file_trains_without_naming_columns() {
    let dir = tempfile::tempdir().unwrap();
    let log = movielens_log(dir.path());
    let summary = stdout_json(&train(
        &log,
        &dir.path().join("ml"),
        &["--recommender", "popularity"],
    ));
    assert_eq!(summary["final"]["test/full/users"], USERS as f64);
}

#[test]
fn every_example_config_trains_shrunk() {
    let dir = tempfile::tempdir().unwrap();
    let sasrec = sasrec_log(dir.path());
    let movielens = movielens_log(dir.path());
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/behaviour");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&configs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert_eq!(names.len(), 10);
    for config in names {
        let stem = config.file_stem().unwrap().to_string_lossy().to_string();
        let log = if stem.starts_with("movielens") {
            &movielens
        } else {
            &sasrec
        };
        let out_dir = dir.path().join(&stem);
        let path_override = format!("data.path={:?}", log.to_str().unwrap());
        let out = socgan(&[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--quiet",
            "--set",
            &path_override,
            "--set",
            "training.epochs=1",
            "--set",
            "training.eval_every_epochs=1",
        ]);
        let summary = stdout_json(&out);
        assert_eq!(summary["final"]["test/full/users"], USERS as f64, "{stem}");
    }
}

#[test]
fn bad_logs_and_settings_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "u1 m1\nu1 m2 m3\n").unwrap();
    assert_one_line_error(&train(&bad, &dir.path().join("a"), &[]), &["bad.txt:2"]);
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    assert_one_line_error(
        &train(&empty, &dir.path().join("b"), &[]),
        &["empty.txt", "no interactions"],
    );
    let csv = dir.path().join("log.csv");
    std::fs::write(&csv, "who,what\nu1,m1\n").unwrap();
    assert_one_line_error(
        &train(
            &csv,
            &dir.path().join("c"),
            &["--user-column", "user_id", "--item-column", "what"],
        ),
        &["log.csv", "user_id"],
    );
    let log = sasrec_log(dir.path());
    // A setting only the trainer checks still fails before the run directory is touched.
    assert_one_line_error(
        &train(
            &log,
            &dir.path().join("f"),
            &["--set", "training.optimizer.lr=0.0"],
        ),
        &["optimizer `model`", "need lr > 0"],
    );
    assert!(!dir.path().join("f").exists());
    assert_one_line_error(
        &train(&log, &dir.path().join("d"), &["--set", "training.lr=0.1"]),
        &["unknown field `lr`"],
    );
    assert_one_line_error(
        &train(
            &log,
            &dir.path().join("e"),
            &[
                "--set",
                "model={ kind = \"sasrec\", hidden = 10, heads = 3 }",
            ],
        ),
        &["hidden must be a multiple of heads"],
    );
    assert!(!dir.path().join("a").exists() && !dir.path().join("e").exists());
}

/// A generator of histories (MLE, then RelGAN) on the walk log: it trains, evaluates with the
/// copy audit, writes a synthetic log with the log's own item ids, and that log augments a
/// next-item run; a synthetic log with foreign items is one clear line.
#[test]
fn a_behaviour_gan_generates_a_log_that_augments_training() {
    let dir = tempfile::tempdir().unwrap();
    let log = sasrec_log(dir.path());
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/behaviour-gan");
    let train_gan = |config: &str, log: &Path, out: &Path| {
        let path_override = format!("data.path={:?}", log.to_str().unwrap());
        stdout_json(&socgan(&[
            "train",
            "--config",
            configs.join(config).to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--quiet",
            "--set",
            &path_override,
            "--set",
            "max_items=8",
            "--set",
            "samples=50",
            "--set",
            "batch_size=16",
            "--set",
            "discriminator={ embed_dim = 8, filter_sizes = [2, 3], num_filters = [4, 4], num_rep = 4 }",
            "--set",
            "schedule.mle_epochs=4",
            "--set",
            "schedule.mle_eval_every_epochs=2",
            "--set",
            "schedule.adversarial_rounds=4",
            "--set",
            "schedule.adversarial_eval_every=2",
        ]))
    };
    let movielens = train_gan(
        "movielens-relgan.toml",
        &movielens_log(dir.path()),
        &dir.path().join("ml"),
    );
    assert!(movielens["final"]["test/nll_gen"]
        .as_f64()
        .unwrap()
        .is_finite());
    let gan = dir.path().join("gan");
    let summary = train_gan("games-relgan.toml", &log, &gan);
    let last = &summary["final"];
    for key in [
        "test/nll_gen",
        "test/popularity_jsd",
        "test/dcr/closer_to_training",
        "test/real/popularity_jsd",
    ] {
        assert!(last[key].as_f64().unwrap().is_finite(), "{key}: {summary}");
    }
    let out = socgan(&[
        "eval",
        "--checkpoint",
        gan.to_str().unwrap(),
        "--samples",
        "30",
    ]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("copy_rate"));

    let synthetic = dir.path().join("synthetic.txt");
    assert_success(&socgan(&[
        "generate",
        "--checkpoint",
        gan.to_str().unwrap(),
        "-n",
        "40",
        "--output",
        synthetic.to_str().unwrap(),
    ]));
    let text = std::fs::read_to_string(&synthetic).unwrap();
    assert!(text.lines().all(|l| {
        let (user, item) = l.split_once(' ').unwrap();
        user.starts_with("synthetic-") && item.starts_with('m')
    }));
    let augmented = format!(
        "augmentation.synthetic_log={:?}",
        synthetic.to_str().unwrap()
    );
    let run = dir.path().join("augmented");
    let out = train(
        &log,
        &run,
        &[
            "--set",
            TINY_SASREC,
            "--set",
            &augmented,
            "--set",
            "training.epochs=2",
        ],
    );
    stdout_json(&out);
    assert!(std::fs::read_to_string(run.join("config.toml"))
        .unwrap()
        .contains("synthetic_log"));

    std::fs::write(&synthetic, "synthetic-1 m1\nsynthetic-1 nope\n").unwrap();
    assert_one_line_error(
        &train(&log, &dir.path().join("bad"), &["--set", &augmented]),
        &["synthetic.txt", "line 2", "item `nope`"],
    );
    // A synthetic log from another log (here: the log without its first user) is refused.
    let other = dir.path().join("other.txt");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(
        &other,
        text.lines().skip(6).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    assert_one_line_error(
        &train(&other, &dir.path().join("foreign"), &["--set", &augmented]),
        &["synthetic.txt", "different log"],
    );
}
