//! The one HTTP/1.1 test server of pixmill's tests: 127.0.0.1 only, on a raw
//! socket so faults (a cut body, a stall, a held reply) are exactly what the
//! test asks for. Every connection gets its own thread, so slow replies
//! overlap.
//!
//! Built-in routes (files are added with [`Server::add`]):
//! - `/f/NAME`             the file NAME
//! - `/ct/NAME?type=T`     the file NAME with `Content-Type: T`
//! - `/flaky/K/NAME`       503 the first K times NAME is asked, then the file
//! - `/retry-after/S/NAME` first ask: 429 with `Retry-After: S`; then the file
//! - `/retry-after-date/NAME` first ask: 503 with a `Retry-After` date in the
//!   past; then the file
//! - `/status/CODE/NAME`   replies CODE
//! - `/robots/TAG/NAME`    the file with `X-Robots-Tag: TAG` (`%20` = space)
//! - `/truncate/NAME`      announces the full length, sends half, closes
//! - `/stall/NAME`         sends headers, then nothing for 30 s
//! - `/hold/NAME`          sends half the file, then waits for
//!   [`Server::release`] ([`Server::wait_held`] waits for such replies)
//! - `/trickle/NAME`       the file one byte every 300 ms
//! - `/slow/MS/NAME`       the file, after MS milliseconds
//! - `/limit/L/MS/NAME`    keep-alive; 429 at once while more than L requests
//!   are in flight, else `body of PATH` after MS milliseconds (a server that
//!   takes time to answer and refuses bursts, as rate-limiting proxies do)
//! - `/redirect/N/NAME`    N redirects, then the file
//! - `/redirect-to?URL`    302 to URL (any scheme)
//! - `/etag/NAME`          the file with an `ETag` and `Last-Modified`; a
//!   request whose `If-None-Match` matches gets 304 Not Modified
//! - `/download.php?file=NAME[&as=SHOWN][&etag=1]` the file with
//!   `Content-Disposition: attachment; filename="SHOWN"` (default NAME);
//!   with `etag=1` also an `ETag`, and 304 to a matching `If-None-Match`
//! - anything else: 404
//!
//! A test that needs other behaviour starts the server [`Server::with`] a
//! handler, which sees each [`Request`] first and answers it with a
//! [`Reply`], or leaves it to the built-in routes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query, without the `?` (empty when there is none).
    pub query: String,
    /// The headers as sent, in order.
    pub headers: Vec<(String, String)>,
    /// This request's number on the server, from 1.
    pub number: usize,
    /// This request's number among the requests for its path, from 1.
    pub path_hits: usize,
}

impl Request {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the body of a [`Reply`] is sent.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// With `Content-Length`, whole.
    Whole,
    /// Chunked, with no length announced.
    Chunked,
    /// One byte at a time, this long apart.
    Trickle(Duration),
    /// Half the body, then nothing until the test releases held replies.
    Held,
    /// Nothing at all, not even a status line.
    Silent,
}

/// An answer to a [`Request`].
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    shape: Shape,
    /// Send only this many body bytes (after announcing them all).
    cut: Option<usize>,
    /// Hold the connection this long after sending, before closing it.
    linger: Duration,
    keep_alive: bool,
}

impl Reply {
    /// `status` with `body`, announced by `Content-Length`, then closed.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            shape: Shape::Whole,
            cut: None,
            linger: Duration::ZERO,
            keep_alive: false,
        }
    }

    /// 200 with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(200, body)
    }

    /// 404.
    pub fn not_found() -> Reply {
        Reply::new(404, "not found")
    }

    /// A connection that accepts the request and says nothing for `wait`.
    pub fn silent(wait: Duration) -> Reply {
        Reply {
            shape: Shape::Silent,
            linger: wait,
            ..Reply::new(200, "")
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Announces the whole body but sends only its first `bytes`.
    pub fn cut_at(mut self, bytes: usize) -> Reply {
        self.cut = Some(bytes.min(self.body.len()));
        self
    }

    /// Keeps the connection open for `wait` after sending, then closes it.
    pub fn then_wait(mut self, wait: Duration) -> Reply {
        self.linger = wait;
        self
    }

    /// Sends the body chunked, with no length announced.
    pub fn chunked(mut self) -> Reply {
        self.shape = Shape::Chunked;
        self
    }

    /// Sends the body one byte every `gap`.
    pub fn trickle(mut self, gap: Duration) -> Reply {
        self.shape = Shape::Trickle(gap);
        self
    }

    /// Sends half the body, then waits for [`Server::release`].
    pub fn held(mut self) -> Reply {
        self.shape = Shape::Held;
        self
    }

    /// Keeps the connection open for the client's next request.
    pub fn keep_alive(mut self) -> Reply {
        self.keep_alive = true;
        self
    }
}

type Handler = dyn Fn(&Request) -> Option<Reply> + Send + Sync;

#[derive(Default)]
struct Holds {
    held: usize,
    released: bool,
}

#[derive(Default)]
struct State {
    files: Mutex<HashMap<String, Vec<u8>>>,
    hits: Mutex<HashMap<String, Vec<Instant>>>,
    not_modified: Mutex<HashMap<String, usize>>,
    statuses: Mutex<HashMap<u16, usize>>,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    holds: (Mutex<Holds>, Condvar),
    handler: Option<Box<Handler>>,
}

/// A running test server; it stops when the test process ends.
#[derive(Clone)]
pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    state: Arc<State>,
}

