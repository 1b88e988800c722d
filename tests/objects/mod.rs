//! `s3://` wherever pixmill takes a path, against a real S3 server (moto,
//! on 127.0.0.1): outputs, inputs, lists, resume by listing, multipart
//! uploads and the ones a killed run left open.

use crate::common::server::{Reply, Server};
use crate::common::{fixtures, json_lines, pixmill, write_image};
use pixmill_testkit::s3::{moto, Moto};
use std::fs;
use std::path::Path;

fn s3(moto: &Moto) -> assert_cmd::Command {
    let mut cmd = pixmill();
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_SESSION_TOKEN");
    cmd
}

fn records(out: &std::process::Output) -> Vec<serde_json::Value> {
    json_lines(&String::from_utf8_lossy(&out.stdout))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The objects below `prefix/` (pixmill's own `.pixmill/` state left out),
/// as relative key → bytes.
fn objects(moto: &Moto, bucket: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    moto.keys(bucket)
        .into_iter()
        .filter_map(|k| k.strip_prefix(&format!("{prefix}/")).map(str::to_string))
        .filter(|k| !k.starts_with(".pixmill/"))
        .map(|k| {
            let data = moto.get(bucket, &format!("{prefix}/{k}")).unwrap();
            (k, data)
        })
        .collect()
}

/// The files below `dir` (pixmill's hidden files left out), as relative
/// path → bytes.
fn local(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            !e.path()
                .strip_prefix(dir)
                .unwrap()
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
        })
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, fs::read(e.path()).unwrap())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_folder_converts_to_objects_equal_to_a_local_run_and_a_rerun_is_up_to_date() {
    let moto = moto();
    let bucket = moto.bucket("convert");
    let dir = tempfile::tempdir().unwrap();
    let photos = fixtures().join("exif");
    let args = ["--resize", "32x32", "--format", "webp", "--json"];

    let out = s3(moto)
        .arg("convert")
        .arg(&photos)
        .args(["-o", &format!("s3://{bucket}/thumbs")])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let local_out = dir.path().join("local");
    let done = pixmill()
        .arg("convert")
        .arg(&photos)
        .arg("-o")
        .arg(&local_out)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(done.status.code(), Some(0));

    let remote = objects(moto, &bucket, "thumbs");
    assert!(remote.len() >= 8, "{remote:?}");
    assert_eq!(remote, local(&local_out), "same keys, same bytes");
    // Records name the objects, never the spool folder behind them.
    for record in records(&out) {
        let output = record["output"].as_str().unwrap();
        assert!(
            output.starts_with(&format!("s3://{bucket}/thumbs/")),
            "{record}"
        );
    }

    // A rerun asks the store by listing: everything is up to date.
    let again = s3(moto)
        .arg("convert")
        .arg(&photos)
        .args(["-o", &format!("s3://{bucket}/thumbs")])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let rerun = records(&again);
    assert_eq!(rerun.len(), remote.len());
    for record in &rerun {
        assert_eq!(record["status"], "skipped", "{record}");
        assert_eq!(record["reason"], "up to date", "{record}");
        assert!(
            record["output"].as_str().unwrap().starts_with("s3://"),
            "{record}"
        );
    }

    // New settings redo every object and say why.
    let changed = s3(moto)
        .arg("convert")
        .arg(&photos)
        .args(["-o", &format!("s3://{bucket}/thumbs")])
        .args(["--resize", "16x16", "--format", "webp", "--json"])
        .output()
        .unwrap();
    assert_eq!(changed.status.code(), Some(0), "{}", stderr(&changed));
    for record in records(&changed) {
        assert_eq!(record["status"], "ok", "{record}");
        assert_eq!(record["reason"], "settings changed", "{record}");
    }
}

#[test]
fn an_object_replaced_by_another_tool_is_redone() {
    let moto = moto();
    let bucket = moto.bucket("replaced");
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 20, 10);
    write_image(&dir.path().join("b.png"), 10, 20);
    let run = || {
        s3(moto)
            .current_dir(dir.path())
            .args([
                "convert",
                "a.png",
                "b.png",
                "-o",
                &format!("s3://{bucket}/out"),
                "--json",
            ])
            .output()
            .unwrap()
    };
    assert_eq!(run().status.code(), Some(0));
    let before = moto.get(&bucket, "out/a.png").unwrap();
    moto.put(&bucket, "out/a.png", b"someone else's bytes");
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out);
    let a = recs.iter().find(|r| r["input"] == "a.png").unwrap();
    assert_eq!(a["status"], "ok", "{a}");
    assert_eq!(
        a["reason"], "output has no record of how it was made",
        "{a}"
    );
    let b = recs.iter().find(|r| r["input"] == "b.png").unwrap();
    assert_eq!(b["status"], "skipped", "{b}");
    assert_eq!(moto.get(&bucket, "out/a.png").unwrap(), before);
}

