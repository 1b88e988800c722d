//! Manifests that aim at memory: lines of hundreds of megabytes (plain,
//! CSV, TSV, JSON Lines, gzipped). Each fails its row alone, says why, and
//! the run peaks far below the line's size.

use crate::common;

use common::*;
use flate2::write::GzEncoder;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const HANG: Duration = Duration::from_secs(120);

/// What a run over a few small images may peak at, whatever its input's
/// size. It idles at about 20 MB, but Linux counts a child's peak from
/// this whole test process's memory at the fork (see
/// `Finished::assert_peak_rss_below`), so the bound is the bomb tests'.
/// Each input here is at least twice as large.
const FLAT_RSS_KB: u64 = 300 * 1024;

/// Writes `len` bytes of `b` through `out`, a block at a time.
fn write_run(out: &mut impl Write, b: u8, len: usize) {
    let block = vec![b; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len());
        out.write_all(&block[..n]).unwrap();
        left -= n;
    }
}

/// A manifest of three rows whose middle one holds a `long`-byte path or
/// field, written through gzip when its name ends in `.gz`.
fn long_row_manifest(path: &Path, long: usize) {
    let name = path.file_name().unwrap().to_str().unwrap();
    let file = fs::File::create(path).unwrap();
    let mut out: Box<dyn Write> = if name.ends_with(".gz") {
        Box::new(GzEncoder::new(file, flate2::Compression::fast()))
    } else {
        Box::new(std::io::BufWriter::new(file))
    };
    let inner = name.trim_end_matches(".gz");
    let (head, row, tail): (&str, [&str; 2], &str) = if inner.ends_with(".csv") {
        ("path,caption\n", ["b.png,\"", "\"\n"], "c.png,x\n")
    } else if inner.ends_with(".tsv") {
        ("path\tcaption\n", ["b.png\t", "\n"], "c.png\tx\n")
    } else if inner.ends_with(".jsonl") {
        (
            "",
            ["{\"path\":\"b.png\",\"caption\":\"", "\"}\n"],
            "{\"path\":\"c.png\"}\n",
        )
    } else {
        ("", ["", "\n"], "c.png\n")
    };
    let first = if inner.ends_with(".jsonl") {
        "{\"path\":\"a.png\"}\n"
    } else if head.is_empty() {
        "a.png\n"
    } else if inner.ends_with(".csv") {
        "a.png,x\n"
    } else {
        "a.png\tx\n"
    };
    write!(out, "{head}{first}{}", row[0]).unwrap();
    write_run(&mut out, b'a', long);
    write!(out, "{}{tail}", row[1]).unwrap();
    out.flush().unwrap();
}

/// A line or field of hundreds of megabytes fails its row, with its line
/// number; the rows after it are read and done; memory stays flat.
#[test]
fn an_overlong_manifest_line_fails_its_row_and_memory_stays_flat() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["a.png", "c.png"] {
        write_image(&d.join(name), 12, 10);
    }
    let cases = [
        // Plain: the limit's message; gzipped: flat memory too (before the
        // limit, a 256 MiB line took 256 to 512 MB).
        ("list.txt", 64 << 20),
        ("list.txt.gz", 256 << 20),
        ("list.csv.gz", 256 << 20),
        ("list.tsv.gz", 256 << 20),
        ("list.jsonl.gz", 256 << 20),
    ];
    for (list, long) in cases {
        long_row_manifest(&d.join(list), long);
        let out = format!("out-{list}");
        let mut cmd = pixmill_std();
        cmd.current_dir(d)
            .args(["convert", "-m", list, "-o", &out, "--report", "r.jsonl"]);
        let run = run_guarded(cmd, HANG);
        assert_eq!(run.code, Some(1), "{list}: {}", run.stderr);
        let records = report(&d.join("r.jsonl"));
        let header_lines = u64::from(list.contains(".csv") || list.contains(".tsv"));
        let bad = record(&records, &format!("{list}:{}", 2 + header_lines));
        assert_eq!(bad["error_class"], "manifest", "{list}: {bad}");
        let error = bad["error"].as_str().unwrap();
        assert!(
            error.contains("over the 1.0 MiB limit of --max-manifest-line"),
            "{list}: {error}"
        );
        assert_eq!(files(&d.join(&out)), ["a.png", "c.png"], "{list}");
        run.assert_peak_rss_below(FLAT_RSS_KB, list);
        fs::remove_file(d.join(list)).unwrap();
    }
}

/// `--max-manifest-line` sets the limit, and a row within it is read.
#[test]
fn the_manifest_line_limit_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_image(&d.join("a.png"), 12, 10);
    let caption = "c".repeat(300);
    fs::write(
        d.join("list.csv"),
        format!("path,output,caption\na.png,short.png,x\na.png,long.png,{caption}\n"),
    )
    .unwrap();
    let run = |limit: &str, out: &str| {
        let mut cmd = pixmill_std();
        cmd.current_dir(d)
            .args(["convert", "-m", "list.csv", "-o", out])
            .args(["--max-manifest-line", limit, "--report", "r.jsonl"]);
        run_guarded(cmd, HANG)
    };
    assert_eq!(run("200", "small").code, Some(1));
    let bad = record(&report(&d.join("r.jsonl")), "list.csv:3").clone();
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("over the 200 B limit"),
        "{bad}"
    );
    assert_eq!(files(&d.join("small")), ["short.png"]);
    assert_eq!(run("1K", "big").code, Some(0));
    assert_eq!(files(&d.join("big")), ["long.png", "short.png"]);
}