impl Server {
    /// A server with the built-in routes only.
    pub fn start() -> Server {
        Server::launch(None)
    }

    /// A server whose `handler` answers first; `None` leaves a request to
    /// the built-in routes.
    pub fn with(handler: impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static) -> Server {
        Server::launch(Some(Box::new(handler)))
    }

    fn launch(handler: Option<Box<Handler>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test server");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let state = Arc::new(State {
            handler,
            ..State::default()
        });
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || connection(stream, &state));
            }
        });
        Server { base, state }
    }

    /// Serves `data` as NAME on every route.
    pub fn add(&self, name: &str, data: impl Into<Vec<u8>>) {
        let mut files = self.state.files.lock().unwrap();
        files.insert(name.to_string(), data.into());
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How many requests reached `path` (without the query).
    pub fn hits(&self, path: &str) -> usize {
        self.hit_times(path).len()
    }

    /// When requests reached `path`.
    pub fn hit_times(&self, path: &str) -> Vec<Instant> {
        let hits = self.state.hits.lock().unwrap();
        hits.get(path).cloned().unwrap_or_default()
    }

    /// How many requests reached the server at all.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// How many requests to `path` were answered 304 Not Modified.
    pub fn not_modified(&self, path: &str) -> usize {
        let counts = self.state.not_modified.lock().unwrap();
        counts.get(path).copied().unwrap_or(0)
    }

    /// How many replies had status `code`.
    pub fn replies(&self, code: u16) -> usize {
        let counts = self.state.statuses.lock().unwrap();
        counts.get(&code).copied().unwrap_or(0)
    }

    /// The most requests the server was answering at once.
    pub fn peak_in_flight(&self) -> usize {
        self.state.peak.load(Ordering::SeqCst)
    }

    /// Blocks until `n` held replies have sent their first half (panics
    /// after `limit`: a safety net, not a timing).
    pub fn wait_held(&self, n: usize, limit: Duration) {
        let (lock, cv) = &self.state.holds;
        let (holds, timeout) = cv
            .wait_timeout_while(lock.lock().unwrap(), limit, |h| h.held < n)
            .unwrap();
        assert!(!timeout.timed_out(), "only {} of {n} held", holds.held);
    }

    /// Lets every held reply (now and later) send the rest of its body.
    pub fn release(&self) {
        let (lock, cv) = &self.state.holds;
        lock.lock().unwrap().released = true;
        cv.notify_all();
    }
}

/// Serves one connection: requests until a reply closes it.
fn connection(stream: TcpStream, state: &State) {
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut out = stream;
    while let Some(mut request) = read_request(&mut reader) {
        request.number = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
        request.path_hits = {
            let mut hits = state.hits.lock().unwrap();
            let times = hits.entry(request.path.clone()).or_default();
            times.push(Instant::now());
            times.len()
        };
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.peak.fetch_max(now, Ordering::SeqCst);
        let reply = state
            .handler
            .as_ref()
            .and_then(|handler| handler(&request))
            .unwrap_or_else(|| route(&request, state));
        *state
            .statuses
            .lock()
            .unwrap()
            .entry(reply.status)
            .or_default() += 1;
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !send(&mut out, &reply, state) || !reply.keep_alive {
            return;
        }
    }
}

