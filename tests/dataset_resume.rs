//! Dataset folders that never lie: a data file counts as complete only when
//! its seal says it was made from the same rows with the same settings and
//! it is intact; reruns repair failed rows, `--append` extends a dataset,
//! and one run at a time writes a folder.

use crate::common;
use crate::datasets::{parquet_rows, tar_members, text};

use common::server::{Reply, Server};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A server with `n` PNGs of distinct sizes at `/f/{name}{i}.png`.
fn serve(server: &Server, name: &str, n: usize) {
    for i in 0..n {
        let img = image::DynamicImage::ImageRgb8(gradient(100 + i as u32, 80));
        server.add(
            &format!("{name}{i}.png"),
            encode(&img, image::ImageFormat::Png),
        );
    }
}

/// Writes a CSV list of `rows` (path, caption) to `dir/file`.
fn write_list(dir: &Path, file: &str, server: &Server, name: &str, rows: std::ops::Range<usize>) {
    let mut csv = String::from("url,caption\n");
    for i in rows {
        let url = server.url(&format!("/f/{name}{i}.png"));
        csv.push_str(&format!("{url},{name} {i}\n"));
    }
    fs::write(dir.join(file), csv).unwrap();
}

/// `pixmill convert -m LIST -o out` into a WebDataset with `per_file` rows
/// per data file, reporting to `r.jsonl`; returns the report and stderr.
fn convert(
    dir: &Path,
    list: &str,
    per_file: u64,
    more: &[&str],
) -> (Vec<serde_json::Value>, String, i32) {
    let _ = fs::remove_file(dir.join("r.jsonl"));
    let mut cmd = pixmill();
    cmd.current_dir(dir)
        .args(["convert", "-m", list, "-o", "out", "--report", "r.jsonl"])
        .args(["--output-format", "webdataset"])
        .args(["--samples-per-file", &per_file.to_string()])
        .args(more);
    // A box unless the test sets one (or keeps the source bytes).
    if !more.iter().any(|a| *a == "--resize" || *a == "never") {
        cmd.args(["--resize", "64x64"]);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let records = match dir.join("r.jsonl").exists() {
        true => report(&dir.join("r.jsonl")),
        false => Vec::new(),
    };
    (records, stderr, out.status.code().unwrap_or(-1))
}

/// Every image sample in the folder's tar files: `file:key` → caption
/// (from `KEY.txt`) and the image's width.
fn samples(out: &Path) -> BTreeMap<String, (String, u32)> {
    let mut all = BTreeMap::new();
    for name in files(out) {
        if !name.ends_with(".tar") {
            continue;
        }
        let members = tar_members(&out.join(&name));
        for (member, bytes) in &members {
            let Some(key) = member.strip_suffix(".png").or(member.strip_suffix(".jpg")) else {
                continue;
            };
            let caption = String::from_utf8(members[&format!("{key}.txt")].clone()).unwrap();
            let width = image::load_from_memory(bytes).unwrap().width();
            all.insert(format!("{name}:{member}"), (caption, width));
        }
    }
    all
}

fn statuses(records: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        let status = r["status"].as_str().unwrap().to_string();
        let reason = r["reason"]
            .as_str()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        *counts.entry(format!("{status}{reason}")).or_default() += 1;
    }
    counts
}

