//! User-behaviour logs: who interacted with which item, when, and how. One reader per format,
//! behind one function ([`read_log`]):
//!
//! - SASRec's `user item` lines ([`sasrec`]): time-ordered within each user, no timestamps;
//! - CSV / TSV ([`delimited`]): columns chosen by header name (MovieLens' `ratings.csv` is
//!   [`LogFormat::movielens`]);
//! - JSONL ([`jsonl`]): fields chosen by name;
//! - Parquet ([`parquet`]): columns chosen by name, only those decoded.
//!
//! Every reader keeps ids as written in the file (surrounding whitespace trimmed) and returns
//! the interactions in file order; errors name the file and the line (row, for Parquet).
//! [`InteractionLog`] then turns them into per-user, time-ordered item-id sequences (optionally
//! filtered by action and k-core), and [`LeaveOneOut`] splits those as SASRec does.

mod delimited;
mod jsonl;
mod log;
mod parquet;
mod sasrec;
mod split;

use std::path::Path;

pub use log::{IdMaps, InteractionLog, KCore};
pub use split::LeaveOneOut;

use crate::{Error, Result};

/// One logged action, ids as written in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Interaction {
    pub user: String,
    pub item: String,
    /// Seconds (or whatever unit the log uses; only the order matters), if the log has them.
    pub timestamp: Option<f64>,
    /// The kind of action (`click`, `buy`, ...), if the log has a column for it.
    pub action: Option<String>,
}

/// Column / field names of a tabular log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogColumns {
    pub user: String,
    pub item: String,
    pub timestamp: Option<String>,
    pub action: Option<String>,
}

impl LogColumns {
    /// User and item columns only: no timestamps (file order is time order), no actions.
    pub fn new(user: &str, item: &str) -> Self {
        Self {
            user: user.to_string(),
            item: item.to_string(),
            timestamp: None,
            action: None,
        }
    }
}

/// Where the interactions of a log file are.
#[derive(Clone, Debug, PartialEq)]
pub enum LogFormat {
    /// SASRec's `user item` per line (whitespace separated), time-ordered within each user; no
    /// timestamps (file order is time order). Blank lines are an error naming the line.
    Sasrec,
    /// CSV / TSV with a header row (`b','` / `b'\t'`), columns chosen by name.
    Delimited { delimiter: u8, columns: LogColumns },
    /// One JSON object per line, fields chosen by name.
    Jsonl { columns: LogColumns },
    /// Parquet, top-level columns chosen by name.
    Parquet { columns: LogColumns },
}

impl LogFormat {
    /// MovieLens `ratings.csv` (userId,movieId,rating,timestamp).
    pub fn movielens() -> Self {
        LogFormat::Delimited {
            delimiter: b',',
            columns: LogColumns {
                timestamp: Some("timestamp".to_string()),
                ..LogColumns::new("userId", "movieId")
            },
        }
    }

    /// The format of `path` by its extension: `.csv`, `.tsv`, `.jsonl` / `.ndjson` and
    /// `.parquet` read `columns`; anything else (SASRec's `.txt`) is [`LogFormat::Sasrec`],
    /// which has no columns and ignores them. A `ratings.csv` without `columns` is MovieLens'.
    pub fn for_path(path: &Path, columns: Option<LogColumns>) -> Result<Self> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let (kind, make): (&str, fn(LogColumns) -> LogFormat) = match extension.as_deref() {
            Some("csv") => ("CSV", |columns| LogFormat::Delimited {
                delimiter: b',',
                columns,
            }),
            Some("tsv") => ("TSV", |columns| LogFormat::Delimited {
                delimiter: b'\t',
                columns,
            }),
            Some("jsonl") | Some("ndjson") => ("JSONL", |columns| LogFormat::Jsonl { columns }),
            Some("parquet") => ("Parquet", |columns| LogFormat::Parquet { columns }),
            _ => return Ok(LogFormat::Sasrec),
        };
        let is_movielens = path
            .file_name()
            .is_some_and(|n| n.eq_ignore_ascii_case("ratings.csv"));
        match columns {
            Some(columns) => Ok(make(columns)),
            None if is_movielens => Ok(LogFormat::movielens()),
            None => Err(Error::Invalid(format!(
                "{}: a {kind} log needs its columns named: pass --user-column and --item-column \
                 (and --timestamp-column / --action-column where it has them)",
                path.display()
            ))),
        }
    }
}

