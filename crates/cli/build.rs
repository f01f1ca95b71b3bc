//! Records the git commit the binary is built from (`SOCGAN_COMMIT`, "unknown" outside a git
//! checkout), so that every checkpoint and results file can name it.

use std::path::Path;
use std::process::Command;

/// Rebuild (this crate only) when `path` changes; a path that does not exist is not watched
/// (cargo would rerun the script on every build).
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let git = Path::new("../../.git");
    // HEAD moves on a commit or a checkout; the branch it names moves on a commit.
    watch(&git.join("HEAD"));
    watch(&git.join("packed-refs"));
    if let Ok(head) = std::fs::read_to_string(git.join("HEAD")) {
        if let Some(reference) = head.trim().strip_prefix("ref: ") {
            watch(&git.join(reference));
        }
    }
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=SOCGAN_COMMIT={commit}");
}