#[test]
fn a_different_list_into_a_used_folder_replaces_what_it_covers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    serve(&server, "a", 3);
    serve(&server, "b", 3);
    write_list(dir.path(), "a.csv", &server, "a", 0..3);
    write_list(dir.path(), "b.csv", &server, "b", 0..3);
    let (first, _, code) = convert(dir.path(), "a.csv", 10, &[]);
    assert_eq!(code, 0);
    assert_eq!(statuses(&first), BTreeMap::from([("ok".to_string(), 3)]));

    let (second, stderr, code) = convert(dir.path(), "b.csv", 10, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        statuses(&second),
        BTreeMap::from([("ok (input changed)".to_string(), 3)]),
        "{stderr}"
    );
    assert!(
        stderr.contains("replacing 00000.tar (input changed)"),
        "{stderr}"
    );
    // The records name members the store holds, and it holds list b.
    let held = samples(&dir.path().join("out"));
    for r in &second {
        let output = r["output"].as_str().unwrap();
        assert!(output.starts_with("00000.tar:"), "{output}");
        assert!(held.contains_key(output), "{output} not in {held:?}");
    }
    let captions: BTreeSet<&str> = held.values().map(|(c, _)| c.as_str()).collect();
    assert_eq!(captions, BTreeSet::from(["b 0", "b 1", "b 2"]));
    // A rerun of list b is now up to date, fetching nothing, and its
    // records still name the members.
    let before = server.requests();
    let (third, _, code) = convert(dir.path(), "b.csv", 10, &[]);
    assert_eq!(code, 0);
    assert_eq!(server.requests(), before);
    assert_eq!(
        statuses(&third),
        BTreeMap::from([("skipped (up to date)".to_string(), 3)])
    );
    for r in &third {
        assert!(held.contains_key(r["output"].as_str().unwrap()), "{r}");
    }
}

#[test]
fn new_settings_remake_the_data_file_and_another_format_needs_its_own_folder() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    serve(&server, "a", 4);
    write_list(dir.path(), "a.csv", &server, "a", 0..4);
    let (_, _, code) = convert(dir.path(), "a.csv", 10, &["--resize", "48x48"]);
    assert_eq!(code, 0);
    let widths = |out: &Path| -> BTreeSet<u32> { samples(out).values().map(|s| s.1).collect() };
    assert_eq!(widths(&dir.path().join("out")), BTreeSet::from([48]));
    let (records, _, code) = convert(dir.path(), "a.csv", 10, &["--resize", "32x32"]);
    assert_eq!(code, 0);
    assert_eq!(
        statuses(&records),
        BTreeMap::from([("ok (settings changed)".to_string(), 4)])
    );
    assert_eq!(widths(&dir.path().join("out")), BTreeSet::from([32]));

    // Parquet into the same folder would overwrite the WebDataset's
    // metadata (`00000.parquet`): refused before anything is written.
    let out = dir.path().join("out");
    let metadata = fs::read(out.join("00000.parquet")).unwrap();
    let run = pixmill()
        .current_dir(dir.path())
        .args(["convert", "-m", "a.csv", "-o", "out", "--json"])
        .args(["--output-format", "parquet", "--resize", "32x32"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert!(
        stderr.contains("holds a WebDataset dataset (00000.tar)"),
        "{stderr}"
    );
    assert_eq!(fs::read(out.join("00000.parquet")).unwrap(), metadata);
    let (records, _, code) = convert(dir.path(), "a.csv", 10, &["--resize", "32x32"]);
    assert_eq!(code, 0);
    assert_eq!(
        statuses(&records),
        BTreeMap::from([("skipped (up to date)".to_string(), 4)])
    );
    // In a folder of its own: its data file, with every image.
    let run = pixmill()
        .current_dir(dir.path())
        .args(["convert", "-m", "a.csv", "-o", "pq", "--json"])
        .args(["--output-format", "parquet", "--resize", "32x32"])
        .assert()
        .code(0);
    let records = run.records();
    assert!(records.iter().all(|r| r["status"] == "ok"), "{records:?}");
    let rows = parquet_rows(&dir.path().join("pq/00000.parquet"));
    assert_eq!(rows.len(), 4);
    assert!(rows
        .iter()
        .all(|r| matches!(r["image"], parquet::record::Field::Bytes(_))));
}

/// Fewer data files than the folder holds (more rows per file, or a
/// shorter list): the files past the list's last one would hold its rows
/// a second time, or rows it no longer has, so they go, with their
/// metadata, stats and seals, each named on stderr.
#[test]
fn files_past_the_end_of_a_new_layout_or_a_shorter_list_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    serve(&server, "a", 6);
    write_list(dir.path(), "a.csv", &server, "a", 0..6);
    write_list(dir.path(), "short.csv", &server, "a", 0..2);
    let out = dir.path().join("out");
    assert_eq!(convert(dir.path(), "a.csv", 2, &[]).2, 0);
    assert_eq!(samples(&out).len(), 6);
    let (records, stderr, code) = convert(dir.path(), "a.csv", 6, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        statuses(&records),
        BTreeMap::from([("ok (settings changed)".to_string(), 6)])
    );
    for gone in ["00001.tar", "00002.tar"] {
        assert!(stderr.contains(&format!("removing {gone}")), "{stderr}");
    }
    assert_eq!(
        files(&out)
            .into_iter()
            .filter(|f| !f.starts_with('.'))
            .collect::<Vec<_>>(),
        ["00000.parquet", "00000.tar", "00000_stats.json"]
    );
    assert!(!out.join(".00001.tar.pixmill.seal").exists());
    let held = samples(&out);
    assert_eq!(held.len(), 6, "each row once: {held:?}");
    // A rerun is up to date and removes nothing more.
    let (records, stderr, _) = convert(dir.path(), "a.csv", 6, &[]);
    assert!(!stderr.contains("removing"), "{stderr}");
    assert!(records.iter().all(|r| r["reason"] == "up to date"));
    // A shorter list in the old layout: one file, and nothing after it;
    // `--on-exists skip` keeps whatever exists.
    assert_eq!(convert(dir.path(), "a.csv", 2, &[]).2, 0);
    let (_, stderr, code) = convert(dir.path(), "short.csv", 2, &["--on-exists", "skip"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("removing"), "{stderr}");
    assert_eq!(samples(&out).len(), 6);
    let (_, stderr, code) = convert(dir.path(), "short.csv", 2, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("removing 00002.tar"), "{stderr}");
    assert_eq!(samples(&out).len(), 2);
}

#[test]
fn a_grown_list_keeps_full_files_and_remakes_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    serve(&server, "a", 35);
    write_list(dir.path(), "a.csv", &server, "a", 0..25);
    let (_, _, code) = convert(dir.path(), "a.csv", 10, &[]);
    assert_eq!(code, 0);
    write_list(dir.path(), "a.csv", &server, "a", 0..35);
    let before: usize = (0..20).map(|i| server.hits(&format!("/f/a{i}.png"))).sum();
    let (records, _, code) = convert(dir.path(), "a.csv", 10, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        statuses(&records),
        BTreeMap::from([
            ("skipped (up to date)".to_string(), 20),
            ("ok (input changed)".to_string(), 10),
            ("ok".to_string(), 5),
        ])
    );
    let after: usize = (0..20).map(|i| server.hits(&format!("/f/a{i}.png"))).sum();
    assert_eq!(before, after, "rows of complete files were fetched again");
    // Every row is in exactly one data file.
    let held = samples(&dir.path().join("out"));
    let captions: Vec<&str> = held.values().map(|(c, _)| c.as_str()).collect();
    assert_eq!(captions.len(), 35);
    assert_eq!(captions.iter().collect::<BTreeSet<_>>().len(), 35);
}