/// Reads every interaction of `path` in file order. Invalid UTF-8 is an error naming the line
/// unless `lossy`, which replaces it (U+FFFD; Parquet strings are UTF-8 by the format). A log
/// without a single interaction is an error too: nothing downstream can use it.
pub fn read_log(path: &Path, format: &LogFormat, lossy: bool) -> Result<Vec<Interaction>> {
    let interactions = match format {
        LogFormat::Sasrec => sasrec::read(path, lossy)?,
        LogFormat::Delimited { delimiter, columns } => {
            delimited::read(path, *delimiter, columns, lossy)?
        }
        LogFormat::Jsonl { columns } => jsonl::read(path, columns, lossy)?,
        LogFormat::Parquet { columns } => parquet::read(path, columns, lossy)?,
    };
    if interactions.is_empty() {
        return Err(Error::Malformed {
            path: path.to_path_buf(),
            line: 0,
            message: "no interactions".to_string(),
        });
    }
    Ok(interactions)
}

/// A user or item id from column `column`: trimmed (padding in a hand-edited file is not part
/// of the id), and not empty.
fn parse_id(value: &str, column: &str) -> std::result::Result<String, String> {
    let id = value.trim();
    if id.is_empty() {
        return Err(format!("empty value in `{column}`"));
    }
    Ok(id.to_string())
}

