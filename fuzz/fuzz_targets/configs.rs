//! Run configs: TOML text with `--set` overrides, read as every model crate's config.
#![no_main]

use gan_core::config::ConfigTable;
use gan_core::RunConfig;
use libfuzzer_sys::fuzz_target;
use socgan_fuzz::two_parts;

fuzz_target!(|data: &[u8]| {
    socgan_fuzz::report_unguarded_panics_only();
    let (text, overrides) = two_parts(data);
    let text = String::from_utf8_lossy(text);
    let Ok(table) = ConfigTable::parse(&text, "fuzz.toml") else {
        return;
    };
    let overrides: Vec<String> = String::from_utf8_lossy(overrides)
        .split('\n')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let Ok(table) = table.with_overrides(&overrides) else {
        return;
    };
    let _ = table.task();
    if let Ok(c) = text_models::experiment::config::TextGanConfig::from_table(table.clone()) {
        let _ = c.to_toml();
    }
    let _ = image_models::experiment::config::ImageGanConfig::from_table(table.clone());
    let _ = text_classifier::experiment::config::ClassifierConfig::from_table(table.clone());
    let _ = behaviour::experiment::config::BehaviourConfig::from_table(table.clone());
    let _ = behaviour::experiment::gan::BehaviourGanConfig::from_table(table.clone());
    let _ = ring_gan::experiment::config::RingGanConfig::from_table(table);
});
