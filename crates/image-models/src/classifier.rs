//! The classifier behind classifier-FID and the classifier score: a small CNN socgan trains on the
//! GAN's own training images (through the same trainer as everything else, keeping the best
//! checkpoint by validation accuracy) and ships with the run.
//!
//! `conv 5x5 (32) - ReLU - max-pool 2 - conv 5x5 (64) - ReLU - max-pool 2 - dense 128 - ReLU -
//! dense K`. The features of FID are the 128 activations after the first dense layer's ReLU.

use std::path::Path;

use candle_core::{Device, Tensor, D};
use gan_core::{
    AdamConfig, Checkpoint, EvalContext, Evaluation, Goal, Init, Losses, Metrics, Mode,
    OptimizerSpec, ParamGroup, ParamStore, PhaseSpec, Pick, RunOptions, SeededRng, Selection,
    StepContext, Task, Trainer, TrainerConfig, UpdateKind,
};
use serde::{Deserialize, Serialize};
use socgan_data::images::ImageSet;

use crate::layers::Dense;
use crate::{Error, Result};

/// Width of the feature layer FID is computed in.
pub const FEATURE_DIM: usize = 128;
/// The parameter group of the classifier in its checkpoints.
const GROUP: &str = "classifier";
/// Images per evaluation batch.
const BATCH: usize = 256;

/// What a trained classifier was built for; saved beside its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierSpec {
    pub channels: usize,
    pub size: usize,
    pub classes: usize,
    /// Accuracy on the GAN's test images, printed beside every FID.
    pub test_accuracy: f64,
}

/// A convolution with bias, PyTorch's default initialisation.
struct BiasedConv {
    weight: Tensor,
    bias: Tensor,
}

