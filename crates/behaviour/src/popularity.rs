//! The popularity baseline: every user gets the items most often seen in training, scored by
//! their count. Many items share a count, which is why ranking breaks ties against the target.

/// Training counts of items `1..=num_items`.
#[derive(Clone, Debug, PartialEq)]
pub struct Popularity {
    counts: Vec<f32>,
}

impl Popularity {
    /// Counts over the training part of every history.
    pub fn fit(histories: &[Vec<u32>], num_items: usize) -> Self {
        let mut counts = vec![0f32; num_items];
        for &item in histories.iter().flatten() {
            counts[item as usize - 1] += 1.0;
        }
        Self { counts }
    }

    /// Score of item `i + 1` at index `i`, the same for every user.
    pub fn scores(&self) -> &[f32] {
        &self.counts
    }
}
