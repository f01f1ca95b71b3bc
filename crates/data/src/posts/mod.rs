//! Reading social-media posts from the formats they come in, streaming (a file larger than memory
//! is read post by post), with errors that name the file, the line and what was expected. One
//! reader per format, behind one interface ([`PostReader`]):
//!
//! - plain text ([`lines`]): one post per line; blank lines are posts too (TweetEval's
//!   convention);
//! - CSV / TSV ([`delimited`]): columns chosen by header name;
//! - JSONL ([`jsonl`]): fields chosen by name;
//! - Parquet ([`parquet`], the hub's data set format): columns chosen by name, read row group by
//!   row group (only the chosen columns are decoded);
//! - TweetEval ([`tweeteval`]): `{split}_text.txt` with `{split}_labels.txt`, paired line by line
//!   (never parsed as CSV: tweets contain commas and quotes), and its `mapping.txt`;
//! - label first ([`label_first`]): GAN-BERT's TREC files, `LABEL text` per line after a header.
//!
//! Every format but plain text can carry a label beside the text. Invalid UTF-8 is an error
//! unless `lossy` is set, in which case it is replaced (U+FFFD) and counted.

pub(crate) mod delimited;
mod jsonl;
mod label_first;
pub(crate) mod lines;
pub(crate) mod parquet;
pub mod tweeteval;

use std::path::Path;

pub use crate::normalize::Normalizer;
use crate::Result;

/// One post and, where the source has one, its label (as written in the file: a name or an id).
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    pub text: String,
    pub label: Option<String>,
}

impl Post {
    pub fn unlabelled(text: String) -> Self {
        Self { text, label: None }
    }
}

/// Where the text (and label) of each post is.
#[derive(Clone, Debug, PartialEq)]
pub enum PostFormat {
    /// One post per line (no labels).
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
    /// A header line, then `LABEL text` per line (GAN-BERT's TREC question files).
    LabelFirst,
}

impl PostFormat {
    /// The format a file's extension suggests, reading the `text` column or field.
    pub fn from_extension(path: &Path) -> Self {
        Self::for_path(path, "text", None)
    }

    /// The format of `path` by its extension, reading the text from column or field
    /// `text_field` and, where the format has one, the label from `label_field`.
    pub fn for_path(path: &Path, text_field: &str, label_field: Option<&str>) -> Self {
        let text = text_field.to_string();
        let label = label_field.map(str::to_string);
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => PostFormat::Delimited {
                delimiter: sniff_delimiter(path, &text),
                text,
                label,
            },
            Some("tsv") => PostFormat::Delimited {
                delimiter: b'\t',
                text,
                label,
            },
            Some("jsonl") | Some("ndjson") => PostFormat::Jsonl { text, label },
            Some("parquet") => PostFormat::Parquet { text, label },
            _ if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("_text.txt")) =>
            {
                PostFormat::TweetEval
            }
            _ => PostFormat::Lines,
        }
    }

    /// A delimited format with `delimiter` given (a `.csv` export separated by `;`, say), the
    /// text and label read from the named columns.
    pub fn delimited(delimiter: u8, text_field: &str, label_field: Option<&str>) -> Self {
        PostFormat::Delimited {
            delimiter,
            text: text_field.to_string(),
            label: label_field.map(str::to_string),
        }
    }

    /// Whether posts of this format carry labels.
    pub fn has_labels(&self) -> bool {
        match self {
            PostFormat::Lines => false,
            PostFormat::TweetEval | PostFormat::LabelFirst => true,
            PostFormat::Delimited { label, .. }
            | PostFormat::Jsonl { label, .. }
            | PostFormat::Parquet { label, .. } => label.is_some(),
        }
    }
}

/// The delimiter of a `.csv` file: the first of `,` `;` tab `|` that splits its header into
/// fields one of which is `text_field` (spreadsheet exports in many locales use `;`), else the
/// one that splits the header into the most fields, else `,` (also when the file cannot be read:
/// its reader then says why).
fn sniff_delimiter(path: &Path, text_field: &str) -> u8 {
    const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
    let Ok(file) = std::fs::File::open(path) else {
        return b',';
    };
    let mut header = Vec::new();
    use std::io::{BufRead, Read};
    if std::io::BufReader::new(file.take(64 * 1024))
        .read_until(b'\n', &mut header)
        .is_err()
    {
        return b',';
    }
    let header = String::from_utf8_lossy(&header);
    let fields = |d: u8| -> Vec<&str> {
        header
            .trim_end_matches(['\r', '\n'])
            .split(d as char)
            .map(|f| f.trim().trim_matches('"'))
            .collect()
    };
    CANDIDATES
        .into_iter()
        .find(|&d| fields(d).contains(&text_field))
        .or_else(|| {
            CANDIDATES
                .into_iter()
                .max_by_key(|&d| (fields(d).len(), std::cmp::Reverse(d)))
        })
        .filter(|&d| fields(d).len() > 1)
        .unwrap_or(b',')
}