impl BiasedConv {
    fn new(
        params: &mut ParamStore,
        name: &str,
        cin: usize,
        cout: usize,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let bound = 1.0 / ((cin * 25) as f32).sqrt();
        let init = Init::Uniform {
            low: -bound,
            high: bound,
        };
        Ok(Self {
            weight: params.create(&format!("{name}.weight"), (cout, cin, 5, 5), init, rng)?,
            bias: params.create(&format!("{name}.bias"), cout, init, rng)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = socgan_nn::conv2d(x, &self.weight, 1, 2)?;
        Ok(y.broadcast_add(&self.bias.reshape((1, (), 1, 1))?)?)
    }
}

/// The CNN.
pub struct Classifier {
    params: ParamStore,
    conv1: BiasedConv,
    conv2: BiasedConv,
    fc1: Dense,
    fc2: Dense,
    pub spec: ClassifierSpec,
}

impl Classifier {
    /// A fresh classifier for `channels x size x size` images (side divisible by 4) and `classes`.
    pub fn new(spec: ClassifierSpec, device: &Device, rng: &mut SeededRng) -> Result<Self> {
        if !spec.size.is_multiple_of(4) {
            return Err(Error::Config(format!(
                "the classifier reads images of a side divisible by 4, not {}",
                spec.size
            )));
        }
        let mut params = ParamStore::new(device);
        let flat = 64 * (spec.size / 4) * (spec.size / 4);
        Ok(Self {
            conv1: BiasedConv::new(&mut params, "conv1", spec.channels, 32, rng)?,
            conv2: BiasedConv::new(&mut params, "conv2", 32, 64, rng)?,
            fc1: Dense::new(&mut params, "fc1", flat, FEATURE_DIM, false, rng)?,
            fc2: Dense::new(&mut params, "fc2", FEATURE_DIM, spec.classes, false, rng)?,
            params,
            spec,
        })
    }

    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// Features `[B, 128]` and logits `[B, K]` of `[0, 1]` images `[B, C, S, S]`.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let mode = Mode::Eval;
        let h = self.conv1.forward(x)?.relu()?.max_pool2d(2)?;
        let h = self.conv2.forward(&h)?.relu()?.max_pool2d(2)?;
        let features = self.fc1.forward(&h.flatten_from(1)?, &mode)?.relu()?;
        let logits = self.fc2.forward(&features, &mode)?;
        Ok((features, logits))
    }

    /// Features and class probabilities of every image of `images` (in batches), as flat rows.
    pub fn embed(&self, images: &ImageSet) -> Result<(Vec<f32>, Vec<f32>)> {
        self.check(images)?;
        let mut features = Vec::with_capacity(images.len() * FEATURE_DIM);
        let mut probs = Vec::with_capacity(images.len() * self.spec.classes);
        for start in (0..images.len()).step_by(BATCH) {
            let end = (start + BATCH).min(images.len());
            let x = batch_tensor(images, start..end, self.params.device())?;
            let (f, logits) = self.forward(&x)?;
            features.extend(f.flatten_all()?.to_vec1::<f32>()?);
            let p = candle_nn::ops::softmax(&logits, D::Minus1)?;
            probs.extend(p.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok((features, probs))
    }

    fn check(&self, images: &ImageSet) -> Result<()> {
        let s = &self.spec;
        if (images.channels, images.height, images.width) != (s.channels, s.size, s.size) {
            return Err(Error::Shape(format!(
                "the classifier reads {}x{}x{} images, got {}x{}x{}",
                s.channels, s.size, s.size, images.channels, images.height, images.width
            )));
        }
        Ok(())
    }

    /// Fraction of `images` classified as their labels.
    pub fn accuracy(&self, images: &ImageSet) -> Result<f64> {
        let labels = images
            .labels
            .as_ref()
            .ok_or_else(|| Error::Config("accuracy needs labelled images".into()))?;
        let (_, probs) = self.embed(images)?;
        let k = self.spec.classes;
        let correct = probs
            .chunks_exact(k)
            .zip(labels)
            .filter(|(row, &l)| argmax(row) == l as usize)
            .count();
        Ok(correct as f64 / labels.len().max(1) as f64)
    }

    /// Whether `run_dir` holds a trained classifier (a classifier training that was killed
    /// before its first evaluation holds none, and is trained again).
    pub fn exists(run_dir: &Path) -> bool {
        // A classifier whose training was stopped part way (Ctrl-C) is not one to score with.
        let finished = std::fs::read_to_string(run_dir.join(gan_core::trainer::RESULTS_FILE))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|results| results["completed"] == true);
        finished && gan_core::checkpoint::resolve_pick(run_dir, Pick::Best).is_ok()
    }

    /// Loads a classifier saved by [`train_classifier`] (its best checkpoint).
    pub fn load(run_dir: &Path, device: &Device) -> Result<Self> {
        let ckpt = Checkpoint::load_pick(run_dir, Pick::Best, device)?;
        let spec: ClassifierSpec =
            serde_json::from_str(&ckpt.read_extra(SPEC_FILE)?).map_err(|e| Error::File {
                path: ckpt.dir.join(SPEC_FILE),
                message: format!("not a classifier description: {e}"),
            })?;
        let classifier = Self::new(spec, device, &mut SeededRng::new(0))?;
        classifier
            .params
            .load_with_prefix(&ckpt.tensors, &format!("{GROUP}."), &ckpt.dir)?;
        Ok(classifier)
    }
}

const SPEC_FILE: &str = "classifier.json";

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// The images `range` of `set` as a `[B, C, H, W]` tensor.
pub fn batch_tensor(
    set: &ImageSet,
    range: std::ops::Range<usize>,
    device: &Device,
) -> Result<Tensor> {
    let n = range.len();
    let data = set.pixels[range.start * set.image_len()..range.end * set.image_len()].to_vec();
    Ok(Tensor::from_vec(
        data,
        (n, set.channels, set.height, set.width),
        device,
    )?)
}

#[derive(Clone, Copy, Debug)]
struct TrainStep;

impl UpdateKind for TrainStep {
    fn name(&self) -> &'static str {
        "classifier"
    }
}

/// Supervised training of the classifier.
struct ClassifierTask<'a> {
    classifier: Classifier,
    train: &'a ImageSet,
    val: &'a ImageSet,
    test: &'a ImageSet,
    batch: usize,
}

