//! Colour management, end to end: wide-gamut inputs (made here by
//! converting an sRGB picture into Display P3, Adobe RGB or ProPhoto with
//! the profile embedded) come out as the sRGB original, on both backends
//! and both JPEG decode paths.

use crate::common;

use common::{
    decode_frames, mean_abs_diff, open, pixmill, pixmill_std, record, report, run_guarded, Said,
};
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
    let stderr = assert.stderr_text();
    let stem = Path::new(name).file_stem().unwrap().to_string_lossy();
    (open(&out.join(format!("{stem}.png"))), stderr)
}

fn srgb_reference(dir: &Path, args: &[&str]) -> DynamicImage {
    let img = original();
    let jpeg = jpeg_with_icc(img.as_raw(), img.width(), img.height(), None, false);
    convert(dir, "reference.jpg", &jpeg, args).0
}

/// Both backends; without a resize (the full decode) and with one small
/// enough to take the JPEG shrink-on-load path (DCT scaling).
const RUNS: [&[&str]; 4] = [
    &["--backend", "rayon"],
    &["--backend", "process"],
    &["--backend", "rayon", "--resize", "50"],
    &["--backend", "process", "--resize", "50"],
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

/// Writes the wide-gamut samples `bench/colour.sh` measures against libvips:
/// the sRGB image `$PIXMILL_COLOUR_SRC` re-expressed in each wide gamut, as
/// a JPEG (q100, 4:4:4) and a 16-bit PNG, with its profile embedded, plus
/// the original as `reference.png`, into `$PIXMILL_COLOUR_OUT`.
#[test]
#[ignore = "a generator for bench/colour.sh, not a test"]
fn write_bench_samples() {
    let (Ok(src), Ok(out)) = (
        std::env::var("PIXMILL_COLOUR_SRC"),
        std::env::var("PIXMILL_COLOUR_OUT"),
    ) else {
        panic!("set PIXMILL_COLOUR_SRC and PIXMILL_COLOUR_OUT");
    };
    let out = Path::new(&out);
    fs::create_dir_all(out).unwrap();
    let img = open(Path::new(&src)).to_rgb8();
    let (w, h) = img.dimensions();
    DynamicImage::ImageRgb8(img.clone())
        .save(out.join("reference.png"))
        .unwrap();
    for name in ["p3", "adobe", "prophoto"] {
        let p = profile(name);
        let icc = p.encode().unwrap();
        let jpeg = jpeg_with_icc(&to_profile8(&img, &p), w, h, Some(&icc), false);
        fs::write(out.join(format!("{name}.jpg")), jpeg).unwrap();
        let png = png16_with_icc(&to_profile16(&img, &p), w, h, &icc);
        fs::write(out.join(format!("{name}-16.png")), png).unwrap();
    }
}

/// sRGB's transfer curve, decoding.
fn srgb_decode(v: f64) -> f64 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// A CMYK printer profile (lut16 A2B0, XYZ connection) whose inks mix like
/// a Display P3 screen: the light left by C, M, Y (and dimmed by K) is the
/// P3 colour `255 - ink`. Its CLUT is exactly multilinear, so interpolation
/// adds no error, and it differs from the naive CMYK formula by the whole
/// P3-vs-sRGB gap: a decoder that ignores it is visibly off.
fn cmyk_profile() -> Vec<u8> {
    use moxcms::{DataColorSpace, LutDataType, LutStore, LutType, LutWarehouse, Matrix3d};
    let m = ColorProfile::new_display_p3().rgb_to_xyz_matrix();
    let entries = 256usize;
    let mut input = Vec::with_capacity(4 * entries);
    for _ in 0..4 {
        for i in 0..entries {
            let light = 1.0 - i as f64 / (entries - 1) as f64;
            input.push((srgb_decode(light) * 65535.0).round() as u16);
        }
    }
    // 2 points a side: the corners of the ink cube, C slowest, K fastest.
    let mut clut = Vec::with_capacity(16 * 3);
    for c in [0.0, 1.0] {
        for mm in [0.0, 1.0] {
            for y in [0.0, 1.0] {
                for k in [0.0, 1.0] {
                    let lin = [c * k, mm * k, y * k];
                    for row in m.v {
                        let xyz: f64 = (0..3).map(|j| row[j] * lin[j]).sum();
                        clut.push((xyz * 32768.0).round().min(65535.0) as u16);
                    }
                }
            }
        }
    }
    let output: Vec<u16> = (0..3)
        .flat_map(|_| (0..entries).map(|i| (i * 65535 / (entries - 1)) as u16))
        .collect();
    let lut = LutWarehouse::Lut(LutDataType {
        num_input_channels: 4,
        num_output_channels: 3,
        num_clut_grid_points: 2,
        matrix: Matrix3d::IDENTITY,
        num_input_table_entries: entries as u16,
        num_output_table_entries: entries as u16,
        input_table: LutStore::Store16(input),
        clut_table: LutStore::Store16(clut),
        output_table: LutStore::Store16(output),
        lut_type: LutType::Lut16,
    });
    let mut p = ColorProfile::new_srgb();
    p.color_space = DataColorSpace::Cmyk;
    p.pcs = DataColorSpace::Xyz;
    p.profile_class = moxcms::ProfileClass::OutputDevice;
    p.red_trc = None;
    p.green_trc = None;
    p.blue_trc = None;
    p.red_colorant = Default::default();
    p.green_colorant = Default::default();
    p.blue_colorant = Default::default();
    p.cicp = None;
    p.lut_a_to_b_perceptual = Some(lut.clone());
    p.lut_a_to_b_colorimetric = Some(lut);
    p.encode().unwrap()
}

#[test]
fn cmyk_jpegs_convert_through_their_profile() {
    let dir = tempfile::tempdir().unwrap();
    let img = original();
    let (w, h) = img.dimensions();
    let p3 = to_profile8(&img, &profile("p3"));
    let inks: Vec<u8> = p3
        .chunks_exact(3)
        .flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 0])
        .collect();
    let icc = cmyk_profile();
    let expected = DynamicImage::ImageRgb8(img);
    for kind in [
        jpeg_encoder::ColorType::Cmyk,
        jpeg_encoder::ColorType::CmykAsYcck,
    ] {
        let mut jpeg = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut jpeg, 100);
        enc.add_icc_profile(&icc).unwrap();
        enc.encode(&inks, w as u16, h as u16, kind).unwrap();
        for args in RUNS {
            let (out, stderr) = convert(dir.path(), &format!("{kind:?}.jpg"), &jpeg, args);
            assert!(!stderr.contains("warning"), "{stderr}");
            let reference = srgb_reference(dir.path(), args);
            let err = mean_abs_diff(&out, &reference);
            assert!(err <= 2.0, "{kind:?} {args:?}: {err:.2} levels off");
            if args.len() == 2 {
                let err = mean_abs_diff(&out, &expected);
                assert!(err <= 2.0, "{kind:?} {args:?}: {err:.2} levels off");
            }
        }
    }
}

