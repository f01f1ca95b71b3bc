//! The two next-item objectives over a model's outputs at the slots that hold an item:
//! - SASRec's binary cross-entropy: the target's logit against one item sampled uniformly from
//!   those the user has not interacted with, per slot (`softplus(-pos) + softplus(neg)`, each
//!   averaged over slots, as the reference code sums two means);
//! - full softmax cross-entropy over every item (Klenitskiy & Vasilev 2023; gSASRec), through
//!   `socgan_nn::linear_cross_entropy` on the non-padded rows only: over 23,715 items the logits
//!   of padded slots would be most of the work.

use candle_core::{Tensor, D};
use gan_core::loss::softplus;
use gan_core::SeededRng;
use serde::{Deserialize, Serialize};

use crate::Result;

/// Which next-item objective trains a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum NextItemLoss {
    /// Binary cross-entropy with one sampled negative per position (SASRec's).
    Bce,
    /// Cross-entropy of a softmax over all items.
    Softmax,
}

impl NextItemLoss {
    pub fn name(self) -> &'static str {
        match self {
            NextItemLoss::Bce => "bce",
            NextItemLoss::Softmax => "softmax",
        }
    }
}

/// `[rows, d]` outputs scored against `[num_items + 1, d]` item vectors: mean
/// `softplus(-<o, v_target>)` plus mean `softplus(<o, v_negative>)`.
pub fn sampled_bce(
    outputs: &Tensor,
    items: &Tensor,
    targets: &[u32],
    negatives: &[u32],
) -> Result<Tensor> {
    // One lookup for both: each lookup's backward pass writes a gradient the size of the whole
    // item table.
    let n = targets.len();
    let ids: Vec<u32> = targets.iter().chain(negatives).copied().collect();
    let vectors = items.index_select(&Tensor::from_vec(ids, 2 * n, outputs.device())?, 0)?;
    let logits = (Tensor::cat(&[outputs, outputs], 0)? * vectors)?.sum(D::Minus1)?;
    let positive = softplus(&logits.narrow(0, 0, n)?.neg()?)?.mean_all()?;
    let negative = softplus(&logits.narrow(0, n, n)?)?.mean_all()?;
    Ok((positive + negative)?)
}

/// Mean cross-entropy of `softmax(outputs @ items[1..]^T)` against `targets` (item ids).
pub fn softmax_cross_entropy(outputs: &Tensor, items: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let num_items = items.dim(0)? - 1;
    let weight = items.narrow(0, 1, num_items)?.t()?;
    let bias = Tensor::zeros(num_items, outputs.dtype(), outputs.device())?;
    let classes: Vec<u32> = targets.iter().map(|&t| t - 1).collect();
    let row_weight = 1.0 / targets.len() as f32;
    let weights = vec![row_weight; targets.len()];
    Ok(socgan_nn::linear_cross_entropy(
        outputs, &weight, &bias, &classes, &weights,
    )?)
}

/// One negative per row: an item drawn uniformly from `1..=num_items` outside `seen[owner]`
/// (sorted item ids), by rejection as SASRec's sampler draws it.
pub fn sample_negatives(
    rng: &mut SeededRng,
    num_items: usize,
    seen: &[&[u32]],
    owners: &[usize],
) -> Vec<u32> {
    owners
        .iter()
        .map(|&owner| draw_unseen(rng, num_items, seen[owner]))
        .collect()
}

/// An item outside `seen` (sorted, distinct item ids); any item if `seen` holds them all.
pub fn draw_unseen(rng: &mut SeededRng, num_items: usize, seen: &[u32]) -> u32 {
    if seen.len() >= num_items {
        return rng.below(num_items) as u32 + 1;
    }
    loop {
        let item = rng.below(num_items) as u32 + 1;
        if seen.binary_search(&item).is_err() {
            return item;
        }
    }
}
