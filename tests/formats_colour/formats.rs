//! Formats beyond the image crate's (HEIC, AVIF, JPEG XL), AVIF output,
//! formats pixmill cannot read, animations and multi-page files.

use crate::common;

use common::*;
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

fn formats_fixture(name: &str) -> PathBuf {
    fixtures().join("formats").join(name)
}

/// Runs `pixmill convert INPUT -o OUT ARGS --json` and returns its record.
fn convert_json(input: &Path, out: &Path, args: &[&str]) -> serde_json::Value {
    let output = convert_cmd(input, out)
        .args(args)
        .args(["--json", "-q"])
        .output()
        .unwrap();
    let records = json_lines(&output.stdout_text());
    assert_eq!(records.len(), 1, "{}", output.stderr_text());
    records.into_iter().next().unwrap()
}

fn warnings(record: &serde_json::Value) -> Vec<String> {
    record["warnings"]
        .as_array()
        .map(|w| w.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

// ------------------------------------------------------- HEIC, AVIF, JXL in

#[test]
#[cfg(all(feature = "heif", feature = "jxl"))]
fn heic_avif_and_jpeg_xl_inputs_convert_with_their_size_and_colours() {
    use image::GenericImageView;
    let source = open(&formats_fixture("photo.png"));
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "photo.heic",
        "photo-10bit.heic",
        "photo.avif",
        "photo.jxl",
        "photo-boxed.jxl",
    ] {
        let out = dir.path().join(name);
        let record = convert_json(&formats_fixture(name), &out, &["-f", "png"]);
        assert_eq!(record["status"], "ok", "{name}: {record}");
        let stem = name.split('.').next().unwrap();
        let img = open(&out.join(format!("{stem}.png")));
        assert_eq!(img.dimensions(), (96, 64), "{name}");
        // Lossy at q92 / distance 0.5: a wrong colour matrix, range or
        // channel order would be off by tens of levels.
        let diff = mean_abs_diff(&img, &source);
        assert!(
            diff < 4.0,
            "{name}: mean abs diff {diff:.2} from the source"
        );
    }
}

/// Arithmetic-coded JPEGs (sequential and progressive) are read, by
/// libjpeg-turbo: the same coefficients Huffman-coded give the same pixels,
/// at full size and through shrink-on-load, with no warning.
#[test]
fn arithmetic_coded_jpegs_decode_like_their_huffman_twin() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["-f", "png"][..], &["-f", "png", "-r", "24"]] {
        let tag = args.len();
        let twin_out = dir.path().join(format!("huffman{tag}"));
        let record = convert_json(&formats_fixture("huffman.jpg"), &twin_out, args);
        assert_eq!(record["status"], "ok", "{record}");
        let twin = open(&twin_out.join("huffman.png"));
        for name in ["arithmetic.jpg", "arithmetic-progressive.jpg"] {
            let out = dir.path().join(format!("{name}{tag}"));
            let record = convert_json(&formats_fixture(name), &out, args);
            assert_eq!(record["status"], "ok", "{name} {args:?}: {record}");
            assert!(warnings(&record).is_empty(), "{name}: {record}");
            let stem = name.split('.').next().unwrap();
            let img = open(&out.join(format!("{stem}.png")));
            let diff = mean_abs_diff(&img, &twin);
            assert!(
                diff < 0.5,
                "{name} {args:?}: {diff:.2} from the Huffman twin"
            );
        }
    }
    // Its header is read for the filters too: 96x64 is under --min-size 80.
    let out = dir.path().join("filtered");
    let record = convert_json(
        &formats_fixture("arithmetic.jpg"),
        &out,
        &["--min-size", "80"],
    );
    assert_eq!(record["status"], "skipped", "{record}");
}

