//! The classifier as a [`gan_core::Task`]: the semi-supervised GAN's adversarial update (the
//! discriminator's loss steps the encoder and discriminator, the generator's loss the
//! generator), or the labelled-only baseline's supervised update with the same encoder and head.
//! Evaluation scores validation and test posts with the benchmark's official score.

use candle_core::{Tensor, D};
use gan_core::{
    EvalContext, Evaluation, Losses, Metrics, Mode, ParamGroup, SeededRng, StepContext, Task,
    UpdateKind,
};

use crate::encoder::{EncodedTexts, Encoder};
use crate::metrics::{ConfusionMatrix, Score};
use crate::probabilities;
use crate::ssgan::{
    discriminator_adversarial_loss, generator_loss, supervised_loss, FeatureGenerator, Head,
    KPlusOneDiscriminator,
};
use crate::Result;

/// Parameter groups and optimizers, by name.
pub mod names {
    pub const ENCODER: &str = "encoder";
    pub const DISCRIMINATOR: &str = "discriminator";
    pub const GENERATOR: &str = "generator";
}

/// Metric names (under `val/` and `test/`).
pub mod metric_names {
    /// The benchmark's official score.
    pub const SCORE: &str = "score";
    pub const ACCURACY: &str = "accuracy";
    pub const MACRO_F1: &str = "macro_f1";
    pub const MACRO_RECALL: &str = "macro_recall";
    pub const WEIGHTED_F1: &str = "weighted_f1";
    /// Expected calibration error of the top class's probability (10 bins).
    pub const ECE: &str = "ece";
    /// Two classes: ROC-AUC and average precision of the positive class's probability.
    pub const ROC_AUC: &str = "roc_auc";
    pub const PR_AUC: &str = "pr_auc";
    /// Two classes with validation posts: the decision threshold chosen on them (`val/`) and
    /// the test posts' weighted F1 at it (`test/`).
    pub const THRESHOLD: &str = "threshold";
    pub const WEIGHTED_F1_AT_THRESHOLD: &str = "weighted_f1_at_threshold";
}

/// How a neural classifier learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The semi-supervised GAN with the given discriminator head.
    Gan { head: Head },
    /// The same encoder and head trained on the labelled posts only (cross-entropy).
    LabelledOnly,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Gan {
                head: Head::KPlusOne,
            } => "gan_bert",
            Method::Gan {
                head: Head::FixedFakeLogit,
            } => "gan_salimans",
            Method::LabelledOnly => "labelled_only",
        }
    }
}

/// The two kinds of update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassifierUpdate {
    Adversarial,
    Supervised,
}

impl UpdateKind for ClassifierUpdate {
    fn name(&self) -> &'static str {
        match self {
            ClassifierUpdate::Adversarial => "adversarial",
            ClassifierUpdate::Supervised => "supervised",
        }
    }
}

/// Training posts: every post encoded once, its label if it has one, and the rows of an epoch
/// (labelled rows repeated so every batch carries some; unlabelled ones for the GAN only).
pub struct TrainingPosts {
    pub inputs: EncodedTexts,
    pub labels: Vec<Option<u32>>,
    pub epoch_rows: Vec<usize>,
}

impl TrainingPosts {
    /// GAN-BERT's repetition of the labelled rows: `max(1, int(log2(1 / fraction)))` times.
    pub fn label_repeats(labelled_fraction: f64) -> usize {
        ((1.0 / labelled_fraction).log2().floor() as usize).max(1)
    }

    /// The rows of an epoch: labelled ones `repeats` times, unlabelled ones once if
    /// `with_unlabelled`.
    pub fn new(
        inputs: EncodedTexts,
        labels: Vec<Option<u32>>,
        repeats: usize,
        with_unlabelled: bool,
    ) -> Self {
        let mut epoch_rows = Vec::new();
        for (i, label) in labels.iter().enumerate() {
            match label {
                Some(_) => epoch_rows.extend(std::iter::repeat_n(i, repeats)),
                None if with_unlabelled => epoch_rows.push(i),
                None => {}
            }
        }
        Self {
            inputs,
            labels,
            epoch_rows,
        }
    }
}

/// Posts with gold labels (validation or test).
pub struct LabelledInputs {
    pub inputs: EncodedTexts,
    pub labels: Vec<u32>,
}

/// The classifier's networks.
pub struct ClassifierNets {
    pub encoder: Encoder,
    pub discriminator: KPlusOneDiscriminator,
    /// Present for the GAN methods.
    pub generator: Option<FeatureGenerator>,
}

/// Rows per batch when predicting.
const PREDICT_BATCH: usize = 256;

