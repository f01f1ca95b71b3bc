//! A next-item predictor as a [`gan_core::Task`]: epochs of one update over the training
//! histories (in a seeded order per epoch), evaluated by both ranking protocols.

use candle_core::Device;
use gan_core::{
    EvalContext, Evaluation, Losses, Mode, ParamGroup, ParamStore, SeededRng, StepContext, Task,
    UpdateKind,
};

use crate::batches::{distinct_items, SequenceBatch};
use crate::evaluation::RankingEvaluator;
use crate::loss::{sample_negatives, sampled_bce, softmax_cross_entropy, NextItemLoss};
use crate::model::Recommender;
use crate::Result;

/// The parameter group and optimizer of a trained model.
pub const MODEL_GROUP: &str = "model";

/// The one kind of update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextItemUpdate;

impl UpdateKind for NextItemUpdate {
    fn name(&self) -> &'static str {
        "next_item"
    }
}

/// Histories to learn from (at least two items each) and, per history, the items its owner has
/// interacted with (sorted, distinct), which sampled negatives avoid.
pub struct TrainingHistories {
    pub histories: Vec<Vec<u32>>,
    pub seen: Vec<Vec<u32>>,
}

impl TrainingHistories {
    /// The training parts of a split, then any extra (e.g. generated) histories.
    pub fn new(train: &[Vec<u32>], extra: &[Vec<u32>]) -> Self {
        let histories: Vec<Vec<u32>> = train
            .iter()
            .chain(extra)
            .filter(|h| h.len() >= 2)
            .cloned()
            .collect();
        let seen = histories.iter().map(|h| distinct_items(h)).collect();
        Self { histories, seen }
    }

    pub fn len(&self) -> usize {
        self.histories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histories.is_empty()
    }
}

/// The task the trainer runs.
pub struct RecommenderTask {
    pub recommender: Recommender,
    pub params: ParamStore,
    pub loss: NextItemLoss,
    pub train: TrainingHistories,
    pub evaluator: RankingEvaluator,
    pub batch_size: usize,
    pub num_items: usize,
    pub device: Device,
    /// The epoch whose order this holds (drawn once per epoch, not per step).
    epoch_order: Option<(u64, Vec<usize>)>,
}

impl RecommenderTask {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        recommender: Recommender,
        params: ParamStore,
        loss: NextItemLoss,
        train: TrainingHistories,
        evaluator: RankingEvaluator,
        batch_size: usize,
        num_items: usize,
        device: &Device,
    ) -> Self {
        Self {
            recommender,
            params,
            loss,
            train,
            evaluator,
            batch_size,
            num_items,
            device: device.clone(),
            epoch_order: None,
        }
    }

    pub fn batches_per_epoch(&self) -> u64 {
        self.train.len().div_ceil(self.batch_size).max(1) as u64
    }

    /// The histories of run step `step`: an epoch's seeded order, cut into batches.
    fn batch_histories(&mut self, seed: u64, step: u64) -> Vec<usize> {
        let per_epoch = self.batches_per_epoch();
        let epoch = step / per_epoch;
        if self.epoch_order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let order =
                SeededRng::derive(seed, "behaviour-batches", epoch).permutation(self.train.len());
            self.epoch_order = Some((epoch, order));
        }
        let order = &self.epoch_order.as_ref().expect("drawn above").1;
        let start = (step % per_epoch) as usize * self.batch_size;
        order[start..(start + self.batch_size).min(order.len())].to_vec()
    }

    fn next_item_loss(&mut self, ctx: &mut StepContext) -> Result<Losses> {
        // One phase: the step within it is the run step.
        let chosen = self.batch_histories(ctx.seed, ctx.step);
        let Recommender::Sequence { model, max_length } = &self.recommender else {
            return Err(crate::Error::Config(
                "the popularity baseline has nothing to train".into(),
            ));
        };
        let histories: Vec<&[u32]> = chosen
            .iter()
            .map(|&i| self.train.histories[i].as_slice())
            .collect();
        let batch = SequenceBatch::for_training(&histories, *max_length, &self.device)?;
        let outputs = model.forward_rows(&batch, &mut Mode::Train(ctx.rng))?;
        let loss = match self.loss {
            NextItemLoss::Bce => {
                let seen: Vec<&[u32]> = chosen
                    .iter()
                    .map(|&i| self.train.seen[i].as_slice())
                    .collect();
                let negatives = sample_negatives(ctx.rng, self.num_items, &seen, &batch.row_owner);
                sampled_bce(&outputs, model.item_vectors(), &batch.targets, &negatives)?
            }
            NextItemLoss::Softmax => {
                softmax_cross_entropy(&outputs, model.item_vectors(), &batch.targets)?
            }
        };
        Ok(Losses::single("loss", loss, &[MODEL_GROUP]))
    }
}

impl Task for RecommenderTask {
    type Update = NextItemUpdate;

    fn groups(&self) -> Vec<ParamGroup<'_>> {
        match self.recommender {
            Recommender::Sequence { .. } => vec![ParamGroup::Trained {
                name: MODEL_GROUP,
                params: &self.params,
            }],
            Recommender::Popularity(_) => Vec::new(),
        }
    }

    fn update(&mut self, _: NextItemUpdate, ctx: &mut StepContext) -> gan_core::Result<Losses> {
        Ok(self.next_item_loss(ctx)?)
    }

    fn evaluate(&mut self, _: &mut EvalContext) -> gan_core::Result<Evaluation> {
        Ok(self.evaluator.evaluate(&self.recommender, &self.device)?)
    }
}
