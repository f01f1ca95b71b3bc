//! `socgan recommend`: the top-k items, with scores, after a user's whole history (original ids
//! in and out), for one user, a file of users, or an ad-hoc history of items.

use std::fmt::Write as _;
use std::path::Path;

use candle_core::Device;
use gan_core::Checkpoint;
use serde_json::json;

use crate::experiment::args::RecommendArgs;
use crate::experiment::saved::SavedRecommender;
use crate::{Error, Result};
use socgan_io::write_atomic;

/// One user's recommendations.
pub struct Recommendation {
    pub user: String,
    /// `(item id as the log writes it, score)`, best first.
    pub items: Vec<(String, f32)>,
}

/// Recommendations of `args`, written to `args.output` or standard output.
pub fn recommend(ckpt: &Checkpoint, args: &RecommendArgs, device: &Device) -> Result<()> {
    let saved = SavedRecommender::load(ckpt, device)?;
    let requests = requests(&saved, args)?;
    let mut out = Vec::with_capacity(requests.len());
    for chunk in requests.chunks(256) {
        let histories: Vec<&[u32]> = chunk.iter().map(|(_, h)| h.as_slice()).collect();
        let scores = saved.recommender.scores(&histories, device)?;
        let num_items = saved.log.num_items();
        for ((user, history), row) in chunk.iter().zip(scores.chunks(num_items)) {
            let skip: &[u32] = if args.include_seen { &[] } else { history };
            let items = top_k(row, skip, args.top)
                .into_iter()
                .map(|(item, score)| (saved.log.item_name(item).to_string(), score))
                .collect();
            out.push(Recommendation {
                user: user.clone(),
                items,
            });
        }
    }
    let jsonl = args
        .output
        .as_deref()
        .and_then(Path::extension)
        .is_some_and(|e| e == "jsonl");
    let text = if jsonl { to_jsonl(&out) } else { to_csv(&out) };
    match &args.output {
        Some(path) => write_atomic(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(())
}

/// `(user label, history as item ids)` of every request; unknown ids are one clear error.
fn requests(saved: &SavedRecommender, args: &RecommendArgs) -> Result<Vec<(String, Vec<u32>)>> {
    let log = &saved.log;
    let known_user = |name: &str, at: &str| -> Result<(String, Vec<u32>)> {
        let user = log.user_index(name).ok_or_else(|| {
            Error::Unknown(format!(
                "{at}user `{name}` is not in the run's log ({} users)",
                log.num_users()
            ))
        })?;
        Ok((name.to_string(), log.history(user).to_vec()))
    };
    if let Some(items) = &args.history {
        let ids = items
            .iter()
            .map(|name| {
                log.item_id(name.trim()).ok_or_else(|| {
                    Error::Unknown(format!(
                        "item `{name}` is not in the run's log ({} items)",
                        log.num_items()
                    ))
                })
            })
            .collect::<Result<Vec<u32>>>()?;
        return Ok(vec![("history".to_string(), ids)]);
    }
    if let Some(user) = &args.user {
        return Ok(vec![known_user(user.trim(), "")?]);
    }
    let path = args.users.as_ref().expect("clap requires one of them");
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::file(path, format!("cannot read the user list: {e}")))?;
    let requests = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| known_user(line.trim(), &format!("{}:{}: ", path.display(), i + 1)))
        .collect::<Result<Vec<_>>>()?;
    if requests.is_empty() {
        return Err(Error::file(path, "no user ids"));
    }
    Ok(requests)
}

/// The `k` best items (ids `1..`) by score, outside the sorted-or-not `skip`; ties go to the
/// lower id.
pub fn top_k(scores: &[f32], skip: &[u32], k: usize) -> Vec<(u32, f32)> {
    let mut skipped = vec![false; scores.len()];
    for &item in skip {
        skipped[item as usize - 1] = true;
    }
    let mut candidates: Vec<(u32, f32)> = scores
        .iter()
        .enumerate()
        .filter(|(i, _)| !skipped[*i])
        .map(|(i, &s)| (i as u32 + 1, s))
        .collect();
    let by_score = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if candidates.len() > k {
        candidates.select_nth_unstable_by(k, by_score);
        candidates.truncate(k);
    }
    candidates.sort_by(by_score);
    candidates
}

fn to_csv(out: &[Recommendation]) -> String {
    let mut text = String::from("user,rank,item,score\n");
    for r in out {
        for (rank, (item, score)) in r.items.iter().enumerate() {
            let _ = writeln!(
                text,
                "{},{},{},{}",
                csv_field(&r.user),
                rank + 1,
                csv_field(item),
                score
            );
        }
    }
    text
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn to_jsonl(out: &[Recommendation]) -> String {
    let mut text = String::new();
    for r in out {
        let items: Vec<_> = r
            .items
            .iter()
            .map(|(item, score)| json!({"item": item, "score": score}))
            .collect();
        let _ = writeln!(text, "{}", json!({"user": r.user, "items": items}));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_skips_seen_items_and_breaks_ties_by_id() {
        let scores = [0.5, 0.9, 0.5, 0.1, 0.7];
        assert_eq!(top_k(&scores, &[2], 3), vec![(5, 0.7), (1, 0.5), (3, 0.5)]);
        assert_eq!(top_k(&scores, &[], 10).len(), 5);
    }
}
