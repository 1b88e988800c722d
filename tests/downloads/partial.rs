//! Partial downloads resume (issue 21, point 2): a body cut short by a
//! reset, a timeout or a kill is continued with `Range` and `If-Range`, in
//! the same run or the next; a file that changed, or a server without
//! ranges, starts over; the result is byte-identical either way.

use crate::common;

use common::server::{Reply, Request, Server};
use common::*;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 7 + i / 251) as u8).wrapping_add(seed))
        .collect()
}

/// The byte a `Range: bytes=N-` asks to start from.
fn range_start(req: &Request) -> Option<usize> {
    let spec = req.header("Range")?.strip_prefix("bytes=")?;
    spec.strip_suffix('-')?.parse().ok()
}

/// 206 with the rest of `body` when the request's `If-Range` matches
/// `etag`, else 200 with all of it (RFC 9110 §13.1.5).
fn ranged(req: &Request, body: &[u8], etag: &str) -> Reply {
    match range_start(req) {
        Some(n) if req.header("If-Range") == Some(etag) && n < body.len() => {
            let range = format!("bytes {n}-{}/{}", body.len() - 1, body.len());
            Reply::new(206, body[n..].to_vec())
                .header("ETag", etag)
                .header("Content-Range", &range)
        }
        _ => Reply::ok(body.to_vec()).header("ETag", etag),
    }
}

fn fetch(dir: &Path, url: &str, extra: &[&str]) -> std::process::Output {
    pixmill()
        .current_dir(dir)
        .args([
            "fetch",
            "-o",
            "dl",
            "--report",
            "r.jsonl",
            "--timeout",
            "2s",
        ])
        .args(extra)
        .arg(url)
        .output()
        .unwrap()
}

fn only_record(dir: &Path) -> serde_json::Value {
    let records = json_lines(&fs::read_to_string(dir.join("r.jsonl")).unwrap());
    assert_eq!(records.len(), 1, "{records:?}");
    records[0].clone()
}

