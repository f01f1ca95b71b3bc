//! `socgan data ...`: what a corpus holds, hub downloads, corpus encoding (the work is
//! `socgan_data`'s; model crates add their own data commands, such as `embed`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use socgan_data::corpus::{self, EncodeOptions};
use socgan_data::datasets;
use socgan_data::hub::{Hub, HubRepo};
use socgan_data::tokenizer::{PreTokenizer, TokenizerKind};

#[derive(Subcommand)]
pub enum DataCommand {
    /// Posts, tokens, vocabulary, length histogram and top tokens of a corpus file.
    Stats {
        file: PathBuf,
        /// Column (CSV/TSV) or field (JSONL) holding the text.
        #[arg(long, default_value = "text")]
        text_field: String,
        #[arg(long)]
        lossy: bool,
        /// How many of the most frequent tokens to list.
        #[arg(long, default_value_t = 20)]
        top: usize,
        #[arg(long)]
        json: bool,
    },
    /// Files of a Hugging Face hub repository into the hub cache ($HF_HOME, $HF_ENDPOINT); prints
    /// their local paths.
    Fetch {
        /// OWNER/NAME of a data set (or of a model, with --model).
        repo: String,
        #[arg(long, default_value = "main")]
        revision: String,
        /// Only files matching this glob, e.g. `emotion/*.parquet`.
        #[arg(long)]
        include: Option<String>,
        #[arg(long)]
        model: bool,
        /// Use the cache only; say what is missing.
        #[arg(long)]
        offline: bool,
    },
    /// Train a tokenizer on a corpus and encode every post to fixed-length ids, streaming (a
    /// corpus larger than memory works); writes OUT/tokenizer.json and OUT/ids.txt.
    Tokenize {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Column (CSV/TSV, Parquet) or field (JSONL) holding the text.
        #[arg(long, default_value = "text")]
        text_field: String,
        #[arg(long)]
        lossy: bool,
        #[arg(long, value_enum, default_value = "word-level")]
        kind: TokenizerKindArg,
        /// Split on whitespace only (default: words and punctuation apart).
        #[arg(long)]
        whitespace: bool,
        #[arg(long, default_value_t = 30_000)]
        vocab_size: usize,
        #[arg(long, default_value_t = 1)]
        min_frequency: u64,
        /// Encode with this tokenizer.json instead of training one.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// Ids per post: tokens, <eos>, <pad>s (longer posts are cut).
        #[arg(long, default_value_t = 40)]
        seq_len: usize,
    },
    /// Named data sets (tweet_eval, tweet_eval/<task>, image_coco, emnlp_news, mnist,
    /// seqgan_oracle, constraint_covid19) into the cache.
    Download {
        #[arg(required = true)]
        names: Vec<String>,
        /// Use the cache only; say what is missing.
        #[arg(long)]
        offline: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TokenizerKindArg {
    WordLevel,
    Bpe,
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Stats {
            file,
            text_field,
            lossy,
            top,
            json,
        } => {
            let stats = corpus::stats(&file, &text_field, lossy, top)?;
            if json {
                println!("{}", serde_json::to_string(&stats)?);
            } else {
                print!("{}", stats.report());
            }
        }
        DataCommand::Fetch {
            repo,
            revision,
            include,
            model,
            offline,
        } => {
            let hub_repo = if model {
                HubRepo::model(&repo)
            } else {
                HubRepo::dataset(&repo)
            }
            .at_revision(&revision);
            let hub = Hub::from_env()?.offline(offline).progress(!offline);
            for path in hub.fetch_matching(&hub_repo, include.as_deref())? {
                println!("{}", path.display());
            }
        }
        DataCommand::Download { names, offline } => {
            let hub = Hub::from_env()?.offline(offline).progress(!offline);
            for name in &names {
                for dataset in datasets::resolve(name)? {
                    let files = dataset.fetch(&hub)?;
                    for (split, paths) in &files.splits {
                        for path in paths {
                            println!("{}\t{split}\t{}", files.name, path.display());
                        }
                    }
                }
            }
        }
        DataCommand::Tokenize {
            file,
            out,
            text_field,
            lossy,
            kind,
            whitespace,
            vocab_size,
            min_frequency,
            tokenizer,
            seq_len,
        } => {
            let options = EncodeOptions {
                text_field: &text_field,
                lossy,
                kind: match kind {
                    TokenizerKindArg::WordLevel => TokenizerKind::WordLevel,
                    TokenizerKindArg::Bpe => TokenizerKind::Bpe,
                },
                pre_tokenizer: if whitespace {
                    PreTokenizer::Whitespace
                } else {
                    PreTokenizer::WordsAndPunctuation
                },
                vocab_size,
                min_frequency,
                pretrained: tokenizer.as_deref(),
                seq_len,
            };
            let done = corpus::encode(&file, &out, &options)?;
            println!(
                "{}: {} posts encoded to {seq_len} ids each ({} empty skipped; vocabulary {}) -> {}",
                file.display(),
                done.rows,
                done.skipped,
                done.vocab_size,
                done.ids_path.display()
            );
            if done.replaced_invalid_utf8 > 0 {
                eprintln!(
                    "socgan: {}: replaced invalid UTF-8 in {} posts",
                    file.display(),
                    done.replaced_invalid_utf8
                );
            }
        }
    }
    Ok(())
}
