//! Reading social-media posts from the formats they come in, streaming (a file larger than memory
//! is read post by post), with errors that name the file, the line and what was expected.
//!
//! - plain text: one post per line; blank lines are posts too (TweetEval's convention);
//! - CSV / TSV: a column chosen by its header name;
//! - JSONL: a string field chosen by name;
//! - Parquet (the hub's data set format): a string column chosen by name, read row group by row
//!   group (only the chosen columns are decoded);
//! - TweetEval: `{split}_text.txt` with `{split}_labels.txt`, paired line by line (never parsed
//!   as CSV: tweets contain commas and quotes).
//!
//! Invalid UTF-8 is an error unless `lossy` is set, in which case it is replaced (U+FFFD) and
//! counted.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// One post and, where the source has one, its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    pub text: String,
    pub label: Option<String>,
}

/// Where the text of each post is.
#[derive(Clone, Debug, PartialEq)]
pub enum PostFormat {
    /// One post per line.
    Lines,
    /// Delimited with a header row (`b','` for CSV, `b'\t'` for TSV); `text` and optional `label`
    /// name columns.
    Delimited {
        delimiter: u8,
        text: String,
        label: Option<String>,
    },
    /// One JSON object per line; `text` and optional `label` name fields.
    Jsonl { text: String, label: Option<String> },
    /// TweetEval's paired files: the path is `{split}_text.txt`, labels are read from the
    /// `{split}_labels.txt` beside it.
    TweetEval,
    /// Parquet; `text` and optional `label` name top-level columns.
    Parquet { text: String, label: Option<String> },
}

impl PostFormat {
    /// The format a file's extension suggests, reading the `text` column or field.
    pub fn from_extension(path: &Path) -> Self {
        let text = "text".to_string();
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => PostFormat::Delimited {
                delimiter: b',',
                text,
                label: None,
            },
            Some("tsv") => PostFormat::Delimited {
                delimiter: b'\t',
                text,
                label: None,
            },
            Some("jsonl") | Some("ndjson") => PostFormat::Jsonl { text, label: None },
            Some("parquet") => PostFormat::Parquet { text, label: None },
            _ if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("_text.txt")) =>
            {
                PostFormat::TweetEval
            }
            _ => PostFormat::Lines,
        }
    }
}

impl PostFormat {
    /// The format of `path` by its extension, reading the text from column or field `text_field`.
    pub fn for_path(path: &Path, text_field: &str) -> Self {
        match Self::from_extension(path) {
            PostFormat::Delimited {
                delimiter, label, ..
            } => PostFormat::Delimited {
                delimiter,
                text: text_field.to_string(),
                label,
            },
            PostFormat::Jsonl { label, .. } => PostFormat::Jsonl {
                text: text_field.to_string(),
                label,
            },
            PostFormat::Parquet { label, .. } => PostFormat::Parquet {
                text: text_field.to_string(),
                label,
            },
            other => other,
        }
    }
}

/// Reading options.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Replace invalid UTF-8 instead of failing.
    pub lossy: bool,
}

/// A line source that decodes UTF-8 strictly or lossily, counting replacements.
struct LineSource {
    path: PathBuf,
    reader: BufReader<File>,
    line: usize,
    lossy: bool,
    replaced: usize,
    buf: Vec<u8>,
}

impl LineSource {
    fn open(path: &Path, lossy: bool) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            line: 0,
            lossy,
            replaced: 0,
            buf: Vec::new(),
        })
    }

    fn malformed(&self, message: impl Into<String>) -> Error {
        Error::Malformed {
            path: self.path.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<String> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(e) if self.lossy => {
                let _ = e;
                self.replaced += 1;
                Ok(String::from_utf8_lossy(bytes).into_owned())
            }
            Err(e) => Err(self.malformed(format!(
                "invalid UTF-8 at byte {} (pass --lossy to replace it)",
                e.valid_up_to()
            ))),
        }
    }

    /// The next line without its `\n` / `\r\n`, or `None` at the end.
    fn next_line(&mut self) -> Option<Result<String>> {
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => None,
            Ok(_) => {
                self.line += 1;
                let mut end = self.buf.len();
                if self.buf[..end].ends_with(b"\n") {
                    end -= 1;
                }
                if self.buf[..end].ends_with(b"\r") {
                    end -= 1;
                }
                let bytes = self.buf[..end].to_vec();
                Some(self.decode(&bytes))
            }
            Err(source) => Some(Err(Error::Io {
                path: self.path.clone(),
                source,
            })),
        }
    }
}

