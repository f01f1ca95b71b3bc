//! `socgan data render`: real posts as a text run's generator writes its samples (the run's
//! normalisation, its tokenizer's word split, its length; words spaced). A detector or an audit
//! that compares generated posts with real ones then sees their words, not the spacing and case
//! the generator could never reproduce.

use std::path::PathBuf;

use candle_core::Device;
use clap::Args;
use gan_core::{Checkpoint, Pick, RunConfig};
use socgan_data::posts::{PostFormat, PostReader, ReadOptions};
use socgan_data::tokenizer::TextTokenizer;

use crate::experiment::config::{DataConfig, TextGanConfig};
use crate::experiment::train::checkpoint_tokenizer;
use crate::{Error, Result};

#[derive(Args)]
pub struct RenderArgs {
    /// A text run (its folder or a checkpoint folder) whose normalisation and tokenizer apply.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The posts: one per line, or .csv/.tsv/.jsonl/.parquet with --text-field.
    #[arg(long)]
    input: PathBuf,
    /// Column (CSV/TSV, Parquet) or field (JSONL) holding the text.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Where the posts go, one per line (written atomically); standard output without it.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Replace invalid UTF-8 instead of failing.
    #[arg(long)]
    lossy: bool,
}

/// Renders every post of `args.input`, in order.
pub fn run(args: RenderArgs, device: &Device) -> Result<()> {
    let ckpt = Checkpoint::load_pick(&args.checkpoint, Pick::Latest, device)?;
    let config = TextGanConfig::from_checkpoint(&ckpt)?;
    let DataConfig::Text { normalize, .. } = &config.data else {
        return Err(Error::Config(format!(
            "{}: an oracle run has no text to render posts with",
            ckpt.dir.display()
        )));
    };
    let tokenizer_path = checkpoint_tokenizer(&ckpt)
        .ok_or_else(|| Error::Config(format!("{}: no tokenizer.json", ckpt.dir.display())))?;
    let tokenizer = TextTokenizer::load(&tokenizer_path)?;
    // The generator writes at most seq_len - 1 words (the last place is `<eos>`'s).
    let max_words = config.generator.seq_len.saturating_sub(1);
    let format = PostFormat::for_path(&args.input, &args.text_field, None);
    let options = ReadOptions { lossy: args.lossy };
    let mut out = String::new();
    for post in PostReader::open(&args.input, &format, options)? {
        out.push_str(&tokenizer.spaced(&normalize.apply(&post?.text), max_words)?);
        out.push('\n');
    }
    match &args.output {
        Some(path) => socgan_io::write_atomic(path, out.as_bytes())?,
        None => print!("{out}"),
    }
    Ok(())
}
