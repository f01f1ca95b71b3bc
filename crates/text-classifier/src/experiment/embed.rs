//! `socgan data embed`: the sentence vectors of every post of a file from a pretrained encoder,
//! one JSON line each (`{"embedding": [...]}`), in input order. The text is read as it is in the
//! file (no social-media normalisation), so the vectors compare with
//! `SentenceTransformer.encode` on the same strings.

use std::path::Path;

use gan_core::checkpoint::write_atomic;
use socgan_data::posts::{PostFormat, PostReader, ReadOptions};

use crate::encoder::{MiniLm, MiniLmConfig};
use crate::experiment::train::device;
use crate::Result;

pub fn embed_file(
    input: &Path,
    text_field: &str,
    lossy: bool,
    model: &str,
    output: Option<&Path>,
) -> Result<()> {
    let format = PostFormat::for_path(input, text_field, None);
    let mut texts = Vec::new();
    for post in PostReader::open(input, &format, ReadOptions { lossy })? {
        texts.push(post?.text);
    }
    let config = MiniLmConfig {
        model: model.to_string(),
        ..MiniLmConfig::default()
    };
    let encoder = MiniLm::load(&config, &device()?)?;
    let vectors = encoder.embed(&texts, |_| {})?;
    let mut out = String::new();
    for row in vectors.chunks_exact(encoder.dim) {
        out.push_str(&serde_json::json!({ "embedding": row }).to_string());
        out.push('\n');
    }
    match output {
        Some(path) => write_atomic(path, out.as_bytes())?,
        None => print!("{out}"),
    }
    Ok(())
}
