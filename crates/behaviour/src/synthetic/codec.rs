//! Histories as fixed-length token rows: items keep their ids `1..=num_items`, `num_items + 1`
//! ends a history, 0 pads after the end (and is the generator's start token). A history longer
//! than `max_items` keeps its newest items.

use socgan_data::TokenSequences;

use crate::Result;

/// The token layout of one item catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryCodec {
    pub num_items: usize,
    pub max_items: usize,
}

const PAD: u32 = 0;

impl HistoryCodec {
    /// Items, the end token and padding.
    pub fn vocab_size(&self) -> usize {
        self.num_items + 2
    }

    /// Tokens per row: at most `max_items` items and the end token.
    pub fn seq_len(&self) -> usize {
        self.max_items + 1
    }

    pub fn end_token(&self) -> u32 {
        self.num_items as u32 + 1
    }

    /// The newest `max_items` items of a history.
    pub fn truncate<'a>(&self, history: &'a [u32]) -> &'a [u32] {
        crate::batches::newest(history, self.max_items)
    }

    /// One row per history (which must not be empty).
    pub fn encode(&self, histories: &[Vec<u32>]) -> Result<TokenSequences> {
        let len = self.seq_len();
        let mut tokens = vec![PAD; histories.len() * len];
        for (row, history) in tokens.chunks_mut(len).zip(histories) {
            let kept = self.truncate(history);
            row[..kept.len()].copy_from_slice(kept);
            row[kept.len()] = self.end_token();
        }
        Ok(TokenSequences::new(len, tokens)?)
    }

    /// The items of each row, up to its first end or padding token.
    pub fn decode(&self, rows: &TokenSequences) -> Vec<Vec<u32>> {
        rows.rows()
            .map(|row| {
                row.iter()
                    .take_while(|&&t| t != PAD && t != self.end_token())
                    .copied()
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_keep_the_newest_items() {
        let codec = HistoryCodec {
            num_items: 9,
            max_items: 3,
        };
        let rows = codec.encode(&[vec![4, 5], vec![1, 2, 3, 4, 5]]).unwrap();
        assert_eq!(rows.tokens(), &[4, 5, 10, 0, 3, 4, 5, 10]);
        assert_eq!(codec.decode(&rows), vec![vec![4, 5], vec![3, 4, 5]]);
        // A generated row may pad early or end at once.
        let generated = TokenSequences::new(4, vec![7, 0, 8, 10, 10, 1, 2, 3]).unwrap();
        assert_eq!(codec.decode(&generated), vec![vec![7], vec![]]);
    }
}
