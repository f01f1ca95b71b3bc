//! The life of a run through the binary, on the smallest model crate (a GAN on a ring of
//! Gaussians, tiny networks): the run folder is never someone else's, Ctrl-C stops with a
//! checkpoint that resumes exactly, every file says what produced it, and the device is chosen
//! once for every command.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use gan_core::testing::logged_records;

use crate::support::run::{assert_one_line_error, socgan, socgan_command, stdout_json};

/// A ring GAN config of `steps` rounds with networks small enough for a debug build.
pub(crate) fn ring_config(dir: &Path, steps: u64) -> PathBuf {
    let path = dir.join("ring.toml");
    let text = format!(
        "task = \"ring_gan\"\nout_dir = {:?}\nbatch_size = 32\nsamples = 200\nnets = {{ noise_dim = 4, hidden = 8, layers = 1 }}\n[schedule]\nsteps = {steps}\neval_every = 50\ncheckpoint_every = 10\nlog_every = 5\n",
        dir.join("ring").display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn overwrite_refuses_a_folder_that_is_not_a_run_and_keeps_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = ring_config(dir.path(), 5);
    let theirs = dir.path().join("photos");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("holiday.jpg"), b"not ours").unwrap();
    let out = socgan(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out-dir",
        theirs.to_str().unwrap(),
        "--overwrite",
        "--quiet",
    ]);
    assert_one_line_error(&out, &["photos", "is not a socgan run", "--out-dir"]);
    assert_eq!(
        std::fs::read(theirs.join("holiday.jpg")).unwrap(),
        b"not ours"
    );
    // A socgan run is replaced on request.
    let args = ["train", "--config", config.to_str().unwrap(), "--quiet"];
    stdout_json(&socgan(&args));
    let again = stdout_json(&socgan(&[&args[..], &["--overwrite"]].concat()));
    assert_eq!(again["completed"], true);
}

/// `command` with SIGINT at its default disposition: a test run as a background job of a script
/// inherits it ignored, and an ignored SIGINT stays ignored (tested below).
fn with_interrupt(mut command: std::process::Command, ignored: bool) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let disposition = if ignored {
        libc::SIG_IGN
    } else {
        libc::SIG_DFL
    };
    // SAFETY: signal() is async-signal-safe, as the code between fork and exec must be.
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGINT, disposition);
            Ok(())
        });
    }
    command
}

fn with_default_interrupt(command: std::process::Command) -> std::process::Command {
    with_interrupt(command, false)
}

/// Sends SIGINT to `child` once `run` has its first checkpoint; its output when it ends.
fn interrupt_after_first_checkpoint(
    child: std::process::Child,
    run: &Path,
) -> std::process::Output {
    let started = Instant::now();
    while !run.join("checkpoints/latest").is_file() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint came"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill sends a signal to the child we spawned; no memory is touched.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    child.wait_with_output().unwrap()
}

/// A run started with SIGINT ignored (a background job of a script) is not stopped by it.
#[test]
fn an_ignored_interrupt_stays_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let config = ring_config(dir.path(), 200);
    let command = socgan_command(&["train", "--config", config.to_str().unwrap(), "--quiet"]);
    let child = with_interrupt(command, true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = interrupt_after_first_checkpoint(child, &dir.path().join("ring"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ctrl_c_stops_with_a_checkpoint_that_resumes_to_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = ring_config(dir.path(), 200);
    let run = dir.path().join("ring");
    let child = with_default_interrupt(socgan_command(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--quiet",
    ]))
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let out = interrupt_after_first_checkpoint(child, &run);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let stopped: Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(stopped["interrupted"], true);
    let steps = stopped["steps"].as_u64().unwrap();
    assert!(steps < 200, "stopped at {steps}");
    let latest = std::fs::read_to_string(run.join("checkpoints/latest")).unwrap();
    assert_eq!(
        latest.trim(),
        format!("step-{steps:08}"),
        "checkpointed where it stopped"
    );

    let resumed = stdout_json(&socgan(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--quiet",
        "--resume",
    ]));
    assert_eq!(
        (resumed["completed"].clone(), resumed["interrupted"].clone()),
        (true.into(), false.into())
    );
    let whole_dir = dir.path().join("whole");
    let whole = stdout_json(&socgan(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out-dir",
        whole_dir.to_str().unwrap(),
        "--quiet",
    ]));
    assert_eq!(whole["final"], resumed["final"]);
    assert_eq!(logged_records(&whole_dir), logged_records(&run));
}

