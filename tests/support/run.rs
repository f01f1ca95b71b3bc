//! Running the `socgan` binary from the end-to-end tests, and what they check of its output.
#![allow(dead_code)]

use std::process::{Command, Output};

use serde_json::Value;

pub fn socgan_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_socgan"));
    command.args(args).env("RAYON_NUM_THREADS", "1");
    command
}

pub fn socgan(args: &[&str]) -> Output {
    socgan_command(args).output().expect("runs socgan")
}

pub fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "socgan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().expect("a summary line")).expect("JSON summary")
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "socgan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One line on stderr, starting `error:`, and a failing exit code.
pub fn assert_one_line_error(out: &Output, needles: &[&str]) {
    assert!(
        !out.status.success(),
        "expected failure for {needles:?}, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` missing from: {err}");
    }
}

/// Every file of a run's checkpoints is the weights, the state, the config, or one its
/// experiment declares in `Experiment::checkpoint_files`.
pub fn assert_declared_checkpoint_files(run: &std::path::Path, declared: &[&str]) {
    let latest = std::fs::read_to_string(run.join("checkpoints/latest")).expect("a checkpoint");
    let dir = run.join("checkpoints").join(latest.trim());
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let known = ["weights.safetensors", "state.json", "config.toml"].contains(&name.as_str())
            || declared.contains(&name.as_str());
        assert!(known, "{}: {name} is not declared", dir.display());
    }
}