/// HEIC/AVIF files that say what their numbers are only with `nclx` code
/// points (Display P3 with the sRGB curve; BT.2020 with its own curve, at
/// 10 bits) come out as the sRGB gradient they were made from. Taking their
/// numbers as sRGB, as `--colour keep` does, is 11 to 19 levels off.
#[test]
#[cfg(feature = "heif")]
fn nclx_only_heif_inputs_are_converted_to_srgb() {
    let source = open(&formats_fixture("colours.png"));
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "colours-p3.heic",
        "colours-p3.avif",
        "colours-bt2020-10bit.avif",
    ] {
        let stem = name.split('.').next().unwrap();
        let mut diff = [0.0; 2];
        for (i, mode) in ["srgb", "keep"].into_iter().enumerate() {
            let out = dir.path().join(mode).join(name);
            let record = convert_json(
                &formats_fixture(name),
                &out,
                &["-f", "png", "--colour", mode],
            );
            assert_eq!(record["status"], "ok", "{name}: {record}");
            assert!(warnings(&record).is_empty(), "{name}: {record}");
            diff[i] = mean_abs_diff(&open(&out.join(format!("{stem}.png"))), &source);
        }
        let [managed, kept] = diff;
        // Lossy coding alone is about 1 level off here.
        assert!(managed < 2.0, "{name}: {managed:.2} levels from the source");
        assert!(
            kept > 10.0,
            "{name}: the numbers as stored are only {kept:.2} off"
        );
    }
}

#[test]
#[cfg(all(feature = "heif", feature = "jxl"))]
fn heif_inputs_are_resized_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["photo.heic", "photo.avif", "photo.jxl"] {
        let out = dir.path().join(name);
        let record = convert_json(
            &formats_fixture(name),
            &out,
            &["-f", "png", "--resize", "48x48"],
        );
        assert_eq!(record["status"], "ok", "{name}: {record}");
        assert_eq!(
            (record["width_in"].as_u64(), record["height_in"].as_u64()),
            (Some(96), Some(64))
        );
        assert_eq!(
            dims(&out.join(format!("{}.png", name.split('.').next().unwrap()))),
            (48, 32)
        );
    }
}

#[test]
#[cfg(all(feature = "heif", feature = "jxl"))]
fn heic_and_jpeg_xl_become_jpeg_when_no_format_is_given() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["photo.heic", "photo.jxl"] {
        let out = dir.path().join(name);
        convert_cmd(formats_fixture(name), &out)
            .arg("-q")
            .assert()
            .success();
        let jpg = out.join("photo.jpg");
        assert_eq!(format_of(&jpg), image::ImageFormat::Jpeg, "{name}");
    }
    // AVIF is written too, so it stays AVIF.
    let out = dir.path().join("avif");
    convert_cmd(formats_fixture("photo.avif"), &out)
        .arg("-q")
        .assert()
        .success();
    let bytes = fs::read(out.join("photo.avif")).unwrap();
    assert_eq!(&bytes[4..12], b"ftypavif");
}

#[test]
#[cfg(all(feature = "heif", feature = "jxl"))]
fn avif_alpha_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let record = convert_json(&formats_fixture("alpha.avif"), dir.path(), &["-f", "png"]);
    assert_eq!(record["status"], "ok", "{record}");
    let img = open(&dir.path().join("alpha.png")).to_rgba8();
    let want = open(&formats_fixture("alpha.png")).to_rgba8();
    assert_eq!(img.dimensions(), want.dimensions());
    let alpha_diff: f64 = img
        .pixels()
        .zip(want.pixels())
        .map(|(a, b)| f64::from(a.0[3].abs_diff(b.0[3])))
        .sum::<f64>()
        / f64::from(img.width() * img.height());
    assert!(
        alpha_diff < 3.0,
        "alpha differs by {alpha_diff:.2} on average"
    );
    assert!(img.get_pixel(0, 0).0[3] > 240 && img.get_pixel(0, 47).0[3] < 15);
}

#[test]
#[cfg(all(feature = "heif", feature = "jxl"))]
fn heif_input_over_max_pixels_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let record = convert_json(
        &formats_fixture("photo.heic"),
        dir.path(),
        &["-f", "png", "--max-pixels", "1000"],
    );
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error_class"], "too_large", "{record}");
    assert!(
        record["error"].as_str().unwrap().contains("96x64"),
        "{record}"
    );
}

