//! `socgan data fetch` (files of any hub repository) and `socgan data download` (named data
//! sets).

use anyhow::Result;
use socgan_data::datasets;
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
