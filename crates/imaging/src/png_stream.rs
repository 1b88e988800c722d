//! PNG shrink-on-load: a large reduction decodes row by row and box-reduces
//! each row as it arrives, so an 81-megapixel PNG made into a thumbnail
//! never holds its full-size pixels (a quarter of a gigabyte), only the
//! reduced image the final convolution needs.

use super::colour;
use super::pixels::Samples;
use super::pixels::{check_pixels, Decoded};
use super::pixels::{Layout, Pixels};
use super::shrink::BoxShrink;
use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer};
use pixmill_base::error::ItemError;
use std::io::Cursor;

/// A PNG whose header has been read, ready to stream its rows.
pub(crate) struct PngHeader<'a> {
    reader: png::Reader<Cursor<&'a [u8]>>,
    pub width: u32,
    pub height: u32,
    pub orientation: Orientation,
}

/// Reads the header (up to the first image data) with the same expansion
/// the full path's decoder uses. `None` for what the streaming path does
/// not handle (interlaced images, whose rows arrive in passes, and
/// anything unreadable: the full path then gives the real error).
pub(crate) fn header(input: &[u8], max_alloc: usize) -> Option<PngHeader<'_>> {
    let mut decoder =
        png::Decoder::new_with_limits(Cursor::new(input), png::Limits { bytes: max_alloc });
    decoder.set_transformations(png::Transformations::EXPAND);
    let reader = decoder.read_info().ok()?;
    let info = reader.info();
    if info.interlaced {
        return None;
    }
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    Some(PngHeader {
        width: info.width,
        height: info.height,
        orientation,
        reader,
    })
}

/// Decodes reduced by `factor` on each axis. `None` on any decoding
/// failure, so the caller falls back to the full path and its error.
pub(crate) fn decode_shrunk(
    mut header: PngHeader<'_>,
    factor: u32,
    max_pixels: u64,
) -> Result<Option<Decoded>, ItemError> {
    check_pixels(header.width, header.height, max_pixels)?;
    let (colour_type, depth) = header.reader.output_color_type();
    let (layout, alpha) = match colour_type {
        png::ColorType::Grayscale => (Layout::L8, false),
        png::ColorType::GrayscaleAlpha => (Layout::La8, true),
        png::ColorType::Rgb => (Layout::Rgb8, false),
        png::ColorType::Rgba => (Layout::Rgba8, true),
        png::ColorType::Indexed => return Ok(None),
    };
    let deep = match depth {
        png::BitDepth::Eight => false,
        png::BitDepth::Sixteen => true,
        _ => return Ok(None),
    };
    let channels = layout.channels();
    let mut shrink = BoxShrink::new(header.width, factor, channels, alpha);
    let row_len = header.width as usize * channels * if deep { 2 } else { 1 };
    let mut rows = 0u32;
    loop {
        let row = match header.reader.next_row() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(_) => return Ok(None),
        };
        let data = row.data();
        if data.len() != row_len {
            return Ok(None);
        }
        if deep {
            shrink.push_row_u16_be(data);
        } else {
            shrink.push_row_u8(data);
        }
        rows += 1;
    }
    if rows != header.height {
        return Ok(None);
    }
    let info = header.reader.info();
    let icc = info
        .icc_profile
        .as_deref()
        .map(<[u8]>::to_vec)
        .or_else(|| colour::png_info_profile(info));
    let max = if deep { 65535 } else { 255 };
    let (width, height, data) = shrink.finish(max);
    let samples = if deep {
        match deep_image(width, height, layout, data) {
            Some(img) => Samples::Deep(img),
            None => return Ok(None),
        }
    } else {
        Samples::Eight(Pixels {
            width,
            height,
            layout,
            data: data.into_iter().map(|v| v as u8).collect(),
        })
    };
    Ok(Some(Decoded {
        samples,
        orientation: header.orientation,
        full: (header.width, header.height),
        icc,
        cicp: None,
    }))
}

/// 16-bit samples as the image the colour step takes deep input as.
fn deep_image(width: u32, height: u32, layout: Layout, data: Vec<u16>) -> Option<DynamicImage> {
    Some(match layout {
        Layout::L8 => DynamicImage::ImageLuma16(ImageBuffer::from_raw(width, height, data)?),
        Layout::La8 => DynamicImage::ImageLumaA16(ImageBuffer::from_raw(width, height, data)?),
        Layout::Rgb8 => DynamicImage::ImageRgb16(ImageBuffer::from_raw(width, height, data)?),
        Layout::Rgba8 => DynamicImage::ImageRgba16(ImageBuffer::from_raw(width, height, data)?),
    })
}
