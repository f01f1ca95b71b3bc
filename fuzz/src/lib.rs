//! What the fuzz targets share: the fuzzer's bytes laid out as the files a reader opens.

use std::path::{Path, PathBuf};
use std::sync::Once;

/// libFuzzer's panic hook aborts on every panic, also one that socgan catches on purpose (a
/// dependency's panic on malformed input inside `socgan_data::guard::guarded`, which the user
/// sees as a one-line error). Such panics are passed over; every other panic still aborts and is
/// a finding. Call at the start of each input.
pub fn report_unguarded_panics_only() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !socgan_data::guard::panicking_in_guard() {
                abort(info);
            }
        }));
    });
}

/// A scratch folder for one input (on `/dev/shm` where it exists: the readers take paths).
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("a temporary folder")
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("a scratch folder");
    }
    std::fs::write(&path, bytes).expect("a scratch file");
    path
}

/// The first byte (selecting what the rest is read as) and the rest.
pub fn split_first(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (*first, rest),
        None => (0, &[]),
    }
}

/// `data` cut at the first `0xff` byte into two parts (two files of one input).
pub fn two_parts(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