#[test]
fn s3_inputs_and_lists_are_read_like_urls_and_a_missing_object_fails_alone() {
    let moto = moto();
    let bucket = moto.bucket("inputs");
    let dir = tempfile::tempdir().unwrap();
    let photos = fixtures().join("exif");
    let mut names: Vec<_> = fs::read_dir(&photos)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".jpg"))
        .collect();
    names.sort();
    names.truncate(3);
    let mut list = String::new();
    for name in &names {
        moto.put(
            &bucket,
            &format!("in/{name}"),
            &fs::read(photos.join(name)).unwrap(),
        );
        list.push_str(&format!("s3://{bucket}/in/{name}\n"));
    }
    list.push_str(&format!("s3://{bucket}/in/missing.jpg\n"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, list.as_bytes()).unwrap();
    moto.put(&bucket, "lists/list.txt.gz", &gz.finish().unwrap());

    let out = s3(moto)
        .args(["convert", "-m", &format!("s3://{bucket}/lists/list.txt.gz")])
        .arg("-o")
        .arg(dir.path().join("out"))
        .args(["--resize", "24x24", "--format", "png", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 4);
    for name in &names {
        let stem = name.trim_end_matches(".jpg");
        let path = dir.path().join("out").join(format!("{stem}.png"));
        assert!(path.is_file(), "{}: {}", path.display(), stderr(&out));
        let (w, h) = crate::common::dims(&path);
        assert!(w <= 24 && h <= 24 && w.max(h) == 24, "{w}x{h}");
    }
    let missing = recs
        .iter()
        .find(|r| r["input"].as_str().unwrap().ends_with("missing.jpg"))
        .unwrap();
    assert_eq!(missing["status"], "failed", "{missing}");
    assert!(
        missing["error"].as_str().unwrap().contains("404"),
        "{missing}"
    );

    // A parquet list on the store reads the same way.
    let urls: Vec<String> = list.lines().map(str::to_string).collect();
    let rows: Vec<_> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| crate::datasets::ListRow {
            url: Some(url.clone()),
            text: None,
            id: i as i64,
            similarity: None,
            nsfw: None,
        })
        .collect();
    let local_list = dir.path().join("list.parquet");
    crate::datasets::write_parquet_list(&local_list, &rows, &[rows.len()]);
    moto.put(
        &bucket,
        "lists/list.parquet",
        &fs::read(&local_list).unwrap(),
    );
    let from_parquet = s3(moto)
        .args([
            "convert",
            "-m",
            &format!("s3://{bucket}/lists/list.parquet"),
        ])
        .arg("-o")
        .arg(dir.path().join("pq"))
        .args(["--resize", "24x24", "--format", "png", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        from_parquet.status.code(),
        Some(1),
        "{}",
        stderr(&from_parquet)
    );
    let statuses: Vec<_> = records(&from_parquet)
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "ok").count(),
        3,
        "{statuses:?}"
    );

    // fetch copies objects byte for byte.
    let fetched = s3(moto)
        .args(["fetch", &format!("s3://{bucket}/in/{}", names[0])])
        .arg("-o")
        .arg(dir.path().join("copies"))
        .output()
        .unwrap();
    assert_eq!(fetched.status.code(), Some(0), "{}", stderr(&fetched));
    let copies = local(&dir.path().join("copies"));
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].1, fs::read(photos.join(&names[0])).unwrap());
}

/// The length of the large download.
const BIG: u64 = 20_000_000;

/// Whether the object holds `len` bytes of `Reply::stream`'s pattern (64
/// KiB blocks of `i * 7 % 251`), read as it comes.
fn is_stream_pattern(moto: &Moto, bucket: &str, key: &str, len: u64) -> bool {
    let block: Vec<u8> = (0..65_536u64).map(|i| (i * 7 % 251) as u8).collect();
    let mut reader = moto.client(bucket).reader(key).unwrap();
    let (mut at, mut buf) = (0u64, vec![0u8; 65_536]);
    loop {
        let n = std::io::Read::read(&mut reader, &mut buf).unwrap();
        if n == 0 {
            return at == len;
        }
        for &b in &buf[..n] {
            if b != block[(at % 65_536) as usize] {
                return false;
            }
            at += 1;
        }
    }
}

