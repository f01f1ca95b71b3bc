//! Histories as model input: right-aligned (the newest item in the last slot, as SASRec lays
//! them out), cut to the batch's longest history (at most `max_length` items), with the rows that
//! hold an item listed so that losses and projections skip the padding.
//!
//! Cutting a batch to its longest history changes nothing a model computes: padded keys are
//! masked out of attention and padded rows never reach a loss, and a slot keeps its position in
//! the `max_length` window. On Amazon Games (9 actions per user on average, windows of 50) it
//! removes most of the work.

use candle_core::{Device, Tensor};

use crate::Result;

/// Item id 0 is padding; real items are `1..=num_items`.
pub const PADDING: u32 = 0;

/// A batch of histories as model input.
#[derive(Debug)]
pub struct SequenceBatch {
    pub batch: usize,
    /// Slots per history in this batch (the longest history, at most `max_length`).
    pub length: usize,
    /// `[batch, length]` item ids, padding first.
    pub items: Tensor,
    /// `[batch, length]` slot of each position in the `max_length` window (`max_length - length
    /// + j`), padded slots included.
    pub positions: Tensor,
    /// `[batch, length, 1]`: 1 where a slot holds an item, 0 for padding.
    pub present: Tensor,
    /// Host copy of `items`, row-major.
    pub item_ids: Vec<u32>,
    /// Flat indices (`b * length + j`) of the slots whose output is used: every slot with an item
    /// when training, the last slot when scoring.
    pub rows: Vec<u32>,
    /// The item to predict at each of `rows` (training only).
    pub targets: Vec<u32>,
    /// The history's owner (index into the slices given) of each of `rows`.
    pub row_owner: Vec<usize>,
}

impl SequenceBatch {
    /// Next-item training: each history's items but the last are the input, and each slot's
    /// target is the item after it (histories need at least 2 items).
    pub fn for_training(histories: &[&[u32]], max_length: usize, device: &Device) -> Result<Self> {
        let inputs: Vec<&[u32]> = histories
            .iter()
            .map(|h| newest(&h[..h.len().saturating_sub(1)], max_length))
            .collect();
        let mut batch = Self::layout(&inputs, max_length, device)?;
        let length = batch.length;
        for (b, history) in histories.iter().enumerate() {
            let input_len = inputs[b].len();
            let next = &history[history.len() - input_len..];
            for (k, &target) in next.iter().enumerate() {
                batch
                    .rows
                    .push((b * length + length - input_len + k) as u32);
                batch.targets.push(target);
                batch.row_owner.push(b);
            }
        }
        Ok(batch)
    }

    /// Scoring the item after each history (histories need at least 1 item): the last slot of
    /// each row.
    pub fn for_scoring(histories: &[&[u32]], max_length: usize, device: &Device) -> Result<Self> {
        let inputs: Vec<&[u32]> = histories.iter().map(|h| newest(h, max_length)).collect();
        let mut batch = Self::layout(&inputs, max_length, device)?;
        batch.rows = (0..batch.batch)
            .map(|b| ((b + 1) * batch.length - 1) as u32)
            .collect();
        batch.row_owner = (0..batch.batch).collect();
        Ok(batch)
    }

    fn layout(inputs: &[&[u32]], max_length: usize, device: &Device) -> Result<Self> {
        let batch = inputs.len();
        let length = inputs.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut item_ids = vec![PADDING; batch * length];
        for (b, seq) in inputs.iter().enumerate() {
            item_ids[(b + 1) * length - seq.len()..(b + 1) * length].copy_from_slice(seq);
        }
        let first_slot = (max_length - length) as u32;
        let positions: Vec<u32> = (0..batch)
            .flat_map(|_| (0..length as u32).map(|j| first_slot + j))
            .collect();
        let present: Vec<f32> = item_ids
            .iter()
            .map(|&i| if i == PADDING { 0.0 } else { 1.0 })
            .collect();
        Ok(Self {
            batch,
            length,
            items: Tensor::from_vec(item_ids.clone(), (batch, length), device)?,
            positions: Tensor::from_vec(positions, (batch, length), device)?,
            present: Tensor::from_vec(present, (batch, length, 1), device)?,
            item_ids,
            rows: Vec::new(),
            targets: Vec::new(),
            row_owner: Vec::new(),
        })
    }