#[test]
fn files_say_what_produced_them_and_the_device_is_one_choice() {
    let dir = tempfile::tempdir().unwrap();
    let config = ring_config(dir.path(), 10);
    let summary = stdout_json(&socgan(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--quiet",
        "--device",
        "cpu",
    ]));
    let provenance = &summary["provenance"];
    assert_eq!(provenance["device"], "cpu");
    assert_eq!(provenance["version"], env!("CARGO_PKG_VERSION"));
    assert!(provenance["commit"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(provenance["cpu"].as_str().is_some_and(|c| !c.is_empty()));
    let run = dir.path().join("ring");
    let state: Value = serde_json::from_slice(
        &std::fs::read(run.join("checkpoints/step-00000010/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(&state["provenance"], provenance);
    assert!(run.join(".socgan-run").is_file());

    // A checkpoint written by a later socgan is refused before its weights are read.
    let mut later = state.clone();
    later["provenance"]["format"] = 99.into();
    std::fs::write(
        run.join("checkpoints/step-00000010/state.json"),
        serde_json::to_string(&later).unwrap(),
    )
    .unwrap();
    assert_one_line_error(
        &socgan(&["eval", "--checkpoint", run.to_str().unwrap()]),
        &["state.json", "format 99", "upgrade socgan"],
    );

    if !cfg!(feature = "cuda") {
        assert_one_line_error(
            &socgan(&[
                "eval",
                "--checkpoint",
                run.to_str().unwrap(),
                "--device",
                "cuda:0",
            ]),
            &["--device cuda:0", "built without CUDA"],
        );
    }
    // A malformed flag is clap's usage error (with its hint to --help).
    let out = socgan(&["bench", "--workload", "mle-epoch", "--device", "tpu"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("`tpu` is not a device: expected auto, cpu or cuda:N"));
}

#[test]
fn the_smallest_model_crate_trains_generates_and_evaluates_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = ring_config(dir.path(), 50);
    let summary = stdout_json(&socgan(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--quiet",
    ]));
    assert_eq!(summary["task"], "ring_gan");
    let modes = summary["final"]["test/modes"].as_f64().unwrap();
    assert!((0.0..=8.0).contains(&modes));
    let run = dir.path().join("ring");
    let points = dir.path().join("points.csv");
    let out = socgan(&[
        "generate",
        "--checkpoint",
        run.to_str().unwrap(),
        "-n",
        "7",
        "--output",
        points.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&points).unwrap();
    assert_eq!(text.lines().count(), 8, "a header and seven points");
    let eval = socgan(&["eval", "--checkpoint", run.to_str().unwrap()]);
    let line: Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(line["metrics"]["modes"], summary["final"]["test/modes"]);
    assert_one_line_error(
        &socgan(&[
            "generate",
            "--checkpoint",
            run.to_str().unwrap(),
            "--label",
            "x",
            "-n",
            "2",
        ]),
        &["unconditional", "drop --label"],
    );
    // --help names every task with what it is for.
    let help = String::from_utf8_lossy(&socgan(&["--help"]).stdout).into_owned();
    for task in [
        "text_gan",
        "image_gan",
        "text_classifier",
        "behaviour",
        "behaviour_gan",
        "ring_gan",
    ] {
        assert!(help.contains(task), "{task} missing from --help");
    }
}

#[test]
fn bench_prints_one_record_per_workload_from_the_crate_that_owns_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.txt");
    let lines: String = (0..40)
        .flat_map(|u| (0..6).map(move |i| format!("u{u} m{}\n", (u * 7 + i * 3) % 25)))
        .collect();
    std::fs::write(&log, lines).unwrap();
    let bert = dir.path().join("bert");
    std::fs::create_dir_all(&bert).unwrap();
    text_classifier::encoder::minilm::testing::tiny_bert(&bert);
    let texts = dir.path().join("tweets.txt");
    std::fs::write(&texts, "the cat sat\na happy dog day\nsad\n").unwrap();
    for (workload, extra) in [
        ("sasrec-epoch", "batches"),
        ("minilm-encode", "tweets"),
        ("nll-oracle-10k", "throughput"),
    ] {
        let out = socgan_command(&["bench", "--workload", workload, "--device", "cpu"])
            .env("SOCGAN_BENCH_LOG", &log)
            .env("SOCGAN_BENCH_BATCHES", "1")
            .env("SOCGAN_MINILM", &bert)
            .env("SOCGAN_BENCH_TEXTS", &texts)
            .output()
            .unwrap();
        let line = stdout_json(&out);
        assert_eq!(line["workload"], workload);
        assert_eq!(
            (line["device"].as_str(), line["threads"].as_str()),
            (Some("cpu"), Some("1"))
        );
        assert!(line["seconds"].as_f64().is_some_and(|s| s > 0.0), "{line}");
        assert!(line["peak_rss_mb"].as_f64().is_some(), "{line}");
        assert!(line.get(extra).is_some(), "{line}");
    }
    assert_one_line_error(
        &socgan(&["bench", "--workload", "nope"]),
        &[
            "unknown workload `nope`",
            "text_gan: mle-epoch",
            "behaviour: sasrec-epoch",
        ],
    );
}