/// A streaming reader of posts.
pub struct PostReader {
    inner: Inner,
}

enum Inner {
    Lines(LineSource),
    Jsonl {
        source: LineSource,
        text: String,
        label: Option<String>,
    },
    TweetEval {
        text: LineSource,
        labels: LineSource,
    },
    Parquet {
        path: PathBuf,
        rows: parquet::record::reader::RowIter<'static>,
        row: usize,
        /// Column names in projected order: the text first, then the label if asked for.
        label: bool,
    },
    Delimited {
        path: PathBuf,
        records: csv::ByteRecordsIntoIter<File>,
        text: usize,
        label: Option<usize>,
        lossy: bool,
        replaced: usize,
    },
}

impl PostReader {
    pub fn open(path: &Path, format: &PostFormat, options: ReadOptions) -> Result<Self> {
        let inner = match format {
            PostFormat::Lines => Inner::Lines(LineSource::open(path, options.lossy)?),
            PostFormat::Jsonl { text, label } => Inner::Jsonl {
                source: LineSource::open(path, options.lossy)?,
                text: text.clone(),
                label: label.clone(),
            },
            PostFormat::TweetEval => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let stem = name.strip_suffix("_text.txt").ok_or_else(|| {
                    Error::Invalid(format!(
                        "{}: TweetEval text files are named {{split}}_text.txt",
                        path.display()
                    ))
                })?;
                let labels = path.with_file_name(format!("{stem}_labels.txt"));
                Inner::TweetEval {
                    text: LineSource::open(path, options.lossy)?,
                    labels: LineSource::open(&labels, options.lossy)?,
                }
            }
            PostFormat::Parquet { text, label } => open_parquet(path, text, label.as_deref())?,
            PostFormat::Delimited {
                delimiter,
                text,
                label,
            } => {
                let file = File::open(path).map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                let mut reader = csv::ReaderBuilder::new()
                    .delimiter(*delimiter)
                    .has_headers(true)
                    .flexible(false)
                    .from_reader(file);
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
                let text = find(text)?;
                let label = label.as_deref().map(find).transpose()?;
                Inner::Delimited {
                    path: path.to_path_buf(),
                    records: reader.into_byte_records(),
                    text,
                    label,
                    lossy: options.lossy,
                    replaced: 0,
                }
            }
        };
        Ok(Self { inner })
    }

    /// How many posts had invalid UTF-8 replaced (with `lossy`).
    pub fn replaced_invalid_utf8(&self) -> usize {
        match &self.inner {
            Inner::Lines(s) | Inner::Jsonl { source: s, .. } => s.replaced,
            Inner::TweetEval { text, labels } => text.replaced + labels.replaced,
            Inner::Delimited { replaced, .. } => *replaced,
            Inner::Parquet { .. } => 0,
        }
    }
}

fn open_parquet(path: &Path, text: &str, label: Option<&str>) -> Result<Inner> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::schema::types::Type;

    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let malformed = |message: String| Error::Malformed {
        path: path.to_path_buf(),
        line: 0,
        message,
    };
    let reader = SerializedFileReader::new(file)
        .map_err(|e| malformed(format!("expected a Parquet file ({e})")))?;
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
    let rows = parquet::record::reader::RowIter::from_file_into(Box::new(reader))
        .project(Some(projection))
        .map_err(|e| malformed(e.to_string()))?;
    Ok(Inner::Parquet {
        path: path.to_path_buf(),
        rows,
        row: 0,
        label: label.is_some(),
    })
}

