//! Evaluation of a trained classifier: the per-class report and the official score on labelled
//! posts, and the confusion-matrix chart.

use std::path::{Path, PathBuf};

use candle_core::Device;
use gan_core::{Checkpoint, Pick};
use plotters::prelude::*;
use serde_json::json;
use socgan_data::labels::LabelledPosts;
use socgan_io::write_atomic;

use crate::experiment::data::format_of;
use crate::experiment::reliability_chart::{write_reliability_chart, RELIABILITY_CHART};
use crate::experiment::saved::SavedClassifier;
use crate::metrics::{report, ConfusionMatrix};
use crate::probabilities::{reliability, ReliabilityBin};
use crate::task::argmax;
use crate::{Error, Result};

/// The chart file written beside a run.
pub const CONFUSION_CHART: &str = "confusion_matrix.svg";
/// The chart `socgan eval` writes beside the run.
pub const EVAL_CONFUSION_CHART: &str = "eval_confusion_matrix.svg";
pub const REPORT_FILE: &str = "test_report.txt";

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
    let k = saved.map.num_classes();
    let probs = saved.probabilities(&posts.texts, device)?;
    let predicted: Vec<u32> = probs.chunks_exact(k).map(|r| argmax(r) as u32).collect();
    let matrix = ConfusionMatrix::new(&posts.labels, &predicted, k)?;
    let names = saved.map.names();
    let score = config.score();
    let value = score.compute(&matrix, names)?;
    let text = format!(
        "{}: {} posts; {} = {value:.4}\n{}",
        path.display(),
        posts.len(),
        score.describe(),
        report(&matrix, names)
    );
    Ok(EvalResult {
        json: json!({
            "data": path.display().to_string(),
            "posts": posts.len(),
            "score_name": score.describe(),
            "score": value,
            "accuracy": matrix.accuracy(),
            "macro_f1": matrix.macro_f1(),
            "macro_recall": matrix.macro_recall(),
            "weighted_f1": matrix.weighted_f1(),
        }),
        report: text,
        matrix,
        reliability: reliability(&probs, &posts.labels, k),
    })
}

/// After training: the selected checkpoint's test report and confusion matrix in the run
/// directory.
pub fn write_run_report(run_dir: &Path, device: &Device) -> Result<()> {
    let ckpt = Checkpoint::load_pick(run_dir, Pick::best_if_kept(run_dir), device)?;
    let saved = SavedClassifier::load(&ckpt, device, true)?;
    let result = evaluate(&saved, None, device)?;
    write_atomic(&run_dir.join(REPORT_FILE), result.report.as_bytes())?;
    let title = format!(
        "{} ({})",
        saved.config.method.name(),
        saved.config.encoder.name()
    );
    write_reliability_chart(
        &run_dir.join(RELIABILITY_CHART),
        &result.reliability,
        &title,
    )?;
    write_confusion_chart(
        &run_dir.join(CONFUSION_CHART),
        &result.matrix,
        saved.map.names(),
        &title,
    )
}

/// The confusion matrix as an SVG heat map: rows are gold classes, columns predictions, each
/// cell coloured by its share of the row (recall on the diagonal) and labelled with its count.
pub fn write_confusion_chart(
    path: &Path,
    matrix: &ConfusionMatrix,
    names: &[String],
    title: &str,
) -> Result<()> {
    let k = matrix.classes();
    let cell = (480 / k.max(1)).clamp(12, 90) as i32;
    let margin = 140;
    let size = (margin + cell * k as i32 + 20) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size, size + 40)).into_drawing_area();
        let draw = |e: DrawingAreaErrorKind<_>| Error::Config(format!("drawing the chart: {e}"));
        root.fill(&WHITE).map_err(draw)?;
        let font = ("sans-serif", 13).into_font();
        root.draw(&Text::new(
            format!("{title}: gold (rows) x predicted (columns)"),
            (10, 10),
            font.clone(),
        ))
        .map_err(draw)?;
        let top = margin - 40;
        for (gold, gold_name) in names.iter().enumerate().take(k) {
            let support = matrix.support(gold).max(1) as f64;
            for pred in 0..k {
                let count = matrix.count(gold, pred);
                let share = count as f64 / support;
                let shade = (255.0 * (1.0 - share)) as u8;
                let (x, y) = (margin + pred as i32 * cell, top + gold as i32 * cell);
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    RGBColor(shade, shade, 255).filled(),
                ))
                .map_err(draw)?;
                if cell >= 24 {
                    let color = if share > 0.5 { &WHITE } else { &BLACK };
                    root.draw(&Text::new(
                        count.to_string(),
                        (x + 4, y + cell / 2 - 6),
                        font.clone().color(color),
                    ))
                    .map_err(draw)?;
                }
            }
            root.draw(&Text::new(
                truncate(gold_name, 18),
                (6, top + gold as i32 * cell + cell / 2 - 6),
                font.clone(),
            ))
            .map_err(draw)?;
        }
        for (pred, name) in names.iter().enumerate() {
            root.draw(&Text::new(
                truncate(name, (cell / 7).max(3) as usize),
                (margin + pred as i32 * cell + 2, top - 18),
                font.clone(),
            ))
            .map_err(draw)?;
        }
        root.present().map_err(draw)?;
    }
    write_atomic(path, svg.as_bytes())?;
    Ok(())
}

fn truncate(name: &str, chars: usize) -> String {
    name.chars().take(chars).collect()
}
