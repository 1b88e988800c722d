//! `pixmill fetch` and `convert` over URLs, against a server on 127.0.0.1:
//! retries, Retry-After, timeouts, truncation, limits, checksums, names.

use crate::common;

use common::server::Server;
use common::*;
use predicates::prelude::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// Fast retry settings so failing cases finish quickly.
const QUICK: [&str; 4] = ["--timeout", "2s", "--connect-timeout", "2s"];

fn fetch(dir: &Path, urls: &[String], extra: &[&str]) -> assert_cmd::assert::Assert {
    fs::write(dir.join("urls.txt"), urls.join("\n") + "\n").unwrap();
    pixmill()
        .current_dir(dir)
        .args(["fetch", "-m", "urls.txt", "-o", "dl", "--report", "r.jsonl"])
        .args(QUICK)
        .args(extra)
        .assert()
}

fn report(dir: &Path) -> Vec<serde_json::Value> {
    json_lines(&fs::read_to_string(dir.join("r.jsonl")).unwrap())
}

fn record<'a>(records: &'a [serde_json::Value], url_part: &str) -> &'a serde_json::Value {
    records
        .iter()
        .find(|r| r["input"].as_str().unwrap().contains(url_part))
        .unwrap_or_else(|| panic!("no record for {url_part}: {records:?}"))
}

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn downloads_a_list_saving_bytes_unchanged() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let files_in: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| (format!("file{i}.bin"), payload(5000 + i * 100, i as u8)))
        .collect();
    for (name, data) in &files_in {
        server.add(name, data.clone());
    }
    let urls: Vec<String> = files_in
        .iter()
        .map(|(n, _)| server.url(&format!("/f/{n}")))
        .collect();
    let assert = fetch(dir.path(), &urls, &["--io-threads", "4"]).success();
    let mut printed: Vec<String> = assert.stdout_text().lines().map(String::from).collect();
    printed.sort();
    assert_eq!(printed.len(), 12);
    for (name, data) in &files_in {
        assert_eq!(
            &fs::read(dir.path().join("dl").join(name)).unwrap(),
            data,
            "{name}"
        );
    }
    let records = report(dir.path());
    let r = record(&records, "file3.bin");
    assert_eq!(r["status"], "ok");
    assert_eq!(r["http_status"], 200);
    assert_eq!(r["attempts"], 1);
    assert_eq!(r["bytes_out"], 5300);
    assert!(r["url"].as_str().unwrap().starts_with("http://127.0.0.1"));
    assert!(r["fetch_ms"].is_u64());
    assert_no_temp_files(&dir.path().join("dl"));
}

#[test]
fn urls_as_arguments_and_on_stdin() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("a.txt", b"alpha".to_vec());
    server.add("b.txt", b"beta".to_vec());
    pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-o", "dl", "-q", "-"])
        .arg(server.url("/f/a.txt"))
        .write_stdin(server.url("/f/b.txt") + "\n")
        .assert()
        .success();
    assert_eq!(fs::read(dir.path().join("dl/a.txt")).unwrap(), b"alpha");
    assert_eq!(fs::read(dir.path().join("dl/b.txt")).unwrap(), b"beta");
}

#[test]
fn a_flaky_server_is_retried_until_it_recovers() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("x.bin", payload(3000, 1));
    fetch(dir.path(), &[server.url("/flaky/2/x.bin")], &[]).success();
    assert_eq!(
        fs::read(dir.path().join("dl/x.bin")).unwrap(),
        payload(3000, 1)
    );
    assert_eq!(server.hits("/flaky/2/x.bin"), 3);
    assert_eq!(record(&report(dir.path()), "x.bin")["attempts"], 3);
}

#[test]
fn retry_after_is_honoured() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("r.bin", payload(100, 2));
    fetch(dir.path(), &[server.url("/retry-after/1/r.bin")], &[]).success();
    let times = server.hit_times("/retry-after/1/r.bin");
    assert_eq!(times.len(), 2);
    let waited = times[1] - times[0];
    assert!(
        waited >= Duration::from_millis(900),
        "retried after only {waited:?}"
    );
}

