//! Classification scores exactly as the benchmarks define them (TweetEval's
//! `evaluation_script.py`, which calls scikit-learn): sentiment is scored by macro-averaged
//! recall, emotion by macro-averaged F1, irony by the F1 of the irony class, TREC by accuracy.
//! scikit-learn's conventions hold: a precision or recall whose denominator is zero counts as 0,
//! and so does the F1 of a class with zero precision and recall.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Counts of (gold class, predicted class) pairs: row = gold, column = predicted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// The matrix of `predicted` against `gold` over `classes` classes.
    pub fn new(gold: &[u32], predicted: &[u32], classes: usize) -> Result<Self> {
        if gold.len() != predicted.len() {
            return Err(Error::Shape(format!(
                "{} gold labels but {} predictions",
                gold.len(),
                predicted.len()
            )));
        }
        let mut counts = vec![0u64; classes * classes];
        for (&g, &p) in gold.iter().zip(predicted) {
            let (g, p) = (g as usize, p as usize);
            if g >= classes || p >= classes {
                return Err(Error::Shape(format!(
                    "class id {} outside the {classes} classes",
                    g.max(p)
                )));
            }
            counts[g * classes + p] += 1;
        }
        Ok(Self { classes, counts })
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Posts of gold class `gold` predicted as `predicted`.
    pub fn count(&self, gold: usize, predicted: usize) -> u64 {
        self.counts[gold * self.classes + predicted]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Posts whose gold class is `class`.
    pub fn support(&self, class: usize) -> u64 {
        (0..self.classes).map(|p| self.count(class, p)).sum()
    }

    fn predicted_as(&self, class: usize) -> u64 {
        (0..self.classes).map(|g| self.count(g, class)).sum()
    }

    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        ratio(correct, self.total())
    }

    pub fn precision(&self, class: usize) -> f64 {
        ratio(self.count(class, class), self.predicted_as(class))
    }

    pub fn recall(&self, class: usize) -> f64 {
        ratio(self.count(class, class), self.support(class))
    }

    pub fn f1(&self, class: usize) -> f64 {
        let (p, r) = (self.precision(class), self.recall(class));
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    pub fn macro_recall(&self) -> f64 {
        self.mean_over_classes(|c| self.recall(c))
    }

    pub fn macro_f1(&self) -> f64 {
        self.mean_over_classes(|c| self.f1(c))
    }

    /// F1 of each class weighted by its support (scikit-learn's `average="weighted"`, the
    /// score of the Constraint@AAAI-2021 fake-news task).
    pub fn weighted_f1(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        (0..self.classes)
            .map(|c| self.f1(c) * self.support(c) as f64)
            .sum::<f64>()
            / total as f64
    }

    fn mean_over_classes(&self, per_class: impl Fn(usize) -> f64) -> f64 {
        (0..self.classes).map(per_class).sum::<f64>() / self.classes as f64
    }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// The official score of a benchmark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Score {
    /// Macro-averaged recall (TweetEval sentiment).
    MacroRecall,
    /// Macro-averaged F1 (TweetEval emotion, hate, offensive, emoji).
    MacroF1,
    /// F1 of one class, named (TweetEval irony: `irony`).
    ClassF1(String),
    /// Accuracy (TREC question classification).
    Accuracy,
    /// Support-weighted F1 (Constraint@AAAI-2021 COVID-19 fake news).
    WeightedF1,
}

impl Score {
    /// TweetEval's score of one of its tasks (the folder or configuration name), accuracy for
    /// anything else.
    pub fn for_benchmark(name: &str) -> Self {
        match name {
            "sentiment" => Score::MacroRecall,
            "emotion" | "hate" | "offensive" | "emoji" => Score::MacroF1,
            "irony" => Score::ClassF1("irony".into()),
            _ => Score::Accuracy,
        }
    }

    /// Checks that the score applies to a task with these class names.
    pub fn validate(&self, class_names: &[String]) -> Result<()> {
        match self {
            Score::ClassF1(name) if !class_names.contains(name) => Err(Error::Config(format!(
                "score class_f1 names class `{name}`, not among the labels ({})",
                class_names.join(", ")
            ))),
            _ => Ok(()),
        }
    }

    /// The score of `matrix`, whose classes are named `class_names`.
    pub fn compute(&self, matrix: &ConfusionMatrix, class_names: &[String]) -> Result<f64> {
        self.validate(class_names)?;
        Ok(match self {
            Score::MacroRecall => matrix.macro_recall(),
            Score::MacroF1 => matrix.macro_f1(),
            Score::ClassF1(name) => {
                let class = class_names.iter().position(|n| n == name).unwrap_or(0);
                matrix.f1(class)
            }
            Score::Accuracy => matrix.accuracy(),
            Score::WeightedF1 => matrix.weighted_f1(),
        })
    }

    /// How the score reads in tables and reports.
    pub fn describe(&self) -> String {
        match self {
            Score::MacroRecall => "macro-averaged recall".into(),
            Score::MacroF1 => "macro-averaged F1".into(),
            Score::ClassF1(name) => format!("F1 of class `{name}`"),
            Score::Accuracy => "accuracy".into(),
            Score::WeightedF1 => "weighted F1".into(),
        }
    }
}

/// A per-class report: precision, recall, F1 and support of each class, then the averages.
pub fn report(matrix: &ConfusionMatrix, class_names: &[String]) -> String {
    let width = class_names
        .iter()
        .map(|n| n.len())
        .max()
        .unwrap_or(5)
        .max(12);
    let mut out = format!("{:>width$}  precision  recall      f1  support\n", "");
    for (c, name) in class_names.iter().enumerate() {
        out.push_str(&format!(
            "{name:>width$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}\n",
            matrix.precision(c),
            matrix.recall(c),
            matrix.f1(c),
            matrix.support(c)
        ));
    }
    out.push_str(&format!(
        "{:>width$}  {:>9}  {:>6.4}  {:>6.4}  {:>7}\n{:>width$}  {:>9}  {:>6}  {:>6.4}  {:>7}\n{:>width$}  {:>9}  {:>6}  {:>6.4}  {:>7}\n",
        "macro avg",
        "",
        matrix.macro_recall(),
        matrix.macro_f1(),
        matrix.total(),
        "weighted avg",
        "",
        "",
        matrix.weighted_f1(),
        matrix.total(),
        "accuracy",
        "",
        "",
        matrix.accuracy(),
        matrix.total()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TweetEval's test labels and the RoBERTa-Retrained reference predictions of its
    /// `predictions/` folder (copied into `tests/fixtures`, one digit per post), with the scores
    /// TweetEval's evaluation script gives them.
    fn fixture(task: &str) -> (Vec<u32>, Vec<u32>) {
        let text = include_str!("../tests/fixtures/tweeteval_reference_predictions.txt");
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{task} ")))
            .unwrap();
        let parts: Vec<&str> = line.split(' ').collect();
        let digits = |s: &str| s.bytes().map(|b| (b - b'0') as u32).collect::<Vec<_>>();
        (digits(parts[1]), digits(parts[2]))
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tweeteval_reference_predictions_score_as_published() {
        let (gold, pred) = fixture("sentiment");
        assert_eq!(gold.len(), 12_284);
        let m = ConfusionMatrix::new(&gold, &pred, 3).unwrap();
        let sentiment = names(&["negative", "neutral", "positive"]);
        let score = Score::for_benchmark("sentiment")
            .compute(&m, &sentiment)
            .unwrap();
        assert!((score - 0.728567).abs() < 5e-7, "{score}");
        assert!((m.macro_f1() - 0.723141).abs() < 5e-7, "{}", m.macro_f1());

        let (gold, pred) = fixture("emotion");
        let m = ConfusionMatrix::new(&gold, &pred, 4).unwrap();
        let emotion = names(&["anger", "joy", "optimism", "sadness"]);
        let score = Score::for_benchmark("emotion")
            .compute(&m, &emotion)
            .unwrap();
        assert!((score - 0.798272).abs() < 5e-7, "{score}");

        let (gold, pred) = fixture("irony");
        let m = ConfusionMatrix::new(&gold, &pred, 2).unwrap();
        let irony = names(&["non_irony", "irony"]);
        let score = Score::for_benchmark("irony").compute(&m, &irony).unwrap();
        assert!((score - 0.624776).abs() < 5e-7, "{score}");
    }

    #[test]
    fn weighted_f1_weighs_each_class_by_its_support() {
        // F1 0.8 (support 3), 0.5 (2), 2/3 (1): scikit-learn's f1_score(average="weighted").
        let m = ConfusionMatrix::new(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], 3).unwrap();
        let expected = (3.0 * 0.8 + 2.0 * 0.5 + 2.0 / 3.0) / 6.0;
        assert!((m.weighted_f1() - expected).abs() < 1e-12);
        let named = names(&["a", "b", "c"]);
        assert_eq!(
            Score::WeightedF1.compute(&m, &named).unwrap(),
            m.weighted_f1()
        );
        assert!(report(&m, &named).contains("weighted avg"));
    }

    #[test]
    fn empty_denominators_count_as_zero_like_scikit_learn() {
        // Class 2 is never predicted and never gold: precision, recall and F1 are 0.
        let m = ConfusionMatrix::new(&[0, 0, 1, 1], &[0, 1, 1, 1], 3).unwrap();
        assert_eq!(m.precision(2), 0.0);
        assert_eq!(m.f1(2), 0.0);
        assert!((m.macro_recall() - (0.5 + 1.0) / 3.0).abs() < 1e-12);
        assert!((m.accuracy() - 0.75).abs() < 1e-12);
        let err = ConfusionMatrix::new(&[0], &[3], 3).unwrap_err().to_string();
        assert!(err.contains("class id 3 outside the 3 classes"), "{err}");
        let err = ConfusionMatrix::new(&[0, 1], &[0], 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 gold labels but 1 predictions"), "{err}");
        let err = Score::ClassF1("irony".into()).validate(&names(&["a", "b"]));
        assert!(err.unwrap_err().to_string().contains("`irony`"));
    }
}
