//! Named data sets: where each is published and which files are its splits, so that
//! `socgan data download NAME` and `socgan train --dataset NAME` need no paths.
//!
//! | name | source | splits |
//! |---|---|---|
//! | `tweet_eval/<task>` | hub dataset `cardiffnlp/tweet_eval`, Parquet (`text`, `label`) | train, validation, test |
//! | `image_coco` | Texygen's COCO captions (geek-ai/Texygen at a pinned commit, git-hash checked) | train, test |
//! | `emnlp_news` | TextGAN-PyTorch's EMNLP2017 WMT News (williamSYSU/TextGAN-PyTorch at a pinned commit) | train, test |
//! | `mnist` | hub dataset `ylecun/mnist`, Parquet (`image` with PNG bytes, `label`) | train, test |
//! | `seqgan_oracle` | SeqGAN's fixed oracle (LantaoYu/SeqGAN at a pinned commit, SHA-256 checked), converted from its pickle to safetensors without executing it | oracle |
//! | `constraint_covid19` | Constraint@AAAI-2021 COVID-19 fake news, English (diptamath/covid_fake_news at a pinned commit, SHA-256 checked; CSV `id,tweet,label`, real / fake) | train, validation, test |
//!
//! Files published on GitHub come from `$SOCGAN_GITHUB_RAW` when it is set (a mirror, or a
//! loopback server in tests), else `https://raw.githubusercontent.com`.

use std::path::PathBuf;

use crate::hub::{fetch_url, Hub, HubRepo, Pin};
use crate::{Error, Result};

/// TweetEval's tasks (Barbieri et al. 2020), the configurations of `cardiffnlp/tweet_eval`.
pub const TWEET_EVAL_TASKS: [&str; 11] = [
    "emoji",
    "emotion",
    "hate",
    "irony",
    "offensive",
    "sentiment",
    "stance_abortion",
    "stance_atheism",
    "stance_climate",
    "stance_feminist",
    "stance_hillary",
];

/// Texygen at the commit the workspace's copy of the COCO captions was taken from.
const TEXYGEN: &str = "geek-ai/Texygen/3104e22ac75f3cc2070da2bf5e2da6d2bef149ad";
/// TextGAN-PyTorch at a commit whose history still holds its data files.
const TEXTGAN: &str = "williamSYSU/TextGAN-PyTorch/54a861a95d0df3c96e1415a2b9e56be804b8fa0a";
/// SeqGAN at the commit its oracle's pickle was checked at (../shared/data/seqgan_oracle).
const SEQGAN: &str = "LantaoYu/SeqGAN/e2b52fb6309851b14765290e8a972ccac09f1bec";

/// A participant's copy of the Constraint@AAAI-2021 data (../shared/data/constraint-covid19-fake-news,
/// byte-identical); the official release is gated behind CodaLab registration.
const CONSTRAINT: &str = "diptamath/covid_fake_news/030deba36d118c124709fd72d7d5f14c7bc69053";

/// Where GitHub's raw files are served from.
fn github_raw() -> String {
    std::env::var("SOCGAN_GITHUB_RAW")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "https://raw.githubusercontent.com".to_string())
}

/// Where a split's file comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum SplitSource {
    /// Files of a hub repository matching a glob (Parquet shards are concatenated in order).
    Hub { repo: HubRepo, glob: String },
    /// A file published at a URL; `pin` is what its content hashes to, when known.
    Url {
        url: String,
        pin: Option<Pin<'static>>,
    },
}

/// What a data set's downloaded files are turned into before use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    /// SeqGAN's oracle pickle, to the safetensors the oracle loads (`crate::seqgan_oracle`).
    SeqganOracle,
}

/// One named data set.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedDataset {
    pub name: String,
    /// `(split, source)`: `train` and `test` always, `validation` where published.
    pub splits: Vec<(&'static str, SplitSource)>,
    /// Column or field holding the text (`text` for Parquet and JSONL; unused for plain text), or
    /// the images of an image data set.
    pub text_field: &'static str,
    pub label_field: Option<&'static str>,
    /// What the downloaded files become, if not used as they are.
    pub conversion: Option<Conversion>,
}

/// The local files of a named data set, split by split.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetFiles {
    pub name: String,
    /// `(split, files)`; a split may be sharded into several files.
    pub splits: Vec<(String, Vec<PathBuf>)>,
    pub text_field: String,
    pub label_field: Option<String>,
}

impl DatasetFiles {
    pub fn split(&self, name: &str) -> Option<&[PathBuf]> {
        self.splits
            .iter()
            .find(|(s, _)| s == name)
            .map(|(_, f)| f.as_slice())
    }
}

