//! HEIC/HEIF and AVIF through the system libheif: decoding (HEVC via
//! libde265, AV1 via dav1d or libaom) and AVIF encoding (libaom).

use super::colour::cicp_profile;
use super::metadata::Embedded;
use super::pixels::{check_pixels, decode_error, Cicp, Decoded, Samples};
use super::pixels::{Layout, Pixels};
use super::Format;
use image::metadata::Orientation;
use image::DynamicImage;
use libheif_rs::{
    color_profile_types, Channel, ColorProfileNCLX, ColorProfileRaw, ColorSpace, CompressionFormat,
    EncoderParameterValue, EncoderQuality, HeifContext, Image, LibHeif, RgbChroma,
};
use pixmill_base::error::{ErrorClass, ItemError};
use std::sync::OnceLock;

/// libaom's speed for AVIF output, 0 (slowest) to 9. 6 is libheif's own
/// default and a batch-friendly middle: `bench/avif.sh` measures the
/// trade (docs/formats.md) — slower settings cost much more time for a few
/// percent smaller files, faster ones give visibly larger files.
pub(crate) const AVIF_SPEED: i32 = 6;

/// libheif's global state (`heif_init`), set up once for the process: each
/// init/deinit pair would otherwise reload its codec tables per item.
fn lib() -> &'static LibHeif {
    static LIB: OnceLock<LibHeif> = OnceLock::new();
    LIB.get_or_init(LibHeif::new)
}

/// Decodes the primary image. libheif applies the container's rotation and
/// mirroring (`irot`/`imir`) itself, so the result is already upright and
/// the EXIF orientation must not be applied again.
///
/// 10- and 12-bit images are decoded at their depth and handed on as
/// 16-bit samples, so the colour step converts them before any reduction
/// to 8 bits. A colour description given only as `nclx` code points
/// becomes a profile for the colour step, as an ICC one would be.
pub(crate) fn decode(input: &[u8], format: Format, max_pixels: u64) -> Result<Decoded, ItemError> {
    let fmt = Some(format);
    let lib = lib();
    let ctx = HeifContext::read_from_bytes(input).map_err(|e| decode_error(fmt, e))?;
    let handle = ctx
        .primary_image_handle()
        .map_err(|e| decode_error(fmt, e))?;
    // Dimensions as displayed (after irot), from the header: checked before
    // libheif allocates anything for pixels.
    let (w, h) = (handle.width(), handle.height());
    check_pixels(w, h, max_pixels)?;
    let alpha = handle.has_alpha_channel();
    let deep = (9..=16).contains(&handle.luma_bits_per_pixel());
    let chroma = match (deep, alpha) {
        (false, false) => RgbChroma::Rgb,
        (false, true) => RgbChroma::Rgba,
        (true, false) => RgbChroma::HdrRgbLe,
        (true, true) => RgbChroma::HdrRgbaLe,
    };
    let image = lib
        .decode(&handle, ColorSpace::Rgb(chroma), None)
        .map_err(|e| decode_error(fmt, e))?;
    let samples = if deep {
        packed16(&image, alpha).map(Samples::Deep)
    } else {
        let layout = if alpha { Layout::Rgba8 } else { Layout::Rgb8 };
        packed(&image, layout).map(Samples::Eight)
    }
    .ok_or_else(|| decode_error(fmt, "no interleaved plane"))?;
    if samples.dimensions() != (w, h) {
        return Err(decode_error(fmt, "decoded size differs from header"));
    }
    let nclx = handle.color_profile_nclx().map(|n| cicp(&n));
    let icc = handle
        .color_profile_raw()
        .and_then(icc_bytes)
        .or_else(|| nclx.and_then(|c| cicp_profile(c, false)));
    Ok(Decoded {
        samples,
        orientation: Orientation::NoTransforms,
        full: (w, h),
        icc,
        cicp: nclx,
    })
}

/// An ICC profile (`prof`/`rICC`); nclx comes through [`cicp`] instead.
fn icc_bytes(raw: libheif_rs::ColorProfileRaw) -> Option<Vec<u8>> {
    use libheif_rs::ColorProfile;
    let typ = raw.profile_type();
    let icc = typ == libheif_rs::color_profile_types::PROF
        || typ == libheif_rs::color_profile_types::R_ICC;
    (icc && !raw.data.is_empty()).then_some(raw.data)
}

fn cicp(n: &ColorProfileNCLX) -> Cicp {
    // The crate's enums carry the H.273 code points as discriminants; its
    // catch-all `Unknown` maps to 2, "unspecified".
    let code = |v: u16, unknown: bool| if unknown { 2 } else { v as u8 };
    let p = n.color_primaries();
    let t = n.transfer_characteristics();
    let m = n.matrix_coefficients();
    Cicp {
        primaries: code(p as u16, p == libheif_rs::ColorPrimaries::Unknown),
        transfer: code(t as u16, t == libheif_rs::TransferCharacteristics::Unknown),
        matrix: code(m as u16, m == libheif_rs::MatrixCoefficients::Unknown),
        full_range: n.full_range_flag() != 0,
    }
}

