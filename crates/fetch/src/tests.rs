//! Fetcher tests against local servers only (tiny_http, or raw TCP where a
//! response must break HTTP on purpose); nothing here touches the internet.

use super::*;
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read as _, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use tiny_http::{Header, Response, Server, StatusCode};

/// A tiny_http server answering each request on its own thread, so slow
/// handlers overlap; `handler` gets the request and its 1-based number.
struct TestServer {
    base: String,
    hits: Arc<AtomicUsize>,
    server: Arc<Server>,
}

impl TestServer {
    fn start(handler: impl Fn(tiny_http::Request, usize) + Send + Sync + 'static) -> Self {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("bind test server"));
        let port = server.server_addr().to_ip().expect("ip listener").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let handler = Arc::new(handler);
        let (srv, count) = (server.clone(), hits.clone());
        thread::spawn(move || {
            for request in srv.incoming_requests() {
                let n = count.fetch_add(1, SeqCst) + 1;
                let handler = handler.clone();
                thread::spawn(move || handler(request, n));
            }
        });
        TestServer {
            base: format!("http://127.0.0.1:{port}"),
            hits,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hits(&self) -> usize {
        self.hits.load(SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn reply(request: tiny_http::Request, status: u16, body: &[u8], headers: &[(&str, &str)]) {
    let mut response = Response::from_data(body.to_vec()).with_status_code(StatusCode(status));
    for (k, v) in headers {
        response.add_header(Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("header"));
    }
    let _ = request.respond(response);
}

/// A raw TCP server that sends `head_and_body` verbatim to every connection,
/// then holds the socket open for `hold` before closing it.
fn raw_server(head_and_body: &'static [u8], hold: Duration) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind raw server");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let count = hits.clone();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            count.fetch_add(1, SeqCst);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(head_and_body);
                let _ = stream.flush();
                thread::sleep(hold);
            });
        }
    });
    (format!("http://127.0.0.1:{port}/file"), hits)
}

fn quick() -> FetchSettings {
    FetchSettings {
        keep_alive: true,
        retries: 2,
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        max_time: None,
        max_size: None,
        per_host: Some(8),
        per_host_max: 8,
        max_backoff: Duration::from_millis(20),
        min_speed: 0,
        ..FetchSettings::default()
    }
}

/// Ignores proxy variables: a developer's `http_proxy` must not capture
/// requests meant for 127.0.0.1.
fn fetcher(settings: FetchSettings) -> Fetcher {
    Fetcher::build(settings, false).expect("client")
}

struct Dest {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn dest() -> Dest {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.part");
    Dest { _dir: dir, path }
}

fn get(f: &Fetcher, url: &str, dest: &Dest) -> Result<Fetched, FetchFailure> {
    f.fetch(url, &dest.path, None, &AtomicBool::new(false))
}

fn expect_failure(result: Result<Fetched, FetchFailure>, class: ErrorClass) -> FetchFailure {
    match result {
        Ok(done) => panic!("expected {class} failure, got success {done:?}"),
        Err(failure) => {
            assert_eq!(failure.error.class, class, "{}", failure.error.message);
            failure
        }
    }
}

fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn fetcher_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Fetcher>();
}

#[test]
fn downloads_body_with_user_agent_and_content_type() {
    let server = TestServer::start(|req, _| {
        let ua = req
            .headers()
            .iter()
            .find(|h| h.field.equiv("User-Agent"))
            .map(|h| h.value.to_string());
        let ok = ua.as_deref() == Some(concat!("pixmill/", env!("CARGO_PKG_VERSION")));
        let status = if ok { 200 } else { 400 };
        reply(req, status, b"pixels", &[("Content-Type", "image/png")]);
    });
    let d = dest();
    let done = get(&fetcher(quick()), &server.url("/a.png"), &d).expect("fetch");
    assert_eq!((done.bytes, done.http_status, done.attempts), (6, 200, 1));
    assert_eq!(done.content_type.as_deref(), Some("image/png"));
    assert_eq!(std::fs::read(&d.path).unwrap(), b"pixels");
}

#[test]
fn flaky_503_twice_then_recovers() {
    let server = TestServer::start(|req, n| match n {
        1 | 2 => reply(req, 503, b"busy", &[]),
        _ => reply(req, 200, b"finally", &[]),
    });
    let d = dest();
    let done = get(&fetcher(quick()), &server.url("/f"), &d).expect("recovers");
    assert_eq!(done.attempts, 3);
    assert_eq!(server.hits(), 3);
    assert_eq!(std::fs::read(&d.path).unwrap(), b"finally");
}

