//! Downloads that behave well (issue 21): robots.txt, the rate cap,
//! X-Robots-Tag opt-outs, https→http downgrades, the addresses pixmill
//! refuses to connect to, and hash columns.

use crate::common;

use common::server::{Reply, Server};
use common::*;
use pixmill_base::hashing::HashAlgo;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

fn report(dir: &Path) -> Vec<serde_json::Value> {
    json_lines(&fs::read_to_string(dir.join("r.jsonl")).unwrap())
}

fn record<'a>(records: &'a [serde_json::Value], part: &str) -> &'a serde_json::Value {
    records
        .iter()
        .find(|r| r["input"].as_str().unwrap().contains(part))
        .unwrap_or_else(|| panic!("no record for {part}: {records:?}"))
}

fn fetch_list(dir: &Path, urls: &[String], extra: &[&str]) -> std::process::Output {
    fs::write(dir.join("urls.txt"), urls.join("\n") + "\n").unwrap();
    pixmill()
        .current_dir(dir)
        .args(["fetch", "-m", "urls.txt", "-o", "dl", "--report", "r.jsonl"])
        .args(["--timeout", "5s", "--retries", "0"])
        .args(extra)
        .output()
        .unwrap()
}

/// A server whose robots.txt is `robots` (status and body); every other
/// path is a 200 naming itself.
fn robots_server(status: u16, robots: &'static str) -> Server {
    Server::with(move |req| {
        Some(match req.path.as_str() {
            "/robots.txt" => Reply::new(status, robots),
            path => Reply::ok(format!("body of {path}")),
        })
    })
}

