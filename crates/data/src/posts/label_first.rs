//! GAN-BERT's question-classification files (`labeled.tsv`, `unlabeled.tsv`, `test.tsv` of
//! crux82/ganbert): a header line, then `LABEL text` per line, the label ending at the first
//! space (the texts contain tabs and quotes, so the files are not TSV in the CSV sense).
//! Unlabelled lines carry the placeholder label `UNK:UNK`.

use std::path::Path;

use crate::posts::lines::LineSource;
use crate::posts::{Post, PostSource};
use crate::Result;

pub(crate) struct LabelFirstReader {
    source: LineSource,
    header_read: bool,
}

impl LabelFirstReader {
    pub(crate) fn open(path: &Path, lossy: bool) -> Result<Self> {
        Ok(Self {
            source: LineSource::open(path, lossy)?,
            header_read: false,
        })
    }
}

impl Iterator for LabelFirstReader {
    type Item = Result<Post>;

    fn next(&mut self) -> Option<Result<Post>> {
        if !self.header_read {
            self.header_read = true;
            if let Err(e) = self.source.next_line()? {
                return Some(Err(e));
            }
        }
        let line = match self.source.next_line()? {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        Some(match line.split_once(' ') {
            Some((label, text)) if !label.is_empty() => Ok(Post {
                text: text.to_string(),
                label: Some(label.to_string()),
            }),
            _ => Err(self
                .source
                .malformed("expected `LABEL text` (a label, one space, the text)")),
        })
    }
}

impl PostSource for LabelFirstReader {
    fn replaced_invalid_utf8(&self) -> usize {
        self.source.replaced
    }
    fn last_line(&self) -> usize {
        self.source.line
    }
}
