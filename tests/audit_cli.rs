//! End-to-end tests of `socgan audit`: a synthetic set that copies its training posts is caught
//! by `--fail-on` (exit 3) and cleaned by `--drop-copies`, a fresh one passes; user histories
//! audit the same way; bad inputs are one line. Posts are generated here.

use std::path::{Path, PathBuf};

use crate::support::run::{assert_one_line_error, socgan, stdout_json};

const WORDS: [&str; 24] = [
    "the", "a", "game", "team", "won", "lost", "today", "great", "match", "fans", "goal", "late",
    "coach", "said", "we", "love", "this", "season", "again", "home", "away", "win", "big",
    "night",
];

/// `n` posts of 6-11 words drawn with a seeded LCG.
fn posts(n: usize, seed: u64) -> Vec<String> {
    let mut state = seed
        .wrapping_mul(2862933555777941757)
        .wrapping_add(3037000493);
    let mut next = |m: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % m
    };
    (0..n)
        .map(|_| {
            let len = 6 + next(6);
            (0..len)
                .map(|_| WORDS[next(WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn audit(
    train: &Path,
    synthetic: &Path,
    holdout: &Path,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "audit",
        "--train",
        train.to_str().unwrap(),
        "--synthetic",
        synthetic.to_str().unwrap(),
        "--holdout",
        holdout.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    socgan(&args)
}

const RULES: [&str; 4] = [
    "--fail-on",
    "exact_copy_share>0.05",
    "--fail-on",
    "dcr_closer_to_training>0.6",
];

#[test]
fn copying_posts_are_caught_and_dropped_and_fresh_ones_pass() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let training = posts(300, 1);
    let train = write(d, "train.txt", &training);
    let holdout = write(d, "holdout.txt", &posts(150, 2));

    let fresh = write(d, "fresh.txt", &posts(150, 3));
    let out = audit(&train, &fresh, &holdout, &d.join("fresh-audit"), &RULES);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    assert_eq!(report["measures"]["exact_copies"], 0.0);
    for file in ["audit.json", "audit.md", "dcr.svg"] {
        assert!(d.join("fresh-audit").join(file).is_file(), "{file}");
    }

    // Two thirds copied from training, a third fresh.
    let mut leaking: Vec<String> = training[..100].to_vec();
    leaking.extend(posts(50, 4));
    let leaking = write(d, "leaking.txt", &leaking);
    let cleaned = d.join("cleaned.txt");
    let mut extra = RULES.to_vec();
    extra.extend(["--drop-copies", cleaned.to_str().unwrap()]);
    let out = audit(&train, &leaking, &holdout, &d.join("leaking-audit"), &extra);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exact_copy_share>0.05") && err.contains("dcr_closer_to_training>0.6"),
        "{err}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("leaking-audit/audit.json")).unwrap())
            .unwrap();
    assert!((json["measures"]["exact_copy_share"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert!(json["seconds"].as_f64().is_some());
    // The cleaned set passes the copy rule.
    let kept = std::fs::read_to_string(&cleaned).unwrap();
    assert!(kept.lines().count() <= 50, "{kept}");
    let out = audit(
        &train,
        &cleaned,
        &holdout,
        &d.join("cleaned-audit"),
        &RULES[..2],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn user_histories_are_audited_as_item_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = |name: &str, users: std::ops::Range<usize>, shift: usize| {
        let lines: Vec<String> = users
            .flat_map(|u| {
                (0..5 + u % 4).map(move |k| format!("u{u} i{}", (u * 7 + k * 3 + shift) % 60))
            })
            .collect();
        write(d, name, &lines)
    };
    let train = log("train.txt", 0..120, 0);
    let holdout = log("holdout.txt", 120..180, 0);
    let copied = log("synthetic.txt", 0..60, 0);
    let out = audit(
        &train,
        &copied,
        &holdout,
        &d.join("a"),
        &["--kind", "items"],
    );
    let report = stdout_json(&out);
    assert_eq!(report["kind"], "items");
    assert_eq!(report["synthetic_records"], 60);
    assert_eq!(report["measures"]["exact_copy_share"], 1.0);
    assert!(report["measures"].get("bleu4").is_none());

    // A behaviour GAN's checkpoint scores histories: membership inference.
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../configs/behaviour-gan/movielens-relgan.toml");
    let run = d.join("gan");
    stdout_json(&socgan(&[
        "train",
        "--quiet",
        "--config",
        config.to_str().unwrap(),
        "--out-dir",
        run.to_str().unwrap(),
        "--set",
        &format!("data.path={:?}", train.to_str().unwrap()),
        "--set",
        "data.layout=\"sasrec\"",
        "--set",
        "algorithm={ kind = \"mle\" }",
        "--set",
        "max_items=8",
        "--set",
        "samples=50",
        "--set",
        "schedule.mle_epochs=2",
        "--set",
        "schedule.mle_eval_every_epochs=2",
    ]));
    let out = audit(
        &train,
        &copied,
        &holdout,
        &d.join("b"),
        &["--kind", "items", "--checkpoint", run.to_str().unwrap()],
    );
    let auc = stdout_json(&out)["measures"]["membership_auc"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&auc), "{auc}");
}

#[test]
fn bad_audit_input_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let train = write(d, "train.txt", &posts(100, 1));
    let holdout = write(d, "holdout.txt", &posts(50, 2));
    let synthetic = write(d, "synthetic.txt", &posts(50, 3));
    let out = d.join("out");
    assert_one_line_error(
        &audit(
            &train,
            &synthetic,
            &write(d, "small.txt", &posts(10, 4)),
            &out,
            &[],
        ),
        &["10 held-out records", "at least 30"],
    );
    std::fs::write(d.join("empty.txt"), "").unwrap();
    assert_one_line_error(
        &audit(&train, &d.join("empty.txt"), &holdout, &out, &[]),
        &["synthetic set has no records"],
    );
    assert_one_line_error(
        &audit(&train, &d.join("missing.txt"), &holdout, &out, &[]),
        &["missing.txt"],
    );
    assert_one_line_error(
        &audit(
            &train,
            &synthetic,
            &holdout,
            &out,
            &["--fail-on", "copies>0.1"],
        ),
        &["no measure `copies`", "exact_copy_share"],
    );
    assert_one_line_error(
        &audit(
            &train,
            &synthetic,
            &holdout,
            &out,
            &["--fail-on", "exact_copy_share=0.1"],
        ),
        &["KEY>VALUE"],
    );
    // Posts are not a log of `user item` lines.
    assert_one_line_error(
        &audit(&train, &synthetic, &holdout, &out, &["--kind", "items"]),
        &["train.txt"],
    );
    assert!(!out.join("audit.json").exists());
}

/// A text run trained with canaries: they are recorded beside the run and in its checkpoints,
/// and `--checkpoint` adds membership inference and their exposure to the audit.
#[test]
fn a_checkpoint_adds_membership_inference_and_canary_exposure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (train, test) = (d.join("train.txt"), d.join("test.txt"));
    crate::cli::write_corpus(&train, 200, 0);
    crate::cli::write_corpus(&test, 60, 400);
    let config = crate::cli::text_config(
        d,
        "mle",
        &train,
        &test,
        "algorithm = { kind = \"mle\" }",
        "mle_epochs = 6",
    );
    let run = d.join("mle");
    stdout_json(&socgan(&[
        "train",
        "--quiet",
        "--config",
        config.to_str().unwrap(),
        "--set",
        "data.canaries={ count = 3, repeats = 10, candidates = 40 }",
    ]));
    let canaries: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("canaries.json")).unwrap()).unwrap();
    assert_eq!(canaries["canaries"].as_array().unwrap().len(), 3);
    assert_eq!(canaries["candidates"].as_array().unwrap().len(), 40);
    let latest = std::fs::read_to_string(run.join("checkpoints/latest")).unwrap();
    assert!(run
        .join("checkpoints")
        .join(latest.trim())
        .join("canaries.json")
        .is_file());

    let synthetic = d.join("samples.txt");
    crate::support::run::assert_success(&socgan(&[
        "generate",
        "--checkpoint",
        run.to_str().unwrap(),
        "-n",
        "60",
        "--output",
        synthetic.to_str().unwrap(),
    ]));
    let out = audit(
        &train,
        &synthetic,
        &test,
        &d.join("audit"),
        &["--checkpoint", run.to_str().unwrap()],
    );
    let m = &stdout_json(&out)["measures"];
    let auc = m["membership_auc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auc), "{m}");
    let (max, possible) = (
        m["canary_exposure_max"].as_f64().unwrap(),
        m["canary_exposure_possible"].as_f64().unwrap(),
    );
    assert!(
        (41f64.log2() - possible).abs() < 1e-12 && (0.0..=possible).contains(&max),
        "{m}"
    );
    assert_eq!(m["canary_repeats"], 10.0);

    // Zero-shot detection under the run's language model: likelihood and GLTR's top-10 share,
    // each an AUC inside its bootstrap interval.
    let out = audit(
        &train,
        &synthetic,
        &test,
        &d.join("audit-zero-shot"),
        &["--zero-shot", run.to_str().unwrap()],
    );
    let m = &stdout_json(&out)["measures"];
    for key in [
        "zero_shot_auc",
        "gltr_top10_auc",
        "length_detection_auc",
        "unigram_detection_auc",
    ] {
        let (v, low, high) = (
            m[key].as_f64().unwrap(),
            m[format!("{key}_low")].as_f64().unwrap(),
            m[format!("{key}_high")].as_f64().unwrap(),
        );
        assert!(
            0.0 <= low && low <= v && v <= high && high <= 1.0,
            "{key}: {m}"
        );
    }
    assert!(m.get("membership_auc").is_none(), "{m}");

    // Real posts as the generator writes them: one line per post, punctuation spaced.
    let rendered = d.join("rendered.txt");
    crate::support::run::assert_success(&socgan(&[
        "data",
        "render",
        "--checkpoint",
        run.to_str().unwrap(),
        "--input",
        test.to_str().unwrap(),
        "--output",
        rendered.to_str().unwrap(),
    ]));
    let rendered = std::fs::read_to_string(&rendered).unwrap();
    let posts = std::fs::read_to_string(&test).unwrap();
    assert_eq!(rendered.lines().count(), posts.lines().count());
    assert!(rendered.lines().all(|l| !l.contains("  ")), "{rendered}");

    // Canaries go into unlabelled posts only, and need a count.
    assert_one_line_error(
        &socgan(&[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--set",
            "data.canaries={ count = 0, repeats = 10 }",
            "--out-dir",
            d.join("bad").to_str().unwrap(),
        ]),
        &["data.canaries", "at least 1"],
    );
}
