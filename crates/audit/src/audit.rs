//! One audit: a synthetic set against the training records its generator learnt from and real
//! records it never saw, every measure of this crate, and which synthetic records copy.

use std::collections::BTreeMap;

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::bleu::{bleu, self_bleu};
use crate::copies::{exact_copies, near_duplicates};
use crate::detection::{cross_validated, Features, OutOfFold};
use crate::divergence::{jensen_shannon, ks_distance, ngram_novelty, token_distribution};
use crate::nearest::Pool;
use crate::privacy::DistanceToClosest;
use crate::report::AuditReport;
use crate::shingles::shingles;
use crate::{Error, Result};

/// Held-out records the DCR comparison needs at the least: below this its interval spans most
/// of [0, 1] and says nothing.
pub const MIN_HOLDOUT: usize = 30;

/// What the records are: words of posts (BLEU applies) or items of user histories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Text,
    Items,
}

impl RecordKind {
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Text => "text",
            RecordKind::Items => "items",
        }
    }
}

/// The three sets as token ids of one vocabulary (ids `1..=vocab_size`).
pub struct Records {
    pub kind: RecordKind,
    pub training: Vec<Vec<u32>>,
    pub synthetic: Vec<Vec<u32>>,
    pub holdout: Vec<Vec<u32>>,
    pub vocab_size: usize,
}

/// Settings of an audit.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// Jaccard similarity of 1-2-gram sets from which a record is a near duplicate.
    pub near_threshold: f64,
    /// Synthetic records (drawn) scored for BLEU and Self-BLEU.
    pub bleu_samples: usize,
    /// Seeds the draws: the DCR's training sample and the BLEU hypotheses.
    pub seed: u64,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            near_threshold: 0.8,
            bleu_samples: 1000,
            seed: 0,
        }
    }
}

/// An audit's report, which synthetic records copy a training record (exactly or nearly), and
/// each one's distances to the closest (sampled) training and held-out record.
pub struct Audit {
    pub report: AuditReport,
    pub copies: Vec<bool>,
    pub to_training: Vec<f64>,
    pub to_holdout: Vec<f64>,
}

/// Audits `records` (see the crate's documentation for the measures).
pub fn audit(records: &Records, options: &AuditOptions) -> Result<Audit> {
    check(records, options)?;
    let sets = |rs: &[Vec<u32>]| rs.par_iter().map(|r| shingles(r, 2)).collect::<Vec<_>>();
    let (training, synthetic, holdout) = (
        sets(&records.training),
        sets(&records.synthetic),
        sets(&records.holdout),
    );
    let distances = |pool: &[Vec<u64>]| -> Vec<f64> {
        Pool::new(pool)
            .closest_all(&synthetic)
            .into_iter()
            .map(|c| c.map_or(1.0, |c| c.distance))
            .collect()
    };
    let exact = exact_copies(&records.synthetic, &records.training);
    let near = near_duplicates(&distances(&training), &exact, options.near_threshold);

    // DCR: as many training records as held-out ones (or the other way round).
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let size = training.len().min(holdout.len());
    let mut draw = |pool: &[Vec<u64>]| -> Vec<Vec<u64>> {
        let mut picked = sample(&mut rng, pool.len(), size).into_vec();
        picked.sort_unstable();
        picked.into_iter().map(|i| pool[i].clone()).collect()
    };
    let (training_sample, holdout_sample) = (draw(&training), draw(&holdout));
    let to_training = distances(&training_sample);
    let to_holdout = distances(&holdout_sample);
    let dcr = DistanceToClosest::from_distances(&to_training, &to_holdout);

    let count = |flags: &[bool]| flags.iter().filter(|&&f| f).count() as f64;
    let n = records.synthetic.len() as f64;
    let mut measures = BTreeMap::from([
        ("exact_copies".to_string(), count(&exact)),
        ("exact_copy_share".into(), count(&exact) / n),
        ("near_duplicates".into(), count(&near)),
        ("near_duplicate_share".into(), count(&near) / n),
        ("dcr_closer_to_training".into(), dcr.closer_to_training),
        ("dcr_closer_to_training_low".into(), dcr.low),
        ("dcr_closer_to_training_high".into(), dcr.high),
        (
            "dcr_overfitting_protection".into(),
            dcr.overfitting_protection(),
        ),
        ("median_distance_to_training".into(), median(&to_training)),
        ("median_distance_to_holdout".into(), median(&to_holdout)),
    ]);
    for order in 2..=4 {
        measures.insert(
            format!("novelty_{order}gram"),
            ngram_novelty(&records.synthetic, &records.training, order),
        );
    }
    let lengths = |rs: &[Vec<u32>]| rs.iter().map(Vec::len).collect::<Vec<_>>();
    measures.insert(
        "frequency_jsd".into(),
        jensen_shannon(
            &token_distribution(&records.synthetic, records.vocab_size),
            &token_distribution(&records.holdout, records.vocab_size),
        ),
    );
    measures.insert(
        "length_ks".into(),
        ks_distance(&lengths(&records.synthetic), &lengths(&records.holdout)),
    );
    if let Some(scores) = cross_validated(&synthetic, &holdout, &mut rng) {
        measures.extend(auc_measures("detection_auc", &scores, options.seed));
    }
    measures.extend(tells(records, options.seed));
    if records.kind == RecordKind::Text {
        measures.extend(fidelity(records, options, &mut rng));
    }
    let copies = exact.iter().zip(&near).map(|(e, n)| *e || *n).collect();
    Ok(Audit {
        report: AuditReport {
            kind: records.kind.name().into(),
            training_records: records.training.len(),
            synthetic_records: records.synthetic.len(),
            holdout_records: records.holdout.len(),
            dcr_training_sample: size,
            near_duplicate_threshold: options.near_threshold,
            measures,
        },
        copies,
        to_training,
        to_holdout,
    })
}