impl ClassifierNets {
    /// Class probabilities (softmax over the `K` class logits) of every post, `[N * K]`.
    pub fn probabilities(&self, inputs: &EncodedTexts) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(inputs.len() * self.discriminator.classes());
        let rows: Vec<usize> = (0..inputs.len()).collect();
        let encoder = self.encoder.for_inference()?;
        for chunk in rows.chunks(PREDICT_BATCH) {
            let x = encoder.forward(&inputs.rows(chunk)?)?.detach();
            let out_d = self.discriminator.forward(&x, &mut Mode::Eval)?;
            let p = candle_nn::ops::softmax(&out_d.class_logits, D::Minus1)?;
            out.extend(p.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// The most probable class of every post.
    pub fn predict(&self, inputs: &EncodedTexts) -> Result<Vec<u32>> {
        let k = self.discriminator.classes();
        Ok(self
            .probabilities(inputs)?
            .chunks_exact(k)
            .map(|row| argmax(row) as u32)
            .collect())
    }
}

pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// The task the trainer runs.
pub struct ClassifierTask {
    pub nets: ClassifierNets,
    pub train: TrainingPosts,
    /// `None`: no validation posts (a fixed number of epochs, no selection).
    pub validation: Option<LabelledInputs>,
    pub test: LabelledInputs,
    pub batch_size: usize,
    pub score: Score,
    pub class_names: Vec<String>,
    /// The class detection metrics treat as positive (two-class runs).
    pub positive: usize,
    /// The epoch whose order `epoch_order` holds (drawn once per epoch, not per step).
    pub epoch_order: Option<(u64, Vec<usize>)>,
}

impl ClassifierTask {
    pub fn batches_per_epoch(&self) -> u64 {
        self.train.epoch_rows.len().div_ceil(self.batch_size).max(1) as u64
    }

    /// The training rows of run step `step`: an epoch's seeded order, cut into batches.
    fn batch_rows(&mut self, seed: u64, step: u64) -> Vec<usize> {
        let per_epoch = self.batches_per_epoch();
        let epoch = step / per_epoch;
        if self.epoch_order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let order = SeededRng::derive(seed, "classifier-batches", epoch)
                .permutation(self.train.epoch_rows.len());
            self.epoch_order = Some((epoch, order));
        }
        let order = &self.epoch_order.as_ref().expect("drawn above").1;
        let start = (step % per_epoch) as usize * self.batch_size;
        let end = (start + self.batch_size).min(order.len());
        order[start..end]
            .iter()
            .map(|&i| self.train.epoch_rows[i])
            .collect()
    }

    /// The metrics of `set`, and the positive class's probability of each post (two classes).
    fn scores(&self, set: &LabelledInputs) -> Result<(Metrics, Option<Vec<f64>>)> {
        let k = self.class_names.len();
        let probs = self.nets.probabilities(&set.inputs)?;
        let predicted: Vec<u32> = probs.chunks_exact(k).map(|r| argmax(r) as u32).collect();
        let m = ConfusionMatrix::new(&set.labels, &predicted, k)?;
        let mut metrics = self.label_scores(&m)?;
        let (extra, scores) =
            probabilities::probability_metrics(&probs, &set.labels, k, self.positive);
        metrics.extend(extra);
        Ok((metrics, scores))
    }

    fn label_scores(&self, m: &ConfusionMatrix) -> Result<Metrics> {
        Ok(Metrics::from([
            (
                metric_names::SCORE.into(),
                self.score.compute(m, &self.class_names)?,
            ),
            (metric_names::ACCURACY.into(), m.accuracy()),
            (metric_names::MACRO_F1.into(), m.macro_f1()),
            (metric_names::MACRO_RECALL.into(), m.macro_recall()),
            (metric_names::WEIGHTED_F1.into(), m.weighted_f1()),
        ]))
    }

    fn adversarial(
        &mut self,
        rows: &[usize],
        labels: &[Option<u32>],
        ctx: &mut StepContext,
    ) -> Result<Losses> {
        let generator = self.nets.generator.as_ref().ok_or_else(|| {
            crate::Error::Config("an adversarial update needs the generator".into())
        })?;
        let real = self
            .nets
            .encoder
            .forward(&self.train.inputs.rows(rows)?, &mut Mode::Train(ctx.rng))?;
        let r = self
            .nets
            .discriminator
            .forward(&real, &mut Mode::Train(ctx.rng))?;
        let fake = generator.generate(rows.len(), ctx.rng)?;
        let f = self
            .nets
            .discriminator
            .forward(&fake, &mut Mode::Train(ctx.rng))?;
        let supervised = supervised_loss(&r.class_logits, labels)?;
        let unsupervised = discriminator_adversarial_loss(&r.all_logits, &f.all_logits)?;
        let d_loss = (&supervised + &unsupervised)?;
        // The real posts' features are a constant for G: detached, G's backward pass does not run
        // through the encoder (a whole BERT when fine-tuning).
        let g_loss = generator_loss(&f.all_logits, &r.hidden.detach(), &f.hidden)?;
        let mut d_optimizers = vec![names::DISCRIMINATOR];
        if self.nets.encoder.params().is_some() {
            d_optimizers.push(names::ENCODER);
        }
        // The generator's loss first: the trainer steps each optimizer (in place) right after
        // its loss's backward pass, and the generator's gradient runs back through D's
        // weights, which D's step would already have moved; D's gradient reads G's outputs,
        // not G's weights, so it is exact in this order.
        Ok(Losses::default()
            .loss("g_loss", g_loss, &[names::GENERATOR])
            .loss("d_loss", d_loss, &d_optimizers)
            .with("d_supervised", supervised.to_scalar::<f32>()? as f64))
    }

    fn supervised(
        &mut self,
        rows: &[usize],
        labels: &[Option<u32>],
        ctx: &mut StepContext,
    ) -> Result<Losses> {
        let real = self
            .nets
            .encoder
            .forward(&self.train.inputs.rows(rows)?, &mut Mode::Train(ctx.rng))?;
        let r = self
            .nets
            .discriminator
            .forward(&real, &mut Mode::Train(ctx.rng))?;
        let loss = supervised_loss(&r.class_logits, labels)?;
        let mut optimizers = vec![names::DISCRIMINATOR];
        if self.nets.encoder.params().is_some() {
            optimizers.push(names::ENCODER);
        }
        Ok(Losses::single("loss", loss, &optimizers))
    }
}

impl Task for ClassifierTask {
    type Update = ClassifierUpdate;

