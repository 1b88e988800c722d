//! Hostile input and hard stops: corrupt files, decompression bombs, names
//! that try to escape, odd file types, kill -9 and a full disk. Every run
//! here is under a hang guard and never reaches the network.

use crate::common;

use common::*;
use image::{DynamicImage, GenericImageView, ImageFormat, Rgba, RgbaImage};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Generous hang guard for one run of the binary.
const HANG: Duration = Duration::from_secs(60);

fn convert_in(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = pixmill_std();
    cmd.current_dir(dir).arg("convert").args(args);
    cmd
}

// ---------------------------------------------------------------- PngSuite

fn pngsuite_files() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(fixtures().join("pngsuite"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".png"))
        .collect();
    names.sort();
    names
}

#[test]
fn pngsuite_valid_files_convert_and_every_corrupt_one_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report_path = dir.path().join("r.jsonl");
    let mut cmd = convert_in(&fixtures(), &["pngsuite", "-f", "png"]);
    cmd.arg("-o").arg(&out).arg("--report").arg(&report_path);
    let run = run_guarded(cmd, HANG);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(
        run.code,
        Some(1),
        "corrupt files make the run exit 1\n{}",
        run.stderr
    );

    let report = report(&report_path);
    let names = pngsuite_files();
    assert_eq!(names.len(), 175);
    assert_eq!(report.len(), 175, "one record per PNG");
    let corrupt: Vec<&String> = names.iter().filter(|n| n.starts_with('x')).collect();
    assert_eq!(corrupt.len(), 14);
    for name in &names {
        let r = record(&report, &format!("pngsuite/{name}"));
        if name.starts_with('x') {
            assert_eq!(r["status"], "failed", "{name}: {r}");
            assert_eq!(r["error_class"], "decode", "{name}: {r}");
            let reason = r["error"].as_str().unwrap();
            assert!(
                reason.len() > 5 && !reason.contains("panic"),
                "{name}: unclear reason {reason:?}"
            );
            assert!(!out.join(name).exists(), "{name} left an output");
            // Every failure is on stderr, one line, prefixed.
            let line = run.stderr.lines().find(|l| l.contains(name.as_str()));
            assert!(
                line.is_some_and(|l| l.starts_with("pixmill: ")),
                "{name} not reported:\n{}",
                run.stderr
            );
        } else {
            assert_eq!(r["status"], "ok", "{name}: {r}");
            let original = open(&fixtures().join("pngsuite").join(name));
            let converted = open(&out.join(name));
            assert_eq!(converted.dimensions(), original.dimensions(), "{name}");
        }
    }
    assert_no_temp_files(&out);
}

/// Largest per-channel difference of two same-size images, as RGBA8.
fn max_channel_diff(a: &DynamicImage, b: &DynamicImage) -> u8 {
    let (a, b) = (a.to_rgba8(), b.to_rgba8());
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn pngsuite_pixels_survive_a_png_round_trip() {
    // Every bit depth, colour type, interlacing, palette and transparency
    // variant: a PNG → PNG conversion without resize must keep the pixels
    // the `image` crate decodes from the original (16-bit may round by 1).
    // The gamma files (g*) are included, with `--colour keep`: by default
    // pixmill honours gAMA/cHRM and converts to sRGB (tested in the colour
    // tests); kept, the numbers must survive unchanged.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let valid: Vec<String> = pngsuite_files()
        .into_iter()
        .filter(|n| !n.starts_with('x'))
        .collect();
    let mut cmd = pixmill_std();
    cmd.arg("convert")
        .args(valid.iter().map(|n| fixtures().join("pngsuite").join(n)))
        .arg("-o")
        .arg(&out)
        .args(["-f", "png", "-q", "--colour", "keep"]);
    let run = run_guarded(cmd, HANG);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let mut wrong = Vec::new();
    for name in &valid {
        let original = open(&fixtures().join("pngsuite").join(name));
        let converted = open(&out.join(name));
        let diff = max_channel_diff(&original, &converted);
        if diff > 1 {
            wrong.push(format!("{name}: max channel difference {diff}"));
        }
    }
    assert!(wrong.is_empty(), "pixels changed:\n{}", wrong.join("\n"));
}

#[test]
fn pngsuite_known_colours() {
    // Values checked with an independent decoder (Pillow). basn0g01 is a 1-bit grey image whose top-left pixel is white;
    // basn3p01 is a 1-bit palette image of two colours; tbrn2c08 has a
    // fully transparent background (tRNS) — kept transparent in PNG output.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let suite = fixtures().join("pngsuite");
    let mut cmd = pixmill_std();
    cmd.arg("convert")
        .args(["basn0g01.png", "basn3p01.png", "tbrn2c08.png"].map(|n| suite.join(n)))
        .arg("-o")
        .arg(&out)
        // These files carry gAMA 1.0; the stored numbers are what is checked.
        .args(["-f", "png", "-q", "--colour", "keep"]);
    let run = run_guarded(cmd, HANG);
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    let grey = open(&out.join("basn0g01.png")).to_rgba8();
    assert_eq!(grey.dimensions(), (32, 32));
    assert_eq!(grey.get_pixel(0, 0).0, [255, 255, 255, 255]);
    assert!(
        grey.pixels()
            .all(|p| matches!(p.0, [0, 0, 0, 255] | [255, 255, 255, 255])),
        "1-bit grey is black or white"
    );

    let palette = open(&out.join("basn3p01.png")).to_rgba8();
    let mut colours: Vec<[u8; 4]> = palette.pixels().map(|p| p.0).collect();
    colours.sort();
    colours.dedup();
    assert_eq!(
        colours,
        [[34, 102, 255, 255], [238, 255, 34, 255]],
        "the palette's two colours"
    );

    let transparent = open(&out.join("tbrn2c08.png")).to_rgba8();
    assert_eq!(
        transparent.get_pixel(0, 0).0[3],
        0,
        "tRNS background stays transparent"
    );
}

// ------------------------------------------------------------ orientation

fn convert_exif(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let exif = fixtures().join("exif");
    let inputs: Vec<PathBuf> = ["Landscape", "Portrait"]
        .iter()
        .flat_map(|k| (0..=8).map(move |i| format!("{k}_{i}.jpg")))
        .map(|n| exif.join(n))
        .collect();
    let mut cmd = pixmill_std();
    cmd.arg("convert")
        .args(inputs)
        .arg("-o")
        .arg(&out)
        .args(["-f", "png", "-q"])
        .args(extra);
    let run = run_guarded(cmd, HANG);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    out
}

/// Every orientation 1–8 (and the invalid 0, which means "as stored")
/// decodes to the same upright picture as orientation 1.
fn assert_all_upright(out: &Path, what: &str) {
    for kind in ["Landscape", "Portrait"] {
        let reference = open(&out.join(format!("{kind}_1.png")));
        let (w, h) = reference.dimensions();
        assert_eq!(w > h, kind == "Landscape", "{what}: {kind}_1 is {w}x{h}");
        for i in 0..=8 {
            let img = open(&out.join(format!("{kind}_{i}.png")));
            assert_eq!(img.dimensions(), (w, h), "{what}: {kind}_{i}");
            let diff = mean_abs_diff(&reference, &img);
            assert!(
                diff < 10.0,
                "{what}: {kind}_{i} differs from upright by {diff:.1}"
            );
        }
    }
}

#[test]
fn exif_orientation_is_applied_on_the_full_decode_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert_exif(dir.path(), "full", &[]);
    // Full size: 1800x1200 whatever the stored layout.
    assert_eq!(dims(&out.join("Landscape_6.png")), (1800, 1200));
    assert_eq!(dims(&out.join("Portrait_8.png")), (1200, 1800));
    assert_all_upright(&out, "no resize");
}

