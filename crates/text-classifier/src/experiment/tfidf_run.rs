//! A TF-IDF + logistic-regression run: fitted on the labelled posts of the run's fraction,
//! scored on the validation and test posts, written as a trained run is (config, results, test
//! report, confusion matrix) so that tables read it the same way. It keeps no checkpoint.

use gan_core::run_dir::{Invocation, RunFolder};
use gan_core::{Metrics, RunOutcome};

use crate::baseline::tfidf::TfidfLogistic;
use crate::experiment::config::ClassifierConfig;
use crate::experiment::data::RunPosts;
use crate::experiment::report::{score_posts, write_report_files};
use crate::metrics::ConfusionMatrix;
use crate::probabilities::{probability_metrics, threshold_metrics};
use crate::task::{argmax, metric_names};
use crate::Result;

pub fn run(
    config: &ClassifierConfig,
    posts: &RunPosts,
    folder: RunFolder,
    invocation: &Invocation,
) -> Result<RunOutcome> {
    let names = posts.map.names();
    let k = names.len();
    let model = TfidfLogistic::fit(
        &posts.labelled.texts,
        &posts.labelled.labels,
        k,
        &config.tfidf,
    )?;
    let score = config.score();
    let positive = config.positive_class_index(names)?;
    let mut metrics = Metrics::new();
    let mut positive_scores = Vec::new();
    for (split, set) in [
        ("val", posts.validation.as_ref()),
        ("test", Some(&posts.test)),
    ] {
        let Some(set) = set else { continue };
        let probs = model.probabilities(&set.texts)?;
        let predicted: Vec<u32> = probs.chunks_exact(k).map(|r| argmax(r) as u32).collect();
        let m = ConfusionMatrix::new(&set.labels, &predicted, k)?;
        metrics.insert(
            format!("{split}/{}", metric_names::SCORE),
            score.compute(&m, names)?,
        );
        metrics.insert(format!("{split}/{}", metric_names::ACCURACY), m.accuracy());
        metrics.insert(format!("{split}/{}", metric_names::MACRO_F1), m.macro_f1());
        metrics.insert(
            format!("{split}/{}", metric_names::MACRO_RECALL),
            m.macro_recall(),
        );
        metrics.insert(
            format!("{split}/{}", metric_names::WEIGHTED_F1),
            m.weighted_f1(),
        );
        let (extra, scores) = probability_metrics(&probs, &set.labels, k, positive);
        for (name, value) in extra {
            metrics.insert(format!("{split}/{name}"), value);
        }
        if let Some(scores) = scores {
            positive_scores.push((scores, set.labels.clone()));
        }
    }
    // Validation and test scores both there: the threshold chosen on validation, applied to test.
    if let [(val, val_labels), (test, test_labels)] = positive_scores.as_slice() {
        let (threshold, f1) = threshold_metrics((val, val_labels), (test, test_labels), positive)?;
        metrics.insert(format!("val/{}", metric_names::THRESHOLD), threshold);
        metrics.insert(
            format!("test/{}", metric_names::WEIGHTED_F1_AT_THRESHOLD),
            f1,
        );
    }
    let launch = folder.begin(config, Vec::new(), invocation)?;
    let test_probs = model.probabilities(&posts.test.texts)?;
    let result = score_posts(
        config,
        &config.data.test,
        &posts.test,
        posts.test_sources.as_deref(),
        &test_probs,
    )?;
    write_report_files(launch.dir(), &result, names, "tfidf_logistic")?;
    Ok(launch.finish_untrained(metrics)?)
}
