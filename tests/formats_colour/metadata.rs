//! `--keep-metadata`: EXIF (camera, date, GPS; orientation reset to 1 after
//! auto-orient, pixel dimensions updated), XMP, ICC and DPI reach JPEG,
//! PNG, WebP and TIFF outputs, read back with readers that are not
//! pixmill's (kamadak-exif, the image crate); without it, nothing does.

use crate::common;

use common::{gradient, icc_of, pixmill, tiff_tag, Said};
use exif::{Field, In, Rational, Tag, Value};
use image::ImageDecoder;
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

const XMP: &[u8] = b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:rights>pixmill test</dc:rights></rdf:Description></rdf:RDF></x:xmpmeta>";

fn ascii(tag: Tag, s: &str) -> Field {
    Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![s.as_bytes().to_vec()]),
    }
}

fn field(tag: Tag, value: Value) -> Field {
    Field {
        tag,
        ifd_num: In::PRIMARY,
        value,
    }
}

/// An EXIF block for a 120x80 picture stored turned (orientation 6).
fn exif_block() -> Vec<u8> {
    let r = |num, denom| Rational { num, denom };
    let fields = [
        ascii(Tag::Make, "Pixmill"),
        ascii(Tag::Model, "TestCam 9"),
        field(Tag::Orientation, Value::Short(vec![6])),
        field(Tag::XResolution, Value::Rational(vec![r(300, 1)])),
        field(Tag::YResolution, Value::Rational(vec![r(300, 1)])),
        field(Tag::ResolutionUnit, Value::Short(vec![2])),
        ascii(Tag::DateTimeOriginal, "2024:05:06 07:08:09"),
        field(Tag::PixelXDimension, Value::Long(vec![120])),
        field(Tag::PixelYDimension, Value::Long(vec![80])),
        ascii(Tag::GPSLatitudeRef, "N"),
        field(
            Tag::GPSLatitude,
            Value::Rational(vec![r(48, 1), r(51, 1), r(30, 1)]),
        ),
    ];
    let mut writer = exif::experimental::Writer::new();
    for f in &fields {
        writer.push_field(f);
    }
    let mut out = Cursor::new(Vec::new());
    writer.write(&mut out, false).unwrap();
    out.into_inner()
}