// --------------------------------------------------------------- AVIF out

#[test]
#[cfg(all(feature = "heif", feature = "jxl"))]
fn avif_output_decodes_back_at_the_right_size_and_colours() {
    use image::{DynamicImage, GenericImageView};
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.png");
    write_image(&src, 120, 80);
    let out = dir.path().join("out");
    let record = convert_json(&src, &out, &["-f", "avif", "--resize", "60"]);
    assert_eq!(record["status"], "ok", "{record}");
    let avif = out.join("src.avif");
    let bytes = fs::read(&avif).unwrap();
    assert_eq!(&bytes[4..12], b"ftypavif", "an AVIF file");

    // Back through pixmill's own decoder...
    let back = dir.path().join("back");
    convert_cmd(&avif, &back)
        .args(["-f", "png", "-q"])
        .assert()
        .success();
    let img = open(&back.join("src.png"));
    assert_eq!(img.dimensions(), (60, 40));
    let want =
        DynamicImage::ImageRgb8(gradient(120, 80)).resize_exact(60, 40, image::imageops::Lanczos3);
    let diff = mean_abs_diff(&img, &want);
    assert!(diff < 4.0, "mean abs diff {diff:.2}");

    // ...and through libheif's own tool, when it is installed.
    if let Ok(status) = std::process::Command::new("heif-dec")
        .arg(&avif)
        .arg(dir.path().join("heif-dec.png"))
        .stdout(std::process::Stdio::null())
        .status()
    {
        assert!(status.success(), "heif-dec rejects pixmill's AVIF");
        assert_eq!(dims(&dir.path().join("heif-dec.png")), (60, 40));
    }
}

#[test]
#[cfg(all(feature = "heif", feature = "jxl"))]
fn avif_quality_trades_size() {
    let dir = tempfile::tempdir().unwrap();
    let src = formats_fixture("photo.png");
    let size = |q: &str| {
        let out = dir.path().join(q);
        convert_cmd(&src, &out)
            .args(["-f", "avif", "--quality", q, "-q"])
            .assert()
            .success();
        fs::metadata(out.join("photo.avif")).unwrap().len()
    };
    let (low, high) = (size("20"), size("90"));
    assert!(low < high, "--quality 20 gave {low} bytes, 90 gave {high}");
}

#[test]
#[cfg(feature = "heif")]
fn a_downloaded_heic_without_an_extension_is_recognised_and_becomes_jpeg() {
    let server = common::server::Server::start();
    server.add("photo", fs::read(formats_fixture("photo.heic")).unwrap());
    server.add("layers", b"8BPS\0\x01\0\0\0\0\0\0\0\x03".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let out = pixmill()
        .args(["convert", "-o"])
        .arg(dir.path())
        .args([server.url("/f/photo"), server.url("/f/layers")])
        .args(["--json", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let records = json_lines(&out.stdout_text());
    let by_url = |part: &str| {
        records
            .iter()
            .find(|r| r["input"].as_str().unwrap().ends_with(part))
            .unwrap()
    };
    assert_eq!(by_url("/photo")["status"], "ok", "{records:?}");
    assert_eq!(
        format_of(&dir.path().join("photo.jpg")),
        image::ImageFormat::Jpeg
    );
    let psd = by_url("/layers");
    assert_eq!(psd["error"], "Photoshop PSD image: not supported", "{psd}");
}

// ----------------------------------------------------- mixed and unreadable

#[test]
#[cfg(all(feature = "heif", feature = "jxl"))]
fn a_folder_of_mixed_formats_converts_every_image() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    for name in ["a.jpg", "b.png", "c.gif", "d.webp", "e.bmp", "f.tif"] {
        write_image(&src.join(name), 40, 30);
    }
    for (from, to) in [
        ("photo.heic", "g.heic"),
        ("photo.avif", "h.avif"),
        ("photo.jxl", "i.jxl"),
        ("anim.webp", "j.webp"),
    ] {
        fs::copy(formats_fixture(from), src.join(to)).unwrap();
    }
    let out = dir.path().join("out");
    convert_cmd(&src, &out)
        .args(["-f", "png", "--resize", "32", "-q"])
        .assert()
        .success();
    let mut got = files(&out);
    got.sort();
    let want: Vec<String> = "abcdefghij".chars().map(|c| format!("{c}.png")).collect();
    assert_eq!(got, want);
}

#[test]
fn an_input_pixmill_cannot_read_fails_naming_its_format() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "layers.psd",
            b"8BPS\0\x01\0\0\0\0\0\0\0\x03\0\0\0\x10",
            "Photoshop PSD image: not supported",
        ),
        (
            "pic.qoi",
            b"qoif\0\0\0\x10\0\0\0\x10\x04\0",
            "QOI image: not supported",
        ),
        (
            "doc.pdf",
            b"%PDF-1.7\n%\xE2\xE3\n",
            "PDF document: not supported",
        ),
    ];
    for (name, bytes, reason) in cases {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        let out = convert_cmd(&path, dir.path().join("out"))
            .arg("-q")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = out.stderr_text();
        assert!(stderr.contains(reason), "{name}: {stderr}");
        assert!(!stderr.contains("unknown"), "{name}: {stderr}");
    }
}

