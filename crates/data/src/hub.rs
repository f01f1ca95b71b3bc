//! Files from the Hugging Face hub, in the hub's standard cache (`$HF_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `~/.cache/huggingface/hub`: the layout the Python `huggingface_hub` uses,
//! so either side reuses the other's downloads), from `$HF_ENDPOINT` if set.
//!
//! `hf-hub` speaks the protocol (resolve URLs, ETag / commit headers, blobs, snapshots, refs).
//! This module adds what a data pipeline needs around it:
//! - names are checked before any request, so a repository, revision or file name cannot reach
//!   outside the cache directory;
//! - every downloaded file is checked against the hub's own content hash (its ETag: SHA-256 for
//!   LFS files, the git blob SHA-1 otherwise); a corrupted or truncated transfer is an error and
//!   is removed from the cache, partial files included;
//! - a cache-only (offline) mode that lists exactly what is missing;
//! - glob selection over the repository's file list.
//!
//! A file already in the cache is returned without any request.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use globset::Glob;
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The public hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// What kind of repository a name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoKind {
    Dataset,
    Model,
}

/// A repository at a revision (a branch, tag or commit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubRepo {
    pub id: String,
    pub kind: RepoKind,
    pub revision: String,
}

impl HubRepo {
    pub fn dataset(id: &str) -> Self {
        Self {
            id: id.to_string(),
            kind: RepoKind::Dataset,
            revision: "main".to_string(),
        }
    }

    pub fn model(id: &str) -> Self {
        Self {
            kind: RepoKind::Model,
            ..Self::dataset(id)
        }
    }

    pub fn at_revision(mut self, revision: &str) -> Self {
        self.revision = revision.to_string();
        self
    }

    fn hf_repo(&self) -> Repo {
        let kind = match self.kind {
            RepoKind::Dataset => RepoType::Dataset,
            RepoKind::Model => RepoType::Model,
        };
        Repo::with_revision(self.id.clone(), kind, self.revision.clone())
    }

    /// Checks the id and the revision (before anything is requested or written).
    pub fn validate(&self) -> Result<()> {
        let segments: Vec<&str> = self.id.split('/').collect();
        if segments.len() > 2 || segments.iter().any(|s| !is_safe_segment(s)) {
            return Err(Error::Invalid(format!(
                "`{}` is not a hub repository id (expected NAME or OWNER/NAME of letters, digits, `-`, `_`, `.`)",
                self.id
            )));
        }
        if self.revision.split('/').any(|s| !is_safe_segment(s)) {
            return Err(Error::Invalid(format!(
                "`{}` is not a revision name (expected a branch, tag or commit)",
                self.revision
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for HubRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            RepoKind::Dataset => "dataset",
            RepoKind::Model => "model",
        };
        write!(f, "{kind} {}@{}", self.id, self.revision)
    }
}

/// A path segment that stays where it is put: not empty, not `.` or `..`, no separators.
fn is_safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks a file name inside a repository: relative, `/`-separated, no `.`/`..` segments.
pub fn validate_file_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.contains('\\')
        && !name.contains('\0')
        && !name.contains(':')
        && name
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "`{name}` is not a file name inside a repository (relative, `/`-separated, no `.` or `..` parts)"
        )))
    }
}

/// The hub: where from, where to, and whether requests are allowed.
#[derive(Clone, Debug)]
pub struct Hub {
    endpoint: String,
    cache_dir: PathBuf,
    offline: bool,
    progress: bool,
    retries: usize,
}

impl Hub {
    /// `$HF_ENDPOINT` (default the public hub) and the standard cache.
    pub fn from_env() -> Result<Self> {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        Ok(Self::new(endpoint, default_cache_dir()?))
    }

