//! Batched sampling from `softmax(hidden @ weight + bias)`: one draw per row, by inverting the CDF
//! in the same cache-sized tiles as the fused cross-entropy, with temperature, top-k and top-p.

use rayon::prelude::*;

use crate::cross_entropy::{tile_logits, ROW_TILE};
use crate::{fast_math, Error, Result};

/// How the next token is drawn from the generator's distribution.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Softmax temperature; 1 samples the model's distribution.
    pub temperature: f32,
    /// Keep only the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability reaches `p` (nucleus).
    pub top_p: Option<f32>,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: None,
            top_p: None,
        }
    }
}

impl SamplingConfig {
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(Error::Config(format!(
                "temperature must be > 0, got {}",
                self.temperature
            )));
        }
        if self.top_k == Some(0) {
            return Err(Error::Config("top_k must be at least 1".into()));
        }
        if self.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(Error::Config("top_p must be in (0, 1]".into()));
        }
        Ok(())
    }
}

/// Draws one token per row of `hidden` (`[B, H]`, row-major) from
/// `softmax((hidden @ weight + bias) / temperature)`, restricted by top-k / top-p, by inverting
/// the CDF at `uniforms[row]`. Rows are independent, so the result does not depend on threads.
pub fn sample_rows(
    hidden: &[f32],
    weight: &[f32],
    bias: &[f32],
    hidden_dim: usize,
    config: &SamplingConfig,
    uniforms: &[f32],
) -> Vec<u32> {
    let vocab = bias.len();
    let rows = uniforms.len();
    let mut out = vec![0u32; rows];
    let inv_t = 1.0 / config.temperature;
    let truncate = config.top_k.is_some() || config.top_p.is_some();
    hidden
        .par_chunks(ROW_TILE * hidden_dim)
        .zip(out.par_chunks_mut(ROW_TILE))
        .zip(uniforms.par_chunks(ROW_TILE))
        .for_each_init(
            || {
                (
                    vec![0f32; ROW_TILE * vocab],
                    vec![0f32; vocab],
                    Vec::<u32>::new(),
                )
            },
            |(logits, probs, order), ((h, out), u)| {
                tile_logits(h, weight, bias, hidden_dim, vocab, logits);
                for r in 0..u.len() {
                    let row = &logits[r * vocab..(r + 1) * vocab];
                    let m = fast_math::max(row);
                    let total = fast_math::exp_shifted_sum(row, m, inv_t, probs);
                    out[r] = if truncate {
                        truncated_draw(probs, total, config, u[r], order)
                    } else {
                        cdf_draw(probs, total * u[r])
                    };
                }
            },
        );
    out
}

fn cdf_draw(probs: &[f32], target: f32) -> u32 {
    let mut acc = 0f32;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if acc > target {
            return i as u32;
        }
    }
    // Rounding left the target at the very end: the last token with non-zero mass.
    probs.iter().rposition(|&p| p > 0.0).unwrap_or(0) as u32
}

fn truncated_draw(
    probs: &[f32],
    total: f32,
    config: &SamplingConfig,
    u: f32,
    order: &mut Vec<u32>,
) -> u32 {
    order.clear();
    order.extend(0..probs.len() as u32);
    let k = config.top_k.unwrap_or(probs.len()).min(probs.len());
    let by_prob = |a: &u32, b: &u32| {
        probs[*b as usize]
            .total_cmp(&probs[*a as usize])
            .then(a.cmp(b))
    };
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, by_prob);
        order.truncate(k);
    }
    order.sort_unstable_by(by_prob);
    if let Some(p) = config.top_p {
        let mut acc = 0f32;
        let mut keep = order.len();
        for (n, &i) in order.iter().enumerate() {
            acc += probs[i as usize] / total;
            if acc >= p {
                keep = n + 1;
                break;
            }
        }
        order.truncate(keep);
    }
    let kept: f32 = order.iter().map(|&i| probs[i as usize]).sum();
    let target = u * kept;
    let mut acc = 0f32;
    for &i in order.iter() {
        acc += probs[i as usize];
        if acc > target {
            return i;
        }
    }
    *order.last().expect("at least one token kept")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gan_core::SeededRng;

    #[test]
    fn sampling_follows_the_distribution_and_truncation() {
        // hidden = 1, weight row = log-probabilities: the softmax is exactly `probs`.
        let probs = [0.5f32, 0.3, 0.15, 0.05];
        let weight: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
        let bias = vec![0f32; 4];
        let n = 40_000;
        let hidden = vec![1f32; n];
        let mut rng = SeededRng::new(4);
        let uniforms = rng.uniform_vec(n, 0.0, 1.0);
        let count = |cfg: &SamplingConfig| {
            let mut c = [0usize; 4];
            for t in sample_rows(&hidden, &weight, &bias, 1, cfg, &uniforms) {
                c[t as usize] += 1;
            }
            c.map(|x| x as f32 / n as f32)
        };
        let full = count(&SamplingConfig::default());
        for (f, p) in full.iter().zip(probs) {
            assert!((f - p).abs() < 0.01, "{full:?}");
        }
        let top2 = count(&SamplingConfig {
            top_k: Some(2),
            ..Default::default()
        });
        assert!(
            (top2[0] - 0.625).abs() < 0.01 && top2[2] == 0.0 && top2[3] == 0.0,
            "{top2:?}"
        );
        let nucleus = count(&SamplingConfig {
            top_p: Some(0.9),
            ..Default::default()
        });
        assert!(nucleus[3] == 0.0 && nucleus[2] > 0.1, "{nucleus:?}");
        let cold = count(&SamplingConfig {
            temperature: 0.05,
            ..Default::default()
        });
        assert!(cold[0] > 0.99, "{cold:?}");
    }
}
