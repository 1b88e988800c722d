//! Encoder controls: PNG/TIFF compression, WebP effort, progressive and
//! subsampled JPEG, percentage resizes, transparent padding, and the usage
//! errors that stop a flag from being silently ignored.

use crate::common;

use common::*;
use predicates::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

/// Converts `input` with `args` into `dir/name/` and returns the one output.
fn convert_one(dir: &Path, input: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    convert_cmd(input, &out)
        .arg("-q")
        .args(args)
        .assert()
        .success();
    let produced = files(&out);
    assert_eq!(produced.len(), 1, "{produced:?}");
    out.join(&produced[0])
}

fn photo(dir: &Path) -> PathBuf {
    let input = dir.join("photo.jpg");
    fs::copy(fixtures().join("exif/Landscape_1.jpg"), &input).unwrap();
    input
}

/// The JPEG's start-of-frame marker (0xC0 baseline, 0xC2 progressive, ...)
/// and each component's sampling factors `(h, v)`.
fn jpeg_frame(data: &[u8]) -> (u8, Vec<(u8, u8)>) {
    let mut at = 2;
    while at + 4 <= data.len() {
        assert_eq!(data[at], 0xFF, "segment marker at {at}");
        let marker = data[at + 1];
        let len = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let seg = &data[at + 4..at + 2 + len];
            let components = usize::from(seg[5]);
            let factors = (0..components)
                .map(|i| {
                    let f = seg[6 + i * 3 + 1];
                    (f >> 4, f & 0x0F)
                })
                .collect();
            return (marker, factors);
        }
        at += 2 + len;
    }
    panic!("no start-of-frame marker");
}

#[test]
fn progressive_jpeg_has_an_sof2_frame_and_baseline_stays_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let input = photo(dir.path());
    let baseline = convert_one(dir.path(), &input, "base", &["-f", "jpeg"]);
    assert_eq!(jpeg_frame(&fs::read(&baseline).unwrap()).0, 0xC0);
    let progressive = convert_one(dir.path(), &input, "prog", &["-f", "jpeg", "--progressive"]);
    assert_eq!(jpeg_frame(&fs::read(&progressive).unwrap()).0, 0xC2);
    assert!(mean_abs_diff(&open(&baseline), &open(&progressive)) < 1.0);
}

#[test]
fn subsampling_sets_the_chroma_sampling_factors() {
    let dir = tempfile::tempdir().unwrap();
    let input = photo(dir.path());
    let factors = |name: &str, args: &[&str]| {
        let out = convert_one(dir.path(), &input, name, args);
        jpeg_frame(&fs::read(out).unwrap()).1
    };
    assert_eq!(
        factors("s444", &["-f", "jpeg", "--subsampling", "444"]),
        [(1, 1); 3]
    );
    assert_eq!(
        factors("s422", &["-f", "jpeg", "--subsampling", "422"]),
        [(2, 1), (1, 1), (1, 1)]
    );
    assert_eq!(
        factors("s420", &["-f", "jpeg", "--subsampling", "420"]),
        [(2, 2), (1, 1), (1, 1)]
    );
    // The default follows the quality: 4:2:0 below 90, 4:4:4 from 90.
    assert_eq!(factors("q85", &["-f", "jpeg"])[0], (2, 2));
    assert_eq!(
        factors("q95", &["-f", "jpeg", "--quality", "95"])[0],
        (1, 1)
    );
}

fn tiff_compression(path: &Path) -> u32 {
    let file = fs::File::open(path).unwrap();
    let mut decoder = tiff::decoder::Decoder::new(std::io::BufReader::new(file)).unwrap();
    decoder.get_tag_u32(tiff::tags::Tag::Compression).unwrap()
}

#[test]
fn tiff_is_compressed_by_default_lossless_and_level_0_stores() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_image(&input, 300, 200);
    let alpha = dir.path().join("alpha.png");
    write_half_transparent_png(&alpha, 64, 32);
    for source in [&input, &alpha] {
        let packed = convert_one(dir.path(), source, "packed", &["-f", "tiff"]);
        let stored = convert_one(
            dir.path(),
            source,
            "stored",
            &["-f", "tiff", "--compression", "0"],
        );
        assert_ne!(tiff_compression(&packed), 1, "compressed by default");
        assert_eq!(tiff_compression(&stored), 1, "level 0 = no compression");
        assert_eq!(open(&packed).to_rgba8(), open(source).to_rgba8());
        assert_eq!(open(&stored).to_rgba8(), open(source).to_rgba8());
        assert!(fs::metadata(&packed).unwrap().len() < fs::metadata(&stored).unwrap().len());
        fs::remove_dir_all(dir.path().join("packed")).unwrap();
        fs::remove_dir_all(dir.path().join("stored")).unwrap();
    }
}

#[test]
fn png_compression_levels_trade_size_and_all_decode_identically() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_image(&input, 300, 200);
    let size_at = |level: &str| {
        let out = convert_one(
            dir.path(),
            &input,
            &format!("l{level}"),
            &["-f", "png", "--compression", level],
        );
        assert_eq!(
            open(&out).to_rgb8(),
            open(&input).to_rgb8(),
            "level {level}"
        );
        fs::metadata(out).unwrap().len()
    };
    let (stored, default, best) = (size_at("0"), size_at("6"), size_at("9"));
    assert!(stored > 300 * 200 * 3, "level 0 stores: {stored}");
    assert!(
        default * 4 < stored,
        "level 6 compresses: {default} vs {stored}"
    );
    assert!(best <= default, "level 9 {best} vs level 6 {default}");
    convert_cmd(&input, dir.path().join("bad"))
        .args(["--compression", "10"])
        .assert()
        .code(2);
}

