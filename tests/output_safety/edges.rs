//! Edges of a run that must tell the truth: walks by content, what a walk
//! passes over, names that are not UTF-8, pipelines that close early, and
//! runs that find nothing.

use crate::common;

use common::*;
use std::fs;

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    assert.stderr_text()
}

#[cfg(unix)]
#[test]
fn a_walk_takes_images_by_content_and_counts_what_it_passes_over() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    let elsewhere = dir.path().join("elsewhere");
    write_image(&src.join("named.png"), 20, 20);
    // A camera file with no extension, and one with a misleading one.
    write_image(&dir.path().join("tmp/a.png"), 20, 20);
    fs::rename(dir.path().join("tmp/a.png"), src.join("IMG_0001")).unwrap();
    write_image(&dir.path().join("tmp/b.jpg"), 20, 20);
    fs::rename(dir.path().join("tmp/b.jpg"), src.join("photo.bak")).unwrap();
    fs::write(src.join("notes.txt"), "not an image").unwrap();
    fs::write(src.join("Makefile"), "all:").unwrap();
    fs::write(src.join(".hidden.png"), "x").unwrap();
    write_image(&elsewhere.join("target.png"), 20, 20);
    symlink(elsewhere.join("target.png"), src.join("linked.png")).unwrap();
    symlink(&elsewhere, src.join("folder-link")).unwrap();
    symlink(dir.path().join("nowhere"), src.join("broken.png")).unwrap();

    let out = dir.path().join("out");
    let assert = convert_cmd(&src, &out)
        .args(["-f", "png"])
        .assert()
        .success();
    let stderr = stderr_of(&assert);
    assert_eq!(
        files(&out),
        ["IMG_0001.png", "linked.png", "named.png", "photo.png"],
        "{stderr}"
    );
    for said in [
        "2 files skipped: not images",
        "1 symlinked folder not followed (-L follows them)",
        "1 hidden entry skipped (--hidden takes them)",
        "1 broken symlink skipped",
    ] {
        assert!(stderr.contains(said), "missing {said:?} in {stderr}");
    }
}

#[test]
fn walks_are_in_file_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    // Created out of order, so directory order is unlikely to be sorted.
    let mut names: Vec<String> = (0..40)
        .map(|i| format!("f{:02}.png", (i * 17) % 40))
        .collect();
    for n in &names {
        write_image(&src.join(n), 4, 4);
    }
    write_image(&src.join("a/z.png"), 4, 4);
    let assert = convert_cmd(&src, dir.path().join("out"))
        .arg("--dry-run")
        .assert()
        .success();
    let stdout = assert.stdout_text();
    let inputs: Vec<&str> = stdout
        .lines()
        .map(|l| l.split(" -> ").next().unwrap())
        .collect();
    names.sort();
    let mut want = vec![src.join("a/z.png").display().to_string()];
    want.extend(names.iter().map(|n| src.join(n).display().to_string()));
    assert_eq!(inputs, want);
}

#[test]
fn a_run_that_finds_nothing_says_so_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("readme.txt"), "hello").unwrap();
    let out = dir.path().join("out");
    let assert = convert_cmd(&src, &out).arg("-q").assert().code(2);
    let stderr = stderr_of(&assert);
    assert!(stderr.contains("no input found"), "{stderr}");
    assert!(stderr.contains("1 file skipped: not an image"), "{stderr}");
    // An empty list is nothing found too.
    let list = dir.path().join("list.txt");
    fs::write(&list, "# nothing here\n").unwrap();
    let assert = pixmill()
        .args(["fetch", "-m"])
        .arg(&list)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2);
    assert!(stderr_of(&assert).contains("no input found"));
}

#[test]
fn a_shard_with_no_entries_of_its_own_is_not_nothing_found() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("in/a.png"), 4, 4);
    let out = dir.path().join("out");
    // One entry, four shards: three of them get nothing, and that is fine.
    for i in 0..4 {
        convert_cmd(dir.path().join("in"), &out)
            .args(["-q", "--shard", &format!("{i}/4")])
            .assert()
            .success();
    }
    assert_eq!(files(&out), ["a.png"]);
}