impl ClassifierTask<'_> {
    fn batches_per_epoch(&self) -> u64 {
        (self.train.len() / self.batch).max(1) as u64
    }
}

impl Task for ClassifierTask<'_> {
    type Update = TrainStep;

    fn groups(&self) -> Vec<ParamGroup<'_>> {
        vec![ParamGroup::Trained {
            name: GROUP,
            params: &self.classifier.params,
        }]
    }

    fn update(&mut self, _: TrainStep, ctx: &mut StepContext) -> gan_core::Result<Losses> {
        let per_epoch = self.batches_per_epoch();
        let order = SeededRng::derive(ctx.seed, "classifier-batches", ctx.step / per_epoch)
            .permutation(self.train.len());
        let start = (ctx.step % per_epoch) as usize * self.batch;
        let picked = &order[start..(start + self.batch).min(order.len())];
        let batch = self.train.select(picked);
        let device = self.classifier.params.device().clone();
        let x = batch_tensor(&batch, 0..batch.len(), &device)?;
        let labels = batch.labels.clone().unwrap_or_default();
        let y = Tensor::new(labels.as_slice(), &device)?;
        let (_, logits) = self.classifier.forward(&x)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        Ok(Losses::single("loss", loss, &[GROUP]))
    }

    fn evaluate(&mut self, _: &mut EvalContext) -> gan_core::Result<Evaluation> {
        let accuracy = |set: &ImageSet| -> Result<Metrics> {
            Ok(Metrics::from([(
                "accuracy".into(),
                self.classifier.accuracy(set)?,
            )]))
        };
        Ok(Evaluation {
            validation: accuracy(self.val)?,
            test: accuracy(self.test)?,
        })
    }
}

/// Trains the classifier on `train` (a tenth held out for model selection) for `epochs`, into
/// `run_dir`; returns it, best by validation accuracy, with its test accuracy on `test`.
pub fn train_classifier(
    train: &ImageSet,
    test: &ImageSet,
    epochs: u64,
    seed: u64,
    run_dir: &Path,
    quiet: bool,
    device: &Device,
) -> Result<Classifier> {
    let classes = train.class_names.len();
    if train.labels.is_none() || classes < 2 {
        return Err(Error::Config(
            "classifier-FID needs labelled images of at least two classes".into(),
        ));
    }
    let (fit, val) = train.split(0.9, seed)?;
    let spec = ClassifierSpec {
        channels: train.channels,
        size: train.height,
        classes,
        test_accuracy: 0.0,
    };
    let classifier = Classifier::new(
        spec.clone(),
        device,
        &mut SeededRng::derive(seed, "classifier-init", 0),
    )?;
    let mut task = ClassifierTask {
        classifier,
        train: &fit,
        val: &val,
        test,
        batch: 64,
    };
    let per_epoch = task.batches_per_epoch();
    let config = TrainerConfig {
        phases: vec![PhaseSpec {
            name: "classifier".into(),
            steps: epochs.saturating_mul(per_epoch),
            round: vec![(TrainStep, 1)],
            eval_every: per_epoch,
            checkpoint_every: 0,
        }],
        optimizers: vec![OptimizerSpec::new(
            GROUP,
            GROUP,
            AdamConfig {
                lr: 1e-3,
                beta1: 0.9,
                ..Default::default()
            },
        )],
        selection: Some(Selection {
            metric: "val/accuracy".into(),
            goal: Goal::Max,
            patience: None,
        }),
        ..TrainerConfig::new(seed)
    };
    let spec_json = serde_json::to_string_pretty(&spec)
        .map_err(|e| Error::Config(format!("classifier description as JSON: {e}")))?;
    let options = RunOptions {
        quiet,
        task: "image_classifier".into(),
        checkpoint_files: vec![(SPEC_FILE.into(), spec_json)],
        provenance: gan_core::Provenance::current(device),
        ..Default::default()
    };
    let outcome = Trainer::new(config, run_dir, options)?.run(&mut task)?;
    if !outcome.completed {
        return Err(Error::File {
            path: run_dir.to_path_buf(),
            message: "stopped before the FID classifier finished training; run the command again to train it".into(),
        });
    }
    // The best checkpoint, and its test accuracy recorded beside it for every later reader.
    let mut best = Classifier::load(run_dir, device)?;
    best.spec.test_accuracy = best.accuracy(test)?;
    let best_dir = gan_core::checkpoint::resolve_pick(run_dir, Pick::Best)?;
    let text = serde_json::to_string_pretty(&best.spec)
        .map_err(|e| Error::Config(format!("classifier description as JSON: {e}")))?;
    socgan_io::write_atomic(&best_dir.join(SPEC_FILE), text.as_bytes())?;
    Ok(best)
}

