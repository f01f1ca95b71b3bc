//! CSV / TSV logs with a header row (MovieLens' `ratings.csv`), columns chosen by header name.

use std::path::Path;

use crate::interactions::{parse_id, parse_timestamp, Interaction, LogColumns};
use crate::posts::delimited::{csv_error, open_csv};
use crate::{Error, Result};

/// Where the chosen columns are in each record.
struct Positions {
    user: usize,
    item: usize,
    timestamp: Option<usize>,
    action: Option<usize>,
}

/// Every row of `path` in file order. A row with the wrong number of fields is an error naming
/// its line (the csv reader is not flexible: a shifted row would put ids in the wrong columns).
pub(super) fn read(
    path: &Path,
    delimiter: u8,
    columns: &LogColumns,
    lossy: bool,
) -> Result<Vec<Interaction>> {
    let mut reader = open_csv(path, delimiter)?;
    let header = reader.byte_headers().map_err(|e| csv_error(path, e))?;
    if header.is_empty() {
        // An empty file: `read_log` says there are no interactions.
        return Ok(Vec::new());
    }
    let names: Vec<String> = header
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    let positions = Positions::find(&names, columns).map_err(|message| Error::Malformed {
        path: path.to_path_buf(),
        line: 1,
        message,
    })?;
    let mut interactions = Vec::new();
    for record in reader.into_byte_records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let interaction = positions
            .parse(&record, columns, lossy)
            .map_err(|message| Error::Malformed {
                path: path.to_path_buf(),
                line,
                message,
            })?;
        interactions.push(interaction);
    }
    Ok(interactions)
}

impl Positions {
    fn find(names: &[String], columns: &LogColumns) -> std::result::Result<Self, String> {
        let find = |column: &str| {
            names.iter().position(|n| n == column).ok_or_else(|| {
                format!(
                    "no column `{column}` in the header (columns: {})",
                    names.join(", ")
                )
            })
        };
        Ok(Self {
            user: find(&columns.user)?,
            item: find(&columns.item)?,
            timestamp: columns.timestamp.as_deref().map(find).transpose()?,
            action: columns.action.as_deref().map(find).transpose()?,
        })
    }

    fn parse(
        &self,
        record: &csv::ByteRecord,
        columns: &LogColumns,
        lossy: bool,
    ) -> std::result::Result<Interaction, String> {
        let field =
            |i: usize, column: &str| decode(record.get(i).unwrap_or_default(), column, lossy);
        let timestamp = match (self.timestamp, &columns.timestamp) {
            (Some(i), Some(column)) => Some(parse_timestamp(&field(i, column)?, column)?),
            _ => None,
        };
        let action = match (self.action, &columns.action) {
            (Some(i), Some(column)) => Some(field(i, column)?),
            _ => None,
        };
        Ok(Interaction {
            user: parse_id(&field(self.user, &columns.user)?, &columns.user)?,
            item: parse_id(&field(self.item, &columns.item)?, &columns.item)?,
            timestamp,
            action,
        })
    }
}

/// A field as UTF-8, replacing invalid bytes only when asked to.
fn decode(bytes: &[u8], column: &str, lossy: bool) -> std::result::Result<String, String> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(_) if lossy => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Err(e) => Err(format!(
            "invalid UTF-8 at byte {} in column `{column}` (pass --lossy to replace it)",
            e.valid_up_to()
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::interactions::{read_log, Interaction, LogColumns, LogFormat};

    fn rated(user: &str, item: &str, timestamp: f64) -> Interaction {
        Interaction {
            user: user.into(),
            item: item.into(),
            timestamp: Some(timestamp),
            action: None,
        }
    }

    #[test]
    fn movielens_ratings_by_header_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ratings.csv");
        std::fs::write(
            &p,
            "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247.5\n2,1,3.5,1\n",
        )
        .unwrap();
        let format = LogFormat::for_path(&p, None).unwrap();
        let log = read_log(&p, &format, false).unwrap();
        assert_eq!(
            log,
            [
                rated("1", "1", 964982703.0),
                rated("1", "3", 964981247.5),
                rated("2", "1", 1.0)
            ]
        );
    }

    #[test]
    fn tsv_with_actions_and_quoted_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.tsv");
        std::fs::write(
            &p,
            "action\titem\tuser\ttime\nclick\t\"a, b\"\tu1\t10\nbuy\tc\tu2\t5\n",
        )
        .unwrap();
        let columns = LogColumns {
            timestamp: Some("time".into()),
            action: Some("action".into()),
            ..LogColumns::new("user", "item")
        };
        let log = read_log(&p, &LogFormat::for_path(&p, Some(columns)).unwrap(), false).unwrap();
        assert_eq!(log[0].item, "a, b");
        assert_eq!(log[0].action.as_deref(), Some("click"));
        assert_eq!((log[1].user.as_str(), log[1].timestamp), ("u2", Some(5.0)));
    }

    #[test]
    fn row_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ratings.csv");
        let ml = LogFormat::movielens();
        let read = |text: &str| {
            std::fs::write(&p, text).unwrap();
            read_log(&p, &ml, false).unwrap_err().to_string()
        };
        let err = read("userId,movieId,rating,timestamp\n1,1,4,5\n1,2,4\n");
        assert!(
            err.contains("ratings.csv:3: expected 4 fields, found 3"),
            "{err}"
        );
        let err = read("user,movieId,rating,timestamp\n1,1,4,5\n");
        assert!(
            err.contains(
                "ratings.csv:1: no column `userId` in the header (columns: user, movieId, rating, timestamp)"
            ),
            "{err}"
        );
        let err = read("userId,movieId,rating,timestamp\n1,1,4,yesterday\n");
        assert!(
            err.contains("ratings.csv:2: timestamp `yesterday` in `timestamp` is not a number"),
            "{err}"
        );
        let err = read("userId,movieId,rating,timestamp\n1,1,4,5\n2, ,4,5\n");
        assert!(
            err.contains("ratings.csv:3: empty value in `movieId`"),
            "{err}"
        );
    }

    #[test]
    fn invalid_utf8_is_an_error_unless_lossy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.csv");
        std::fs::write(&p, b"u,i\nok,1\nb\xffd,2\n").unwrap();
        let format = LogFormat::for_path(&p, Some(LogColumns::new("u", "i"))).unwrap();
        let err = read_log(&p, &format, false).unwrap_err().to_string();
        assert!(
            err.contains("log.csv:3: invalid UTF-8 at byte 1 in column `u` (pass --lossy"),
            "{err}"
        );
        let log = read_log(&p, &format, true).unwrap();
        assert_eq!(log[1].user, "b\u{fffd}d");
    }
}
