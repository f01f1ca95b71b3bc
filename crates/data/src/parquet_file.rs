//! Opening a Parquet file for the readers of posts, logs and images: the footer read and every
//! column chunk's byte range checked against the file before a row is decoded (the record reader
//! panics on a negative range, found by fuzzing), and a file of up to [`IN_MEMORY`] bytes read
//! from memory: on a page header that declares a huge list, parquet's thrift reader skips its
//! elements one by one past the end of the data, from a file with a zero-byte `read` call each
//! (26 s for a 1 KB file, also found by fuzzing; about 6 s from memory).

use std::fs::File;
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};

/// Files up to this size are read into memory whole (the hub's data set shards are smaller).
const IN_MEMORY: u64 = 1 << 30;

use crate::{Error, Result};

/// The reader of the Parquet file at `path`, its column chunks known to lie inside it.
pub(crate) fn open(path: &Path) -> Result<Box<dyn FileReader>> {
    let malformed = |message: String| Error::Malformed {
        path: path.to_path_buf(),
        line: 0,
        message,
    };
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file_len = file
        .metadata()
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let reader: Box<dyn FileReader> = if file_len <= IN_MEMORY {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Box::new(
            SerializedFileReader::new(bytes::Bytes::from(bytes))
                .map_err(|e| malformed(format!("expected a Parquet file ({e})")))?,
        )
    } else {
        Box::new(
            SerializedFileReader::new(file)
                .map_err(|e| malformed(format!("expected a Parquet file ({e})")))?,
        )
    };
    for (g, group) in reader.metadata().row_groups().iter().enumerate() {
        for column in group.columns() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or(column.data_page_offset());
            let len = column.compressed_size();
            let inside = u64::try_from(start)
                .ok()
                .zip(u64::try_from(len).ok())
                .and_then(|(s, l)| s.checked_add(l))
                .is_some_and(|end| end <= file_len);
            if !inside {
                return Err(malformed(format!(
                    "column `{}` of row group {g} claims bytes {start}..{start}+{len}, outside the file's {file_len}",
                    column.column_path()
                )));
            }
        }
    }
    Ok(reader)
}
