//! Interaction logs: SASRec's `user item` lines, CSV, TSV, JSONL and Parquet with columns by name,
//! then the k-core, the id maps and the leave-one-out split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socgan_data::interactions::{read_log, InteractionLog, KCore, LeaveOneOut, LogColumns, LogFormat};
use socgan_fuzz::{file, scratch, split_first};

fuzz_target!(|data: &[u8]| {
    socgan_fuzz::report_unguarded_panics_only();
    let (selector, rest) = split_first(data);
    let dir = scratch();
    let columns = LogColumns {
        timestamp: (selector & 0x40 != 0).then(|| "ts".to_string()),
        action: (selector & 0x20 != 0).then(|| "action".to_string()),
        ..LogColumns::new("user", "item")
    };
    let name = ["log.txt", "log.csv", "log.tsv", "log.jsonl", "log.parquet", "ratings.csv"]
        [usize::from(selector % 6)];
    let path = file(dir.path(), name, rest);
    let given = (name != "ratings.csv").then_some(columns);
    let Ok(format) = LogFormat::for_path(&path, given) else {
        return;
    };
    let Ok(interactions) = read_log(&path, &format, selector & 0x80 != 0) else {
        return;
    };
    let kcore = KCore {
        min_user_interactions: usize::from(selector & 3),
        min_item_interactions: usize::from((selector >> 2) & 3),
    };
    let actions = (selector & 0x20 != 0).then(|| vec!["click".to_string()]);
    if let Ok(log) = InteractionLog::build(interactions, kcore, actions.as_deref()) {
        let split = LeaveOneOut::new(&log);
        let _ = split.num_users();
    }
});