#[test]
fn webp_effort_trades_time_for_size() {
    let dir = tempfile::tempdir().unwrap();
    // A lossless input, so "lossless" can be checked sample for sample
    // (two JPEG decoders may differ by a level here and there).
    let input = dir.path().join("photo.png");
    open(&photo(dir.path())).save(&input).unwrap();
    let size_at = |effort: &str| {
        let out = convert_one(
            dir.path(),
            &input,
            &format!("e{effort}"),
            &["-f", "webp", "--lossless", "--effort", effort],
        );
        assert_eq!(mean_abs_diff(&open(&out), &open(&input)), 0.0);
        fs::metadata(out).unwrap().len()
    };
    let (fast, thorough) = (size_at("0"), size_at("6"));
    assert!(thorough < fast, "effort 6 {thorough} vs effort 0 {fast}");
    convert_cmd(&input, dir.path().join("bad"))
        .args(["-f", "webp", "--effort", "7"])
        .assert()
        .code(2);
}

#[test]
fn percentage_resizes_scale_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_image(&input, 300, 200);
    let half = convert_one(dir.path(), &input, "half", &["--resize", "50%"]);
    assert_eq!(dims(&half), (150, 100));
    let double = convert_one(dir.path(), &input, "double", &["--resize", "200%"]);
    assert_eq!(dims(&double), (600, 400));
    for bad in ["0%", "abc%", "1e9%"] {
        convert_cmd(&input, dir.path().join("bad"))
            .arg(format!("--resize={bad}"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("percentage"));
    }
    convert_cmd(&input, dir.path().join("bad"))
        .args(["--resize", "50%", "--fit", "cover"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("both sides"));
}

#[test]
fn transparent_background_pads_contain_with_alpha_0() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jpg");
    write_image(&input, 300, 100);
    let args = [
        "--resize",
        "100x100",
        "--fit",
        "contain",
        "--background",
        "transparent",
    ];
    for format in ["png", "webp", "tiff"] {
        let mut all = args.to_vec();
        all.extend(["-f", format]);
        let out = convert_one(dir.path(), &input, format, &all);
        let img = open(&out).to_rgba8();
        assert_eq!(img.dimensions(), (100, 100));
        assert_eq!(img.get_pixel(50, 2).0[3], 0, "{format}: padding");
        assert_eq!(img.get_pixel(50, 97).0[3], 0, "{format}: padding");
        assert_eq!(img.get_pixel(50, 50).0[3], 255, "{format}: picture");
    }
    // JPEG has no alpha: the padding is the flattening colour, and the
    // record says transparency was not kept.
    let out = dir.path().join("jpeg");
    convert_cmd(&input, &out)
        .args(args)
        .args(["--json", "-q"])
        .assert()
        .success()
        .stderr(predicate::str::contains("no transparency"));
    let img = open(&out.join("in.jpg")).to_rgb8();
    assert!(img.get_pixel(50, 2).0.iter().all(|&c| c > 245));
}

#[test]
fn lossless_with_a_format_that_has_no_lossless_mode_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_image(&input, 30, 20);
    for format in ["jpeg", "png", "gif", "tiff"] {
        convert_cmd(&input, dir.path().join(format))
            .args(["-f", format, "--lossless"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("lossless"));
        assert!(!dir.path().join(format).exists());
    }
    // Without --format the output follows each input: a JPEG stays JPEG,
    // and the item says --lossless was not honoured.
    let jpg = dir.path().join("in.jpg");
    write_image(&jpg, 30, 20);
    convert_cmd(&jpg, dir.path().join("kept"))
        .args(["--lossless", "-q"])
        .assert()
        .success()
        .stderr(predicate::str::contains("always lossy"));
}

#[test]
fn transparent_background_with_explicit_jpeg_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_image(&input, 30, 20);
    convert_cmd(&input, dir.path().join("out"))
        .args(["-f", "jpeg", "--background", "transparent"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("transparency"));
}

/// `--filter area` (img2dataset's pair: average to shrink, Lanczos3 to
/// enlarge) gives the asked size, looks like the default Lanczos3 at
/// thumbnail size, and enlarges exactly as Lanczos3 does.
#[test]
fn area_filter_shrinks_by_averaging_and_enlarges_as_lanczos3() {
    let dir = tempfile::tempdir().unwrap();
    let input = photo(dir.path());
    let args = |filter: &'static str| ["-r", "256x256", "-f", "png", "--filter", filter];
    let area = convert_one(dir.path(), &input, "area", &args("area"));
    let lanczos = convert_one(dir.path(), &input, "lanczos", &args("lanczos3"));
    let (a, l) = (open(&area), open(&lanczos));
    assert_eq!((a.width(), a.height()), (256, 171));
    assert_eq!((a.width(), a.height()), (l.width(), l.height()));
    let d = mean_abs_diff(&a, &l);
    assert!(d > 0.0 && d < 3.0, "area against lanczos3: MAD {d:.2}");

    let small = convert_one(dir.path(), &lanczos, "small", &["-r", "64x64"]);
    let up = |filter| {
        [
            "-r",
            "300x300",
            "--enlarge",
            "-f",
            "png",
            "--filter",
            filter,
        ]
    };
    let area_up = convert_one(dir.path(), &small, "area-up", &up("area"));
    let lanczos_up = convert_one(dir.path(), &small, "lanczos-up", &up("lanczos3"));
    assert_eq!(fs::read(area_up).unwrap(), fs::read(lanczos_up).unwrap());
}
