//! The posts of a text run: read, normalised, empty ones dropped; with their classes when the run
//! is class-conditional (`data.label_field`).

use socgan_data::labels::{LabelMap, LabelledPosts};
use socgan_data::posts::{Normalizer, PostFormat, PostReader, ReadOptions};

use crate::experiment::config::DataFiles;
use crate::{Error, Result};

/// Posts in file order, and for a labelled run their class ids and the map naming them.
#[derive(Clone, Debug, Default)]
pub struct Posts {
    pub texts: Vec<String>,
    pub classes: Option<Vec<u32>>,
    pub map: Option<LabelMap>,
}

/// How posts are read.
pub struct ReadSettings<'a> {
    pub text_field: &'a str,
    pub label_field: Option<&'a str>,
    pub lossy: bool,
    pub normalize: &'a Normalizer,
}

impl Posts {
    /// Reads the normalised, non-empty posts of `files`; labelled ones take their classes from
    /// `map` (the training posts' map, for the test posts) or from the first file.
    pub fn read(files: &DataFiles, how: &ReadSettings, map: Option<&LabelMap>) -> Result<Self> {
        let mut posts = Posts {
            map: map.cloned(),
            ..Posts::default()
        };
        for path in files.paths() {
            let format = PostFormat::for_path(path, how.text_field, how.label_field);
            let options = ReadOptions { lossy: how.lossy };
            match how.label_field {
                None => posts
                    .texts
                    .extend(read_unlabelled(path, &format, options, how)?),
                Some(_) => {
                    let file = LabelledPosts::read(
                        path,
                        &format,
                        options,
                        how.normalize,
                        posts.map.as_ref(),
                    )?;
                    let classes = posts.classes.get_or_insert_with(Vec::new);
                    for (text, label) in file.texts.into_iter().zip(file.labels) {
                        if !text.is_empty() {
                            posts.texts.push(text);
                            classes.push(label);
                        }
                    }
                    posts.map = Some(file.map);
                }
            }
        }
        Ok(posts)
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// The last `n` posts, removed from these.
    pub fn split_off(&mut self, n: usize) -> Posts {
        let at = self.texts.len().saturating_sub(n);
        Posts {
            texts: self.texts.split_off(at),
            classes: self.classes.as_mut().map(|c| c.split_off(at)),
            map: self.map.clone(),
        }
    }
}

fn read_unlabelled(
    path: &std::path::Path,
    format: &PostFormat,
    options: ReadOptions,
    how: &ReadSettings,
) -> Result<Vec<String>> {
    let mut texts = Vec::new();
    let mut reader = PostReader::open(path, format, options)?;
    for post in reader.by_ref() {
        let text = how.normalize.apply(&post?.text);
        if !text.is_empty() {
            texts.push(text);
        }
    }
    if reader.replaced_invalid_utf8() > 0 {
        eprintln!(
            "socgan: {}: replaced invalid UTF-8 in {} posts",
            path.display(),
            reader.replaced_invalid_utf8()
        );
    }
    Ok(texts)
}

/// Fails unless every class of `map` has a post in `posts` (each class is scored on its own).
pub fn check_every_class(posts: &Posts, map: &LabelMap, what: &str) -> Result<()> {
    let Some(classes) = &posts.classes else {
        return Ok(());
    };
    let mut counts = vec![0usize; map.num_classes()];
    for &c in classes {
        counts[c as usize] += 1;
    }
    match counts.iter().position(|&n| n == 0) {
        Some(c) => Err(Error::Config(format!(
            "{what}: no post of class `{}` (every class is generated and scored on its own)",
            map.name(c as u32).unwrap_or("?")
        ))),
        None => Ok(()),
    }
}