/// Cross-checks a loaded classifier against the images it is asked to score.
pub fn check_compatible(classifier: &Classifier, images: &ImageSet) -> Result<()> {
    classifier.check(images)?;
    if images.class_names.len() != classifier.spec.classes {
        return Err(Error::Config(format!(
            "the classifier knows {} classes, the data has {}",
            classifier.spec.classes,
            images.class_names.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gan_core::gradient_flow::check_gradient_flow;

    /// Two classes told apart by which half of the image is bright.
    pub(crate) fn halves(n: usize, size: usize, seed: u64) -> ImageSet {
        let mut rng = SeededRng::new(seed);
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let class = (i % 2) as u32;
            for y in 0..size {
                for _ in 0..size {
                    let bright = (y < size / 2) == (class == 0);
                    let base = if bright { 0.8 } else { 0.1 };
                    pixels.push((base + 0.1 * rng.uniform_f32()).min(1.0));
                }
            }
            labels.push(class);
        }
        ImageSet {
            channels: 1,
            height: size,
            width: size,
            pixels,
            labels: Some(labels),
            class_names: vec!["top".into(), "bottom".into()],
        }
    }

    #[test]
    fn every_weight_gets_a_gradient() {
        let images = halves(4, 8, 0);
        let spec = ClassifierSpec {
            channels: 1,
            size: 8,
            classes: 2,
            test_accuracy: 0.0,
        };
        let c = Classifier::new(spec, &Device::Cpu, &mut SeededRng::new(0)).unwrap();
        let x = batch_tensor(&images, 0..4, &Device::Cpu).unwrap();
        let (f, logits) = c.forward(&x).unwrap();
        assert_eq!(f.dims(), &[4, FEATURE_DIM]);
        let y = Tensor::new(&[0u32, 1, 0, 1], &Device::Cpu).unwrap();
        let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
        check_gradient_flow(&loss, c.params()).unwrap();
    }

    #[test]
    fn trains_to_tell_the_classes_apart_and_reloads_its_best_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let train = halves(200, 8, 1);
        let test = halves(40, 8, 2);
        let c = train_classifier(&train, &test, 2, 0, dir.path(), true, &Device::Cpu).unwrap();
        assert!(c.spec.test_accuracy > 0.95, "{}", c.spec.test_accuracy);
        let again = Classifier::load(dir.path(), &Device::Cpu).unwrap();
        assert_eq!(again.spec, c.spec);
        assert_eq!(again.embed(&test).unwrap(), c.embed(&test).unwrap());
        let wrong = halves(2, 12, 3);
        assert!(again.embed(&wrong).unwrap_err().to_string().contains("8x8"));
    }
}