#[test]
fn a_large_download_goes_up_in_parts_and_uploads_a_killed_run_left_are_aborted() {
    let moto = moto();
    let bucket = moto.bucket("multipart");
    // What a killed run leaves: an open upload and the marker naming it.
    let id = moto.start_upload(&bucket, "big/old.bin");
    let marker = format!("{{\"key\":\"big/old.bin\",\"id\":\"{id}\"}}");
    moto.put(
        &bucket,
        "big/.pixmill/uploads/all/0000000000000001.json",
        marker.as_bytes(),
    );
    assert_eq!(moto.open_uploads(&bucket), ["big/old.bin"]);

    // 20 MB (three parts of 8 MiB at most), generated as it is sent: the
    // test process holds no copy (its peak memory is checked elsewhere).
    let server = Server::with(|req| req.path.ends_with("big.bin").then(|| Reply::stream(BIG)));
    let out = s3(moto)
        .args([
            "fetch",
            &server.url("/f/big.bin"),
            "-o",
            &format!("s3://{bucket}/big"),
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("aborted 1 unfinished upload"),
        "{}",
        stderr(&out)
    );
    assert!(is_stream_pattern(moto, &bucket, "big/big.bin", BIG));
    assert!(
        moto.open_uploads(&bucket).is_empty(),
        "{:?}",
        moto.open_uploads(&bucket)
    );
    let left: Vec<_> = moto
        .keys(&bucket)
        .into_iter()
        .filter(|k| k.contains("/uploads/"))
        .collect();
    assert!(left.is_empty(), "markers left: {left:?}");
    // A multipart object is known to a rerun as any other.
    let again = s3(moto)
        .args([
            "fetch",
            &server.url("/f/big.bin"),
            "-o",
            &format!("s3://{bucket}/big"),
            "--json",
        ])
        .output()
        .unwrap();
    let rec = &records(&again)[0];
    assert_eq!(rec["status"], "skipped", "{rec}");
}

#[test]
fn a_store_that_cannot_be_reached_fails_the_run_without_printing_credentials() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 8, 8);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = pixmill()
        .current_dir(dir.path())
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "AKIDVISIBLE")
        .env("AWS_SECRET_ACCESS_KEY", "s3cr3t-never-printed")
        .env("AWS_SESSION_TOKEN", "t0ken-never-printed")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .args([
            "convert",
            "a.png",
            "-o",
            "s3://bucket/out",
            "--retries",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert!(said.contains("cannot list s3://bucket/out"), "{said}");
    assert!(
        !said.contains("s3cr3t") && !said.contains("t0ken"),
        "{said}"
    );
    assert!(!dir.path().join("s3:").exists());
}

#[test]
fn a_run_killed_midway_resumes_without_fetching_again_what_it_put() {
    use crate::common::{encode, gradient, pixmill_std};
    use std::io::BufRead;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let moto = moto();
    let bucket = moto.bucket("killed");
    let png = encode(
        &image::DynamicImage::ImageRgb8(gradient(48, 32)),
        image::ImageFormat::Png,
    );
    let hold = Arc::new(AtomicBool::new(true));
    let held = hold.clone();
    let server = Server::with(move |req| {
        (req.path.ends_with("slow.png") && held.load(Ordering::SeqCst))
            .then(|| Reply::ok(png.clone()).held())
    });
    let png = encode(
        &image::DynamicImage::ImageRgb8(gradient(48, 32)),
        image::ImageFormat::Png,
    );
    let mut list = String::new();
    for name in ["a0.png", "a1.png", "a2.png", "slow.png"] {
        server.add(name, png.clone());
        list.push_str(&server.url(&format!("/f/{name}")));
        list.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("list.txt"), &list).unwrap();
    let out = format!("s3://{bucket}/thumbs");
    let mut first = pixmill_std();
    for (k, v) in moto.env() {
        first.env(k, v);
    }
    first
        .current_dir(dir.path())
        .args([
            "convert", "-m", "list.txt", "-o", &out, "--resize", "16x16", "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = first.spawn().unwrap();
    // Three objects are put (their records say so) while the fourth hangs.
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        let line = lines.next().unwrap().unwrap();
        assert!(line.contains("\"ok\""), "{line}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    hold.store(false, Ordering::SeqCst);
    server.release();

    let rerun = s3(moto)
        .current_dir(dir.path())
        .args([
            "convert", "-m", "list.txt", "-o", &out, "--resize", "16x16", "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
    let recs = records(&rerun);
    let status = |name: &str| {
        recs.iter()
            .find(|r| r["input"].as_str().unwrap().ends_with(name))
            .map(|r| (r["status"].clone(), r["reason"].clone()))
            .unwrap()
    };
    for name in ["a0.png", "a1.png", "a2.png"] {
        assert_eq!(status(name).0, "skipped", "{name}: {recs:?}");
        assert_eq!(status(name).1, "up to date", "{name}: {recs:?}");
        assert_eq!(
            server.hits(&format!("/f/{name}")),
            1,
            "{name} fetched again"
        );
    }
    assert_eq!(status("slow.png").0, "ok");
    assert_eq!(objects(moto, &bucket, "thumbs").len(), 4);
}

/// A list of the first `n` photos of fixtures/exif.
fn photo_list(dir: &Path, n: usize) -> std::path::PathBuf {
    let photos = fixtures().join("exif");
    let mut names: Vec<_> = fs::read_dir(&photos)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    names.sort();
    let list: String = names
        .iter()
        .take(n)
        .map(|p| format!("{}\n", p.display()))
        .collect();
    let path = dir.join("list.txt");
    fs::write(&path, list).unwrap();
    path
}

#[test]
fn dataset_shards_go_up_whole_equal_a_local_run_and_a_rerun_asks_the_store() {
    let moto = moto();
    let bucket = moto.bucket("dataset");
    let dir = tempfile::tempdir().unwrap();
    let list = photo_list(dir.path(), 10);
    let args = |more: &[&str]| {
        let mut args: Vec<String> = [
            "--output-format",
            "webdataset",
            "--samples-per-file",
            "4",
            "--json",
        ]
        .map(String::from)
        .to_vec();
        args.extend(more.iter().map(|s| s.to_string()));
        args
    };
    let remote = format!("s3://{bucket}/ds");
    let out = s3(moto)
        .arg("convert")
        .arg("-m")
        .arg(&list)
        .args(["-o", &remote])
        .args(args(&["--resize", "32x32"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let local_out = dir.path().join("local");
    let done = pixmill()
        .arg("convert")
        .arg("-m")
        .arg(&list)
        .arg("-o")
        .arg(&local_out)
        .args(args(&["--resize", "32x32"]))
        .output()
        .unwrap();
    assert_eq!(done.status.code(), Some(0));

    let all = objects(moto, &bucket, "ds");
    let visible: Vec<_> = all
        .iter()
        .filter(|(k, _)| !k.starts_with('.'))
        .cloned()
        .collect();
    let names: Vec<_> = visible.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "00000.parquet",
            "00000.tar",
            "00000_stats.json",
            "00001.parquet",
            "00001.tar",
            "00001_stats.json",
            "00002.parquet",
            "00002.tar",
            "00002_stats.json"
        ]
    );
    let local_files = local(&local_out);
    for (name, data) in &visible {
        let (_, mine) = local_files.iter().find(|(n, _)| n == name).unwrap();
        if name.ends_with(".tar") {
            assert_eq!(
                tar_members_of(data),
                tar_members_of(mine),
                "{name}: same samples as a local run"
            );
        }
    }
    // Each data file is sealed, the seal written last.
    for n in 0..3 {
        assert!(
            all.iter()
                .any(|(k, _)| *k == format!(".0000{n}.tar.pixmill.seal")),
            "{all:?}"
        );
    }
    for record in records(&out) {
        assert_eq!(record["status"], "ok", "{record}");
    }

    // The rerun judges every data file from the store: nothing is redone.
    let again = s3(moto)
        .arg("convert")
        .arg("-m")
        .arg(&list)
        .args(["-o", &remote])
        .args(args(&["--resize", "32x32"]))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    for record in records(&again) {
        assert_eq!(record["status"], "skipped", "{record}");
        assert_eq!(record["reason"], "up to date", "{record}");
    }
    assert!(
        objects(moto, &bucket, "ds") == all,
        "a rerun rewrote objects"
    );

    // New settings remake the data files, and say why.
    let changed = s3(moto)
        .arg("convert")
        .arg("-m")
        .arg(&list)
        .args(["-o", &remote])
        .args(args(&["--resize", "16x16"]))
        .output()
        .unwrap();
    assert_eq!(changed.status.code(), Some(0), "{}", stderr(&changed));
    assert!(
        stderr(&changed).contains("replacing 00000.tar (settings changed)"),
        "{}",
        stderr(&changed)
    );
    assert_ne!(
        moto.get(&bucket, "ds/00000.tar"),
        all.iter()
            .find(|(k, _)| k == "00000.tar")
            .map(|(_, d)| d.clone())
    );
}

#[test]
fn parquet_shards_to_s3_and_an_append() {
    let moto = moto();
    let bucket = moto.bucket("parquet");
    let dir = tempfile::tempdir().unwrap();
    let list = photo_list(dir.path(), 3);
    let run = |more: &[&str]| {
        s3(moto)
            .arg("convert")
            .arg("-m")
            .arg(&list)
            .args([
                "-o",
                &format!("s3://{bucket}/pq"),
                "--output-format",
                "parquet",
            ])
            .args(["--samples-per-file", "2", "--resize", "16x16", "--json"])
            .args(more)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names: Vec<_> = objects(moto, &bucket, "pq")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(names.contains(&"00001.parquet".to_string()), "{names:?}");
    // --append continues the numbering after what the store holds, and
    // its ledger lives in the store too: the same append again changes
    // nothing.
    let appended = run(&["--append"]);
    assert_eq!(appended.status.code(), Some(0), "{}", stderr(&appended));
    let names: Vec<_> = objects(moto, &bucket, "pq")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(names.contains(&"00003.parquet".to_string()), "{names:?}");
    // (The append ledger itself gains a line: the append ended again.)
    let data = || {
        let mut all = objects(moto, &bucket, "pq");
        all.retain(|(k, _)| k != ".pixmill.appends");
        all
    };
    let before = data();
    let again = run(&["--append"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    for record in records(&again) {
        assert_eq!(record["status"], "skipped", "{record}");
    }
    assert!(data() == before, "the same append again rewrote data files");
}

/// A tar's members, by name.
fn tar_members_of(data: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(data);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

#[test]
fn slow_down_answers_are_retried_and_every_object_lands_whole() {
    use pixmill_testkit::s3::Proxy;
    let moto = moto();
    let bucket = moto.bucket("slowdown");
    let proxy = Proxy::start(moto, 3, false);
    let dir = tempfile::tempdir().unwrap();
    for i in 0..4 {
        write_image(&dir.path().join(format!("{i}.png")), 24, 16);
    }
    let out = s3(moto)
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .current_dir(dir.path())
        .args([
            "convert",
            "0.png",
            "1.png",
            "2.png",
            "3.png",
            "-o",
            &format!("s3://{bucket}/t"),
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(proxy.served_503(), 3, "the store throttled three PUTs");
    let recs = records(&out);
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|r| r["status"] == "ok"), "{recs:?}");
    for i in 0..4 {
        let put = moto
            .get(&bucket, &format!("t/{i}.png"))
            .expect("object there");
        assert!(image::load_from_memory(&put).is_ok(), "{i}.png whole");
    }
}

#[test]
fn ctrl_c_during_a_multipart_upload_aborts_it_and_exits_130() {
    use pixmill_testkit::s3::Proxy;
    let moto = moto();
    let bucket = moto.bucket("interrupt");
    let proxy = Proxy::start(moto, 0, true);
    let server = Server::with(|req| {
        req.path
            .ends_with("big.bin")
            .then(|| Reply::stream(30_000_000))
    });
    let mut cmd = crate::common::pixmill_std();
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_ENDPOINT_URL", proxy.endpoint())
        .args([
            "fetch",
            &server.url("/f/big.bin"),
            "-o",
            &format!("s3://{bucket}/big"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Two parts on the wire, held by the proxy: the upload is mid-way.
    proxy.wait_held(2, std::time::Duration::from_secs(60));
    assert_eq!(moto.open_uploads(&bucket), ["big/big.bin"]);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    proxy.release();
    let status = child.wait().unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    assert_eq!(status.code(), Some(130), "{said}");
    assert!(
        moto.open_uploads(&bucket).is_empty(),
        "upload left open: {said}"
    );
    assert_eq!(
        moto.get(&bucket, "big/big.bin"),
        None,
        "a partial object appeared"
    );
    let markers: Vec<_> = moto
        .keys(&bucket)
        .into_iter()
        .filter(|k| k.contains("/uploads/"))
        .collect();
    assert!(markers.is_empty(), "markers left: {markers:?}");
}