#[test]
fn a_foreign_or_damaged_data_file_is_remade_with_its_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    serve(&server, "a", 4);
    write_list(dir.path(), "a.csv", &server, "a", 0..4);
    let out = dir.path().join("out");
    fs::create_dir_all(&out).unwrap();
    // An empty file where the second data file goes.
    fs::write(out.join("00001.tar"), b"").unwrap();
    let (records, _, code) = convert(dir.path(), "a.csv", 2, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        statuses(&records),
        BTreeMap::from([
            ("ok".to_string(), 2),
            (
                "ok (output has no record of how it was made)".to_string(),
                2
            ),
        ])
    );
    assert!(out.join("00001.parquet").is_file() && out.join("00001_stats.json").is_file());
    assert_eq!(samples(&out).len(), 4);
    // Cut short behind pixmill's back: incomplete, remade.
    let tar = out.join("00000.tar");
    let len = fs::metadata(&tar).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&tar)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let (records, _, code) = convert(dir.path(), "a.csv", 2, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        statuses(&records),
        BTreeMap::from([
            ("ok (output was incomplete)".to_string(), 2),
            ("skipped (up to date)".to_string(), 2),
        ])
    );
    assert_eq!(samples(&out).len(), 4);
}

#[test]
fn on_exists_skip_and_fail_apply_to_whole_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    serve(&server, "a", 2);
    serve(&server, "b", 2);
    write_list(dir.path(), "a.csv", &server, "a", 0..2);
    write_list(dir.path(), "b.csv", &server, "b", 0..2);
    assert_eq!(convert(dir.path(), "a.csv", 10, &[]).2, 0);
    let (records, _, code) = convert(dir.path(), "b.csv", 10, &["--on-exists", "skip"]);
    assert_eq!(code, 0);
    assert_eq!(
        statuses(&records),
        BTreeMap::from([("skipped (output exists)".to_string(), 2)])
    );
    let (records, _, code) = convert(dir.path(), "b.csv", 10, &["--on-exists", "fail"]);
    assert_eq!(code, 1);
    assert!(
        records.iter().all(|r| r["error_class"] == "exists"),
        "{records:?}"
    );
    assert!(records[0]["error"].as_str().unwrap().contains("00000.tar"));
    let captions: BTreeSet<String> = samples(&dir.path().join("out"))
        .into_values()
        .map(|s| s.0)
        .collect();
    assert_eq!(
        captions,
        BTreeSet::from(["a 0".to_string(), "a 1".to_string()])
    );
}

