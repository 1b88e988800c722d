//! What an output carries besides its pixels (colour profile, and with
//! `--keep-metadata` EXIF, XMP and pixel density): read from the input,
//! and put into encoded bytes by container surgery.
//!
//! Encoders write bare pixels; [`embed`] adds the rest afterwards, so every
//! format gets it the same way and a new format adds one arm to [`read`]
//! and one to [`embed`].

use super::{exif, Format};
use image::{ImageDecoder, ImageReader};
use img_parts::{Bytes, ImageEXIF, ImageICC};
use pixmill_base::error::{ErrorClass, ItemError};
use std::io::Cursor;

/// Data to embed in an output. Empty by default: outputs are stripped.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Embedded {
    /// The ICC profile the output's numbers are in.
    pub icc: Option<Vec<u8>>,
    /// A raw EXIF block (a TIFF structure, no `Exif\0\0` prefix).
    pub exif: Option<Vec<u8>>,
    /// An XMP packet.
    pub xmp: Option<Vec<u8>>,
    /// Pixel density, dots per inch (x, y).
    pub dpi: Option<(f64, f64)>,
}

impl Embedded {
    pub(crate) fn is_empty(&self) -> bool {
        self.icc.is_none() && self.exif.is_none() && self.xmp.is_none() && self.dpi.is_none()
    }
}

/// The EXIF, XMP and density of encoded `input` (its ICC profile is the
/// colour step's business). Unreadable metadata is simply not copied.
pub(crate) fn read(input: &[u8]) -> Embedded {
    let mut found = Embedded::default();
    let reader = ImageReader::new(Cursor::new(input)).with_guessed_format();
    if let Ok(mut decoder) = reader
        .map_err(drop)
        .and_then(|r| r.into_decoder().map_err(drop))
    {
        found.exif = decoder
            .exif_metadata()
            .ok()
            .flatten()
            .map(strip_exif_prefix);
        found.xmp = decoder.xmp_metadata().ok().flatten();
    }
    found.dpi = found
        .exif
        .as_deref()
        .and_then(exif::dpi)
        .or_else(|| jfif_dpi(input))
        .or_else(|| png_dpi(input));
    found
}

fn strip_exif_prefix(mut exif: Vec<u8>) -> Vec<u8> {
    if exif.starts_with(b"Exif\0\0") {
        exif.drain(..6);
    }
    exif
}

/// The density in a JFIF APP0 header, when it is in dots per inch or cm.
fn jfif_dpi(input: &[u8]) -> Option<(f64, f64)> {
    let app0 = input.get(2..20)?;
    if app0[..2] != [0xFF, 0xE0] || &app0[4..9] != b"JFIF\0" {
        return None;
    }
    let per_inch = match app0[11] {
        1 => 1.0,
        2 => 2.54,
        _ => return None,
    };
    let x = f64::from(u16::from_be_bytes([app0[12], app0[13]]));
    let y = f64::from(u16::from_be_bytes([app0[14], app0[15]]));
    (x > 0.0 && y > 0.0).then_some((x * per_inch, y * per_inch))
}

/// The density in a PNG `pHYs` chunk, when its unit is the metre.
fn png_dpi(input: &[u8]) -> Option<(f64, f64)> {
    if !input.starts_with(b"\x89PNG") {
        return None;
    }
    let mut at = 8;
    while let Some(head) = input.get(at..at + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        match &head[4..8] {
            b"pHYs" => {
                let body = input.get(at + 8..at + 17)?;
                let ppm = |i: usize| {
                    f64::from(u32::from_be_bytes([
                        body[i],
                        body[i + 1],
                        body[i + 2],
                        body[i + 3],
                    ]))
                };
                return (body[8] == 1).then(|| (ppm(0) * 0.0254, ppm(4) * 0.0254));
            }
            b"IDAT" | b"IEND" => return None,
            _ => at = at.saturating_add(12).saturating_add(len),
        }
    }
    None
}

fn embed_error(format: Format, reason: impl std::fmt::Display) -> ItemError {
    ItemError::new(
        ErrorClass::Encode,
        format!("cannot embed metadata in {}: {reason}", format.name()),
    )
}

const XMP_JPEG_PREFIX: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";