#[test]
fn exif_orientation_is_applied_on_the_jpeg_shrink_on_load_path() {
    let dir = tempfile::tempdir().unwrap();
    // 64 px from 1800 px is far below 1/8: the decoder may shrink on load.
    let small = convert_exif(dir.path(), "small", &["--resize", "64x64"]);
    assert_eq!(dims(&small.join("Landscape_5.png")).0, 64);
    assert_eq!(dims(&small.join("Portrait_7.png")).1, 64);
    assert_all_upright(&small, "--resize 64x64");
    // And the shrunk picture is the full one, shrunk: both paths agree.
    let full = convert_exif(dir.path(), "full", &[]);
    for name in ["Landscape_3.png", "Portrait_6.png"] {
        let (w, h) = dims(&small.join(name));
        let reference =
            open(&full.join(name)).resize_exact(w, h, image::imageops::FilterType::Triangle);
        let diff = mean_abs_diff(&reference, &open(&small.join(name)));
        assert!(
            diff < 12.0,
            "{name}: shrink-on-load differs from full decode by {diff:.1}"
        );
    }
}

#[test]
fn orientation_survives_a_png_intermediate() {
    // A JPEG turned into PNG (no EXIF) and then resized stays upright: the
    // orientation is applied once, on the first conversion.
    let dir = tempfile::tempdir().unwrap();
    let first = convert_exif(dir.path(), "first", &[]);
    let mut cmd = pixmill_std();
    cmd.arg("convert")
        .arg(&first)
        .arg("-o")
        .arg(dir.path().join("second"));
    cmd.args(["--resize", "100x100", "-q"]);
    let run = run_guarded(cmd, HANG);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_all_upright(&dir.path().join("second"), "PNG input");
}

// ---------------------------------------------------- decompression bombs

fn small_image() -> DynamicImage {
    DynamicImage::ImageRgb8(gradient(16, 12))
}

/// A valid small PNG whose IHDR (with a correct CRC) claims `w`×`h`.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut png = encode(&small_image(), ImageFormat::Png);
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// A small JPEG whose SOF0 claims `w`×`h` (at most 65535 each).
fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut jpg = encode(&small_image(), ImageFormat::Jpeg);
    let mut i = 2;
    loop {
        assert_eq!(jpg[i], 0xFF, "JPEG segment walk lost at {i}");
        let marker = jpg[i + 1];
        let len = u16::from_be_bytes([jpg[i + 2], jpg[i + 3]]) as usize;
        if marker == 0xC0 {
            jpg[i + 5..i + 7].copy_from_slice(&h.to_be_bytes());
            jpg[i + 7..i + 9].copy_from_slice(&w.to_be_bytes());
            return jpg;
        }
        assert_ne!(marker, 0xDA, "no SOF0 before the scan");
        i += 2 + len;
    }
}

