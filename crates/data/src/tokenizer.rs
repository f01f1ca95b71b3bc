//! Tokenisation with Hugging Face `tokenizers`: train a WordLevel (default; deterministic) or BPE
//! tokenizer on a corpus, save and load `tokenizer.json` (readable by the Python `tokenizers`
//! too), load any pretrained `tokenizer.json`, and encode posts to fixed-length id sequences for
//! the generator: the tokens, `<eos>`, then `<pad>` to the length. `<bos>` is the generator's
//! start token, fed before position 0 and never part of the sequence.

use std::path::Path;

use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::fixed_length::FixedLength;
use tokenizers::pre_tokenizers::whitespace::{Whitespace, WhitespaceSplit};
use tokenizers::{
    AddedToken, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer as _, Tokenizer,
};

use crate::{Error, Result};

pub const PAD: &str = "<pad>";
pub const BOS: &str = "<bos>";
pub const EOS: &str = "<eos>";
pub const UNK: &str = "<unk>";

/// Which tokenizer model to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenizerKind {
    /// One id per whitespace-separated word (the text-GAN papers' setting); deterministic.
    WordLevel,
    /// Byte-pair encoding over whitespace-separated words.
    Bpe,
}

/// How text is split into words before the tokenizer model sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreTokenizer {
    /// Words and punctuation apart (`\w+|[^\w\s]+`), close to NLTK's `word_tokenize`, which
    /// Texygen and TextGAN-PyTorch use for COCO captions ("wheel." -> "wheel", ".").
    #[default]
    WordsAndPunctuation,
    /// Split on whitespace only (hashtags, mentions and emoticons stay whole).
    Whitespace,
    /// Every character a token, spaces and punctuation included (a character-level model sees
    /// the surface of a post: spelling, spacing, emoji).
    Characters,
}

/// A `tokenizers` tokenizer with the special tokens the generator needs.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    pad: u32,
    bos: u32,
    eos: u32,
}

fn tk_error(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{context}: {e}"))
}

/// Reads any `tokenizer.json` as Hugging Face `tokenizers` does. Its deserialiser panics on
/// some malformed decoder sections (`tokenizers` 0.23, found by fuzzing): the panic is a
/// one-line error naming the file here.
pub fn read_tokenizer_file(path: &Path) -> Result<Tokenizer> {
    crate::guard::guarded(path, 0, "a tokenizer file", || {
        Tokenizer::from_file(path).map_err(|e| tk_error(&path.display().to_string(), e))
    })
}

impl TextTokenizer {
    /// Trains on `texts` (already normalised). `vocab_size` counts the four special tokens.
    pub fn train<I, S>(
        texts: I,
        kind: TokenizerKind,
        pre_tokenizer: PreTokenizer,
        vocab_size: usize,
        min_frequency: u64,
    ) -> Result<Self>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
    {
        let specials: Vec<AddedToken> = [PAD, BOS, EOS, UNK]
            .iter()
            .map(|t| AddedToken::from(t.to_string(), true))
            .collect();
        let (model, mut trainer) = match kind {
            TokenizerKind::WordLevel => {
                let trainer = WordLevelTrainer::builder()
                    .vocab_size(vocab_size)
                    .min_frequency(min_frequency)
                    .special_tokens(specials)
                    .show_progress(false)
                    .build()
                    .map_err(|e| tk_error("word-level trainer", e))?;
                let model = WordLevel::builder()
                    .unk_token(UNK.to_string())
                    .build()
                    .map_err(|e| tk_error("word-level model", e))?;
                (
                    tokenizers::models::ModelWrapper::from(model),
                    TrainerWrapper::from(trainer),
                )
            }
            TokenizerKind::Bpe => {
                let trainer = BpeTrainer::builder()
                    .vocab_size(vocab_size)
                    .min_frequency(min_frequency)
                    .special_tokens(specials)
                    .show_progress(false)
                    .build();
                let model = BPE::builder()
                    .unk_token(UNK.to_string())
                    .build()
                    .map_err(|e| tk_error("BPE model", e))?;
                (
                    tokenizers::models::ModelWrapper::from(model),
                    TrainerWrapper::from(trainer),
                )
            }
        };
        let mut tokenizer = Tokenizer::new(model);
        match pre_tokenizer {
            PreTokenizer::WordsAndPunctuation => tokenizer.with_pre_tokenizer(Some(Whitespace {})),
            PreTokenizer::Whitespace => tokenizer.with_pre_tokenizer(Some(WhitespaceSplit)),
            PreTokenizer::Characters => tokenizer.with_pre_tokenizer(Some(FixedLength::new(1))),
        };
        tokenizer
            .train(&mut trainer, texts)
            .map_err(|e| tk_error("training the tokenizer", e))?;
        Self::from_tokenizer(tokenizer, Path::new("<trained>"))
    }

