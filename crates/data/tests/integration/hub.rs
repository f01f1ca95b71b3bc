//! Hub downloads against a loopback server, started by each test, that speaks the hub's resolve
//! protocol (ETag and X-Repo-Commit headers, ranged GETs, the repository info API): no network.

use std::path::Path;

use socgan_data::hub::{fetch_url, Hub, HubRepo, Pin};

#[path = "../../../../tests/support/fake_hub.rs"]
mod fake_hub;
use fake_hub::{git_sha1, FakeHub, Mode, COMMIT};

const REPO: &str = "cardiffnlp/tweet_eval";

fn fixture() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "emotion/train-00000-of-00001.parquet",
            b"PAR1 train rows ... PAR1".repeat(50),
        ),
        (
            "emotion/test-00000-of-00001.parquet",
            b"PAR1 test rows ... PAR1".repeat(40),
        ),
        ("README.md", b"# tweet_eval\n".to_vec()),
    ]
}

fn hub(server: &FakeHub, cache: &Path) -> Hub {
    Hub::new(server.endpoint.clone(), cache).retries(0)
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn downloads_then_serves_from_cache_without_requests() {
    let files = fixture();
    let server = FakeHub::start(REPO, &files);
    let cache = tempfile::tempdir().unwrap();
    let repo = HubRepo::dataset(REPO);

    let paths = hub(&server, cache.path())
        .fetch_matching(&repo, Some("emotion/*.parquet"))
        .unwrap();
    assert_eq!(paths.len(), 2);
    for (path, (name, content)) in paths.iter().zip(files.iter().take(2).rev()) {
        assert!(path.ends_with(name), "{} vs {name}", path.display());
        assert_eq!(&std::fs::read(path).unwrap(), content);
        assert!(path.starts_with(cache.path()));
    }
    assert!(server.take_requests() >= 3, "the listing and two files");
    // The standard layout, so that the Python huggingface_hub finds the same files.
    let repo_dir = cache.path().join("datasets--cardiffnlp--tweet_eval");
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        COMMIT
    );
    assert!(repo_dir
        .join("snapshots")
        .join(COMMIT)
        .join("emotion")
        .is_dir());

    // A re-run of known files makes no request at all.
    let names: Vec<String> = files.iter().take(2).map(|(n, _)| n.to_string()).collect();
    let again = hub(&server, cache.path())
        .fetch_files(&repo, &names)
        .unwrap();
    assert_eq!(server.take_requests(), 0);
    assert_eq!(again.len(), 2);
    // Offline, the cached snapshot answers both the listing and the files.
    let offline = hub(&server, cache.path()).offline(true);
    let cached = offline
        .fetch_matching(&repo, Some("emotion/*.parquet"))
        .unwrap();
    assert_eq!(cached.len(), 2);
    assert_eq!(server.take_requests(), 0);
    // ...and names exactly what it does not have.
    let err = offline
        .fetch_files(&repo, &["README.md".to_string()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("offline") && err.contains("README.md"),
        "{err}"
    );
    assert_eq!(server.take_requests(), 0);
}

#[test]
fn corrupted_or_truncated_transfers_are_detected_and_not_cached() {
    let files = fixture();
    let server = FakeHub::start(REPO, &files);
    let cache = tempfile::tempdir().unwrap();
    let repo = HubRepo::dataset(REPO);
    // Both an LFS file (SHA-256 ETag) and a git file (blob SHA-1 ETag).
    for name in ["emotion/train-00000-of-00001.parquet", "README.md"] {
        for mode in [Mode::Corrupt, Mode::Truncate] {
            server.set_mode(mode);
            let err = hub(&server, cache.path())
                .fetch_files(&repo, &[name.to_string()])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("corrupted or truncated") && err.contains(name),
                "{mode:?} {name}: {err}"
            );
            // Nothing of it is left: no blob, no snapshot entry, no partial file.
            let left: Vec<String> = files_under(cache.path())
                .into_iter()
                .filter(|f| !f.ends_with("refs/main"))
                .collect();
            assert!(left.is_empty(), "{mode:?} {name}: left {left:?}");
        }
    }
    // An honest transfer afterwards works: no bad state was kept.
    server.set_mode(Mode::Honest);
    let paths = hub(&server, cache.path())
        .fetch_files(&repo, &["README.md".to_string()])
        .unwrap();
    assert_eq!(std::fs::read(&paths[0]).unwrap(), b"# tweet_eval\n");
}

#[test]
fn names_that_escape_the_cache_are_refused_before_any_request() {
    let server = FakeHub::start(REPO, &fixture());
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let h = hub(&server, &cache);
    for id in ["../../evil", "a/../../b", "..", "a/b/c"] {
        let err = h.list(&HubRepo::dataset(id)).unwrap_err().to_string();
        assert!(err.contains("not a hub repository id"), "{id}: {err}");
    }
    let repo = HubRepo::dataset(REPO);
    for name in ["../../../outside.txt", "/etc/passwd", "emotion/../../x"] {
        let err = h
            .fetch_files(&repo, &[name.to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a file name"), "{name}: {err}");
    }
    let err = h
        .fetch_files(
            &repo.clone().at_revision("../../main"),
            &["README.md".to_string()],
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a revision"), "{err}");
    assert_eq!(server.take_requests(), 0);
    assert!(files_under(root.path()).is_empty());
}

#[test]
fn url_files_are_checked_against_their_pinned_git_hash() {
    let content = b"a man riding a horse .\na cat on a couch .\n".to_vec();
    let server = FakeHub::start(REPO, &[("coco.txt", content.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("image_coco").join("coco.txt");
    let url = format!("{}/raw/coco.txt", server.endpoint);
    let pinned = git_sha1(&content);
    let pinned = Pin::GitSha1(&pinned);

    server.set_mode(Mode::Corrupt);
    let err = fetch_url(&url, &dest, Some(pinned), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("corrupted"), "{err}");
    assert!(!dest.exists());
    server.set_mode(Mode::Honest);
    fetch_url(&url, &dest, Some(pinned), false).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), content);
    server.take_requests();
    fetch_url(&url, &dest, Some(pinned), true).unwrap();
    assert_eq!(server.take_requests(), 0);
    assert_eq!(files_under(dest.parent().unwrap()), ["coco.txt"]);
}