#[test]
#[cfg(not(feature = "heif"))]
fn without_libheif_a_heic_input_fails_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert_cmd(formats_fixture("photo.heic"), dir.path())
        .arg("-q")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = out.stderr_text();
    assert!(
        stderr.contains("HEIC/HEIF image: this build has no HEIF support"),
        "{stderr}"
    );
}

// ------------------------------------------------------------- animations

/// Frames as (size, delay in ms, centre colour), read with the image crate.
fn frames_of(bytes: &[u8], format: image::ImageFormat) -> Vec<((u32, u32), u32, [u8; 3])> {
    let frames = decode_frames(bytes, format);
    frames
        .into_iter()
        .map(|f| {
            let (n, d) = f.delay().numer_denom_ms();
            let buf = f.into_buffer();
            let (w, h) = buf.dimensions();
            let p = buf.get_pixel(w / 2, h / 2).0;
            ((w, h), n / d, [p[0], p[1], p[2]])
        })
        .collect()
}

/// Each frame's colour is within lossy tolerance of red, green, blue.
fn assert_rgb_sequence(frames: &[((u32, u32), u32, [u8; 3])]) {
    let want = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
    for (f, w) in frames.iter().zip(want) {
        let close = f.2.iter().zip(w).all(|(a, b)| a.abs_diff(b) < 24);
        assert!(close, "frame colour {:?}, want {w:?}", f.2);
    }
}

fn webp_loop_count(bytes: &[u8]) -> image_webp::LoopCount {
    image_webp::WebPDecoder::new(Cursor::new(bytes))
        .unwrap()
        .loop_count()
}

#[test]
fn animated_gif_to_gif_keeps_frames_delays_and_loop_count() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("anim.gif");
    fs::write(&src, three_frame_gif([10, 25, 40], gif::Repeat::Finite(2))).unwrap();
    let out = dir.path().join("out");
    let record = convert_json(&src, &out, &["--resize", "32"]);
    assert_eq!(record["status"], "ok", "{record}");
    assert!(warnings(&record).is_empty(), "{record}");
    let bytes = fs::read(out.join("anim.gif")).unwrap();
    let frames = frames_of(&bytes, image::ImageFormat::Gif);
    let sizes_delays: Vec<_> = frames.iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(
        sizes_delays,
        [((32, 24), 100), ((32, 24), 250), ((32, 24), 400)]
    );
    assert_rgb_sequence(&frames);
    let mut options = gif::DecodeOptions::new();
    options.skip_frame_decoding(true);
    let mut decoder = options.read_info(Cursor::new(&bytes)).unwrap();
    while decoder.next_frame_info().unwrap().is_some() {}
    assert_eq!(decoder.repeat(), gif::Repeat::Finite(2));
}

