//! Atomic replacement of files and directories.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The folder `path` lives in (`.` for a bare file name), created if missing.
fn parent_dir(path: &Path) -> Result<PathBuf> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    fs::create_dir_all(&dir).map_err(|e| Error::new(&dir, e))?;
    Ok(dir)
}

/// Writes `bytes` to `path` through a uniquely named temporary file in the same folder, synced,
/// then renamed over `path`: a reader sees either the old file or the complete new one, and
/// nothing is left behind on failure.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("results.json");
/// socgan_io::write_atomic(&path, b"{}").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"{}");
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::new(&dir, e))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| Error::new(path, e))?;
    // On failure the temporary file is removed when the error drops it.
    file.persist(path).map_err(|e| Error::new(path, e.error))?;
    Ok(())
}

/// Writes `path` through `write`, which is handed a uniquely named temporary path in the same
/// folder (for writers that want a path, such as safetensors'); the result is renamed over
/// `path` only if `write` succeeds, and the temporary file is removed otherwise.
pub fn write_atomic_with<E: From<Error>>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let dir = parent_dir(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::new(&dir, e))?
        .into_temp_path();
    write(&tmp)?;
    tmp.persist(path).map_err(|e| Error::new(path, e.error))?;
    Ok(())
}

/// A directory being written under a unique temporary name beside its final place; removed on
/// drop unless [`StagedDir::commit`] moved it into place.
pub struct StagedDir {
    staging: tempfile::TempDir,
    target: PathBuf,
}

/// Starts staging the directory `target`: write into [`StagedDir::path`], then `commit`.
pub fn stage_dir(target: &Path) -> Result<StagedDir> {
    let root = parent_dir(target)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempdir_in(&root)
        .map_err(|e| Error::new(&root, e))?;
    Ok(StagedDir {
        staging,
        target: target.to_path_buf(),
    })
}

impl StagedDir {
    /// Where the directory's contents are written.
    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// Moves the staged directory to its target. An existing target is first renamed aside to
    /// `.NAME.old` (kept until the new one is in place, so a crash between the two renames
    /// leaves a complete copy that a reader can recover) and removed afterwards.
    pub fn commit(self) -> Result<PathBuf> {
        // Every file and the folder itself on disk before the rename makes them visible: after a
        // power loss a checkpoint that `latest` names is whole, not zero-length.
        sync_tree(self.staging.path())?;
        let target = self.target.clone();
        let staged = self.staging.keep();
        let result = (|| {
            if target.exists() {
                let old = old_copy(&target);
                let _ = fs::remove_dir_all(&old);
                fs::rename(&target, &old).map_err(|e| Error::new(&target, e))?;
                fs::rename(&staged, &target).map_err(|e| Error::new(&target, e))?;
                let _ = fs::remove_dir_all(&old);
            } else {
                fs::rename(&staged, &target).map_err(|e| Error::new(&target, e))?;
            }
            if let Some(parent) = target.parent() {
                sync_dir(parent)?;
            }
            Ok(target.clone())
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&staged);
        }
        result
    }
}

/// Syncs every file directly in `dir`, then `dir`.
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::new(dir, e))? {
        let path = entry.map_err(|e| Error::new(dir, e))?.path();
        if path.is_file() {
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::new(&path, e))?;
        }
    }
    sync_dir(dir)
}

/// Syncs a folder's entries (on Unix; elsewhere folders cannot be opened to sync).
fn sync_dir(dir: &Path) -> Result<()> {
    if cfg!(unix) {
        fs::File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::new(dir, e))?;
    }
    Ok(())
}

/// Where [`StagedDir::commit`] keeps the previous copy of `target` while it swaps the new one in.
pub fn old_copy(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.old"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_files_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("a.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
    }

    #[test]
    fn concurrent_writers_never_share_a_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.txt");
        std::thread::scope(|s| {
            for i in 0..8u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..50 {
                        write_atomic(path, &[i; 4096]).unwrap();
                    }
                });
            }
        });
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert!(bytes.iter().all(|&b| b == bytes[0]), "a torn write");
    }

    #[test]
    fn a_write_into_a_file_path_fails_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        let err = write_atomic(&file.join("below"), b"y").unwrap_err();
        assert!(err.to_string().contains("file"), "{err}");
    }

    #[test]
    fn writers_that_want_a_path_replace_the_file_only_on_success() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.bin");
        write_atomic_with::<Error>(&path, |tmp| {
            fs::write(tmp, b"ok").map_err(|e| Error::new(tmp, e))
        })
        .unwrap();
        let failed = write_atomic_with::<Error>(&path, |tmp| {
            fs::write(tmp, b"half").unwrap();
            Err(Error::new(tmp, std::io::Error::other("disk full")))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"ok");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn staged_directories_replace_their_target_whole() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("step-1");
        let staged = stage_dir(&target).unwrap();
        fs::write(staged.path().join("w"), b"1").unwrap();
        staged.commit().unwrap();
        let staged = stage_dir(&target).unwrap();
        fs::write(staged.path().join("w"), b"2").unwrap();
        let dropped = stage_dir(&target).unwrap();
        let dropped_path = dropped.path().to_path_buf();
        drop(dropped);
        assert!(!dropped_path.exists());
        staged.commit().unwrap();
        assert_eq!(fs::read(target.join("w")).unwrap(), b"2");
        assert!(!old_copy(&target).exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
