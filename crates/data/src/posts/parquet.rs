//! Parquet (the hub's data set format): the text (and label) in top-level columns chosen by name,
//! read row group by row group with only those columns decoded.

use std::path::{Path, PathBuf};

use parquet::record::reader::RowIter;
use parquet::record::Field;
use parquet::schema::types::Type;

use crate::guard::guarded;
use crate::posts::{Post, PostSource};
use crate::{Error, Result};

pub(crate) struct ParquetReader {
    path: PathBuf,
    rows: RowIter<'static>,
    row: usize,
    /// The record reader panicked: it is not asked for another row.
    failed: bool,
    /// Whether a label column follows the text column in the projection.
    label: bool,
}

impl ParquetReader {
    pub(crate) fn open(path: &Path, text: &str, label: Option<&str>) -> Result<Self> {
        guarded(path, 0, "a Parquet file", || {
            Self::open_unguarded(path, text, label)
        })
    }

    fn open_unguarded(path: &Path, text: &str, label: Option<&str>) -> Result<Self> {
        let malformed = |message: String| Error::Malformed {
            path: path.to_path_buf(),
            line: 0,
            message,
        };
        let reader = crate::parquet_file::open(path)?;
        let root = reader.metadata().file_metadata().schema().clone();
        let fields = root.get_fields();
        let find = |name: &str| {
            fields
                .iter()
                .find(|f| f.name() == name)
                .cloned()
                .ok_or_else(|| {
                    let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
                    malformed(format!(
                        "no column `{name}` (columns: {})",
                        names.join(", ")
                    ))
                })
        };
        let mut projected = vec![find(text)?];
        if let Some(label) = label {
            projected.push(find(label)?);
        }
        let projection = Type::group_type_builder(root.name())
            .with_fields(projected)
            .build()
            .map_err(|e| malformed(e.to_string()))?;
        let rows = RowIter::from_file_into(reader)
            .project(Some(projection))
            .map_err(|e| malformed(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            rows,
            row: 0,
            failed: false,
            label: label.is_some(),
        })
    }

    fn malformed(&self, message: String) -> Error {
        Error::Malformed {
            path: self.path.clone(),
            line: self.row,
            message: format!("row {}: {message}", self.row),
        }
    }

    fn parse(&self, record: parquet::record::Row) -> Result<Post> {
        let mut cells = record.get_column_iter();
        let mut next_cell = |what: &str| -> Result<String> {
            let (name, field) = cells
                .next()
                .ok_or_else(|| self.malformed(format!("missing the {what} column")))?;
            cell_text(field).ok_or_else(|| {
                self.malformed(format!(
                    "expected a string or number in `{name}`, found {field}"
                ))
            })
        };
        let text = next_cell("text")?;
        let label = if self.label {
            Some(next_cell("label")?)
        } else {
            None
        };
        Ok(Post { text, label })
    }
}

/// A cell as text: strings as they are, numbers and booleans printed (labels are often integer
/// class ids); nulls and nested values are not posts.
fn cell_text(field: &Field) -> Option<String> {
    match field {
        Field::Str(s) => Some(s.clone()),
        Field::Bool(v) => Some(v.to_string()),
        other => integer_text(other),
    }
}

/// An integer cell printed in decimal (ids and class ids are often integers).
pub(crate) fn integer_text(field: &Field) -> Option<String> {
    Some(match field {
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => v.to_string(),
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        _ => return None,
    })
}

impl Iterator for ParquetReader {
    type Item = Result<Post>;
    fn next(&mut self) -> Option<Result<Post>> {
        if self.failed {
            return None;
        }
        let (path, row) = (self.path.clone(), self.row + 1);
        // The record reader (and printing a cell in an error) can panic on malformed files.
        guarded(&path, row, "a Parquet row", || {
            let Some(record) = self.rows.next() else {
                return Ok(None);
            };
            self.row = row;
            Ok(Some(match record {
                Ok(r) => self.parse(r),
                Err(e) => Err(self.malformed(e.to_string())),
            }))
        })
        .inspect_err(|_| self.failed = true)
        .transpose()
        .map(|r| r.and_then(|post| post))
    }
}

impl PostSource for ParquetReader {
    fn replaced_invalid_utf8(&self) -> usize {
        // Parquet strings are validated UTF-8 by the format.
        0
    }

    fn last_line(&self) -> usize {
        self.row
    }
}
