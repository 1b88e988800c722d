//! Encoding: picks the channel layout each format can carry (flattening
//! alpha where it cannot) and writes the bytes.

use super::metadata::{self, Embedded};
use super::ops::{self, Layout, Pixels};
use super::{Format, Settings};
use crate::error::{ErrorClass, ItemError};
use image::{ExtendedColorType, ImageEncoder};
use std::io::Cursor;

/// GIF quantisation speed (1 = best, 30 = fastest); 10 is the gif crate's
/// suggested balance, far quicker than the image crate's default of 1.
pub(crate) const GIF_SPEED: i32 = 10;

fn encode_error(format: Format, reason: impl std::fmt::Display) -> ItemError {
    ItemError::new(
        ErrorClass::Encode,
        format!("cannot encode {}: {reason}", format.name()),
    )
}

/// The layout written for `layout` in `format`; gray stays gray where the
/// format has a gray mode, alpha stays where it has alpha.
pub(crate) fn layout_for(format: Format, layout: Layout, bg: [u8; 3]) -> Layout {
    match format {
        Format::Jpeg => match ops::with_colour(layout, bg) {
            Layout::L8 | Layout::La8 => Layout::L8,
            Layout::Rgb8 | Layout::Rgba8 => Layout::Rgb8,
        },
        Format::Png | Format::Bmp => layout,
        Format::Tiff => match layout {
            Layout::La8 => Layout::Rgba8,
            l => l,
        },
        Format::Webp | Format::Gif | Format::Avif | Format::Heif | Format::Jxl => match layout {
            Layout::L8 => Layout::Rgb8,
            Layout::La8 => Layout::Rgba8,
            l => l,
        },
    }
}

/// Converts `px` to what `format` takes, encodes it, and embeds what the
/// output must carry.
pub(crate) fn encode(
    px: Pixels,
    format: Format,
    settings: &Settings,
    embedded: &Embedded,
) -> Result<Vec<u8>, ItemError> {
    let bg = settings.background;
    let layout = layout_for(format, px.layout, bg);
    let px = ops::convert(px, layout, bg);
    let data = match format {
        Format::Jpeg => encode_jpeg(&px, settings.quality),
        Format::Webp => encode_webp(&px, settings),
        Format::Tiff => encode_tiff(&px, embedded),
        #[cfg(feature = "heif")]
        Format::Avif => super::heif::encode_avif(&px, settings.quality),
        f if !f.can_write() => Err(encode_error(f, "this build cannot write it")),
        _ => encode_with_image(&px, format),
    }?;
    metadata::embed(data, format, embedded)
}

fn encode_jpeg(px: &Pixels, quality: u8) -> Result<Vec<u8>, ItemError> {
    let fmt = Format::Jpeg;
    let too_big = || encode_error(fmt, format!("{}x{} exceeds 65535 px", px.width, px.height));
    let w = u16::try_from(px.width).map_err(|_| too_big())?;
    let h = u16::try_from(px.height).map_err(|_| too_big())?;
    let colour = match px.layout {
        Layout::L8 => jpeg_encoder::ColorType::Luma,
        Layout::Rgb8 => jpeg_encoder::ColorType::Rgb,
        other => return Err(encode_error(fmt, format!("unexpected layout {other:?}"))),
    };
    let mut out = Vec::with_capacity(px.data.len() / 8);
    let encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    encoder
        .encode(&px.data, w, h, colour)
        .map_err(|e| encode_error(fmt, e))?;
    Ok(out)
}

fn encode_webp(px: &Pixels, settings: &Settings) -> Result<Vec<u8>, ItemError> {
    let fmt = Format::Webp;
    // libwebp's hard limit; checked here because the webp crate would panic.
    if px.width > 16383 || px.height > 16383 {
        let msg = format!("{}x{} exceeds 16383 px", px.width, px.height);
        return Err(encode_error(fmt, msg));
    }
    let encoder = match px.layout {
        Layout::Rgb8 => webp::Encoder::from_rgb(&px.data, px.width, px.height),
        Layout::Rgba8 => webp::Encoder::from_rgba(&px.data, px.width, px.height),
        other => return Err(encode_error(fmt, format!("unexpected layout {other:?}"))),
    };
    let quality = f32::from(settings.quality.clamp(1, 100));
    let mem = encoder
        .encode_simple(settings.lossless, quality)
        .map_err(|e| encode_error(fmt, format!("{e:?}")))?;
    Ok(mem.to_vec())
}

