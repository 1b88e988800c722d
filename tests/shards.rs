//! Shards sharing one output folder across "machines": two PID namespaces
//! (as two nodes would be) must never remove each other's temp files.

use crate::common;

use common::server::Server;
use common::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Over 256 KiB: bodies this large are downloaded into partial files a
/// rerun could continue, whose sidecars name their owner.
const BODY: usize = 300 * 1024;
const ITEMS: usize = 12;

/// Distinct, recognisable bytes per name.
fn body_of(name: &str) -> Vec<u8> {
    let seed = name
        .bytes()
        .fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    (0..BODY)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

/// Why two PID namespaces cannot be made here, if they cannot.
fn namespaces_unavailable() -> Option<String> {
    if !is_root() {
        return Some("not root".into());
    }
    let trial = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stderr(Stdio::piped())
        .output();
    match trial {
        Err(e) => Some(format!("no unshare: {e}")),
        Ok(o) if !o.status.success() => {
            Some(format!("unshare --pid fails: {}", o.stderr_text().trim()))
        }
        Ok(_) => None,
    }
}

/// `pixmill ARGS` in a new PID namespace, after `burn` short-lived
/// processes there, so its PID differs from the other namespace's.
fn in_new_pid_namespace(dir: &Path, burn: usize, args: &[String]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.current_dir(dir)
        .args(["--pid", "--fork", "--mount-proc", "sh", "-c"])
        .arg(format!(
            "i=0; while [ $i -lt {burn} ]; do /bin/true; i=$((i+1)); done; \"$0\" \"$@\"; exit $?"
        ))
        .arg(env!("CARGO_BIN_EXE_pixmill"))
        .args(args)
        .env_remove("RUST_LOG");
    cmd
}

fn temps_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                // Downloads under way live in partial files (kept for a
                // rerun to resume), other work in temps.
                .filter(|n| {
                    n.contains(".pixmill-")
                        && (n.ends_with(".tmp") || n.ends_with(".pixmill-partial"))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn fetch_args(urls: &[String], report: &str) -> Vec<String> {
    let mut args: Vec<String> = ["fetch", "-o", "out", "-q", "--report", report]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(
        [
            "--io-threads",
            "12",
            "--per-host",
            "12",
            "--retries",
            "0",
            "--timeout",
            "300s",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.extend(urls.iter().cloned());
    args
}

#[test]
fn a_shard_starting_in_another_pid_namespace_keeps_the_others_temps() {
    if let Some(why) = namespaces_unavailable() {
        eprintln!(
            "SKIPPED a_shard_starting_in_another_pid_namespace_keeps_the_others_temps: {why}"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out");
    // A's replies send half their body, then wait for the test's release.
    let server = Server::start();
    for i in 0..ITEMS {
        for name in [format!("a{i:02}.bin"), format!("b{i:02}.bin")] {
            server.add(&name, body_of(&name));
        }
    }
    let base = &server.base;
    let held: Vec<String> = (0..ITEMS)
        .map(|i| format!("{base}/hold/a{i:02}.bin"))
        .collect();
    let plain: Vec<String> = (0..ITEMS)
        .map(|i| format!("{base}/f/b{i:02}.bin"))
        .collect();

    // "Node" A: 100 PIDs in, its downloads stop half-way until released.
    let mut first = in_new_pid_namespace(d, 100, &fetch_args(&held, "a.jsonl"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.wait_held(ITEMS, Duration::from_secs(120));
    // The bytes sent are on their way into A's temps; wait until all are there.
    let started = Instant::now();
    while temps_in(&out).len() < ITEMS {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "A's temps: {:?}",
            temps_in(&out)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = temps_in(&out);
    // A partial file's owner is in its sidecar (`owner HOST-BOOT-NS-PID`).
    let sidecar = fs::read_to_string(out.join(format!("{}.meta", before[0]))).unwrap();
    let pid_of_a = sidecar
        .lines()
        .next()
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .to_string();

    // "Node" B: another namespace, a low PID; A's PID means nothing there.
    let second = in_new_pid_namespace(d, 0, &fetch_args(&plain, "b.jsonl"))
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(0), "{}", second.stderr_text());
    let after = temps_in(&out);
    assert_eq!(
        after, before,
        "B removed A's temps in progress (A is pid {pid_of_a})"
    );

    server.release();
    let first = {
        let status = first.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(first.stderr.as_mut().unwrap(), &mut err).unwrap();
        (status, err)
    };
    assert_eq!(first.0.code(), Some(0), "A: {}", first.1);
    for (report, names) in [("a.jsonl", "a"), ("b.jsonl", "b")] {
        let records = common::report(&d.join(report));
        assert_eq!(records.len(), ITEMS, "{report}");
        assert!(records.iter().all(|r| r["status"] == "ok"), "{records:#?}");
        for i in 0..ITEMS {
            let name = format!("{names}{i:02}.bin");
            assert_eq!(fs::read(out.join(&name)).unwrap(), body_of(&name), "{name}");
        }
    }
    assert_no_temp_files(&out);
    assert!(!out.join(".pixmill-owners").exists(), "records left behind");
}

/// The environment variables `--shard auto` reads, removed so the test
/// sees only what it sets.
const SCHEDULER_VARS: [&str; 7] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "JOB_COMPLETION_INDEX",
    "PIXMILL_SHARD_COUNT",
];

fn pixmill_clean_env() -> assert_cmd::Command {
    let mut cmd = pixmill();
    for var in SCHEDULER_VARS {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn shard_auto_without_a_scheduler_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    pixmill_clean_env()
        .current_dir(dir.path())
        .args(["convert", "x.png", "-o", "out", "--shard", "auto"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("SLURM_ARRAY_TASK_ID"))
        .stderr(predicates::str::contains("JOB_COMPLETION_INDEX"));
    assert!(
        !dir.path().join("out").exists(),
        "nothing is done on exit 2"
    );
}

#[test]
fn shard_auto_splits_a_list_like_explicit_shards() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inputs: Vec<String> = (0..20).map(|i| format!("in/{i:02}.png")).collect();
    fs::create_dir(d.join("in")).unwrap();
    for input in &inputs {
        write_image(&d.join(input), 8, 8);
    }
    fs::write(d.join("list.txt"), inputs.join("\n")).unwrap();
    let taken = |cmd: &mut assert_cmd::Command| -> Vec<String> {
        let out = cmd.current_dir(d).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", out.stderr_text());
        let mut lines: Vec<String> = out.stdout_text().lines().map(String::from).collect();
        lines.sort();
        lines
    };
    let mut all = Vec::new();
    // A Slurm array --array=1-3: task IDs 1, 2, 3 are shards 0, 1, 2.
    for task in 1..=3 {
        let explicit = taken(
            pixmill_clean_env()
                .args([
                    "convert",
                    "-m",
                    "list.txt",
                    "-o",
                    "x",
                    "--dry-run",
                    "--shard",
                ])
                .arg(format!("{}/3", task - 1)),
        );
        let auto = taken(
            pixmill_clean_env()
                .args([
                    "convert",
                    "-m",
                    "list.txt",
                    "-o",
                    "x",
                    "--dry-run",
                    "--shard",
                    "auto",
                ])
                .env("SLURM_ARRAY_TASK_ID", task.to_string())
                .env("SLURM_ARRAY_TASK_COUNT", "3")
                .env("SLURM_ARRAY_TASK_MIN", "1")
                .env("SLURM_ARRAY_TASK_MAX", "3"),
        );
        assert_eq!(auto, explicit, "task {task}");
        all.extend(auto);
    }
    all.sort();
    assert_eq!(
        all.len(),
        inputs.len(),
        "every input in exactly one shard: {all:?}"
    );
    all.dedup();
    assert_eq!(all.len(), inputs.len());
}
