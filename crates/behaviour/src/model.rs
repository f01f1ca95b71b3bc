//! The next-item models a run can choose, behind one interface: scores of every item for the
//! step after each history.

use candle_core::{Device, Tensor};
use gan_core::{Init, Mode, ParamStore, SeededRng};
use serde::{Deserialize, Serialize};

use crate::batches::SequenceBatch;
use crate::gru4rec::{Gru4Rec, Gru4RecConfig};
use crate::popularity::Popularity;
use crate::sasrec::{SasRec, SasRecConfig};
use crate::Result;

/// Glorot & Bengio's initialisation for a `fan_in x fan_out` matrix (normal or uniform), as
/// PyTorch's `xavier_normal_` / `xavier_uniform_`.
pub(crate) fn xavier(fan_in: usize, fan_out: usize, normal: bool) -> Init {
    let std = (2.0 / (fan_in + fan_out) as f32).sqrt();
    if normal {
        Init::Normal { mean: 0.0, std }
    } else {
        let bound = 3f32.sqrt() * std;
        Init::Uniform {
            low: -bound,
            high: bound,
        }
    }
}

/// PyTorch's default for a vector of `fan_in` inputs (biases): uniform in `+-1/sqrt(fan_in)`.
pub(crate) fn default_bias(fan_in: usize) -> Init {
    let bound = 1.0 / (fan_in as f32).sqrt();
    Init::Uniform {
        low: -bound,
        high: bound,
    }
}

/// The popularity baseline has no settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopularityConfig {}

/// Which model a run trains, with its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelConfig {
    Sasrec(SasRecConfig),
    Gru4rec(Gru4RecConfig),
    Popularity(PopularityConfig),
}

impl ModelConfig {
    pub fn name(&self) -> &'static str {
        match self {
            ModelConfig::Sasrec(_) => "sasrec",
            ModelConfig::Gru4rec(_) => "gru4rec",
            ModelConfig::Popularity(_) => "popularity",
        }
    }

    pub fn validate(&self) -> Result<()> {
        match self {
            ModelConfig::Sasrec(c) => c.validate(),
            ModelConfig::Gru4rec(c) => c.validate(),
            ModelConfig::Popularity(_) => Ok(()),
        }
    }
}

/// A trainable next-item network.
pub enum SequenceModel {
    SasRec(SasRec),
    Gru4Rec(Gru4Rec),
}

impl SequenceModel {
    /// The network of `config` over `num_items` items (`None` for the popularity baseline).
    pub fn new(
        config: &ModelConfig,
        num_items: usize,
        store: &mut ParamStore,
        rng: &mut SeededRng,
    ) -> Result<Option<Self>> {
        Ok(match config {
            ModelConfig::Sasrec(c) => Some(SequenceModel::SasRec(SasRec::new(
                c, num_items, store, rng,
            )?)),
            ModelConfig::Gru4rec(c) => Some(SequenceModel::Gru4Rec(Gru4Rec::new(
                c, num_items, store, rng,
            )?)),
            ModelConfig::Popularity(_) => None,
        })
    }

    /// The newest items of a history the model reads.
    pub fn max_length(&self, config: &ModelConfig) -> usize {
        match config {
            ModelConfig::Sasrec(c) => c.max_length,
            ModelConfig::Gru4rec(c) => c.max_length,
            ModelConfig::Popularity(_) => usize::MAX,
        }
    }

    /// `[rows, d]` outputs at `batch.rows`, in the item vectors' space.
    pub fn forward_rows(&self, batch: &SequenceBatch, mode: &mut Mode) -> Result<Tensor> {
        match self {
            SequenceModel::SasRec(m) => m.forward_rows(batch, mode),
            SequenceModel::Gru4Rec(m) => m.forward_rows(batch, mode),
        }
    }

    /// `[num_items + 1, d]` item vectors (row 0 is padding).
    pub fn item_vectors(&self) -> &Tensor {
        match self {
            SequenceModel::SasRec(m) => m.item_vectors(),
            SequenceModel::Gru4Rec(m) => m.item_vectors(),
        }
    }
}

/// Anything that scores every item after a history.
pub enum Recommender {
    Sequence {
        model: SequenceModel,
        max_length: usize,
    },
    Popularity(Popularity),
}