/// sRGB's transfer curve, encoding.
fn srgb_encode(v: f64) -> f64 {
    if v <= 0.0031308 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// PngSuite greyscale files with a `gAMA` chunk come out as the PNG
/// specification says: a stored sample `s` (of full scale 1) with file
/// gamma `g` is linear light `s^(1/g)`, and the sRGB output encodes that
/// linear light with sRGB's curve (a file gamma of about 1/2.2 is read as
/// sRGB itself). Grey stays grey, alpha is untouched, and
/// nothing is said about the profile (it was applied).
#[test]
fn greyscale_pngs_with_gamma_follow_the_png_formula() {
    let suite = common::fixtures().join("pngsuite");
    let cases = [
        ("g03n0g16", 0.35),
        ("g04n0g16", 0.45),
        ("g05n0g16", 0.55),
        ("g07n0g16", 0.70),
        ("g10n0g16", 1.00),
        ("g25n0g16", 2.50),
        ("basn0g08", 1.00),
        ("basn0g04", 1.00),
        ("basi0g16", 1.00),
        ("basn4a08", 1.00),
        ("tbwn0g16", 1.00),
    ];
    let dir = tempfile::tempdir().unwrap();
    for args in &RUNS[..2] {
        let out = dir.path().join(args[1]);
        let assert = pixmill()
            .arg("convert")
            .args(cases.iter().map(|(n, _)| suite.join(format!("{n}.png"))))
            .arg("-o")
            .arg(&out)
            .args(["-f", "png"])
            .args(*args)
            .assert()
            .success();
        let stderr = assert.stderr_text();
        assert!(!stderr.contains("warning"), "{args:?}: {stderr}");
        for (name, g) in cases {
            let input = open(&suite.join(format!("{name}.png"))).to_luma_alpha16();
            let output = open(&out.join(format!("{name}.png")));
            assert!(!output.color().has_color(), "{name}: grey became colour");
            let output = output.to_luma_alpha8();
            for (i, (s, o)) in input.pixels().zip(output.pixels()).enumerate() {
                let stored = f64::from(s[0]) / 65535.0;
                // A file gamma of 1/2.2 (0.45455, or near it like g04's
                // 0.45) is read as sRGB, as browsers and libvips do.
                let want = if (g - 1.0 / 2.2f64).abs() < 0.01 {
                    255.0 * stored
                } else {
                    255.0 * srgb_encode(stored.powf(1.0 / g))
                };
                let got = f64::from(o[0]);
                assert!(
                    (got - want).abs() <= 1.0,
                    "{name} {args:?} pixel {i}: stored {stored:.4} gives {got}, formula {want:.2}"
                );
                assert_eq!(o[1], (s[1] / 257) as u8, "{name}: alpha changed");
            }
        }
    }
}

/// A profile for another colour space than the image's cannot be applied:
/// the picture converts as sRGB and the warning says why.
#[test]
fn a_profile_for_another_colour_space_is_named_in_the_warning() {
    let dir = tempfile::tempdir().unwrap();
    let img = original();
    let (w, h) = img.dimensions();
    let grey = DynamicImage::ImageRgb8(img.clone()).to_luma8();
    let rgb_icc = profile("p3").encode().unwrap();
    let mut jpeg = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut jpeg, 100);
    enc.add_icc_profile(&rgb_icc).unwrap();
    enc.encode(
        grey.as_raw(),
        w as u16,
        h as u16,
        jpeg_encoder::ColorType::Luma,
    )
    .unwrap();
    let (out, stderr) = convert(dir.path(), "grey-with-rgb.jpg", &jpeg, &[]);
    assert!(
        stderr.contains(
            "warning: colour profile not applied (it is for RGB images, this one is greyscale)"
        ),
        "{stderr}"
    );
    let err = mean_abs_diff(&out, &DynamicImage::ImageLuma8(grey));
    assert!(err <= 2.0, "{err:.2} levels off");

    let jpeg = jpeg_with_icc(img.as_raw(), w, h, Some(&cmyk_profile()), false);
    let (out, stderr) = convert(dir.path(), "rgb-with-cmyk.jpg", &jpeg, &[]);
    assert!(
        stderr.contains(
            "warning: colour profile not applied (it is for CMYK images, this one is RGB)"
        ),
        "{stderr}"
    );
    let err = mean_abs_diff(&out, &DynamicImage::ImageRgb8(img));
    assert!(err <= 2.0, "{err:.2} levels off");
}

