//! What an audit reports: its settings, the sizes of the three sets and every measure by name
//! (JSON, and a short text for people), and the `--fail-on` rules a pipeline checks them with.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use serde::Serialize;

use crate::{Error, Result};

/// The audit of one synthetic set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditReport {
    /// `text` or `items`.
    pub kind: String,
    pub training_records: usize,
    pub synthetic_records: usize,
    pub holdout_records: usize,
    /// Training records drawn (seeded) for the DCR comparison: as many as held-out ones.
    pub dcr_training_sample: usize,
    /// Jaccard similarity from which a record is a near duplicate.
    pub near_duplicate_threshold: f64,
    /// Every measure, by the name `--fail-on` uses.
    pub measures: BTreeMap<String, f64>,
}

/// A `--fail-on` rule: `KEY>VALUE` or `KEY<VALUE`.
#[derive(Clone, Debug, PartialEq)]
pub struct FailRule {
    pub key: String,
    pub above: bool,
    pub value: f64,
}

impl FromStr for FailRule {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (at, above) = match (s.find('>'), s.find('<')) {
            (Some(i), None) => (i, true),
            (None, Some(i)) => (i, false),
            _ => {
                return Err(format!(
                    "`{s}` is not a rule: expected KEY>VALUE or KEY<VALUE"
                ))
            }
        };
        let (key, value) = (s[..at].trim(), s[at + 1..].trim());
        let value = value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("`{s}`: `{value}` is not a number"))?;
        if key.is_empty() {
            return Err(format!("`{s}`: no measure named"));
        }
        Ok(Self {
            key: key.to_string(),
            above,
            value,
        })
    }
}

impl FailRule {
    /// The rule as written.
    pub fn describe(&self) -> String {
        format!(
            "{}{}{}",
            self.key,
            if self.above { ">" } else { "<" },
            self.value
        )
    }
}

impl AuditReport {
    /// The rules that `self` breaks, or an error naming a rule's unknown measure.
    pub fn broken(&self, rules: &[FailRule]) -> Result<Vec<String>> {
        let mut broken = Vec::new();
        for rule in rules {
            let Some(&value) = self.measures.get(&rule.key) else {
                let known: Vec<&str> = self.measures.keys().map(String::as_str).collect();
                return Err(Error::Invalid(format!(
                    "--fail-on {}: no measure `{}` (known: {})",
                    rule.describe(),
                    rule.key,
                    known.join(", ")
                )));
            };
            if (rule.above && value > rule.value) || (!rule.above && value < rule.value) {
                broken.push(format!("{} (measured {value:.4})", rule.describe()));
            }
        }
        Ok(broken)
    }

