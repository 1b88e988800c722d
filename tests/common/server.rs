//! A small HTTP/1.1 server on 127.0.0.1 for download tests, written on a raw
//! socket so faults (truncation, stalls) are exactly what the test asks for.
//!
//! Paths:
//! - `/f/NAME`             the file NAME
//! - `/ct/NAME?type=T`     the file NAME with `Content-Type: T`
//! - `/flaky/K/NAME`       503 the first K times NAME is asked, then the file
//! - `/retry-after/S/NAME` first ask: 429 with `Retry-After: S`; then the file
//! - `/status/CODE/NAME`   replies CODE
//! - `/robots/TAG/NAME`    the file with `X-Robots-Tag: TAG` (`%20` = space)
//! - `/truncate/NAME`      announces the full length, sends half, closes
//! - `/stall/NAME`         sends headers, then nothing for 30 s
//! - `/redirect/N/NAME`    N redirects, then the file
//! - `/etag/NAME`          the file with an `ETag` and `Last-Modified`; a
//!   request whose `If-None-Match` matches gets 304 Not Modified
//! - `/download.php?file=NAME[&as=SHOWN][&etag=1]` the file with
//!   `Content-Disposition: attachment; filename="SHOWN"` (default NAME);
//!   with `etag=1` also an `ETag`, and 304 to a matching `If-None-Match`
//! - `/slow/MS/NAME`       the file, after MS milliseconds
//! - `/redirect-to?URL`    302 to URL (any scheme)
//! - `/trickle/NAME`       the file one byte every 300 ms
//! - `/retry-after-date/NAME` first ask: 503 with a `Retry-After` date in the past; then the file
//! - anything else: 404

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    hits: HashMap<String, Vec<Instant>>,
    not_modified: HashMap<String, usize>,
}

/// A running test server; it stops when the test process ends.
#[derive(Clone)]
pub struct Server {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || handle(stream, &state));
            }
        });
        Server { base, state }
    }

    /// Serves `data` as NAME on every route.
    pub fn add(&self, name: &str, data: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(name.to_string(), data);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How many requests reached `path` (without the query).
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .map_or(0, Vec::len)
    }

    /// How many requests to `path` were answered 304 Not Modified.
    pub fn not_modified(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .not_modified
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// When requests reached `path`.
    pub fn hit_times(&self, path: &str) -> Vec<Instant> {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .cloned()
            .unwrap_or_default()
    }
}

/// Answers a conditional GET for `data`: 304 (counted in `not_modified`)
/// when `If-None-Match` names its ETag, else 200 with the ETag and `extra`.
fn conditional(
    out: &mut TcpStream,
    state: &Mutex<State>,
    path: &str,
    if_none_match: Option<&str>,
    data: &[u8],
    extra: &[(&str, &str)],
) {
    let etag = format!("\"{}-{:08x}\"", data.len(), super::crc32(data));
    if if_none_match == Some(etag.as_str()) {
        *state
            .lock()
            .unwrap()
            .not_modified
            .entry(path.to_string())
            .or_default() += 1;
        reply(out, 304, &[("ETag", &etag)], b"");
    } else {
        let mut headers = vec![("ETag", etag.as_str())];
        headers.extend_from_slice(extra);
        reply(out, 200, &headers, data);
    }
}