#[test]
fn animated_gif_to_webp_keeps_frames_delays_and_looping() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("anim.gif");
    fs::write(&src, three_frame_gif([10, 25, 40], gif::Repeat::Infinite)).unwrap();
    let out = dir.path().join("out");
    let record = convert_json(
        &src,
        &out,
        &["-f", "webp", "--resize", "32x32", "--fit", "cover"],
    );
    assert_eq!(record["status"], "ok", "{record}");
    let bytes = fs::read(out.join("anim.webp")).unwrap();
    let frames = frames_of(&bytes, image::ImageFormat::WebP);
    let sizes_delays: Vec<_> = frames.iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(
        sizes_delays,
        [((32, 32), 100), ((32, 32), 250), ((32, 32), 400)]
    );
    assert_rgb_sequence(&frames);
    assert_eq!(webp_loop_count(&bytes), image_webp::LoopCount::Forever);
}

#[test]
fn apng_to_png_keeps_frames_delays_and_plays() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("anim.png");
    fs::write(&src, three_frame_apng([50, 120, 300], 4)).unwrap();
    let out = dir.path().join("out");
    let record = convert_json(&src, &out, &["--resize", "16x16", "--fit", "contain"]);
    assert_eq!(record["status"], "ok", "{record}");
    let bytes = fs::read(out.join("anim.png")).unwrap();
    let frames = frames_of(&bytes, image::ImageFormat::Png);
    let sizes_delays: Vec<_> = frames.iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(
        sizes_delays,
        [((16, 16), 50), ((16, 16), 120), ((16, 16), 300)]
    );
    assert_rgb_sequence(&frames);
    let reader = png::Decoder::new(Cursor::new(&bytes)).read_info().unwrap();
    let actl = reader.info().animation_control.unwrap();
    assert_eq!((actl.num_frames, actl.num_plays), (3, 4));
}

#[test]
fn animated_webp_to_webp_keeps_frames_delays_and_loop_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let record = convert_json(&formats_fixture("anim.webp"), &out, &["--resize", "32"]);
    assert_eq!(record["status"], "ok", "{record}");
    let bytes = fs::read(out.join("anim.webp")).unwrap();
    let frames = frames_of(&bytes, image::ImageFormat::WebP);
    let sizes_delays: Vec<_> = frames.iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(
        sizes_delays,
        [((32, 24), 120), ((32, 24), 80), ((32, 24), 250)]
    );
    assert_rgb_sequence(&frames);
    let three = std::num::NonZeroU16::new(3).unwrap();
    assert_eq!(webp_loop_count(&bytes), image_webp::LoopCount::Times(three));
}

#[test]
fn an_animation_to_a_still_format_keeps_the_first_frame_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("anim.gif");
    fs::write(&src, three_frame_gif([10, 10, 10], gif::Repeat::Infinite)).unwrap();
    let out = dir.path().join("out");
    let output = convert_cmd(&src, &out)
        .args(["-f", "jpeg", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let record = &json_lines(&output.stdout_text())[0];
    assert_eq!(record["status"], "ok");
    let w = warnings(record);
    assert_eq!(w.len(), 1, "{record}");
    assert!(w[0].contains("first of 3 frames"), "{w:?}");
    assert!(output.stderr_text().contains("warning: animation"));
    let img = open(&out.join("anim.jpg")).to_rgb8();
    let p = img.get_pixel(32, 24).0;
    assert!(
        p[0] > 230 && p[1] < 30 && p[2] < 30,
        "the red first frame, got {p:?}"
    );
}

#[test]
fn a_multi_page_tiff_keeps_the_first_page_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("pages.tif");
    {
        let file = fs::File::create(&src).unwrap();
        let mut tiff = tiff::encoder::TiffEncoder::new(file).unwrap();
        for c in [[200u8, 0, 0], [0, 0, 200]] {
            let data: Vec<u8> = c.iter().copied().cycle().take(20 * 10 * 3).collect();
            tiff.write_image::<tiff::encoder::colortype::RGB8>(20, 10, &data)
                .unwrap();
        }
    }
    let record = convert_json(&src, &dir.path().join("out"), &["-f", "png"]);
    assert_eq!(record["status"], "ok", "{record}");
    assert_eq!(
        warnings(&record),
        ["multi-page TIFF: kept the first of 2 pages"]
    );
    let img = open(&dir.path().join("out/pages.png")).to_rgb8();
    assert_eq!(img.get_pixel(5, 5).0, [200, 0, 0]);
}