/// Copies libheif's strided interleaved plane into a packed buffer.
fn packed(image: &Image, layout: Layout) -> Option<Pixels> {
    let planes = image.planes();
    let plane = planes.interleaved?;
    let row = plane.width as usize * layout.channels();
    let mut data = Vec::with_capacity(row * plane.height as usize);
    for y in 0..plane.height as usize {
        let start = y * plane.stride;
        data.extend_from_slice(plane.data.get(start..start + row)?);
    }
    Some(Pixels {
        width: plane.width,
        height: plane.height,
        layout,
        data,
    })
}

/// Copies libheif's strided 10/12-bit interleaved plane (little-endian
/// 16-bit words) into a 16-bit image, scaled to the full 16-bit range.
fn packed16(image: &Image, alpha: bool) -> Option<DynamicImage> {
    let planes = image.planes();
    let plane = planes.interleaved?;
    let max = (1u32 << plane.bits_per_pixel.clamp(9, 16)) - 1;
    let channels = if alpha { 4 } else { 3 };
    let row = plane.width as usize * channels * 2;
    let mut data = Vec::with_capacity(row / 2 * plane.height as usize);
    for y in 0..plane.height as usize {
        let start = y * plane.stride;
        let bytes = plane.data.get(start..start + row)?;
        data.extend(bytes.chunks_exact(2).map(|b| {
            let v = u32::from(u16::from_le_bytes([b[0], b[1]])).min(max);
            ((v * 65535 + max / 2) / max) as u16
        }));
    }
    let (w, h) = (plane.width, plane.height);
    Some(if alpha {
        DynamicImage::ImageRgba16(image::ImageBuffer::from_raw(w, h, data)?)
    } else {
        DynamicImage::ImageRgb16(image::ImageBuffer::from_raw(w, h, data)?)
    })
}

fn encode_error(reason: impl std::fmt::Display) -> ItemError {
    ItemError::new(ErrorClass::Encode, format!("cannot encode avif: {reason}"))
}

/// Encodes 8-bit RGB or RGBA as AVIF (libaom, 4:2:0, `quality` 1–100),
/// with the ICC profile, EXIF and XMP of `embedded` (AVIF has no place for
/// pixel density outside EXIF).
pub(crate) fn encode_avif(
    px: &Pixels,
    quality: u8,
    embedded: &Embedded,
) -> Result<Vec<u8>, ItemError> {
    let chroma = match px.layout {
        Layout::Rgb8 => RgbChroma::Rgb,
        Layout::Rgba8 => RgbChroma::Rgba,
        other => return Err(encode_error(format!("unexpected layout {other:?}"))),
    };
    let mut image =
        Image::new(px.width, px.height, ColorSpace::Rgb(chroma)).map_err(encode_error)?;
    image
        .create_plane(Channel::Interleaved, px.width, px.height, 8)
        .map_err(encode_error)?;
    let row = px.width as usize * px.layout.channels();
    {
        let planes = image.planes_mut();
        let plane = planes
            .interleaved
            .ok_or_else(|| encode_error("no interleaved plane"))?;
        for (y, src) in px.data.chunks_exact(row).enumerate() {
            let start = y * plane.stride;
            plane.data[start..start + row].copy_from_slice(src);
        }
    }
    if let Some(icc) = &embedded.icc {
        let profile = ColorProfileRaw::new(color_profile_types::PROF, icc.clone());
        image
            .set_color_profile_raw(&profile)
            .map_err(encode_error)?;
    }
    let lib = lib();
    let mut encoder = lib
        .encoder_for_format(CompressionFormat::Av1)
        .map_err(encode_error)?;
    encoder
        .set_quality(EncoderQuality::Lossy(quality.clamp(1, 100)))
        .map_err(encode_error)?;
    encoder
        .set_parameter_value("speed", EncoderParameterValue::Int(AVIF_SPEED))
        .map_err(encode_error)?;
    let mut ctx = HeifContext::new().map_err(encode_error)?;
    let handle = ctx
        .encode_image(&image, &mut encoder, None)
        .map_err(encode_error)?;
    if let Some(exif) = &embedded.exif {
        ctx.add_exif_metadata(&handle, exif).map_err(encode_error)?;
    }
    if let Some(xmp) = &embedded.xmp {
        ctx.add_xmp_metadata(&handle, xmp).map_err(encode_error)?;
    }
    ctx.write_to_bytes().map_err(encode_error)
}

/// HEIF-family bytes' primary image size, from the container alone (no
/// pixels decoded): what the size filters look at.
pub(crate) fn primary_size(input: &[u8]) -> Option<(u32, u32)> {
    let ctx = HeifContext::read_from_bytes(input).ok()?;
    let handle = ctx.primary_image_handle().ok()?;
    Some((handle.width(), handle.height()))
}
