//! Evaluation of a trained classifier: the per-class report and the official score on labelled
//! posts, the detection protocol's binary metrics and accuracy per source, as text and JSON.

use std::path::{Path, PathBuf};

use candle_core::Device;
use gan_core::{Checkpoint, Pick};
use serde_json::json;
use socgan_audit::roc::auc_interval;
use socgan_data::labels::LabelledPosts;
use socgan_io::write_atomic;

use crate::experiment::config::ClassifierConfig;
use crate::experiment::confusion_chart::write_confusion_chart;
use crate::experiment::data::format_of;
use crate::experiment::reliability_chart::{write_reliability_chart, RELIABILITY_CHART};
use crate::experiment::saved::SavedClassifier;
use crate::experiment::sources::{per_source, per_source_report, with_sources, Split};
use crate::metrics::{report, ConfusionMatrix};
use crate::probabilities::{
    average_precision, by_class, expected_calibration_error, positive_scores, reliability, roc_auc,
    ReliabilityBin,
};
use crate::task::argmax;
use crate::{Error, Result};

/// The chart file written beside a run.
pub const CONFUSION_CHART: &str = "confusion_matrix.svg";
/// The chart `socgan eval` writes beside the run.
pub const EVAL_CONFUSION_CHART: &str = "eval_confusion_matrix.svg";
pub const REPORT_FILE: &str = "test_report.txt";
/// The same report as JSON (what `socgan eval` prints for the run's test file).
pub const REPORT_JSON: &str = "test_report.json";

/// One evaluation: what was scored, the score, and the matrix.
pub struct EvalResult {
    pub json: serde_json::Value,
    pub report: String,
    pub matrix: ConfusionMatrix,
    /// The reliability diagram's bins.
    pub reliability: Vec<ReliabilityBin>,
}

/// Scores `saved` on the labelled posts of `path` (default: the run's test file).
pub fn evaluate(
    saved: &SavedClassifier,
    path: Option<&Path>,
    device: &Device,
) -> Result<EvalResult> {
    let config = &saved.config;
    let path: PathBuf = path.map_or_else(|| config.data.test.clone(), Path::to_path_buf);
    let posts = LabelledPosts::read(
        &path,
        &format_of(&config.data, &path),
        socgan_data::posts::ReadOptions {
            lossy: config.data.lossy,
        },
        &socgan_data::posts::Normalizer {
            // The saved classifier normalises its input itself.
            mentions: false,
            urls: false,
            lowercase: false,
            whitespace: false,
        },
        Some(&saved.map),
    )?;
    let positive = config.positive_class_index(saved.map.names())?;
    let (posts, sources) = with_sources(config, &path, posts, Split::Test, positive as u32)?;
    let probs = saved.probabilities(&posts.texts, device)?;
    score_posts(config, &path, &posts, sources.as_deref(), &probs)
}

/// The evaluation of class probabilities `probs` (`[N * k]`) of labelled `posts` read from
/// `path` (with their sources, if the run has a source column): the report, its JSON, the
/// matrix and the reliability bins.
pub fn score_posts(
    config: &ClassifierConfig,
    path: &Path,
    posts: &LabelledPosts,
    sources: Option<&[String]>,
    probs: &[f32],
) -> Result<EvalResult> {
    let names = posts.map.names();
    let k = names.len();
    let predicted: Vec<u32> = probs.chunks_exact(k).map(|r| argmax(r) as u32).collect();
    let matrix = ConfusionMatrix::new(&posts.labels, &predicted, k)?;
    let score = config.score();
    let value = score.compute(&matrix, names)?;
    let mut text = format!(
        "{}: {} posts; {} = {value:.4}\n{}",
        path.display(),
        posts.len(),
        score.describe(),
        report(&matrix, names)
    );
    let mut json = json!({
        "data": path.display().to_string(),
        "posts": posts.len(),
        "score_name": score.describe(),
        "score": value,
        "accuracy": matrix.accuracy(),
        "macro_f1": matrix.macro_f1(),
        "macro_recall": matrix.macro_recall(),
        "weighted_f1": matrix.weighted_f1(),
    });
    let bins = reliability(probs, &posts.labels, k);
    json["ece"] = expected_calibration_error(&bins).into();
    if k == 2 {
        let positive = config.positive_class_index(names)?;
        text += &binary_detection(
            probs,
            &posts.labels,
            positive,
            names,
            config.seed,
            &mut json,
        );
    }
    if let (Some(sources), Some(detection)) = (sources, &config.detection) {
        let (by_source, lines) =
            per_source_report(&per_source(sources, &posts.labels, &predicted), detection);
        json["per_source"] = by_source;
        text += &lines;
    }
    Ok(EvalResult {
        json,
        report: text,
        matrix,
        reliability: bins,
    })
}

/// A run's test evaluation beside it: the report (text and JSON) and both charts.
pub fn write_report_files(
    run_dir: &Path,
    result: &EvalResult,
    names: &[String],
    title: &str,
) -> Result<()> {
    write_atomic(&run_dir.join(REPORT_FILE), result.report.as_bytes())?;
    let json = serde_json::to_string_pretty(&result.json)
        .map_err(|e| Error::Config(format!("writing the report: {e}")))?;
    write_atomic(&run_dir.join(REPORT_JSON), json.as_bytes())?;
    write_reliability_chart(&run_dir.join(RELIABILITY_CHART), &result.reliability, title)?;
    write_confusion_chart(&run_dir.join(CONFUSION_CHART), &result.matrix, names, title)
}

/// ROC-AUC of the positive class with its bootstrap interval, and PR-AUC, added to `json`;
/// the report line.
fn binary_detection(
    probs: &[f32],
    labels: &[u32],
    positive: usize,
    names: &[String],
    seed: u64,
    json: &mut serde_json::Value,
) -> String {
    let scores = positive_scores(probs, 2, positive);
    let roc = roc_auc(&scores, labels, positive);
    let (hits, misses) = by_class(&scores, labels, positive);
    let (low, high) = auc_interval(&hits, &misses, seed).unwrap_or((f64::NAN, f64::NAN));
    let is_positive: Vec<bool> = labels.iter().map(|&l| l as usize == positive).collect();
    let pr = average_precision(&scores, &is_positive);
    json["positive_class"] = names[positive].clone().into();
    json["roc_auc"] = roc.into();
    json["roc_auc_low"] = low.into();
    json["roc_auc_high"] = high.into();
    json["pr_auc"] = pr.into();
    format!(
        "`{}` as positive: ROC-AUC {roc:.4} (95% bootstrap interval {low:.4}-{high:.4}), PR-AUC {pr:.4}\n",
        names[positive]
    )
}

/// After training: the selected checkpoint's test report and confusion matrix in the run
/// directory.
pub fn write_run_report(run_dir: &Path, device: &Device) -> Result<()> {
    let ckpt = Checkpoint::load_pick(run_dir, Pick::best_if_kept(run_dir), device)?;
    let saved = SavedClassifier::load(&ckpt, device, true)?;
    let result = evaluate(&saved, None, device)?;
    let title = format!(
        "{} ({})",
        saved.config.method.name(),
        saved.config.encoder.name()
    );
    write_report_files(run_dir, &result, saved.map.names(), &title)
}
