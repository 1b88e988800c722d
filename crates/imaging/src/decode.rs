//! Decoding: header check against `--max-pixels` before any pixel buffer
//! exists, then either a JPEG decode by libjpeg-turbo (scaled on load when
//! reducing), jpeg-decoder's (CMYK, and the fallback), or a full decode
//! through the image crate.

use super::colour;
use super::pixels::{check_pixels, decode_error, Decoded, Samples};
use super::pixels::{Layout, Pixels};
use super::Format;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits};
use pixmill_base::error::{ErrorClass, ItemError};
use std::io::Cursor;

/// The image crate's own limits, a second line of defence behind
/// `check_pixels` (some decoders allocate before we can ask for dimensions).
fn limits(max_pixels: u64) -> Limits {
    let side = u32::try_from(max_pixels).unwrap_or(u32::MAX);
    let mut l = Limits::default();
    l.max_image_width = Some(side);
    l.max_image_height = Some(side);
    l.max_alloc = Some(max_alloc(max_pixels));
    l
}

/// The most a decoder may allocate: 16-bit RGBA is the widest 8 bytes a
/// pixel we accept, plus decoder slack.
pub(crate) fn max_alloc(max_pixels: u64) -> u64 {
    max_pixels.saturating_mul(8).saturating_add(64 << 20)
}

fn image_error(format: Option<Format>, e: ImageError) -> ItemError {
    match e {
        ImageError::Limits(l) => ItemError::new(
            ErrorClass::TooLarge,
            format!("image exceeds decoding limits: {l}"),
        ),
        other => decode_error(format, other),
    }
}

/// Full decode of any readable format (first frame or page only).
pub(crate) fn decode_full(
    input: &[u8],
    format: Format,
    max_pixels: u64,
) -> Result<Decoded, ItemError> {
    match format {
        #[cfg(feature = "heif")]
        Format::Heif | Format::Avif => super::heif::decode(input, format, max_pixels),
        #[cfg(feature = "jxl")]
        Format::Jxl => super::jxl::decode(input, max_pixels).map(|(d, _)| d),
        f if !f.can_read() => Err(ItemError::new(ErrorClass::Decode, f.unreadable_reason())),
        _ => decode_with_image(input, format, max_pixels),
    }
}

/// Full decode through the image crate (first frame only).
fn decode_with_image(input: &[u8], format: Format, max_pixels: u64) -> Result<Decoded, ItemError> {
    let fmt = Some(format);
    let mut reader = ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .map_err(|e| decode_error(fmt, e))?;
    reader.limits(limits(max_pixels));
    let mut decoder = reader.into_decoder().map_err(|e| image_error(fmt, e))?;
    let (w, h) = decoder.dimensions();
    check_pixels(w, h, max_pixels)?;
    // A broken EXIF block should not cost the picture itself.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut icc = decoder.icc_profile().ok().flatten();
    if icc.is_none() && format == Format::Png {
        icc = colour::png_profile(input);
    }
    if icc.is_none() && format == Format::Tiff {
        icc = tiff_profile(input);
    }
    let img = DynamicImage::from_decoder(decoder).map_err(|e| image_error(fmt, e))?;
    let samples = Samples::from(img);
    if samples.dimensions() != (w, h) {
        return Err(decode_error(fmt, "decoded size differs from header"));
    }
    Ok(Decoded {
        samples,
        orientation,
        full: (w, h),
        icc,
        cicp: None,
    })
}

/// The JPEG header: stored size and EXIF orientation, read without
/// decoding any scan data.
pub(crate) struct JpegHeader<'a> {
    decoder: jpeg_decoder::Decoder<Cursor<&'a [u8]>>,
    pub width: u32,
    pub height: u32,
    pub orientation: Orientation,
    /// Four-component (CMYK or YCCK) JPEG: always decoded here, since only
    /// jpeg-decoder hands out the inks the colour profile needs.
    pub cmyk: bool,
}

