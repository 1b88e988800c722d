//! The CPU stage's two backends (rayon threads, worker processes): the same
//! outputs, crash isolation, memory caps, and interruption that loses nothing.

use crate::common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn many_images(dir: &Path, n: usize, side: u32) {
    for i in 0..n {
        write_image(
            &dir.join(format!("img{i:03}.png")),
            side,
            side - 7 * (i as u32 % 5),
        );
    }
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pixmill"))
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `dir` holds at least `n` finished outputs.
fn wait_for_outputs(dir: &Path, n: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = files(dir)
            .iter()
            .filter(|f| !f.contains(".pixmill-"))
            .count();
        if done >= n {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("pixmill ended early ({status}) with {done} outputs");
        }
        assert!(Instant::now() < deadline, "no progress: {done} outputs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_with_timeout(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pixmill did not finish within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Process ids whose parent is `parent` (Linux /proc).
fn children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The parent pid is the second field after the `(comm)` part.
        let after = &stat[stat.rfind(')').unwrap_or(0) + 1..];
        let ppid = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn both_backends_write_byte_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    many_images(&src, 6, 300);
    for name in ["Landscape_3.jpg", "Portrait_6.jpg", "Landscape_8.jpg"] {
        fs::copy(fixtures().join("exif").join(name), src.join(name)).unwrap();
    }
    for (format, size) in [("jpeg", "128x128"), ("webp", "200x100"), ("png", "90")] {
        let mut outs = Vec::new();
        for backend in ["rayon", "process"] {
            let out = dir.path().join(format!("{backend}-{format}"));
            convert_cmd(&src, &out)
                .args([
                    "--backend",
                    backend,
                    "-j",
                    "2",
                    "-q",
                    "-f",
                    format,
                    "--resize",
                    size,
                ])
                .assert()
                .success();
            outs.push(out);
        }
        let names = files(&outs[0]);
        assert_eq!(names.len(), 9);
        assert_eq!(names, files(&outs[1]));
        for name in &names {
            let (a, b) = (
                fs::read(outs[0].join(name)).unwrap(),
                fs::read(outs[1].join(name)).unwrap(),
            );
            assert!(a == b, "{format}: {name} differs between backends");
        }
    }
}

/// Downloads: a small body is kept in memory (worker processes get it
/// written where the download would have gone), a large one goes to a file;
/// both backends make the same bytes and leave nothing behind.
#[test]
fn downloads_convert_alike_on_both_backends() {
    use common::server::{Reply, Server};
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("small.png"), 120, 90);
    let small = fs::read(dir.path().join("small.png")).unwrap();
    let large = fs::read(fixtures().join("exif").join("Landscape_0.jpg")).unwrap();
    assert!(small.len() < 256 << 10 && large.len() > 256 << 10);
    let server = Server::with(move |req| {
        Some(match req.path.as_str() {
            "/small.png" => Reply::ok(small.clone()),
            _ => Reply::ok(large.clone()),
        })
    });
    let mut outs = Vec::new();
    for backend in ["rayon", "process"] {
        let out = dir.path().join(backend);
        convert_cmd(server.url("/small.png"), &out)
            .arg(server.url("/large.jpg"))
            .args(["--backend", backend, "-j", "2", "-q", "-f", "jpeg"])
            .args(["--resize", "64x64"])
            .assert()
            .success();
        assert_eq!(files(&out), ["large.jpg", "small.jpg"], "{backend}");
        outs.push(out);
    }
    for name in ["large.jpg", "small.jpg"] {
        let (a, b) = (
            fs::read(outs[0].join(name)).unwrap(),
            fs::read(outs[1].join(name)).unwrap(),
        );
        assert!(a == b, "{name} differs between backends");
        let img = image::load_from_memory(&a).unwrap();
        assert!(img.width() <= 64 && img.height() <= 64);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_worker_killed_mid_run_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    many_images(&dir.path().join("in"), 40, 700);
    let mut child = spawn(
        dir.path(),
        &[
            "convert",
            "in",
            "-o",
            "out",
            "--backend",
            "process",
            "-j",
            "2",
            "--resize",
            "300",
            "--report",
            "r.jsonl",
        ],
    );
    wait_for_outputs(&dir.path().join("out"), 3, &mut child);
    let workers = children_of(child.id());
    assert_eq!(
        workers.len(),
        2,
        "expected 2 worker processes, found {workers:?}"
    );
    // SAFETY: kill with a pid we just read and a constant signal.
    assert_eq!(unsafe { libc::kill(workers[0] as i32, libc::SIGKILL) }, 0);
    let status = wait_with_timeout(&mut child, 120);
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "status {status}: {stderr}");
    let out = dir.path().join("out");
    assert_eq!(files(&out).len(), 40, "{stderr}");
    assert_no_temp_files(&out);
    for f in files(&out) {
        open(&out.join(f));
    }
    let report = json_lines(&fs::read_to_string(dir.path().join("r.jsonl")).unwrap());
    assert_eq!(report.len(), 40);
    assert!(report.iter().all(|r| r["status"] == "ok"));
}

#[cfg(target_os = "linux")]
#[test]
fn an_image_over_the_worker_memory_cap_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    many_images(&src, 4, 200);
    // 8000×8000 RGB decodes to 192 MB: over a 128 MB cap, under --max-pixels.
    // Reduced by less than 2× it is decoded whole (a larger reduction of a
    // PNG streams row by row within a few MB, so it would fit the cap).
    image::RgbImage::from_pixel(8000, 8000, image::Rgb([200, 10, 10]))
        .save(src.join("huge.png"))
        .unwrap();
    let assert = pixmill()
        .arg("convert")
        .arg(&src)
        .arg("-o")
        .arg(dir.path().join("out"))
        .args([
            "--backend",
            "process",
            "-j",
            "2",
            "--worker-memory",
            "128",
            "--resize",
            "6000",
            "--report",
        ])
        .arg(dir.path().join("r.jsonl"))
        .assert()
        .code(1);
    let stderr = assert.stderr_text();
    let line = stderr
        .lines()
        .find(|l| l.contains("huge.png"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("worker"), "{line}");
    let out = dir.path().join("out");
    assert_eq!(
        files(&out),
        ["img000.png", "img001.png", "img002.png", "img003.png"]
    );
    let report = json_lines(&fs::read_to_string(dir.path().join("r.jsonl")).unwrap());
    let huge = report
        .iter()
        .find(|r| r["input"].as_str().unwrap().ends_with("huge.png"))
        .unwrap();
    assert_eq!(huge["error_class"], "worker");
}

#[test]
fn worker_memory_needs_the_process_backend() {
    pixmill()
        .args(["convert", "x.png", "-o", "out", "--worker-memory", "100"])
        .assert()
        .code(2);
}

#[cfg(unix)]
fn interrupt_then_resume(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    many_images(&dir.path().join("in"), 50, 900);
    let args = [
        "convert",
        "in",
        "-o",
        "out",
        "--backend",
        backend,
        "-j",
        "1",
        "--resize",
        "400",
        "--report",
        "r.jsonl",
    ];
    let mut child = spawn(dir.path(), &args);
    let out = dir.path().join("out");
    wait_for_outputs(&out, 3, &mut child);
    // SAFETY: kill with our child's pid and a constant signal.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = wait_with_timeout(&mut child, 60);
    assert_eq!(status.code(), Some(130), "{backend}");
    assert_no_temp_files(&out);
    let first = files(&out);
    assert!(
        first.len() < 50,
        "{backend}: interrupt came too late to test anything"
    );
    let report = json_lines(&fs::read_to_string(dir.path().join("r.jsonl")).unwrap());
    let ok: Vec<&str> = report
        .iter()
        .filter(|r| r["status"] == "ok")
        .map(|r| r["output"].as_str().unwrap())
        .collect();
    // The report lists exactly what was finished, and each is complete.
    assert_eq!(ok.len(), first.len(), "{backend}");
    for path in &ok {
        open(&dir.path().join(path));
    }

    let status = Command::new(env!("CARGO_BIN_EXE_pixmill"))
        .current_dir(dir.path())
        .args(args)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(files(&out).len(), 50);
    let report = json_lines(&fs::read_to_string(dir.path().join("r.jsonl")).unwrap());
    let skipped = report.iter().filter(|r| r["status"] == "skipped").count();
    let redone = report.iter().filter(|r| r["status"] == "ok").count();
    assert_eq!(
        (skipped, redone),
        (first.len(), 50 - first.len()),
        "{backend}: rerun redid work"
    );
}

#[cfg(unix)]
#[test]
fn sigint_stops_cleanly_and_a_rerun_finishes_rayon() {
    interrupt_then_resume("rayon");
}

#[cfg(unix)]
#[test]
fn sigint_stops_cleanly_and_a_rerun_finishes_process() {
    interrupt_then_resume("process");
}

#[test]
fn the_summary_shows_the_cpu_load_for_either_backend() {
    let dir = tempfile::tempdir().unwrap();
    many_images(&dir.path().join("in"), 6, 200);
    for backend in ["rayon", "process"] {
        let assert = pixmill()
            .current_dir(dir.path())
            .args([
                "convert",
                "in",
                "-o",
                backend,
                "--backend",
                backend,
                "-j",
                "2",
            ])
            .assert()
            .success();
        let stderr = assert.stderr_text();
        let line = stderr
            .lines()
            .find(|l| l.contains("cpu stage"))
            .unwrap_or_else(|| panic!("{stderr}"));
        assert!(
            line.contains("2 workers") && line.contains("% busy"),
            "{line}"
        );
        // Per-worker shares are noise no one can act on.
        assert!(!line.contains("per worker"), "{line}");
    }
}

/// `-j` far past the cores is capped, with a warning: CPU workers past a
/// few per core only wait, and rayon's idle workers steal from one another
/// in time that grows with their square (one image at `-j 2000` took 22
/// CPU-s before the cap).
#[test]
fn jobs_far_past_the_cores_are_capped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 40, 30);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run = pixmill()
        .current_dir(dir.path())
        .args([
            "convert", "a.png", "-o", "out", "-f", "webp", "-j", "100000",
        ])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "warning: -j 100000 is more than 8 workers per core ({cores} cores): using {}",
            cores * 8
        )),
        "{stderr}"
    );
    assert_eq!(dims(&dir.path().join("out/a.webp")), (40, 30));
    // Within the cap, -j is taken as given, without a word.
    let run = pixmill()
        .current_dir(dir.path())
        .args([
            "convert",
            "a.png",
            "-o",
            "out2",
            "-j",
            &(cores * 8).to_string(),
        ])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert!(!stderr.contains("warning"), "{stderr}");
}