/// A two-frame APNG of `frames` (RGBA), with `icc` as its iCCP.
fn apng_with_icc(frames: &[Vec<u8>], w: u32, h: u32, icc: &[u8]) -> Vec<u8> {
    let mut info = png::Info::with_size(w, h);
    info.color_type = png::ColorType::Rgba;
    info.bit_depth = png::BitDepth::Eight;
    info.icc_profile = Some(icc.to_vec().into());
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::with_info(&mut out, info).unwrap();
        enc.set_animated(frames.len() as u32, 0).unwrap();
        let mut writer = enc.write_header().unwrap();
        for f in frames {
            writer.set_frame_delay(100, 1000).unwrap();
            writer.write_image_data(f).unwrap();
        }
        writer.finish().unwrap();
    }
    out
}

/// Every frame of an animation with a wide-gamut profile is converted to
/// sRGB like a still, whatever animated format it becomes.
#[test]
fn animation_frames_are_colour_managed() {
    let dir = tempfile::tempdir().unwrap();
    let img = original();
    let (w, h) = img.dimensions();
    let flipped = image::imageops::flip_horizontal(&img);
    let p3 = profile("p3");
    let rgba = |rgb: &[u8]| -> Vec<u8> {
        rgb.chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()
    };
    let frames = [
        rgba(&to_profile8(&img, &p3)),
        rgba(&to_profile8(&flipped, &p3)),
    ];
    let src = dir.path().join("p3-anim.png");
    fs::write(&src, apng_with_icc(&frames, w, h, &p3.encode().unwrap())).unwrap();
    let expected = [img.clone(), flipped];
    for (format, args) in [("png", &[][..]), ("webp", &["--lossless"][..])] {
        let out = dir.path().join(format);
        let assert = pixmill()
            .arg("convert")
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .args(["-f", format])
            .args(args)
            .assert()
            .success();
        let stderr = assert.stderr_text();
        assert!(!stderr.contains("warning"), "{format}: {stderr}");
        let data = fs::read(out.join(format!("p3-anim.{format}"))).unwrap();
        let kind = match format {
            "png" => image::ImageFormat::Png,
            _ => image::ImageFormat::WebP,
        };
        let decoded = decode_frames(&data, kind);
        assert_eq!(decoded.len(), 2, "{format}: frames");
        for (i, (frame, want)) in decoded.into_iter().zip(&expected).enumerate() {
            let got = DynamicImage::ImageRgba8(frame.into_buffer());
            let err = mean_abs_diff(&got, &DynamicImage::ImageRgb8(want.clone()));
            assert!(err <= 2.0, "{format} frame {i}: {err:.2} levels off");
        }
    }
}

