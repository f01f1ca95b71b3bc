//! Reading a classifier run's posts: labelled training, validation and test posts under one
//! label map, the few-label cut of the training and validation posts, and unlabelled posts.

use std::path::Path;

use socgan_data::labels::{LabelMap, LabelledPosts};
use socgan_data::posts::{PostFormat, PostReader, ReadOptions};

use crate::experiment::config::{ClassifierConfig, ClassifierData, FileLayout};
use crate::experiment::sources::{with_sources, Split};
use crate::{Error, Result};

/// The posts of a run.
pub struct RunPosts {
    /// Training posts whose labels are kept.
    pub labelled: LabelledPosts,
    /// Training posts whose labels were dropped, then the unlabelled file's posts.
    pub unlabelled: Vec<String>,
    pub validation: Option<LabelledPosts>,
    pub test: LabelledPosts,
    /// Each test post's source, when the run names a source column.
    pub test_sources: Option<Vec<String>>,
    pub map: LabelMap,
    /// Every training text (file order, before the cut), then the unlabelled file's: the pool a
    /// frozen encoder computes (and caches) once for every fraction and seed.
    pub train_pool: Vec<String>,
    /// Every validation text before the cut.
    pub validation_pool: Option<Vec<String>>,
    /// Posts per class in the whole training file (before the labelled cut).
    pub train_class_counts: Vec<usize>,
}

/// The reader format of one of the run's files.
pub fn format_of(data: &ClassifierData, path: &Path) -> PostFormat {
    match data.layout {
        FileLayout::LabelFirst => PostFormat::LabelFirst,
        FileLayout::Auto => match data.delimiter {
            Some(d) => PostFormat::delimited(d as u8, &data.text_field, Some(&data.label_field)),
            None => PostFormat::for_path(path, &data.text_field, Some(&data.label_field)),
        },
    }
}

/// The label map: TweetEval's `mapping.txt` beside the training file, else every label found in
/// the labelled files (the label inventory; a class only the test file names is still a class
/// the classifier must be able to output, as GAN-BERT's fixed label list has it).
fn label_map(config: &ClassifierConfig) -> Result<LabelMap> {
    let data = &config.data;
    if let Some(map) = LabelMap::beside(&data.train)? {
        return Ok(map);
    }
    let mut labels = Vec::new();
    for path in [
        Some(&data.train),
        data.validation.as_ref(),
        Some(&data.test),
    ]
    .into_iter()
    .flatten()
    {
        let format = format_of(data, path);
        if !format.has_labels() {
            return Err(Error::file(
                path,
                format!("no labels in this file: name the label column or field (data.label_field, now `{}`)", data.label_field),
            ));
        }
        for post in PostReader::open(path, &format, options(data))? {
            labels.push(post?.label.unwrap_or_default());
        }
    }
    Ok(LabelMap::infer(labels.iter().map(String::as_str))?)
}

fn options(data: &ClassifierData) -> ReadOptions {
    ReadOptions { lossy: data.lossy }
}

fn read_labelled(config: &ClassifierConfig, path: &Path, map: &LabelMap) -> Result<LabelledPosts> {
    let data = &config.data;
    Ok(LabelledPosts::read(
        path,
        &format_of(data, path),
        options(data),
        &config.normalize,
        Some(map),
    )?)
}

/// Texts of an unlabelled file (any labels in it are ignored).
pub fn read_texts(config: &ClassifierConfig, path: &Path) -> Result<Vec<String>> {
    let data = &config.data;
    let format = match data.layout {
        FileLayout::LabelFirst => PostFormat::LabelFirst,
        FileLayout::Auto => match data.delimiter {
            Some(d) => PostFormat::delimited(d as u8, &data.text_field, None),
            None => PostFormat::for_path(path, &data.text_field, None),
        },
    };
    let mut texts = Vec::new();
    for post in PostReader::open(path, &format, options(data))? {
        texts.push(config.normalize.apply(&post?.text));
    }
    Ok(texts)
}

