//! Every post reader: text lines, CSV, TSV, JSONL, Parquet, TweetEval's paired files, GAN-BERT's
//! label-first files, each plain and with labels, strict and lossy UTF-8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socgan_data::labels::LabelledPosts;
use socgan_data::posts::{Normalizer, PostFormat, PostReader, ReadOptions};
use socgan_fuzz::{file, scratch, split_first, two_parts};

fuzz_target!(|data: &[u8]| {
    socgan_fuzz::report_unguarded_panics_only();
    let (selector, rest) = split_first(data);
    let dir = scratch();
    let options = ReadOptions {
        lossy: selector & 0x80 != 0,
    };
    let labelled = selector & 0x40 != 0;
    let label = labelled.then_some("label");
    let (path, format) = match selector % 7 {
        0 => (file(dir.path(), "posts.txt", rest), PostFormat::Lines),
        1 => {
            let p = file(dir.path(), "posts.csv", rest);
            let f = PostFormat::for_path(&p, "text", label);
            (p, f)
        }
        2 => {
            let p = file(dir.path(), "posts.tsv", rest);
            let f = PostFormat::for_path(&p, "text", label);
            (p, f)
        }
        3 => {
            let p = file(dir.path(), "posts.jsonl", rest);
            let f = PostFormat::for_path(&p, "text", label);
            (p, f)
        }
        4 => {
            let p = file(dir.path(), "posts.parquet", rest);
            let f = PostFormat::for_path(&p, "text", label);
            (p, f)
        }
        5 => {
            let (texts, labels) = two_parts(rest);
            let (labels, mapping) = two_parts(labels);
            file(dir.path(), "train_labels.txt", labels);
            if !mapping.is_empty() {
                file(dir.path(), "mapping.txt", mapping);
            }
            (file(dir.path(), "train_text.txt", texts), PostFormat::TweetEval)
        }
        _ => (file(dir.path(), "labeled.tsv", rest), PostFormat::LabelFirst),
    };
    if format.has_labels() {
        let _ = LabelledPosts::read(&path, &format, options, &Normalizer::default(), None);
    } else if let Ok(reader) = PostReader::open(&path, &format, options) {
        for post in reader {
            if post.is_err() {
                break;
            }
        }
    }
});