#[cfg(unix)]
#[test]
fn print0_ends_each_output_path_with_nul_even_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    // A newline in a name is why NUL separation exists.
    write_image(&src.join("two\nlines.png"), 8, 8);
    write_image(&src.join("plain.png"), 8, 8);
    let out = dir.path().join("out");
    let assert = convert_cmd(&src, &out)
        .args(["-q", "--print0"])
        .assert()
        .success();
    let stdout = &assert.get_output().stdout;
    assert!(stdout.ends_with(b"\0"), "{stdout:?}");
    let mut paths: Vec<&[u8]> = stdout[..stdout.len() - 1].split(|b| *b == 0).collect();
    paths.sort();
    let want_plain = out.join("plain.png").display().to_string();
    let want_two = out.join("two\nlines.png").display().to_string();
    assert_eq!(paths, [want_plain.as_bytes(), want_two.as_bytes()]);

    let assert = convert_cmd(&src, dir.path().join("out2"))
        .args(["-q", "--print0", "--json"])
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let records: Vec<serde_json::Value> = stdout
        .trim_end_matches('\0')
        .split('\0')
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert!(!stdout.contains('\n'), "{stdout:?}");
}

#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_reach_stdout_and_json_losslessly() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    write_image(&src.join("x.png"), 8, 8);
    let name = OsStr::from_bytes(b"caf\xe9 100%.png");
    fs::rename(src.join("x.png"), src.join(name)).unwrap();
    let out = dir.path().join("out");
    let assert = convert_cmd(&src, &out).arg("-q").assert().success();
    let stdout = assert.get_output().stdout.clone();
    let mut want = out.join(name).as_os_str().as_bytes().to_vec();
    want.push(b'\n');
    assert_eq!(stdout, want, "{}", String::from_utf8_lossy(&stdout));
    assert!(out.join(name).exists());

    let report_path = dir.path().join("r.jsonl");
    let assert = convert_cmd(&src, dir.path().join("out2"))
        .args(["-q", "--json", "--report"])
        .arg(&report_path)
        .assert()
        .success();
    let from_stdout = assert.records();
    for record in [&from_stdout[0], &report(&report_path)[0]] {
        let raw = record["input_raw"].as_str().expect("input_raw");
        assert!(raw.ends_with("caf%E9 100%25.png"), "{record}");
        assert_eq!(
            unescape(raw),
            src.join(name).as_os_str().as_bytes(),
            "{record}"
        );
        let out_raw = record["output_raw"].as_str().expect("output_raw");
        assert!(unescape(out_raw).ends_with(b"caf\xe9 100%.png"), "{record}");
    }
    // UTF-8 names get no extra fields.
    write_image(&dir.path().join("plain/a.png"), 8, 8);
    let assert = convert_cmd(dir.path().join("plain"), dir.path().join("out3"))
        .args(["-q", "--json"])
        .assert()
        .success();
    let record = &assert.records()[0];
    assert!(record.get("input_raw").is_none(), "{record}");
    assert!(record.get("output_raw").is_none(), "{record}");
}

fn unescape(raw: &str) -> Vec<u8> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&raw[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn case_insensitive_include_and_exclude_take_camera_names() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    write_image(&src.join("IMG_0001.JPG"), 8, 8);
    write_image(&src.join("img_0002.jpg"), 8, 8);
    write_image(&src.join("other.png"), 8, 8);
    let run = |name: &str, args: &[&str]| {
        let out = dir.path().join(name);
        convert_cmd(&src, &out)
            .arg("-q")
            .args(args)
            .assert()
            .success();
        files(&out)
    };
    assert_eq!(run("a", &["--include", "*.jpg"]), ["img_0002.jpg"]);
    assert_eq!(
        run("b", &["--iinclude", "*.jpg"]),
        ["IMG_0001.jpg", "img_0002.jpg"]
    );
    assert_eq!(run("c", &["--iexclude", "*.JPG"]), ["other.png"]);
}