#[test]
fn not_found_is_not_retried_but_server_errors_are() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("ok.bin", payload(10, 3));
    let urls = [
        server.url("/status/404/a.bin"),
        server.url("/status/500/b.bin"),
        server.url("/f/ok.bin"),
    ];
    let assert = fetch(dir.path(), &urls, &["--retries", "2"]).code(1);
    let stderr = assert.stderr_text();
    assert!(stderr.contains("404"), "{stderr}");
    assert_eq!(server.hits("/status/404/a.bin"), 1);
    assert_eq!(server.hits("/status/500/b.bin"), 3);
    let records = report(dir.path());
    assert_eq!(record(&records, "404")["http_status"], 404);
    assert_eq!(record(&records, "404")["error_class"], "http");
    assert_eq!(record(&records, "500")["attempts"], 3);
    assert_eq!(record(&records, "ok.bin")["status"], "ok");
    assert_eq!(files(&dir.path().join("dl")), ["ok.bin"]);
}

#[test]
fn truncated_bodies_are_detected_and_not_kept() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("t.bin", payload(10_000, 4));
    fetch(
        dir.path(),
        &[server.url("/truncate/t.bin")],
        &["--retries", "1"],
    )
    .code(1);
    let r = &report(dir.path())[0];
    assert_eq!(r["error_class"], "truncated");
    assert_eq!(server.hits("/truncate/t.bin"), 2, "truncation is retryable");
    assert!(files(&dir.path().join("dl")).is_empty());
}

#[test]
fn a_stalled_body_times_out() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("s.bin", payload(1000, 5));
    let started = std::time::Instant::now();
    fs::write(dir.path().join("urls.txt"), server.url("/stall/s.bin")).unwrap();
    pixmill()
        .current_dir(dir.path())
        .args([
            "fetch",
            "-m",
            "urls.txt",
            "-o",
            "dl",
            "--report",
            "r.jsonl",
            "--timeout",
            "1s",
            "--retries",
            "0",
        ])
        .assert()
        .code(1);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(report(dir.path())[0]["error_class"], "timeout");
    assert!(files(&dir.path().join("dl")).is_empty());
}

#[test]
fn redirects_are_followed() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("end.bin", payload(500, 6));
    fetch(dir.path(), &[server.url("/redirect/3/end.bin")], &[]).success();
    // Named after the URL asked for, holding the final body.
    assert_eq!(
        fs::read(dir.path().join("dl/end.bin")).unwrap(),
        payload(500, 6)
    );
    assert_eq!(server.hits("/f/end.bin"), 1);
}

#[test]
fn a_refused_connection_fails_the_item_only() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("ok.bin", payload(10, 7));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let urls = [
        format!("http://127.0.0.1:{port}/gone.bin"),
        server.url("/f/ok.bin"),
    ];
    fetch(dir.path(), &urls, &["--retries", "1"]).code(1);
    let records = report(dir.path());
    assert_eq!(record(&records, "gone.bin")["error_class"], "fetch");
    assert_eq!(record(&records, "ok.bin")["status"], "ok");
}

#[test]
fn garbage_manifest_lines_and_local_paths_fail_alone() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("ok.bin", payload(10, 8));
    let urls = [
        "this is not a url".to_string(),
        "ftp://example.invalid/file".to_string(),
        "http://".to_string(),
        server.url("/f/ok.bin"),
    ];
    let assert = fetch(dir.path(), &urls, &[]).code(1);
    let stderr = assert.stderr_text();
    assert!(stderr.contains("this is not a url"), "{stderr}");
    assert!(stderr.contains("ftp://"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(files(&dir.path().join("dl")), ["ok.bin"]);
    assert_eq!(report(dir.path()).len(), 4);
}

#[test]
fn bodies_over_max_size_are_aborted() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("big.bin", payload(200_000, 9));
    server.add("small.bin", payload(1000, 9));
    let urls = [server.url("/f/big.bin"), server.url("/f/small.bin")];
    fetch(dir.path(), &urls, &["--max-size", "100K"]).code(1);
    let records = report(dir.path());
    assert_eq!(record(&records, "big.bin")["error_class"], "too_large");
    assert_eq!(files(&dir.path().join("dl")), ["small.bin"]);
}