/// The byte ranges of a GIF's blocks after the header, logical screen and
/// global palette: `(kind, start, end)` with kind `0x21` extension, `0x2C`
/// image, `0x3B` trailer.
fn gif_blocks(gif: &[u8]) -> Vec<(u8, usize, usize)> {
    let mut i = 13;
    if gif[10] & 0x80 != 0 {
        i += 3 << ((gif[10] & 7) + 1);
    }
    let skip_sub_blocks = |mut i: usize| {
        while gif[i] != 0 {
            i += gif[i] as usize + 1;
        }
        i + 1
    };
    let mut blocks = Vec::new();
    loop {
        let start = i;
        match gif[i] {
            0x21 => i = skip_sub_blocks(i + 2),
            0x2C => {
                let flags = gif[i + 9];
                i += 10;
                if flags & 0x80 != 0 {
                    i += 3 << ((flags & 7) + 1);
                }
                i = skip_sub_blocks(i + 1);
            }
            0x3B => {
                blocks.push((0x3B, i, i + 1));
                return blocks;
            }
            other => panic!("unexpected GIF block {other:#x} at {i}"),
        }
        blocks.push((gif[start], start, i));
    }
}

/// A small GIF whose screen and frame both claim `w`×`h`.
fn gif_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut gif = encode(&small_image(), ImageFormat::Gif);
    gif[6..8].copy_from_slice(&w.to_le_bytes());
    gif[8..10].copy_from_slice(&h.to_le_bytes());
    let (_, at, _) = *gif_blocks(&gif).iter().find(|b| b.0 == 0x2C).unwrap();
    gif[at + 5..at + 7].copy_from_slice(&w.to_le_bytes());
    gif[at + 7..at + 9].copy_from_slice(&h.to_le_bytes());
    gif
}

/// A small lossless WebP whose VP8L header claims `w`×`h` (at most 16384).
/// (16384 itself is decoded as 0 by image-webp 0.2.4: `(1 + bits) & 0x3FFF`.)
fn webp_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut webp = encode(&small_image(), ImageFormat::WebP);
    assert_eq!(&webp[12..16], b"VP8L", "expected a simple lossless WebP");
    assert_eq!(webp[20], 0x2F);
    let old = u32::from_le_bytes(webp[21..25].try_into().unwrap());
    let bits = (old & 0xF000_0000) | (w - 1) | ((h - 1) << 14);
    webp[21..25].copy_from_slice(&bits.to_le_bytes());
    webp
}

/// A small TIFF whose ImageWidth and ImageLength claim `w`×`h`, in one strip.
fn tiff_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut tif = encode(&small_image(), ImageFormat::Tiff);
    assert_eq!(&tif[..4], b"II*\0", "expected a little-endian TIFF");
    let ifd = u32::from_le_bytes(tif[4..8].try_into().unwrap()) as usize;
    let count = u16::from_le_bytes([tif[ifd], tif[ifd + 1]]) as usize;
    let mut patched = 0;
    for e in 0..count {
        let at = ifd + 2 + e * 12;
        let tag = u16::from_le_bytes([tif[at], tif[at + 1]]);
        let kind = u16::from_le_bytes([tif[at + 2], tif[at + 3]]);
        let value = match tag {
            256 => w,
            257 => h,
            // One strip for the whole (claimed) image, as a real bomb has.
            278 => h,
            _ => continue,
        };
        match kind {
            3 => tif[at + 8..at + 10].copy_from_slice(&value.to_le_bytes()),
            4 => tif[at + 8..at + 12].copy_from_slice(&(value as u32).to_le_bytes()),
            other => panic!("unexpected TIFF field type {other}"),
        }
        patched += 1;
    }
    assert!(patched >= 2);
    tif
}

/// A small BMP whose header claims `w`×`h`.
fn bmp_claiming(w: i32, h: i32) -> Vec<u8> {
    let mut bmp = encode(&small_image(), ImageFormat::Bmp);
    bmp[18..22].copy_from_slice(&w.to_le_bytes());
    bmp[22..26].copy_from_slice(&h.to_le_bytes());
    bmp
}

/// Peak RSS allowed for a run that must refuse a bomb from its header.
const BOMB_RSS_KB: u64 = 300 * 1024;

#[test]
fn decompression_bombs_are_refused_from_the_header_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let bombs: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bomb.png", png_claiming(40_000, 40_000), "40000"),
        ("bomb.jpg", jpeg_claiming(40_000, 40_000), "40000"),
        ("bomb.gif", gif_claiming(40_000, 40_000), "40000"),
        ("bomb.webp", webp_claiming(16_000, 16_000), "16000"),
        ("bomb.tif", tiff_claiming(40_000, 40_000), "40000"),
        ("bomb.bmp", bmp_claiming(40_000, 40_000), "40000"),
    ];
    for (name, bytes, side) in &bombs {
        assert!(
            bytes.len() < 4096,
            "{name} is {} bytes: a bomb is small",
            bytes.len()
        );
        fs::write(dir.path().join(name), bytes).unwrap();
        // One process per bomb, so each peak RSS is its own.
        let report_path = dir.path().join(format!("{name}.jsonl"));
        let mut cmd = convert_in(
            dir.path(),
            &[name, "-o", "out", "--resize", "100x100", "-j", "1"],
        );
        cmd.arg("--report").arg(&report_path);
        let run = run_guarded(cmd, HANG);
        assert_eq!(run.code, Some(1), "{name}: {}", run.stderr);
        let report = report(&report_path);
        let r = record(&report, name);
        assert_eq!(r["status"], "failed", "{name}: {r}");
        assert_eq!(r["error_class"], "too_large", "{name}: {r}");
        let reason = r["error"].as_str().unwrap();
        assert!(
            reason.contains(side) || reason.contains("pixels"),
            "{name}: the reason should say why: {reason}"
        );
        run.assert_peak_rss_below(BOMB_RSS_KB, &format!("{name}: refusing a bomb"));
        assert!(!dir.path().join("out").join(name).exists());
    }
}