    pub fn new(endpoint: impl Into<String>, cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            endpoint: endpoint.into().trim_end_matches('/').to_string(),
            cache_dir: cache_dir.into(),
            offline: false,
            progress: false,
            retries: 2,
        }
    }

    /// Cache only: no request is made; missing files are an error that lists them.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Progress bars while downloading.
    pub fn progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }

    /// Retries of an interrupted transfer (resumed where it stopped).
    pub fn retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn is_offline(&self) -> bool {
        self.offline
    }

    fn api(&self) -> Result<hf_hub::api::sync::Api> {
        ApiBuilder::from_cache(Cache::new(self.cache_dir.clone()))
            .with_endpoint(self.endpoint.clone())
            .with_progress(self.progress)
            .with_retries(self.retries)
            .build()
            .map_err(|e| Error::Invalid(format!("hub client: {e}")))
    }

    /// The repository's files: from the hub, or from the cached snapshot when offline.
    pub fn list(&self, repo: &HubRepo) -> Result<Vec<String>> {
        repo.validate()?;
        if self.offline {
            return self.cached_files(repo);
        }
        let info = self.api()?.repo(repo.hf_repo()).info().map_err(|e| {
            Error::Invalid(format!(
                "{repo}: cannot list files from {}: {e}",
                self.endpoint
            ))
        })?;
        let mut files: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
        files.sort();
        Ok(files)
    }

    /// Files of the cached snapshot the revision points to.
    fn cached_files(&self, repo: &HubRepo) -> Result<Vec<String>> {
        let root = self.repo_dir(repo);
        let commit = fs::read_to_string(root.join("refs").join(&repo.revision)).map_err(|_| {
            Error::Invalid(format!(
                "{repo}: not in the cache {} (offline; fetch it once with a network)",
                self.cache_dir.display()
            ))
        })?;
        let snapshot = root.join("snapshots").join(commit.trim());
        let mut files = Vec::new();
        collect_files(&snapshot, &snapshot, &mut files)?;
        files.sort();
        Ok(files)
    }

    fn repo_dir(&self, repo: &HubRepo) -> PathBuf {
        self.cache_dir.join(repo.hf_repo().folder_name())
    }

    /// The files matching `include` (a glob such as `emotion/*.parquet`; all files if `None`).
    pub fn fetch_matching(&self, repo: &HubRepo, include: Option<&str>) -> Result<Vec<PathBuf>> {
        let files = self.list(repo)?;
        let selected: Vec<String> = match include {
            None => files,
            Some(pattern) => {
                let glob = Glob::new(pattern)
                    .map_err(|e| Error::Invalid(format!("--include `{pattern}`: {e}")))?
                    .compile_matcher();
                let selected: Vec<String> =
                    files.iter().filter(|f| glob.is_match(f)).cloned().collect();
                if selected.is_empty() {
                    return Err(Error::Invalid(format!(
                        "{repo}: no file matches `{pattern}` (files: {})",
                        preview(&files)
                    )));
                }
                selected
            }
        };
        self.fetch_files(repo, &selected)
    }

    /// These files, from the cache where present, downloaded otherwise (never when offline: then
    /// every missing file is named in one error).
    pub fn fetch_files(&self, repo: &HubRepo, files: &[String]) -> Result<Vec<PathBuf>> {
        repo.validate()?;
        for f in files {
            validate_file_name(f)?;
        }
        let cache = Cache::new(self.cache_dir.clone()).repo(repo.hf_repo());
        let mut paths = Vec::with_capacity(files.len());
        let mut missing = Vec::new();
        for f in files {
            match cache.get(f) {
                Some(path) => paths.push(path),
                None if self.offline => missing.push(f.clone()),
                None => paths.push(self.download(repo, f)?),
            }
        }
        if !missing.is_empty() {
            return Err(Error::Invalid(format!(
                "{repo}: offline and not in the cache {}: {}",
                self.cache_dir.display(),
                missing.join(", ")
            )));
        }
        Ok(paths)
    }

    /// Downloads one file, then checks it against the hub's hash; anything wrong is removed.
    fn download(&self, repo: &HubRepo, file: &str) -> Result<PathBuf> {
        let blobs = self.repo_dir(repo).join("blobs");
        let before = list_dir(&blobs);
        let api = self.api()?;
        let pointer = match api.repo(repo.hf_repo()).download(file) {
            Ok(p) => p,
            Err(e) => {
                remove_new_partials(&blobs, &before);
                return Err(Error::Invalid(format!(
                    "{repo}: {file}: download from {} failed: {e}",
                    self.endpoint
                )));
            }
        };
        match self.verify(&pointer) {
            Ok(()) => Ok(pointer),
            Err(message) => {
                let blob = fs::canonicalize(&pointer).ok();
                let _ = fs::remove_file(&pointer);
                if let Some(blob) = blob.filter(|b| b.starts_with(self.canonical_cache())) {
                    let _ = fs::remove_file(blob);
                }
                remove_new_partials(&blobs, &before);
                Err(Error::Invalid(format!(
                    "{repo}: {file}: {message}; removed from the cache"
                )))
            }
        }
    }

    fn canonical_cache(&self) -> PathBuf {
        fs::canonicalize(&self.cache_dir).unwrap_or_else(|_| self.cache_dir.clone())
    }

    /// The blob a snapshot entry points to must be inside the cache and hash to its name.
    fn verify(&self, pointer: &Path) -> std::result::Result<(), String> {
        let blob = fs::canonicalize(pointer)
            .map_err(|e| format!("cannot resolve the cached file: {e}"))?;
        if !blob.starts_with(self.canonical_cache()) {
            return Err(format!(
                "the cached file resolves outside the cache ({})",
                blob.display()
            ));
        }
        let etag = blob
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let hashes =
            ContentHashes::of_file(&blob).map_err(|e| format!("cannot read the download: {e}"))?;
        let matches = match etag.len() {
            64 => hashes.sha256 == etag,
            40 => hashes.git_sha1 == etag,
            _ => return Err(format!("the hub sent ETag `{etag}`, which is neither a SHA-256 nor a git SHA-1, so the file cannot be checked")),
        };
        if matches {
            Ok(())
        } else {
            Err(format!(
                "corrupted or truncated transfer: {} bytes with SHA-256 {} / git SHA-1 {}, but the hub's hash is {etag}",
                hashes.len, hashes.sha256, hashes.git_sha1
            ))
        }
    }
}

