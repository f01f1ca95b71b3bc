//! Classifier-FID and classifier score of a generator, with the reference rows every figure is
//! printed beside, computed once per run from the same classifier and the same sample count:
//! - `fid_floor_real`: real training images (through the generator's pipeline: resized to its
//!   resolution and back) against the test images: the best a generator can hope for;
//! - `fid_ceiling_repeated`: one real image repeated (total mode collapse);
//! - `fid_ceiling_noise`: uniform noise images;
//! - `classifier_accuracy`: the classifier's accuracy on the test images;
//! - `precision_floor_real`, `recall_floor_real`: improved precision and recall of the real
//!   training images against the test images (what a perfect generator would reach).
//!
//! Every evaluation gives, against the test images (`test/`), the FID, the classifier score,
//! improved precision and recall ([`crate::precision_recall`]), the share of samples the
//! classifier labels with confidence above 0.9 and the effective number of classes among them;
//! and (`val/`) the FID against training images held out of the GAN's training (through the
//! generator's resolution, like the floor), which model selection and early stopping read, so
//! that the test images only ever report.

use candle_core::{Device, Tensor};
use gan_core::{Evaluation, Metrics, Mode, SeededRng};
use socgan_data::images::ImageSet;

use crate::classifier::{Classifier, FEATURE_DIM};
use crate::fid::{classifier_score, frechet_distance, FeatureStats};
use crate::nets::{Generator, PixelRange};
use crate::precision_recall::{confident_share, Manifold, K};
use crate::{Error, Result};

/// The metric names (logged under `test/`).
pub mod metric {
    pub const FID: &str = "classifier_fid";
    pub const SCORE: &str = "classifier_score";
    pub const FID_FLOOR: &str = "fid_floor_real";
    pub const FID_REPEATED: &str = "fid_ceiling_repeated";
    pub const FID_NOISE: &str = "fid_ceiling_noise";
    pub const ACCURACY: &str = "classifier_accuracy";
    pub const PRECISION: &str = "precision";
    pub const RECALL: &str = "recall";
    pub const PRECISION_FLOOR: &str = "precision_floor_real";
    pub const RECALL_FLOOR: &str = "recall_floor_real";
    pub const CONFIDENT: &str = "confident_share";
    pub const CONFIDENT_CLASSES: &str = "confident_classes";
}

/// The classifier confidence above which a sample counts as a recognisable digit.
pub const CONFIDENCE: f32 = 0.9;

/// Images generated per batch while evaluating.
const GENERATE_BATCH: usize = 250;

/// Scores generated images against the test images in the classifier's feature space.
pub struct FidEvaluator {
    classifier: Classifier,
    /// The test images' feature statistics (`test/` FID) and manifold (precision, recall).
    reference: FeatureStats,
    reference_manifold: Manifold,
    /// The held-out validation images' feature statistics (`val/` FID, for selection).
    validation_reference: FeatureStats,
    /// Images generated and compared per evaluation (the same in every row).
    pub samples: usize,
    /// The reference rows and the classifier's accuracy.
    pub references: Metrics,
}