#[test]
fn sha256_is_verified() {
    use sha2::{Digest, Sha256};
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let data = payload(4096, 10);
    server.add("good.bin", data.clone());
    server.add("bad.bin", data.clone());
    let digest = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let manifest = format!(
        "url,sha256\n{},{}\n{},{}\n",
        server.url("/f/good.bin"),
        digest.to_uppercase(),
        server.url("/f/bad.bin"),
        "0".repeat(64)
    );
    fs::write(dir.path().join("m.csv"), manifest).unwrap();
    pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-m", "m.csv", "-o", "dl", "--report", "r.jsonl"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("sha256"));
    assert_eq!(
        record(&report(dir.path()), "bad.bin")["error_class"],
        "checksum"
    );
    assert_eq!(files(&dir.path().join("dl")), ["good.bin"]);
}

#[test]
fn same_names_from_different_urls_do_not_collide_and_reruns_find_them() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("cat.jpg", b"first".to_vec());
    let urls = [
        server.url("/f/cat.jpg"),
        server.url("/flaky/0/cat.jpg"),
        server.url("/redirect/1/cat.jpg"),
        server.url("/f/cat.jpg"),
    ];
    let first = fetch(dir.path(), &urls, &[]).success();
    let stderr = first.stderr_text();
    assert!(stderr.contains("1 duplicate entry merged"), "{stderr}");
    let names = files(&dir.path().join("dl"));
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"cat.jpg".to_string()));
    // The repeated URL was fetched once.
    assert_eq!(
        server.hits("/f/cat.jpg"),
        2,
        "once direct, once via the redirect"
    );
    // The repeated URL is one item: one record each for three inputs.
    let records = report(dir.path());
    assert_eq!(records.len(), 3, "{records:#?}");
    assert!(records.iter().all(|r| r["status"] == "ok"));

    // A rerun maps every URL to the same name and skips them all.
    fetch(dir.path(), &urls, &[]).success();
    assert!(report(dir.path()).iter().all(|r| r["status"] == "skipped"));
    assert_eq!(files(&dir.path().join("dl")), names);
}

#[test]
fn names_from_urls_never_escape_the_output_folder() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("..%2F..%2Fescape.txt", b"x".to_vec());
    server.add("%2E%2E%2Fup.txt", b"y".to_vec());
    let urls = [
        server.url("/f/..%2F..%2Fescape.txt"),
        server.url("/f/%2E%2E%2Fup.txt"),
        server.url("/f/"),
    ];
    fetch(dir.path(), &urls, &[]);
    let inside = files(&dir.path().join("dl"));
    assert!(inside.iter().all(|n| !n.contains('/')), "{inside:?}");
    let outside: Vec<String> = files(dir.path())
        .into_iter()
        .filter(|f| !f.starts_with("dl/") && f != "urls.txt" && f != "r.jsonl")
        .collect();
    assert!(outside.is_empty(), "written outside: {outside:?}");
    assert!(!dir.path().parent().unwrap().join("escape.txt").exists());
}

#[test]
fn the_content_type_supplies_a_missing_extension() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.add("picture", b"not really a png".to_vec());
    fetch(
        dir.path(),
        &[server.url("/ct/picture?type=image%2Fpng")],
        &[],
    )
    .success();
    assert_eq!(files(&dir.path().join("dl")), ["picture.png"]);
}