    /// `[batch, 1, length, length]` additive attention mask: a slot attends to itself and to the
    /// earlier slots that hold an item (never to later ones, never to padding).
    pub fn causal_mask(&self, device: &Device) -> Result<Tensor> {
        let (b_n, l) = (self.batch, self.length);
        let mut mask = vec![0f32; b_n * l * l];
        for b in 0..b_n {
            for q in 0..l {
                for k in 0..l {
                    let allowed = k == q || (k < q && self.item_ids[b * l + k] != PADDING);
                    if !allowed {
                        mask[(b * l + q) * l + k] = MASKED;
                    }
                }
            }
        }
        Ok(Tensor::from_vec(mask, (b_n, 1, l, l), device)?)
    }

    /// `[rows, 1]` row indices into the `[batch * length, ...]` outputs.
    pub fn row_index(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(&self.rows, self.rows.len(), device)?)
    }
}

/// Added to masked attention scores: far below any score, yet finite (no NaN when a softmax
/// row is all masked but for one slot).
const MASKED: f32 = -1e9;

/// The newest `max_length` items of a history.
pub fn newest(history: &[u32], max_length: usize) -> &[u32] {
    &history[history.len().saturating_sub(max_length)..]
}

/// The items of a history, sorted and distinct.
pub fn distinct_items(history: &[u32]) -> Vec<u32> {
    let mut set = history.to_vec();
    set.sort_unstable();
    set.dedup();
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_batch_is_right_aligned_and_lists_target_rows() {
        let a: &[u32] = &[5, 6, 7, 8];
        let b: &[u32] = &[9, 3];
        let batch = SequenceBatch::for_training(&[a, b], 10, &Device::Cpu).unwrap();
        assert_eq!(batch.length, 3);
        assert_eq!(batch.item_ids, vec![5, 6, 7, 0, 0, 9]);
        assert_eq!(batch.rows, vec![0, 1, 2, 5]);
        assert_eq!(batch.targets, vec![6, 7, 8, 3]);
        assert_eq!(batch.row_owner, vec![0, 0, 0, 1]);
        let positions: Vec<u32> = batch.positions.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(positions, vec![7, 8, 9, 7, 8, 9]);
    }

    #[test]
    fn long_histories_keep_their_newest_items() {
        let a: &[u32] = &[1, 2, 3, 4, 5, 6];
        let batch = SequenceBatch::for_training(&[a], 3, &Device::Cpu).unwrap();
        assert_eq!(batch.item_ids, vec![3, 4, 5]);
        assert_eq!(batch.targets, vec![4, 5, 6]);
        let scoring = SequenceBatch::for_scoring(&[a], 3, &Device::Cpu).unwrap();
        assert_eq!(scoring.item_ids, vec![4, 5, 6]);
        assert_eq!(scoring.rows, vec![2]);
    }

    #[test]
    fn mask_hides_future_and_padding_but_never_a_whole_row() {
        let a: &[u32] = &[4, 2];
        let b: &[u32] = &[1, 2, 3];
        let batch = SequenceBatch::for_scoring(&[a, b], 5, &Device::Cpu).unwrap();
        let mask: Vec<f32> = batch
            .causal_mask(&Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let allowed = |b: usize, q: usize, k: usize| mask[(b * 3 + q) * 3 + k] == 0.0;
        // History a is [pad, 4, 2]: the padded slot sees only itself.
        assert!(allowed(0, 0, 0) && !allowed(0, 0, 1));
        assert!(!allowed(0, 1, 0) && allowed(0, 1, 1) && !allowed(0, 1, 2));
        assert!(!allowed(0, 2, 0) && allowed(0, 2, 1) && allowed(0, 2, 2));
        assert!(allowed(1, 2, 0) && allowed(1, 2, 1) && allowed(1, 2, 2));
    }
}
