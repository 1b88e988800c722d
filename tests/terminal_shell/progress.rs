//! The progress display on a real terminal: pixmill runs under a
//! pseudo-terminal made by util-linux's `script` (in every Debian system:
//! package bsdutils), which copies everything written to the terminal to
//! its own stdout, so the test sees exactly what a person would.

use crate::common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

const N: usize = 40;

/// `N` small images under `dir/in`.
fn inputs(dir: &Path) {
    for i in 0..N {
        write_image(&dir.join(format!("in/{i:02}.png")), 24, 16);
    }
}

/// Runs `sh -c SHELL` under a pseudo-terminal in `dir`, with `$PIXMILL`
/// set to the binary under test; returns what reached the terminal.
fn on_terminal(dir: &Path, shell: &str) -> String {
    let out = Command::new("script")
        .args(["-qfec", shell, "/dev/null"])
        .current_dir(dir)
        .env("PIXMILL", env!("CARGO_BIN_EXE_pixmill"))
        .env("TERM", "xterm-256color")
        .env_remove("RUST_LOG")
        .output()
        .expect("util-linux `script` runs (apt-get install bsdutils)");
    let seen = out.stdout_text();
    assert!(out.status.success(), "{shell}: {:?}\n{seen}", out.status);
    seen
}

/// What `text` shows once escape sequences are taken out, cut where the
/// terminal starts a new line or returns to the line's start.
fn pieces(text: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, then one final byte in @..~.
            if chars.next_if_eq(&'[').is_some() {
                for p in chars.by_ref() {
                    if ('@'..='~').contains(&p) {
                        break;
                    }
                }
            }
            // A cleared line is a new piece.
            plain.push('\r');
            continue;
        }
        plain.push(c);
    }
    plain
        .split(['\n', '\r'])
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn expected_outputs(folder: &str) -> Vec<String> {
    (0..N).map(|i| format!("{folder}/{i:02}.jpg")).collect()
}

#[test]
fn the_progress_display_is_on_stderr_only_when_it_is_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inputs(d);

    // stderr on the terminal, stdout to a file: the display is drawn.
    let seen = on_terminal(d, "\"$PIXMILL\" convert in -o a -f jpeg > a.txt");
    assert!(seen.contains("processed"), "{seen:?}");
    assert!(
        seen.contains('\x1b'),
        "drawn with escape sequences: {seen:?}"
    );
    let stdout = fs::read_to_string(d.join("a.txt")).unwrap();
    let mut lines: Vec<String> = stdout.lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines, expected_outputs("a"), "stdout holds paths only");

    // -q: nothing of it.
    let seen = on_terminal(d, "\"$PIXMILL\" convert in -o b -f jpeg -q > b.txt");
    assert!(!seen.contains("processed"), "{seen:?}");
    assert!(!seen.contains('\x1b'), "{seen:?}");

    // stderr not a terminal: no display there, not a byte of it anywhere.
    let seen = on_terminal(d, "\"$PIXMILL\" convert in -o c -f jpeg 2> c.err");
    let stderr = fs::read_to_string(d.join("c.err")).unwrap();
    assert!(!stderr.contains("processed"), "{stderr:?}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(
        stderr.contains(&format!("{N} ok")),
        "the summary stays: {stderr:?}"
    );
    assert!(!seen.contains("processed"), "{seen:?}");
    assert!(!seen.contains('\x1b'), "{seen:?}");
}

#[test]
fn output_lines_on_the_same_terminal_as_the_display_are_never_cut_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inputs(d);
    let seen = on_terminal(d, "\"$PIXMILL\" convert in -o out -f jpeg");
    assert!(
        seen.contains("processed"),
        "the display was drawn: {seen:?}"
    );
    let pieces = pieces(&seen);
    // Every output path is whole, alone on its line: no fragment of the
    // display before or after it.
    let mut paths: Vec<String> = pieces
        .iter()
        .filter(|p| p.contains("out/"))
        .cloned()
        .collect();
    paths.sort();
    assert_eq!(paths, expected_outputs("out"), "{seen:?}");
}
