//! Fixed-length token sequences stored flat, as the synthetic-oracle benchmark and the padded
//! real-text corpora use them.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use candle_core::{Device, Tensor};
use gan_core::SeededRng;

use crate::{Error, Result};

/// `len()` sequences of exactly `seq_len` token ids, row-major.
///
/// ```
/// use socgan_data::TokenSequences;
/// let data = TokenSequences::new(3, vec![1, 2, 3, 4, 5, 6]).unwrap();
/// assert_eq!(data.len(), 2);
/// assert_eq!(data.row(1), &[4, 5, 6]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TokenSequences {
    seq_len: usize,
    tokens: Vec<u32>,
}

impl TokenSequences {
    pub fn new(seq_len: usize, tokens: Vec<u32>) -> Result<Self> {
        if seq_len == 0 || !tokens.len().is_multiple_of(seq_len) {
            return Err(Error::Invalid(format!(
                "{} tokens do not make rows of length {seq_len}",
                tokens.len()
            )));
        }
        Ok(Self { seq_len, tokens })
    }

    pub fn seq_len(&self) -> usize {
        self.seq_len
    }
    pub fn len(&self) -> usize {
        self.tokens.len() / self.seq_len
    }
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
    pub fn row(&self, i: usize) -> &[u32] {
        &self.tokens[i * self.seq_len..(i + 1) * self.seq_len]
    }
    pub fn rows(&self) -> impl Iterator<Item = &[u32]> {
        self.tokens.chunks_exact(self.seq_len)
    }

    /// The largest token id plus one (0 for an empty set).
    pub fn vocab_bound(&self) -> u32 {
        // Saturates: an id of u32::MAX (a hostile tokenizer file) exceeds every vocabulary anyway.
        self.tokens.iter().max().map_or(0, |m| m.saturating_add(1))
    }

    /// The rows `indices`, gathered into a new set.
    pub fn select(&self, indices: &[usize]) -> TokenSequences {
        let mut tokens = Vec::with_capacity(indices.len() * self.seq_len);
        for &i in indices {
            tokens.extend_from_slice(self.row(i));
        }
        TokenSequences {
            seq_len: self.seq_len,
            tokens,
        }
    }

    /// Rows `start..end`.
    pub fn slice(&self, start: usize, end: usize) -> TokenSequences {
        TokenSequences {
            seq_len: self.seq_len,
            tokens: self.tokens[start * self.seq_len..end * self.seq_len].to_vec(),
        }
    }

    /// `[rows, seq_len]` u32 tensor.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.tokens,
            (self.len(), self.seq_len),
            device,
        )?)
    }

    /// `batch_size` rows drawn uniformly with replacement.
    pub fn random_batch(&self, batch_size: usize, rng: &mut SeededRng) -> TokenSequences {
        self.select(&self.random_rows(batch_size, rng))
    }

    /// The rows [`TokenSequences::random_batch`] draws (for data kept beside the rows, such as
    /// class labels).
    pub fn random_rows(&self, batch_size: usize, rng: &mut SeededRng) -> Vec<usize> {
        (0..batch_size).map(|_| rng.below(self.len())).collect()
    }

    /// Number of full batches in one epoch (a last partial batch is dropped, as the reference
    /// implementations do).
    pub fn batches_per_epoch(&self, batch_size: usize) -> usize {
        self.len() / batch_size
    }

    /// Batch `index` of `epoch`: epochs visit the rows in an order drawn from
    /// `SeededRng::derive(seed, "batches", epoch)`, so any batch can be recomputed from the step
    /// number alone (resumption needs no iterator state).
    pub fn epoch_batch(
        &self,
        seed: u64,
        epoch: u64,
        index: usize,
        batch_size: usize,
    ) -> TokenSequences {
        self.select(&self.epoch_batch_rows(seed, epoch, index, batch_size))
    }

    /// The rows of [`TokenSequences::epoch_batch`].
    pub fn epoch_batch_rows(
        &self,
        seed: u64,
        epoch: u64,
        index: usize,
        batch_size: usize,
    ) -> Vec<usize> {
        let order = SeededRng::derive(seed, "batches", epoch).permutation(self.len());
        order[index * batch_size..(index + 1) * batch_size].to_vec()
    }

    /// Writes one sequence per line, ids separated by spaces (SeqGAN's `real_data.txt` format).
    pub fn save_text(&self, path: &Path) -> Result<()> {
        let mut text = String::with_capacity(self.tokens.len() * 5);
        for row in self.rows() {
            let line: Vec<String> = row.iter().map(|t| t.to_string()).collect();
            text.push_str(&line.join(" "));
            text.push('\n');
        }
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("tmp");
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        };
        write().map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads the format of [`TokenSequences::save_text`]; every line must hold the same number of
    /// ids.
    pub fn load_text(path: &Path) -> Result<Self> {
        let file = fs::File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut tokens = Vec::new();
        let mut seq_len = None;
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let malformed = |message: String| Error::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
                message,
            };
            let line = line.map_err(|e| malformed(format!("unreadable line ({e})")))?;
            let row: Vec<u32> = line
                .split_whitespace()
                .map(|w| {
                    w.parse::<u32>()
                        .map_err(|_| malformed(format!("expected token ids, found `{w}`")))
                })
                .collect::<Result<_>>()?;
            match seq_len {
                None if row.is_empty() => {
                    return Err(malformed("empty line, expected token ids".into()))
                }
                None => seq_len = Some(row.len()),
                Some(n) if n != row.len() => {
                    return Err(malformed(format!(
                        "expected {n} token ids, found {}",
                        row.len()
                    )))
                }
                _ => {}
            }
            tokens.extend(row);
        }
        let seq_len = seq_len.ok_or_else(|| Error::Malformed {
            path: path.to_path_buf(),
            line: 0,
            message: "no sequences".into(),
        })?;
        Self::new(seq_len, tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let data = TokenSequences::new(3, (0..12).collect()).unwrap();
        let path = dir.path().join("real.txt");
        data.save_text(&path).unwrap();
        assert_eq!(TokenSequences::load_text(&path).unwrap(), data);
        fs::write(&path, "1 2 3\n4 5\n").unwrap();
        let err = TokenSequences::load_text(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("real.txt:2: expected 3 token ids, found 2"),
            "{err}"
        );
        fs::write(&path, "1 2 x\n").unwrap();
        assert!(TokenSequences::load_text(&path)
            .unwrap_err()
            .to_string()
            .contains(":1: expected token ids, found `x`"));
        let missing = TokenSequences::load_text(&dir.path().join("none.txt"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("none.txt"));
    }

    #[test]
    fn epochs_visit_every_row_once_in_a_seeded_order() {
        let data = TokenSequences::new(1, (0..10).collect()).unwrap();
        let epoch = |e| {
            (0..5)
                .flat_map(|b| data.epoch_batch(9, e, b, 2).tokens().to_vec())
                .collect::<Vec<_>>()
        };
        let mut first = epoch(0);
        assert_eq!(first, epoch(0));
        assert_ne!(first, epoch(1));
        first.sort();
        assert_eq!(first, (0..10).collect::<Vec<u32>>());
    }
}
