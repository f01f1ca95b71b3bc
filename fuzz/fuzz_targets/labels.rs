//! Label maps: a checkpoint's `labels.json` and TweetEval's `mapping.txt`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socgan_data::labels::LabelMap;
use socgan_data::posts::tweeteval::read_mapping;
use socgan_fuzz::{file, scratch, split_first};

fuzz_target!(|data: &[u8]| {
    socgan_fuzz::report_unguarded_panics_only();
    let (selector, rest) = split_first(data);
    let dir = scratch();
    if selector % 2 == 0 {
        let _ = LabelMap::load(&file(dir.path(), "labels.json", rest));
    } else {
        let _ = read_mapping(&file(dir.path(), "mapping.txt", rest));
    }
});