#[test]
fn max_pixels_is_exact_at_the_boundary_for_real_images() {
    // 200x100 = 20000 pixels: refused above the limit, converted at it.
    let dir = tempfile::tempdir().unwrap();
    let img = DynamicImage::ImageRgb8(gradient(200, 100));
    let names = ["a.png", "a.jpg", "a.gif", "a.webp", "a.tif", "a.bmp"];
    for name in names {
        let format = ImageFormat::from_path(name).unwrap();
        fs::write(dir.path().join(name), encode(&img, format)).unwrap();
    }
    let mut cmd = convert_in(dir.path(), &names);
    cmd.args([
        "-o",
        "low",
        "--max-pixels",
        "19999",
        "--report",
        "low.jsonl",
    ]);
    let run = run_guarded(cmd, HANG);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let low = report(&dir.path().join("low.jsonl"));
    for name in names {
        let r = record(&low, name);
        assert_eq!(r["error_class"], "too_large", "{name}: {r}");
    }
    assert!(files(&dir.path().join("low")).is_empty());

    let mut cmd = convert_in(dir.path(), &names);
    cmd.args(["-o", "exact", "--max-pixels", "20000", "-q"]);
    let run = run_guarded(cmd, HANG);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(files(&dir.path().join("exact")).len(), names.len());
}

/// An animated GIF: a red first frame followed by `extra` blue frames, all
/// `side`×`side`. Built by encoding two frames and repeating the second.
fn animated_gif(side: u32, extra: usize) -> Vec<u8> {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame};
    let frame = |c: [u8; 4]| {
        Frame::from_parts(
            RgbaImage::from_pixel(side, side, Rgba(c)),
            0,
            0,
            Delay::from_numer_denom_ms(10, 1),
        )
    };
    let mut two = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut two);
        enc.encode_frames([frame([255, 0, 0, 255]), frame([0, 0, 255, 255])])
            .unwrap();
    }
    let blocks = gif_blocks(&two);
    let images: Vec<usize> = blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| b.0 == 0x2C)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(images.len(), 2);
    // The second frame: from just after the first image to the trailer.
    let from = blocks[images[0]].2;
    let trailer = blocks.last().unwrap().1;
    let second = &two[from..trailer];
    let mut gif = two[..trailer].to_vec();
    for _ in 1..extra {
        gif.extend_from_slice(second);
    }
    gif.push(0x3B);
    gif
}

#[test]
fn an_animation_with_thousands_of_frames_is_refused_before_decoding() {
    // The same bomb to formats that hold animations: 3001 frames x 1 MP is
    // over the default --max-pixels budget for the whole animation, so it
    // is refused from frame headers alone, quickly and in little memory.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("anim.gif"), animated_gif(1000, 3000)).unwrap();
    for format in ["gif", "webp", "png"] {
        let out = format!("out-{format}");
        let cmd = convert_in(dir.path(), &["anim.gif", "-o", &out, "-f", format]);
        let run = run_guarded(cmd, HANG);
        assert_eq!(run.code, Some(1), "{format}: {}", run.stderr);
        assert!(
            run.stderr.contains("animation is 3001 frames of 1000x1000"),
            "{format}: {}",
            run.stderr
        );
        run.assert_peak_rss_below(BOMB_RSS_KB, format);
        assert!(files(&dir.path().join(&out)).is_empty());
    }
}

#[test]
fn an_animated_gif_with_thousands_of_frames_decodes_only_the_first() {
    // 3000 frames of 1000x1000: 12 GB if every frame were kept, minutes if
    // every frame were decoded. To a still format only the first is a
    // picture to convert.
    let dir = tempfile::tempdir().unwrap();
    let gif = animated_gif(1000, 3000);
    assert!(gif.len() < 40 << 20, "{} bytes", gif.len());
    fs::write(dir.path().join("anim.gif"), &gif).unwrap();
    let cmd = convert_in(dir.path(), &["anim.gif", "-o", "out", "-f", "bmp", "-q"]);
    let run = run_guarded(cmd, HANG);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("first of 3001 frames"),
        "{}",
        run.stderr
    );
    run.assert_peak_rss_below(BOMB_RSS_KB, "thousands of frames");
    let img = open(&dir.path().join("out/anim.bmp")).to_rgba8();
    assert_eq!(img.dimensions(), (1000, 1000));
    assert_eq!(
        img.get_pixel(500, 500).0,
        [255, 0, 0, 255],
        "the first (red) frame"
    );
}

// ------------------------------------------------------ names stay inside