/// Every name `named` knows, `tweet_eval/<task>` spelled out.
pub fn known_names() -> Vec<String> {
    let mut names: Vec<String> = TWEET_EVAL_TASKS
        .iter()
        .map(|t| format!("tweet_eval/{t}"))
        .collect();
    names.extend(
        [
            "image_coco",
            "emnlp_news",
            "mnist",
            "seqgan_oracle",
            "constraint_covid19",
        ]
        .map(str::to_string),
    );
    names
}

/// The data sets a name stands for: one, or all of a family (`tweet_eval`).
pub fn resolve(name: &str) -> Result<Vec<NamedDataset>> {
    if name == "tweet_eval" {
        return TWEET_EVAL_TASKS
            .iter()
            .map(|t| named(&format!("tweet_eval/{t}")))
            .collect();
    }
    Ok(vec![named(name)?])
}

/// One named data set.
pub fn named(name: &str) -> Result<NamedDataset> {
    if let Some(task) = name.strip_prefix("tweet_eval/") {
        if !TWEET_EVAL_TASKS.contains(&task) {
            return Err(Error::Invalid(format!(
                "unknown TweetEval task `{task}` (tasks: {})",
                TWEET_EVAL_TASKS.join(", ")
            )));
        }
        let repo = HubRepo::dataset("cardiffnlp/tweet_eval");
        let split = |split: &'static str| {
            (
                split,
                SplitSource::Hub {
                    repo: repo.clone(),
                    glob: format!("{task}/{split}-*.parquet"),
                },
            )
        };
        return Ok(NamedDataset {
            name: name.to_string(),
            splits: vec![split("train"), split("validation"), split("test")],
            text_field: "text",
            label_field: Some("label"),
            conversion: None,
        });
    }
    let raw = github_raw();
    let url = |repo: &str, path: &str, pin| SplitSource::Url {
        url: format!("{raw}/{repo}/{path}"),
        pin,
    };
    match name {
        // The git blob ids are those of ../shared/data/image_coco/SOURCE.md.
        "image_coco" => Ok(NamedDataset {
            name: name.to_string(),
            splits: vec![
                (
                    "train",
                    url(
                        TEXYGEN,
                        "data/image_coco.txt",
                        Some(Pin::GitSha1("f858bc9262633a0630108c03f67ee139dd30e778")),
                    ),
                ),
                (
                    "test",
                    url(
                        TEXYGEN,
                        "data/testdata/test_coco.txt",
                        Some(Pin::GitSha1("07d2f7fe20946c9483d2f06fec8367ae7e0839d3")),
                    ),
                ),
            ],
            text_field: "text",
            label_field: None,
            conversion: None,
        }),
        // Not pinned by hash: no copy was available to hash when this entry was written.
        "emnlp_news" => Ok(NamedDataset {
            name: name.to_string(),
            splits: vec![
                ("train", url(TEXTGAN, "dataset/emnlp_news.txt", None)),
                (
                    "test",
                    url(TEXTGAN, "dataset/testdata/emnlp_news_test.txt", None),
                ),
            ],
            text_field: "text",
            label_field: None,
            conversion: None,
        }),
        // MNIST as the hub publishes it: Parquet, the PNG of each digit in an `image` struct.
        "mnist" => {
            let repo = HubRepo::dataset("ylecun/mnist");
            let split = |split: &'static str| {
                (
                    split,
                    SplitSource::Hub {
                        repo: repo.clone(),
                        glob: format!("mnist/{split}-*.parquet"),
                    },
                )
            };
            Ok(NamedDataset {
                name: name.to_string(),
                splits: vec![split("train"), split("test")],
                text_field: "image",
                label_field: Some("label"),
                conversion: None,
            })
        }
        // The oracle behind the published synthetic-data tables (1,334,000 bytes).
        "seqgan_oracle" => Ok(NamedDataset {
            name: name.to_string(),
            splits: vec![(
                "oracle",
                url(
                    SEQGAN,
                    "save/target_params_py3.pkl",
                    Some(Pin::Sha256(
                        "5ac794a695dd6e0eb2bb689f3dfda55e4e0053e8c0399e6242630a95f1e60e8a",
                    )),
                ),
            )],
            text_field: "text",
            label_field: None,
            conversion: Some(Conversion::SeqganOracle),
        }),
        // The fake-news shared task's English splits; the licence is unstated (research use).
        "constraint_covid19" => {
            let split = |split: &'static str, file: &str, sha256: &'static str| {
                (
                    split,
                    url(
                        CONSTRAINT,
                        &format!("data/{file}"),
                        Some(Pin::Sha256(sha256)),
                    ),
                )
            };
            Ok(NamedDataset {
                name: name.to_string(),
                splits: vec![
                    split(
                        "train",
                        "Constraint_Train.csv",
                        "441f3985bb76eb69d1e488cf292f80add96c4dddfa43ba7c060889607837ddce",
                    ),
                    split(
                        "validation",
                        "Constraint_Val.csv",
                        "c610931d0641fe1d9b9495c453f99ae7aa45bf294c7db6333ec84ecebb0b6c3c",
                    ),
                    split(
                        "test",
                        "english_test_with_labels.csv",
                        "7152fc681884a22013218c5dd9a73c6fd99d4b084705723e1e49d18c97ca8281",
                    ),
                ],
                text_field: "tweet",
                label_field: Some("label"),
                conversion: None,
            })
        }
        other => Err(Error::Invalid(format!(
            "unknown data set `{other}` (known: tweet_eval, {})",
            known_names().join(", ")
        ))),
    }
}

