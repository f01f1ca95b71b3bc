//! End-to-end tests of posts on request through the `socgan` binary: the example configs of
//! `configs/emotion-catgan/` (a class-conditional generator by maximum likelihood, then CatGAN)
//! on a tiny labelled TweetEval-layout folder generated here, `socgan generate --label`, and the
//! mistakes a user makes with labels.

use std::path::{Path, PathBuf};

use crate::support::run::{assert_one_line_error, socgan, stdout_json};

const WORDS: [&[&str]; 2] = [
    &["cry", "tears", "lonely", "miss", "gloomy"],
    &["smile", "party", "sunshine", "laugh", "yay"],
];

/// `{split}_text.txt` and `{split}_labels.txt` of `n` posts, alternating classes.
fn write_split(dir: &Path, split: &str, n: usize) {
    let (mut texts, mut labels) = (String::new(), String::new());
    for i in 0..n {
        let words = WORDS[i % 2];
        texts.push_str(&format!(
            "i {} so {} today\n",
            words[i % 5],
            words[(i / 2) % 5]
        ));
        labels.push_str(&format!("{}\n", i % 2));
    }
    std::fs::write(dir.join(format!("{split}_text.txt")), texts).unwrap();
    std::fs::write(dir.join(format!("{split}_labels.txt")), labels).unwrap();
}

fn emotion_folder(root: &Path) -> PathBuf {
    let dir = root.join("emotion");
    std::fs::create_dir_all(&dir).unwrap();
    write_split(&dir, "train", 120);
    write_split(&dir, "test", 20);
    std::fs::write(dir.join("mapping.txt"), "0\tsadness\n1\tjoy\n").unwrap();
    dir
}

/// `socgan train` of an example config, shrunk.
fn train(config: &str, data: &Path, out: &Path, extra: &[String]) -> std::process::Output {
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../configs/emotion-catgan")
        .join(config);
    let mut sets = vec![
        format!("out_dir={:?}", out.display().to_string()),
        format!(
            "data.train={:?}",
            data.join("train_text.txt").display().to_string()
        ),
        format!(
            "data.test={:?}",
            data.join("test_text.txt").display().to_string()
        ),
        "data.num_hypotheses=4".into(),
        "generator.seq_len=8".into(),
        "generator.embed_dim=8".into(),
        "generator.hidden_dim=16".into(),
        "batch_size=8".into(),
    ];
    sets.extend(extra.iter().cloned());
    let mut args = vec!["train", "--quiet", "--config", config.to_str().unwrap()];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    socgan(&args)
}

#[test]
fn a_class_conditional_generator_trains_by_mle_and_catgan_and_writes_posts_of_a_label() {
    let dir = tempfile::tempdir().unwrap();
    let data = emotion_folder(dir.path());
    let mle = dir.path().join("mle");
    let summary = stdout_json(&train(
        "mle.toml",
        &data,
        &mle,
        &[
            "schedule.mle_epochs=2".into(),
            "schedule.mle_eval_every_epochs=1".into(),
            "schedule.mle_checkpoint_every_epochs=1".into(),
        ],
    ));
    assert_eq!(summary["completed"], true);
    // Each class is scored on its own test posts, and the mean over classes is kept too.
    for key in ["test/joy/bleu3", "test/sadness/self_bleu3", "test/bleu3"] {
        assert!(summary["final"][key].is_number(), "{key}: {summary}");
    }
    assert!(mle.join("samples-joy.txt").is_file());

    let catgan = dir.path().join("catgan");
    let summary = stdout_json(&train(
        "catgan.toml",
        &data,
        &catgan,
        &[
            format!("init_from={:?}", mle.display().to_string()),
            "schedule.adversarial_rounds=2".into(),
            "schedule.discriminator_steps_per_round=1".into(),
            "discriminator.filter_sizes=[2, 3]".into(),
            "discriminator.num_filters=[4, 4]".into(),
            "discriminator.embed_dim=8".into(),
            "discriminator.num_rep=2".into(),
        ],
    ));
    assert_eq!(summary["completed"], true);

    let out = dir.path().join("joy.txt");
    let generated = socgan(&[
        "generate",
        "--checkpoint",
        catgan.to_str().unwrap(),
        "--label",
        "joy",
        "-n",
        "3",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(generated.status.success(), "{generated:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);

    let ckpt = catgan.to_str().unwrap();
    assert_one_line_error(
        &socgan(&["generate", "--checkpoint", ckpt, "--label", "anger"]),
        &["label `anger`", "sadness, joy"],
    );
    assert_one_line_error(
        &socgan(&["generate", "--checkpoint", ckpt]),
        &["--label", "sadness, joy"],
    );
}

#[test]
fn catgan_without_labels_and_labels_with_relgan_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = emotion_folder(dir.path());
    let out = dir.path().join("run");
    assert_one_line_error(
        &train(
            "catgan.toml",
            &data,
            &out,
            &[
                "algorithm={ kind = \"relgan\", beta_max = 100.0, straight_through = false }"
                    .into(),
            ],
        ),
        &["data.label_field", "relgan"],
    );
    // Unlabelled lines cannot train a class-conditional generator.
    let lines = dir.path().join("posts.txt");
    std::fs::write(&lines, "a post\nanother post\n".repeat(20)).unwrap();
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/emotion-catgan/mle.toml");
    assert_one_line_error(
        &socgan(&[
            "train",
            "--quiet",
            "--config",
            config.to_str().unwrap(),
            "--set",
            &format!("data.train={:?}", lines.display().to_string()),
            "--set",
            &format!("data.test={:?}", lines.display().to_string()),
            "--set",
            &format!("out_dir={:?}", out.display().to_string()),
        ]),
        &["posts.txt", "no labels"],
    );
}
