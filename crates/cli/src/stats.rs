//! `socgan data stats FILE`: what a corpus holds, read as a run would read it (same formats and
//! normalisation), streaming so that files larger than memory work.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use serde_json::json;
use socgan_data::posts::{Normalizer, PostFormat, PostReader, ReadOptions};

/// Counts posts, whitespace tokens and words; prints a summary (or JSON).
pub fn run(path: &Path, text_field: &str, lossy: bool, top: usize, as_json: bool) -> Result<()> {
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
    let max_len = lengths.len().saturating_sub(1);
    let percentile = |q: f64| {
        let target = (q * posts as f64).ceil() as usize;
        let mut seen = 0;
        lengths.iter().position(|&c| {
            seen += c;
            seen >= target.max(1)
        })
    };
    if as_json {
        println!(
            "{}",
            json!({
                "file": path.display().to_string(), "posts": posts, "empty_posts": empty, "tokens": tokens,
                "vocabulary": counts.len(), "max_length": max_len, "median_length": percentile(0.5),
                "p95_length": percentile(0.95), "length_histogram": lengths,
                "top_tokens": ranked, "replaced_invalid_utf8": reader.replaced_invalid_utf8(),
            })
        );
        return Ok(());
    }
    println!("{}", path.display());
    println!("  posts        {posts} ({empty} empty)");
    println!("  tokens       {tokens} (whitespace tokens after normalisation)");
    println!("  vocabulary   {}", counts.len());
    let shown = |v: Option<usize>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
    println!(
        "  length       median {}, 95th percentile {}, max {max_len}",
        shown(percentile(0.5)),
        shown(percentile(0.95))
    );
    println!("  histogram (tokens per post):");
    let widest = lengths.iter().copied().max().unwrap_or(1).max(1);
    for (len, count) in lengths.iter().enumerate().filter(|(_, c)| **c > 0) {
        println!(
            "    {len:>4} {count:>8} {}",
            "#".repeat((count * 40).div_ceil(widest))
        );
    }
    println!("  top tokens:");
    for (word, count) in &ranked {
        println!("    {count:>8}  {word}");
    }
    if reader.replaced_invalid_utf8() > 0 {
        println!(
            "  replaced invalid UTF-8 in {} posts",
            reader.replaced_invalid_utf8()
        );
    }
    Ok(())
}