/// SHA-256 and git blob SHA-1 of a file, read once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentHashes {
    pub len: u64,
    pub sha256: String,
    /// SHA-1 of `blob {len}\0` followed by the content: the id git gives the file.
    pub git_sha1: String,
}

impl ContentHashes {
    pub fn of_file(path: &Path) -> std::io::Result<Self> {
        let len = fs::metadata(path)?.len();
        let mut reader = BufReader::new(File::open(path)?);
        let mut sha256 = Sha256::new();
        let mut sha1 = Sha1::new();
        sha1.update(format!("blob {len}\0").as_bytes());
        let mut buf = vec![0u8; 1 << 16];
        let mut read_total = 0u64;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            read_total += n as u64;
            sha256.update(&buf[..n]);
            sha1.update(&buf[..n]);
        }
        if read_total != len {
            return Err(std::io::Error::other(
                "the file changed while it was hashed",
            ));
        }
        Ok(Self {
            len,
            sha256: socgan_io::hex(&sha256.finalize()),
            git_sha1: socgan_io::hex(&sha1.finalize()),
        })
    }
}

/// `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
/// `~/.cache/huggingface/hub` (huggingface_hub's order).
pub fn default_cache_dir() -> Result<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("HF_HUB_CACHE") {
        return Ok(dir);
    }
    if let Some(home) = var("HF_HOME") {
        return Ok(home.join("hub"));
    }
    if let Some(cache) = var("XDG_CACHE_HOME") {
        return Ok(cache.join("huggingface").join("hub"));
    }
    var("HOME")
        .map(|home| home.join(".cache").join("huggingface").join("hub"))
        .ok_or_else(|| Error::Invalid("no cache directory: set HF_HOME or HOME".to_string()))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

fn list_dir(dir: &Path) -> BTreeSet<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// A failed transfer leaves `<etag>.part` (and its lock) in `blobs/`: not a cache entry, but a
/// partial file; remove the ones this call created.
fn remove_new_partials(blobs: &Path, before: &BTreeSet<PathBuf>) {
    for path in list_dir(blobs) {
        let partial = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("part") | Some("lock")
        );
        if partial && !before.contains(&path) {
            let _ = fs::remove_file(path);
        }
    }
}