/// Reads every file of the run and makes the few-label cut (drawn with the run seed).
pub fn read_posts(config: &ClassifierConfig) -> Result<RunPosts> {
    let data = &config.data;
    let map = label_map(config)?;
    let positive = config.positive_class_index(map.names())? as u32;
    // Leave-one-source-out cuts each file as it is read (sources.rs).
    let read = |path: &Path, split: Split| {
        let posts = read_labelled(config, path, &map)?;
        with_sources(config, path, posts, split, positive)
    };
    let (train, _) = read(&data.train, Split::Fitting)?;
    if train.is_empty() {
        return Err(Error::file(&data.train, "no training posts"));
    }
    let (test, test_sources) = read(&data.test, Split::Test)?;
    let validation = data
        .validation
        .as_ref()
        .map(|p| read(p, Split::Fitting).map(|(posts, _)| posts))
        .transpose()?;
    if test.is_empty() {
        return Err(Error::file(&data.test, "no test posts"));
    }
    let fraction = config.labelled_fraction;
    let train_class_counts = train.class_counts();
    let mut train_pool = train.texts.clone();
    let validation_pool = validation.as_ref().map(|v| v.texts.clone());
    let (labelled, mut unlabelled, validation) = if fraction < 1.0 {
        let (labelled, rest) = train.labelled_fraction(fraction, config.seed)?;
        let validation = validation
            .map(|v| {
                v.stratified_split(fraction, config.seed, "validation-fraction")
                    .map(|(kept, _)| kept)
            })
            .transpose()?;
        (labelled, rest, validation)
    } else {
        (train, Vec::new(), validation)
    };
    if let Some(path) = &data.unlabelled {
        let extra = read_texts(config, path)?;
        train_pool.extend(extra.iter().cloned());
        unlabelled.extend(extra);
    }
    if let (Some(v), Some(path)) = (&validation, &data.validation) {
        if v.is_empty() {
            return Err(Error::file(
                path,
                format!(
                    "no validation posts left at {}% of the labels; raise the fraction or drop the validation file",
                    fraction * 100.0
                ),
            ));
        }
    }
    Ok(RunPosts {
        labelled,
        unlabelled,
        validation,
        test,
        test_sources,
        map,
        train_class_counts,
        train_pool,
        validation_pool,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gan_core::config::ConfigTable;
    use gan_core::RunConfig;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn config(dir: &Path, extra: &str) -> gan_core::Result<ClassifierConfig> {
        let text = format!(
            "task = \"text_classifier\"\nout_dir = \"runs/x\"\n{extra}\n[data]\ntrain = {:?}\ntest = {:?}\n",
            dir.join("train.csv"),
            dir.join("test.csv")
        );
        ClassifierConfig::from_table(ConfigTable::parse(&text, "t.toml")?)
    }

    #[test]
    fn labels_are_checked_against_one_map_and_the_fraction_cuts_per_class() {
        let dir = tempfile::tempdir().unwrap();
        let rows: String = (0..40)
            .map(|i| format!("post number {i},{}\n", ["pos", "neg"][i % 2]))
            .collect();
        write(dir.path(), "train.csv", &format!("text,label\n{rows}"));
        write(dir.path(), "test.csv", "text,label\ngood,pos\nbad,neg\n");
        let posts = read_posts(&config(dir.path(), "labelled_fraction = 0.25").unwrap()).unwrap();
        assert_eq!(posts.labelled.class_counts(), vec![5, 5]);
        assert_eq!(posts.unlabelled.len(), 30);
        assert_eq!(posts.map.names(), ["neg", "pos"]);

        // A test label the training data never uses is still a class (the inventory).
        write(
            dir.path(),
            "test.csv",
            "text,label\ngood,pos\nmeh,neutral\n",
        );
        let posts = read_posts(&config(dir.path(), "").unwrap()).unwrap();
        assert_eq!(posts.map.num_classes(), 3);

        // A class with no labelled post at the fraction is one clear error.
        write(dir.path(), "test.csv", "text,label\ngood,pos\nbad,neg\n");
        write(
            dir.path(),
            "train.csv",
            &format!("text,label\n{rows}rare one,odd\n"),
        );
        let err = read_posts(&config(dir.path(), "labelled_fraction = 0.1").unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("class `odd` has no labelled post"), "{err}");
    }

    #[test]
    fn leave_one_source_out_trains_without_it_and_tests_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let rows = |n: usize| -> String {
            (0..n)
                .map(|i| {
                    let source = ["human", "mle", "seqgan"][i % 3];
                    let label = if source == "human" { "real" } else { "machine" };
                    format!("post {i},{label},{source}\n")
                })
                .collect()
        };
        write(
            dir.path(),
            "train.csv",
            &format!("text,label,source\n{}", rows(30)),
        );
        write(
            dir.path(),
            "test.csv",
            &format!("text,label,source\n{}", rows(12)),
        );
        let detection = |extra: &str| {
            format!(
                "detection = {{ positive_class = \"machine\", source_field = \"source\"{extra} }}"
            )
        };
        let posts = read_posts(&config(dir.path(), &detection("")).unwrap()).unwrap();
        assert_eq!((posts.labelled.len(), posts.test.len()), (30, 12));
        let held_out = detection(", held_out_source = \"seqgan\"");
        let posts = read_posts(&config(dir.path(), &held_out).unwrap()).unwrap();
        // Training: no seqgan post; test: seqgan's 4 and the 4 human posts, not mle's.
        assert_eq!(posts.labelled.len(), 20);
        assert_eq!(posts.test.len(), 8);
        assert_eq!(posts.test.class_counts(), vec![4, 4]);
        let typo = detection(", held_out_source = \"segan\"");
        let err = read_posts(&config(dir.path(), &typo).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("test.csv")
                && err.contains("no post of the held-out source `segan`")
                && err.contains("human, mle, seqgan"),
            "{err}"
        );
        let missing = "detection = { positive_class = \"machine\", source_field = \"bot\" }";
        let err = read_posts(&config(dir.path(), missing).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("bot"), "{err}");
    }
}
