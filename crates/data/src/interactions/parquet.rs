//! Parquet logs: top-level columns chosen by name, only those decoded.

use crate::posts::parquet::integer_text;
use std::path::Path;

use parquet::file::reader::FileReader;
use parquet::record::reader::RowIter;
use parquet::record::{Field, Row};
use parquet::schema::types::Type;

use crate::guard::guarded;
use crate::interactions::{parse_id, parse_timestamp, Interaction, LogColumns};
use crate::{Error, Result};

/// Every row of `path` in file order; errors name the row (1-based).
pub(super) fn read(path: &Path, columns: &LogColumns, lossy: bool) -> Result<Vec<Interaction>> {
    // The record reader (and printing a cell in an error) can panic on malformed files.
    guarded(path, 0, "a Parquet interaction log", || {
        read_unguarded(path, columns, lossy)
    })
}

fn read_unguarded(path: &Path, columns: &LogColumns, lossy: bool) -> Result<Vec<Interaction>> {
    let malformed = |row: usize, message: String| Error::Malformed {
        path: path.to_path_buf(),
        line: row,
        message: if row == 0 {
            message
        } else {
            format!("row {row}: {message}")
        },
    };
    let reader = crate::parquet_file::open(path)?;
    let rows = open(reader, columns).map_err(|message| malformed(0, message))?;
    let mut interactions = Vec::new();
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| malformed(i + 1, e.to_string()))?;
        interactions.push(parse(&row, columns, lossy).map_err(|m| malformed(i + 1, m))?);
    }
    Ok(interactions)
}

/// The rows of `path` projected onto the chosen columns (each once, in the file's order).
fn open(
    reader: Box<dyn FileReader>,
    columns: &LogColumns,
) -> std::result::Result<RowIter<'static>, String> {
    let root = reader.metadata().file_metadata().schema().clone();
    let fields = root.get_fields();
    let wanted = [
        Some(&columns.user),
        Some(&columns.item),
        columns.timestamp.as_ref(),
        columns.action.as_ref(),
    ];
    for name in wanted.into_iter().flatten() {
        if !fields.iter().any(|f| f.name() == name) {
            let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
            return Err(format!(
                "no column `{name}` (columns: {})",
                names.join(", ")
            ));
        }
    }
    let projected = fields
        .iter()
        .filter(|f| {
            wanted
                .iter()
                .flatten()
                .any(|name| name.as_str() == f.name())
        })
        .cloned()
        .collect();
    let projection = Type::group_type_builder(root.name())
        .with_fields(projected)
        .build()
        .map_err(|e| e.to_string())?;
    RowIter::from_file_into(reader)
        .project(Some(projection))
        .map_err(|e| e.to_string())
}

fn parse(row: &Row, columns: &LogColumns, lossy: bool) -> std::result::Result<Interaction, String> {
    // Cells are found by name: the projection's order is the file's, not the columns'.
    let cell = |name: &str| {
        row.get_column_iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, field)| field)
            .ok_or_else(|| format!("missing the column `{name}`"))
    };
    let timestamp = match &columns.timestamp {
        Some(name) => Some(timestamp(cell(name)?, name)?),
        None => None,
    };
    let action = match &columns.action {
        Some(name) => Some(text(cell(name)?, name, lossy)?),
        None => None,
    };
    let user = text(cell(&columns.user)?, &columns.user, lossy)?;
    let item = text(cell(&columns.item)?, &columns.item, lossy)?;
    Ok(Interaction {
        user: parse_id(&user, &columns.user)?,
        item: parse_id(&item, &columns.item)?,
        timestamp,
        action,
    })
}

/// A string or integer cell as text (ids are often integers); untyped byte arrays are decoded
/// as UTF-8, strictly unless `lossy`. Nulls, floats and nested values are not ids.
fn text(field: &Field, name: &str, lossy: bool) -> std::result::Result<String, String> {
    Ok(match field {
        Field::Str(s) => s.clone(),
        Field::Bytes(b) => match std::str::from_utf8(b.data()) {
            Ok(s) => s.to_string(),
            Err(_) if lossy => String::from_utf8_lossy(b.data()).into_owned(),
            Err(e) => {
                return Err(format!(
                    "invalid UTF-8 at byte {} in `{name}` (pass --lossy to replace it)",
                    e.valid_up_to()
                ))
            }
        },
        other => integer_text(other)
            .ok_or_else(|| format!("expected a string or integer in `{name}`, found {field}"))?,
    })
}