#[cfg(unix)]
#[test]
fn jsonl_output_names_and_planted_symlinks_cannot_lead_outside() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_image(&d.join("a.png"), 10, 10);
    let outside = d.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim.png"), b"precious").unwrap();
    let out = d.join("out");
    fs::create_dir(&out).unwrap();
    // A folder link and a file link, planted inside the output folder.
    std::os::unix::fs::symlink(&outside, out.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("victim.png"), out.join("victim.png")).unwrap();
    let absolute = outside.join("abs.png");
    let lines = [
        r#"{"path": "a.png", "output": "../evil.png"}"#.to_string(),
        r#"{"path": "a.png", "output": "sub/../../evil2.png"}"#.to_string(),
        format!(r#"{{"path": "a.png", "output": "{}"}}"#, absolute.display()),
        r#"{"path": "a.png", "output": "link/x.png"}"#.to_string(),
        r#"{"path": "a.png", "output": "link/new/deeper/y.png"}"#.to_string(),
        r#"{"path": "a.png", "output": "victim.png"}"#.to_string(),
        r#"{"path": "a.png", "output": "fine/ok.png"}"#.to_string(),
    ];
    fs::write(d.join("m.jsonl"), lines.join("\n")).unwrap();
    let cmd = convert_in(
        d,
        &[
            "-m",
            "m.jsonl",
            "-o",
            "out",
            "--on-exists",
            "overwrite",
            "--json",
        ],
    );
    let run = run_guarded(cmd, HANG);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let records = json_lines(&run.stdout);
    assert_eq!(records.len(), lines.len(), "{records:#?}");
    for escaping in [
        "../evil.png",
        "sub/../../evil2.png",
        "abs.png",
        "link/x.png",
        "link/new/deeper/y.png",
    ] {
        let r = records
            .iter()
            .find(|r| {
                r["error"].as_str().is_some_and(|e| e.contains(escaping))
                    || r["output"].as_str().is_some_and(|o| o.ends_with(escaping))
            })
            .unwrap_or_else(|| panic!("no record for {escaping}: {records:#?}"));
        assert_eq!(r["status"], "failed", "{escaping}: {r}");
        assert_eq!(r["error_class"], "name", "{escaping}: {r}");
    }
    // Nothing was created outside: not a file, not a folder.
    let mut outside_now: Vec<String> = fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    outside_now.sort();
    assert_eq!(outside_now, ["victim.png"]);
    assert_eq!(fs::read(outside.join("victim.png")).unwrap(), b"precious");
    assert!(!d.join("evil.png").exists() && !d.join("evil2.png").exists());
    // Overwriting a planted file link replaces the link, not its target.
    assert!(!out
        .join("victim.png")
        .symlink_metadata()
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(dims(&out.join("victim.png")), (10, 10));
    assert_eq!(dims(&out.join("fine/ok.png")), (10, 10));
    assert_no_temp_files(&out);
    assert_no_temp_files(&outside);
}

// --------------------------------------------------------------- odd inputs

#[cfg(unix)]
#[test]
fn symlink_loops_in_a_followed_walk_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    write_image(&src.join("a.png"), 10, 10);
    write_image(&src.join("sub/b.png"), 10, 10);
    std::os::unix::fs::symlink("..", src.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("self.png", src.join("self.png")).unwrap();
    let cmd = convert_in(
        dir.path(),
        &["in", "-o", "out", "--follow", "--report", "r.jsonl"],
    );
    let run = run_guarded(cmd, Duration::from_secs(20));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(files(&dir.path().join("out")), ["a.png", "sub/b.png"]);
    let report = report(&dir.path().join("r.jsonl"));
    let failed: Vec<_> = report.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert!(
        failed
            .iter()
            .any(|r| r["error"].as_str().unwrap().contains("loop")),
        "{failed:#?}"
    );
    assert!(
        failed
            .iter()
            .any(|r| r["input"].as_str().unwrap().contains("self.png")),
        "{failed:#?}"
    );
    assert!(
        failed.iter().all(|r| r["error_class"] == "read"),
        "{failed:#?}"
    );
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let r = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(r, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_fail_fast_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    mkfifo(&d.join("pipe.png"));
    mkfifo(&d.join("fifo"));
    write_image(&d.join("good.png"), 10, 10);
    // Named on the command line, with and without a format to sniff.
    for extra in [&[][..], &["-f", "jpeg"][..]] {
        let mut cmd = convert_in(
            d,
            &[
                "pipe.png",
                "fifo",
                "/dev/zero",
                "good.png",
                "-o",
                "out",
                "--report",
                "r.jsonl",
            ],
        );
        cmd.args(extra);
        let run = run_guarded(cmd, Duration::from_secs(20));
        assert_eq!(run.code, Some(1), "{extra:?}: {}", run.stderr);
        let report = report(&d.join("r.jsonl"));
        for input in ["pipe.png", "fifo", "/dev/zero"] {
            let r = record(&report, input);
            assert_eq!(r["status"], "failed", "{extra:?} {input}: {r}");
            assert_eq!(r["error_class"], "read", "{extra:?} {input}: {r}");
            assert!(
                r["error"].as_str().unwrap().contains("not a regular file"),
                "{extra:?} {input}: {r}"
            );
        }
        assert_eq!(record(&report, "good.png")["status"], "ok");
        fs::remove_dir_all(d.join("out")).unwrap();
    }
    // Met in a walk (followed or not): passed over, the walk goes on.
    let src = d.join("in");
    fs::create_dir(&src).unwrap();
    mkfifo(&src.join("pipe.png"));
    std::os::unix::fs::symlink(d.join("fifo"), src.join("link.png")).unwrap();
    write_image(&src.join("good.png"), 10, 10);
    let cmd = convert_in(d, &["in", "-o", "walked", "--follow", "-q"]);
    let run = run_guarded(cmd, Duration::from_secs(20));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(files(&d.join("walked")), ["good.png"]);
}

#[cfg(unix)]
#[test]
fn unreadable_empty_and_misnamed_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_image(&d.join("secret.png"), 10, 10);
    fs::set_permissions(d.join("secret.png"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::write(d.join("empty.png"), b"").unwrap();
    fs::write(d.join("empty"), b"").unwrap();
    // A PNG that calls itself a JPEG: decoded by content.
    let png = DynamicImage::ImageRgb8(gradient(40, 30));
    fs::write(d.join("liar.jpg"), encode(&png, ImageFormat::Png)).unwrap();
    let inputs = ["secret.png", "empty.png", "empty", "liar.jpg"];
    let mut cmd = convert_in(d, &inputs);
    cmd.args(["-o", "out", "--report", "r.jsonl"]);
    let run = run_guarded(cmd, Duration::from_secs(20));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let report = report(&d.join("r.jsonl"));

    let secret = record(&report, "secret.png");
    if is_root() {
        eprintln!("note: running as root, where mode 000 does not stop reads; not checking the unreadable file");
    } else {
        assert_eq!(secret["status"], "failed", "{secret}");
        assert_eq!(secret["error_class"], "read", "{secret}");
        assert!(
            secret["error"]
                .as_str()
                .unwrap()
                .contains("Permission denied"),
            "{secret}"
        );
    }
    for empty in ["empty.png", "empty"] {
        let r = record(&report, empty);
        assert_eq!(r["status"], "failed", "{r}");
        assert_eq!(r["error_class"], "decode", "{r}");
    }
    assert!(record(&report, "empty.png")["error"]
        .as_str()
        .unwrap()
        .contains("empty"));
    assert!(!d.join("out/empty.png").exists());

    // The output name says JPEG, so a JPEG is written from the PNG's pixels.
    assert_eq!(record(&report, "liar.jpg")["status"], "ok");
    let out = d.join("out/liar.jpg");
    assert_eq!(format_of(&out), ImageFormat::Jpeg);
    assert!(mean_abs_diff(&png, &open(&out)) < 3.0);
}

#[cfg(unix)]
#[test]
fn non_utf8_names_work_in_plain_lists_and_fail_per_row_in_csv_and_jsonl() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let latin1 = OsStr::from_bytes(b"caf\xe9.png");
    write_image(&d.join(latin1), 12, 10);
    write_image(&d.join("good.png"), 10, 10);

    fs::write(
        d.join("list.txt"),
        b"caf\xe9.png\nmissing\xff.png\ngood.png\n",
    )
    .unwrap();
    let run = run_guarded(
        convert_in(d, &["-m", "list.txt", "-o", "plain", "-q"]),
        Duration::from_secs(20),
    );
    assert_eq!(run.code, Some(1), "the missing file fails: {}", run.stderr);
    assert_eq!(
        dims(&d.join("plain").join(latin1)),
        (12, 10),
        "a Latin-1 name is a fine Unix name"
    );
    assert_eq!(dims(&d.join("plain/good.png")), (10, 10));

    fs::write(
        d.join("list.csv"),
        b"path,output\ncaf\xe9.png,x.png\ngood.png,g.png\n",
    )
    .unwrap();
    fs::write(
        d.join("list.jsonl"),
        b"{\"path\": \"good.png\", \"output\": \"g.png\"}\n{\"path\": \"caf\xe9.png\"}\n",
    )
    .unwrap();
    for (manifest, out) in [("list.csv", "csv"), ("list.jsonl", "jsonl")] {
        let cmd = convert_in(d, &["-m", manifest, "-o", out, "--report", "r.jsonl"]);
        let run = run_guarded(cmd, Duration::from_secs(20));
        assert_eq!(run.code, Some(1), "{manifest}: {}", run.stderr);
        let report = report(&d.join("r.jsonl"));
        assert_eq!(report.len(), 2, "{report:#?}");
        let bad = report.iter().find(|r| r["status"] == "failed").unwrap();
        assert_eq!(bad["error_class"], "manifest", "{bad}");
        assert!(
            bad["input"].as_str().unwrap().ends_with(":2"),
            "names the line: {bad}"
        );
        assert!(bad["error"].as_str().unwrap().contains("UTF-8"), "{bad}");
        assert_eq!(files(&d.join(out)), ["g.png"]);
    }
}

#[test]
fn broken_csv_rows_fail_alone_and_a_headerless_csv_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_image(&d.join("good.png"), 10, 10);
    fs::write(
        d.join("list.csv"),
        "path,output\ngood.png,a.png\ngood.png,b.png,surplus\n\ngood.png,c.png\n",
    )
    .unwrap();
    let cmd = convert_in(d, &["-m", "list.csv", "-o", "out", "--report", "r.jsonl"]);
    let run = run_guarded(cmd, Duration::from_secs(20));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let report = report(&d.join("r.jsonl"));
    let bad = record(&report, "list.csv:3");
    assert_eq!(bad["error_class"], "manifest");
    assert!(bad["error"].as_str().unwrap().contains("fields"), "{bad}");
    assert_eq!(files(&d.join("out")), ["a.png", "c.png"]);

    // A plain list of paths misread as CSV: no input column to use.
    fs::write(d.join("paths.csv"), "good.png\ngood.png\n").unwrap();
    let cmd = convert_in(d, &["-m", "paths.csv", "-o", "out2"]);
    let run = run_guarded(cmd, Duration::from_secs(20));
    // A setup error, as promised: nothing was done.
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("no url or path column"),
        "{}",
        run.stderr
    );
    assert!(files(&d.join("out2")).is_empty());
}

