//! Calls into a dependency that can panic on malformed input (the Parquet record reader asserts
//! on some schemas and unwraps some conversions): the panic becomes the usual one-line error
//! naming the file, instead of aborting the command.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::{Error, Result};

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside [`guarded`]: a panic hook can stay quiet then, since the panic
/// is reported as an error.
pub fn panicking_in_guard() -> bool {
    GUARDED.with(Cell::get)
}

/// Runs `f`, turning a panic inside it into [`Error::Malformed`] at `path`, line `line`, saying
/// that the file could not be read as `what`.
pub fn guarded<T>(
    path: &Path,
    line: usize,
    what: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let outer = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the reader failed".to_string());
        Err(Error::Malformed {
            path: path.to_path_buf(),
            line,
            message: format!("not readable as {what}: {}", message.replace('\n', " ")),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_naming_the_file() {
        let err = guarded::<()>(Path::new("x.parquet"), 3, "a Parquet file", || {
            assert!(panicking_in_guard());
            panic!("assertion failed: a schema")
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "x.parquet:3: not readable as a Parquet file: assertion failed: a schema"
        );
        assert!(!panicking_in_guard());
        assert_eq!(guarded(Path::new("x"), 0, "y", || Ok(5)).unwrap(), 5);
    }
}
