//! Per-host concurrency that finds its own level: it grows past the old
//! fixed cap on a server that copes, and backs off on one that answers 429
//! above a concurrency limit, with every item still downloaded.

use crate::common;

use common::server::Server;
use common::*;

/// `n` URLs on the server's `/limit/` route: answers take `work_ms`, and
/// with `limit` set, requests beyond `limit` in flight get 429 at once.
fn urls(server: &Server, limit: Option<usize>, work_ms: u64, n: usize) -> String {
    let limit = limit.map_or_else(|| "none".to_string(), |l| l.to_string());
    (0..n)
        .map(|i| server.url(&format!("/limit/{limit}/{work_ms}/{i}.bin\n")))
        .collect()
}

fn fetch_all(urls: &str, n: usize, extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("urls.txt");
    std::fs::write(&manifest, urls).unwrap();
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
    let server = Server::start();
    let n = 120;
    fetch_all(&urls(&server, Some(4), 20, n), n, &["--io-threads", "32"]);
    let peak = server.peak_in_flight();
    let refused = server.replies(429);
    // At most the polite start (8) before the first 429 comes back; the
    // window then settles around the server's limit.
    assert!(peak <= 10, "peak concurrency {peak}");
    assert!(
        refused <= n / 5,
        "{refused} requests refused with 429 for {n} items"
    );
    assert_eq!(server.replies(200), n);
}

#[test]
fn a_server_that_copes_gets_more_than_the_polite_start() {
    let server = Server::start();
    fetch_all(&urls(&server, None, 20, 150), 150, &["--io-threads", "24"]);
    let peak = server.peak_in_flight();
    assert!(peak > 10, "peak concurrency {peak}: the window never grew");
    assert!(peak <= 24, "peak concurrency {peak}: over --io-threads");
}

#[test]
fn per_host_fixes_the_level() {
    let server = Server::start();
    fetch_all(
        &urls(&server, None, 20, 40),
        40,
        &["--io-threads", "24", "--per-host", "3"],
    );
    let peak = server.peak_in_flight();
    assert!(peak <= 3, "peak concurrency {peak} with --per-host 3");
}

/// Downloads wait, so the default gives them many threads (64): a list
/// from a server that copes overlaps far more than the old 16, and never
/// more than the default.
#[test]
fn the_default_overlaps_more_than_sixteen_downloads() {
    let server = Server::start();
    fetch_all(&urls(&server, None, 20, 400), 400, &[]);
    let peak = server.peak_in_flight();
    assert!(
        peak > 16,
        "peak concurrency {peak} with the default threads"
    );
    assert!(peak <= 64, "peak concurrency {peak}: over the default 64");
}
