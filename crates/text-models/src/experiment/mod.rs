//! The text GAN experiment: what `socgan train / generate / eval / bench` do for a run whose
//! config says `task = "text_gan"` (MLE, SeqGAN, RelGAN on the synthetic oracle or on real
//! text). The binary parses its own flags, includes [`args`], and dispatches here.

pub mod args;
pub mod bench;
pub mod config;
pub mod data;
mod eval;
mod generate;
pub mod posts;
pub mod quality_diversity;
mod train;

use std::path::Path;

use socgan_data::tokenizer::TextTokenizer;
use socgan_data::TokenSequences;

use crate::Result;

pub use eval::eval;
pub use generate::generate;
pub use train::train;

/// The task tag of text GAN configs and checkpoints.
pub const TASK: &str = "text_gan";

/// Writes samples as text (decoded) for a text run, as ids otherwise; to `output` atomically, or
/// to standard output.
pub fn write_samples(
    samples: &TokenSequences,
    tokenizer: Option<&TextTokenizer>,
    output: Option<&Path>,
) -> Result<()> {
    let mut out = String::new();
    for row in samples.rows() {
        match tokenizer {
            Some(tok) => out.push_str(&tok.decode(row)?),
            None => out.push_str(
                &row.iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        }
        out.push('\n');
    }
    match output {
        Some(path) => gan_core::checkpoint::write_atomic(path, out.as_bytes())?,
        None => print!("{out}"),
    }
    Ok(())
}