/// A body announced under 256 KiB is not worth the files that would let
/// it be continued: cut short, it is fetched again whole, byte-identical,
/// with nothing left behind.
#[test]
fn a_small_body_cut_short_is_fetched_again_whole() {
    let body = payload(100_000, 3);
    let served = body.clone();
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges.clone();
    let server = Server::with(move |req| {
        seen.lock()
            .unwrap()
            .push(req.header("Range").map(String::from));
        Some(match req.path_hits {
            1 => ranged(req, &served, "\"v1\"").cut_at(40_000),
            _ => ranged(req, &served, "\"v1\""),
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let out = fetch(dir.path(), &server.url("/small.bin"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(dir.path().join("dl/small.bin")).unwrap(), body);
    assert_eq!(ranges.lock().unwrap().clone(), [None, None]);
    let record = only_record(dir.path());
    assert_eq!(record["attempts"], 2);
    assert!(record["resumed_from"].is_null(), "{record}");
    assert_no_temp_files(&dir.path().join("dl"));
}

#[test]
fn a_body_cut_short_is_continued_by_the_next_attempt() {
    let body = payload(300_000, 1);
    let served = body.clone();
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges.clone();
    let server = Server::with(move |req| {
        seen.lock()
            .unwrap()
            .push(req.header("Range").map(String::from));
        Some(match req.path_hits {
            // Announces it all, sends 120,000 bytes, closes: a reset.
            1 => ranged(req, &served, "\"v1\"").cut_at(120_000),
            _ => ranged(req, &served, "\"v1\""),
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let out = fetch(dir.path(), &server.url("/big.bin"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(dir.path().join("dl/big.bin")).unwrap(), body);
    let ranges = ranges.lock().unwrap().clone();
    assert_eq!(ranges, [None, Some("bytes=120000-".to_string())]);
    let record = only_record(dir.path());
    assert_eq!(record["resumed_from"], 120_000);
    assert_eq!(record["attempts"], 2);
    assert_eq!(record["bytes_in"], 300_000);
    assert_no_temp_files(&dir.path().join("dl"));
}

/// A 206 that does not add up (its `Content-Range` names more bytes than
/// it sends and starts them elsewhere, or stops short of the end) is never
/// appended to the partial body: the download starts over, and the file
/// is the server's, byte for byte.
#[test]
fn a_206_that_does_not_add_up_is_not_appended() {
    let body = payload(300_000, 4);
    for lie in ["short body", "short range"] {
        let served = body.clone();
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = ranges.clone();
        let server = Server::with(move |req| {
            seen.lock()
                .unwrap()
                .push(req.header("Range").map(String::from));
            let n = range_start(req);
            Some(match (req.path_hits, n) {
                (1, _) => ranged(req, &served, "\"v1\"").cut_at(120_000),
                (2, Some(n)) if lie == "short body" => {
                    // Claims n..end, sends 5 bytes fewer, from n + 5.
                    let range = format!("bytes {n}-{}/{}", served.len() - 1, served.len());
                    Reply::new(206, served[n + 5..].to_vec())
                        .header("ETag", "\"v1\"")
                        .header("Content-Range", &range)
                }
                (2, Some(n)) => {
                    // A range that stops 1,000 bytes before the end.
                    let last = served.len() - 1_001;
                    let range = format!("bytes {n}-{last}/{}", served.len());
                    Reply::new(206, served[n..=last].to_vec())
                        .header("ETag", "\"v1\"")
                        .header("Content-Range", &range)
                }
                _ => ranged(req, &served, "\"v1\""),
            })
        });
        let dir = tempfile::tempdir().unwrap();
        let out = fetch(dir.path(), &server.url("/big.bin"), &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{lie}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            fs::read(dir.path().join("dl/big.bin")).unwrap() == body,
            "{lie}: the file is not the server's"
        );
        let ranges = ranges.lock().unwrap().clone();
        assert_eq!(
            ranges,
            [None, Some("bytes=120000-".to_string()), None],
            "{lie}: the third attempt starts over"
        );
        let record = only_record(dir.path());
        assert!(record["resumed_from"].is_null(), "{lie}: {record}");
        assert_eq!(record["attempts"], 3, "{lie}");
        assert_no_temp_files(&dir.path().join("dl"));
    }
}

#[test]
fn a_rerun_continues_a_download_that_was_killed() {
    // Half of 40 MB is far more than loopback socket buffers hold, so when
    // the server has sent it (`wait_held`), the client has read most of it:
    // the kill then lands mid-body, without a sleep.
    let body = payload(40 << 20, 2);
    let served = Arc::new(body.clone());
    let server = Server::with(move |req| {
        Some(match req.path_hits {
            // Half the body, then nothing: the run is killed meanwhile.
            1 => Reply::ok(served.to_vec()).header("ETag", "\"v1\"").held(),
            _ => ranged(req, &served, "\"v1\""),
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_pixmill"))
        .current_dir(dir.path())
        .args(["fetch", "-o", "dl", "--timeout", "5s", "-q"])
        .arg(server.url("/big.bin"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    server.wait_held(1, Duration::from_secs(30));
    // SIGTERM, as `kill` sends it.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let killed = child.wait_with_output().unwrap();
    assert_eq!(killed.status.code(), Some(130));
    let partial = dir.path().join("dl/.big.bin.pixmill-partial");
    let kept = fs::read(&partial).unwrap();
    assert!(kept.len() >= 4 << 20, "only {} bytes kept", kept.len());
    assert!(kept.len() <= 20 << 20);
    assert!(
        body.starts_with(&kept),
        "the partial file is the body's start"
    );
    assert!(
        !dir.path().join("dl/big.bin").exists(),
        "no partial file under the final name"
    );

    let out = fetch(dir.path(), &server.url("/big.bin"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        fs::read(dir.path().join("dl/big.bin")).unwrap() == body,
        "byte-identical"
    );
    assert_eq!(only_record(dir.path())["resumed_from"], kept.len() as u64);
    assert!(!partial.exists());
    assert_no_temp_files(&dir.path().join("dl"));
}

#[test]
fn a_changed_file_or_a_server_without_ranges_starts_over() {
    // Bodies over 256 KiB: smaller ones are not made continuable.
    let old = payload(400_000, 3);
    let new = payload(390_000, 4);
    let (old_s, new_s) = (old.clone(), new.clone());
    // First ask: the old file, cut short. Then the file changes: its ETag
    // no longer matches the If-Range, so the whole new file comes.
    let changed = Server::with(move |req| {
        Some(match req.path_hits {
            1 => ranged(req, &old_s, "\"old\"").cut_at(160_000),
            _ => ranged(req, &new_s, "\"new\""),
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let out = fetch(dir.path(), &changed.url("/a.bin"), &["--retries", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(dir.path().join("dl/.a.bin.pixmill-partial").exists());
    let out = fetch(dir.path(), &changed.url("/a.bin"), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fs::read(dir.path().join("dl/a.bin")).unwrap(), new);
    assert_eq!(only_record(dir.path()).get("resumed_from"), None);

    // A server that ignores Range: the full body again, byte-identical.
    let body = payload(400_000, 5);
    let served = body.clone();
    let no_ranges = Server::with(move |req| {
        let reply = Reply::ok(served.clone()).header("ETag", "\"v\"");
        Some(if req.path_hits == 1 {
            reply.cut_at(120_000)
        } else {
            reply
        })
    });
    let dir = tempfile::tempdir().unwrap();
    fetch(dir.path(), &no_ranges.url("/b.bin"), &["--retries", "0"]);
    let out = fetch(dir.path(), &no_ranges.url("/b.bin"), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fs::read(dir.path().join("dl/b.bin")).unwrap(), body);
    assert_no_temp_files(&dir.path().join("dl"));
}

/// Only a body worth continuing (announced at 256 KiB or more) makes the
/// partial file and sidecar a rerun would continue from, and only once it
/// arrives: a small one never creates them (for a dataset of small images
/// that create and remove was a twentieth of the run's CPU time).
#[test]
fn only_a_body_worth_continuing_makes_partial_files() {
    // The big body lives only in the server (and a copy per request): this
    // harness's own memory counts in the peak-RSS tests running beside it.
    let small = payload(200_000, 6);
    let (small_s, big_s) = (small.clone(), payload(40 << 20, 7));
    let server = Server::with(move |req| {
        let body = if req.path == "/small.bin" {
            &small_s
        } else {
            &big_s
        };
        // Half the body, then nothing until the test releases it.
        Some(Reply::ok(body.clone()).header("ETag", "\"v\"").held())
    });
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_pixmill"))
        .current_dir(dir.path())
        .args(["fetch", "-o", "dl", "--timeout", "30s", "-q"])
        .args([server.url("/small.bin"), server.url("/big.bin")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Half of 40 MB is far more than loopback socket buffers hold: when the
    // server has sent it, the client is reading the big body.
    server.wait_held(2, Duration::from_secs(30));
    let names = files(&dir.path().join("dl"));
    assert!(
        names.iter().any(|n| n == ".big.bin.pixmill-partial.meta"),
        "the big body is continuable: {names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with(".small.bin.pixmill-partial")),
        "no partial files for the small body: {names:?}"
    );
    server.release();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);
    assert!(fs::read(dir.path().join("dl/small.bin")).unwrap() == small);
    assert!(fs::read(dir.path().join("dl/big.bin")).unwrap() == payload(40 << 20, 7));
    assert_no_temp_files(&dir.path().join("dl"));
}