/// `name` (the AUC of `scores`) and its bootstrap interval as `name_low`, `name_high`.
fn auc_measures(name: &str, scores: &OutOfFold, seed: u64) -> [(String, f64); 3] {
    let (low, high) = scores.interval(seed);
    [
        (name.to_string(), scores.auc()),
        (format!("{name}_low"), low),
        (format!("{name}_high"), high),
    ]
}

/// The trivial tells: naive Bayes on the words alone and on the length alone (drawn from their
/// own generator, so that adding them changed none of the other measures' draws).
fn tells(records: &Records, seed: u64) -> Vec<(String, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7e11_5eed);
    let mut out = Vec::new();
    for (name, features) in [
        ("unigram_detection_auc", Features::Unigrams),
        ("length_detection_auc", Features::Length),
    ] {
        let of = |rs: &[Vec<u32>]| rs.iter().map(|r| features.of(r)).collect::<Vec<_>>();
        if let Some(scores) =
            cross_validated(&of(&records.synthetic), &of(&records.holdout), &mut rng)
        {
            out.extend(auc_measures(name, &scores, seed));
        }
    }
    out
}

/// BLEU-2..5 of drawn synthetic records against the held-out ones, and their Self-BLEU-2..5.
fn fidelity(records: &Records, options: &AuditOptions, rng: &mut ChaCha8Rng) -> Vec<(String, f64)> {
    let n = options.bleu_samples.min(records.synthetic.len());
    let mut picked = sample(rng, records.synthetic.len(), n).into_vec();
    picked.sort_unstable();
    let hypotheses: Vec<Vec<u32>> = picked
        .into_iter()
        .map(|i| records.synthetic[i].clone())
        .collect();
    (2..=5)
        .flat_map(|order| {
            [
                (
                    format!("bleu{order}"),
                    bleu(&records.holdout, &hypotheses, order),
                ),
                (format!("self_bleu{order}"), self_bleu(&hypotheses, order)),
            ]
        })
        .collect()
}

