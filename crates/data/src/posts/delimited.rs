//! CSV / TSV with a header row; the text (and label) in columns chosen by header name.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::posts::{Post, PostSource};
use crate::{Error, Result};

pub(crate) struct DelimitedReader {
    path: PathBuf,
    records: csv::ByteRecordsIntoIter<File>,
    text: usize,
    label: Option<usize>,
    lossy: bool,
    replaced: usize,
    /// Line of the record read last.
    position: usize,
}

/// A CSV / TSV reader of `path` with a header row and fixed-width rows.
pub(crate) fn open_csv(path: &Path, delimiter: u8) -> Result<csv::Reader<File>> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(file))
}

pub(crate) fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line() as usize);
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields, found {len}"),
        _ => e.to_string(),
    };
    Error::Malformed {
        path: path.to_path_buf(),
        line,
        message,
    }
}

impl DelimitedReader {
    pub(crate) fn open(
        path: &Path,
        delimiter: u8,
        text: &str,
        label: Option<&str>,
        lossy: bool,
    ) -> Result<Self> {
        let mut reader = open_csv(path, delimiter)?;
        let headers = reader
            .byte_headers()
            .map_err(|e| csv_error(path, e))?
            .clone();
        let names: Vec<String> = headers
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_string())
            .collect();
        let find = |column: &str| {
            names
                .iter()
                .position(|n| n == column)
                .ok_or_else(|| Error::Malformed {
                    path: path.to_path_buf(),
                    line: 1,
                    message: format!(
                        "no column `{column}` in the header (columns: {})",
                        names.join(", ")
                    ),
                })
        };
        Ok(Self {
            text: find(text)?,
            label: label.map(find).transpose()?,
            path: path.to_path_buf(),
            records: reader.into_byte_records(),
            lossy,
            replaced: 0,
            position: 1,
        })
    }

    fn field(&mut self, record: &csv::ByteRecord, i: usize, line: usize) -> Result<String> {
        let bytes = record.get(i).unwrap_or_default();
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(_) if self.lossy => {
                self.replaced += 1;
                Ok(String::from_utf8_lossy(bytes).into_owned())
            }
            Err(e) => Err(Error::Malformed {
                path: self.path.clone(),
                line,
                message: format!(
                    "invalid UTF-8 at byte {} (pass --lossy to replace it)",
                    e.valid_up_to()
                ),
            }),
        }
    }

    fn parse(&mut self, record: csv::ByteRecord) -> Result<Post> {
        let line = record.position().map_or(0, |p| p.line() as usize);
        self.position = line;
        let text = self.field(&record, self.text, line)?;
        let label = match self.label {
            Some(i) => Some(self.field(&record, i, line)?),
            None => None,
        };
        Ok(Post { text, label })
    }
}

impl Iterator for DelimitedReader {
    type Item = Result<Post>;
    fn next(&mut self) -> Option<Result<Post>> {
        let record = match self.records.next()? {
            Ok(r) => r,
            Err(e) => return Some(Err(csv_error(&self.path, e))),
        };
        Some(self.parse(record))
    }
}

impl PostSource for DelimitedReader {
    fn replaced_invalid_utf8(&self) -> usize {
        self.replaced
    }

    fn last_line(&self) -> usize {
        self.position
    }
}
