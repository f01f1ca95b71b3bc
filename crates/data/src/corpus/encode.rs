//! A tokenizer trained on a corpus (or a given one) and every post encoded to a fixed-length id
//! row, streaming both passes: memory holds the vocabulary counts, never the posts.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::posts::{Normalizer, PostFormat, PostReader, ReadOptions};
use crate::tokenizer::{PreTokenizer, TextTokenizer, TokenizerKind};
use crate::{Error, Result};

/// What [`encode`] does with a corpus.
#[derive(Clone, Debug)]
pub struct EncodeOptions<'a> {
    /// Column (CSV/TSV, Parquet) or field (JSONL) holding the text.
    pub text_field: &'a str,
    pub lossy: bool,
    pub kind: TokenizerKind,
    pub pre_tokenizer: PreTokenizer,
    pub vocab_size: usize,
    pub min_frequency: u64,
    /// Use this `tokenizer.json` instead of training one.
    pub pretrained: Option<&'a Path>,
    /// Ids per post: tokens, `<eos>`, `<pad>`s (longer posts are cut).
    pub seq_len: usize,
}

/// What [`encode`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedCorpus {
    pub ids_path: PathBuf,
    pub tokenizer_path: PathBuf,
    pub rows: usize,
    /// Posts empty after normalisation (not written).
    pub skipped: usize,
    pub vocab_size: usize,
    pub replaced_invalid_utf8: usize,
}

/// Writes `out/tokenizer.json` and `out/ids.txt` (one row of `seq_len` ids per non-empty post,
/// SeqGAN's text format), each atomically.
pub fn encode(path: &Path, out: &Path, o: &EncodeOptions) -> Result<EncodedCorpus> {
    if o.seq_len < 2 {
        return Err(Error::Invalid(
            "--seq-len must be at least 2 (a token and <eos>)".into(),
        ));
    }
    let format = PostFormat::for_path(path, o.text_field, None);
    let normalizer = Normalizer::default();
    let open = || PostReader::open(path, &format, ReadOptions { lossy: o.lossy });
    let tokenizer = match o.pretrained {
        Some(p) => TextTokenizer::load(p)?,
        None => train(open()?, &normalizer, o)?,
    };
    let ids_path = out.join("ids.txt");
    let (mut rows, mut skipped) = (0usize, 0usize);
    let mut reader = open()?;
    socgan_io::write_atomic_with(&ids_path, |tmp| -> Result<()> {
        let io = |e| Error::Io {
            path: ids_path.clone(),
            source: e,
        };
        let file = std::fs::File::create(tmp).map_err(io)?;
        let mut writer = BufWriter::new(&file);
        for post in reader.by_ref() {
            let text = normalizer.apply(&post?.text);
            if text.is_empty() {
                skipped += 1;
                continue;
            }
            let ids = tokenizer.encode_fixed(&text, o.seq_len)?;
            let line: Vec<String> = ids.iter().map(u32::to_string).collect();
            writeln!(writer, "{}", line.join(" ")).map_err(io)?;
            rows += 1;
        }
        writer.flush().map_err(io)?;
        drop(writer);
        file.sync_all().map_err(io)
    })?;
    let tokenizer_path = out.join("tokenizer.json");
    tokenizer.save(&tokenizer_path)?;
    Ok(EncodedCorpus {
        ids_path,
        tokenizer_path,
        rows,
        skipped,
        vocab_size: tokenizer.vocab_size(),
        replaced_invalid_utf8: reader.replaced_invalid_utf8(),
    })
}

/// A tokenizer trained on the normalised posts of `reader`; the first read error stops the
/// trainer (which pulls texts through an iterator) and is returned.
fn train(reader: PostReader, normalizer: &Normalizer, o: &EncodeOptions) -> Result<TextTokenizer> {
    let first_error = Mutex::new(None);
    let texts = reader.map_while(|post| match post {
        Ok(p) => Some(normalizer.apply(&p.text)),
        Err(e) => {
            if let Ok(mut slot) = first_error.lock() {
                slot.get_or_insert(e);
            }
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
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    trained
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> EncodeOptions<'static> {
        EncodeOptions {
            text_field: "text",
            lossy: false,
            kind: TokenizerKind::WordLevel,
            pre_tokenizer: PreTokenizer::Whitespace,
            vocab_size: 100,
            min_frequency: 1,
            pretrained: None,
            seq_len: 4,
        }
    }

    #[test]
    fn every_non_empty_post_becomes_one_fixed_length_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posts.txt");
        std::fs::write(&path, "a b\n\na b c d e\n").unwrap();
        let out = dir.path().join("out");
        let done = encode(&path, &out, &options()).unwrap();
        assert_eq!((done.rows, done.skipped), (2, 1));
        let ids = std::fs::read_to_string(&done.ids_path).unwrap();
        let rows: Vec<Vec<u32>> = ids
            .lines()
            .map(|l| l.split(' ').map(|t| t.parse().unwrap()).collect())
            .collect();
        assert!(rows.iter().all(|r| r.len() == 4));
        let tokenizer = TextTokenizer::load(&done.tokenizer_path).unwrap();
        assert_eq!(tokenizer.decode(&rows[0]).unwrap(), "a b");
        let err = encode(
            &path,
            &out,
            &EncodeOptions {
                seq_len: 1,
                ..options()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("--seq-len"), "{err}");
    }
}