/// A numeric cell, a numeric string, or a Parquet timestamp (in seconds, as Unix timestamps in
/// other formats are).
fn timestamp(field: &Field, name: &str) -> std::result::Result<f64, String> {
    let value = match field {
        Field::Str(s) => return parse_timestamp(s, name),
        Field::Byte(v) => f64::from(*v),
        Field::Short(v) => f64::from(*v),
        Field::Int(v) => f64::from(*v),
        Field::Long(v) => *v as f64,
        Field::UByte(v) => f64::from(*v),
        Field::UShort(v) => f64::from(*v),
        Field::UInt(v) => f64::from(*v),
        Field::ULong(v) => *v as f64,
        Field::Float(v) => f64::from(*v),
        Field::Double(v) => *v,
        Field::TimestampMillis(v) => *v as f64 / 1e3,
        Field::TimestampMicros(v) => *v as f64 / 1e6,
        _ => f64::NAN,
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("timestamp {field} in `{name}` is not a number"))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::interactions::{read_log, LogColumns, LogFormat};

    /// One row of the test file: user (UTF-8), item (INT64), optional `ts` (DOUBLE),
    /// `ms` (INT64 TIMESTAMP_MILLIS), action (untyped BYTE_ARRAY).
    type TestRow<'a> = (&'a str, i64, Option<f64>, i64, &'a [u8]);

    /// Writes a snappy Parquet log like an exporter's, in row groups of `group` rows.
    fn write_log(path: &Path, rows: &[TestRow], group: usize) {
        use parquet::basic::Compression;
        use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use std::sync::Arc;

        let schema = Arc::new(
            parquet::schema::parser::parse_message_type(
                "message schema { REQUIRED BYTE_ARRAY user (UTF8); REQUIRED INT64 item; \
                 OPTIONAL DOUBLE ts; REQUIRED INT64 ms (TIMESTAMP_MILLIS); \
                 REQUIRED BYTE_ARRAY action; }",
            )
            .unwrap(),
        );
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let file = std::fs::File::create(path).unwrap();
        let mut writer = SerializedFileWriter::new(file, schema, Arc::new(props)).unwrap();
        for chunk in rows.chunks(group) {
            let mut rg = writer.next_row_group().unwrap();
            let users: Vec<ByteArray> = chunk.iter().map(|r| ByteArray::from(r.0)).collect();
            let items: Vec<i64> = chunk.iter().map(|r| r.1).collect();
            let ts: Vec<f64> = chunk.iter().filter_map(|r| r.2).collect();
            let defined: Vec<i16> = chunk.iter().map(|r| r.2.is_some() as i16).collect();
            let ms: Vec<i64> = chunk.iter().map(|r| r.3).collect();
            let actions: Vec<ByteArray> = chunk
                .iter()
                .map(|r| ByteArray::from(r.4.to_vec()))
                .collect();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<ByteArrayType>()
                .write_batch(&users, None, None)
                .unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<Int64Type>()
                .write_batch(&items, None, None)
                .unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<DoubleType>()
                .write_batch(&ts, Some(&defined), None)
                .unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<Int64Type>()
                .write_batch(&ms, None, None)
                .unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<ByteArrayType>()
                .write_batch(&actions, None, None)
                .unwrap();
            col.close().unwrap();
            rg.close().unwrap();
        }
        writer.close().unwrap();
    }

    fn columns(timestamp: &str) -> LogColumns {
        LogColumns {
            timestamp: Some(timestamp.into()),
            action: Some("action".into()),
            ..LogColumns::new("user", "item")
        }
    }

    #[test]
    fn columns_by_name_across_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.parquet");
        let rows: [TestRow; 3] = [
            ("u1", 10, Some(2.5), 1500, b"view"),
            ("u2", 11, Some(1.0), 2000, b"buy"),
            ("u1", 10, Some(3.0), 500, b"view"),
        ];
        write_log(&p, &rows, 2);
        // Columns named in another order than the file's: cells are matched by name.
        let format = LogFormat::for_path(&p, Some(columns("ts"))).unwrap();
        let log = read_log(&p, &format, false).unwrap();
        assert_eq!(log.len(), 3);
        assert_eq!((log[1].user.as_str(), log[1].item.as_str()), ("u2", "11"));
        assert_eq!(log[0].timestamp, Some(2.5));
        assert_eq!(log[2].action.as_deref(), Some("view"));
        let millis = read_log(
            &p,
            &LogFormat::Parquet {
                columns: columns("ms"),
            },
            false,
        )
        .unwrap();
        let seconds: Vec<_> = millis.iter().map(|i| i.timestamp.unwrap()).collect();
        assert_eq!(seconds, [1.5, 2.0, 0.5]);
        let bare = LogFormat::Parquet {
            columns: LogColumns::new("item", "user"),
        };
        assert_eq!(read_log(&p, &bare, false).unwrap()[0].user, "10");
    }

    #[test]
    fn errors_name_the_row_or_the_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.parquet");
        let rows: [TestRow; 2] = [
            ("u1", 10, Some(2.5), 0, b"ok"),
            ("u2", 11, None, 0, b"b\xffd"),
        ];
        write_log(&p, &rows, 10);
        let err = read_log(
            &p,
            &LogFormat::Parquet {
                columns: columns("ts"),
            },
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("log.parquet:2: row 2: timestamp null in `ts` is not a number"),
            "{err}"
        );
        let err = read_log(
            &p,
            &LogFormat::Parquet {
                columns: columns("time"),
            },
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("log.parquet:0: no column `time` (columns: user, item, ts, ms, action)"),
            "{err}"
        );
        let strict = LogFormat::Parquet {
            columns: columns("ms"),
        };
        let err = read_log(&p, &strict, false).unwrap_err().to_string();
        assert!(
            err.contains("log.parquet:2: row 2: invalid UTF-8 at byte 1 in `action`"),
            "{err}"
        );
        assert_eq!(
            read_log(&p, &strict, true).unwrap()[1].action.as_deref(),
            Some("b\u{fffd}d")
        );
        std::fs::write(&p, "not parquet").unwrap();
        let err = read_log(&p, &strict, false).unwrap_err().to_string();
        assert!(
            err.contains("log.parquet:0: expected a Parquet file"),
            "{err}"
        );
    }
}