/// A TIFF whose three IFDs form a cycle (the last points back to the
/// first) has three pages, counted once each: not "2", where the decoder's
/// cycle check used to stop the count, and no endless walk.
#[test]
fn a_tiff_whose_pages_form_a_cycle_counts_each_page_once() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("cycle.tif");
    let mut bytes = std::io::Cursor::new(Vec::new());
    {
        let mut tiff = tiff::encoder::TiffEncoder::new(&mut bytes).unwrap();
        for c in [[200u8, 0, 0], [0, 200, 0], [0, 0, 200]] {
            let data: Vec<u8> = c.iter().copied().cycle().take(8 * 4 * 3).collect();
            tiff.write_image::<tiff::encoder::colortype::RGB8>(8, 4, &data)
                .unwrap();
        }
    }
    let mut bytes = bytes.into_inner();
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let first = u32_at(&bytes, 4);
    let mut ifd = first as usize;
    let mut count = 0;
    loop {
        let entries = u16::from_le_bytes([bytes[ifd], bytes[ifd + 1]]) as usize;
        let next_at = ifd + 2 + entries * 12;
        count += 1;
        match u32_at(&bytes, next_at) {
            0 => {
                bytes[next_at..next_at + 4].copy_from_slice(&first.to_le_bytes());
                break;
            }
            next => ifd = next as usize,
        }
    }
    assert_eq!(count, 3);
    fs::write(&src, &bytes).unwrap();
    let record = convert_json(&src, &dir.path().join("out"), &["-f", "png"]);
    assert_eq!(record["status"], "ok", "{record}");
    assert_eq!(
        warnings(&record),
        ["multi-page TIFF: kept the first of 3 pages"]
    );
    let img = open(&dir.path().join("out/cycle.png")).to_rgb8();
    assert_eq!(img.get_pixel(1, 1).0, [200, 0, 0]);
}

#[test]
#[cfg(all(feature = "heif", feature = "jxl"))]
fn size_filters_read_heic_avif_and_jpeg_xl_headers() {
    // The fixtures are 96x64: shorter side 64, aspect 1.5.
    let dir = tempfile::tempdir().unwrap();
    let names = ["photo.heic", "photo.avif", "photo.jxl", "photo-boxed.jxl"];
    let cases: [(&[&str], &str); 3] = [
        (
            &["--min-size", "65"],
            "image is 96x64, shorter side under --min-size 65",
        ),
        (
            &["--max-aspect", "1.4"],
            "image is 96x64, aspect ratio 1.50 over --max-aspect 1.4",
        ),
        (&["--min-size", "64", "--max-aspect", "1.5"], ""),
    ];
    for name in names {
        for (n, (filters, reason)) in cases.iter().enumerate() {
            let out = dir.path().join(format!("{name}-{n}"));
            let mut args = vec!["-f", "png"];
            args.extend_from_slice(filters);
            let record = convert_json(&formats_fixture(name), &out, &args);
            match reason.is_empty() {
                true => assert_eq!(record["status"], "ok", "{name} {filters:?}: {record}"),
                false => {
                    assert_eq!(record["status"], "skipped", "{name} {filters:?}: {record}");
                    assert_eq!(record["reason"], *reason, "{name}");
                }
            }
        }
    }
}
