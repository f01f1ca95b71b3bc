//! `socgan data tokenize FILE`: trains a tokenizer on a corpus and encodes every post to a
//! fixed-length id row, streaming both passes, so that a corpus larger than memory can be
//! tokenised (memory holds the vocabulary counts, never the posts).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use socgan_data::posts::{Normalizer, PostFormat, PostReader, ReadOptions};
use socgan_data::tokenizer::{PreTokenizer, TextTokenizer, TokenizerKind};

/// What `data tokenize` does with a corpus.
pub struct TokenizeOptions<'a> {
    pub text_field: &'a str,
    pub lossy: bool,
    pub kind: TokenizerKind,
    pub pre_tokenizer: PreTokenizer,
    pub vocab_size: usize,
    pub min_frequency: u64,
    /// Use this `tokenizer.json` instead of training one.
    pub pretrained: Option<&'a Path>,
    pub seq_len: usize,
}

/// Writes `out/tokenizer.json` and `out/ids.txt` (one row of `seq_len` ids per non-empty post,
/// SeqGAN's text format), each atomically.
pub fn run(path: &Path, out: &Path, o: &TokenizeOptions) -> Result<()> {
    if o.seq_len < 2 {
        bail!("--seq-len must be at least 2 (a token and <eos>)");
    }
    let format = PostFormat::for_path(path, o.text_field, None);
    let normalizer = Normalizer::default();
    let open = || PostReader::open(path, &format, ReadOptions { lossy: o.lossy });
    let tokenizer = match o.pretrained {
        Some(p) => TextTokenizer::load(p)?,
        None => {
            // The trainer pulls texts through an iterator; the first read error stops it and is
            // reported after.
            let first_error = Mutex::new(None);
            let texts = open()?.map_while(|post| match post {
                Ok(p) => Some(normalizer.apply(&p.text)),
                Err(e) => {
                    first_error.lock().expect("not poisoned").get_or_insert(e);
                    None
                }
            });
            let trained = TextTokenizer::train(
                texts,
                o.kind,
                o.pre_tokenizer,
                o.vocab_size,
                o.min_frequency,
            );
            if let Some(e) = first_error.into_inner().expect("not poisoned") {
                return Err(e.into());
            }
            trained?
        }
    };
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let ids_path = out.join("ids.txt");
    let tmp = tempfile::NamedTempFile::new_in(out)
        .with_context(|| format!("{}: cannot write", out.display()))?;
    let mut writer = BufWriter::new(tmp.as_file());
    let (mut rows, mut skipped) = (0usize, 0usize);
    let mut reader = open()?;
    for post in reader.by_ref() {
        let text = normalizer.apply(&post?.text);
        if text.is_empty() {
            skipped += 1;
            continue;
        }
        let ids = tokenizer.encode_fixed(&text, o.seq_len)?;
        let line: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(writer, "{}", line.join(" "))?;
        rows += 1;
    }
    writer.flush()?;
    drop(writer);
    tmp.as_file().sync_all()?;
    gan_core::checkpoint::write_atomic(
        &out.join("tokenizer.json"),
        tokenizer.to_json()?.as_bytes(),
    )?;
    tmp.persist(&ids_path)
        .with_context(|| format!("{}: cannot write", ids_path.display()))?;
    println!(
        "{}: {rows} posts encoded to {} ids each ({skipped} empty skipped; vocabulary {}) -> {}",
        path.display(),
        o.seq_len,
        tokenizer.vocab_size(),
        ids_path.display()
    );
    if reader.replaced_invalid_utf8() > 0 {
        eprintln!(
            "socgan: {}: replaced invalid UTF-8 in {} posts",
            path.display(),
            reader.replaced_invalid_utf8()
        );
    }
    Ok(())
}