#[test]
fn convert_from_urls_matches_converting_the_same_files_locally() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    fs::create_dir(&local).unwrap();
    let mut urls = Vec::new();
    for name in ["Landscape_1.jpg", "Portrait_5.jpg", "Landscape_6.jpg"] {
        let data = fs::read(fixtures().join("exif").join(name)).unwrap();
        fs::write(local.join(name), &data).unwrap();
        server.add(name, data);
        urls.push(server.url(&format!("/f/{name}")));
    }
    write_image(&local.join("g.png"), 300, 200);
    server.add("g.png", fs::read(local.join("g.png")).unwrap());
    urls.push(server.url("/f/g.png"));
    // A URL without an extension: the format comes from the content.
    server.add("noext", fs::read(local.join("g.png")).unwrap());
    urls.push(server.url("/f/noext"));
    fs::write(dir.path().join("urls.txt"), urls.join("\n")).unwrap();

    let args = ["--resize", "128x128", "-q"];
    pixmill()
        .current_dir(dir.path())
        .args([
            "convert",
            "-m",
            "urls.txt",
            "-o",
            "from-urls",
            "--io-threads",
            "3",
        ])
        .args(args)
        .assert()
        .success();
    pixmill()
        .current_dir(dir.path())
        .args(["convert", "local", "-o", "from-files"])
        .args(args)
        .assert()
        .success();
    let from_urls = dir.path().join("from-urls");
    let from_files = dir.path().join("from-files");
    assert_eq!(
        files(&from_urls),
        [
            "Landscape_1.jpg",
            "Landscape_6.jpg",
            "Portrait_5.jpg",
            "g.png",
            "noext.png"
        ]
    );
    for name in files(&from_files) {
        assert_eq!(
            fs::read(from_urls.join(&name)).unwrap(),
            fs::read(from_files.join(&name)).unwrap(),
            "{name}"
        );
    }
    // Staged downloads are gone.
    assert_no_temp_files(&from_urls);
}

#[test]
fn the_summary_names_the_bottleneck() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let mut urls = Vec::new();
    for i in 0..12 {
        server.add(&format!("a{i}.bin"), payload(100, 11));
        // Each answer takes 100 ms, so the run is long enough to judge.
        urls.push(server.url(&format!("/slow/100/a{i}.bin")));
    }
    let stderr_of = |a: assert_cmd::assert::Assert| a.stderr_text();
    // One host, one slot, four threads: three of them always wait.
    let out = dir.path().join("capped");
    fs::create_dir_all(&out).unwrap();
    let stderr = stderr_of(fetch(&out, &urls, &["--io-threads", "4", "--per-host", "1"]).success());
    assert!(stderr.contains("download stage: 4 workers"), "{stderr}");
    assert!(
        stderr.contains("--per-host 1 held the run back: threads waited for a slot"),
        "{stderr}"
    );
    assert!(!stderr.contains("try --io-threads"), "{stderr}");
    assert!(!stderr.contains("per worker"), "{stderr}");
    // Two threads, slots to spare: the threads are what limits.
    let out = dir.path().join("threads");
    fs::create_dir_all(&out).unwrap();
    let stderr = stderr_of(fetch(&out, &urls, &["--io-threads", "2", "--per-host", "8"]).success());
    assert!(
        stderr.contains("downloads kept all 2 threads busy"),
        "{stderr}"
    );
    // Too short to judge: no verdict at all.
    let out = dir.path().join("short");
    fs::create_dir_all(&out).unwrap();
    let quick = [server.url("/f/a0.bin"), server.url("/f/a1.bin")];
    let stderr = stderr_of(fetch(&out, &quick, &["--io-threads", "1"]).success());
    assert!(stderr.contains("2 ok"), "{stderr}");
    for verdict in ["held the run back", "kept all", "idle", "limited this run"] {
        assert!(!stderr.contains(verdict), "{stderr}");
    }
}

