//! Reaching gated hosts (issue 21): `-H`, `--referer`, `--load-cookies`,
//! `--netrc-file`, a login in the URL; what is not sent on after a redirect
//! to another host; and credentials kept out of everything pixmill writes.

use crate::common;

use common::server::{Reply, Request, Server};
use common::*;
use std::fs;
use std::sync::{Arc, Mutex};

/// A server that keeps every request it is sent and answers 200 `body`.
fn recording(body: &'static [u8]) -> (Server, Arc<Mutex<Vec<Request>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let server = Server::with(move |req| {
        kept.lock().unwrap().push(req.clone());
        Some(Reply::ok(body.to_vec()))
    });
    (server, seen)
}

fn header(seen: &Arc<Mutex<Vec<Request>>>, n: usize, name: &str) -> Option<String> {
    seen.lock().unwrap()[n].header(name).map(String::from)
}

#[test]
fn headers_referer_cookies_and_netrc_reach_the_host() {
    let (server, seen) = recording(b"gated");
    let dir = tempfile::tempdir().unwrap();
    let cookies = dir.path().join("cookies.txt");
    fs::write(
        &cookies,
        "# Netscape HTTP Cookie File\n\
         127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tabc123\n\
         127.0.0.1\tFALSE\t/elsewhere\tFALSE\t0\tother\tno\n\
         example.org\tTRUE\t/\tFALSE\t0\tforeign\tno\n",
    )
    .unwrap();
    let netrc = dir.path().join("netrc");
    fs::write(&netrc, "machine 127.0.0.1 login bob password pw\n").unwrap();
    pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-o", "dl", "-q", "-H", "X-Api-Key: k-42"])
        .args([
            "--header",
            "Accept: image/*",
            "--referer",
            "https://gallery.example/",
        ])
        .arg("--load-cookies")
        .arg(&cookies)
        .arg("--netrc-file")
        .arg(&netrc)
        .arg(server.url("/a.bin"))
        .assert()
        .success();
    assert_eq!(fs::read(dir.path().join("dl/a.bin")).unwrap(), b"gated");
    assert_eq!(header(&seen, 0, "X-Api-Key").as_deref(), Some("k-42"));
    assert_eq!(header(&seen, 0, "Accept").as_deref(), Some("image/*"));
    assert_eq!(
        header(&seen, 0, "Referer").as_deref(),
        Some("https://gallery.example/")
    );
    assert_eq!(header(&seen, 0, "Cookie").as_deref(), Some("sid=abc123"));
    // bob:pw
    assert_eq!(
        header(&seen, 0, "Authorization").as_deref(),
        Some("Basic Ym9iOnB3")
    );
}