    fn groups(&self) -> Vec<ParamGroup<'_>> {
        let mut groups = vec![ParamGroup::Trained {
            name: names::DISCRIMINATOR,
            params: self.nets.discriminator.params(),
        }];
        if let Some(params) = self.nets.encoder.params() {
            groups.push(ParamGroup::Trained {
                name: names::ENCODER,
                params,
            });
        }
        if let Some(g) = &self.nets.generator {
            groups.push(ParamGroup::Trained {
                name: names::GENERATOR,
                params: g.params(),
            });
        }
        groups
    }

    fn update(
        &mut self,
        update: ClassifierUpdate,
        ctx: &mut StepContext,
    ) -> gan_core::Result<Losses> {
        let rows = self.batch_rows(ctx.seed, ctx.step);
        let labels: Vec<Option<u32>> = rows.iter().map(|&i| self.train.labels[i]).collect();
        let losses = match update {
            ClassifierUpdate::Adversarial => self.adversarial(&rows, &labels, ctx)?,
            ClassifierUpdate::Supervised => self.supervised(&rows, &labels, ctx)?,
        };
        Ok(losses)
    }

    fn evaluate(&mut self, _: &mut EvalContext) -> gan_core::Result<Evaluation> {
        let (mut validation, val_scores) = match &self.validation {
            Some(v) => self.scores(v)?,
            None => (Metrics::new(), None),
        };
        let (mut test, test_scores) = self.scores(&self.test)?;
        if let (Some(v), Some(val_scores), Some(test_scores)) =
            (&self.validation, val_scores, test_scores)
        {
            let (threshold, f1) = probabilities::threshold_metrics(
                (&val_scores, &v.labels),
                (&test_scores, &self.test.labels),
                self.positive,
            )?;
            validation.insert(metric_names::THRESHOLD.into(), threshold);
            test.insert(metric_names::WEIGHTED_F1_AT_THRESHOLD.into(), f1);
        }
        Ok(Evaluation { validation, test })
    }
}

/// Stacks rows of `f32` vectors into an `[N, dim]` tensor.
pub fn vectors_tensor(
    vectors: Vec<f32>,
    dim: usize,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let n = vectors.len() / dim.max(1);
    Ok(Tensor::from_vec(vectors, (n, dim), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_rows_repeat_as_gan_bert_does() {
        assert_eq!(TrainingPosts::label_repeats(0.01), 6);
        assert_eq!(TrainingPosts::label_repeats(0.1), 3);
        assert_eq!(TrainingPosts::label_repeats(0.5), 1);
        assert_eq!(TrainingPosts::label_repeats(1.0), 1);
        let t = Tensor::zeros((3, 2), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
        let posts = TrainingPosts::new(
            EncodedTexts::Vectors(t.clone()),
            vec![Some(1), None, Some(0)],
            2,
            true,
        );
        assert_eq!(posts.epoch_rows, vec![0, 0, 1, 2, 2]);
        let only = TrainingPosts::new(
            EncodedTexts::Vectors(t),
            vec![Some(1), None, Some(0)],
            1,
            false,
        );
        assert_eq!(only.epoch_rows, vec![0, 2]);
    }
}