/// A Parquet cell as text: strings as they are, numbers and booleans printed (labels are often
/// integer class ids); nulls and nested values are not posts.
fn parquet_cell(field: &parquet::record::Field) -> Option<String> {
    use parquet::record::Field;
    Some(match field {
        Field::Str(s) => s.clone(),
        Field::Bool(v) => v.to_string(),
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

fn csv_error(path: &Path, e: csv::Error) -> Error {
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

fn json_field(value: &serde_json::Value, field: &str) -> Option<String> {
    match value.get(field)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Iterator for PostReader {
    type Item = Result<Post>;

    fn next(&mut self) -> Option<Result<Post>> {
        match &mut self.inner {
            Inner::Lines(source) => {
                Some(source.next_line()?.map(|text| Post { text, label: None }))
            }
            Inner::Jsonl {
                source,
                text,
                label,
            } => {
                let line = match source.next_line()? {
                    Ok(l) => l,
                    Err(e) => return Some(Err(e)),
                };
                let value: serde_json::Value = match serde_json::from_str(&line) {
                    Ok(v) => v,
                    Err(e) => {
                        return Some(Err(
                            source.malformed(format!("expected a JSON object ({e})"))
                        ))
                    }
                };
                let Some(t) = json_field(&value, text) else {
                    return Some(Err(
                        source.malformed(format!("expected a string field `{text}`"))
                    ));
                };
                let l = match label {
                    Some(name) => match json_field(&value, name) {
                        Some(l) => Some(l),
                        None => {
                            return Some(
                                Err(source.malformed(format!("expected a field `{name}`"))),
                            )
                        }
                    },
                    None => None,
                };
                Some(Ok(Post { text: t, label: l }))
            }
            Inner::Parquet {
                path,
                rows,
                row,
                label,
            } => {
                let record = rows.next()?;
                *row += 1;
                let malformed = |message: String| Error::Malformed {
                    path: path.clone(),
                    line: *row,
                    message: format!("row {row}: {message}"),
                };
                let record = match record {
                    Ok(r) => r,
                    Err(e) => return Some(Err(malformed(e.to_string()))),
                };
                let mut cells = record.get_column_iter();
                let mut next_cell = |what: &str| -> Result<String> {
                    let (name, field) = cells
                        .next()
                        .ok_or_else(|| malformed(format!("missing the {what} column")))?;
                    parquet_cell(field).ok_or_else(|| {
                        malformed(format!(
                            "expected a string or number in `{name}`, found {field}"
                        ))
                    })
                };
                let text = match next_cell("text") {
                    Ok(t) => t,
                    Err(e) => return Some(Err(e)),
                };
                let label = if *label {
                    match next_cell("label") {
                        Ok(l) => Some(l),
                        Err(e) => return Some(Err(e)),
                    }
                } else {
                    None
                };
                Some(Ok(Post { text, label }))
            }
            Inner::TweetEval { text, labels } => match (text.next_line(), labels.next_line()) {
                (None, None) => None,
                (Some(Ok(t)), Some(Ok(l))) => Some(Ok(Post {
                    text: t,
                    label: Some(l.trim().to_string()),
                })),
                (Some(Err(e)), _) | (_, Some(Err(e))) => Some(Err(e)),
                (Some(_), None) => Some(Err(labels.malformed(format!(
                    "labels end at line {} but {} has more tweets",
                    labels.line,
                    text.path.display()
                )))),
                (None, Some(_)) => Some(Err(text.malformed(format!(
                    "tweets end at line {} but {} has more labels",
                    text.line,
                    labels.path.display()
                )))),
            },
            Inner::Delimited {
                path,
                records,
                text,
                label,
                lossy,
                replaced,
            } => {
                let record = match records.next()? {
                    Ok(r) => r,
                    Err(e) => return Some(Err(csv_error(path, e))),
                };
                let line = record.position().map_or(0, |p| p.line() as usize);
                let mut field = |i: usize| -> Result<String> {
                    let bytes = record.get(i).unwrap_or_default();
                    match std::str::from_utf8(bytes) {
                        Ok(s) => Ok(s.to_string()),
                        Err(_) if *lossy => {
                            *replaced += 1;
                            Ok(String::from_utf8_lossy(bytes).into_owned())
                        }
                        Err(e) => Err(Error::Malformed {
                            path: path.clone(),
                            line,
                            message: format!(
                                "invalid UTF-8 at byte {} (pass --lossy to replace it)",
                                e.valid_up_to()
                            ),
                        }),
                    }
                };
                let t = match field(*text) {
                    Ok(t) => t,
                    Err(e) => return Some(Err(e)),
                };
                let l = match label.map(&mut field).transpose() {
                    Ok(l) => l,
                    Err(e) => return Some(Err(e)),
                };
                Some(Ok(Post { text: t, label: l }))
            }
        }
    }
}

/// Switchable social-media normalisation. `Default` is TweetEval's convention: mentions become
/// `@user`, URLs `http`; whitespace is collapsed; case is kept; emoji and hashtags are untouched.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Normalizer {
    pub mentions: bool,
    pub urls: bool,
    pub lowercase: bool,
    pub whitespace: bool,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self {
            mentions: true,
            urls: true,
            lowercase: false,
            whitespace: true,
        }
    }
}

impl Normalizer {
    /// ```
    /// use socgan_data::posts::Normalizer;
    /// let n = Normalizer::default();
    /// assert_eq!(n.apply("@bob  loved it 😍 https://t.co/x #win"), "@user loved it 😍 http #win");
    /// ```
    pub fn apply(&self, text: &str) -> String {
        let mut words = Vec::new();
        for word in text.split_whitespace() {
            let word = if self.mentions && word.starts_with('@') && word.len() > 1 {
                "@user"
            } else if self.urls && (word.starts_with("http") || word.starts_with("www.")) {
                "http"
            } else {
                word
            };
            words.push(if self.lowercase {
                word.to_lowercase()
            } else {
                word.to_string()
            });
        }
        if self.whitespace {
            words.join(" ")
        } else if self.mentions || self.urls || self.lowercase {
            // Keep the original spacing: replace word by word in place.
            let mut out = String::with_capacity(text.len());
            let mut rest = text;
            let mut it = words.iter();
            while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
                out.push_str(&rest[..start]);
                let tail = &rest[start..];
                let end = tail.find(char::is_whitespace).unwrap_or(tail.len());
                out.push_str(it.next().map(String::as_str).unwrap_or(&tail[..end]));
                rest = &tail[end..];
            }
            out.push_str(rest);
            out
        } else {
            text.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(path: &Path, format: &PostFormat, lossy: bool) -> Result<(Vec<Post>, usize)> {
        let mut reader = PostReader::open(path, format, ReadOptions { lossy })?;
        let posts = reader.by_ref().collect::<Result<Vec<_>>>()?;
        Ok((posts, reader.replaced_invalid_utf8()))
    }

    #[test]
    fn lines_keep_blank_posts_and_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("posts.txt");
        std::fs::write(&p, "first, with comma\r\n\n\"quoted\" third\n").unwrap();
        let (posts, _) = read_all(&p, &PostFormat::Lines, false).unwrap();
        let texts: Vec<&str> = posts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["first, with comma", "", "\"quoted\" third"]);
    }

    #[test]
    fn invalid_utf8_is_an_error_naming_the_line_unless_lossy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.txt");
        std::fs::write(&p, b"ok\nbad \xff byte\nok\n").unwrap();
        let err = read_all(&p, &PostFormat::Lines, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.txt:2: invalid UTF-8 at byte 4"), "{err}");
        let (posts, replaced) = read_all(&p, &PostFormat::Lines, true).unwrap();
        assert_eq!((posts.len(), replaced), (3, 1));
        assert_eq!(posts[1].text, "bad \u{fffd} byte");
    }

    #[test]
    fn csv_and_tsv_by_column_name_with_row_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("posts.csv");
        std::fs::write(
            &p,
            "id,tweet,label\n1,\"hello, world\",real\n2,\"multi\nline\",fake\n",
        )
        .unwrap();
        let fmt = PostFormat::Delimited {
            delimiter: b',',
            text: "tweet".into(),
            label: Some("label".into()),
        };
        let (posts, _) = read_all(&p, &fmt, false).unwrap();
        assert_eq!(
            posts[0],
            Post {
                text: "hello, world".into(),
                label: Some("real".into())
            }
        );
        assert_eq!(posts[1].text, "multi\nline");
        let missing = PostFormat::Delimited {
            delimiter: b',',
            text: "body".into(),
            label: None,
        };
        let err = read_all(&p, &missing, false).unwrap_err().to_string();
        assert!(
            err.contains("posts.csv:1: no column `body` in the header (columns: id, tweet, label)"),
            "{err}"
        );
        std::fs::write(&p, "id,tweet\n1,a\n2,b,extra\n").unwrap();
        let fmt = PostFormat::Delimited {
            delimiter: b',',
            text: "tweet".into(),
            label: None,
        };
        let err = read_all(&p, &fmt, false).unwrap_err().to_string();
        assert!(
            err.contains("posts.csv:3: expected 2 fields, found 3"),
            "{err}"
        );
        let t = dir.path().join("posts.tsv");
        std::fs::write(&t, "text\tlabel\nhi, there\t1\n").unwrap();
        let (posts, _) = read_all(&t, &PostFormat::from_extension(&t), false).unwrap();
        assert_eq!(posts[0].text, "hi, there");
    }

    #[test]
    fn jsonl_field_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("posts.jsonl");
        std::fs::write(
            &p,
            "{\"text\": \"a post\", \"label\": 2}\n{\"text\": 5}\nnot json\n",
        )
        .unwrap();
        let fmt = PostFormat::Jsonl {
            text: "text".into(),
            label: None,
        };
        let mut reader = PostReader::open(&p, &fmt, ReadOptions::default()).unwrap();
        assert_eq!(reader.next().unwrap().unwrap().text, "a post");
        assert_eq!(reader.next().unwrap().unwrap().text, "5");
        let err = reader.next().unwrap().unwrap_err().to_string();
        assert!(
            err.contains("posts.jsonl:3: expected a JSON object"),
            "{err}"
        );
        std::fs::write(&p, "{\"body\": \"x\"}\n").unwrap();
        let err = read_all(&p, &fmt, false).unwrap_err().to_string();
        assert!(
            err.contains("posts.jsonl:1: expected a string field `text`"),
            "{err}"
        );
    }

    #[test]
    fn tweeteval_pairs_text_and_labels_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("train_text.txt");
        std::fs::write(&text, "@user so \"happy\", really\n\nworst day ever\n").unwrap();
        std::fs::write(dir.path().join("train_labels.txt"), "2\n1\n0\n").unwrap();
        let (posts, _) = read_all(&text, &PostFormat::from_extension(&text), false).unwrap();
        assert_eq!(posts.len(), 3);
        assert_eq!(
            posts[0],
            Post {
                text: "@user so \"happy\", really".into(),
                label: Some("2".into())
            }
        );
        assert_eq!(
            posts[1],
            Post {
                text: String::new(),
                label: Some("1".into())
            }
        );
        std::fs::write(dir.path().join("train_labels.txt"), "2\n1\n").unwrap();
        let err = read_all(&text, &PostFormat::TweetEval, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train_labels.txt") && err.contains("more tweets"),
            "{err}"
        );
    }

    #[test]
    fn normalisation_switches() {
        let all_off = Normalizer {
            mentions: false,
            urls: false,
            lowercase: false,
            whitespace: false,
        };
        assert_eq!(all_off.apply(" @Bob  http://x "), " @Bob  http://x ");
        let lower = Normalizer {
            lowercase: true,
            whitespace: false,
            ..Default::default()
        };
        assert_eq!(lower.apply("Hi  @Bob #Yes"), "hi  @user #yes");
        assert_eq!(
            Normalizer::default().apply("  a\t b  www.x.com "),
            "a b http"
        );
    }
}
