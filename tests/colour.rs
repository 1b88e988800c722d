//! Colour management, end to end: wide-gamut inputs (made here by
//! converting an sRGB picture into Display P3, Adobe RGB or ProPhoto with
//! the profile embedded) come out as the sRGB original, on both backends
//! and both JPEG decode paths.

mod common;

use common::{mean_abs_diff, open, pixmill};
use image::{DynamicImage, ImageEncoder, RgbImage};
use moxcms::{ColorProfile, Layout, TransformOptions};
use std::fs;
use std::path::Path;

/// The sRGB original: smooth, and reaching saturated colours.
fn original() -> RgbImage {
    let (w, h) = (240u32, 160u32);
    RgbImage::from_fn(w, h, |x, y| {
        let r = (x * 255 / (w - 1)) as u8;
        let g = (y * 255 / (h - 1)) as u8;
        let b = 255 - ((x + y) * 255 / (w + h - 2)) as u8;
        image::Rgb([r, g, b])
    })
}

fn profile(name: &str) -> ColorProfile {
    match name {
        "p3" => ColorProfile::new_display_p3(),
        "adobe" => ColorProfile::new_adobe_rgb(),
        "prophoto" => ColorProfile::new_pro_photo_rgb(),
        "srgb" => ColorProfile::new_srgb(),
        other => panic!("no profile {other}"),
    }
}

/// `img` re-expressed in `to`'s numbers, 8 bits a sample.
fn to_profile8(img: &RgbImage, to: &ColorProfile) -> Vec<u8> {
    let t = ColorProfile::new_srgb()
        .create_transform_8bit(Layout::Rgb, to, Layout::Rgb, TransformOptions::default())
        .unwrap();
    let mut out = vec![0u8; img.as_raw().len()];
    t.transform(img.as_raw(), &mut out).unwrap();
    out
}

/// `img` re-expressed in `to`'s numbers, 16 bits a sample.
fn to_profile16(img: &RgbImage, to: &ColorProfile) -> Vec<u16> {
    let t = ColorProfile::new_srgb()
        .create_transform_16bit(Layout::Rgb, to, Layout::Rgb, TransformOptions::default())
        .unwrap();
    let src: Vec<u16> = img.as_raw().iter().map(|&v| u16::from(v) * 257).collect();
    let mut out = vec![0u16; src.len()];
    t.transform(&src, &mut out).unwrap();
    out
}

fn jpeg_with_icc(rgb: &[u8], w: u32, h: u32, icc: Option<&[u8]>, progressive: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 100);
    enc.set_progressive(progressive);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
    if let Some(icc) = icc {
        enc.add_icc_profile(icc).unwrap();
    }
    enc.encode(rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

fn png16_with_icc(rgb: &[u16], w: u32, h: u32, icc: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut out);
    enc.set_icc_profile(icc.to_vec()).unwrap();
    let bytes: Vec<u8> = rgb.iter().flat_map(|v| v.to_ne_bytes()).collect();
    enc.write_image(&bytes, w, h, image::ExtendedColorType::Rgb16)
        .unwrap();
    out
}

/// Converts `input` (written as `name`) to PNG with `args`; the output.
fn convert(dir: &Path, name: &str, input: &[u8], args: &[&str]) -> (DynamicImage, String) {
    let src = dir.join(name);
    fs::write(&src, input).unwrap();
    let out = dir.join(format!("out-{}", args.join("").replace(['-', ' '], "")));
    let assert = pixmill()
        .arg("convert")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .args(["-f", "png"])
        .args(args)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    let stem = Path::new(name).file_stem().unwrap().to_string_lossy();
    (open(&out.join(format!("{stem}.png"))), stderr)
}

fn srgb_reference(dir: &Path, args: &[&str]) -> DynamicImage {
    let img = original();
    let jpeg = jpeg_with_icc(img.as_raw(), img.width(), img.height(), None, false);
    convert(dir, "reference.jpg", &jpeg, args).0
}

const RUNS: [&[&str]; 4] = [
    &["--backend", "rayon"],
    &["--backend", "process"],
    &["--backend", "rayon", "--resize", "100"],
    &["--backend", "process", "--resize", "100"],
];