fn input_jpeg() -> Vec<u8> {
    let img = gradient(120, 80);
    let icc = moxcms::ColorProfile::new_display_p3().encode().unwrap();
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
    enc.add_exif_metadata(&exif_block()).unwrap();
    enc.add_app_segment(
        1,
        [b"http://ns.adobe.com/xap/1.0/\0".as_slice(), XMP].concat(),
    )
    .unwrap();
    enc.add_icc_profile(&icc).unwrap();
    enc.encode(img.as_raw(), 120, 80, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

fn convert(dir: &Path, format: &str, extra: &[&str]) -> PathBuf {
    let src = dir.join("photo.jpg");
    fs::write(&src, input_jpeg()).unwrap();
    let out = dir.join(format!("{format}{}", extra.len()));
    pixmill()
        .arg("convert")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .args(["-f", format, "--resize", "60x60"])
        .args(extra)
        .assert()
        .success();
    fs::read_dir(&out).unwrap().next().unwrap().unwrap().path()
}

fn text(exif: &exif::Exif, tag: Tag) -> Option<String> {
    let f = exif.get_field(tag, In::PRIMARY)?;
    Some(f.display_value().to_string())
}

fn number(exif: &exif::Exif, tag: Tag) -> Option<u32> {
    exif.get_field(tag, In::PRIMARY)?.value.get_uint(0)
}

fn xmp_of(data: &[u8]) -> Option<Vec<u8>> {
    if let Some(xmp) = tiff_tag(data, tiff::tags::Tag::Unknown(700)) {
        return xmp;
    }
    let reader = image::ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .unwrap();
    reader.into_decoder().unwrap().xmp_metadata().unwrap()
}

#[test]
fn keep_metadata_round_trips_through_every_container() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["jpeg", "png", "webp"] {
        let out = convert(dir.path(), format, &["--keep-metadata"]);
        let data = fs::read(&out).unwrap();
        let exif = exif::Reader::new()
            .read_from_container(&mut Cursor::new(&data))
            .unwrap_or_else(|e| panic!("{format}: no EXIF: {e}"));
        assert_eq!(text(&exif, Tag::Model).as_deref(), Some("\"TestCam 9\""));
        assert_eq!(
            text(&exif, Tag::DateTimeOriginal).as_deref(),
            Some("2024-05-06 07:08:09")
        );
        assert!(text(&exif, Tag::GPSLatitude).unwrap().contains("48"));
        assert_eq!(number(&exif, Tag::Orientation), Some(1), "{format}");
        // Displayed upright and resized: 80x120 fitted into 60 is 40x60.
        assert_eq!(number(&exif, Tag::PixelXDimension), Some(40), "{format}");
        assert_eq!(number(&exif, Tag::PixelYDimension), Some(60), "{format}");
        assert_eq!(common::dims(&out), (40, 60));
        let dpi = exif.get_field(Tag::XResolution, In::PRIMARY).unwrap();
        assert_eq!(dpi.display_value().to_string(), "300");
        let icc = icc_of(&data).unwrap_or_else(|| panic!("{format}: no ICC"));
        let profile = moxcms::ColorProfile::new_from_slice(&icc).unwrap();
        assert!(profile.description.is_some());
        let xmp = xmp_of(&data).unwrap_or_else(|| panic!("{format}: no XMP"));
        assert!(String::from_utf8_lossy(&xmp).contains("pixmill test"));
    }
}

#[test]
fn tiff_outputs_carry_profile_xmp_density_and_camera_tags() {
    let dir = tempfile::tempdir().unwrap();
    let data = fs::read(convert(dir.path(), "tiff", &["--keep-metadata"])).unwrap();
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(&data))
        .unwrap();
    assert_eq!(text(&exif, Tag::Make).as_deref(), Some("\"Pixmill\""));
    assert_eq!(text(&exif, Tag::Model).as_deref(), Some("\"TestCam 9\""));
    let dpi = exif.get_field(Tag::XResolution, In::PRIMARY).unwrap();
    assert_eq!(dpi.display_value().to_string(), "300");
    assert_eq!(number(&exif, Tag::ResolutionUnit), Some(2));
    assert!(icc_of(&data).is_some());
    let xmp = xmp_of(&data).unwrap();
    assert!(String::from_utf8_lossy(&xmp).contains("pixmill test"));
}

#[test]
fn density_is_written_where_the_container_has_a_field_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = fs::read(convert(dir.path(), "jpeg", &["--keep-metadata"])).unwrap();
    // JFIF APP0: units 1 (dpi), 300 x 300.
    assert_eq!(&jpeg[6..11], b"JFIF\0");
    assert_eq!(&jpeg[13..18], &[1, 1, 44, 1, 44]);
    let png = fs::read(convert(dir.path(), "png", &["--keep-metadata"])).unwrap();
    let decoder = png::Decoder::new(Cursor::new(&png[..]));
    let reader = decoder.read_info().unwrap();
    let dims = reader.info().pixel_dims.unwrap();
    assert_eq!((dims.xppu, dims.yppu), (11811, 11811));
    assert_eq!(dims.unit, png::Unit::Meter);
}