fn preview(files: &[String]) -> String {
    let mut shown: Vec<&str> = files.iter().take(12).map(String::as_str).collect();
    if files.len() > shown.len() {
        shown.push("...");
    }
    shown.join(", ")
}

/// What a file published at a URL must hash to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pin<'a> {
    /// Its git blob id (a file pinned at a commit of a git repository).
    GitSha1(&'a str),
    /// Its SHA-256.
    Sha256(&'a str),
}

impl Pin<'_> {
    /// The hash of this kind in `hashes`, and what it must be.
    fn check(&self, hashes: &ContentHashes) -> std::result::Result<(), String> {
        let (name, got, expected) = match self {
            Pin::GitSha1(e) => ("git SHA-1", &hashes.git_sha1, *e),
            Pin::Sha256(e) => ("SHA-256", &hashes.sha256, *e),
        };
        if got == expected {
            Ok(())
        } else {
            Err(format!("{name} {got} but the pinned file's is {expected}"))
        }
    }
}

/// Downloads `url` to `dest` (atomically: a temporary file beside it, renamed when complete and
/// checked), for data sets published outside the hub. A `pin`, when known, is what the file must
/// hash to; a mismatch is an error and nothing is written. A `dest` that exists is returned
/// without any request.
pub fn fetch_url(url: &str, dest: &Path, pin: Option<Pin>, offline: bool) -> Result<PathBuf> {
    if dest.is_file() {
        return Ok(dest.to_path_buf());
    }
    if offline {
        return Err(Error::Invalid(format!(
            "{}: offline and not downloaded yet (from {url})",
            dest.display()
        )));
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let io = |source| Error::Io {
        path: dest.to_path_buf(),
        source,
    };
    let response = ureq::get(url)
        .call()
        // ureq's message starts with the URL.
        .map_err(|e| Error::Invalid(format!("download failed: {e}")))?;
    let expected_len: Option<u64> = response
        .header("content-length")
        .and_then(|v| v.parse().ok());
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    let copied = std::io::copy(&mut response.into_reader(), &mut tmp)
        .map_err(|e| Error::Invalid(format!("{url}: transfer interrupted: {e}")))?;
    if expected_len.is_some_and(|n| n != copied) {
        return Err(Error::Invalid(format!(
            "{url}: truncated transfer ({copied} of {} bytes); nothing written",
            expected_len.unwrap_or_default()
        )));
    }
    let hashes = ContentHashes::of_file(tmp.path()).map_err(io)?;
    if let Some(Err(mismatch)) = pin.map(|p| p.check(&hashes)) {
        return Err(Error::Invalid(format!(
            "{url}: corrupted transfer: {mismatch}; nothing written"
        )));
    }
    tmp.persist(dest).map_err(|e| io(e.error))?;
    Ok(dest.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_cache_are_rejected() {
        for id in ["..", "a/../b", "../x", "a/b/c", "", "a//b", "a\\b", "/abs"] {
            let err = HubRepo::dataset(id).validate().unwrap_err().to_string();
            assert!(err.contains("is not a hub repository id"), "{id}: {err}");
        }
        assert!(HubRepo::dataset("cardiffnlp/tweet_eval").validate().is_ok());
        assert!(HubRepo::model("gpt2").validate().is_ok());
        let err = HubRepo::dataset("a/b")
            .at_revision("../main")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("`../main` is not a revision name"), "{err}");
        assert!(HubRepo::dataset("a/b")
            .at_revision("refs/pr/1")
            .validate()
            .is_ok());
        for f in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a\\b",
            "C:x",
            ".",
        ] {
            let err = validate_file_name(f).unwrap_err().to_string();
            assert!(
                err.contains("is not a file name inside a repository"),
                "{f}: {err}"
            );
        }
        assert!(validate_file_name("emotion/train-00000-of-00001.parquet").is_ok());
    }

    #[test]
    fn git_blob_hash_matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "hello\n").unwrap();
        let h = ContentHashes::of_file(&path).unwrap();
        assert_eq!(h.git_sha1, "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(
            h.sha256,
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
    }
}