fn handle(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut if_none_match = None;
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {
                if let Some((k, v)) = header.split_once(':') {
                    if k.eq_ignore_ascii_case("if-none-match") {
                        if_none_match = Some(v.trim().to_string());
                    }
                }
            }
        }
    }
    let target = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let count = {
        let mut s = state.lock().unwrap();
        let hits = s.hits.entry(path.to_string()).or_default();
        hits.push(Instant::now());
        hits.len()
    };
    let file = |name: &str| state.lock().unwrap().files.get(name).cloned();
    let mut out = stream;
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
    match parts.as_slice() {
        ["f", name] => serve(&mut out, file(name), "application/octet-stream"),
        ["ct", name] => {
            let ct = query
                .strip_prefix("type=")
                .unwrap_or("application/octet-stream")
                .replace("%2F", "/");
            serve(&mut out, file(name), &ct)
        }
        ["robots", tag, name] => match file(name) {
            // `%20` for spaces, so `pixmill:%20noai` is a scoped directive.
            Some(data) => {
                let tag = tag.replace("%20", " ");
                let headers = [
                    ("X-Robots-Tag", tag.as_str()),
                    ("Content-Type", "image/png"),
                ];
                reply(&mut out, 200, &headers, &data)
            }
            None => reply(&mut out, 404, &[], b"not found"),
        },
        ["flaky", k, name] if count <= k.parse().unwrap_or(0) => reply(&mut out, 503, &[], b"busy"),
        ["flaky", _, name] => serve(&mut out, file(name), "application/octet-stream"),
        ["retry-after", secs, _] if count == 1 => {
            reply(&mut out, 429, &[("Retry-After", secs)], b"slow down")
        }
        ["retry-after", _, name] => serve(&mut out, file(name), "application/octet-stream"),
        ["etag", name] => match file(name) {
            Some(data) => conditional(
                &mut out,
                state,
                path,
                if_none_match.as_deref(),
                &data,
                &[
                    ("Last-Modified", "Tue, 24 Nov 2026 10:00:00 GMT"),
                    ("Content-Type", "image/jpeg"),
                ],
            ),
            None => reply(&mut out, 404, &[], b"not found"),
        },
        ["download.php"] => {
            let param = |key: &str| {
                query.split('&').find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    (k == key).then(|| v.replace("%2F", "/"))
                })
            };
            let name = param("file").unwrap_or_default();
            let shown = param("as").unwrap_or_else(|| name.clone());
            let disposition = format!("attachment; filename=\"{shown}\"");
            match file(&name) {
                Some(data) if param("etag").is_some() => conditional(
                    &mut out,
                    state,
                    path,
                    if_none_match.as_deref(),
                    &data,
                    &[("Content-Disposition", disposition.as_str())],
                ),
                Some(data) => reply(
                    &mut out,
                    200,
                    &[("Content-Disposition", disposition.as_str())],
                    &data,
                ),
                None => reply(&mut out, 404, &[], b"not found"),
            }
        }
        ["status", code, _] => reply(&mut out, code.parse().unwrap_or(500), &[], b"status"),
        ["truncate", name] => {
            let data = file(name).unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                data.len()
            );
            let _ = out.write_all(head.as_bytes());
            let _ = out.write_all(&data[..data.len() / 2]);
            let _ = out.flush();
        }
        ["stall", name] => {
            let data = file(name).unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                data.len()
            );
            let _ = out.write_all(head.as_bytes());
            let _ = out.flush();
            std::thread::sleep(Duration::from_secs(30));
        }
        ["slow", ms, name] => {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
            serve(&mut out, file(name), "application/octet-stream")
        }
        ["redirect-to"] => reply(&mut out, 302, &[("Location", query)], b""),
        ["trickle", name] => {
            let data = file(name).unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                data.len()
            );
            let _ = out.write_all(head.as_bytes());
            for b in data {
                if out.write_all(&[b]).and_then(|()| out.flush()).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        ["retry-after-date", _] if count == 1 => reply(
            &mut out,
            503,
            &[("Retry-After", "Thu, 01 Jan 1970 00:00:00 GMT")],
            b"busy",
        ),
        ["retry-after-date", name] => serve(&mut out, file(name), "application/octet-stream"),
        ["redirect", n, name] => {
            let n: u32 = n.parse().unwrap_or(0);
            let next = if n <= 1 {
                format!("/f/{name}")
            } else {
                format!("/redirect/{}/{name}", n - 1)
            };
            reply(&mut out, 302, &[("Location", &next)], b"")
        }
        _ => reply(&mut out, 404, &[], b"not found"),
    }
}

fn serve(out: &mut TcpStream, data: Option<Vec<u8>>, content_type: &str) {
    match data {
        Some(data) => reply(out, 200, &[("Content-Type", content_type)], &data),
        None => reply(out, 404, &[], b"not found"),
    }
}

fn reply(out: &mut TcpStream, code: u16, headers: &[(&str, &str)], body: &[u8]) {
    let reason = match code {
        200 => "OK",
        302 => "Found",
        304 => "Not Modified",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(body);
    let _ = out.flush();
}
