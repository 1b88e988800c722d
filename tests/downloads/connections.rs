//! Connections over a list of many sites: idle keep-alive connections are
//! closed after a couple of seconds, and the soft limit on open files is
//! no ceiling (a list over a thousand sites once ran out of descriptors
//! within seconds under Debian's usual soft limit of 1024).

use crate::common;

use common::server::{Reply, Server};
use common::*;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// A server that answers every path with a small body and keeps the
/// connection open for the next request.
fn keep_alive_site() -> Server {
    Server::with(|req| Some(Reply::ok(format!("body of {}", req.path)).keep_alive()))
}

fn write_list(dir: &Path, urls: &[String]) {
    fs::write(dir.join("urls.txt"), urls.join("\n") + "\n").unwrap();
}

fn fetch_command(dir: &Path) -> std::process::Command {
    let mut cmd = pixmill_std();
    cmd.current_dir(dir)
        .args(["fetch", "-m", "urls.txt", "-o", "dl", "--report", "r.jsonl"])
        .args(["--timeout", "20s", "--retries", "0", "-q"]);
    cmd
}

#[test]
fn a_list_over_more_sites_than_the_soft_open_files_limit_is_all_done() {
    const SITES: usize = 150;
    const SOFT: libc::rlim_t = 64;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we own.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    assert!(
        limit.rlim_max >= 4 * SITES as libc::rlim_t,
        "the hard limit on open files ({}) leaves no room to test above the soft one",
        limit.rlim_max
    );
    let sites: Vec<Server> = (0..SITES).map(|_| keep_alive_site()).collect();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = sites
        .iter()
        .enumerate()
        .map(|(i, s)| s.url(&format!("/{i}.bin")))
        .collect();
    write_list(dir.path(), &urls);
    let mut cmd = fetch_command(dir.path());
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe,
    // on the child's own limit, with a struct it owns.
    unsafe {
        cmd.pre_exec(move || {
            let lowered = libc::rlimit {
                rlim_cur: SOFT,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = json_lines(&fs::read_to_string(dir.path().join("r.jsonl")).unwrap());
    assert_eq!(records.len(), SITES);
    assert!(records.iter().all(|r| r["status"] == "ok"), "{records:?}");
    for (i, site) in sites.iter().enumerate() {
        assert_eq!(site.hits(&format!("/{i}.bin")), 1);
        let body = fs::read(dir.path().join(format!("dl/{i}.bin"))).unwrap();
        assert_eq!(body, format!("body of /{i}.bin").as_bytes());
    }
}

#[test]
fn an_idle_keep_alive_connection_is_closed_while_the_run_goes_on() {
    let idle = keep_alive_site();
    let busy = Server::start();
    busy.add("slow.bin", vec![7u8; 20_000]);
    let dir = tempfile::tempdir().unwrap();
    write_list(
        dir.path(),
        &[idle.url("/done.bin"), busy.url("/hold/slow.bin")],
    );
    let child = fetch_command(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The run is still going (its second download is held half-way) when
    // the first site's connection, idle since its reply, is closed.
    busy.wait_held(1, Duration::from_secs(30));
    let closed = idle.wait_client_closes(1, Duration::from_secs(30));
    busy.release();
    let out = child.wait_with_output().unwrap();
    assert!(
        closed,
        "the idle connection was still open 30 s after its reply"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(idle.hits("/done.bin"), 1);
    assert_eq!(
        fs::read(dir.path().join("dl/slow.bin")).unwrap().len(),
        20_000
    );
}
