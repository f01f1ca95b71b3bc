//! `socgan data fetch` (files of any hub repository) and `socgan data download` (named data
//! sets), and resolving `train --dataset NAME` from the cache.

use std::path::PathBuf;

use anyhow::{bail, Result};
use socgan_data::datasets::{self, DatasetFiles};
use socgan_data::hub::{Hub, HubRepo};

/// `socgan data fetch REPO`: downloads (or finds in the cache) the files of `repo` matching
/// `include`, printing one local path per line.
pub fn fetch(
    repo: &str,
    revision: &str,
    include: Option<&str>,
    model: bool,
    offline: bool,
) -> Result<()> {
    let hub_repo = if model {
        HubRepo::model(repo)
    } else {
        HubRepo::dataset(repo)
    }
    .at_revision(revision);
    let hub = Hub::from_env()?.offline(offline).progress(!offline);
    for path in hub.fetch_matching(&hub_repo, include)? {
        println!("{}", path.display());
    }
    Ok(())
}

/// `socgan data download NAME...`: every split of each named data set into the cache.
pub fn download(names: &[String], offline: bool) -> Result<()> {
    let hub = Hub::from_env()?.offline(offline).progress(!offline);
    for name in names {
        for dataset in datasets::resolve(name)? {
            let files = dataset.fetch(&hub)?;
            for (split, paths) in &files.splits {
                for path in paths {
                    println!("{}\t{split}\t{}", files.name, path.display());
                }
            }
        }
    }
    Ok(())
}

/// The train and test files of a named data set, from the cache only (training never
/// downloads): a missing one says how to get it.
pub fn cached_dataset(name: &str) -> Result<DatasetFiles> {
    let dataset = datasets::named(name)?;
    let hub = Hub::from_env()?.offline(true);
    dataset.fetch(&hub).map_err(|e| {
        anyhow::anyhow!(
            "{e} (download it first: `socgan data download {name}`, or `cargo xtask download {}`)",
            name.split('/').next().unwrap_or(name)
        )
    })
}

/// `(train, test, text_field)` for `--dataset`: a named data set's train and test splits, or a
/// file (then the test set is held out from it, see `DataConfig::Text`).
pub fn dataset_files(name_or_path: &str) -> Result<(Vec<PathBuf>, Option<Vec<PathBuf>>, String)> {
    let path = PathBuf::from(name_or_path);
    if path.exists() {
        if path.is_dir() {
            bail!(
                "{}: a directory; pass a file (text, CSV/TSV, JSONL, Parquet) or a data set name",
                path.display()
            );
        }
        return Ok((vec![path], None, "text".to_string()));
    }
    if datasets::named(name_or_path).is_err() {
        bail!(
            "--dataset `{name_or_path}`: no such file, and not a data set name (known: {})",
            datasets::known_names().join(", ")
        );
    }
    let files = cached_dataset(name_or_path)?;
    let split = |s: &str| files.split(s).map(<[PathBuf]>::to_vec);
    let Some(train) = split("train") else {
        bail!("{name_or_path}: no train split");
    };
    Ok((train, split("test"), files.text_field.clone()))
}