#[test]
fn fresh_connections_on_request_give_the_same_files() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let mut urls = Vec::new();
    for i in 0..6 {
        server.add(&format!("k{i}.bin"), payload(2000, i as u8));
        urls.push(server.url(&format!("/f/k{i}.bin")));
    }
    fetch(dir.path(), &urls, &["--no-keep-alive", "--io-threads", "2"]).success();
    for i in 0..6 {
        let got = fs::read(dir.path().join(format!("dl/k{i}.bin"))).unwrap();
        assert_eq!(got, payload(2000, i as u8));
    }
}

#[test]
fn tls_failures_read_like_curl_are_not_retried_and_cacert_or_insecure_fix_them() {
    let body = payload(3000, 5);
    let dir = tempfile::tempdir().unwrap();
    let ca = fixtures().join("tls/ca.crt.pem");
    let cases: [(&str, &[&str], &str); 2] = [
        (
            "selfsigned",
            &[],
            "SSL certificate problem: self-signed certificate",
        ),
        (
            "wrongname",
            &["--cacert"],
            "SSL certificate problem: hostname mismatch",
        ),
    ];
    for (cert, extra, said) in cases {
        let server = common::tls::TlsServer::start(cert, body.clone());
        let work = dir.path().join(cert);
        fs::create_dir_all(&work).unwrap();
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        if !args.is_empty() {
            args.push(ca.display().to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let assert = fetch(&work, &[server.url("/a.bin")], &args).code(1);
        let stderr = assert.stderr_text();
        assert!(stderr.contains(said), "{cert}: {stderr}");
        let records = report(&work);
        assert_eq!(
            records[0]["attempts"], 1,
            "{cert}: not retried: {}",
            records[0]
        );
        assert_eq!(server.connections(), 1, "{cert}");
    }
    // The private CA's server, trusted through --cacert; the self-signed
    // one through --insecure.
    let server = common::tls::TlsServer::start("server", body.clone());
    let work = dir.path().join("cacert");
    fs::create_dir_all(&work).unwrap();
    let ca_arg = ca.display().to_string();
    fetch(&work, &[server.url("/a.bin")], &["--cacert", &ca_arg]).success();
    assert_eq!(fs::read(work.join("dl/a.bin")).unwrap(), body);
    let server = common::tls::TlsServer::start("selfsigned", body.clone());
    let work = dir.path().join("insecure");
    fs::create_dir_all(&work).unwrap();
    fetch(&work, &[server.url("/a.bin")], &["--insecure"]).success();
    assert_eq!(fs::read(work.join("dl/a.bin")).unwrap(), body);
    // A --cacert that is not a certificate stops the run before any work.
    pixmill()
        .args(["fetch", "https://127.0.0.1:1/x", "-o"])
        .arg(dir.path().join("never"))
        .arg("--cacert")
        .arg(fixtures().join("tls/make.sh"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot use --cacert"));
}

#[test]
fn an_expired_certificate_is_named_with_its_date_and_not_retried() {
    let body = payload(3000, 6);
    let dir = tempfile::tempdir().unwrap();
    // Its issuer is trusted: expiry is its only fault.
    let ca = fixtures()
        .join("tls/expired-ca.crt.pem")
        .display()
        .to_string();
    let server = common::tls::TlsServer::start("expired", body.clone());
    let assert = fetch(dir.path(), &[server.url("/a.bin")], &["--cacert", &ca]).code(1);
    let stderr = assert.stderr_text();
    let said = "SSL certificate problem: certificate has expired: it was valid until \
                Fri, 01 Jan 2021 00:00:00 GMT (--insecure skips the check)";
    assert!(stderr.contains(said), "{stderr}");
    let records = report(dir.path());
    assert_eq!(records[0]["error_class"], "fetch", "{}", records[0]);
    assert_eq!(records[0]["attempts"], 1, "not retried: {}", records[0]);
    assert_eq!(server.connections(), 1);
    assert!(!dir.path().join("dl/a.bin").exists());
    // --insecure takes it anyway.
    let work = dir.path().join("insecure");
    fs::create_dir_all(&work).unwrap();
    fetch(&work, &[server.url("/a.bin")], &["--insecure"]).success();
    assert_eq!(fs::read(work.join("dl/a.bin")).unwrap(), body);
}

#[test]
fn a_redirect_to_a_file_url_says_so() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/redirect-to?file:///etc/passwd");
    let assert = fetch(dir.path(), &[url], &[]).code(1);
    let stderr = assert.stderr_text();
    assert!(
        stderr.contains("redirect to unsupported URL scheme \"file\""),
        "{stderr}"
    );
    assert!(!dir.path().join("dl").read_dir().unwrap().any(|_| true));
}

#[test]
fn html_where_an_image_was_expected_is_named() {
    let server = Server::start();
    server.add(
        "login.jpg",
        b"<!doctype html><html>please log in</html>".to_vec(),
    );
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/ct/login.jpg?type=text%2Fhtml;%20charset=utf-8");
    let assert = pixmill()
        .current_dir(dir.path())
        .args(["convert", &url, "-o", "out"])
        .assert()
        .code(1);
    let stderr = assert.stderr_text();
    assert!(
        stderr.contains("server sent text/html, not an image"),
        "{stderr}"
    );
    assert_no_temp_files(&dir.path().join("out"));
}

#[test]
fn a_retry_after_in_the_past_waits_the_normal_backoff() {
    let server = Server::start();
    server.add("a.bin", payload(100, 3));
    let dir = tempfile::tempdir().unwrap();
    fetch(dir.path(), &[server.url("/retry-after-date/a.bin")], &[]).success();
    let hits = server.hit_times("/retry-after-date/a.bin");
    assert_eq!(hits.len(), 2);
    // The first backoff is 250 ms with equal jitter: never under 125 ms.
    let gap = hits[1] - hits[0];
    assert!(gap >= std::time::Duration::from_millis(125), "{gap:?}");
}

#[test]
fn a_trickling_download_below_min_speed_is_a_stall() {
    let server = Server::start();
    server.add("slow.bin", payload(100, 4));
    let dir = tempfile::tempdir().unwrap();
    // One byte every 300 ms: never silent for the 2 s timeout, yet far
    // below the 1 KiB/s default.
    let assert = fetch(
        dir.path(),
        &[server.url("/trickle/slow.bin")],
        &["--retries", "0"],
    )
    .code(1);
    let records = report(dir.path());
    assert_eq!(records[0]["error_class"], "timeout", "{}", records[0]);
    let error = records[0]["error"].as_str().unwrap();
    assert!(error.contains("below --min-speed 1.0 KiB/s"), "{error}");
    drop(assert);
    assert!(!dir.path().join("dl/slow.bin").exists());
}

#[test]
fn host_names_resolve_through_the_caching_resolver() {
    // `localhost` is a name, not an address: it goes through the client's
    // resolver (the cache), from many download threads at once.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let urls: Vec<String> = (0..12)
        .map(|i| {
            server.add(&format!("f{i}.bin"), payload(100 + i, i as u8));
            format!("http://localhost:{port}/f/f{i}.bin")
        })
        .collect();
    fetch(dir.path(), &urls, &["--io-threads", "8"]).code(0);
    for i in 0..12 {
        let got = fs::read(dir.path().join(format!("dl/f{i}.bin"))).unwrap();
        assert_eq!(got, payload(100 + i, i as u8));
    }
}

/// An endless body from a server: each command's size limit stops the
/// download as the body passes it (it was checked only once the body had
/// ended, so an endless one filled the disk).
#[test]
fn an_endless_body_is_stopped_at_the_size_limit() {
    use common::server::Reply;
    for (command, flag) in [("fetch", "--max-size"), ("convert", "--max-input-size")] {
        let server = Server::with(|r| (r.path == "/endless.png").then(|| Reply::stream(u64::MAX)));
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = pixmill_std();
        cmd.current_dir(dir.path())
            .args([command, &server.url("/endless.png"), "-o", "out"])
            .args(["--report", "r.jsonl", flag, "1M"]);
        let run = run_guarded(cmd, Duration::from_secs(120));
        assert_eq!(run.code, Some(1), "{command}: {}", run.stderr);
        let records = report(dir.path());
        let r = &records[0];
        assert_eq!(r["error_class"], "too_large", "{command}: {r}");
        let error = r["error"].as_str().unwrap();
        assert!(error.contains(flag) && error.contains("stopped"), "{error}");
        // What the server got out: the limit, plus what the sockets held.
        let streamed = server.streamed();
        assert!(streamed < 32 << 20, "{command}: {streamed} bytes sent");
        assert!(files(&dir.path().join("out")).is_empty());
    }
}

/// `convert` caps URL inputs by default (1 GiB, `--max-input-size`): a
/// body announced larger is refused before a byte of it is read.
#[test]
fn convert_caps_url_inputs_by_default() {
    use common::server::Reply;
    let server =
        Server::with(|r| (r.path == "/huge.png").then(|| Reply::ok("tiny").announce(2 << 30)));
    let dir = tempfile::tempdir().unwrap();
    pixmill()
        .current_dir(dir.path())
        .args(["convert", &server.url("/huge.png"), "-o", "out"])
        .args(["--report", "r.jsonl"])
        .args(QUICK)
        .assert()
        .code(1);
    let records = report(dir.path());
    let error = records[0]["error"].as_str().unwrap();
    assert_eq!(records[0]["error_class"], "too_large");
    assert!(
        error.contains("2147483648 bytes (Content-Length)")
            && error.contains("--max-input-size 1073741824 bytes (1.0 GiB)"),
        "{error}"
    );
}

/// A body sent with `Content-Encoding: gzip` is saved decoded, the image
/// itself; one in an encoding pixmill does not undo is saved as sent, and
/// its record says so.
#[test]
fn content_encoding_gzip_is_decoded_and_others_are_named() {
    use common::server::Reply;
    use flate2::write::GzEncoder;
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("photo.png"), 40, 30);
    let png = fs::read(dir.path().join("photo.png")).unwrap();
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&png).unwrap();
    let gz = gz.finish().unwrap();
    let server = Server::with(move |r| match r.path.as_str() {
        "/gz/photo.png" => Some(Reply::ok(gz.clone()).header("Content-Encoding", "gzip")),
        "/br/photo.png" => {
            Some(Reply::ok(b"\x1b\x00brotli".to_vec()).header("Content-Encoding", "br"))
        }
        _ => None,
    });
    let urls = [server.url("/gz/photo.png"), server.url("/br/photo.png")];
    fs::write(dir.path().join("urls.txt"), urls.join("\n") + "\n").unwrap();
    pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-m", "urls.txt", "-o", "dl", "--report", "r.jsonl"])
        .args(QUICK)
        .assert()
        .success();
    let records = report(dir.path());
    let gz_record = record(&records, "/gz/");
    let saved = fs::read(dir.path().join(gz_record["output"].as_str().unwrap())).unwrap();
    assert_eq!(saved, png, "the gzip-encoded body is saved decoded");
    assert_eq!(gz_record["bytes_in"], png.len());
    assert!(gz_record.get("warnings").is_none(), "{gz_record}");
    let br = record(&records, "/br/");
    assert!(
        br["warnings"][0]
            .as_str()
            .unwrap()
            .contains("Content-Encoding br is not decoded"),
        "{br}"
    );
    // convert reads the decoded image straight from the URL.
    pixmill()
        .current_dir(dir.path())
        .args(["convert", &urls[0], "-o", "thumbs", "--format", "jpeg"])
        .args(QUICK)
        .assert()
        .success();
    assert_eq!(files(&dir.path().join("thumbs")).len(), 1);
}