/// Reads the JPEG header with jpeg-decoder; `None` if it cannot (the full
/// path then gets its chance and produces the real error).
pub(crate) fn jpeg_header(input: &[u8]) -> Option<JpegHeader<'_>> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(input));
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    Some(JpegHeader {
        decoder,
        width: u32::from(info.width),
        height: u32::from(info.height),
        orientation,
        cmyk: info.pixel_format == jpeg_decoder::PixelFormat::CMYK32,
    })
}

/// A JPEG header as libjpeg-turbo reads it, with what it takes to decode.
pub(crate) struct TurboHeader {
    pub width: u32,
    pub height: u32,
    format: turbojpeg::PixelFormat,
    layout: Layout,
}

/// Reads the header with libjpeg-turbo: 8-bit greyscale or colour (YCbCr or
/// RGB) lossy JPEGs, Huffman- or arithmetic-coded. `Err` names what it
/// refuses (CMYK, lossless, ...) in libjpeg-turbo's words or ours.
pub(crate) fn turbo_header(
    tj: &mut turbojpeg::Decompressor,
    input: &[u8],
) -> Result<TurboHeader, String> {
    use turbojpeg::{Colorspace, PixelFormat};
    // libjpeg-turbo 2 reads no lossless (SOF3) JPEG header: it fails here,
    // and the other decoders are tried.
    let info = tj.read_header(input).map_err(turbo_message)?;
    let (format, layout) = match info.colorspace {
        Colorspace::Gray => (PixelFormat::GRAY, Layout::L8),
        Colorspace::YCbCr | Colorspace::RGB => (PixelFormat::RGB, Layout::Rgb8),
        other => return Err(format!("{other:?} colour space")),
    };
    let side = |v: usize| u32::try_from(v).map_err(|_| "size out of range".to_string());
    Ok(TurboHeader {
        width: side(info.width)?,
        height: side(info.height)?,
        format,
        layout,
    })
}

/// Decodes with libjpeg-turbo at DCT scale `k`/8 (8 = full size): the
/// fastest decoder here for baseline and progressive files alike (1.60x
/// and 1.46x jpeg-decoder's scaled decode, 1.08x and 1.26x zune-jpeg's
/// full one; `bench/results-jpeg-decoders.md`), and the one that reads
/// arithmetic coding.
///
/// `Err` carries libjpeg-turbo's message when it fails or warns (corrupt or
/// truncated data); the caller then falls back to the other decoders.
pub(crate) fn decode_jpeg_turbo(
    tj: &mut turbojpeg::Decompressor,
    input: &[u8],
    header: &TurboHeader,
    k: u32,
    (orientation, icc): (Orientation, Option<Vec<u8>>),
) -> Result<Decoded, String> {
    let k = k.clamp(1, 8);
    // libjpeg-turbo rounds scaled sides up, as jpeg-decoder does, and given
    // the sides of scale k/8 it decodes at that scale (the largest of its
    // factors that fits them).
    let (width, height) = (dct_side(header.width, k), dct_side(header.height, k));
    let pitch = width as usize * header.layout.channels();
    let mut data = vec![0; pitch * height as usize];
    let image = turbojpeg::Image {
        pixels: &mut data[..],
        width: width as usize,
        pitch,
        height: height as usize,
        format: header.format,
    };
    tj.decompress(input, image).map_err(turbo_message)?;
    Ok(Decoded {
        samples: Samples::Eight(Pixels {
            width,
            height,
            layout: header.layout,
            data,
        }),
        orientation,
        full: (header.width, header.height),
        icc,
        cicp: None,
    })
}

/// The EXIF orientation and ICC profile of a JPEG jpeg-decoder cannot
/// parse (arithmetic coding), read from its segments alone.
pub(crate) fn jpeg_segments_meta(input: &[u8]) -> (Orientation, Option<Vec<u8>>) {
    use img_parts::{ImageEXIF, ImageICC};
    let Ok(jpeg) = img_parts::jpeg::Jpeg::from_bytes(input.to_vec().into()) else {
        return (Orientation::NoTransforms, None);
    };
    let orientation = jpeg
        .exif()
        .and_then(|e| Orientation::from_exif_chunk(&e))
        .unwrap_or(Orientation::NoTransforms);
    (orientation, jpeg.icc_profile().map(|p| p.to_vec()))
}