#[cfg(unix)]
#[test]
fn a_closed_stdout_stops_early_and_says_how_much_was_left() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let n = 200;
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("in/{i:03}.png");
        write_image(&dir.path().join(&name), 8, 8);
        names.push(name);
    }
    let mut child = pixmill_std()
        .current_dir(dir.path())
        .args(["convert", "-", "-o", "out", "-j", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // One entry, its output line read, then the reader goes away
    // (`| head -1`); only then is the rest of the list given.
    writeln!(stdin, "{}", names[0]).unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.ends_with("out/in/000.png\n"), "{first}");
    drop(stdout);
    for name in &names[1..] {
        writeln!(stdin, "{name}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = output.stderr_text();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let untouched: u64 = stderr
        .split("stdout was closed; ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no early-stop line in {stderr}"));
    let ok: u64 = stderr
        .split("pixmill: ")
        .nth(1)
        .and_then(|rest| rest.split(" ok").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    // The bounded queues let only a few items through after the close.
    assert!(untouched >= n - 20, "{stderr}");
    assert_eq!(ok + untouched, n, "{stderr}");
    let out = dir.path().join("out");
    assert_eq!(files(&out).len() as u64, ok);
    assert_no_temp_files(&out);
}

#[cfg(unix)]
#[test]
fn a_closed_stderr_does_not_panic_the_run() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("in/good.png"), 8, 8);
    fs::write(dir.path().join("in/bad.png"), b"not a png").unwrap();
    let mut child = pixmill_std()
        .current_dir(dir.path())
        .args(["convert", "in", "-o", "out"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader of stderr is gone before pixmill writes to it.
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "one item failed, nothing panicked");
    assert_eq!(files(&dir.path().join("out")), ["good.png"]);
}

#[test]
fn an_output_folder_that_is_a_file_says_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 8, 8);
    fs::write(dir.path().join("photo.jpg"), "x").unwrap();
    let assert = convert_cmd(dir.path().join("a.png"), dir.path().join("photo.jpg"))
        .assert()
        .code(2);
    let stderr = stderr_of(&assert);
    assert!(stderr.contains("it is a file, not a directory"), "{stderr}");
}

#[test]
fn a_manifest_without_an_input_column_is_a_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 8, 8);
    fs::write(dir.path().join("list.tsv"), "name\toutput\na.png\tb.png\n").unwrap();
    let assert = pixmill()
        .current_dir(dir.path())
        .args(["convert", "a.png", "-m", "list.tsv", "-o", "out"])
        .assert()
        .code(2);
    let stderr = stderr_of(&assert);
    assert!(stderr.contains("no url or path column"), "{stderr}");
    // Nothing was done: not even the entry given beside the manifest.
    assert!(!dir.path().join("out/a.png").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn a_report_that_fails_mid_run_is_not_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        write_image(&dir.path().join(format!("in/{i}.png")), 8, 8);
    }
    // /dev/full opens fine and fails every write: the first record is
    // lost after its item was done.
    let assert = convert_cmd(dir.path().join("in"), dir.path().join("out"))
        .args(["-j", "1", "--report", "/dev/full"])
        .assert()
        .code(1);
    let stderr = stderr_of(&assert);
    assert!(stderr.contains("cannot write report /dev/full"), "{stderr}");
    assert!(stderr.contains("the run stopped"), "{stderr}");
    let out = dir.path().join("out");
    assert!(!files(&out).is_empty(), "work was done before the failure");
    assert_no_temp_files(&out);
}

/// `-o` the input's own folder, with the input's format: the output would
/// be the input itself. Replacing it would lose the original, and every
/// rerun would shrink it again (its input "changed"), so the item fails
/// and the file is left as it was; another format beside it is fine.
#[test]
fn an_output_that_would_replace_its_own_input_fails_and_keeps_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    write_image(&photos.join("a.png"), 40, 20);
    let before = fs::read(photos.join("a.png")).unwrap();
    let cases = [
        (dir.path(), &["photos", "-o", "photos"][..]),
        (photos.as_path(), &["a.png", "-o", "."]),
    ];
    for (cwd, args) in cases {
        let run = pixmill()
            .current_dir(cwd)
            .arg("convert")
            .args(args)
            .args(["-r", "50%"])
            .assert()
            .code(1);
        let stderr = stderr_of(&run);
        assert!(
            stderr.contains("a.png: output would replace its input"),
            "{args:?}: {stderr}"
        );
        assert_eq!(fs::read(photos.join("a.png")).unwrap(), before, "{args:?}");
    }
    pixmill()
        .current_dir(dir.path())
        .args(["convert", "photos", "-o", "photos", "-f", "webp"])
        .assert()
        .success();
    assert_eq!(dims(&photos.join("a.webp")), (40, 20));
    assert_eq!(fs::read(photos.join("a.png")).unwrap(), before);
}

