//! Hub downloads against a loopback server, started by each test, that speaks the hub's resolve
//! protocol (ETag and X-Repo-Commit headers, ranged GETs, the repository info API): no network.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha1::Sha1;
use sha2::{Digest, Sha256};
use socgan_data::hub::{fetch_url, Hub, HubRepo};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const REPO: &str = "cardiffnlp/tweet_eval";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Honest,
    /// One byte of every body flipped, headers honest.
    Corrupt,
    /// Half of every full-file body sent, headers honest about the size.
    Truncate,
}

struct FakeHub {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<AtomicUsize>,
    mode: Arc<Mutex<Mode>>,
    endpoint: String,
}

impl FakeHub {
    fn start(files: &[(&str, Vec<u8>)]) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let endpoint = format!("http://{}", server.server_addr().to_ip().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let mode = Arc::new(Mutex::new(Mode::Honest));
        let files: BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(n, c)| (n.to_string(), c.clone()))
            .collect();
        let thread = {
            let (server, requests, mode) = (server.clone(), requests.clone(), mode.clone());
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    requests.fetch_add(1, Ordering::SeqCst);
                    let mode = *mode.lock().unwrap();
                    let response = respond(&request, &files, mode);
                    let _ = request.respond(response);
                }
            })
        };
        Self {
            server,
            thread: Some(thread),
            requests,
            mode,
            endpoint,
        }
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn take_requests(&self) -> usize {
        self.requests.swap(0, Ordering::SeqCst)
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hub's ETag: SHA-256 for LFS files (here: Parquet), the git blob SHA-1 for the rest.
fn etag(name: &str, content: &[u8]) -> String {
    if name.ends_with(".parquet") {
        hex(&Sha256::digest(content))
    } else {
        git_sha1(content)
    }
}

fn git_sha1(content: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", content.len()).as_bytes());
    h.update(content);
    hex(&h.finalize())
}

type Response = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn respond(
    request: &tiny_http::Request,
    files: &BTreeMap<String, Vec<u8>>,
    mode: Mode,
) -> Response {
    let url = request.url().to_string();
    let info = format!("/api/datasets/{REPO}/revision/main");
    if url == info {
        let siblings: Vec<serde_json::Value> = files
            .keys()
            .map(|f| serde_json::json!({ "rfilename": f }))
            .collect();
        let body = serde_json::json!({ "sha": COMMIT, "siblings": siblings }).to_string();
        return tiny_http::Response::from_string(body)
            .with_header(header("Content-Type", "application/json"));
    }
    let (content, name) =
        if let Some(file) = url.strip_prefix(&format!("/datasets/{REPO}/resolve/main/")) {
            match files.get(file) {
                Some(c) => (c.clone(), file.to_string()),
                None => return tiny_http::Response::from_string("not found").with_status_code(404),
            }
        } else if let Some(file) = url.strip_prefix("/raw/") {
            match files.get(file) {
                Some(c) => (c.clone(), file.to_string()),
                None => return tiny_http::Response::from_string("not found").with_status_code(404),
            }
        } else {
            return tiny_http::Response::from_string("not found").with_status_code(404);
        };
    let len = content.len();
    let range = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Range"))
        .map(|h| h.value.as_str().to_string());
    let (start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (s, e) = r.split_once('-').unwrap();
            let s: usize = s.parse().unwrap();
            let e: usize = if e.is_empty() {
                len - 1
            } else {
                e.parse().unwrap()
            };
            (s, e.min(len - 1))
        }
        None => (0, len - 1),
    };
    let mut body = content[start..=end].to_vec();
    let full_body = end + 1 - start > 1;
    if full_body {
        match mode {
            Mode::Honest => {}
            Mode::Corrupt => {
                let mid = body.len() / 2;
                body[mid] ^= 0x20;
            }
            Mode::Truncate => body.truncate(body.len() / 2),
        }
    }
    let status = if range.is_some() { 206 } else { 200 };
    tiny_http::Response::from_data(body)
        .with_status_code(status)
        .with_header(header("ETag", &format!("\"{}\"", etag(&name, &content))))
        .with_header(header("X-Repo-Commit", COMMIT))
        .with_header(header(
            "Content-Range",
            &format!("bytes {start}-{end}/{len}"),
        ))
}

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
    let server = FakeHub::start(&files);
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
    let server = FakeHub::start(&files);
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
    let server = FakeHub::start(&fixture());
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
    let server = FakeHub::start(&[("coco.txt", content.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("image_coco").join("coco.txt");
    let url = format!("{}/raw/coco.txt", server.endpoint);
    let pinned = git_sha1(&content);

    server.set_mode(Mode::Corrupt);
    let err = fetch_url(&url, &dest, Some(&pinned), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("corrupted"), "{err}");
    assert!(!dest.exists());
    server.set_mode(Mode::Honest);
    fetch_url(&url, &dest, Some(&pinned), false).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), content);
    server.take_requests();
    fetch_url(&url, &dest, Some(&pinned), true).unwrap();
    assert_eq!(server.take_requests(), 0);
    assert_eq!(files_under(dest.parent().unwrap()), ["coco.txt"]);
}