/// The server answers `/f/flaky*` with 503 until `fixed`, and `/f/gone*`
/// with 404 always.
fn flaky_server(fixed: Arc<AtomicBool>) -> Server {
    let server = Server::with(move |req| {
        let path = req.path.as_str();
        if path.starts_with("/f/gone") {
            return Some(Reply::not_found());
        }
        if path.starts_with("/f/flaky") && !fixed.load(Ordering::SeqCst) {
            return Some(Reply::new(503, "busy"));
        }
        None
    });
    serve(&server, "ok", 6);
    serve(&server, "flaky", 2);
    server
}

#[test]
fn a_rerun_repairs_transient_failures_without_fetching_what_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let fixed = Arc::new(AtomicBool::new(false));
    let server = flaky_server(fixed.clone());
    // Two files of four rows: ok0 ok1 flaky0 gone0 | ok2 ok3 ok4 flaky1.
    let paths = [
        "ok0", "ok1", "flaky0", "gone0", "ok2", "ok3", "ok4", "flaky1",
    ];
    let mut csv = String::from("url,caption\n");
    for p in paths {
        csv.push_str(&format!("{},{p}\n", server.url(&format!("/f/{p}.png"))));
    }
    fs::write(dir.path().join("list.csv"), csv).unwrap();
    let no_retries = ["--retries", "0"];
    let (first, _, code) = convert(dir.path(), "list.csv", 4, &no_retries);
    assert_eq!(code, 1);
    assert_eq!(
        statuses(&first),
        BTreeMap::from([("ok".to_string(), 5), ("failed".to_string(), 3)])
    );
    // A failed row has no sample: its record names no output.
    for r in first.iter().filter(|r| r["status"] == "failed") {
        assert!(r["output"].is_null(), "{r}");
    }
    let hits = |server: &Server| -> Vec<usize> {
        paths
            .iter()
            .map(|p| server.hits(&format!("/f/{p}.png")))
            .collect()
    };
    assert_eq!(hits(&server), [1; 8]);

    fixed.store(true, Ordering::SeqCst);
    let (second, stderr, code) = convert(dir.path(), "list.csv", 4, &no_retries);
    // Only the 503 rows were asked for again; the 404 is left alone.
    assert_eq!(hits(&server), [1, 1, 2, 1, 1, 1, 1, 2], "{stderr}");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        statuses(&second),
        BTreeMap::from([
            ("ok (retrying a failed row)".to_string(), 2),
            ("skipped (up to date)".to_string(), 6),
        ])
    );
    // Each row has exactly one status in the metadata, each ok row exactly
    // one sample.
    let out = dir.path().join("out");
    let mut meta: BTreeMap<String, String> = BTreeMap::new();
    for file in ["00000.parquet", "00001.parquet"] {
        for row in parquet_rows(&out.join(file)) {
            let caption = text(&row["caption"]).unwrap().to_string();
            let status = text(&row["status"]).unwrap().to_string();
            assert!(
                meta.insert(caption, status).is_none(),
                "row twice in metadata"
            );
        }
    }
    let want: BTreeMap<String, String> = paths
        .iter()
        .map(|p| {
            (
                p.to_string(),
                if *p == "gone0" { "failed" } else { "ok" }.to_string(),
            )
        })
        .collect();
    assert_eq!(meta, want);
    let held: Vec<String> = samples(&out).into_values().map(|s| s.0).collect();
    assert_eq!(held.len(), 7);
    assert_eq!(held.iter().collect::<BTreeSet<_>>().len(), 7);

    // --retry-failed asks for the permanent failure again too.
    let (_, _, code) = convert(
        dir.path(),
        "list.csv",
        4,
        &["--retries", "0", "--retry-failed"],
    );
    assert_eq!(code, 1);
    assert_eq!(hits(&server), [1, 1, 2, 2, 1, 1, 1, 2]);
    // And a plain rerun now fetches nothing.
    let before = server.requests();
    assert_eq!(convert(dir.path(), "list.csv", 4, &no_retries).2, 0);
    assert_eq!(server.requests(), before);
}