// -------------------------------------------------------------- hard stops

#[cfg(unix)]
#[test]
fn kill_9_mid_run_then_rerun_completes_with_whole_files_and_no_temps() {
    kill_9_then_rerun("rayon");
}

#[cfg(unix)]
#[test]
fn kill_9_mid_run_with_worker_processes_then_rerun_completes() {
    // The workers die with the parent (and their temps carry their own pids).
    kill_9_then_rerun("process");
}

#[cfg(unix)]
fn kill_9_then_rerun(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = d.join("in");
    fs::create_dir(&src).unwrap();
    // Noisy pixels, so each PNG takes real time to encode.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let img = image::RgbImage::from_fn(1500, 1500, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        image::Rgb([seed as u8, (seed >> 8) as u8, (seed >> 16) as u8])
    });
    let bytes = encode(&DynamicImage::ImageRgb8(img), ImageFormat::Png);
    for i in 0..60 {
        fs::write(src.join(format!("{i:02}.png")), &bytes).unwrap();
    }
    let out = d.join("out");
    let args = [
        "convert",
        "in",
        "-o",
        "out",
        "-j",
        "1",
        "-f",
        "png",
        "-q",
        "--backend",
        backend,
    ];
    let mut child = pixmill_std().current_dir(d).args(args).spawn().unwrap();
    let started = Instant::now();
    let finals = |dir: &Path| {
        files(dir)
            .into_iter()
            .filter(|f| !f.contains(".pixmill-"))
            .count()
    };
    while !out.exists() || finals(&out) < 3 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        assert!(started.elapsed() < HANG, "no outputs after {HANG:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The kill may or may not land mid-write; make sure the rerun meets what
    // a mid-write kill leaves: a half-written temp named with the dead run's
    // owner (machine, boot, PID namespace, pid), as its record names it.
    let records: Vec<String> = fs::read_dir(out.join(".pixmill-owners"))
        .expect("the killed run left its record")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let owner = records
        .iter()
        .find(|r| r.ends_with(&format!("-{}", child.id())))
        .unwrap_or_else(|| panic!("no record of pid {} in {records:?}", child.id()));
    let half = out.join(format!(".59.png.pixmill-{owner}-999.tmp"));
    fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let after_kill = files(&out);
    assert!(
        finals(&out) < 60,
        "the run was not interrupted: {after_kill:?}"
    );
    // Whatever has a final name is already whole.
    for f in after_kill.iter().filter(|f| !f.contains(".pixmill-")) {
        assert_eq!(dims(&out.join(f)), (1500, 1500), "{f}");
    }

    let mut again = pixmill_std();
    again.current_dir(d).args(args);
    let run = run_guarded(again, Duration::from_secs(300));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let expected: Vec<String> = (0..60).map(|i| format!("{i:02}.png")).collect();
    assert_eq!(files(&out), expected, "every output, and no temp file left");
    for f in &expected {
        assert_eq!(dims(&out.join(f)), (1500, 1500), "{f}");
    }
}