fn check(records: &Records, options: &AuditOptions) -> Result<()> {
    for (name, set) in [
        ("training", &records.training),
        ("synthetic", &records.synthetic),
        ("held-out", &records.holdout),
    ] {
        if set.is_empty() {
            return Err(Error::Invalid(format!("the {name} set has no records")));
        }
    }
    if records.holdout.len() < MIN_HOLDOUT {
        return Err(Error::Invalid(format!(
            "{} held-out records: the distance-to-closest-record test needs at least {MIN_HOLDOUT}",
            records.holdout.len()
        )));
    }
    if !(options.near_threshold > 0.0 && options.near_threshold <= 1.0) {
        return Err(Error::Invalid(format!(
            "near-duplicate threshold {}: expected a Jaccard similarity in (0, 1]",
            options.near_threshold
        )));
    }
    Ok(())
}

/// `size` of `0..len` (all when `size >= len`), drawn with `seed`, in increasing order.
pub fn sample_indices(len: usize, size: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut picked = sample(&mut rng, len, size.min(len)).into_vec();
    picked.sort_unstable();
    picked
}

fn median(xs: &[f64]) -> f64 {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` records of 6-12 tokens over a vocabulary of 50, from a seeded generator.
    fn records(n: usize, seed: u64) -> Vec<Vec<u32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let len = 6 + (rand::RngCore::next_u32(&mut rng) % 7) as usize;
                (0..len)
                    .map(|_| 1 + rand::RngCore::next_u32(&mut rng) % 50)
                    .collect()
            })
            .collect()
    }

    fn set(training: Vec<Vec<u32>>, synthetic: Vec<Vec<u32>>, holdout: Vec<Vec<u32>>) -> Records {
        Records {
            kind: RecordKind::Text,
            training,
            synthetic,
            holdout,
            vocab_size: 50,
        }
    }

    #[test]
    fn a_copying_generator_is_told_from_a_fresh_one() {
        let training = records(200, 1);
        let holdout = records(200, 2);
        let options = AuditOptions::default();
        let fresh = audit(
            &set(training.clone(), records(200, 3), holdout.clone()),
            &options,
        )
        .unwrap();
        let m = &fresh.report.measures;
        assert_eq!(m["exact_copies"], 0.0);
        assert!((m["dcr_closer_to_training"] - 0.5).abs() < 0.1, "{m:?}");
        assert!(m["bleu2"] > 0.0 && m["self_bleu2"] > 0.0);

        // Half copies, a quarter near copies (one token changed), a quarter fresh.
        let mut copying: Vec<Vec<u32>> = training[..100].to_vec();
        copying.extend(training[100..150].iter().map(|r| {
            let mut r = r.clone();
            let last = r.len() - 1;
            r[last] = r[last] % 50 + 1;
            r
        }));
        copying.extend(records(50, 4));
        let copied = audit(&set(training, copying, holdout), &options).unwrap();
        let m = &copied.report.measures;
        assert_eq!(m["exact_copy_share"], 0.5);
        assert!(
            m["near_duplicates"] > 0.0 && m["near_duplicates"] <= 50.0,
            "{m:?}"
        );
        assert!(m["dcr_closer_to_training_low"] > 0.6, "{m:?}");
        assert!(m["dcr_overfitting_protection"] < 0.8, "{m:?}");
        assert_eq!(
            copied.copies.iter().filter(|&&c| c).count() as f64,
            100.0 + m["near_duplicates"]
        );
        // Same seed, same report.
        assert_eq!(
            audit(
                &set(records(200, 1), records(200, 3), records(200, 2)),
                &options
            )
            .unwrap()
            .report,
            fresh.report
        );
    }

    #[test]
    fn empty_sets_small_holdouts_and_bad_thresholds_are_one_error() {
        let options = AuditOptions::default();
        let err = |r: Records, o: &AuditOptions| audit(&r, o).err().unwrap().to_string();
        assert!(err(set(vec![], records(5, 1), records(40, 2)), &options)
            .contains("training set has no records"));
        assert!(
            err(set(records(5, 1), records(5, 1), records(10, 2)), &options)
                .contains("10 held-out records")
        );
        let bad = AuditOptions {
            near_threshold: 1.5,
            ..AuditOptions::default()
        };
        assert!(
            err(set(records(5, 1), records(5, 1), records(40, 2)), &bad).contains("threshold 1.5")
        );
    }
}
