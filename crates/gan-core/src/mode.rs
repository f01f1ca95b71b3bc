//! Train and eval mode, made explicit in every forward pass that depends on it.

use candle_core::Tensor;

use crate::{Result, SeededRng};

/// Whether a forward pass trains or evaluates. Training mode carries the RNG that dropout masks
/// (and any other training-time noise) draw from, so a training forward pass cannot be asked for
/// without one; batch-normalising layers use batch statistics and update their running averages
/// in training mode and read the running averages in eval mode.
pub enum Mode<'a> {
    Train(&'a mut SeededRng),
    Eval,
}

impl Mode<'_> {
    /// Inverted dropout with probability `p` in training mode; the identity in eval mode.
    pub fn dropout(&mut self, xs: &Tensor, p: f32) -> Result<Tensor> {
        match self {
            Mode::Train(rng) => rng.dropout(xs, p),
            Mode::Eval => Ok(xs.clone()),
        }
    }

    /// The multipliers [`Mode::dropout`] would apply to `n` elements, drawn from the same
    /// stream; `None` in eval mode or when `p == 0`.
    pub fn dropout_multipliers(&mut self, n: usize, p: f32) -> Option<Vec<f32>> {
        match self {
            Mode::Train(rng) => rng.dropout_multipliers(n, p),
            Mode::Eval => None,
        }
    }
}