#[test]
fn a_login_in_the_url_is_sent_as_basic_auth_and_never_written() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let server = Server::with(move |req| {
        kept.lock().unwrap().push(req.clone());
        match req.path.as_str() {
            "/ok.bin" => Some(Reply::ok(b"body".to_vec())),
            _ => Some(Reply::not_found()),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let host = server.base.trim_start_matches("http://").to_string();
    let with_login = |path: &str| format!("http://alice:s3cr3t@{host}{path}");
    let manifest = format!(
        "url\n{}\n{}\n",
        with_login("/ok.bin"),
        with_login("/missing.bin")
    );
    fs::write(dir.path().join("list.csv"), manifest).unwrap();
    let run = |extra: &[&str]| {
        pixmill()
            .current_dir(dir.path())
            .args(["fetch", "-m", "list.csv", "-o", "dl", "--json"])
            .args(["--report", "r.jsonl", "--retries", "0"])
            .args(extra)
            .output()
            .unwrap()
    };
    let dry = run(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(0));
    assert!(seen.lock().unwrap().is_empty(), "a dry run sends nothing");
    let out = run(&["--output-format", "webdataset"]);
    assert_eq!(out.status.code(), Some(1), "the 404 fails");
    // alice:s3cr3t
    let ok = seen
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.path == "/ok.bin")
        .map(|r| r.header("Authorization").map(String::from))
        .unwrap();
    assert_eq!(ok.as_deref(), Some("Basic YWxpY2U6czNjcjN0"));
    let mut written = String::new();
    for o in [&dry, &out] {
        written.push_str(&String::from_utf8_lossy(&o.stdout));
        written.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    written.push_str(&fs::read_to_string(dir.path().join("r.jsonl")).unwrap());
    let dl = dir.path().join("dl");
    for f in files(&dl) {
        written.push_str(&String::from_utf8_lossy(&fs::read(dl.join(f)).unwrap()));
    }
    assert!(written.contains("http://***@127.0.0.1"), "{written}");
    assert!(written.contains("404"), "{written}");
    assert!(!written.contains("s3cr3t"), "password written: {written}");
    assert!(!written.contains("alice"), "user written: {written}");
}

#[test]
fn authorization_cookies_and_referer_are_not_sent_on_to_another_host() {
    let (elsewhere, seen_there) = recording(b"moved");
    let target = elsewhere.url("/moved.bin");
    let origin = Server::with(move |_| Some(Reply::new(302, "").header("Location", &target)));
    let dir = tempfile::tempdir().unwrap();
    let cookies = dir.path().join("cookies.txt");
    // The cookie belongs to 127.0.0.1, whatever the port: only the
    // redirect rule keeps it from the second server.
    fs::write(&cookies, "127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tabc\n").unwrap();
    pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-o", "dl", "-q"])
        .args(["-H", "Authorization: Bearer t0ken", "-H", "X-Trace: 7"])
        .arg("--load-cookies")
        .arg(&cookies)
        .arg(origin.url("/start.bin?token=s3cr3t"))
        .assert()
        .success();
    assert_eq!(fs::read(dir.path().join("dl/start.bin")).unwrap(), b"moved");
    assert_eq!(seen_there.lock().unwrap().len(), 1);
    assert_eq!(header(&seen_there, 0, "Authorization"), None);
    assert_eq!(header(&seen_there, 0, "Cookie"), None);
    // No Referer of pixmill's own: it would carry the signed URL's token
    // to the host redirected to (curl sends none either).
    assert_eq!(header(&seen_there, 0, "Referer"), None);
    // Other headers go on, as curl sends them.
    assert_eq!(header(&seen_there, 0, "X-Trace").as_deref(), Some("7"));
}

#[test]
fn bad_gate_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 4] = [
        &["-H", "no colon here"],
        &["--load-cookies", "missing.txt"],
        &["--netrc-file", "missing-netrc"],
        &["--proto-redir", "ftp"],
    ];
    for args in cases {
        let out = pixmill()
            .current_dir(dir.path())
            .args(["fetch", "-o", "dl"])
            .args(args)
            .arg("http://127.0.0.1:9/x")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!dir.path().join("dl").exists(), "{args:?}");
    }
}

#[test]
fn convert_downloads_with_the_same_headers_and_address_rules() {
    let png = encode(
        &image::DynamicImage::ImageRgb8(gradient(32, 24)),
        image::ImageFormat::Png,
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let server = Server::with(move |req| {
        kept.lock().unwrap().push(req.clone());
        Some(Reply::ok(png.clone()).header("Content-Type", "image/png"))
    });
    let dir = tempfile::tempdir().unwrap();
    let convert = |extra: &[&str]| {
        pixmill()
            .current_dir(dir.path())
            .args(["convert", "-o", "out", "-q", "--format", "jpeg"])
            .args(extra)
            .arg(server.url("/photo.png"))
            .output()
            .unwrap()
    };
    let refused = convert(&["--deny-private"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("refused to connect to 127.0.0.1"),
        "{stderr}"
    );
    assert!(seen.lock().unwrap().is_empty(), "the server saw a request");

    let done = convert(&["-H", "X-Api-Key: k-7", "--referer", "https://r.example/"]);
    assert_eq!(done.status.code(), Some(0));
    assert_eq!(dims(&dir.path().join("out/photo.jpg")), (32, 24));
    assert_eq!(header(&seen, 0, "X-Api-Key").as_deref(), Some("k-7"));
    assert_eq!(
        header(&seen, 0, "Referer").as_deref(),
        Some("https://r.example/")
    );
}