impl JpegHeader<'_> {
    /// The orientation and ICC profile jpeg-decoder read.
    pub(crate) fn meta(&self) -> (Orientation, Option<Vec<u8>>) {
        (self.orientation, self.decoder.icc_profile())
    }
}

/// libjpeg-turbo's own words, without the crate's prefix.
fn turbo_message(e: turbojpeg::Error) -> String {
    match e {
        turbojpeg::Error::TurboJpegError(m) => m,
        other => other.to_string(),
    }
}

/// Side length at DCT scale `k`/8, as jpeg-decoder and libjpeg-turbo
/// compute it.
fn dct_side(len: u32, k: u32) -> u32 {
    (len * k).div_ceil(8)
}

/// The smallest DCT scale (1, 2 or 4 eighths) giving at least
/// `need_w`x`need_h`, or `None` when only a full decode would.
pub(crate) fn dct_scale(w: u32, h: u32, need_w: u32, need_h: u32) -> Option<u32> {
    [1, 2, 4]
        .into_iter()
        .find(|&k| dct_side(w, k) >= need_w && dct_side(h, k) >= need_h)
}

/// Decodes at DCT scale `k`/8 (8 = full size). `None` on any failure, so the caller can
/// fall back to the full decode and never do worse than it.
pub(crate) fn decode_jpeg_scaled(mut header: JpegHeader<'_>, k: u32) -> Option<Decoded> {
    let (want_w, want_h) = (dct_side(header.width, k), dct_side(header.height, k));
    let (w, h) = header
        .decoder
        .scale(u16::try_from(want_w).ok()?, u16::try_from(want_h).ok()?)
        .ok()?;
    let (w, h) = (u32::from(w), u32::from(h));
    if w < want_w || h < want_h {
        return None;
    }
    let info = header.decoder.info()?;
    let raw = header.decoder.decode().ok()?;
    let icc = header.decoder.icc_profile();
    let n = w as usize * h as usize;
    let layout = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => Layout::L8,
        jpeg_decoder::PixelFormat::RGB24 => Layout::Rgb8,
        // jpeg-decoder has already undone Adobe's inverted storage.
        jpeg_decoder::PixelFormat::CMYK32 => Layout::Rgba8,
        // Lossless 16-bit JPEG has no DCT to scale; the full path handles it.
        jpeg_decoder::PixelFormat::L16 => return None,
    };
    if raw.len() != n * layout.channels() {
        return None;
    }
    let samples = if info.pixel_format == jpeg_decoder::PixelFormat::CMYK32 {
        Samples::Cmyk {
            width: w,
            height: h,
            data: raw,
        }
    } else {
        Samples::Eight(Pixels {
            width: w,
            height: h,
            layout,
            data: raw,
        })
    };
    Some(Decoded {
        samples,
        orientation: header.orientation,
        full: (header.width, header.height),
        icc,
        cicp: None,
    })
}

/// A TIFF's ICC profile, read with the tiff crate: the image crate's TIFF
/// decoder stops finding it once decoding limits are set (image 0.25.10),
/// and a Display P3 or Adobe RGB TIFF would then pass as sRGB.
fn tiff_profile(input: &[u8]) -> Option<Vec<u8>> {
    let mut limits = tiff::decoder::Limits::default();
    // Real profiles are kilobytes; LUT-based ones a few hundred.
    limits.ifd_value_size = 4 << 20;
    let mut decoder = tiff::decoder::Decoder::new(Cursor::new(input))
        .ok()?
        .with_limits(limits);
    decoder
        .get_tag_u8_vec(tiff::tags::Tag::IccProfile)
        .ok()
        .filter(|p| !p.is_empty())
}