#[cfg(unix)]
struct Mount(PathBuf);

#[cfg(unix)]
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a tmpfs of `size` (as `mount -o size=` reads it) on a new folder
/// `small`; `None` when that is not allowed and the caller should skip.
#[cfg(unix)]
fn small_disk(small: &Path, size: &str, test: &str) -> Option<Mount> {
    fs::create_dir(small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(small)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        // A test that passes without running hides a gap: it needs root
        // (to mount a small tmpfs) unless skipping is asked for by name.
        assert!(
            std::env::var_os("PIXMILL_SKIP_ROOT_TESTS").is_some(),
            "{test} needs root to mount a {size} tmpfs; run as root, \
             or set PIXMILL_SKIP_ROOT_TESTS=1 to skip it knowingly"
        );
        eprintln!("SKIPPED {test}: PIXMILL_SKIP_ROOT_TESTS is set");
        return None;
    }
    Some(Mount(small.to_path_buf()))
}

#[cfg(unix)]
#[test]
fn a_full_disk_fails_the_items_that_do_not_fit_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small = d.join("small");
    let test = "a_full_disk_fails_the_items_that_do_not_fit_and_only_those";
    let Some(_unmount) = small_disk(&small, "2m", test) else {
        return;
    };
    // Ten noisy 400x400 PNGs of ~480 KB each: about four fit in 2 MB.
    let src = d.join("in");
    fs::create_dir(&src).unwrap();
    for i in 0..10u64 {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ i;
        let img = image::RgbImage::from_fn(400, 400, |_, _| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            image::Rgb([seed as u8, (seed >> 8) as u8, (seed >> 16) as u8])
        });
        img.save(src.join(format!("{i}.png"))).unwrap();
    }
    let mut cmd = convert_in(d, &["in", "-f", "png", "-j", "1", "--report", "r.jsonl"]);
    cmd.arg("-o").arg(&small);
    let run = run_guarded(cmd, HANG);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let report = report(&d.join("r.jsonl"));
    let ok: Vec<_> = report.iter().filter(|r| r["status"] == "ok").collect();
    let failed: Vec<_> = report.iter().filter(|r| r["status"] == "failed").collect();
    assert!(!ok.is_empty() && !failed.is_empty(), "{report:#?}");
    assert_eq!(ok.len() + failed.len(), 10);
    for r in &failed {
        assert_eq!(r["error_class"], "write", "{r}");
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .contains("No space left on device"),
            "{r}"
        );
    }
    // Only whole files under final names; the failed ones left nothing.
    let written = files(&small);
    assert_eq!(written.len(), ok.len(), "{written:?}");
    for f in &written {
        assert_eq!(dims(&small.join(f)), (400, 400), "{f}");
    }
    assert_no_temp_files(&small);
}

