//! Wide-gamut outputs: `--colour p3` and `--export-profile` convert the
//! colours and embed the profile, checked by taking the output back to
//! sRGB with another colour engine (Little CMS's `tificc`) and comparing
//! with pixmill's own sRGB output of the same input.

use crate::common;

use common::{convert_cmd, fixtures, icc_of, json_lines, open, run, Said};
use image::{DynamicImage, RgbImage};
use moxcms::ColorProfile;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Converts `input` into `dir/name/` with `args` and returns the one
/// output file and its record.
fn convert(dir: &Path, name: &str, input: &Path, args: &[&str]) -> (PathBuf, serde_json::Value) {
    let out = dir.join(name);
    let done = run(convert_cmd(input, &out).args(args).arg("--json"));
    assert!(done.status.success(), "{args:?}: {}", done.stderr_text());
    let record = json_lines(&String::from_utf8_lossy(&done.stdout)).remove(0);
    let file = PathBuf::from(record["output"].as_str().unwrap());
    (file, record)
}

/// `tiff` taken to sRGB by Little CMS through its embedded profile
/// (relative colorimetric, as pixmill converts).
fn lcms_to_srgb(tiff: &Path) -> RgbImage {
    let out = tiff.with_extension("srgb.tif");
    let status = Command::new("tificc")
        .arg("-t1")
        .arg(tiff)
        .arg(&out)
        .status()
        .expect("tificc (Debian's liblcms2-utils, which the quick start installs)");
    assert!(status.success(), "tificc failed on {}", tiff.display());
    open(&out).to_rgb8()
}

/// (largest difference, share of samples more than 2 levels apart).
fn differences(a: &RgbImage, b: &RgbImage) -> (u8, f64) {
    assert_eq!(a.dimensions(), b.dimensions());
    let mut max = 0;
    let mut over = 0usize;
    for (x, y) in a.as_raw().iter().zip(b.as_raw()) {
        let d = x.abs_diff(*y);
        max = max.max(d);
        over += usize::from(d > 2);
    }
    (max, over as f64 / a.as_raw().len() as f64)
}

#[test]
fn p3_outputs_come_back_to_the_srgb_original_through_another_colour_engine() {
    let dir = tempfile::tempdir().unwrap();
    // A Display P3 HEIC reaching past sRGB, a P3 photo, and an sRGB photo
    // (its colours must survive the trip into P3's numbers and back).
    for input in [
        "formats/colours-p3.heic",
        "formats/photo.heic",
        "exif/Landscape_1.jpg",
    ] {
        let input = fixtures().join(input);
        let (srgb, _) = convert(dir.path(), "srgb", &input, &["-f", "png"]);
        let (p3, record) = convert(dir.path(), "p3", &input, &["-f", "tiff", "--colour", "p3"]);
        assert!(record.get("warnings").is_none(), "{record}");
        let original = open(&srgb).to_rgb8();
        let back = lcms_to_srgb(&p3);
        // 8-bit P3 numbers are a coarser grid than sRGB's near black in a
        // saturated colour: the ideal round trip itself moves such samples
        // by up to 2.5 levels. Everywhere else it is exact to rounding.
        let (max, over) = differences(&original, &back);
        assert!(max <= 3, "{}: {max} levels", input.display());
        assert!(
            over <= 0.001,
            "{}: {over:.5} over 2 levels",
            input.display()
        );
        // pixmill reads the P3 TIFF back to the same sRGB.
        let (again, _) = convert(dir.path(), "again", &p3, &["-f", "png"]);
        let (max, over) = differences(&original, &open(&again).to_rgb8());
        assert!(
            max <= 3 && over <= 0.001,
            "{}: read back {max}",
            input.display()
        );
    }
    // The numbers are really P3's, not sRGB's with a P3 label.
    let input = fixtures().join("formats/colours-p3.heic");
    let (srgb, _) = convert(dir.path(), "srgb", &input, &["-f", "png"]);
    let (p3, _) = convert(dir.path(), "p3", &input, &["-f", "tiff", "--colour", "p3"]);
    let moved = common::mean_abs_diff(&open(&srgb), &open(&p3));
    assert!(moved > 5.0, "P3 numbers differ from sRGB's by {moved:.2}");
}