impl NamedDataset {
    /// The split files: from the cache, downloaded where missing unless `hub` is offline.
    /// URL-published files go to `<hub cache>/socgan--urls/<name>/`.
    pub fn fetch(&self, hub: &Hub) -> Result<DatasetFiles> {
        let mut splits = Vec::new();
        for (split, source) in &self.splits {
            let files = match source {
                SplitSource::Hub { repo, glob } => {
                    // Offline, the listing comes from the cached snapshot.
                    hub.fetch_matching(repo, Some(glob))?
                }
                SplitSource::Url { url, pin } => {
                    let file_name = url.rsplit('/').next().unwrap_or("data.txt");
                    let dest = hub
                        .cache_dir()
                        .join("socgan--urls")
                        .join(self.name.replace('/', "--"))
                        .join(file_name);
                    vec![fetch_url(url, &dest, *pin, hub.is_offline())?]
                }
            };
            let files = match self.conversion {
                None => files,
                Some(Conversion::SeqganOracle) => files
                    .iter()
                    .map(|pickle| {
                        let dest = pickle.with_file_name(crate::seqgan_oracle::SAFETENSORS_NAME);
                        if !dest.is_file() {
                            crate::seqgan_oracle::convert(pickle, &dest)?;
                        }
                        Ok(dest)
                    })
                    .collect::<Result<Vec<_>>>()?,
            };
            splits.push((split.to_string(), files));
        }
        Ok(DatasetFiles {
            name: self.name.clone(),
            splits,
            text_field: self.text_field.to_string(),
            label_field: self.label_field.map(str::to_string),
        })
    }
}

/// What `--dataset NAME_OR_PATH` trains on.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingFiles {
    /// The data set's name or the file's path, as given.
    pub name: String,
    pub train: Vec<PathBuf>,
    pub validation: Option<Vec<PathBuf>>,
    /// `None` for a single file: the run holds part of it out.
    pub test: Option<Vec<PathBuf>>,
    pub text_field: String,
    pub label_field: Option<String>,
}

/// The files behind `--dataset`: an existing file (then no test split: the run holds one out),
/// or a named data set from the cache only (training never downloads; a missing one says how to
/// get it).
pub fn training_files(name_or_path: &str) -> Result<TrainingFiles> {
    let path = PathBuf::from(name_or_path);
    if path.exists() {
        if path.is_dir() {
            return Err(Error::Invalid(format!(
                "{}: a directory; pass a file (text, CSV/TSV, JSONL, Parquet) or a data set name",
                path.display()
            )));
        }
        return Ok(TrainingFiles {
            name: name_or_path.to_string(),
            train: vec![path],
            validation: None,
            test: None,
            text_field: "text".to_string(),
            label_field: None,
        });
    }
    let dataset = named(name_or_path).map_err(|_| {
        Error::Invalid(format!(
            "--dataset `{name_or_path}`: no such file, and not a data set name (known: {})",
            known_names().join(", ")
        ))
    })?;
    let files = dataset.fetch(&Hub::from_env()?.offline(true)).map_err(|e| {
        Error::Invalid(format!(
            "{e} (download it first: `socgan data download {name_or_path}`, or `cargo xtask download {}`)",
            name_or_path.split('/').next().unwrap_or(name_or_path)
        ))
    })?;
    let split = |s: &str| files.split(s).map(<[PathBuf]>::to_vec);
    let train =
        split("train").ok_or_else(|| Error::Invalid(format!("{name_or_path}: no train split")))?;
    Ok(TrainingFiles {
        name: name_or_path.to_string(),
        train,
        validation: split("validation"),
        test: split("test"),
        text_field: files.text_field.clone(),
        label_field: files.label_field.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve() {
        assert_eq!(resolve("tweet_eval").unwrap().len(), 11);
        let emotion = named("tweet_eval/emotion").unwrap();
        assert_eq!(emotion.splits.len(), 3);
        assert!(
            matches!(&emotion.splits[0].1, SplitSource::Hub { glob, .. } if glob == "emotion/train-*.parquet")
        );
        let err = named("tweet_eval/nope").unwrap_err().to_string();
        assert!(err.contains("unknown TweetEval task `nope`"), "{err}");
        assert!(named("image_coco").is_ok());
        let err = named("coco").unwrap_err().to_string();
        assert!(err.contains("image_coco"), "{err}");
    }
}
