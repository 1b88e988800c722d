//! Edges of a run that must tell the truth: walks by content, what a walk
//! passes over, names that are not UTF-8, pipelines that close early, and
//! runs that find nothing.

mod common;

use common::*;
use std::fs;

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
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
        "1 hidden entry skipped (-H takes them)",
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
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
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