#[test]
fn p3_is_embedded_in_jpeg_png_webp_avif_and_tiff_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures().join("formats/colours-p3.heic");
    let mut p3: Option<Vec<u8>> = None;
    let mut pixels: Option<DynamicImage> = None;
    for format in ["jpeg", "png", "webp", "tiff", "avif"] {
        let args = ["-f", format, "--colour", "p3", "--lossless"];
        let args = if format == "webp" {
            &args[..]
        } else {
            &args[..4]
        };
        let (file, record) = convert(dir.path(), format, &input, args);
        assert!(record.get("warnings").is_none(), "{format}: {record}");
        let icc = if format == "avif" {
            // The image crate does not read AVIF: read back through
            // pixmill, keeping the profile it finds.
            let keep = ["-f", "png", "--colour", "keep"];
            let (png, _) = convert(dir.path(), "avif-read", &file, &keep);
            icc_of(&fs::read(&png).unwrap())
        } else {
            icc_of(&fs::read(&file).unwrap())
        };
        // One profile, the same bytes in every output, and it is Display
        // P3's.
        let icc = icc.unwrap_or_else(|| panic!("{format}: no profile embedded"));
        let parsed = ColorProfile::new_from_slice(&icc).unwrap();
        let want = ColorProfile::new_display_p3();
        assert_eq!(
            (
                parsed.red_colorant,
                parsed.green_colorant,
                parsed.blue_colorant
            ),
            (want.red_colorant, want.green_colorant, want.blue_colorant),
            "{format}: Display P3's primaries"
        );
        match &p3 {
            None => p3 = Some(icc),
            Some(first) => assert_eq!(&icc, first, "{format}: the same profile"),
        }
        // Lossless outputs hold the same numbers.
        if matches!(format, "png" | "webp" | "tiff") {
            let img = open(&file);
            match &pixels {
                None => pixels = Some(img),
                Some(first) => {
                    assert_eq!(img.to_rgb8().as_raw(), first.to_rgb8().as_raw(), "{format}")
                }
            }
        }
    }
}

#[test]
fn p3_outputs_are_the_same_bytes_from_one_run_to_the_next() {
    // A profile stamped with the time it was made would make every run's
    // output (and its digest) differ: the embedded one carries a fixed
    // date, whenever it was written.
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures().join("formats/colours-p3.heic");
    let args = ["-f", "png", "--colour", "p3"];
    let (a, _) = convert(dir.path(), "a", &input, &args);
    let (b, _) = convert(dir.path(), "b", &input, &args);
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    let icc = icc_of(&fs::read(&a).unwrap()).unwrap();
    let date: Vec<u16> = icc[24..36]
        .chunks_exact(2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(date, [2024, 1, 1, 0, 0, 0], "the profile's creation date");
}

#[test]
fn outputs_that_cannot_carry_a_profile_get_srgb_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures().join("formats/colours-p3.heic");
    let (plain, _) = convert(dir.path(), "srgb", &input, &["-f", "bmp"]);
    let (p3, record) = convert(dir.path(), "p3", &input, &["-f", "bmp", "--colour", "p3"]);
    let warning = record["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("BMP cannot carry a colour profile")
            && warning.contains("sRGB instead of Display P3"),
        "{record}"
    );
    assert_eq!(
        open(&p3).to_rgb8().as_raw(),
        open(&plain).to_rgb8().as_raw()
    );
}

#[test]
fn an_export_profile_is_converted_to_and_embedded_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let adobe = ColorProfile::new_adobe_rgb().encode().unwrap();
    let icc = dir.path().join("AdobeRGB.icc");
    fs::write(&icc, &adobe).unwrap();
    let icc_arg = icc.to_str().unwrap();
    let input = fixtures().join("exif/Landscape_1.jpg");
    let (srgb, _) = convert(dir.path(), "srgb", &input, &["-f", "png"]);
    let args = ["-f", "tiff", "--export-profile", icc_arg];
    let (out, record) = convert(dir.path(), "adobe", &input, &args);
    assert!(record.get("warnings").is_none(), "{record}");
    assert_eq!(
        icc_of(&fs::read(&out).unwrap()).as_deref(),
        Some(&adobe[..])
    );
    // Adobe RGB's pure 2.2 curve against sRGB's: a few dark saturated
    // samples (0.003% here) round to up to 4 levels apart.
    let (max, over) = differences(&open(&srgb).to_rgb8(), &lcms_to_srgb(&out));
    assert!(max <= 4 && over <= 0.001, "{max} levels, {over:.5} over 2");
    let moved = common::mean_abs_diff(&open(&srgb), &open(&out));
    assert!(
        moved > 1.0,
        "Adobe RGB numbers differ from sRGB's by {moved:.2}"
    );
}

#[test]
fn unusable_export_profiles_are_usage_errors_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures().join("exif/Landscape_1.jpg");
    let junk = dir.path().join("junk.icc");
    fs::write(&junk, b"not a profile at all, just some bytes here").unwrap();
    let p3 = dir.path().join("p3.icc");
    fs::write(&p3, ColorProfile::new_display_p3().encode().unwrap()).unwrap();
    let missing = dir.path().join("missing.icc");
    let out = dir.path().join("out");
    for (args, says) in [
        (
            vec!["--export-profile", junk.to_str().unwrap()],
            "not a usable ICC profile",
        ),
        (
            vec!["--export-profile", missing.to_str().unwrap()],
            "missing.icc",
        ),
        (
            vec!["--export-profile", p3.to_str().unwrap(), "--colour", "keep"],
            "cannot go with --colour",
        ),
    ] {
        let done = run(convert_cmd(&input, &out).args(&args));
        assert_eq!(done.status.code(), Some(2), "{args:?}");
        assert!(done.stderr_text().contains(says), "{}", done.stderr_text());
    }
    assert!(!out.exists());
}
