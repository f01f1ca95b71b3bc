//! Plain text, one post per line; blank lines are posts too (TweetEval's convention). The line
//! source here also serves JSONL and TweetEval's paired files.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::posts::{Post, PostSource};
use crate::{Error, Result};

/// Lines of a file, decoded as UTF-8 strictly or lossily (replacements counted).
pub(crate) struct LineSource {
    pub(crate) path: PathBuf,
    reader: BufReader<File>,
    pub(crate) line: usize,
    lossy: bool,
    pub(crate) replaced: usize,
    buf: Vec<u8>,
}

impl LineSource {
    pub(crate) fn open(path: &Path, lossy: bool) -> Result<Self> {
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

    /// An error at the current line.
    pub(crate) fn malformed(&self, message: impl Into<String>) -> Error {
        Error::Malformed {
            path: self.path.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<String> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(_) if self.lossy => {
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
    pub(crate) fn next_line(&mut self) -> Option<Result<String>> {
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

/// One post per line, no labels.
pub(crate) struct LinesReader(pub(crate) LineSource);

impl Iterator for LinesReader {
    type Item = Result<Post>;
    fn next(&mut self) -> Option<Result<Post>> {
        Some(self.0.next_line()?.map(Post::unlabelled))
    }
}

impl PostSource for LinesReader {
    fn replaced_invalid_utf8(&self) -> usize {
        self.0.replaced
    }

    fn last_line(&self) -> usize {
        self.0.line
    }
}