impl FidEvaluator {
    /// `test` at the classifier's resolution; `train` (for the floor row) and `validation` at
    /// the generator's.
    pub fn new(
        classifier: Classifier,
        test: &ImageSet,
        train: &ImageSet,
        validation: &ImageSet,
        samples: usize,
        seed: u64,
    ) -> Result<Self> {
        if validation.len() < 2 {
            return Err(Error::Config(format!(
                "the validation FID needs at least 2 held-out training images, evaluation.validation_share left {}",
                validation.len()
            )));
        }
        if samples < 2 || samples > train.len() {
            return Err(Error::Config(format!(
                "FID over {samples} samples needs 2..={} training images",
                train.len()
            )));
        }
        let size = classifier.spec.size;
        let (features, _) = classifier.embed(test)?;
        let reference = FeatureStats::of(&features, FEATURE_DIM);
        let (validation_features, _) = classifier.embed(&validation.resized(size))?;
        let mut evaluator = Self {
            reference,
            reference_manifold: Manifold::new(features, FEATURE_DIM, K)?,
            validation_reference: FeatureStats::of(&validation_features, FEATURE_DIM),
            samples,
            references: Metrics::new(),
            classifier,
        };
        let mut rng = SeededRng::derive(seed, "fid-references", 0);
        let picked: Vec<usize> = rng.permutation(train.len())[..samples].to_vec();
        let floor = train.select(&picked).resized(size);
        let repeated = train.select(&vec![picked[0]; samples]).resized(size);
        let noise = ImageSet {
            pixels: rng.uniform_vec(samples * floor.image_len(), 0.0, 1.0),
            labels: None,
            ..floor.clone()
        };
        let accuracy = evaluator.classifier.accuracy(test)?;
        let (floor_features, _) = evaluator.classifier.embed(&floor)?;
        let (precision, recall) = evaluator
            .reference_manifold
            .precision_recall(&floor_features)?;
        evaluator.references = Metrics::from([
            (metric::PRECISION_FLOOR.to_string(), precision),
            (metric::RECALL_FLOOR.to_string(), recall),
            (metric::FID_FLOOR.to_string(), evaluator.fid(&floor)?),
            (metric::FID_REPEATED.to_string(), evaluator.fid(&repeated)?),
            (metric::FID_NOISE.to_string(), evaluator.fid(&noise)?),
            (metric::ACCURACY.to_string(), accuracy),
        ]);
        Ok(evaluator)
    }

    /// FID of images already at the classifier's resolution against the test images.
    fn fid(&self, images: &ImageSet) -> Result<f64> {
        let (features, _) = self.classifier.embed(images)?;
        Ok(frechet_distance(
            &FeatureStats::of(&features, FEATURE_DIM),
            &self.reference,
        ))
    }

    /// The scores of `images` (`[0, 1]`, any resolution): against the test images with the
    /// reference rows, and the FID against the training images as the validation metric.
    pub fn score(&self, images: &ImageSet) -> Result<Evaluation> {
        let resized = images.resized(self.classifier.spec.size);
        let (features, probs) = self.classifier.embed(&resized)?;
        let stats = FeatureStats::of(&features, FEATURE_DIM);
        let classes = self.classifier.spec.classes;
        let (precision, recall) = self.reference_manifold.precision_recall(&features)?;
        let (confident, confident_classes) = confident_share(&probs, classes, CONFIDENCE);
        let mut test = self.references.clone();
        test.extend([
            (
                metric::FID.to_string(),
                frechet_distance(&stats, &self.reference),
            ),
            (metric::SCORE.to_string(), classifier_score(&probs, classes)),
            (metric::PRECISION.to_string(), precision),
            (metric::RECALL.to_string(), recall),
            (metric::CONFIDENT.to_string(), confident),
            (metric::CONFIDENT_CLASSES.to_string(), confident_classes),
        ]);
        let validation = Metrics::from([(
            metric::FID.to_string(),
            frechet_distance(&stats, &self.validation_reference),
        )]);
        Ok(Evaluation { validation, test })
    }
}

/// `n` images from `generator` in evaluation mode, noise `N(0, 1)` from `rng`, as `[0, 1]` images.
pub fn generate(
    generator: &Generator,
    range: PixelRange,
    noise_dim: usize,
    n: usize,
    rng: &mut SeededRng,
    device: &Device,
) -> Result<ImageSet> {
    let mut pixels = Vec::new();
    let mut dims = (0, 0, 0);
    for start in (0..n).step_by(GENERATE_BATCH) {
        let rows = GENERATE_BATCH.min(n - start);
        let z = rng.normal((rows, noise_dim), 0.0, 1.0, device)?;
        pixels.extend(images_of(generator, range, &z, &mut dims)?);
    }
    Ok(ImageSet {
        channels: dims.0,
        height: dims.1,
        width: dims.2,
        pixels,
        labels: None,
        class_names: Vec::new(),
    })
}

/// The `[0, 1]` pixels of the generator's images of noise `z`; `dims` gets (C, H, W).
pub fn images_of(
    generator: &Generator,
    range: PixelRange,
    z: &Tensor,
    dims: &mut (usize, usize, usize),
) -> Result<Vec<f32>> {
    let images = range.to_unit(&generator.forward(z, &Mode::Eval)?)?;
    let (_, c, h, w) = images.dims4()?;
    *dims = (c, h, w);
    Ok(images.flatten_all()?.to_vec1::<f32>()?)
}
