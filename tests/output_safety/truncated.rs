//! JPEGs cut short (an interrupted download) fail with a clear reason on
//! both decode paths and both backends, unless `--accept-truncated`, which
//! converts them and says so in the record. Animations cut short fail too,
//! whatever the output format: never a silent first frame.

use crate::common;

use common::{fixtures, gradient, json_lines, pixmill, three_frame_apng, three_frame_gif, Said};
use std::fs;
use std::path::Path;

fn jpeg(progressive: bool) -> Vec<u8> {
    let img = gradient(320, 240);
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
    enc.set_progressive(progressive);
    enc.encode(img.as_raw(), 320, 240, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// Writes the whole and the cut baseline and progressive JPEGs to `dir`.
fn inputs(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for (name, progressive) in [("baseline", false), ("progressive", true)] {
        let data = jpeg(progressive);
        fs::write(dir.join(format!("{name}-whole.jpg")), &data).unwrap();
        let cut = &data[..data.len() * 6 / 10];
        fs::write(dir.join(format!("{name}-cut.jpg")), cut).unwrap();
    }
}

fn run(dir: &Path, extra: &[&str]) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let out = dir.join(format!("out{}", extra.join("")));
    let report = dir.join(format!("r{}.jsonl", extra.join("")));
    let output = pixmill()
        .arg("convert")
        .arg(dir.join("in"))
        .arg("-o")
        .arg(&out)
        .arg("--report")
        .arg(&report)
        .args(extra)
        .output()
        .unwrap();
    let records = json_lines(&fs::read_to_string(&report).unwrap());
    let stderr = output.stderr_text();
    (output.status.code(), records, stderr)
}

fn record<'a>(records: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    records
        .iter()
        .find(|r| r["input"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no record for {name}"))
}

/// Both backends; without a resize (the full decode) and with one small
/// enough to take the JPEG shrink-on-load path (DCT scaling).
const RUNS: [&[&str]; 4] = [
    &["--backend", "rayon"],
    &["--backend", "process"],
    &["--backend", "rayon", "--resize", "60"],
    &["--backend", "process", "--resize", "60"],
];

#[test]
fn truncated_jpegs_fail_with_a_clear_reason() {
    let dir = tempfile::tempdir().unwrap();
    inputs(&dir.path().join("in"));
    for args in RUNS {
        let (code, records, _) = run(dir.path(), args);
        assert_eq!(code, Some(1), "{args:?}");
        for kind in ["baseline", "progressive"] {
            let whole = record(&records, &format!("{kind}-whole.jpg"));
            assert_eq!(whole["status"], "ok", "{args:?} {whole}");
            let cut = record(&records, &format!("{kind}-cut.jpg"));
            assert_eq!(cut["status"], "failed", "{args:?} {cut}");
            let error = cut["error"].as_str().unwrap();
            assert!(error.starts_with("truncated JPEG: "), "{error}");
        }
    }
}

#[test]
fn accept_truncated_converts_them_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    inputs(&dir.path().join("in"));
    for args in RUNS {
        let args = [args, &["--accept-truncated"]].concat();
        let (code, records, stderr) = run(dir.path(), &args);
        assert_eq!(code, Some(0), "{args:?} {stderr}");
        for kind in ["baseline", "progressive"] {
            let whole = record(&records, &format!("{kind}-whole.jpg"));
            assert_eq!(whole["warnings"].as_array().map_or(0, Vec::len), 0);
            let cut = record(&records, &format!("{kind}-cut.jpg"));
            assert_eq!(cut["status"], "ok", "{args:?} {cut}");
            let warning = cut["warnings"][0].as_str().unwrap_or_default();
            assert!(warning.starts_with("truncated JPEG"), "{cut}");
            assert!(stderr.contains(&format!("{kind}-cut.jpg: warning: truncated JPEG")));
        }
    }
}

/// Writes the whole and the cut (to half its bytes) three-frame animated
/// GIF, APNG and WebP to `dir`.
fn animations(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let webp = fs::read(fixtures().join("formats/anim.webp")).unwrap();
    let gif = three_frame_gif([10, 25, 40], gif::Repeat::Infinite);
    let apng = three_frame_apng([50, 120, 300], 0);
    for (name, data) in [("anim.gif", gif), ("anim.png", apng), ("anim.webp", webp)] {
        fs::write(dir.join(format!("whole-{name}")), &data).unwrap();
        fs::write(dir.join(format!("cut-{name}")), &data[..data.len() / 2]).unwrap();
    }
}

#[test]
fn truncated_animations_fail_to_still_and_animated_formats() {
    let dir = tempfile::tempdir().unwrap();
    animations(&dir.path().join("in"));
    for format in ["jpeg", "png", "gif", "webp"] {
        let args = ["-f", format];
        let (code, records, stderr) = run(dir.path(), &args);
        assert_eq!(code, Some(1), "{args:?} {stderr}");
        for name in ["anim.gif", "anim.png", "anim.webp"] {
            let whole = record(&records, &format!("whole-{name}"));
            assert_eq!(whole["status"], "ok", "{args:?} {whole}");
            let cut = record(&records, &format!("cut-{name}"));
            assert_eq!(cut["status"], "failed", "{args:?} {cut}");
            assert_eq!(cut["error_class"], "decode", "{args:?} {cut}");
            let error = cut["error"].as_str().unwrap();
            assert!(error.starts_with("truncated "), "{args:?} {name}: {error}");
        }
    }
}

/// Scan data overwritten in the middle (a bad sector, a broken proxy): the
/// JPEG still decodes, but the record says the data was corrupt, never a
/// silent success.
#[test]
fn corrupt_scan_data_is_named_in_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    fs::create_dir_all(&input).unwrap();
    for (name, progressive) in [("baseline", false), ("progressive", true)] {
        let mut data = jpeg(progressive);
        let mid = data.len() / 2;
        data[mid..mid + 40].fill(0x55);
        fs::write(input.join(format!("{name}-corrupt.jpg")), &data).unwrap();
        fs::write(input.join(format!("{name}-whole.jpg")), jpeg(progressive)).unwrap();
    }
    for args in RUNS {
        let (code, records, stderr) = run(dir.path(), args);
        assert_eq!(code, Some(0), "{args:?} {stderr}");
        for kind in ["baseline", "progressive"] {
            let whole = record(&records, &format!("{kind}-whole.jpg"));
            assert_eq!(whole["warnings"].as_array().map_or(0, Vec::len), 0);
            let bad = record(&records, &format!("{kind}-corrupt.jpg"));
            assert_eq!(bad["status"], "ok", "{args:?} {bad}");
            let warning = bad["warnings"][0].as_str().unwrap_or_default();
            assert!(warning.contains("Corrupt JPEG data"), "{args:?} {bad}");
        }
    }
}
