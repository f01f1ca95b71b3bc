//! What a corpus holds, read as a run would read it (same formats and normalisation).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::posts::{Normalizer, PostFormat, PostReader, ReadOptions};
use crate::Result;

/// Posts, whitespace tokens after normalisation, vocabulary, lengths and the commonest tokens.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CorpusStats {
    pub file: String,
    pub posts: usize,
    pub empty_posts: usize,
    pub tokens: usize,
    pub vocabulary: usize,
    pub max_length: usize,
    pub median_length: Option<usize>,
    pub p95_length: Option<usize>,
    /// Posts of each length in tokens, from 0.
    pub length_histogram: Vec<usize>,
    /// The `top` commonest tokens with their counts, commonest first (ties by token).
    pub top_tokens: Vec<(String, usize)>,
    pub replaced_invalid_utf8: usize,
}

/// Counts the posts of `path` (its `text_field` for CSV / JSONL / Parquet).
pub fn stats(path: &Path, text_field: &str, lossy: bool, top: usize) -> Result<CorpusStats> {
    let format = PostFormat::for_path(path, text_field, None);
    let normalizer = Normalizer::default();
    let mut reader = PostReader::open(path, &format, ReadOptions { lossy })?;
    let (mut posts, mut empty, mut tokens) = (0usize, 0usize, 0usize);
    let mut lengths: Vec<usize> = Vec::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for post in reader.by_ref() {
        let text = normalizer.apply(&post?.text);
        posts += 1;
        let n = text.split_whitespace().count();
        if n == 0 {
            empty += 1;
        }
        tokens += n;
        if lengths.len() <= n {
            lengths.resize(n + 1, 0);
        }
        lengths[n] += 1;
        for word in text.split_whitespace() {
            *counts.entry(word.to_string()).or_insert(0) += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.iter().map(|(w, c)| (w.clone(), *c)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(top);
    let percentile = |q: f64| {
        let target = (q * posts as f64).ceil() as usize;
        let mut seen = 0;
        lengths.iter().position(|&c| {
            seen += c;
            seen >= target.max(1)
        })
    };
    Ok(CorpusStats {
        file: path.display().to_string(),
        posts,
        empty_posts: empty,
        tokens,
        vocabulary: counts.len(),
        max_length: lengths.len().saturating_sub(1),
        median_length: percentile(0.5),
        p95_length: percentile(0.95),
        top_tokens: ranked,
        length_histogram: lengths,
        replaced_invalid_utf8: reader.replaced_invalid_utf8(),
    })
}

impl CorpusStats {
    /// The summary a person reads, with a histogram of lengths.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let shown = |v: Option<usize>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
        let _ = writeln!(out, "{}", self.file);
        let _ = writeln!(
            out,
            "  posts        {} ({} empty)",
            self.posts, self.empty_posts
        );
        let _ = writeln!(
            out,
            "  tokens       {} (whitespace tokens after normalisation)",
            self.tokens
        );
        let _ = writeln!(out, "  vocabulary   {}", self.vocabulary);
        let _ = writeln!(
            out,
            "  length       median {}, 95th percentile {}, max {}",
            shown(self.median_length),
            shown(self.p95_length),
            self.max_length
        );
        let _ = writeln!(out, "  histogram (tokens per post):");
        let widest = self
            .length_histogram
            .iter()
            .copied()
            .max()
            .unwrap_or(1)
            .max(1);
        for (len, count) in self
            .length_histogram
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
        {
            let bar = "#".repeat((count * 40).div_ceil(widest));
            let _ = writeln!(out, "    {len:>4} {count:>8} {bar}");
        }
        let _ = writeln!(out, "  top tokens:");
        for (word, count) in &self.top_tokens {
            let _ = writeln!(out, "    {count:>8}  {word}");
        }
        if self.replaced_invalid_utf8 > 0 {
            let _ = writeln!(
                out,
                "  replaced invalid UTF-8 in {} posts",
                self.replaced_invalid_utf8
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_posts_tokens_lengths_and_the_commonest_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posts.txt");
        std::fs::write(&path, "a b a\n\nb c\na\n").unwrap();
        let s = stats(&path, "text", false, 2).unwrap();
        assert_eq!(
            (s.posts, s.empty_posts, s.tokens, s.vocabulary),
            (4, 1, 6, 3)
        );
        assert_eq!(s.length_histogram, vec![1, 1, 1, 1]);
        assert_eq!(
            (s.median_length, s.p95_length, s.max_length),
            (Some(1), Some(3), 3)
        );
        assert_eq!(s.top_tokens, vec![("a".into(), 3), ("b".into(), 2)]);
        let report = s.report();
        assert!(report.contains("posts        4 (1 empty)") && report.contains("       3  a"));
        let err = stats(&dir.path().join("none.txt"), "text", false, 2).unwrap_err();
        assert!(err.to_string().contains("none.txt"), "{err}");
    }
}
