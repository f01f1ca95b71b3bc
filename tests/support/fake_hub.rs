//! A loopback HTTP server that speaks the Hugging Face hub's resolve protocol (ETag and
//! X-Repo-Commit headers, ranged GETs, the repository info API) for one data set repository,
//! and serves plain files under `/raw/` (URL-published data sets). Shared by the data crate's
//! hub tests and the end-to-end tests; started by each test, so nothing touches the network.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha1::Sha1;
use sha2::{Digest, Sha256};

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Honest,
    /// One byte of every body flipped, headers honest.
    Corrupt,
    /// Half of every full-file body sent, headers honest about the size.
    Truncate,
}

pub struct FakeHub {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<AtomicUsize>,
    mode: Arc<Mutex<Mode>>,
    pub endpoint: String,
    repo: String,
}

impl FakeHub {
    pub fn start(repo: &str, files: &[(&str, Vec<u8>)]) -> Self {
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
            let repo = repo.to_string();
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    requests.fetch_add(1, Ordering::SeqCst);
                    let mode = *mode.lock().unwrap();
                    let response = respond(&repo, &request, &files, mode);
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
            repo: repo.to_string(),
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn take_requests(&self) -> usize {
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

pub fn git_sha1(content: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", content.len()).as_bytes());
    h.update(content);
    hex(&h.finalize())
}

type Response = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn respond(
    repo: &str,
    request: &tiny_http::Request,
    files: &BTreeMap<String, Vec<u8>>,
    mode: Mode,
) -> Response {
    let url = request.url().to_string();
    let info = format!("/api/datasets/{repo}/revision/main");
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
        if let Some(file) = url.strip_prefix(&format!("/datasets/{repo}/resolve/main/")) {
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