/// WebP and AVIF keep a density only in EXIF: an input whose density is
/// outside EXIF (a JFIF header, a PNG `pHYs`) gets a small EXIF block with
/// it, not a silent loss.
#[test]
fn a_density_outside_exif_reaches_webp_and_avif_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(gradient(40, 30))
        .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    // JFIF APP0: units 1 (dpi), 300 x 150.
    assert_eq!(&jpeg[6..11], b"JFIF\0");
    jpeg[13..18].copy_from_slice(&[1, 1, 44, 0, 150]);
    fs::write(dir.path().join("d.jpg"), &jpeg).unwrap();
    let formats: &[&str] = if cfg!(feature = "heif") {
        &["webp", "avif"]
    } else {
        &["webp"]
    };
    for format in formats {
        let run = pixmill()
            .current_dir(dir.path())
            .args([
                "convert",
                "d.jpg",
                "-o",
                "o",
                "-f",
                format,
                "--keep-metadata",
            ])
            .args(["--json"])
            .assert()
            .success();
        let record = String::from_utf8_lossy(&run.get_output().stdout).into_owned();
        assert!(!record.contains("density"), "{format}: {record}");
        let data = fs::read(dir.path().join(format!("o/d.{format}"))).unwrap();
        let exif = exif::Reader::new()
            .read_from_container(&mut Cursor::new(&data))
            .unwrap_or_else(|e| panic!("{format}: no EXIF: {e}"));
        let rational = |tag| match exif.get_field(tag, In::PRIMARY).map(|f| &f.value) {
            Some(Value::Rational(r)) => r[0].to_f64(),
            other => panic!("{format}: {tag}: {other:?}"),
        };
        assert_eq!(rational(Tag::XResolution), 300.0, "{format}");
        assert_eq!(rational(Tag::YResolution), 150.0, "{format}");
        assert_eq!(number(&exif, Tag::ResolutionUnit), Some(2), "{format}");
    }
}

#[test]
fn metadata_is_stripped_by_default() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["jpeg", "png", "webp", "tiff"] {
        let data = fs::read(convert(dir.path(), format, &[])).unwrap();
        let exif = exif::Reader::new().read_from_container(&mut Cursor::new(&data));
        let has_model = exif.is_ok_and(|e| e.get_field(Tag::Model, In::PRIMARY).is_some());
        assert!(!has_model, "{format}: EXIF kept");
        assert!(icc_of(&data).is_none(), "{format}: ICC kept");
        assert!(xmp_of(&data).is_none(), "{format}: XMP kept");
    }
}

/// AVIF outputs carry EXIF (read back with kamadak-exif), the colour
/// profile (in a `colr` box of type `prof`) and XMP.
#[test]
#[cfg(feature = "heif")]
fn keep_metadata_reaches_avif_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert(dir.path(), "avif", &["--keep-metadata"]);
    let data = fs::read(&out).unwrap();
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(&data))
        .unwrap_or_else(|e| panic!("no EXIF: {e}"));
    assert_eq!(text(&exif, Tag::Model).as_deref(), Some("\"TestCam 9\""));
    assert_eq!(number(&exif, Tag::Orientation), Some(1));
    assert_eq!(number(&exif, Tag::PixelXDimension), Some(40));
    assert_eq!(number(&exif, Tag::PixelYDimension), Some(60));
    let at = data
        .windows(8)
        .position(|w| w == b"colrprof")
        .expect("no ICC profile box");
    let icc = &data[at + 8..];
    let len = u32::from_be_bytes([icc[0], icc[1], icc[2], icc[3]]) as usize;
    let profile = moxcms::ColorProfile::new_from_slice(&icc[..len]).unwrap();
    assert!(profile.description.is_some());
    let xmp = b"pixmill test";
    assert!(data.windows(xmp.len()).any(|w| w == xmp), "no XMP");
}

/// A TIFF output keeps IFD0's text, not the EXIF sub-directories: the
/// record says what was left behind, where a JPEG output (which keeps the
/// whole block) says nothing.
#[test]
fn a_tiff_output_says_which_exif_directories_it_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("photo.jpg");
    fs::write(&src, input_jpeg()).unwrap();
    let run = |format: &str| {
        let out = pixmill()
            .arg("convert")
            .arg(&src)
            .arg("-o")
            .arg(dir.path().join(format))
            .args(["-f", format, "--resize", "60x60", "--keep-metadata"])
            .assert()
            .success();
        out.stderr_text()
    };
    let tiff = run("tiff");
    let warning = tiff
        .lines()
        .find(|l| l.contains("warning"))
        .unwrap_or_else(|| panic!("no warning: {tiff}"));
    assert!(
        warning.contains("Exif") && warning.contains("GPS") && warning.contains("not kept"),
        "{warning}"
    );
    let jpeg = run("jpeg");
    assert!(!jpeg.contains("warning"), "{jpeg}");
}
