//! Tokenizer files (`tokenizer.json`, given as `data.tokenizer.pretrained` or saved beside a
//! run), then encoding and decoding with them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socgan_data::tokenizer::TextTokenizer;
use socgan_fuzz::{file, scratch};

fuzz_target!(|data: &[u8]| {
    socgan_fuzz::report_unguarded_panics_only();
    let dir = scratch();
    let Ok(tokenizer) = TextTokenizer::load(&file(dir.path(), "tokenizer.json", data)) else {
        return;
    };
    if let Ok(ids) = tokenizer.encode_fixed("a post, with words and <unk> tokens", 12) {
        let _ = tokenizer.decode(&ids);
    }
    let ids: Vec<u32> = (0..tokenizer.vocab_size().min(64) as u32).collect();
    let _ = tokenizer.decode(&ids);
});
