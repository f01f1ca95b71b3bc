//! Labelled posts: a label map (names <-> ids) saved with a run, labelled files read into class
//! ids with errors naming file and line, and seeded stratified splits and labelled fractions
//! (keep 10% of the labels, use the rest as unlabelled text).

use std::collections::BTreeSet;
use std::path::Path;

use gan_core::SeededRng;
use serde::{Deserialize, Serialize};

use crate::posts::{tweeteval, Normalizer, PostFormat, PostReader, ReadOptions};
use crate::{Error, Result};

/// Class names by id (`0..K`).
///
/// ```
/// use socgan_data::labels::LabelMap;
/// let map = LabelMap::from_names(vec!["negative".into(), "neutral".into(), "positive".into()]).unwrap();
/// assert_eq!(map.id("positive"), Some(2));
/// assert_eq!(map.id("1"), Some(1), "an id written as a number");
/// assert_eq!(map.id("angry"), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelMap {
    names: Vec<String>,
}

impl LabelMap {
    /// At least two distinct, non-empty names.
    pub fn from_names(names: Vec<String>) -> Result<Self> {
        if names.len() < 2 {
            return Err(Error::Invalid(format!(
                "a label map needs at least two classes, found {}",
                names.len()
            )));
        }
        if let Some(empty) = names.iter().position(|n| n.trim().is_empty()) {
            return Err(Error::Invalid(format!("label {empty} has an empty name")));
        }
        let unique: BTreeSet<&String> = names.iter().collect();
        if unique.len() != names.len() {
            return Err(Error::Invalid(format!(
                "label names repeat: {}",
                names.join(", ")
            )));
        }
        Ok(Self { names })
    }

    /// The map of the labels found in data: sorted, numerically when every label is a number
    /// (so ids `0..K` map to themselves).
    pub fn infer<'a>(labels: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let distinct: BTreeSet<&str> = labels.into_iter().map(str::trim).collect();
        let mut names: Vec<String> = distinct.into_iter().map(str::to_string).collect();
        if names.iter().all(|n| n.parse::<u64>().is_ok()) {
            names.sort_by_key(|n| n.parse::<u64>().unwrap_or(u64::MAX));
        }
        Self::from_names(names)
    }

    /// The map a labelled file comes with: TweetEval's `mapping.txt` beside it, if any.
    pub fn beside(path: &Path) -> Result<Option<Self>> {
        tweeteval::mapping_beside(path)
            .map(|m| tweeteval::read_mapping(&m))
            .transpose()
    }

    pub fn num_classes(&self) -> usize {
        self.names.len()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(String::as_str)
    }

    /// The id of a label as written in a file: a class name, or a class id as a number.
    pub fn id(&self, label: &str) -> Option<u32> {
        let label = label.trim();
        if let Some(i) = self.names.iter().position(|n| n == label) {
            return Some(i as u32);
        }
        label
            .parse::<u32>()
            .ok()
            .filter(|&i| (i as usize) < self.names.len())
    }

    /// Saves the map as JSON (`{"names": [...]}`), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Invalid(format!("label map as JSON: {e}")))?;
        Ok(socgan_io::write_atomic(path, text.as_bytes())?)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let map: LabelMap = serde_json::from_str(&text).map_err(|e| Error::Malformed {
            path: path.to_path_buf(),
            line: e.line(),
            message: format!("expected a label map {{\"names\": [...]}} ({e})"),
        })?;
        Self::from_names(map.names).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }
}

/// Posts with a class id each, and the map naming the ids.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledPosts {
    pub texts: Vec<String>,
    pub labels: Vec<u32>,
    pub map: LabelMap,
}