    /// Loads any `tokenizer.json`; it must know `<pad>`, `<bos>` and `<eos>` (socgan's own do).
    pub fn load(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "tokenizer file not found",
                ),
            });
        }
        Self::from_tokenizer(read_tokenizer_file(path)?, path)
    }

    fn from_tokenizer(inner: Tokenizer, source: &Path) -> Result<Self> {
        let id = |t: &str| {
            inner.token_to_id(t).ok_or_else(|| {
                Error::Invalid(format!(
                    "{}: tokenizer has no `{t}` token",
                    source.display()
                ))
            })
        };
        Ok(Self {
            pad: id(PAD)?,
            bos: id(BOS)?,
            eos: id(EOS)?,
            inner,
        })
    }

    /// The `tokenizer.json` text.
    pub fn to_json(&self) -> Result<String> {
        self.inner
            .to_string(true)
            .map_err(|e| tk_error("serialising the tokenizer", e))
    }

    /// Writes `tokenizer.json` (atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(socgan_io::write_atomic(path, self.to_json()?.as_bytes())?)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
    pub fn pad_id(&self) -> u32 {
        self.pad
    }
    pub fn bos_id(&self) -> u32 {
        self.bos
    }
    pub fn eos_id(&self) -> u32 {
        self.eos
    }

    /// Token ids of `text`, without special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| tk_error("encoding", e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// `seq_len` ids: the tokens (truncated to leave room for `<eos>`), `<eos>`, `<pad>`s.
    pub fn encode_fixed(&self, text: &str, seq_len: usize) -> Result<Vec<u32>> {
        let mut ids = self.encode(text)?;
        ids.truncate(seq_len.saturating_sub(1));
        ids.push(self.eos);
        ids.resize(seq_len, self.pad);
        Ok(ids)
    }

    /// `text` as a generator with this tokenizer writes a post: its words as the pre-tokenizer
    /// splits them (words and punctuation apart, or at whitespace), the first `max_words` of
    /// them, joined by single spaces; words outside the vocabulary are kept as written (they
    /// would decode as `<unk>`). Real posts rendered so compare with generated ones on their
    /// words, not on spacing.
    pub fn spaced(&self, text: &str, max_words: usize) -> Result<String> {
        let words: Vec<String> = match self.inner.get_pre_tokenizer() {
            None => text.split_whitespace().map(str::to_string).collect(),
            Some(pre) => {
                let mut split = PreTokenizedString::from(text);
                pre.pre_tokenize(&mut split)
                    .map_err(|e| tk_error("pre-tokenizing", e))?;
                split
                    .get_splits(OffsetReferential::Original, OffsetType::Byte)
                    .into_iter()
                    .map(|(word, _, _)| word.to_string())
                    .filter(|w| !w.trim().is_empty())
                    .collect()
            }
        };
        Ok(words
            .into_iter()
            .take(max_words)
            .collect::<Vec<_>>()
            .join(" "))
    }

    /// Text of `ids` up to the first `<eos>`, without padding.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let end = ids.iter().position(|&i| i == self.eos).unwrap_or(ids.len());
        let kept: Vec<u32> = ids[..end]
            .iter()
            .copied()
            .filter(|&i| i != self.pad && i != self.bos)
            .collect();
        self.inner
            .decode(&kept, false)
            .map_err(|e| tk_error("decoding", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORPUS: [&str; 5] = [
        "a cat on a mat",
        "a dog on a log",
        "the cat sat",
        "a cat and a dog",
        "zebra",
    ];

    #[test]
    fn posts_are_spaced_as_the_generator_writes_them() {
        let words = TextTokenizer::train(
            CORPUS.iter(),
            TokenizerKind::WordLevel,
            PreTokenizer::WordsAndPunctuation,
            100,
            1,
        )
        .unwrap();
        // Punctuation apart, unknown words kept as written, cut to the generator's length.
        assert_eq!(
            words.spaced("a  cat, on the moon!", 100).unwrap(),
            "a cat , on the moon !"
        );
        assert_eq!(words.spaced("a cat, on the moon!", 3).unwrap(), "a cat ,");
        let spaces = TextTokenizer::train(
            CORPUS.iter(),
            TokenizerKind::WordLevel,
            PreTokenizer::Whitespace,
            100,
            1,
        )
        .unwrap();
        assert_eq!(
            spaces.spaced(" a cat,\ton it ", 100).unwrap(),
            "a cat, on it"
        );
    }

    #[test]
    fn word_level_is_deterministic_and_round_trips_through_tokenizer_json() {
        let train = || {
            TextTokenizer::train(
                CORPUS.iter(),
                TokenizerKind::WordLevel,
                PreTokenizer::Whitespace,
                100,
                2,
            )
            .unwrap()
        };
        let (a, b) = (train(), train());
        assert_eq!(
            a.encode("a cat on a dog").unwrap(),
            b.encode("a cat on a dog").unwrap()
        );
        // min_frequency 2 drops words seen once: "zebra" is unknown.
        let unk = a.inner.token_to_id(UNK).unwrap();
        assert_eq!(a.encode("zebra").unwrap(), vec![unk]);
        let fixed = a.encode_fixed("a cat on a mat", 8).unwrap();
        assert_eq!(fixed.len(), 8);
        assert_eq!(fixed[5..], [a.eos_id(), a.pad_id(), a.pad_id()]);
        assert_eq!(a.decode(&fixed).unwrap(), format!("a cat on a {UNK}"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        a.save(&path).unwrap();
        let loaded = TextTokenizer::load(&path).unwrap();
        assert_eq!(
            loaded.encode_fixed("a dog sat", 6).unwrap(),
            a.encode_fixed("a dog sat", 6).unwrap()
        );
        assert_eq!(loaded.vocab_size(), a.vocab_size());
        // Truncation keeps room for <eos>.
        assert_eq!(
            a.encode_fixed("a cat a cat a cat", 3).unwrap(),
            [
                a.encode("a").unwrap()[0],
                a.encode("cat").unwrap()[0],
                a.eos_id()
            ]
        );
    }

    #[test]
    fn bpe_trains_and_decodes() {
        let t = TextTokenizer::train(
            CORPUS.iter(),
            TokenizerKind::Bpe,
            PreTokenizer::Whitespace,
            60,
            1,
        )
        .unwrap();
        let ids = t.encode_fixed("a cat sat", 10).unwrap();
        assert!(t
            .decode(&ids)
            .unwrap()
            .replace(' ', "")
            .starts_with("acatsat"));
    }

    #[test]
    fn words_and_punctuation_split_like_word_tokenize() {
        let t = TextTokenizer::train(
            ["a clock as the front wheel.", "a man, a plan."].iter(),
            TokenizerKind::WordLevel,
            PreTokenizer::WordsAndPunctuation,
            100,
            1,
        )
        .unwrap();
        let ids = t.encode("the wheel.").unwrap();
        assert_eq!(ids.len(), 3);
        assert_eq!(t.decode(&ids).unwrap(), "the wheel .");
    }

    #[test]
    fn characters_are_one_token_each_spaces_included() {
        let t = TextTokenizer::train(
            ["fake news!", "real 😍 news"].iter(),
            TokenizerKind::WordLevel,
            PreTokenizer::Characters,
            100,
            1,
        )
        .unwrap();
        let ids = t.encode("new 😍!").unwrap();
        assert_eq!(ids.len(), 6);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        t.save(&path).unwrap();
        let round_trip = TextTokenizer::load(&path).unwrap();
        assert_eq!(round_trip.encode("new 😍!").unwrap(), ids);
    }

    #[test]
    fn loading_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = TextTokenizer::load(&dir.path().join("none.json"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("none.json"), "{err}");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        assert!(TextTokenizer::load(&bad)
            .err()
            .unwrap()
            .to_string()
            .contains("bad.json"));
    }
}