/// `-o` the walked folder itself, another format: a rerun of the same
/// command is up to date, not a failure. The outputs the first run wrote
/// there are passed over (and counted), not taken as inputs that would
/// replace themselves; a file another tool put there is still an input.
#[test]
fn a_rerun_into_the_walked_folder_passes_over_its_own_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    write_image(&photos.join("a.png"), 40, 20);
    write_image(&photos.join("b.gif"), 30, 30);
    let run = || {
        pixmill()
            .current_dir(dir.path())
            .args(["convert", "photos", "-o", "photos", "-f", "webp", "--json"])
            .assert()
    };
    run().success();
    assert_eq!(files(&photos), ["a.png", "a.webp", "b.gif", "b.webp"]);
    let again = run().success();
    let records = json_lines(&String::from_utf8_lossy(&again.get_output().stdout));
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(
        records
            .iter()
            .all(|r| r["status"] == "skipped" && r["reason"] == "up to date"),
        "{records:?}"
    );
    assert!(
        stderr_of(&again).contains("2 outputs of an earlier run skipped"),
        "{}",
        stderr_of(&again)
    );
    // A WebP that pixmill did not make is an input like any other.
    write_image(&photos.join("c.webp"), 10, 10);
    let third = run().code(1);
    assert!(
        stderr_of(&third).contains("c.webp: output would replace its input"),
        "{}",
        stderr_of(&third)
    );
}

/// Another input of the same run is never replaced either: `a.jpg` made
/// into `a.png` beside an original `a.png` would overwrite it, maybe before
/// it is read (and its own output would then be a copy of `a.jpg`). Both
/// items fail with the reason and both originals stay; an output an
/// earlier run made there is still remade when its settings change.
#[test]
fn an_output_never_replaces_another_input_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    write_image(&photos.join("a.jpg"), 64, 48);
    write_image(&photos.join("a.png"), 30, 90);
    let (jpg, png) = (
        fs::read(photos.join("a.jpg")).unwrap(),
        fs::read(photos.join("a.png")).unwrap(),
    );
    let cases = [
        (dir.path(), &["photos", "-o", "photos"][..]),
        (photos.as_path(), &["a.jpg", "a.png", "-o", "."]),
        (photos.as_path(), &["a.png", "a.jpg", "-o", "."]),
    ];
    for (cwd, args) in cases {
        let run = pixmill()
            .current_dir(cwd)
            .arg("convert")
            .args(args)
            .args(["-f", "png"])
            .assert()
            .code(1);
        let stderr = stderr_of(&run);
        assert!(
            stderr.contains("a.jpg: output")
                && stderr.contains("would replace an input of this run"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("a.png: output would replace its input"),
            "{args:?}: {stderr}"
        );
        assert_eq!(fs::read(photos.join("a.png")).unwrap(), png, "{args:?}");
        assert_eq!(fs::read(photos.join("a.jpg")).unwrap(), jpg, "{args:?}");
        assert_eq!(files(&photos).len(), 2, "{args:?}: nothing else written");
    }
    // Outputs pixmill made in the walked folder are its own, and are
    // remade as usual when the settings change.
    let webp = |quality: &str| {
        pixmill()
            .current_dir(dir.path())
            .args(["convert", "photos/a.jpg", "-o", "photos", "-f", "webp"])
            .args(["--quality", quality, "--json"])
            .assert()
            .success()
    };
    webp("90");
    let again = webp("50");
    let record = json_lines(&String::from_utf8_lossy(&again.get_output().stdout));
    assert_eq!(record[0]["status"], "ok", "{record:?}");
    assert_eq!(record[0]["reason"], "settings changed", "{record:?}");
    assert_eq!(fs::read(photos.join("a.png")).unwrap(), png);
}