impl LabelledPosts {
    /// Reads every post of `path` with its label, normalised by `normalizer`. Each label must be
    /// in `map` (by name or id); without a map, TweetEval's `mapping.txt` beside the file is used,
    /// else the map is inferred from the labels found.
    pub fn read(
        path: &Path,
        format: &PostFormat,
        options: ReadOptions,
        normalizer: &Normalizer,
        map: Option<&LabelMap>,
    ) -> Result<Self> {
        if !format.has_labels() {
            return Err(Error::Invalid(format!(
                "{}: this format has no labels (name a label column or field)",
                path.display()
            )));
        }
        let mut reader = PostReader::open(path, format, options)?;
        let mut texts = Vec::new();
        let mut raw = Vec::new();
        for post in reader.by_ref() {
            let post = post?;
            texts.push(normalizer.apply(&post.text));
            raw.push(post.label.unwrap_or_default());
        }
        let map = match map {
            Some(m) => m.clone(),
            None => match LabelMap::beside(path)? {
                Some(m) => m,
                None => LabelMap::infer(raw.iter().map(String::as_str))
                    .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?,
            },
        };
        let mut labels = Vec::with_capacity(raw.len());
        for (i, label) in raw.iter().enumerate() {
            match map.id(label) {
                Some(id) => labels.push(id),
                None => {
                    // The file is read again to name the line: cheaper than keeping a line
                    // number per post for the files that are fine.
                    let line = Self::line_of(path, format, options, i)?;
                    return Err(Error::Malformed {
                        path: path.to_path_buf(),
                        line,
                        message: format!(
                            "label `{label}` is not in the mapping (labels: {})",
                            map.names().join(", ")
                        ),
                    });
                }
            }
        }
        Ok(Self { texts, labels, map })
    }

    /// The line (row) of post `index` of a file.
    fn line_of(
        path: &Path,
        format: &PostFormat,
        options: ReadOptions,
        index: usize,
    ) -> Result<usize> {
        let mut reader = PostReader::open(path, format, options)?;
        for _ in 0..=index {
            reader.next();
        }
        Ok(reader.last_line())
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Posts per class id.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.map.num_classes()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The posts at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        Self {
            texts: indices.iter().map(|&i| self.texts[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            map: self.map.clone(),
        }
    }

    /// A seeded stratified split: `fraction` of every class (rounded, drawn with the stream
    /// `derive(seed, purpose, 0)`) into the first part, the rest into the second; both keep the
    /// file order.
    pub fn stratified_split(
        &self,
        fraction: f64,
        seed: u64,
        purpose: &str,
    ) -> Result<(Self, Self)> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(Error::Invalid(format!(
                "a split fraction must be in (0, 1], got {fraction}"
            )));
        }
        let mut rng = SeededRng::derive(seed, purpose, 0);
        let mut chosen = vec![false; self.len()];
        for class in 0..self.map.num_classes() as u32 {
            let members: Vec<usize> = (0..self.len())
                .filter(|&i| self.labels[i] == class)
                .collect();
            let take = (members.len() as f64 * fraction).round() as usize;
            for &pick in rng.permutation(members.len()).iter().take(take) {
                chosen[members[pick]] = true;
            }
        }
        let (first, second): (Vec<usize>, Vec<usize>) = (0..self.len()).partition(|&i| chosen[i]);
        Ok((self.select(&first), self.select(&second)))
    }

