//! Reruns that tell the truth: an output is skipped only when it is up to
//! date (same input, same settings, intact), every stale one is redone with
//! the reason in its record; names are decided once, so the same input
//! under any spelling is one item and a failing input never blocks another.

use crate::common;

use common::server::Server;
use common::*;
use std::fs;
use std::path::Path;

/// `pixmill convert in -o out --report r.jsonl ARGS` in `dir`; its report.
fn convert_in(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<serde_json::Value>) {
    let out = pixmill()
        .current_dir(dir)
        .args(["convert", "in", "-o", "out", "--report", "r.jsonl", "-q"])
        .args(args)
        .output()
        .unwrap();
    (out.status.code(), report(&dir.join("r.jsonl")))
}

fn statuses(report: &[serde_json::Value]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = report
        .iter()
        .map(|r| {
            (
                r["input"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
                r["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn three_inputs(dir: &Path) {
    for name in ["a", "b", "c"] {
        write_image(&dir.join(format!("in/{name}.png")), 120, 80);
    }
}

#[test]
fn new_settings_redo_everything_and_same_settings_skip_everything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    three_inputs(d);
    let (code, first) = convert_in(d, &["--resize", "30x30"]);
    assert_eq!(code, Some(0));
    assert!(first.iter().all(|r| r["status"] == "ok"), "{first:#?}");
    assert_eq!(dims(&d.join("out/a.png")), (30, 20));

    let (code, again) = convert_in(d, &["--resize", "60x60"]);
    assert_eq!(code, Some(0));
    for (input, status, reason) in statuses(&again) {
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("ok", "settings changed"),
            "{input}"
        );
    }
    assert_eq!(dims(&d.join("out/a.png")), (60, 40));

    let (code, same) = convert_in(d, &["--resize", "60x60"]);
    assert_eq!(code, Some(0));
    for (input, status, reason) in statuses(&same) {
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("skipped", "up to date"),
            "{input}"
        );
    }
}

#[test]
fn a_touched_or_replaced_input_is_redone_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    three_inputs(d);
    assert_eq!(convert_in(d, &[]).0, Some(0));

    // Touch a (same bytes, new mtime); replace b with a different image.
    let a = fs::File::options()
        .write(true)
        .open(d.join("in/a.png"))
        .unwrap();
    a.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(a);
    write_image(&d.join("in/b.new.png"), 50, 50);
    fs::rename(d.join("in/b.new.png"), d.join("in/b.png")).unwrap();

    let (code, again) = convert_in(d, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        statuses(&again),
        [
            ("in/a.png".into(), "ok".into(), "input changed".into()),
            ("in/b.png".into(), "ok".into(), "input changed".into()),
            ("in/c.png".into(), "skipped".into(), "up to date".into()),
        ]
    );
    assert_eq!(dims(&d.join("out/b.png")), (50, 50));
}

#[test]
fn an_output_cut_short_or_emptied_behind_our_back_is_redone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    three_inputs(d);
    assert_eq!(convert_in(d, &["-f", "jpeg"]).0, Some(0));
    let a = d.join("out/a.jpg");
    let len = fs::metadata(&a).unwrap().len();
    fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    fs::File::options()
        .write(true)
        .open(d.join("out/b.jpg"))
        .unwrap()
        .set_len(0)
        .unwrap();

    let (code, again) = convert_in(d, &["-f", "jpeg"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        statuses(&again),
        [
            (
                "in/a.png".into(),
                "ok".into(),
                "output was incomplete".into()
            ),
            (
                "in/b.png".into(),
                "ok".into(),
                "output was incomplete".into()
            ),
            ("in/c.png".into(), "skipped".into(), "up to date".into()),
        ]
    );
    assert_eq!(fs::metadata(&a).unwrap().len(), len);
    assert_eq!(dims(&d.join("out/b.jpg")), (120, 80));
}

/// Overwrites `path` with zeros, keeping its length and modification time:
/// what a power loss can leave where data never reached the disk.
fn zero_fill_keeping_mtime(path: &Path) {
    let meta = fs::metadata(path).unwrap();
    fs::write(path, vec![0u8; meta.len() as usize]).unwrap();
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(meta.modified().unwrap()).unwrap();
}

#[test]
fn after_a_reboot_an_output_zeroed_behind_an_intact_stamp_is_redone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    three_inputs(d);
    let boot = |id: &str| {
        let out = pixmill()
            .current_dir(d)
            .env("PIXMILL_BOOT_ID", id)
            .args(["convert", "in", "-o", "out", "-f", "jpeg", "-q"])
            .args(["--report", "r.jsonl"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        statuses(&report(&d.join("r.jsonl")))
    };
    boot("first boot");
    zero_fill_keeping_mtime(&d.join("out/a.jpg"));
    // Rewritten in place, the same length: its modification time moves.
    let c = d.join("out/c.jpg");
    let len = fs::metadata(&c).unwrap().len() as usize;
    fs::write(&c, vec![7u8; len]).unwrap();

    // In the boot that wrote them, an output whose modification time has
    // not moved is taken on its seal, its bytes unread: no power loss can
    // have come between (this is what makes an up-to-date rerun cheap).
    let same_boot = boot("first boot");
    assert_eq!(
        same_boot[..2],
        [
            ("in/a.png".into(), "skipped".into(), "up to date".into()),
            ("in/b.png".into(), "skipped".into(), "up to date".into()),
        ]
    );
    assert_eq!(
        same_boot[2],
        (
            "in/c.png".into(),
            "ok".into(),
            "output was incomplete".into()
        )
    );
    assert_eq!(dims(&c), (120, 80));

    // After a reboot the tails are read: the zeroed one is redone.
    assert_eq!(
        boot("second boot"),
        [
            (
                "in/a.png".into(),
                "ok".into(),
                "output was incomplete".into()
            ),
            ("in/b.png".into(), "skipped".into(), "up to date".into()),
            ("in/c.png".into(), "skipped".into(), "up to date".into()),
        ]
    );
    assert_eq!(dims(&d.join("out/a.jpg")), (120, 80));
}

#[test]
fn an_output_pixmill_did_not_stamp_is_redone_and_on_exists_skip_keeps_the_old_rule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    three_inputs(d);
    fs::create_dir_all(d.join("out")).unwrap();
    fs::write(d.join("out/a.png"), b"made by something else").unwrap();
    let (_, skip) = convert_in(d, &["--on-exists", "skip"]);
    assert_eq!(record(&skip, "in/a.png")["status"], "skipped");
    assert_eq!(
        fs::read(d.join("out/a.png")).unwrap(),
        b"made by something else"
    );

    let (code, update) = convert_in(d, &[]);
    assert_eq!(code, Some(0));
    let a = record(&update, "in/a.png");
    assert_eq!(a["status"], "ok");
    assert_eq!(a["reason"], "output has no record of how it was made");
    assert_eq!(dims(&d.join("out/a.png")), (120, 80));
}

#[test]
fn the_stamp_fallback_without_extended_attributes_works_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    three_inputs(d);
    let run = |args: &[&str]| {
        let out = pixmill()
            .current_dir(d)
            .env("PIXMILL_STAMPS", "sidecar")
            .args(["convert", "in", "-o", "out", "--report", "r.jsonl", "-q"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", out.stderr_text());
        statuses(&report(&d.join("r.jsonl")))
    };
    run(&["--resize", "30"]);
    // One hidden stamp file beside each output, and nothing else.
    assert_eq!(
        files(&d.join("out")),
        [
            ".a.png.pixmill.stamp",
            ".b.png.pixmill.stamp",
            ".c.png.pixmill.stamp",
            "a.png",
            "b.png",
            "c.png"
        ]
    );
    assert!(run(&["--resize", "30"])
        .iter()
        .all(|(_, s, r)| s == "skipped" && r == "up to date"));
    fs::File::options()
        .write(true)
        .open(d.join("out/c.png"))
        .unwrap()
        .set_len(10)
        .unwrap();
    let again = run(&["--resize", "30"]);
    assert_eq!(
        again[2],
        (
            "in/c.png".into(),
            "ok".into(),
            "output was incomplete".into()
        )
    );
    let changed = run(&["--resize", "40"]);
    assert!(
        changed
            .iter()
            .all(|(_, s, r)| s == "ok" && r == "settings changed"),
        "{changed:?}"
    );
    assert_eq!(dims(&d.join("out/c.png")), (40, 27));
}

#[test]
fn with_fsync_outputs_are_complete_and_reruns_skip_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    three_inputs(d);
    let (code, first) = convert_in(d, &["--fsync", "-f", "webp"]);
    assert_eq!(code, Some(0));
    assert!(first.iter().all(|r| r["status"] == "ok"));
    for name in ["a", "b", "c"] {
        assert_eq!(dims(&d.join(format!("out/{name}.webp"))), (120, 80));
    }
    assert_no_temp_files(&d.join("out"));
    let (_, again) = convert_in(d, &["--fsync", "-f", "webp"]);
    assert!(
        again.iter().all(|r| r["reason"] == "up to date"),
        "{again:#?}"
    );
}

#[test]
fn shards_sharing_one_folder_then_a_rerun_of_both_skips_everything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for i in 0..24 {
        write_image(&d.join(format!("in/{i:02}.png")), 40, 30);
    }
    let shard = |i: usize| {
        let mut cmd = pixmill_std();
        cmd.current_dir(d).args([
            "convert",
            "in",
            "-o",
            "out",
            "-q",
            "-f",
            "jpeg",
            "--shard",
            &format!("{i}/2"),
            "--report",
            &format!("r{i}.jsonl"),
        ]);
        cmd
    };
    // Both at once, into one folder.
    let mut running: Vec<_> = (0..2).map(|i| shard(i).spawn().unwrap()).collect();
    for child in &mut running {
        assert!(child.wait().unwrap().success());
    }
    let outputs = files(&d.join("out"));
    assert_eq!(outputs.len(), 24, "{outputs:?}");
    let mut done = 0;
    for i in 0..2 {
        assert!(shard(i).status().unwrap().success());
        let r = report(&d.join(format!("r{i}.jsonl")));
        assert!(r.iter().all(|r| r["reason"] == "up to date"), "{r:#?}");
        done += r.len();
    }
    assert_eq!(done, 24);
}