#[test]
fn retry_after_on_429_is_honoured() {
    let server = TestServer::start(|req, n| match n {
        1 => reply(req, 429, b"slow down", &[("Retry-After", "1")]),
        _ => reply(req, 200, b"ok", &[]),
    });
    let settings = FetchSettings {
        max_backoff: Duration::from_secs(3),
        ..quick()
    };
    let d = dest();
    let started = Instant::now();
    let done = get(&fetcher(settings), &server.url("/r"), &d).expect("fetch");
    assert_eq!(done.attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn not_found_is_not_retried() {
    let server = TestServer::start(|req, _| reply(req, 404, b"nope", &[]));
    let d = dest();
    let failure = expect_failure(
        get(&fetcher(quick()), &server.url("/x"), &d),
        ErrorClass::Http,
    );
    assert_eq!(failure.error.message, "HTTP 404 Not Found");
    assert_eq!((failure.attempts, failure.http_status), (1, Some(404)));
    assert_eq!(server.hits(), 1);
    assert!(!d.path.exists());
}

#[test]
fn server_error_retried_then_fails() {
    let server = TestServer::start(|req, _| reply(req, 500, b"boom", &[]));
    let settings = FetchSettings {
        retries: 3,
        ..quick()
    };
    let d = dest();
    let failure = expect_failure(
        get(&fetcher(settings), &server.url("/x"), &d),
        ErrorClass::Http,
    );
    assert_eq!(failure.error.message, "HTTP 500 Internal Server Error");
    assert_eq!((failure.attempts, failure.http_status), (4, Some(500)));
    assert_eq!(server.hits(), 4);
}

#[test]
fn truncated_body_is_retried_then_fails_and_leaves_nothing() {
    // tiny_http keeps connections alive, so a short body would look like a
    // stall there; a raw socket can announce 100 bytes, send 40 and close.
    let body =
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789012345678901234567890123456789";
    let (url, hits) = raw_server(body, Duration::ZERO);
    let settings = FetchSettings {
        retries: 1,
        ..quick()
    };
    let d = dest();
    let failure = expect_failure(get(&fetcher(settings), &url, &d), ErrorClass::Truncated);
    assert!(
        failure.error.message.starts_with("body ended after ")
            && failure.error.message.contains(" of 100 bytes"),
        "{}",
        failure.error.message
    );
    assert_eq!(failure.attempts, 2);
    assert_eq!(hits.load(SeqCst), 2);
    assert!(!d.path.exists());
}

#[test]
fn stalled_body_times_out() {
    let body = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst bytes";
    let (url, _) = raw_server(body, Duration::from_secs(5));
    let settings = FetchSettings {
        retries: 0,
        timeout: Duration::from_secs(1),
        ..quick()
    };
    let d = dest();
    let started = Instant::now();
    let failure = expect_failure(get(&fetcher(settings), &url, &d), ErrorClass::Timeout);
    assert!(
        failure.error.message.contains("stalled"),
        "{}",
        failure.error.message
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!d.path.exists());
}

#[test]
fn silent_server_times_out_waiting_for_headers() {
    let (url, _) = raw_server(b"", Duration::from_secs(5));
    let settings = FetchSettings {
        retries: 0,
        timeout: Duration::from_secs(1),
        ..quick()
    };
    let d = dest();
    let failure = expect_failure(get(&fetcher(settings), &url, &d), ErrorClass::Timeout);
    assert!(
        failure.error.message.contains("no response"),
        "{}",
        failure.error.message
    );
}

#[test]
fn max_time_cuts_a_stalled_body_short() {
    let body = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst bytes";
    let (url, _) = raw_server(body, Duration::from_secs(5));
    let settings = FetchSettings {
        timeout: Duration::from_secs(10),
        max_time: Some(Duration::from_millis(800)),
        ..quick()
    };
    let d = dest();
    let started = Instant::now();
    let failure = expect_failure(get(&fetcher(settings), &url, &d), ErrorClass::Timeout);
    assert!(
        failure.error.message.contains("max-time"),
        "{}",
        failure.error.message
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(failure.attempts, 1);
}

#[test]
fn max_time_caps_retries() {
    let server = TestServer::start(|req, _| reply(req, 500, b"boom", &[]));
    let settings = FetchSettings {
        retries: 1000,
        max_time: Some(Duration::from_millis(700)),
        max_backoff: Duration::from_millis(100),
        ..quick()
    };
    let d = dest();
    let started = Instant::now();
    let failure = expect_failure(
        get(&fetcher(settings), &server.url("/x"), &d),
        ErrorClass::Timeout,
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        failure.error.message.contains("max-time"),
        "{}",
        failure.error.message
    );
    assert!(
        failure.error.message.contains("HTTP 500"),
        "{}",
        failure.error.message
    );
    assert!(
        failure.attempts > 1 && failure.attempts < 100,
        "{}",
        failure.attempts
    );
    assert_eq!(failure.http_status, Some(500));
}

#[test]
fn redirect_chain_is_followed() {
    let server = TestServer::start(|req, _| {
        let next = match req.url() {
            "/r3" => "/r2",
            "/r2" => "/r1",
            "/r1" => "/file",
            _ => return reply(req, 200, b"landed", &[]),
        };
        reply(req, 302, b"", &[("Location", next)]);
    });
    let d = dest();
    let done = get(&fetcher(quick()), &server.url("/r3"), &d).expect("fetch");
    assert_eq!(done.attempts, 1);
    assert_eq!(server.hits(), 4);
    assert_eq!(std::fs::read(&d.path).unwrap(), b"landed");
}

#[test]
fn redirect_loop_fails_without_retry() {
    let server = TestServer::start(|req, _| reply(req, 302, b"", &[("Location", "/loop")]));
    let d = dest();
    let failure = expect_failure(
        get(&fetcher(quick()), &server.url("/loop"), &d),
        ErrorClass::Fetch,
    );
    assert!(
        failure.error.message.contains("too many redirects"),
        "{}",
        failure.error.message
    );
    assert_eq!(failure.attempts, 1);
    assert_eq!(server.hits(), MAX_REDIRECTS + 1);
}

#[test]
fn redirect_to_other_scheme_refused() {
    let server = TestServer::start(|req, _| {
        let target = match req.url() {
            "/ftp" => "ftp://127.0.0.1/x",
            _ => "file:///etc/passwd",
        };
        reply(req, 301, b"", &[("Location", target)]);
    });
    let f = fetcher(quick());
    let d = dest();
    let failure = expect_failure(get(&f, &server.url("/ftp"), &d), ErrorClass::Fetch);
    let msg = &failure.error.message;
    assert!(msg.contains("unsupported URL scheme"), "{msg}");
    assert_eq!(failure.attempts, 1);
    // A `file:` Location is not even a valid HTTP URI, so the client never
    // follows it and hands back the 301, which still says why.
    let failure = expect_failure(get(&f, &server.url("/file"), &d), ErrorClass::Fetch);
    assert_eq!(failure.http_status, Some(301));
    let msg = &failure.error.message;
    assert!(
        msg.contains("redirect to unsupported URL scheme \"file\""),
        "{msg}"
    );
    assert_eq!(server.hits(), 2);
}

#[test]
fn refused_connection_is_a_fetch_error_after_retries() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let settings = FetchSettings {
        retries: 1,
        ..quick()
    };
    let d = dest();
    let url = format!("http://127.0.0.1:{port}/x.jpg");
    let failure = expect_failure(get(&fetcher(settings), &url, &d), ErrorClass::Fetch);
    assert!(
        failure.error.message.starts_with("connection failed"),
        "{}",
        failure.error.message
    );
    assert!(
        !failure.error.message.contains("127.0.0.1"),
        "{}",
        failure.error.message
    );
    assert_eq!((failure.attempts, failure.http_status), (2, None));
}

#[test]
fn bad_urls_fail_before_any_request() {
    let f = fetcher(quick());
    let d = dest();
    for (url, needle) in [
        ("ftp://example.com/a.jpg", "unsupported URL scheme"),
        ("file:///etc/passwd", "unsupported URL scheme"),
        ("not a url", "invalid URL"),
    ] {
        let failure = expect_failure(get(&f, url, &d), ErrorClass::Fetch);
        assert!(
            failure.error.message.contains(needle),
            "{url}: {}",
            failure.error.message
        );
        assert_eq!(failure.attempts, 0);
    }
}

#[test]
fn announced_oversize_body_rejected_at_once() {
    let server = TestServer::start(|req, _| reply(req, 200, &[7u8; 1000], &[]));
    let settings = FetchSettings {
        max_size: Some(100),
        ..quick()
    };
    let d = dest();
    let failure = expect_failure(
        get(&fetcher(settings), &server.url("/big"), &d),
        ErrorClass::TooLarge,
    );
    assert_eq!(failure.error.message, "body exceeds --max-size 100 bytes");
    assert_eq!((failure.attempts, failure.http_status), (1, Some(200)));
    assert!(!d.path.exists());
}

#[test]
fn unannounced_oversize_body_aborted_while_streaming() {
    let server = TestServer::start(|req, _| {
        // No length: tiny_http falls back to chunked encoding.
        let body = Cursor::new(vec![7u8; 1000]);
        let _ = req.respond(Response::new(StatusCode(200), vec![], body, None, None));
    });
    let settings = FetchSettings {
        max_size: Some(100),
        ..quick()
    };
    let d = dest();
    let failure = expect_failure(
        get(&fetcher(settings), &server.url("/big"), &d),
        ErrorClass::TooLarge,
    );
    assert_eq!(failure.attempts, 1);
    assert!(!d.path.exists());
}

#[test]
fn body_at_exactly_max_size_is_fine() {
    let server = TestServer::start(|req, _| reply(req, 200, &[1u8; 100], &[]));
    let settings = FetchSettings {
        max_size: Some(100),
        ..quick()
    };
    let done = get(&fetcher(settings), &server.url("/ok"), &dest()).expect("fetch");
    assert_eq!(done.bytes, 100);
}

#[test]
fn sha256_mismatch_fails_and_removes_dest() {
    let server = TestServer::start(|req, _| reply(req, 200, b"actual", &[]));
    let d = dest();
    let wrong = sha_hex(b"expected");
    let result = fetcher(quick()).fetch(
        &server.url("/s"),
        &d.path,
        Some(&wrong),
        &AtomicBool::new(false),
    );
    let failure = expect_failure(result, ErrorClass::Checksum);
    let got = sha_hex(b"actual");
    assert_eq!(
        failure.error.message,
        format!("sha256 mismatch: expected {wrong}, got {got}")
    );
    assert_eq!(failure.attempts, 1);
    assert!(!d.path.exists());
}

#[test]
fn sha256_match_passes_case_insensitively() {
    let server = TestServer::start(|req, _| reply(req, 200, b"actual", &[]));
    let d = dest();
    let want = sha_hex(b"actual").to_ascii_uppercase();
    let done = fetcher(quick())
        .fetch(
            &server.url("/s"),
            &d.path,
            Some(&want),
            &AtomicBool::new(false),
        )
        .expect("checksum matches");
    assert_eq!(done.bytes, 6);
    assert!(d.path.exists());
}

#[test]
fn malformed_expected_sha256_rejected_up_front() {
    let d = dest();
    let result = fetcher(quick()).fetch(
        "http://127.0.0.1:9/x",
        &d.path,
        Some("abc"),
        &AtomicBool::new(false),
    );
    let failure = expect_failure(result, ErrorClass::Checksum);
    assert_eq!(failure.attempts, 0);
}

#[test]
fn unwritable_dest_is_a_write_error_not_retried() {
    let server = TestServer::start(|req, _| reply(req, 200, b"data", &[]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("out.part");
    let result = fetcher(quick()).fetch(&server.url("/w"), &path, None, &AtomicBool::new(false));
    let failure = expect_failure(result, ErrorClass::Write);
    assert_eq!(failure.attempts, 1);
    assert_eq!(server.hits(), 1);
}

#[test]
fn cancelled_before_start_makes_no_request() {
    let server = TestServer::start(|req, _| reply(req, 200, b"data", &[]));
    let d = dest();
    let result = fetcher(quick()).fetch(&server.url("/c"), &d.path, None, &AtomicBool::new(true));
    let failure = expect_failure(result, ErrorClass::Fetch);
    assert_eq!(failure.error.message, "cancelled");
    assert_eq!((failure.attempts, server.hits()), (0, 0));
}

#[test]
fn per_host_cap_limits_concurrency() {
    let current = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (cur, pk) = (current.clone(), peak.clone());
    let server = TestServer::start(move |req, _| {
        let now = cur.fetch_add(1, SeqCst) + 1;
        pk.fetch_max(now, SeqCst);
        thread::sleep(Duration::from_millis(150));
        cur.fetch_sub(1, SeqCst);
        reply(req, 200, b"x", &[]);
    });
    let f = Arc::new(fetcher(FetchSettings {
        per_host: Some(2),
        ..quick()
    }));
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (f, url) = (f.clone(), server.url(&format!("/{i}")));
            thread::spawn(move || {
                let d = dest();
                get(&f, &url, &d).map(|done| done.bytes)
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread").expect("fetch"), 1);
    }
    assert_eq!(server.hits(), 6);
    assert_eq!(peak.load(SeqCst), 2, "cap not reached or exceeded");
}

#[test]
fn huge_limits_do_not_overflow() {
    let server = TestServer::start(|req, n| match n {
        1 => reply(req, 503, b"", &[("Retry-After", "0")]),
        _ => reply(req, 200, b"ok", &[]),
    });
    let settings = FetchSettings {
        max_time: Some(Duration::MAX),
        max_backoff: Duration::MAX,
        timeout: Duration::MAX,
        connect_timeout: Duration::MAX,
        ..quick()
    };
    let done = get(&fetcher(settings), &server.url("/h"), &dest()).expect("fetch");
    assert_eq!(done.attempts, 2);
}
