//! Next-item evaluation of a leave-one-out split: the validation item after the training part
//! of each history, and the test item after the training part plus the validation item, each
//! ranked under both protocols of [`crate::ranking`]. The sampled protocol's users (at most
//! 10,000, as SASRec's code takes) and their 100 negatives are drawn once from the run seed, so
//! every evaluation of a run ranks against the same candidates.

use candle_core::Device;
use gan_core::{Evaluation, Metrics, SeededRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use socgan_data::interactions::LeaveOneOut;

use crate::batches::distinct_items;
use crate::loss::draw_unseen;
use crate::model::Recommender;
use crate::ranking::{full_rank, metric_names as m, sampled_rank, RankingSums};
use crate::Result;

/// How evaluation ranks; `Default` is SASRec's protocol (100 negatives, at most 10,000 users).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationConfig {
    pub sampled_negatives: usize,
    /// Users of the sampled protocol (drawn from the seed when there are more).
    pub sampled_users: usize,
    /// Users scored at once.
    pub batch_size: usize,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            sampled_negatives: 100,
            sampled_users: 10_000,
            batch_size: 256,
        }
    }
}

/// One user's ranking question.
#[derive(Clone, Debug)]
struct Query {
    input: Vec<u32>,
    target: u32,
    /// The history's items but the target, sorted and distinct: excluded from full ranking.
    excluded: Vec<u32>,
    /// Sampled-protocol candidates, for users in the sampled subset.
    negatives: Option<Vec<u32>>,
}

/// The validation and test questions of a split.
pub struct RankingEvaluator {
    validation: Vec<Query>,
    test: Vec<Query>,
    batch_size: usize,
}

impl RankingEvaluator {
    pub fn new(
        split: &LeaveOneOut,
        num_items: usize,
        seed: u64,
        config: &EvaluationConfig,
    ) -> Self {
        let users: Vec<usize> = (0..split.num_users())
            .filter(|&u| split.test[u].is_some() && !split.train[u].is_empty())
            .collect();
        let mut sampled = vec![false; split.num_users()];
        let order = SeededRng::derive(seed, "sampled-users", 0).permutation(users.len());
        for &i in order.iter().take(config.sampled_users) {
            sampled[users[i]] = true;
        }
        let queries = |which: u64| {
            let mut rng = SeededRng::derive(seed, "sampled-negatives", which);
            users
                .iter()
                .map(|&u| {
                    let (input, target) = if which == 0 {
                        (
                            split.train[u].clone(),
                            split.validation[u].expect("test implies validation"),
                        )
                    } else {
                        (split.test_input(u), split.test[u].expect("filtered"))
                    };
                    let draw = sampled[u].then_some(config.sampled_negatives);
                    Query::new(input, target, draw, num_items, &mut rng)
                })
                .collect::<Vec<_>>()
        };
        Self {
            validation: queries(0),
            test: queries(1),
            batch_size: config.batch_size.max(1),
        }
    }

    /// Users evaluated (those with a validation and a test item).
    pub fn num_users(&self) -> usize {
        self.test.len()
    }

    /// Both protocols on both splits.
    pub fn evaluate(&self, model: &Recommender, device: &Device) -> Result<Evaluation> {
        Ok(Evaluation {
            validation: rank_queries(&self.validation, model, self.batch_size, device)?,
            test: rank_queries(&self.test, model, self.batch_size, device)?,
        })
    }
}

impl Query {
    fn new(
        input: Vec<u32>,
        target: u32,
        negatives: Option<usize>,
        num_items: usize,
        rng: &mut SeededRng,
    ) -> Self {
        let seen = distinct_items(&input);
        let excluded: Vec<u32> = seen.iter().copied().filter(|&i| i != target).collect();
        let negatives = negatives.map(|n| {
            // Candidates come from the items the user never touched (the target included).
            let mut known = seen;
            if let Err(at) = known.binary_search(&target) {
                known.insert(at, target);
            }
            (0..n)
                .map(|_| draw_unseen(rng, num_items, &known))
                .collect()
        });
        Self {
            input,
            target,
            excluded,
            negatives,
        }
    }
}

fn rank_queries(
    queries: &[Query],
    model: &Recommender,
    batch_size: usize,
    device: &Device,
) -> Result<Metrics> {
    let (mut full, mut sampled) = (RankingSums::default(), RankingSums::default());
    for chunk in queries.chunks(batch_size) {
        let inputs: Vec<&[u32]> = chunk.iter().map(|q| q.input.as_slice()).collect();
        let scores = model.scores(&inputs, device)?;
        let num_items = scores.len() / chunk.len();
        let ranks: Vec<(usize, Option<usize>)> = chunk
            .par_iter()
            .zip(scores.par_chunks(num_items))
            .map(|(q, row)| {
                let sampled = q.negatives.as_ref().map(|n| sampled_rank(row, q.target, n));
                (full_rank(row, q.target, &q.excluded), sampled)
            })
            .collect();
        // Summed in user order, so metrics do not depend on the thread count.
        for (f, s) in ranks {
            full.add(f);
            if let Some(s) = s {
                sampled.add(s);
            }
        }
    }
    let mut metrics = Metrics::new();
    full.insert_means(
        &mut metrics,
        [m::FULL_HR, m::FULL_NDCG, m::FULL_MRR, m::FULL_USERS],
    );
    sampled.insert_means(
        &mut metrics,
        [
            m::SAMPLED_HR,
            m::SAMPLED_NDCG,
            m::SAMPLED_MRR,
            m::SAMPLED_USERS,
        ],
    );
    Ok(metrics)
}