/// Reads a request line and headers (and skips a body); `None` at the end
/// of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let method = words.next()?.to_string();
    let target = words.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        if header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(0);
    std::io::copy(&mut reader.by_ref().take(length), &mut std::io::sink()).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        number: 0,
        path_hits: 0,
    })
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Writes `reply`; false when the connection broke.
fn send(out: &mut TcpStream, reply: &Reply, state: &State) -> bool {
    if reply.shape == Shape::Silent {
        std::thread::sleep(reply.linger);
        return false;
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    if reply.shape == Shape::Chunked {
        head.push_str("Transfer-Encoding: chunked\r\n");
    } else {
        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    let connection = if reply.keep_alive {
        "keep-alive"
    } else {
        "close"
    };
    head.push_str(&format!("Connection: {connection}\r\n"));
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if out.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let body = &reply.body[..reply.cut.unwrap_or(reply.body.len())];
    let sent = match reply.shape {
        Shape::Whole | Shape::Silent => out.write_all(body).is_ok(),
        Shape::Chunked => {
            let mut chunked = Vec::new();
            for chunk in body.chunks(256) {
                chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                chunked.extend_from_slice(chunk);
                chunked.extend_from_slice(b"\r\n");
            }
            if reply.cut.is_none() {
                chunked.extend_from_slice(b"0\r\n\r\n");
            }
            out.write_all(&chunked).is_ok()
        }
        Shape::Trickle(gap) => body.iter().all(|b| {
            let ok = out.write_all(&[*b]).and_then(|()| out.flush()).is_ok();
            std::thread::sleep(gap);
            ok
        }),
        Shape::Held => {
            let (first, rest) = body.split_at(body.len() / 2);
            if out.write_all(first).and_then(|()| out.flush()).is_err() {
                return false;
            }
            let (lock, cv) = &state.holds;
            let mut holds = lock.lock().unwrap();
            holds.held += 1;
            cv.notify_all();
            while !holds.released {
                holds = cv.wait(holds).unwrap();
            }
            drop(holds);
            out.write_all(rest).is_ok()
        }
    };
    let _ = out.flush();
    if !reply.linger.is_zero() {
        std::thread::sleep(reply.linger);
    }
    sent
}

/// A strong validator for `data`: its length and CRC.
fn etag_of(data: &[u8]) -> String {
    format!("\"{}-{:08x}\"", data.len(), crate::crc32(data))
}

/// The built-in routes (see the module's documentation).
fn route(request: &Request, state: &State) -> Reply {
    let file = |name: &str| state.files.lock().unwrap().get(name).cloned();
    let serve = |name: &str, content_type: &str| match file(name) {
        Some(data) => Reply::ok(data).header("Content-Type", content_type),
        None => Reply::not_found(),
    };
    let (path, query, count) = (
        request.path.as_str(),
        request.query.as_str(),
        request.path_hits,
    );
    let octets = "application/octet-stream";
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
    match parts.as_slice() {
        ["f", name] => serve(name, octets),
        ["ct", name] => {
            let ct = query
                .strip_prefix("type=")
                .unwrap_or(octets)
                .replace("%2F", "/");
            serve(name, &ct)
        }
        // `%20` for spaces, so `pixmill:%20noai` is a scoped directive.
        ["robots", tag, name] => match file(name) {
            Some(data) => Reply::ok(data)
                .header("X-Robots-Tag", &tag.replace("%20", " "))
                .header("Content-Type", "image/png"),
            None => Reply::not_found(),
        },
        ["flaky", k, _] if count <= k.parse().unwrap_or(0) => Reply::new(503, "busy"),
        ["flaky", _, name] => serve(name, octets),
        ["retry-after", secs, _] if count == 1 => {
            Reply::new(429, "slow down").header("Retry-After", secs)
        }
        ["retry-after", _, name] => serve(name, octets),
        ["retry-after-date", _] if count == 1 => {
            Reply::new(503, "busy").header("Retry-After", "Thu, 01 Jan 1970 00:00:00 GMT")
        }
        ["retry-after-date", name] => serve(name, octets),
        ["etag", name] => match file(name) {
            Some(data) => conditional(request, state, data)
                .header("Last-Modified", "Tue, 24 Nov 2026 10:00:00 GMT")
                .header("Content-Type", "image/jpeg"),
            None => Reply::not_found(),
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
            let reply = match file(&name) {
                Some(data) if param("etag").is_some() => conditional(request, state, data),
                Some(data) => Reply::ok(data),
                None => return Reply::not_found(),
            };
            reply.header("Content-Disposition", &disposition)
        }
        ["status", code, _] => Reply::new(code.parse().unwrap_or(500), "status"),
        ["truncate", name] => {
            let data = file(name).unwrap_or_default();
            let half = data.len() / 2;
            Reply::ok(data).cut_at(half)
        }
        ["stall", name] => Reply::ok(file(name).unwrap_or_default())
            .cut_at(0)
            .then_wait(Duration::from_secs(30)),
        ["hold", name] => match file(name) {
            Some(data) => Reply::ok(data).held(),
            None => Reply::not_found(),
        },
        ["trickle", name] => {
            Reply::ok(file(name).unwrap_or_default()).trickle(Duration::from_millis(300))
        }
        ["slow", ms, name] => {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
            serve(name, octets)
        }
        ["limit", limit, rest] => {
            let limit: usize = limit.parse().unwrap_or(usize::MAX);
            if state.in_flight.load(Ordering::SeqCst) > limit {
                return Reply::new(429, "").keep_alive();
            }
            let ms = rest.split('/').next().and_then(|ms| ms.parse().ok());
            // The server's own time to answer: what makes requests overlap.
            std::thread::sleep(Duration::from_millis(ms.unwrap_or(0)));
            Reply::ok(format!("body of {path}")).keep_alive()
        }
        ["redirect-to"] => Reply::new(302, "").header("Location", query),
        ["redirect", n, name] => {
            let n: u32 = n.parse().unwrap_or(0);
            let next = if n <= 1 {
                format!("/f/{name}")
            } else {
                format!("/redirect/{}/{name}", n - 1)
            };
            Reply::new(302, "").header("Location", &next)
        }
        _ => Reply::not_found(),
    }
}

/// A conditional GET for `data`: 304 (counted) when `If-None-Match` names
/// its ETag, else 200 with the ETag.
fn conditional(request: &Request, state: &State, data: Vec<u8>) -> Reply {
    let etag = etag_of(&data);
    if request.header("If-None-Match") == Some(etag.as_str()) {
        let mut counts = state.not_modified.lock().unwrap();
        *counts.entry(request.path.clone()).or_default() += 1;
        return Reply::new(304, "").header("ETag", &etag);
    }
    Reply::ok(data).header("ETag", &etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One raw request; the whole answer as text.
    fn get(server: &Server, target: &str) -> String {
        let address = server.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).unwrap();
        write!(stream, "GET {target} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    }

    #[test]
    fn routes_answer_as_documented() {
        let server = Server::start();
        server.add("a.txt", "0123456789");
        assert!(get(&server, "/f/a.txt").ends_with("\r\n\r\n0123456789"));
        assert!(get(&server, "/f/missing").starts_with("HTTP/1.1 404"));
        let cut = get(&server, "/truncate/a.txt");
        assert!(cut.contains("Content-Length: 10\r\n"), "{cut}");
        assert!(cut.ends_with("\r\n\r\n01234"), "{cut}");
        assert!(get(&server, "/flaky/1/a.txt").starts_with("HTTP/1.1 503"));
        assert!(get(&server, "/flaky/1/a.txt").starts_with("HTTP/1.1 200"));
        let moved = get(&server, "/redirect/2/a.txt");
        assert!(moved.contains("Location: /redirect/1/a.txt"), "{moved}");
        assert_eq!(server.hits("/f/a.txt"), 1);
        assert_eq!(server.replies(404), 1);
        assert_eq!(server.requests(), 6);
    }

    #[test]
    fn a_handler_answers_first_and_leaves_the_rest_to_the_routes() {
        let server = Server::with(|req| {
            (req.path == "/who").then(|| Reply::ok(req.header("host").unwrap_or("").to_string()))
        });
        server.add("b", "bee");
        assert!(get(&server, "/who").ends_with("\r\n\r\ntest"));
        assert!(get(&server, "/f/b").ends_with("\r\n\r\nbee"));
    }

    #[test]
    fn a_conditional_request_with_the_etag_gets_304() {
        let server = Server::start();
        server.add("e", "etagged");
        let first = get(&server, "/etag/e");
        let etag = first
            .lines()
            .find_map(|l| l.strip_prefix("ETag: "))
            .unwrap()
            .to_string();
        let address = server.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET /etag/e HTTP/1.1\r\nIf-None-Match: {etag}\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 304"), "{answer}");
        assert_eq!(server.not_modified("/etag/e"), 1);
    }

    #[test]
    fn held_replies_wait_for_release() {
        let server = Server::start();
        server.add("h", "abcdef");
        let waiting = {
            let server = server.clone();
            std::thread::spawn(move || get(&server, "/hold/h"))
        };
        server.wait_held(1, Duration::from_secs(60));
        server.release();
        assert!(waiting.join().unwrap().ends_with("\r\n\r\nabcdef"));
    }
}