fn fetch_to(dir: &Path, url: &str) -> Vec<serde_json::Value> {
    let out = pixmill()
        .current_dir(dir)
        .args(["fetch", url, "-o", "dl", "--report", "r.jsonl", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr_text());
    report(&dir.join("r.jsonl"))
}

#[test]
fn fetch_of_a_different_url_at_the_same_name_is_not_skipped() {
    let (one, two) = (Server::start(), Server::start());
    one.add("cat.jpg", b"the first cat".to_vec());
    two.add("cat.jpg", b"another cat".to_vec());
    let dir = tempfile::tempdir().unwrap();
    fetch_to(dir.path(), &one.url("/f/cat.jpg"));
    let r = fetch_to(dir.path(), &two.url("/f/cat.jpg"));
    assert_eq!(r[0]["status"], "ok", "{r:#?}");
    assert_eq!(r[0]["reason"], "input changed");
    assert_eq!(
        fs::read(dir.path().join("dl/cat.jpg")).unwrap(),
        b"another cat"
    );
    // And the same URL again, with no validators from the server, is up to date.
    let r = fetch_to(dir.path(), &two.url("/f/cat.jpg"));
    assert_eq!(r[0]["reason"], "up to date");
    assert_eq!(two.hits("/f/cat.jpg"), 1);
}

#[test]
fn reruns_ask_the_server_with_validators_and_a_304_is_up_to_date() {
    let server = Server::start();
    server.add("cat.jpg", b"version one".to_vec());
    let url = server.url("/etag/cat.jpg");
    let dir = tempfile::tempdir().unwrap();
    let first = fetch_to(dir.path(), &url);
    assert_eq!(first[0]["status"], "ok");

    let again = fetch_to(dir.path(), &url);
    assert_eq!(again[0]["status"], "skipped", "{again:#?}");
    assert_eq!(again[0]["reason"], "up to date");
    assert_eq!(again[0]["http_status"], 304);
    assert_eq!(
        server.not_modified("/etag/cat.jpg"),
        1,
        "a conditional request was made"
    );

    server.add("cat.jpg", b"version two".to_vec());
    let changed = fetch_to(dir.path(), &url);
    assert_eq!(changed[0]["status"], "ok");
    assert_eq!(changed[0]["reason"], "input changed");
    assert_eq!(
        fs::read(dir.path().join("dl/cat.jpg")).unwrap(),
        b"version two"
    );
}

#[test]
fn convert_from_a_url_revalidates_too() {
    let server = Server::start();
    let png = encode(
        &image::DynamicImage::ImageRgb8(gradient(40, 30)),
        image::ImageFormat::Png,
    );
    server.add("pic.png", png);
    let url = server.url("/etag/pic.png");
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = pixmill()
            .current_dir(dir.path())
            .args([
                "convert", &url, "-o", "out", "-f", "jpeg", "--report", "r.jsonl", "-q",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        report(&dir.path().join("r.jsonl"))
    };
    assert_eq!(run()[0]["status"], "ok");
    let again = run();
    assert_eq!(
        (again[0]["status"].as_str(), again[0]["reason"].as_str()),
        (Some("skipped"), Some("up to date"))
    );
    assert_eq!(dims(&dir.path().join("out/pic.jpg")), (40, 30));
}
#[test]
fn one_file_under_four_spellings_is_one_item() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_image(&d.join("m/a.jpg"), 40, 30);
    let absolute = d.canonicalize().unwrap().join("m/a.jpg");
    let out = pixmill()
        .current_dir(d.canonicalize().unwrap())
        .args(["convert", "m/a.jpg", "./m/a.jpg", "m//a.jpg"])
        .arg(&absolute)
        .args(["-o", "out", "--report", "r.jsonl"])
        .output()
        .unwrap();
    let stderr = out.stderr_text();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(out.stdout_text(), "out/m/a.jpg\n");
    assert_eq!(files(&d.join("out")), ["m/a.jpg"]);
    let r = report(&d.join("r.jsonl"));
    assert_eq!(r.len(), 1, "{r:#?}");
    assert!(stderr.contains("3 duplicate entries merged"), "{stderr}");
}

#[test]
fn a_corrupt_input_never_blocks_another_whatever_the_order() {
    for order in [["m/a.png", "m/a.jpg"], ["m/a.jpg", "m/a.png"]] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_image(&d.join("m/a.jpg"), 40, 30);
        fs::write(d.join("m/a.png"), b"\x89PNG\r\n\x1a\n but then garbage").unwrap();
        let out = pixmill()
            .current_dir(d)
            .args(["convert", order[0], order[1], "-o", "out", "-f", "webp"])
            .args(["--report", "r.jsonl"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{order:?}");
        let r = report(&d.join("r.jsonl"));
        let good = record(&r, "m/a.jpg");
        assert_eq!(good["status"], "ok", "{order:?}: {r:#?}");
        assert_eq!(dims(&d.join(good["output"].as_str().unwrap())), (40, 30));
        let bad = record(&r, "m/a.png");
        assert_eq!(
            (bad["status"].as_str(), bad["error_class"].as_str()),
            (Some("failed"), Some("decode"))
        );
        // Stable across reruns: the same names again, the good one up to date.
        let again = pixmill()
            .current_dir(d)
            .args(["convert", order[0], order[1], "-o", "out", "-f", "webp"])
            .args(["--report", "r2.jsonl"])
            .output()
            .unwrap();
        assert_eq!(again.status.code(), Some(1));
        let r2 = report(&d.join("r2.jsonl"));
        assert_eq!(record(&r2, "m/a.jpg")["reason"], "up to date");
        assert_eq!(record(&r2, "m/a.jpg")["output"], good["output"]);
    }
}

#[test]
fn a_walked_folder_with_a_corrupt_twin_converts_the_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_image(&d.join("in/a.jpg"), 40, 30);
    fs::write(d.join("in/a.png"), b"\x89PNG\r\n\x1a\n but then garbage").unwrap();
    let (code, r) = convert_in(d, &["-f", "webp"]);
    assert_eq!(code, Some(1));
    assert_eq!(record(&r, "in/a.jpg")["status"], "ok");
    assert_eq!(record(&r, "in/a.png")["error_class"], "decode");
}

#[test]
fn content_disposition_names_a_download_whose_url_names_a_script() {
    let server = Server::start();
    server.add("report.pdf", b"%PDF-1.4 not really".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let r = fetch_to(dir.path(), &server.url("/download.php?file=report.pdf"));
    assert_eq!(r[0]["status"], "ok", "{r:#?}");
    assert_eq!(visible(&dir.path().join("dl")), ["report.pdf"]);
    // A hostile name cannot lead outside the output folder.
    server.add("evil", b"x".to_vec());
    let r = fetch_to(
        dir.path(),
        &server.url("/download.php?file=evil&as=..%2F..%2Fevil.txt"),
    );
    assert_eq!(r[0]["status"], "ok", "{r:#?}");
    assert!(dir.path().join("dl/evil.txt").exists());
    assert!(!dir.path().join("evil.txt").exists());
}

#[test]
fn a_rerun_finds_a_content_disposition_name_without_downloading_the_body() {
    let server = Server::start();
    server.add("report.pdf", b"%PDF-1.4 version one".to_vec());
    server.add("plain.pdf", b"%PDF-1.4 no validators".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let with_etag = server.url("/download.php?file=report.pdf&etag=1");
    let without = server.url("/download.php?file=plain.pdf");
    let bodies = || server.hits("/download.php") - server.not_modified("/download.php");
    for url in [&with_etag, &without] {
        assert_eq!(fetch_to(dir.path(), url)[0]["status"], "ok");
    }
    assert_eq!(bodies(), 2);

    // Validators were sent: one conditional request, answered 304.
    let again = fetch_to(dir.path(), &with_etag);
    assert_eq!(again[0]["status"], "skipped", "{again:#?}");
    assert_eq!(again[0]["reason"], "up to date");
    assert_eq!(again[0]["http_status"], 304);
    assert!(again[0]["output"].as_str().unwrap().ends_with("report.pdf"));
    // None were sent: taken as unchanged, with no request at all.
    let again = fetch_to(dir.path(), &without);
    assert_eq!(again[0]["reason"], "up to date", "{again:#?}");
    assert_eq!(server.hits("/download.php"), 3);
    assert_eq!(bodies(), 2, "no body was downloaded again");

    // A new version is still found and fetched, under the same name.
    server.add("report.pdf", b"%PDF-1.4 version two".to_vec());
    let changed = fetch_to(dir.path(), &with_etag);
    assert_eq!(changed[0]["status"], "ok", "{changed:#?}");
    assert_eq!(changed[0]["reason"], "input changed");
    assert_eq!(
        fs::read(dir.path().join("dl/report.pdf")).unwrap(),
        b"%PDF-1.4 version two"
    );
    assert_eq!(visible(&dir.path().join("dl")), ["plain.pdf", "report.pdf"]);
}

/// The files below `dir` but pixmill's hidden name records.
fn visible(dir: &Path) -> Vec<String> {
    let mut names = files(dir);
    names.retain(|name| !name.ends_with(".pixmill.name"));
    names
}