#[test]
fn append_continues_the_numbering_and_reruns_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    serve(&server, "a", 5);
    serve(&server, "b", 3);
    serve(&server, "c", 2);
    write_list(dir.path(), "a.csv", &server, "a", 0..5);
    write_list(dir.path(), "b.csv", &server, "b", 0..3);
    write_list(dir.path(), "c.csv", &server, "c", 0..2);
    assert_eq!(convert(dir.path(), "a.csv", 2, &[]).2, 0);
    let (records, stderr, code) = convert(dir.path(), "b.csv", 2, &["--append"]);
    assert_eq!(code, 0, "{stderr}");
    let outputs: BTreeSet<&str> = records
        .iter()
        .map(|r| r["output"].as_str().unwrap())
        .collect();
    assert_eq!(
        outputs,
        BTreeSet::from([
            "00003.tar:000030.png",
            "00003.tar:000031.png",
            "00004.tar:000040.png"
        ]),
        "{stderr}"
    );
    let out = dir.path().join("out");
    let before = samples(&out);
    assert_eq!(before.len(), 8);
    // The same append again: nothing fetched, nothing changed.
    let requests = server.requests();
    let (records, _, code) = convert(dir.path(), "b.csv", 2, &["--append"]);
    assert_eq!(code, 0);
    assert_eq!(server.requests(), requests);
    assert_eq!(
        statuses(&records),
        BTreeMap::from([("skipped (up to date)".to_string(), 3)])
    );
    assert_eq!(samples(&out), before);
    // The base list is still up to date, and a third list goes after.
    let (records, _, _) = convert(dir.path(), "a.csv", 2, &[]);
    assert!(
        records.iter().all(|r| r["reason"] == "up to date"),
        "{records:?}"
    );
    let (records, _, code) = convert(dir.path(), "c.csv", 2, &["--append"]);
    assert_eq!(code, 0);
    assert!(records
        .iter()
        .all(|r| r["output"].as_str().unwrap().starts_with("00005.tar:")));
    assert_eq!(samples(&out).len(), 10);
}

/// A base list grown after an `--append` would reach into the appended
/// data files and replace them (and the append's rerun would replace the
/// base's rows back): the rows that would go there fail, naming the file,
/// and the appended samples stay.
#[test]
fn a_base_list_grown_into_appended_files_leaves_them_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    serve(&server, "a", 8);
    serve(&server, "b", 3);
    write_list(dir.path(), "a.csv", &server, "a", 0..4);
    write_list(dir.path(), "grown.csv", &server, "a", 0..8);
    write_list(dir.path(), "b.csv", &server, "b", 0..3);
    assert_eq!(convert(dir.path(), "a.csv", 2, &[]).2, 0);
    assert_eq!(convert(dir.path(), "b.csv", 2, &["--append"]).2, 0);
    let out = dir.path().join("out");
    let before = samples(&out);
    assert_eq!(before.len(), 7);
    let (records, stderr, code) = convert(dir.path(), "grown.csv", 2, &[]);
    assert_eq!(code, 1, "{stderr}");
    let refused: Vec<_> = records.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(refused.len(), 4, "{records:?}");
    assert!(refused.iter().all(|r| r["error"]
        .as_str()
        .unwrap()
        .contains("holds rows an --append added")));
    assert_eq!(samples(&out), before, "the appended samples are untouched");
    // The append's rerun is still up to date.
    let (records, _, code) = convert(dir.path(), "b.csv", 2, &["--append"]);
    assert_eq!(code, 0);
    assert!(
        records.iter().all(|r| r["reason"] == "up to date"),
        "{records:?}"
    );
}