/// The run's own list and report are no outputs' to replace: `--report`
/// naming the list is a usage error before anything is written (it would
/// empty the list), and a URL whose name is the list's fails alone.
#[test]
fn the_list_and_the_report_are_never_overwritten() {
    let server = common::server::Server::start();
    server.add(
        "b.jpg",
        encode(
            &image::DynamicImage::ImageRgb8(gradient(8, 8)),
            image::ImageFormat::Jpeg,
        ),
    );
    server.add("urls.txt", b"served, not the list".to_vec());
    server.add("rep.json", b"served, not the report".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let list = format!(
        "{}\n{}\n{}\n",
        server.url("/f/b.jpg"),
        server.url("/f/urls.txt"),
        server.url("/f/rep.json")
    );
    fs::write(dir.path().join("urls.txt"), &list).unwrap();
    let run = pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-m", "urls.txt", "-o", ".", "--report", "urls.txt"])
        .assert()
        .code(2);
    assert!(
        stderr_of(&run).contains("--report urls.txt is the list (-m) of this run"),
        "{}",
        stderr_of(&run)
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("urls.txt")).unwrap(),
        list
    );
    assert_eq!(server.requests(), 0, "refused before any download");

    let run = pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-m", "urls.txt", "-o", ".", "--report", "rep.json"])
        .assert()
        .code(1);
    let stderr = stderr_of(&run);
    assert!(
        stderr.contains("would replace the list (-m) of this run"),
        "{stderr}"
    );
    assert!(
        stderr.contains("would replace the --report file of this run"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("urls.txt")).unwrap(),
        list
    );
    let records = json_lines(&fs::read_to_string(dir.path().join("rep.json")).unwrap());
    assert_eq!(records.len(), 3, "{records:?}");
    let ok: Vec<_> = records.iter().filter(|r| r["status"] == "ok").collect();
    assert_eq!(ok.len(), 1, "{records:?}");
    assert!(dir.path().join("b.jpg").is_file());
}

/// A file name with a line break (legal on Unix) must not split its error
/// line in two: a script reading stderr line by line would see a second
/// "error" with no input. Control characters are shown escaped.
#[cfg(unix)]
#[test]
fn an_error_line_stays_one_line_whatever_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("a\nb.png"), b"not an image").unwrap();
    let run = pixmill()
        .current_dir(dir.path())
        .args(["convert", "in", "-o", "out", "-f", "webp"])
        .assert()
        .code(1);
    let stderr = stderr_of(&run);
    let first = stderr.lines().next().unwrap();
    assert_eq!(
        first, "pixmill: in/a\\nb.png: not a decodable image: unknown or unsupported format",
        "{stderr}"
    );
}

#[test]
fn a_url_where_a_path_belongs_is_refused_and_makes_no_folder() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 8, 8);
    fs::write(dir.path().join("list.txt"), "a.png\n").unwrap();
    for (args, says) in [
        (
            &["convert", "a.png", "-o", "gs://bucket/thumbs"][..],
            "gs:// is not a store pixmill reads or writes",
        ),
        (
            &[
                "convert",
                "-m",
                "s3://alice:secret@bucket/list.txt",
                "-o",
                "out",
            ][..],
            "names its bucket first",
        ),
        (
            &[
                "convert",
                "a.png",
                "-o",
                "out",
                "--report",
                "gs://bucket/r.jsonl",
            ][..],
            "--report takes a local path, not a URL (gs://)",
        ),
        (
            &[
                "fetch",
                "-m",
                "https://example.invalid/list.txt",
                "-o",
                "out",
            ][..],
            "https:// is not a store",
        ),
    ] {
        let assert = pixmill()
            .current_dir(dir.path())
            .args(args)
            .assert()
            .code(2);
        let stderr = stderr_of(&assert);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("secret"),
            "{args:?} printed a credential: {stderr}"
        );
    }
    // Nothing was made: no `s3:` folder, no output folder, no report.
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, ["a.png", "list.txt"]);
}