    /// A short report for people: what was compared, copying, privacy, novelty, fidelity.
    pub fn text(&self) -> String {
        let m = |k: &str| self.measures.get(k).copied().unwrap_or(f64::NAN);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Synthetic-data audit ({})\n\n{} synthetic records against {} training and {} held-out records (DCR: {} training records drawn to match).\n",
            self.kind, self.synthetic_records, self.training_records, self.holdout_records, self.dcr_training_sample
        );
        let _ = writeln!(
            out,
            "- exact copies of training records: {:.0} ({:.2}%)",
            m("exact_copies"),
            100.0 * m("exact_copy_share")
        );
        let _ = writeln!(
            out,
            "- near duplicates (1-2-gram Jaccard similarity >= {}): {:.0} ({:.2}%)",
            self.near_duplicate_threshold,
            m("near_duplicates"),
            100.0 * m("near_duplicate_share")
        );
        let _ = writeln!(
            out,
            "- closer to a training record than to any held-out one: {:.3} (95% interval {:.3}-{:.3}; 0.5: no sign of copying, 1: memorisation); SDMetrics DCR overfitting protection {:.3}",
            m("dcr_closer_to_training"),
            m("dcr_closer_to_training_low"),
            m("dcr_closer_to_training_high"),
            m("dcr_overfitting_protection")
        );
        let _ = writeln!(
            out,
            "- median distance to the closest training record {:.3}, to the closest held-out record {:.3}",
            m("median_distance_to_training"),
            m("median_distance_to_holdout")
        );
        let _ = writeln!(
            out,
            "- new n-grams (not in any training record): 2-grams {:.3}, 3-grams {:.3}, 4-grams {:.3}",
            m("novelty_2gram"),
            m("novelty_3gram"),
            m("novelty_4gram")
        );
        let _ = writeln!(
            out,
            "- against the held-out records: frequency JSD {:.4} bits, length KS {:.4}; a naive Bayes detector tells them apart with AUC {:.3} (95% interval {:.3}-{:.3}; 0.5: not at all); on the words alone {:.3}, on the length alone {:.3}",
            m("frequency_jsd"),
            m("length_ks"),
            m("detection_auc"),
            m("detection_auc_low"),
            m("detection_auc_high"),
            m("unigram_detection_auc"),
            m("length_detection_auc")
        );
        if self.measures.contains_key("zero_shot_auc") {
            let _ = writeln!(
                out,
                "- zero-shot, under a language model: the synthetic records' likelihood tells them from held-out ones with AUC {:.3} (95% interval {:.3}-{:.3}); the share of their tokens among its top 10 predictions (GLTR) with AUC {}",
                m("zero_shot_auc"),
                m("zero_shot_auc_low"),
                m("zero_shot_auc_high"),
                self.measures.get("gltr_top10_auc").map_or("- (the model gives no ranks)".to_string(), |v| format!("{v:.3}"))
            );
        }
        if self.measures.contains_key("membership_auc") {
            let _ = writeln!(
                out,
                "- membership inference from the generator's likelihood: AUC {:.3} of training against held-out records (0.5: the model does not favour what it saw)",
                m("membership_auc")
            );
        }
        if self.measures.contains_key("canary_exposure_max") {
            let _ = writeln!(
                out,
                "- canaries ({:.0}, each planted {:.0} times): exposure mean {:.2} bits, max {:.2} of {:.2} possible",
                m("canaries"),
                m("canary_repeats"),
                m("canary_exposure_mean"),
                m("canary_exposure_max"),
                m("canary_exposure_possible")
            );
        }
        if self.measures.contains_key("bleu4") {
            let _ = writeln!(
                out,
                "- fidelity: BLEU-2/3/4/5 {:.3} / {:.3} / {:.3} / {:.3} against the held-out records; Self-BLEU-2/3/4/5 {:.3} / {:.3} / {:.3} / {:.3}",
                m("bleu2"), m("bleu3"), m("bleu4"), m("bleu5"),
                m("self_bleu2"), m("self_bleu3"), m("self_bleu4"), m("self_bleu5")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> AuditReport {
        AuditReport {
            kind: "text".into(),
            training_records: 10,
            synthetic_records: 10,
            holdout_records: 10,
            dcr_training_sample: 10,
            near_duplicate_threshold: 0.8,
            measures: BTreeMap::from([("exact_copy_share".to_string(), 0.2)]),
        }
    }

    #[test]
    fn rules_parse_and_judge() {
        let rule: FailRule = "exact_copy_share>0.1".parse().unwrap();
        assert_eq!(report().broken(&[rule]).unwrap().len(), 1);
        let rule: FailRule = "exact_copy_share < 0.1".parse().unwrap();
        assert!(report().broken(&[rule]).unwrap().is_empty());
        assert!("exact_copy_share=0.1".parse::<FailRule>().is_err());
        assert!("exact_copy_share>lots".parse::<FailRule>().is_err());
        let unknown: FailRule = "copies>1".parse().unwrap();
        let err = report().broken(&[unknown]).unwrap_err().to_string();
        assert!(
            err.contains("no measure `copies`") && err.contains("exact_copy_share"),
            "{err}"
        );
    }
}