#[test]
fn robots_txt_is_read_once_per_host_and_disallowed_rows_are_never_requested() {
    let server = robots_server(
        200,
        "User-agent: *\nDisallow: /private/\nAllow: /private/ok\n\n\
         User-agent: otherbot\nDisallow: /\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut urls: Vec<String> = (0..8)
        .map(|i| server.url(&format!("/pub/{i}.bin")))
        .collect();
    urls.push(server.url("/private/no.bin"));
    urls.push(server.url("/private/ok.bin"));
    let out = fetch_list(
        dir.path(),
        &urls,
        &["--respect-robots-txt", "--io-threads", "4"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.hits("/robots.txt"), 1);
    assert_eq!(server.hits("/private/no.bin"), 0);
    assert_eq!(server.hits("/private/ok.bin"), 1);
    let records = report(dir.path());
    let skipped = record(&records, "/private/no.bin");
    assert_eq!(skipped["status"], "skipped");
    assert_eq!(skipped["reason"], "robots.txt");
    assert_eq!(record(&records, "/pub/3.bin")["status"], "ok");
    assert!(!dir.path().join("dl/no.bin").exists());
    // Without the option, robots.txt is not read.
    let again = tempfile::tempdir().unwrap();
    fetch_list(again.path(), &urls[8..9], &[]);
    assert_eq!(server.hits("/robots.txt"), 1);
    assert_eq!(server.hits("/private/no.bin"), 1);
}

#[test]
fn robots_txt_failures_read_as_rfc_9309_says() {
    // 4xx: no rules, everything allowed.
    let missing = robots_server(404, "");
    let dir = tempfile::tempdir().unwrap();
    let out = fetch_list(
        dir.path(),
        &[missing.url("/a.bin")],
        &["--respect-robots-txt"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(missing.hits("/a.bin"), 1);
    // 5xx: everything disallowed.
    let broken = robots_server(503, "");
    let dir = tempfile::tempdir().unwrap();
    let out = fetch_list(
        dir.path(),
        &[broken.url("/a.bin")],
        &["--respect-robots-txt"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(broken.hits("/a.bin"), 0);
    assert_eq!(
        record(&report(dir.path()), "/a.bin")["reason"],
        "robots.txt"
    );
}

#[test]
fn the_rate_cap_holds_downloads_back() {
    // A lower bound only (never flaky): 64 KiB at 32 KiB/s cannot take
    // less than about two seconds. The 10% accuracy over a longer transfer
    // is measured by bench/limit_rate.sh.
    let server = Server::start();
    server.add("big.bin", vec![7u8; 64 * 1024]);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = fetch_list(
        dir.path(),
        &[server.url("/f/big.bin")],
        &["--limit-rate", "32K"],
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        fs::read(dir.path().join("dl/big.bin")).unwrap().len(),
        64 * 1024
    );
    assert!(took >= Duration::from_millis(1500), "took only {took:?}");
}

#[test]
fn x_robots_tag_noml_and_a_tag_with_a_non_ascii_byte_opt_out() {
    let server = Server::with(|req| {
        let tag = match req.path.as_str() {
            "/noml.bin" => "noml",
            "/cafe.bin" => "noai, caf\u{e9}",
            _ => "max-image-preview: large",
        };
        Some(Reply::ok(b"pixels".to_vec()).header("X-Robots-Tag", tag))
    });
    let dir = tempfile::tempdir().unwrap();
    let urls = [
        server.url("/noml.bin"),
        server.url("/cafe.bin"),
        server.url("/fine.bin"),
    ];
    let out = fetch_list(dir.path(), &urls, &[]);
    assert_eq!(out.status.code(), Some(0));
    let records = report(dir.path());
    assert_eq!(
        record(&records, "noml.bin")["reason"],
        "opted out: X-Robots-Tag noml"
    );
    assert_eq!(
        record(&records, "cafe.bin")["reason"],
        "opted out: X-Robots-Tag noai"
    );
    assert_eq!(record(&records, "fine.bin")["status"], "ok");
    assert!(!dir.path().join("dl/noml.bin").exists());
    assert!(!dir.path().join("dl/cafe.bin").exists());
}

#[test]
fn an_https_to_http_redirect_is_noted_or_refused() {
    let plain = Server::start();
    plain.add("down.bin", b"plain".to_vec());
    let secure = common::tls::TlsServer::redirecting("server", &plain.url("/f/down.bin"));
    let ca = fixtures().join("tls").join("ca.crt.pem");
    let ca = ca.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = fetch_list(dir.path(), &[secure.url("/down.bin")], &["--cacert", ca]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = report(dir.path());
    let warnings = record(&records, "down.bin")["warnings"].to_string();
    assert!(
        warnings.contains("redirected from https to http"),
        "{warnings}"
    );

    let dir = tempfile::tempdir().unwrap();
    let args = ["--cacert", ca, "--proto-redir", "https"];
    let out = fetch_list(dir.path(), &[secure.url("/down.bin")], &args);
    assert_eq!(out.status.code(), Some(1));
    let failed = &report(dir.path())[0];
    assert_eq!(failed["status"], "failed");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("redirect from https to http refused"),
        "{error}"
    );
    assert_eq!(
        plain.hits("/f/down.bin"),
        1,
        "only the first run reached it"
    );
    assert!(!dir.path().join("dl/down.bin").exists());
}

#[test]
fn deny_private_refuses_loopback_before_any_request() {
    let server = Server::start();
    server.add("a.bin", b"local".to_vec());
    let port = server.base.rsplit(':').next().unwrap().to_string();
    // A literal IP, the same IP spelled as one number (which the URL
    // parser normalises), and a name the resolver answers.
    let urls = [
        server.url("/f/a.bin"),
        format!("http://2130706433:{port}/f/a.bin"),
        format!("http://localhost:{port}/f/a.bin"),
    ];
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("urls.txt"), urls.join("\n") + "\n").unwrap();
    let out = pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-m", "urls.txt", "-o", "dl", "--report", "r.jsonl"])
        .args(["--deny-private", "--retries", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(server.requests(), 0, "the server saw a request");
    let records = report(dir.path());
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!(r["status"], "failed", "{r}");
        let error = r["error"].as_str().unwrap();
        assert!(error.starts_with("refused to connect to "), "{error}");
        assert!(error.contains("(refused by --deny-private)"), "{error}");
        assert!(r["attempts"].as_u64().unwrap_or(0) <= 1, "not retried: {r}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a loopback address"), "{stderr}");
    // A redirect to a refused address is refused too.
    let target = server.url("/f/a.bin");
    let hop = Server::with(move |_| Some(Reply::new(302, "").header("Location", &target)));
    let dir = tempfile::tempdir().unwrap();
    fetch_list(dir.path(), &[hop.url("/start")], &[]);
    assert_eq!(server.requests(), 1, "allowed by default");
    assert!(!files(&dir.path().join("dl")).is_empty());
}

#[test]
fn hash_columns_are_checked_and_a_mismatch_names_both_digests() {
    let server = Server::start();
    let body = b"the image bytes".to_vec();
    server.add("a.bin", body.clone());
    server.add("b.bin", body.clone());
    server.add("c.bin", body.clone());
    let md5 = "6c3a3cc3c4fc22b07e8f4e6c5e0a7d9b"; // not the body's
    let sha1 = HashAlgo::Sha1.of_bytes(&body);
    let sha512 = HashAlgo::Sha512.of_bytes(&body);
    let sha256 = HashAlgo::Sha256.of_bytes(&body);
    let csv = format!(
        "url,md5,SHA1,sha512,checksum\n\
         {},,{sha1},{sha512},{sha256}\n\
         {},{md5},,,\n\
         {},,,,{}\n",
        server.url("/f/a.bin"),
        server.url("/f/b.bin"),
        server.url("/f/c.bin"),
        "0".repeat(64),
    );
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("list.csv"), csv).unwrap();
    let out = pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-m", "list.csv", "-o", "dl", "--report", "r.jsonl"])
        .args(["--hash-col", "checksum:sha256"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let records = report(dir.path());
    assert_eq!(record(&records, "a.bin")["status"], "ok");
    let b = record(&records, "b.bin");
    assert_eq!(b["error_class"], "checksum");
    let error = b["error"].as_str().unwrap();
    let got = HashAlgo::Md5.of_bytes(&body);
    assert_eq!(error, format!("md5 mismatch: expected {md5}, got {got}"));
    let c = record(&records, "c.bin")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        c,
        format!("sha256 mismatch: expected {}, got {sha256}", "0".repeat(64))
    );
    assert_eq!(files(&dir.path().join("dl")), ["a.bin"]);
}