fn colour_type(layout: Layout) -> ExtendedColorType {
    match layout {
        Layout::L8 => ExtendedColorType::L8,
        Layout::La8 => ExtendedColorType::La8,
        Layout::Rgb8 => ExtendedColorType::Rgb8,
        Layout::Rgba8 => ExtendedColorType::Rgba8,
    }
}

fn encode_with_image(px: &Pixels, format: Format) -> Result<Vec<u8>, ItemError> {
    let mut out = Vec::new();
    let (buf, w, h, ct) = (&px.data[..], px.width, px.height, colour_type(px.layout));
    let result = match format {
        Format::Png => image::codecs::png::PngEncoder::new(&mut out).write_image(buf, w, h, ct),
        Format::Bmp => image::codecs::bmp::BmpEncoder::new(&mut out).write_image(buf, w, h, ct),
        Format::Gif => image::codecs::gif::GifEncoder::new_with_speed(&mut out, GIF_SPEED)
            .write_image(buf, w, h, ct),
        Format::Jpeg | Format::Webp | Format::Tiff => {
            return Err(encode_error(format, "wrong encoder"))
        }
        _ => return Err(encode_error(format, "wrong encoder")),
    };
    result.map_err(|e| encode_error(format, e))?;
    Ok(out)
}

/// TIFF through the tiff crate itself, so the metadata becomes tags of the
/// image's own directory: ICC, XMP, resolution, and the camera, date and
/// copyright text of the EXIF block (its sub-directories, such as GPS, are
/// not carried).
fn encode_tiff(px: &Pixels, embedded: &Embedded) -> Result<Vec<u8>, ItemError> {
    use tiff::encoder::colortype::{Gray8, RGB8, RGBA8};
    let fail = |e: tiff::TiffError| encode_error(Format::Tiff, e);
    let mut out = Cursor::new(Vec::new());
    let mut encoder = tiff::encoder::TiffEncoder::new(&mut out).map_err(fail)?;
    match px.layout {
        Layout::L8 => write_tiff::<Gray8>(&mut encoder, px, embedded),
        Layout::Rgb8 => write_tiff::<RGB8>(&mut encoder, px, embedded),
        Layout::Rgba8 => write_tiff::<RGBA8>(&mut encoder, px, embedded),
        other => {
            let msg = format!("unexpected layout {other:?}");
            return Err(encode_error(Format::Tiff, msg));
        }
    }
    .map_err(fail)?;
    Ok(out.into_inner())
}

fn write_tiff<C>(
    encoder: &mut tiff::encoder::TiffEncoder<&mut Cursor<Vec<u8>>>,
    px: &Pixels,
    embedded: &Embedded,
) -> Result<(), tiff::TiffError>
where
    C: tiff::encoder::colortype::ColorType<Inner = u8>,
{
    use tiff::encoder::Rational;
    use tiff::tags::{ResolutionUnit, Tag};
    let mut image = encoder.new_image::<C>(px.width, px.height)?;
    if let Some((x, y)) = embedded.dpi {
        let r = |v: f64| Rational {
            n: (v * 100.0).round() as u32,
            d: 100,
        };
        image.resolution_unit(ResolutionUnit::Inch);
        image.x_resolution(r(x));
        image.y_resolution(r(y));
    }
    let dir = image.encoder();
    if let Some(icc) = &embedded.icc {
        dir.write_tag(Tag::IccProfile, icc.as_slice())?;
    }
    if let Some(xmp) = &embedded.xmp {
        dir.write_tag(Tag::Unknown(700), xmp.as_slice())?;
    }
    if let Some(exif) = &embedded.exif {
        for (tag, text) in super::exif::ifd0_text(exif) {
            dir.write_tag(Tag::Unknown(tag), text.as_str())?;
        }
    }
    image.write_data(&px.data)
}