/// A timestamp from column `column`: an integer or a float, finite (sorting needs an order).
fn parse_timestamp(value: &str, column: &str) -> std::result::Result<f64, String> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|t| t.is_finite())
        .ok_or_else(|| format!("timestamp `{value}` in `{column}` is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> LogColumns {
        LogColumns {
            timestamp: Some("ts".into()),
            ..LogColumns::new("u", "i")
        }
    }

    #[test]
    fn for_path_picks_the_format_by_extension() {
        let c = Some(columns());
        let csv = LogFormat::for_path(Path::new("a/log.CSV"), c.clone()).unwrap();
        assert!(matches!(
            csv,
            LogFormat::Delimited {
                delimiter: b',',
                ..
            }
        ));
        let tsv = LogFormat::for_path(Path::new("log.tsv"), c.clone()).unwrap();
        assert!(matches!(
            tsv,
            LogFormat::Delimited {
                delimiter: b'\t',
                ..
            }
        ));
        let ndjson = LogFormat::for_path(Path::new("log.ndjson"), c.clone()).unwrap();
        assert_eq!(ndjson, LogFormat::Jsonl { columns: columns() });
        let parquet = LogFormat::for_path(Path::new("log.parquet"), c).unwrap();
        assert_eq!(parquet, LogFormat::Parquet { columns: columns() });
        let video = LogFormat::for_path(Path::new("Video.txt"), None).unwrap();
        assert_eq!(video, LogFormat::Sasrec);
        let ml = LogFormat::for_path(Path::new("ml/ratings.csv"), None).unwrap();
        assert_eq!(ml, LogFormat::movielens());
        let err = LogFormat::for_path(Path::new("log.jsonl"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("log.jsonl: a JSONL log needs its columns named: pass --user-column and --item-column"),
            "{err}"
        );
    }

    #[test]
    fn missing_and_empty_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.txt");
        let err = read_log(&missing, &LogFormat::Sasrec, false).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains("missing.txt"), "{err}");
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "").unwrap();
        let err = read_log(&empty, &LogFormat::Sasrec, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty.txt:0: no interactions"), "{err}");
        let header_only = dir.path().join("ratings.csv");
        std::fs::write(&header_only, "userId,movieId,rating,timestamp\n").unwrap();
        let err = read_log(&header_only, &LogFormat::movielens(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ratings.csv:0: no interactions"), "{err}");
    }

    #[test]
    fn timestamps_accept_integers_and_floats_only() {
        assert_eq!(parse_timestamp("964982703", "t"), Ok(964982703.0));
        assert_eq!(parse_timestamp(" 1.5e3 ", "t"), Ok(1500.0));
        for bad in ["", "abc", "2020-01-01", "NaN", "inf"] {
            let err = parse_timestamp(bad, "t").unwrap_err();
            assert!(err.contains("in `t` is not a number"), "{err}");
        }
        assert_eq!(parse_id("  42 ", "u"), Ok("42".to_string()));
        assert!(parse_id(" ", "u")
            .unwrap_err()
            .contains("empty value in `u`"));
    }

    /// A file of the workspace's shared data (`../shared/data`, beside the repository, not in
    /// it): the tests that read it are `#[ignore]`d, so a run without it says they were
    /// skipped; `cargo test -- --ignored` runs them where the data is.
    fn shared(file: &str) -> std::path::PathBuf {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data")
            .join(file);
        assert!(
            path.exists(),
            "{} is not here: these tests need ../shared/data",
            path.display()
        );
        path
    }

    /// A `ratings.csv` is read as MovieLens by its name alone (fixture made here).
    #[test]
    fn a_ratings_csv_reads_as_movielens_by_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.csv");
        std::fs::write(
            &path,
            "userId,movieId,rating,timestamp\n1,10,4.0,30\n1,20,3.5,10\n2,10,5.0,20\n",
        )
        .unwrap();
        let format = LogFormat::for_path(&path, None).unwrap();
        assert_eq!(format, LogFormat::movielens());
        let log = InteractionLog::build(
            read_log(&path, &format, false).unwrap(),
            KCore::default(),
            None,
        )
        .unwrap();
        assert_eq!(
            (log.num_users(), log.num_items(), log.num_interactions()),
            (2, 2, 3)
        );
        // Ordered by timestamp: user 1 saw movie 20 first.
        assert_eq!(log.history(0).len(), 2);
        assert_eq!(log.item_name(log.history(0)[0]), "20");
    }

    #[test]
    #[ignore = "reads ../shared/data/ml-latest-small (run with --ignored where it is)"]
    fn movielens_latest_small_reads_by_its_name() {
        let path = shared("ml-latest-small/ratings.csv");
        let format = LogFormat::for_path(&path, None).unwrap();
        let interactions = read_log(&path, &format, false).unwrap();
        let log = InteractionLog::build(interactions, KCore::default(), None).unwrap();
        assert_eq!(log.num_users(), 610);
        assert_eq!(log.num_items(), 9_724);
        assert_eq!(log.num_interactions(), 100_836);
    }

    /// SASRec's Amazon Video Games file: the counts SOURCE.md measured and the paper reports.
    #[test]
    #[ignore = "reads ../shared/data/sasrec-amazon-video-games (run with --ignored where it is)"]
    fn sasrec_video_games_has_the_papers_counts() {
        let path = shared("sasrec-amazon-video-games/Video.txt");
        let interactions = read_log(&path, &LogFormat::Sasrec, false).unwrap();
        let log = InteractionLog::build(interactions, KCore::default(), None).unwrap();
        assert_eq!(log.num_users(), 31_013);
        assert_eq!(log.num_items(), 23_715);
        assert_eq!(log.num_interactions(), 287_107);
        assert_eq!(log.user_name(0), "1");
        let split = LeaveOneOut::new(&log);
        assert_eq!(split.num_users(), 31_013);
    }
}
