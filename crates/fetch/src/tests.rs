//! Fetcher tests against the one loopback test server (pixmill-testkit's),
//! whose replies can break HTTP on purpose; nothing here touches the
//! internet.

use super::*;
use pixmill_testkit::server::{Reply, Server};
use sha2::{Digest, Sha256};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

/// The reply `status` with `body` and `headers`, for a handler.
fn reply(status: u16, body: &[u8], headers: &[(&str, &str)]) -> Option<Reply> {
    let reply = Reply::new(status, body.to_vec());
    Some(
        headers
            .iter()
            .fold(reply, |reply, (k, v)| reply.header(k, v)),
    )
}

/// 200 with a 100-byte body that starts with `first` and stops there, then
/// holds the connection for `hold`.
fn cut_short(first: &[u8], hold: Duration) -> Option<Reply> {
    let mut body = first.to_vec();
    body.resize(100, b'.');
    Some(Reply::ok(body).cut_at(first.len()).then_wait(hold))
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
    f.fetch(url, &dest.path, &[], &AtomicBool::new(false))
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

fn sha256(hex: &str) -> pixmill_base::hashing::Checksum {
    pixmill_base::hashing::Checksum {
        algo: pixmill_base::hashing::HashAlgo::Sha256,
        hex: hex.to_string(),
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
    let server = Server::with(|req| {
        let ua = req.header("User-Agent");
        let ok = ua == Some(concat!("pixmill/", env!("CARGO_PKG_VERSION")));
        let status = if ok { 200 } else { 400 };
        reply(status, b"pixels", &[("Content-Type", "image/png")])
    });
    let d = dest();
    let done = get(&fetcher(quick()), &server.url("/a.png"), &d).expect("fetch");
    assert_eq!((done.bytes, done.http_status, done.attempts), (6, 200, 1));
    assert_eq!(done.content_type.as_deref(), Some("image/png"));
    assert_eq!(std::fs::read(&d.path).unwrap(), b"pixels");
}

#[test]
fn flaky_503_twice_then_recovers() {
    let server = Server::with(|req| match req.number {
        1 | 2 => reply(503, b"busy", &[]),
        _ => reply(200, b"finally", &[]),
    });
    let d = dest();
    let done = get(&fetcher(quick()), &server.url("/f"), &d).expect("recovers");
    assert_eq!(done.attempts, 3);
    assert_eq!(server.requests(), 3);
    assert_eq!(std::fs::read(&d.path).unwrap(), b"finally");
}

#[test]
fn retry_after_on_429_is_honoured() {
    let server = Server::with(|req| match req.number {
        1 => reply(429, b"slow down", &[("Retry-After", "1")]),
        _ => reply(200, b"ok", &[]),
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
    let server = Server::with(|_| reply(404, b"nope", &[]));
    let d = dest();
    let failure = expect_failure(
        get(&fetcher(quick()), &server.url("/x"), &d),
        ErrorClass::Http,
    );
    assert_eq!(failure.error.message, "HTTP 404 Not Found");
    assert_eq!((failure.attempts, failure.http_status), (1, Some(404)));
    assert_eq!(server.requests(), 1);
    assert!(!d.path.exists());
}

#[test]
fn server_error_retried_then_fails() {
    let server = Server::with(|_| reply(500, b"boom", &[]));
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
    assert_eq!(server.requests(), 4);
}

#[test]
fn truncated_body_is_retried_then_fails_and_leaves_nothing() {
    // Announces 100 bytes, sends 40 and closes.
    let server =
        Server::with(|_| cut_short(b"0123456789012345678901234567890123456789", Duration::ZERO));
    let url = server.url("/file");
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
    assert_eq!(server.requests(), 2);
    assert!(!d.path.exists());
}

#[test]
fn stalled_body_times_out() {
    let server = Server::with(|_| cut_short(b"first bytes", Duration::from_secs(5)));
    let url = server.url("/file");
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
    let server = Server::with(|_| Some(Reply::silent(Duration::from_secs(5))));
    let url = server.url("/file");
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
    let server = Server::with(|_| cut_short(b"first bytes", Duration::from_secs(5)));
    let url = server.url("/file");
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
    let server = Server::with(|_| reply(500, b"boom", &[]));
    let settings = FetchSettings {
        retries: 1000,
        // Long enough that the first answer always comes within it, even
        // on a loaded machine (at 0.7 s it once did not, under CI's load).
        max_time: Some(Duration::from_millis(2000)),
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
        started.elapsed() < Duration::from_millis(3500),
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
    let server = Server::with(|req| {
        let next = match req.path.as_str() {
            "/r3" => "/r2",
            "/r2" => "/r1",
            "/r1" => "/file",
            _ => return reply(200, b"landed", &[]),
        };
        reply(302, b"", &[("Location", next)])
    });
    let d = dest();
    let done = get(&fetcher(quick()), &server.url("/r3"), &d).expect("fetch");
    assert_eq!(done.attempts, 1);
    assert_eq!(server.requests(), 4);
    assert_eq!(std::fs::read(&d.path).unwrap(), b"landed");
}

#[test]
fn redirect_loop_fails_without_retry() {
    let server = Server::with(|_| reply(302, b"", &[("Location", "/loop")]));
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
    assert_eq!(server.requests(), MAX_REDIRECTS + 1);
}

#[test]
fn redirect_to_other_scheme_refused() {
    let server = Server::with(|req| {
        let target = match req.path.as_str() {
            "/ftp" => "ftp://127.0.0.1/x",
            _ => "file:///etc/passwd",
        };
        reply(301, b"", &[("Location", target)])
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
    assert_eq!(server.requests(), 2);
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
    let server = Server::with(|_| reply(200, &[7u8; 1000], &[]));
    let settings = FetchSettings {
        max_size: Some(100),
        ..quick()
    };
    let d = dest();
    let failure = expect_failure(
        get(&fetcher(settings), &server.url("/big"), &d),
        ErrorClass::TooLarge,
    );
    assert_eq!(
        failure.error.message,
        "body of 1000 bytes (Content-Length) exceeds --max-size 100 bytes (100 B)"
    );
    assert_eq!((failure.attempts, failure.http_status), (1, Some(200)));
    assert!(!d.path.exists());
}

#[test]
fn unannounced_oversize_body_aborted_while_streaming() {
    // No length announced: the body comes chunked.
    let server = Server::with(|_| Some(Reply::ok(vec![7u8; 1000]).chunked()));
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

/// A gzip-encoded body is decoded as it arrives, and the size limit holds
/// for the decoded bytes: a small body that inflates far (a gzip bomb) is
/// stopped at the limit, not at its end. A corrupt one fails, not retried.
#[test]
fn gzip_bodies_are_decoded_and_the_limit_counts_decoded_bytes() {
    use std::io::Write;
    let gzip = |data: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    };
    let small = gzip(b"the image itself");
    let bomb = gzip(&vec![0u8; 8 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let server = Server::with(move |r| {
        let body = match r.path.as_str() {
            "/small" => small.clone(),
            "/bomb" => bomb.clone(),
            _ => b"\x1f\x8b\x08\0not gzip at all".to_vec(),
        };
        Some(Reply::ok(body).header("Content-Encoding", "gzip"))
    });
    let settings = FetchSettings {
        max_size: Some(1 << 20),
        ..quick()
    };
    let fetcher = fetcher(settings);
    let d = dest();
    let done = get(&fetcher, &server.url("/small"), &d).unwrap();
    assert_eq!(std::fs::read(&d.path).unwrap(), b"the image itself");
    assert_eq!(done.bytes, 16);
    let failure = expect_failure(
        get(&fetcher, &server.url("/bomb"), &d),
        ErrorClass::TooLarge,
    );
    assert!(
        failure.error.message.contains("stopped there"),
        "{:?}",
        failure.error
    );
    let failure = expect_failure(get(&fetcher, &server.url("/junk"), &d), ErrorClass::Fetch);
    assert!(
        failure
            .error
            .message
            .contains("does not decode as Content-Encoding gzip"),
        "{:?}",
        failure.error
    );
    assert_eq!(failure.attempts, 1);
}

#[test]
fn body_at_exactly_max_size_is_fine() {
    let server = Server::with(|_| reply(200, &[1u8; 100], &[]));
    let settings = FetchSettings {
        max_size: Some(100),
        ..quick()
    };
    let done = get(&fetcher(settings), &server.url("/ok"), &dest()).expect("fetch");
    assert_eq!(done.bytes, 100);
}

#[test]
fn sha256_mismatch_fails_and_removes_dest() {
    let server = Server::with(|_| reply(200, b"actual", &[]));
    let d = dest();
    let wrong = sha_hex(b"expected");
    let result = fetcher(quick()).fetch(
        &server.url("/s"),
        &d.path,
        &[sha256(&wrong)],
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
    let server = Server::with(|_| reply(200, b"actual", &[]));
    let d = dest();
    let want = sha_hex(b"actual").to_ascii_uppercase();
    let done = fetcher(quick())
        .fetch(
            &server.url("/s"),
            &d.path,
            &[sha256(&want)],
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
        &[sha256("abc")],
        &AtomicBool::new(false),
    );
    let failure = expect_failure(result, ErrorClass::Checksum);
    assert_eq!(failure.attempts, 0);
}

#[test]
fn unwritable_dest_is_a_write_error_not_retried() {
    let server = Server::with(|_| reply(200, b"data", &[]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("out.part");
    let result = fetcher(quick()).fetch(&server.url("/w"), &path, &[], &AtomicBool::new(false));
    let failure = expect_failure(result, ErrorClass::Write);
    assert_eq!(failure.attempts, 1);
    assert_eq!(server.requests(), 1);
}

#[test]
fn cancelled_before_start_makes_no_request() {
    let server = Server::with(|_| reply(200, b"data", &[]));
    let d = dest();
    let result = fetcher(quick()).fetch(&server.url("/c"), &d.path, &[], &AtomicBool::new(true));
    let failure = expect_failure(result, ErrorClass::Fetch);
    assert_eq!(failure.error.message, "cancelled");
    assert_eq!((failure.attempts, server.requests()), (0, 0));
}

#[test]
fn per_host_cap_limits_concurrency() {
    // Each answer takes the server 150 ms, so requests overlap.
    let server = Server::with(|_| {
        thread::sleep(Duration::from_millis(150));
        reply(200, b"x", &[])
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
    assert_eq!(server.requests(), 6);
    assert_eq!(server.peak_in_flight(), 2, "cap not reached or exceeded");
}

#[test]
fn huge_limits_do_not_overflow() {
    let server = Server::with(|req| match req.number {
        1 => reply(503, b"", &[("Retry-After", "0")]),
        _ => reply(200, b"ok", &[]),
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

#[test]
fn internationalized_hosts_are_requested_and_counted_in_punycode() {
    // A URL list written by people holds hosts like bücher.example; the
    // request goes to its ASCII form, and the per-host cap counts the two
    // spellings as one host.
    let idn = parse_url("https://bücher.example/ä.jpg").expect("an IDN host parses");
    assert_eq!(idn.host_str(), Some("xn--bcher-kva.example"));
    let ascii = parse_url("https://xn--bcher-kva.example/b.jpg").unwrap();
    assert_eq!(host_key(&idn), host_key(&ascii));
    // Mapping folds case and full-width forms as UTS 46 says.
    let folded = parse_url("https://BÜCHER.example/").unwrap();
    assert_eq!(folded.host_str(), Some("xn--bcher-kva.example"));
    let wide = parse_url("https://\u{FF42}ücher.example/").unwrap();
    assert_eq!(wide.host_str(), Some("xn--bcher-kva.example"));
}

#[test]
fn credentials_in_urls_are_redacted() {
    let cases = [
        ("http://alice:pw@host/a.jpg", "http://***@host/a.jpg"),
        (
            "https://tok@h.example:8443/x?y=1",
            "https://***@h.example:8443/x?y=1",
        ),
        ("http://a:b@c@host/", "http://***@host/"),
        (
            "http://host/path@not-userinfo",
            "http://host/path@not-userinfo",
        ),
        ("http://host/?q=a@b", "http://host/?q=a@b"),
        ("photos/me@home.jpg", "photos/me@home.jpg"),
    ];
    for (url, want) in cases {
        assert_eq!(redact_url(url), want, "{url}");
    }
}

#[test]
fn header_options_are_checked() {
    assert_eq!(
        parse_header("X-Token:  abc ").unwrap(),
        ("X-Token".to_string(), "abc".to_string())
    );
    assert!(parse_header("no colon").is_err());
    assert!(parse_header("Bad Name: x").is_err());
    assert!(parse_header("X: a\nb").is_err());
}

#[test]
fn a_non_ascii_byte_spoils_only_its_own_directive() {
    use reqwest::header::{HeaderMap, HeaderValue};
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_bytes("noai, caf\u{e9}".as_bytes()).unwrap();
    headers.append("x-robots-tag", value);
    let disallowed: Vec<String> = DEFAULT_DISALLOWED.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        attempt::opted_out(&headers, &disallowed).as_deref(),
        Some("noai")
    );
    let mut noml = HeaderMap::new();
    noml.append("x-robots-tag", HeaderValue::from_static("noml"));
    assert_eq!(
        attempt::opted_out(&noml, &disallowed).as_deref(),
        Some("noml")
    );
}

#[test]
fn small_bodies_stay_in_memory_and_large_ones_go_to_the_file() {
    let large = vec![b'L'; 5000];
    let served = large.clone();
    let server = Server::with(move |req| match (req.path.as_str(), req.path_hits) {
        // Cut short once: the retry starts the body over in memory.
        ("/cut", 1) => cut_short(b"tiny", Duration::ZERO),
        ("/cut", _) => reply(200, b"tiny body, whole", &[]),
        ("/small", _) => reply(200, b"tiny", &[]),
        _ => reply(200, &served, &[]),
    });
    let f = fetcher(FetchSettings {
        in_memory_below: 1000,
        ..quick()
    });
    let d = dest();
    let small = get(&f, &server.url("/small"), &d).expect("small");
    assert_eq!(small.body.as_deref(), Some(&b"tiny"[..]));
    assert_eq!(small.bytes, 4);
    assert!(!d.path.exists(), "a body kept in memory writes no file");

    let cut = get(&f, &server.url("/cut"), &d).expect("recovers");
    assert_eq!(cut.attempts, 2);
    assert_eq!(cut.body.as_deref(), Some(&b"tiny body, whole"[..]));
    assert!(!d.path.exists());

    let big = get(&f, &server.url("/large"), &d).expect("large");
    assert!(big.body.is_none());
    assert_eq!(std::fs::read(&d.path).unwrap(), large);

    // Digests are checked in memory as in a file.
    let wrong = [sha256(&sha_hex(b"something else"))];
    let checked = f.fetch(
        &server.url("/small"),
        &d.path,
        &wrong,
        &AtomicBool::new(false),
    );
    expect_failure(checked, ErrorClass::Checksum);
    let right = [sha256(&sha_hex(b"tiny"))];
    let checked = f.fetch(
        &server.url("/small"),
        &d.path,
        &right,
        &AtomicBool::new(false),
    );
    assert_eq!(
        checked.expect("digest matches").body.as_deref(),
        Some(&b"tiny"[..])
    );
}

#[test]
fn a_partial_body_that_starts_over_small_is_dropped_from_disk() {
    let server = Server::with(|req| {
        // Ignores ranges: a 200 with the whole (small) body.
        let _ = req;
        reply(200, b"new and small", &[("ETag", "\"v2\"")])
    });
    let dir = tempfile::tempdir().unwrap();
    let (data, sidecar) = (dir.path().join("x.partial"), dir.path().join("x.meta"));
    std::fs::write(&data, b"old half").unwrap();
    std::fs::write(&sidecar, "validator \"v1\"\n").unwrap();
    let f = fetcher(FetchSettings {
        in_memory_below: 1000,
        ..quick()
    });
    let partial = Partial {
        data: &data,
        sidecar: &sidecar,
    };
    let done = f
        .fetch_partial(
            &server.url("/p"),
            partial,
            &[],
            None,
            &AtomicBool::new(false),
        )
        .expect("fetch");
    assert_eq!(done.resumed_from, None);
    assert_eq!(done.body.as_deref(), Some(&b"new and small"[..]));
    assert!(!data.exists(), "the stale partial body is gone");
    assert!(!sidecar.exists(), "and its sidecar");
}
