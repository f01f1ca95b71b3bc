//! SASRec's input format: `user item` per line, whitespace separated, grouped by user and
//! time-ordered within each user (the file order is the time order; there are no timestamps).

use std::path::Path;

use crate::interactions::Interaction;
use crate::posts::lines::LineSource;
use crate::Result;

/// Every `user item` line of `path`. A blank line is an error, not skipped: SASRec's own reader
/// would fail on it, and a hole in a time-ordered file usually means a damaged one.
pub(super) fn read(path: &Path, lossy: bool) -> Result<Vec<Interaction>> {
    let mut source = LineSource::open(path, lossy)?;
    let mut interactions = Vec::new();
    while let Some(line) = source.next_line() {
        let line = line?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            [user, item] => interactions.push(Interaction {
                user: user.to_string(),
                item: item.to_string(),
                timestamp: None,
                action: None,
            }),
            [] => return Err(source.malformed("blank line (expected `user item` on every line)")),
            _ => {
                return Err(source.malformed(format!(
                    "expected `user item`, found {} fields",
                    fields.len()
                )))
            }
        }
    }
    Ok(interactions)
}

#[cfg(test)]
mod tests {
    use crate::interactions::{read_log, Interaction, LogFormat};

    fn pair(user: &str, item: &str) -> Interaction {
        Interaction {
            user: user.into(),
            item: item.into(),
            timestamp: None,
            action: None,
        }
    }

    #[test]
    fn user_item_lines_round_trip_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Video.txt");
        std::fs::write(&p, "1 10\n1\t7\r\n2  10\n").unwrap();
        let log = read_log(&p, &LogFormat::Sasrec, false).unwrap();
        assert_eq!(log, [pair("1", "10"), pair("1", "7"), pair("2", "10")]);
    }

    #[test]
    fn blank_lines_and_wrong_field_counts_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Video.txt");
        std::fs::write(&p, "1 10\n\n2 10\n").unwrap();
        let err = read_log(&p, &LogFormat::Sasrec, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Video.txt:2: blank line"), "{err}");
        std::fs::write(&p, "1 10\n1 11\n2 10 5\n").unwrap();
        let err = read_log(&p, &LogFormat::Sasrec, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Video.txt:3: expected `user item`, found 3 fields"),
            "{err}"
        );
    }

    #[test]
    fn invalid_utf8_is_an_error_unless_lossy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Video.txt");
        std::fs::write(&p, b"1 10\nu\xff 11\n").unwrap();
        let err = read_log(&p, &LogFormat::Sasrec, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Video.txt:2: invalid UTF-8 at byte 1 (pass --lossy to replace it)"),
            "{err}"
        );
        let log = read_log(&p, &LogFormat::Sasrec, true).unwrap();
        assert_eq!(log[1], pair("u\u{fffd}", "11"));
    }
}
