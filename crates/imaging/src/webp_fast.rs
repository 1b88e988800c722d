//! Still WebP through libwebp (already linked for encoding): several times
//! faster than the pure-Rust decoder, and it scales while decoding, so a
//! 4096² wallpaper made into a thumbnail is never held at full size.
//! Animated WebP, and anything libwebp refuses, stays on the image crate's
//! path, which also words the error for a broken file.

use super::pixels::{Layout, Pixels};
use image::metadata::Orientation;
use image::{ImageDecoder, ImageFormat, ImageReader};
use libwebp_sys as sys;
use std::io::Cursor;

/// What the bitstream header says, read without decoding pixels.
pub(crate) struct WebpHeader {
    pub width: u32,
    pub height: u32,
    has_alpha: bool,
}

/// The header of a still WebP; `None` for animations and for whatever
/// libwebp cannot parse.
pub(crate) fn header(input: &[u8]) -> Option<WebpHeader> {
    // SAFETY: a plain C struct of integers, for which all-zero is valid;
    // libwebp reads at most `input.len()` bytes from `input`.
    let mut features: sys::WebPBitstreamFeatures = unsafe { std::mem::zeroed() };
    let status = unsafe { sys::WebPGetFeatures(input.as_ptr(), input.len(), &mut features) };
    if status != sys::VP8StatusCode::VP8_STATUS_OK || features.has_animation != 0 {
        return None;
    }
    Some(WebpHeader {
        width: u32::try_from(features.width).ok()?,
        height: u32::try_from(features.height).ok()?,
        has_alpha: features.has_alpha != 0,
    })
}

/// The EXIF orientation and ICC profile, from the RIFF chunks alone (the
/// image crate's decoder reads chunk headers when it is created, and
/// pixels only when asked, which it never is here).
pub(crate) fn metadata(input: &[u8]) -> (Orientation, Option<Vec<u8>>) {
    let reader = ImageReader::with_format(Cursor::new(input), ImageFormat::WebP);
    let Ok(mut decoder) = reader.into_decoder() else {
        return (Orientation::NoTransforms, None);
    };
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();
    (orientation, icc)
}

/// Decodes at `width`x`height`: the full size, or smaller with libwebp's
/// area-averaging rescaler. `None` on any failure, so the caller can fall
/// back to the full decode.
pub(crate) fn decode(input: &[u8], h: &WebpHeader, width: u32, height: u32) -> Option<Pixels> {
    let (layout, mode) = if h.has_alpha {
        (Layout::Rgba8, sys::WEBP_CSP_MODE::MODE_RGBA)
    } else {
        (Layout::Rgb8, sys::WEBP_CSP_MODE::MODE_RGB)
    };
    let stride = (width as usize).checked_mul(layout.channels())?;
    let size = stride.checked_mul(height as usize)?;
    let mut data = vec![0u8; size];
    // SAFETY: the config is initialised by libwebp before use; the output
    // buffer is ours, `size` bytes long with rows of `stride` bytes, which
    // is exactly what a `width`x`height` RGB(A) image needs, and it
    // outlives the call. libwebp reads at most `input.len()` bytes.
    unsafe {
        let mut config: sys::WebPDecoderConfig = std::mem::zeroed();
        if !sys::WebPInitDecoderConfig(&mut config) {
            return None;
        }
        config.output.colorspace = mode;
        config.output.is_external_memory = 1;
        config.output.u.RGBA = sys::WebPRGBABuffer {
            rgba: data.as_mut_ptr(),
            stride: i32::try_from(stride).ok()?,
            size,
        };
        if (width, height) != (h.width, h.height) {
            config.options.use_scaling = 1;
            config.options.scaled_width = i32::try_from(width).ok()?;
            config.options.scaled_height = i32::try_from(height).ok()?;
        }
        let status = sys::WebPDecode(input.as_ptr(), input.len(), &mut config);
        let (out_w, out_h) = (config.output.width, config.output.height);
        sys::WebPFreeDecBuffer(&mut config.output);
        if status != sys::VP8StatusCode::VP8_STATUS_OK
            || (i64::from(out_w), i64::from(out_h)) != (i64::from(width), i64::from(height))
        {
            return None;
        }
    }
    Some(Pixels {
        width,
        height,
        layout,
        data,
    })
}

/// The size to decode at so that at least `need_w`x`need_h` remain: the
/// full size when that is no bigger.
pub(crate) fn decode_size(h: &WebpHeader, need_w: u32, need_h: u32) -> (u32, u32) {
    if need_w >= h.width || need_h >= h.height {
        return (h.width, h.height);
    }
    (need_w.max(1), need_h.max(1))
}