impl Recommender {
    /// `[histories.len() * num_items]` scores, item `i + 1` at column `i`; histories need at
    /// least one item.
    pub fn scores(&self, histories: &[&[u32]], device: &Device) -> Result<Vec<f32>> {
        match self {
            Recommender::Sequence { model, max_length } => {
                let batch = SequenceBatch::for_scoring(histories, *max_length, device)?;
                let outputs = model.forward_rows(&batch, &mut Mode::Eval)?.detach();
                let items = model.item_vectors().detach();
                let num_items = items.dim(0)? - 1;
                let scores = outputs.matmul(&items.narrow(0, 1, num_items)?.t()?)?;
                Ok(scores.flatten_all()?.to_vec1()?)
            }
            Recommender::Popularity(p) => Ok(p.scores().repeat(histories.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gru4rec::Gru4RecConfig;
    use crate::loss::{sampled_bce, softmax_cross_entropy};
    use gan_core::gradient_flow::check_gradient_flow;

    const ITEMS: usize = 30;

    fn configs() -> Vec<ModelConfig> {
        vec![
            ModelConfig::Sasrec(SasRecConfig {
                hidden: 8,
                heads: 2,
                max_length: 6,
                dropout: 0.2,
                ..SasRecConfig::default()
            }),
            ModelConfig::Gru4rec(Gru4RecConfig {
                embedding: 8,
                hidden: 12,
                max_length: 6,
                dropout: 0.2,
            }),
        ]
    }

    fn model(config: &ModelConfig) -> (SequenceModel, ParamStore) {
        let mut store = ParamStore::new(&Device::Cpu);
        let mut rng = SeededRng::new(5);
        let model = SequenceModel::new(config, ITEMS, &mut store, &mut rng)
            .unwrap()
            .unwrap();
        (model, store)
    }

    #[test]
    fn every_weight_gets_a_gradient_from_both_losses() {
        let histories: Vec<&[u32]> = vec![&[1, 2, 3, 4, 5, 6, 7, 8], &[9, 3], &[4, 5, 6]];
        for config in configs() {
            let (model, store) = model(&config);
            let batch = SequenceBatch::for_training(&histories, 6, &Device::Cpu).unwrap();
            let mut rng = SeededRng::new(1);
            let out = model
                .forward_rows(&batch, &mut Mode::Train(&mut rng))
                .unwrap();
            let negatives: Vec<u32> = batch.targets.iter().map(|t| t % 29 + 1).collect();
            let bce = sampled_bce(&out, model.item_vectors(), &batch.targets, &negatives).unwrap();
            check_gradient_flow(&bce, &store).unwrap();
            let ce = softmax_cross_entropy(&out, model.item_vectors(), &batch.targets).unwrap();
            check_gradient_flow(&ce, &store).unwrap();
        }
    }

    /// Scores after a history must not depend on what else is in its batch (padding, batch
    /// length), and an output must not see later items.
    #[test]
    fn outputs_ignore_padding_and_the_future() {
        for config in configs() {
            let (model, _) = model(&config);
            let recommender = Recommender::Sequence {
                max_length: 6,
                model,
            };
            let short: &[u32] = &[7, 8];
            let alone = recommender.scores(&[short], &Device::Cpu).unwrap();
            let long: &[u32] = &[1, 2, 3, 4, 5];
            let together = recommender.scores(&[long, short], &Device::Cpu).unwrap();
            let diff = alone
                .iter()
                .zip(&together[ITEMS..])
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                diff < 1e-5,
                "{}: padding changed scores by {diff}",
                config.name()
            );
            let Recommender::Sequence { model, .. } = &recommender else {
                unreachable!()
            };
            let rows = |h: &[u32]| {
                let batch = SequenceBatch::for_training(&[h], 6, &Device::Cpu).unwrap();
                let out = model.forward_rows(&batch, &mut Mode::Eval).unwrap();
                out.narrow(0, 0, 2)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            };
            // The first two outputs read items 1-2 only; changing item 4 leaves them alone.
            let a = rows(&[3, 4, 5, 6, 9]);
            let b = rows(&[3, 4, 5, 20, 9]);
            let diff = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-6, "{}: an output saw a later item", config.name());
        }
    }
}
