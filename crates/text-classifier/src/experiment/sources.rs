//! The detection protocol's sources: which bot, generator or person wrote each post (the column
//! or field `detection.source_field` names), accuracy per source, and leave-one-source-out
//! (train and validate without one generator's posts, test on them: does the detector
//! generalise to a generator it never saw?).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};
use socgan_data::labels::LabelledPosts;
use socgan_data::posts::{PostFormat, PostReader, ReadOptions};

use crate::experiment::config::{ClassifierConfig, DetectionConfig, FileLayout};
use crate::{Error, Result};

/// Which of a run's files posts come from: leave-one-source-out treats them differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Training and validation posts: the held-out source's are dropped.
    Fitting,
    /// Test posts: the held-out source's and every real (not positive) post are kept.
    Test,
}

/// The source of every post of `path` (as many as the file has posts), raw as written; `None`
/// when the run names no source column.
pub fn read_sources(config: &ClassifierConfig, path: &Path) -> Result<Option<Vec<String>>> {
    let Some(field) = config
        .detection
        .as_ref()
        .and_then(|d| d.source_field.as_deref())
    else {
        return Ok(None);
    };
    let data = &config.data;
    let format = match (data.layout, data.delimiter) {
        (FileLayout::LabelFirst, _) => {
            return Err(Error::file(
                path,
                "label-first files have no source column; drop detection.source_field",
            ))
        }
        (FileLayout::Auto, Some(d)) => PostFormat::delimited(d as u8, field, None),
        (FileLayout::Auto, None) => PostFormat::for_path(path, field, None),
    };
    if matches!(format, PostFormat::Lines | PostFormat::TweetEval) {
        return Err(Error::file(
            path,
            format!("this format has no columns; detection.source_field `{field}` needs CSV, TSV, JSONL or Parquet"),
        ));
    }
    let mut sources = Vec::new();
    for post in PostReader::open(path, &format, ReadOptions { lossy: data.lossy })? {
        sources.push(post?.text);
    }
    Ok(Some(sources))
}

/// `posts` of `path` with their sources, cut for leave-one-source-out when the run holds one
/// out.
pub fn with_sources(
    config: &ClassifierConfig,
    path: &Path,
    posts: LabelledPosts,
    split: Split,
    positive: u32,
) -> Result<(LabelledPosts, Option<Vec<String>>)> {
    let Some(sources) = read_sources(config, path)? else {
        return Ok((posts, None));
    };
    if sources.len() != posts.len() {
        return Err(Error::file(
            path,
            format!(
                "{} sources for {} posts: every row needs its source",
                sources.len(),
                posts.len()
            ),
        ));
    }
    let detection = config.detection.as_ref().expect("sources need [detection]");
    let Some(held_out) = &detection.held_out_source else {
        return Ok((posts, Some(sources)));
    };
    let kept: Vec<usize> = (0..posts.len())
        .filter(|&i| match split {
            Split::Fitting => &sources[i] != held_out,
            Split::Test => &sources[i] == held_out || posts.labels[i] != positive,
        })
        .collect();
    let removed = posts.len() - kept.len();
    let named = sources.iter().any(|s| s == held_out);
    if !named && split == Split::Test {
        return Err(Error::file(
            path,
            format!(
                "no post of the held-out source `{held_out}` to test on (sources: {})",
                distinct(&sources).join(", ")
            ),
        ));
    }
    if split == Split::Fitting && removed == posts.len() {
        return Err(Error::file(
            path,
            format!("every post is of the held-out source `{held_out}`: nothing left to train on"),
        ));
    }
    let sources = kept.iter().map(|&i| sources[i].clone()).collect();
    Ok((posts.select(&kept), Some(sources)))
}

fn distinct(sources: &[String]) -> Vec<String> {
    let mut names: Vec<String> = sources.to_vec();
    names.sort();
    names.dedup();
    names
}

/// Posts and accuracy per source.
pub fn per_source(
    sources: &[String],
    gold: &[u32],
    predicted: &[u32],
) -> BTreeMap<String, (usize, f64)> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for ((source, g), p) in sources.iter().zip(gold).zip(predicted) {
        let entry = counts.entry(source.clone()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(g == p);
    }
    counts
        .into_iter()
        .map(|(s, (n, right))| (s, (n, right as f64 / n as f64)))
        .collect()
}

/// [`per_source`] as JSON (`{source: {posts, accuracy}}`) and as report lines.
pub fn per_source_report(
    table: &BTreeMap<String, (usize, f64)>,
    detection: &DetectionConfig,
) -> (Value, String) {
    let json = table
        .iter()
        .map(|(s, (n, acc))| (s.clone(), json!({ "posts": n, "accuracy": acc })))
        .collect::<serde_json::Map<_, _>>();
    let mut text = String::from("accuracy per source");
    if let Some(held_out) = &detection.held_out_source {
        text += &format!(" (`{held_out}` held out of training)");
    }
    text += ":\n";
    for (source, (n, acc)) in table {
        text += &format!("  {source:<20} {n:>7} posts  accuracy {acc:.4}\n");
    }
    (Value::Object(json), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_is_counted_per_source() {
        let sources: Vec<String> = ["human", "seqgan", "human", "seqgan"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let table = per_source(&sources, &[0, 1, 0, 1], &[0, 1, 1, 0]);
        assert_eq!(table["human"], (2, 0.5));
        assert_eq!(table["seqgan"], (2, 0.5));
    }
}