#[test]
fn wide_gamut_jpegs_come_out_as_the_srgb_original() {
    let dir = tempfile::tempdir().unwrap();
    let img = original();
    for name in ["p3", "adobe", "prophoto"] {
        let p = profile(name);
        let icc = p.encode().unwrap();
        let wide = to_profile8(&img, &p);
        for progressive in [false, true] {
            let jpeg = jpeg_with_icc(&wide, img.width(), img.height(), Some(&icc), progressive);
            for args in RUNS {
                let file = format!("{name}-{progressive}.jpg");
                let (out, stderr) = convert(dir.path(), &file, &jpeg, args);
                assert!(!stderr.contains("warning"), "{stderr}");
                let reference = srgb_reference(dir.path(), args);
                let err = mean_abs_diff(&out, &reference);
                assert!(err <= 2.0, "{name} {args:?}: {err:.2} levels off");
                if args.len() == 2 {
                    let exact = mean_abs_diff(&out, &DynamicImage::ImageRgb8(img.clone()));
                    assert!(exact <= 2.0, "{name} {args:?}: {exact:.2} levels off");
                }
            }
        }
    }
}

#[test]
fn keep_leaves_the_numbers_and_embeds_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let img = original();
    let p3 = profile("p3");
    let icc = p3.encode().unwrap();
    let wide = to_profile8(&img, &p3);
    let jpeg = jpeg_with_icc(&wide, img.width(), img.height(), Some(&icc), false);
    let src = dir.path().join("p3.jpg");
    fs::write(&src, &jpeg).unwrap();
    for format in ["jpeg", "png", "webp", "tiff"] {
        let out = dir.path().join(format);
        pixmill()
            .arg("convert")
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .args(["-f", format, "--colour", "keep", "--quality", "100"])
            .assert()
            .success();
        let file = fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
        let data = fs::read(&file).unwrap();
        let embedded = icc_of(&data, format);
        assert_eq!(embedded.as_deref(), Some(&icc[..]), "{format}: profile");
        let numbers = RgbImage::from_raw(img.width(), img.height(), wide.clone()).unwrap();
        let err = mean_abs_diff(&open(&file), &DynamicImage::ImageRgb8(numbers));
        assert!(err <= 2.0, "{format}: numbers moved by {err:.2}");
    }
}

/// The ICC profile an encoded image carries, read with the image crate.
fn icc_of(data: &[u8], format: &str) -> Option<Vec<u8>> {
    use image::ImageDecoder;
    let c = std::io::Cursor::new(data);
    match format {
        "jpeg" => image::codecs::jpeg::JpegDecoder::new(c)
            .unwrap()
            .icc_profile(),
        "png" => image::codecs::png::PngDecoder::new(c)
            .unwrap()
            .icc_profile(),
        "webp" => image::codecs::webp::WebPDecoder::new(c)
            .unwrap()
            .icc_profile(),
        "tiff" => image::codecs::tiff::TiffDecoder::new(c)
            .unwrap()
            .icc_profile(),
        _ => unreachable!(),
    }
    .unwrap()
}

#[test]
fn sixteen_bit_wide_gamut_pngs_convert_without_banding() {
    let dir = tempfile::tempdir().unwrap();
    let img = original();
    let expected = DynamicImage::ImageRgb8(img.clone());
    for name in ["p3", "adobe", "prophoto"] {
        let p = profile(name);
        let png = png16_with_icc(
            &to_profile16(&img, &p),
            img.width(),
            img.height(),
            &p.encode().unwrap(),
        );
        for args in &RUNS[..2] {
            let (out, _) = convert(dir.path(), &format!("{name}.png"), &png, args);
            let err = mean_abs_diff(&out, &expected);
            assert!(err <= 0.6, "{name} {args:?}: {err:.2} levels off");
            let worst = out
                .to_rgb8()
                .as_raw()
                .iter()
                .zip(img.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            // An 8-bit transform of ProPhoto numbers is off by 3 or more here.
            assert!(worst <= 2, "{name}: a sample is {worst} levels off");
        }
    }
}

#[test]
fn an_unusable_profile_converts_as_srgb_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let img = original();
    let junk = b"this is not an ICC profile at all, just bytes".repeat(4);
    let jpeg = jpeg_with_icc(img.as_raw(), img.width(), img.height(), Some(&junk), false);
    let (out, stderr) = convert(dir.path(), "junk.jpg", &jpeg, &[]);
    assert!(
        stderr.contains("warning: colour profile not applied"),
        "{stderr}"
    );
    let err = mean_abs_diff(&out, &DynamicImage::ImageRgb8(img));
    assert!(err <= 2.0, "{err:.2} levels off");
}