/// Reading options.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Replace invalid UTF-8 instead of failing.
    pub lossy: bool,
}

/// What every format's reader is: a stream of posts that counts its UTF-8 replacements.
trait PostSource: Iterator<Item = Result<Post>> {
    fn replaced_invalid_utf8(&self) -> usize;
    /// The line (row, for Parquet) of the post read last, for error messages.
    fn last_line(&self) -> usize;
}

/// A streaming reader of posts, whatever the format.
pub struct PostReader {
    inner: Box<dyn PostSource + Send>,
}

impl PostReader {
    pub fn open(path: &Path, format: &PostFormat, options: ReadOptions) -> Result<Self> {
        let lossy = options.lossy;
        let inner: Box<dyn PostSource + Send> = match format {
            PostFormat::Lines => {
                Box::new(lines::LinesReader(lines::LineSource::open(path, lossy)?))
            }
            PostFormat::Jsonl { text, label } => Box::new(jsonl::JsonlReader {
                source: lines::LineSource::open(path, lossy)?,
                text: text.clone(),
                label: label.clone(),
            }),
            PostFormat::TweetEval => Box::new(tweeteval::TweetEvalReader::open(path, lossy)?),
            PostFormat::LabelFirst => Box::new(label_first::LabelFirstReader::open(path, lossy)?),
            PostFormat::Parquet { text, label } => {
                Box::new(parquet::ParquetReader::open(path, text, label.as_deref())?)
            }
            PostFormat::Delimited {
                delimiter,
                text,
                label,
            } => Box::new(delimited::DelimitedReader::open(
                path,
                *delimiter,
                text,
                label.as_deref(),
                lossy,
            )?),
        };
        Ok(Self { inner })
    }

    /// How many posts had invalid UTF-8 replaced (with `lossy`).
    pub fn replaced_invalid_utf8(&self) -> usize {
        self.inner.replaced_invalid_utf8()
    }

    /// The line (row, for Parquet) of the post read last.
    pub fn last_line(&self) -> usize {
        PostSource::last_line(&*self.inner)
    }
}

impl Iterator for PostReader {
    type Item = Result<Post>;

    fn next(&mut self) -> Option<Result<Post>> {
        self.inner.next()
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
    fn label_first_lines_split_at_the_first_space_after_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labeled.tsv");
        std::fs::write(
            &p,
            "fine_label utterance\nNUM:count How many\tlegs ?\nLOC:city Where ?\n",
        )
        .unwrap();
        let (posts, _) = read_all(&p, &PostFormat::LabelFirst, false).unwrap();
        assert_eq!(posts[0].label.as_deref(), Some("NUM:count"));
        assert_eq!(posts[0].text, "How many\tlegs ?");
        assert_eq!(posts[1].label.as_deref(), Some("LOC:city"));
        std::fs::write(&p, "fine_label utterance\nNUM:count ok\nnolabel\n").unwrap();
        let err = read_all(&p, &PostFormat::LabelFirst, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("labeled.tsv:3: expected `LABEL text`"),
            "{err}"
        );
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
        // A `;`-separated export with a .csv name: the delimiter is sniffed from the header.
        let semi = dir.path().join("export.csv");
        std::fs::write(&semi, "id;tweet;label\n1;hello, world;real\n").unwrap();
        let format = PostFormat::for_path(&semi, "tweet", Some("label"));
        assert_eq!(format, PostFormat::delimited(b';', "tweet", Some("label")));
        let (posts, _) = read_all(&semi, &format, false).unwrap();
        assert_eq!(posts[0].text, "hello, world");
        // A comma file keeps its commas, whatever else its header holds.
        assert_eq!(
            PostFormat::for_path(&p, "tweet", None),
            PostFormat::delimited(b',', "tweet", None)
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
            err.contains("train_labels.txt:2: 3 texts but 2 labels"),
            "{err}"
        );
        std::fs::write(dir.path().join("train_labels.txt"), "2\n1\n0\n1\n").unwrap();
        let err = read_all(&text, &PostFormat::TweetEval, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train_text.txt:3: 3 texts but 4 labels"),
            "{err}"
        );
    }
}
