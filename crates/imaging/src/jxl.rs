//! JPEG XL decoding with jxl-oxide (pure Rust).

use super::pixels::{check_pixels, decode_error, Decoded};
use super::pixels::{Layout, Pixels};
use super::Format;
use image::metadata::Orientation;
use jxl_oxide::{AllocTracker, JxlImage, JxlThreadPool, PixelFormat};
use pixmill_base::error::ItemError;

/// Memory reading a JPEG XL's headers may take (its frames are not rendered).
const HEADER_BUDGET: usize = 64 << 20;

/// The CICP code of sRGB rendering: primaries 1, transfer 13, matrix 0, full range.
const SRGB_CICP: [u8; 4] = [1, 13, 0, 1];

/// Decodes the first (key)frame at 8 bits a channel. jxl-oxide applies the
/// orientation from the header itself, so the result is upright.
///
/// Returns the number of frames too: an animated JPEG XL keeps only its
/// first, and the caller says so.
/// The image's size from its headers; no frame is rendered (and what
/// reading the headers may allocate is capped).
pub(crate) fn header_size(input: &[u8]) -> Option<(u32, u32)> {
    let image = JxlImage::builder()
        .pool(JxlThreadPool::none())
        .alloc_tracker(AllocTracker::with_limit(HEADER_BUDGET))
        .read(input)
        .ok()?;
    Some((image.width(), image.height()))
}

pub(crate) fn decode(input: &[u8], max_pixels: u64) -> Result<(Decoded, usize), ItemError> {
    let fmt = Some(Format::Jxl);
    // Renders in f32 planes: 4 channels x 4 bytes, twice over for the
    // working buffers, plus slack for the bitstream; a second line of
    // defence behind the header check below.
    let budget = usize::try_from(max_pixels.saturating_mul(32).saturating_add(64 << 20))
        .unwrap_or(usize::MAX);
    let image = JxlImage::builder()
        .pool(JxlThreadPool::none())
        .alloc_tracker(AllocTracker::with_limit(budget))
        .read(input)
        .map_err(|e| decode_error(fmt, e))?;
    let (w, h) = (image.width(), image.height());
    check_pixels(w, h, max_pixels)?;
    let layout = match image.pixel_format() {
        PixelFormat::Gray => Layout::L8,
        PixelFormat::Graya => Layout::La8,
        PixelFormat::Rgb => Layout::Rgb8,
        PixelFormat::Rgba => Layout::Rgba8,
        PixelFormat::Cmyk | PixelFormat::Cmyka => {
            return Err(decode_error(fmt, "CMYK JPEG XL is not supported"))
        }
    };
    let render = image.render_frame(0).map_err(|e| decode_error(fmt, e))?;
    let mut stream = render.stream();
    let (sw, sh) = (stream.width(), stream.height());
    if (sw, sh) != (w, h) || stream.channels() as usize != layout.channels() {
        return Err(decode_error(fmt, "rendered frame differs from header"));
    }
    let mut data = vec![0u8; sw as usize * sh as usize * layout.channels()];
    let written = stream.write_to_buffer(&mut data);
    if written != data.len() {
        return Err(decode_error(fmt, "rendered frame is short"));
    }
    // Pixels come out in the image's colour encoding: sRGB needs nothing,
    // anything else is described by the profile jxl-oxide renders to.
    let icc = match image.original_icc() {
        Some(icc) => Some(icc.to_vec()),
        None if image.rendered_cicp() == Some(SRGB_CICP) => None,
        None => Some(image.rendered_icc()),
    };
    let frames = image.num_loaded_keyframes();
    let decoded = Decoded {
        samples: super::pixels::Samples::Eight(Pixels {
            width: w,
            height: h,
            layout,
            data,
        }),
        orientation: Orientation::NoTransforms,
        full: (w, h),
        icc,
        cicp: None,
    };
    Ok((decoded, frames))
}