/// Adds `what` to encoded `data`. TIFF is handled by its encoder (its tags
/// are written with the image), GIF and BMP carry none of it.
pub(crate) fn embed(data: Vec<u8>, format: Format, what: &Embedded) -> Result<Vec<u8>, ItemError> {
    if what.is_empty() {
        return Ok(data);
    }
    let bytes = Bytes::from(data);
    let fail = |e: img_parts::Error| embed_error(format, e);
    let out = match format {
        Format::Jpeg => {
            let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(bytes).map_err(fail)?;
            embed_jpeg(&mut jpeg, what);
            jpeg.encoder().bytes()
        }
        Format::Png => {
            let mut png = img_parts::png::Png::from_bytes(bytes).map_err(fail)?;
            embed_png(&mut png, what);
            png.encoder().bytes()
        }
        Format::Webp => {
            let mut webp = img_parts::webp::WebP::from_bytes(bytes).map_err(fail)?;
            embed_webp(&mut webp, what);
            webp.encoder().bytes()
        }
        // TIFF carries it as tags written by its encoder; the others are
        // reported by the converter as not carrying it.
        _ => bytes,
    };
    Ok(out.to_vec())
}

fn bytes_of(v: &Option<Vec<u8>>) -> Option<Bytes> {
    v.clone().map(Bytes::from)
}

fn embed_jpeg(jpeg: &mut img_parts::jpeg::Jpeg, what: &Embedded) {
    use img_parts::jpeg::{markers, JpegSegment};
    jpeg.set_icc_profile(bytes_of(&what.icc));
    jpeg.set_exif(bytes_of(&what.exif));
    if let Some(xmp) = &what.xmp {
        let body = [XMP_JPEG_PREFIX, xmp].concat();
        // Readers look for XMP among the APP1 segments, after EXIF.
        let at = jpeg
            .segments()
            .iter()
            .rposition(|s| s.marker() == markers::APP1)
            .map_or(1, |i| i + 1);
        let segment = JpegSegment::new_with_contents(markers::APP1, Bytes::from(body));
        jpeg.segments_mut().insert(at, segment);
    }
    if let Some((x, y)) = what.dpi {
        let density = |v: f64| (v.round().clamp(1.0, 65535.0) as u16).to_be_bytes();
        let mut jfif = b"JFIF\0\x01\x02\x01".to_vec();
        jfif.extend_from_slice(&density(x));
        jfif.extend_from_slice(&density(y));
        jfif.extend_from_slice(&[0, 0]);
        jpeg.remove_segments_by_marker(markers::APP0);
        let segment = JpegSegment::new_with_contents(markers::APP0, Bytes::from(jfif));
        jpeg.segments_mut().insert(0, segment);
    }
}

fn embed_png(png: &mut img_parts::png::Png, what: &Embedded) {
    use img_parts::png::PngChunk;
    png.set_icc_profile(bytes_of(&what.icc));
    png.set_exif(bytes_of(&what.exif));
    // Ancillary chunks go right after IHDR, before the image data.
    if let Some(xmp) = &what.xmp {
        let body = [b"XML:com.adobe.xmp\0\0\0\0\0".as_slice(), xmp].concat();
        png.chunks_mut()
            .insert(1, PngChunk::new(*b"iTXt", Bytes::from(body)));
    }
    if let Some((x, y)) = what.dpi {
        let ppm = |v: f64| ((v / 0.0254).round() as u32).to_be_bytes();
        let body = [ppm(x).as_slice(), &ppm(y), &[1]].concat();
        png.chunks_mut()
            .insert(1, PngChunk::new(*b"pHYs", Bytes::from(body)));
    }
}

/// WebP has no density field of its own; the EXIF block carries it.
fn embed_webp(webp: &mut img_parts::webp::WebP, what: &Embedded) {
    use img_parts::riff::{RiffChunk, RiffContent};
    if let Some(xmp) = &what.xmp {
        let chunk = RiffChunk::new(*b"XMP ", RiffContent::Data(Bytes::from(xmp.clone())));
        webp.chunks_mut().push(chunk);
    }
    // Each setter also rebuilds the VP8X header and its flags.
    webp.set_exif(bytes_of(&what.exif));
    webp.set_icc_profile(bytes_of(&what.icc));
}
