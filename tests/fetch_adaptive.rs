//! Per-host concurrency that finds its own level: it grows past the old
//! fixed cap on a server that copes, and backs off on one that answers 429
//! above a concurrency limit, with every item still downloaded.

use crate::common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the server saw.
#[derive(Default)]
struct Counts {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    too_many: AtomicUsize,
    served: AtomicUsize,
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 that takes `work` to answer
/// each request and, when `limit` is set, answers 429 at once to any
/// request beyond `limit` in flight (as rate-limiting proxies do).
struct LimitedServer {
    base: String,
    counts: Arc<Counts>,
}

impl LimitedServer {
    fn start(limit: Option<usize>, work: Duration) -> LimitedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counts = shared.clone();
                std::thread::spawn(move || serve(stream, &counts, limit, work));
            }
        });
        LimitedServer { base, counts }
    }

    fn urls(&self, n: usize) -> String {
        (0..n)
            .map(|i| format!("{}/f/{i}.bin\n", self.base))
            .collect()
    }
}

fn serve(stream: TcpStream, counts: &Counts, limit: Option<usize>, work: Duration) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let now = counts.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counts.peak.fetch_max(now, Ordering::SeqCst);
        let reply = if limit.is_some_and(|l| now > l) {
            counts.too_many.fetch_add(1, Ordering::SeqCst);
            "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n".to_string()
        } else {
            // The server's own time to answer: what makes requests overlap.
            std::thread::sleep(work);
            counts.served.fetch_add(1, Ordering::SeqCst);
            let body = format!("body of {path}");
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        counts.in_flight.fetch_sub(1, Ordering::SeqCst);
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn fetch_all(server: &LimitedServer, n: usize, extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("urls.txt");
    std::fs::write(&manifest, server.urls(n)).unwrap();
    pixmill()
        .args(["fetch", "-q", "-m"])
        .arg(&manifest)
        .arg("-o")
        .arg(dir.path().join("out"))
        .args(extra)
        .assert()
        .success();
    assert_eq!(files(&dir.path().join("out")).len(), n, "every item saved");
    dir
}

#[test]
fn a_server_limiting_concurrency_sees_only_a_short_burst_and_every_item_succeeds() {
    let server = LimitedServer::start(Some(4), Duration::from_millis(20));
    let n = 120;
    fetch_all(&server, n, &["--io-threads", "32"]);
    let peak = server.counts.peak.load(Ordering::SeqCst);
    let refused = server.counts.too_many.load(Ordering::SeqCst);
    // At most the polite start (8) before the first 429 comes back; the
    // window then settles around the server's limit.
    assert!(peak <= 10, "peak concurrency {peak}");
    assert!(
        refused <= n / 5,
        "{refused} requests refused with 429 for {n} items"
    );
    assert_eq!(server.counts.served.load(Ordering::SeqCst), n);
}

#[test]
fn a_server_that_copes_gets_more_than_the_polite_start() {
    let server = LimitedServer::start(None, Duration::from_millis(20));
    fetch_all(&server, 150, &["--io-threads", "24"]);
    let peak = server.counts.peak.load(Ordering::SeqCst);
    assert!(peak > 10, "peak concurrency {peak}: the window never grew");
    assert!(peak <= 24, "peak concurrency {peak}: over --io-threads");
}

#[test]
fn per_host_fixes_the_level() {
    let server = LimitedServer::start(None, Duration::from_millis(20));
    fetch_all(&server, 40, &["--io-threads", "24", "--per-host", "3"]);
    let peak = server.counts.peak.load(Ordering::SeqCst);
    assert!(peak <= 3, "peak concurrency {peak} with --per-host 3");
}
