//! TweetEval's paired files: `{split}_text.txt` and `{split}_labels.txt`, read line by line
//! together (never parsed as CSV: tweets contain commas and quotes), and `mapping.txt` (`id<TAB>name`
//! per line) naming the label ids.

use std::path::{Path, PathBuf};

use crate::labels::LabelMap;
use crate::posts::lines::LineSource;
use crate::posts::{Post, PostSource};
use crate::{Error, Result};

pub(crate) struct TweetEvalReader {
    text: LineSource,
    labels: LineSource,
}

/// `{split}_labels.txt` beside `{split}_text.txt`.
fn labels_path(text: &Path) -> Result<PathBuf> {
    let name = text
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix("_text.txt").ok_or_else(|| {
        Error::Invalid(format!(
            "{}: TweetEval text files are named {{split}}_text.txt",
            text.display()
        ))
    })?;
    Ok(text.with_file_name(format!("{stem}_labels.txt")))
}

impl TweetEvalReader {
    pub(crate) fn open(text: &Path, lossy: bool) -> Result<Self> {
        Ok(Self {
            labels: LineSource::open(&labels_path(text)?, lossy)?,
            text: LineSource::open(text, lossy)?,
        })
    }
}

impl Iterator for TweetEvalReader {
    type Item = Result<Post>;
    fn next(&mut self) -> Option<Result<Post>> {
        match (self.text.next_line(), self.labels.next_line()) {
            (None, None) => None,
            (Some(Ok(t)), Some(Ok(l))) => Some(Ok(Post {
                text: t,
                label: Some(l.trim().to_string()),
            })),
            (Some(Err(e)), _) | (_, Some(Err(e))) => Some(Err(e)),
            (Some(_), None) => Some(Err(self.labels.malformed(format!(
                "{} texts but {} labels: the labels end first",
                self.text.line, self.labels.line
            )))),
            (None, Some(_)) => Some(Err(self.text.malformed(format!(
                "{} texts but {} labels: the texts end first",
                self.text.line, self.labels.line
            )))),
        }
    }
}

impl PostSource for TweetEvalReader {
    fn replaced_invalid_utf8(&self) -> usize {
        self.text.replaced + self.labels.replaced
    }

    fn last_line(&self) -> usize {
        self.text.line
    }
}

/// The `mapping.txt` beside a TweetEval split file, if there is one.
pub fn mapping_beside(text: &Path) -> Option<PathBuf> {
    let path = text.with_file_name("mapping.txt");
    path.is_file().then_some(path)
}

/// Reads a TweetEval `mapping.txt`: `id<TAB>name` per line, ids `0..K` in order.
pub fn read_mapping(path: &Path) -> Result<LabelMap> {
    let mut source = LineSource::open(path, false)?;
    let mut names = Vec::new();
    while let Some(line) = source.next_line() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let (id, name) = line
            .split_once('\t')
            .ok_or_else(|| source.malformed("expected `id<TAB>name`"))?;
        let id: usize = id
            .trim()
            .parse()
            .map_err(|_| source.malformed(format!("expected a numeric id, found `{id}`")))?;
        if id != names.len() {
            return Err(source.malformed(format!(
                "expected id {}, found {id} (ids run 0, 1, 2, ... in order)",
                names.len()
            )));
        }
        names.push(name.trim().to_string());
    }
    LabelMap::from_names(names).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}