/// A 1×1 PNG whose `iCCP` chunk inflates to `profile_len` zero bytes.
fn png_with_profile_bomb(profile_len: usize) -> Vec<u8> {
    use flate2::write::ZlibEncoder;
    use std::io::Write;
    let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let block = vec![0u8; 1 << 20];
    for _ in 0..profile_len / block.len() {
        z.write_all(&block).unwrap();
    }
    let compressed = z.finish().unwrap();
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let mut crc = flate2::Crc::new();
        crc.update(&c[4..]);
        c.extend_from_slice(&crc.sum().to_be_bytes());
        c
    };
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]));
    let mut iccp = b"bomb\0\0".to_vec();
    iccp.extend_from_slice(&compressed);
    png.extend(chunk(b"iCCP", &iccp));
    let mut idat = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    idat.write_all(&[0, 200, 30, 30]).unwrap();
    png.extend(chunk(b"IDAT", &idat.finish().unwrap()));
    png.extend(chunk(b"IEND", &[]));
    png
}

/// A colour profile that inflates to 1 GiB (a 1 MB file) is dropped after
/// 4 MiB, and the record says so; the picture itself converts. (It used to
/// inflate to 862 MB, then vanish without a word.)
#[test]
fn a_colour_profile_bomb_is_dropped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("bomb.png"), png_with_profile_bomb(1 << 30)).unwrap();
    let mut cmd = pixmill_std();
    cmd.current_dir(d)
        .args(["convert", "bomb.png", "-o", "out", "--format", "png"])
        .args(["--report", "r.jsonl"]);
    let run = run_guarded(cmd, std::time::Duration::from_secs(120));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let records = report(&d.join("r.jsonl"));
    let r = record(&records, "bomb.png");
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(
        r["warnings"][0],
        "colour profile dropped (it inflates past 4.0 MiB, where real ones are kilobytes); \
         colours taken as sRGB",
        "{r}"
    );
    assert!(
        run.stderr.contains("warning: colour profile dropped"),
        "{}",
        run.stderr
    );
    assert_eq!(
        open(&d.join("out/bomb.png")).to_rgb8().get_pixel(0, 0).0,
        [200, 30, 30]
    );
    // 300 MB: the bound of the other bombs (a child's peak counts this
    // test process's memory at the fork); it took 862 MB.
    run.assert_peak_rss_below(300 * 1024, "a colour profile bomb");
}