/// A download that runs out of room names the output asked for, not the
/// temp file it was being written under.
#[cfg(unix)]
#[test]
fn a_download_on_a_full_disk_names_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small = d.join("small");
    let test = "a_download_on_a_full_disk_names_its_output";
    let Some(_unmount) = small_disk(&small, "64k", test) else {
        return;
    };
    let server = common::server::Server::start();
    server.add("big.bin", vec![7u8; 1 << 20]);
    let mut cmd = pixmill_std();
    cmd.current_dir(d)
        .args(["fetch", "--retries", "0", "--report", "r.jsonl", "-o"])
        .arg(&small)
        .arg(server.url("/f/big.bin"));
    let run = run_guarded(cmd, HANG);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let report = report(&d.join("r.jsonl"));
    assert_eq!(report.len(), 1, "{report:#?}");
    let r = &report[0];
    assert_eq!(r["error_class"], "write", "{r}");
    let error = r["error"].as_str().unwrap();
    let wanted = format!("cannot write {}: ", small.join("big.bin").display());
    assert!(error.starts_with(&wanted), "{error}");
    assert!(error.ends_with("No space left on device"), "{error}");
    assert_no_temp_files(&small);
}

#[test]
fn an_output_folder_that_cannot_be_made_stops_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_image(&d.join("a.png"), 10, 10);
    fs::write(d.join("plain-file"), b"x").unwrap();
    for out in ["/proc/pixmill-forbidden", "plain-file/sub"] {
        let cmd = convert_in(d, &["a.png", "-o", out, "--report", "r.jsonl"]);
        let run = run_guarded(cmd, Duration::from_secs(20));
        assert_eq!(run.code, Some(2), "{out}: {}", run.stderr);
        assert!(
            run.stderr.contains("cannot use output folder"),
            "{out}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("a.png"),
            "no item was attempted: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
    }
    assert!(!Path::new("/proc/pixmill-forbidden").exists());
}

/// Under a limit on threads (a container's pids.max, `ulimit -u`) the run
/// never panics: it goes on with the download threads it could start (or
/// on one), or stops at once with a one-line setup error (exit 2). Run as
/// an unprivileged user, since root is not held to `RLIMIT_NPROC`.
#[cfg(unix)]
#[test]
fn a_limit_on_threads_is_a_warning_or_a_setup_error_never_a_panic() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    if !is_root() {
        eprintln!("note: not root, so the run cannot be moved to another user; not checking");
        return;
    }
    // Another user must be able to reach the binary (a checkout under
    // /root is not).
    let bin = Path::new(env!("CARGO_BIN_EXE_pixmill"));
    let reachable = bin.ancestors().all(|p| {
        fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0 || p == Path::new(""))
    });
    if !reachable {
        eprintln!(
            "note: {} is not reachable by other users; not checking",
            bin.display()
        );
        return;
    }
    let server = common::server::Server::start();
    server.add(
        "a.png",
        encode(&DynamicImage::ImageRgb8(gradient(20, 10)), ImageFormat::Png),
    );
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let mut outcomes = Vec::new();
    for limit in [2, 4, 6, 8, 12, 24, 48] {
        for mode in ["fetch", "convert"] {
            let out = format!("o-{mode}-{limit}");
            let mut cmd = pixmill_std();
            cmd.current_dir(dir.path())
                .args([mode, &server.url("/f/a.png"), "-o", &out, "-q"]);
            // SAFETY: setrlimit, setgid and setuid are async-signal-safe
            // and change only the child.
            unsafe {
                cmd.pre_exec(move || {
                    let nproc = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NPROC, &nproc) != 0
                        || libc::setgid(65534) != 0
                        || libc::setuid(65534) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let run = run_guarded(cmd, Duration::from_secs(30));
            assert!(
                !run.stderr.contains("panicked"),
                "{mode} at {limit}: {}",
                run.stderr
            );
            match run.code {
                Some(0) => assert!(
                    dir.path().join(&out).join("a.png").is_file(),
                    "{mode} at {limit}: {}",
                    run.stderr
                ),
                Some(2) => assert!(
                    run.stderr
                        .lines()
                        .any(|l| l.starts_with("pixmill: cannot start")),
                    "{mode} at {limit}: {}",
                    run.stderr
                ),
                // The HTTP client's own thread could not start: the item
                // fails, saying why.
                Some(1) => assert!(
                    run.stderr
                        .contains("cannot create HTTP client: Resource temporarily unavailable"),
                    "{mode} at {limit}: {}",
                    run.stderr
                ),
                other => panic!("{mode} at {limit}: exit {other:?}: {}", run.stderr),
            }
            outcomes.push(run.code);
        }
    }
    // The limits span both outcomes.
    assert!(outcomes.contains(&Some(0)), "{outcomes:?}");
    assert!(outcomes.contains(&Some(2)), "{outcomes:?}");
}