#[test]
fn a_second_run_into_a_busy_folder_is_refused_and_a_killed_one_leaves_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let png = encode(
        &image::DynamicImage::ImageRgb8(gradient(64, 64)),
        image::ImageFormat::Png,
    );
    let server = Server::with(move |req| {
        req.path
            .ends_with("slow.png")
            .then(|| Reply::ok(png.clone()).held())
    });
    serve(&server, "a", 2);
    let mut csv = String::from("url,caption\n");
    csv.push_str(&format!("{},slow\n", server.url("/f/slow.png")));
    for i in 0..2 {
        csv.push_str(&format!("{},a {i}\n", server.url(&format!("/f/a{i}.png"))));
    }
    fs::write(dir.path().join("list.csv"), csv).unwrap();
    let mut first = pixmill_std();
    first
        .current_dir(dir.path())
        .args([
            "convert",
            "-m",
            "list.csv",
            "-o",
            "out",
            "--output-format",
            "webdataset",
            "-q",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = first.spawn().unwrap();
    // The first run is mid-download, holding the folder.
    server.wait_held(1, Duration::from_secs(30));
    let (records, stderr, code) = convert(dir.path(), "list.csv", 10_000, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(records.is_empty());
    assert!(
        stderr.contains("another pixmill run is writing a dataset into"),
        "{stderr}"
    );
    // SIGKILL: the kernel drops the lock with the process.
    child.kill().unwrap();
    child.wait().unwrap();
    server.release();
    let (records, stderr, code) = convert(dir.path(), "list.csv", 10_000, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(statuses(&records), BTreeMap::from([("ok".to_string(), 3)]));
    assert_no_temp_files(&dir.path().join("out"));
}

/// A JPEG photo-like gradient with noise, `w`x`h`.
fn jpeg(w: u32, h: u32) -> Vec<u8> {
    encode(
        &image::DynamicImage::ImageRgb8(gradient(w, h)),
        image::ImageFormat::Jpeg,
    )
}

#[test]
fn reencode_never_and_if_needed_keep_the_source_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    let small = jpeg(120, 90);
    let large = jpeg(400, 300);
    server.add("small.jpg", small.clone());
    server.add("large.jpg", large.clone());
    server.add("broken.jpg", b"\xff\xd8\xff\xe0 not really".to_vec());
    let list = format!(
        "url,caption\n{},small\n{},large\n{},broken\n",
        server.url("/f/small.jpg"),
        server.url("/f/large.jpg"),
        server.url("/f/broken.jpg")
    );
    fs::write(dir.path().join("list.csv"), list).unwrap();
    let sample = |out: &Path, caption: &str| -> Vec<u8> {
        let members = tar_members(&out.join("00000.tar"));
        let key = members
            .iter()
            .find(|(name, bytes)| name.ends_with(".txt") && *bytes == caption.as_bytes())
            .map(|(name, _)| name.trim_end_matches(".txt").to_string())
            .unwrap();
        members[&format!("{key}.jpg")].clone()
    };

    // never: every image's own bytes, checked to decode first.
    let (records, stderr, code) = convert(
        dir.path(),
        "list.csv",
        10,
        &["--reencode", "never", "--hash", "sha256"],
    );
    assert_eq!(code, 1, "{stderr}");
    let out = dir.path().join("out");
    assert_eq!(sample(&out, "small"), small);
    assert_eq!(sample(&out, "large"), large);
    let broken = records.iter().find(|r| r["caption"] == "broken").unwrap();
    assert_eq!(broken["status"], "failed");
    let large_record = records.iter().find(|r| r["caption"] == "large").unwrap();
    assert_eq!(large_record["width_out"], 400);
    assert_eq!(large_record["height_out"], 300);
    assert!(large_record["hash"].as_str().is_some_and(|h| h.len() == 64));

    // if-needed: the small one already fits the box and is kept; the
    // large one is resized, so encoded afresh.
    let (_, stderr, _) = convert(
        dir.path(),
        "list.csv",
        10,
        &["--reencode", "if-needed", "--resize", "200x200"],
    );
    assert_eq!(sample(&out, "small"), small, "{stderr}");
    let resized = sample(&out, "large");
    assert_ne!(resized, large);
    assert_eq!(image::load_from_memory(&resized).unwrap().width(), 200);

    // never with an option that needs pixels is a usage error.
    let (_, stderr, code) = convert(
        dir.path(),
        "list.csv",
        10,
        &["--reencode", "never", "--resize", "64"],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--reencode never keeps the input's bytes: --resize"),
        "{stderr}"
    );
}

/// Mean absolute difference between neighbouring pixels in a region: the
/// detail left there.
fn detail(img: &image::RgbImage, xs: std::ops::Range<u32>, ys: std::ops::Range<u32>) -> f64 {
    let (mut sum, mut n) = (0.0, 0.0);
    for y in ys {
        for x in xs.clone() {
            let (a, b) = (img.get_pixel(x, y)[0], img.get_pixel(x + 1, y)[0]);
            sum += (f64::from(a) - f64::from(b)).abs();
            n += 1.0;
        }
    }
    sum / n
}

#[test]
fn bbox_col_blurs_the_boxes_and_a_malformed_box_fails_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    // Fine stripes everywhere: detail a blur removes.
    let stripes = image::RgbImage::from_fn(200, 100, |x, _| {
        if (x / 2) % 2 == 0 {
            image::Rgb([250, 250, 250])
        } else {
            image::Rgb([5, 5, 5])
        }
    });
    server.add(
        "s.png",
        encode(
            &image::DynamicImage::ImageRgb8(stripes),
            image::ImageFormat::Png,
        ),
    );
    // One image under four URLs (the query differs), one per row.
    let url = |n: u32| server.url(&format!("/f/s.png?{n}"));
    let rows = [
        format!(
            r#"{{"url": "{}", "caption": "left", "boxes": [[0.0, 0.0, 0.5, 1.0]]}}"#,
            url(1)
        ),
        format!(r#"{{"url": "{}", "caption": "none", "boxes": []}}"#, url(2)),
        format!(
            r#"{{"url": "{}", "caption": "text", "boxes": "[[0.5, 0.0, 1.0, 1.0]]"}}"#,
            url(3)
        ),
        format!(
            r#"{{"url": "{}", "caption": "bad", "boxes": [[0.6, 0.0, 0.2, 1.0]]}}"#,
            url(4)
        ),
    ];
    fs::write(dir.path().join("list.jsonl"), rows.join("\n")).unwrap();
    let run = pixmill()
        .current_dir(dir.path())
        .args([
            "convert",
            "-m",
            "list.jsonl",
            "-o",
            "out",
            "--json",
            "-f",
            "png",
        ])
        .args(["--bbox-col", "boxes"])
        .assert()
        .code(1);
    let records = run.records();
    let by = |caption: &str| {
        records
            .iter()
            .find(|r| r["caption"] == caption)
            .unwrap()
            .clone()
    };
    let bad = by("bad");
    assert_eq!(bad["status"], "failed");
    assert!(
        bad["error"].as_str().unwrap().contains("--bbox-col boxes"),
        "{bad}"
    );
    let image_of = |caption: &str| {
        let output = by(caption)["output"].as_str().unwrap().to_string();
        image::open(dir.path().join(output)).unwrap().to_rgb8()
    };
    let (left, none, text) = (image_of("left"), image_of("none"), image_of("text"));
    let sharp = detail(&none, 10..90, 10..90);
    assert!(sharp > 100.0, "stripes lost without a box: {sharp}");
    assert!(
        detail(&left, 10..80, 10..90) < 10.0,
        "left half not blurred"
    );
    assert!(
        detail(&left, 110..190, 10..90) > 100.0,
        "right half blurred too"
    );
    assert!(
        detail(&text, 110..190, 10..90) < 10.0,
        "a box given as JSON text not blurred"
    );
    assert!(detail(&text, 10..80, 10..90) > 100.0);
}