    /// The few-label protocol: labels kept for a stratified `fraction` of the posts (drawn per
    /// seed), the other posts' texts returned as unlabelled data. A class left with no labelled
    /// post is an error: a classifier cannot learn a class it never sees labelled.
    pub fn labelled_fraction(&self, fraction: f64, seed: u64) -> Result<(Self, Vec<String>)> {
        let (labelled, rest) = self.stratified_split(fraction, seed, "labelled-fraction")?;
        let counts = self.class_counts();
        if let Some(empty) = labelled.class_counts().iter().position(|&c| c == 0) {
            return Err(Error::Invalid(format!(
                "class `{}` has no labelled post at {}% of the labels (it has {} of {} posts); raise the fraction",
                self.map.names()[empty],
                fraction * 100.0,
                counts[empty],
                self.len()
            )));
        }
        Ok((labelled, rest.texts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tweeteval(dir: &Path, texts: &str, labels: &str) -> std::path::PathBuf {
        let text = dir.join("train_text.txt");
        std::fs::write(&text, texts).unwrap();
        std::fs::write(dir.join("train_labels.txt"), labels).unwrap();
        std::fs::write(dir.join("mapping.txt"), "0\tanger\n1\tjoy\n2\toptimism").unwrap();
        text
    }

    fn read(path: &Path, format: &PostFormat, map: Option<&LabelMap>) -> Result<LabelledPosts> {
        LabelledPosts::read(
            path,
            format,
            ReadOptions::default(),
            &Normalizer::default(),
            map,
        )
    }

    #[test]
    fn tweeteval_labels_map_through_mapping_txt_and_bad_labels_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = tweeteval(
            dir.path(),
            "so angry @bob\nyay\ngood days ahead\n",
            "0\n1\n2\n",
        );
        let posts = read(&text, &PostFormat::TweetEval, None).unwrap();
        assert_eq!(posts.labels, vec![0, 1, 2]);
        assert_eq!(posts.map.name(1), Some("joy"));
        assert_eq!(posts.texts[0], "so angry @user");
        tweeteval(dir.path(), "a\nb\nc\n", "0\n7\n2\n");
        let err = read(&text, &PostFormat::TweetEval, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "train_text.txt:2: label `7` is not in the mapping (labels: anger, joy, optimism)"
            ),
            "{err}"
        );
        tweeteval(dir.path(), "a\nb\n", "0\n1\n2\n");
        let err = read(&text, &PostFormat::TweetEval, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 texts but 3 labels"), "{err}");
    }

    #[test]
    fn csv_labels_by_name_with_an_inferred_or_saved_map() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("posts.csv");
        std::fs::write(
            &p,
            "text,label\nvaccine hoax,fake\nnew cases,real\nmore cases,real\n",
        )
        .unwrap();
        let format = PostFormat::for_path(&p, "text", Some("label"));
        let posts = read(&p, &format, None).unwrap();
        assert_eq!(posts.map.names(), ["fake", "real"]);
        assert_eq!(posts.labels, vec![0, 1, 1]);
        let saved = dir.path().join("labels.json");
        posts.map.save(&saved).unwrap();
        assert_eq!(LabelMap::load(&saved).unwrap(), posts.map);
        std::fs::write(&p, "text,label\nx,fake\ny,satire\n").unwrap();
        let err = read(&p, &format, Some(&posts.map)).unwrap_err().to_string();
        assert!(
            err.contains("posts.csv:3: label `satire` is not in the mapping"),
            "{err}"
        );
        let err = read(&p, &PostFormat::for_path(&p, "text", None), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no labels"), "{err}");
    }

    fn synthetic(counts: &[usize]) -> LabelledPosts {
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for (class, &n) in counts.iter().enumerate() {
            for i in 0..n {
                texts.push(format!("post {class}-{i}"));
                labels.push(class as u32);
            }
        }
        let names = (0..counts.len()).map(|c| format!("c{c}")).collect();
        LabelledPosts {
            texts,
            labels,
            map: LabelMap::from_names(names).unwrap(),
        }
    }

    #[test]
    fn stratified_fractions_keep_class_proportions_and_depend_on_the_seed_only() {
        let posts = synthetic(&[500, 300, 200]);
        let (labelled, unlabelled) = posts.labelled_fraction(0.1, 7).unwrap();
        assert_eq!(labelled.class_counts(), vec![50, 30, 20]);
        assert_eq!(unlabelled.len(), 900);
        let (again, _) = posts.labelled_fraction(0.1, 7).unwrap();
        assert_eq!(labelled, again);
        let (other, _) = posts.labelled_fraction(0.1, 8).unwrap();
        assert_ne!(labelled.texts, other.texts);
        // Labelled and unlabelled are disjoint and together the whole set.
        let mut all: Vec<&String> = labelled.texts.iter().chain(&unlabelled).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 1000);
    }

    #[test]
    fn a_class_with_no_labelled_post_is_an_error() {
        let posts = synthetic(&[500, 300, 4]);
        let err = posts.labelled_fraction(0.1, 0).unwrap_err().to_string();
        assert!(
            err.contains(
                "class `c2` has no labelled post at 10% of the labels (it has 4 of 804 posts)"
            ),
            "{err}"
        );
        let err = posts.stratified_split(0.0, 0, "x").unwrap_err().to_string();
        assert!(
            err.contains("a split fraction must be in (0, 1], got 0"),
            "{err}"
        );
    }
}
