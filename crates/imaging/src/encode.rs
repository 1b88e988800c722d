//! Encoding: picks the channel layout each format can carry (flattening
//! alpha where it cannot) and writes the bytes.

use super::metadata::{self, Embedded};
use super::ops;
use super::pixels::{Layout, Pixels};
use super::{Format, Settings};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};
use pixmill_base::error::{ErrorClass, ItemError};
use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// GIF quantisation speed (1 = best, 30 = fastest); 10 is the gif crate's
/// suggested balance, far quicker than the image crate's default of 1.
pub(crate) const GIF_SPEED: i32 = 10;

/// GIF has one-bit transparency: a pixel under half opaque becomes clear,
/// any other is flattened onto `bg` by its alpha and made opaque (the GIF
/// encoder kept only fully clear pixels clear, and showed the rest at full
/// colour, however faint).
pub(crate) fn one_bit_alpha(rgba: &mut [u8], bg: [u8; 3]) {
    for px in rgba.chunks_exact_mut(4) {
        let a = u32::from(px[3]);
        match a {
            255 => {}
            0..=127 => px.copy_from_slice(&[0, 0, 0, 0]),
            _ => {
                for (c, b) in px[..3].iter_mut().zip(bg) {
                    *c = ((u32::from(*c) * a + u32::from(b) * (255 - a) + 127) / 255) as u8;
                }
                px[3] = 255;
            }
        }
    }
}

/// Chroma subsampling for JPEG output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subsampling {
    /// Full chroma resolution (sampling factors 1x1).
    S444,
    /// Half horizontal chroma resolution (2x1).
    S422,
    /// Half chroma resolution both ways (2x2).
    S420,
}

/// Per-format encoder controls; the defaults are what a user who gives no
/// flag should get (compressed output, at a speed comparable to libvips).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EncodeOptions {
    /// zlib-style level 0–9 for PNG and TIFF (0 = store uncompressed).
    pub compression: u8,
    /// libwebp `method` 0–6: higher is slower and smaller.
    pub effort: u8,
    /// Progressive (multi-scan) JPEG.
    pub progressive: bool,
    /// JPEG chroma subsampling; `None` keeps the encoder's own choice
    /// (4:2:0 below quality 90, 4:4:4 from 90).
    pub subsampling: Option<Subsampling>,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            // With adaptive filtering, level 3 is already smaller than
            // libvips's default save (level 6, unfiltered), in about half
            // its time; the png crate's level 6 costs 3x as much for no
            // gain on the corpus (bench/sizes.sh).
            compression: 3,
            // libwebp's own default method.
            effort: 4,
            progressive: false,
            subsampling: None,
        }
    }
}

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
        Format::Png => layout,
        // BMP has no grey-and-alpha mode: the image crate's encoder wrote
        // such pixels as plain grey, dropping the alpha. As RGBA they keep it.
        Format::Bmp | Format::Tiff => match layout {
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
    let mut px = ops::convert(px, layout, bg);
    if format == Format::Gif && px.layout == Layout::Rgba8 {
        one_bit_alpha(&mut px.data, bg);
    }
    let data = match format {
        Format::Jpeg => encode_jpeg(&px, settings.quality, &settings.encode),
        Format::Webp => encode_webp(&px, settings),
        Format::Png => encode_png(&px, settings.encode.compression),
        Format::Tiff => encode_tiff(&px, embedded, settings.encode.compression),
        #[cfg(feature = "heif")]
        Format::Avif => super::heif::encode_avif(&px, settings.quality, embedded),
        f if !f.can_write() => Err(encode_error(f, "this build cannot write it")),
        _ => encode_with_image(&px, format),
    }?;
    metadata::embed(data, format, embedded)
}

fn encode_jpeg(px: &Pixels, quality: u8, options: &EncodeOptions) -> Result<Vec<u8>, ItemError> {
    let fmt = Format::Jpeg;
    let too_big = || encode_error(fmt, format!("{}x{} exceeds 65535 px", px.width, px.height));
    let w = u16::try_from(px.width).map_err(|_| too_big())?;
    let h = u16::try_from(px.height).map_err(|_| too_big())?;
    if !options.progressive {
        if let Some(out) = encode_jpeg_turbo(px, quality, options.subsampling) {
            return Ok(out);
        }
    }
    let colour = match px.layout {
        Layout::L8 => jpeg_encoder::ColorType::Luma,
        Layout::Rgb8 => jpeg_encoder::ColorType::Rgb,
        other => return Err(encode_error(fmt, format!("unexpected layout {other:?}"))),
    };
    let mut out = Vec::with_capacity(px.data.len() / 8);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_progressive(options.progressive);
    if let Some(s) = options.subsampling {
        encoder.set_sampling_factor(match s {
            Subsampling::S444 => jpeg_encoder::SamplingFactor::R_4_4_4,
            Subsampling::S422 => jpeg_encoder::SamplingFactor::R_4_2_2,
            Subsampling::S420 => jpeg_encoder::SamplingFactor::R_4_2_0,
        });
    }
    encoder
        .encode(&px.data, w, h, colour)
        .map_err(|e| encode_error(fmt, e))?;
    Ok(out)
}

thread_local! {
    /// One libjpeg-turbo compressor per thread (a CPU worker), made on its
    /// first JPEG; `None` if libjpeg-turbo could not make one.
    static TURBO: std::cell::RefCell<Option<turbojpeg::Compressor>> =
        std::cell::RefCell::new(turbojpeg::Compressor::new().ok());
}

/// Baseline JPEG by libjpeg-turbo, the library that already decodes: its
/// SIMD colour conversion, DCT and Huffman coding take about half the
/// time of the jpeg-encoder crate (which stays for progressive output,
/// an option the turbojpeg API of Debian 12's 2.1 does not reach, and as
/// the fallback). Same IJG quality scaling of the Annex K tables, and the
/// same subsampling default (4:2:0 below quality 90, else 4:4:4), so a
/// file's size and look do not depend on which one wrote it. `None` when
/// libjpeg-turbo is unavailable or refuses, so the caller falls back.
pub(crate) fn encode_jpeg_turbo(
    px: &Pixels,
    quality: u8,
    sub: Option<Subsampling>,
) -> Option<Vec<u8>> {
    use turbojpeg::{PixelFormat, Subsamp};
    let quality = quality.clamp(1, 100);
    let (format, subsamp) = match px.layout {
        Layout::L8 => (PixelFormat::GRAY, Subsamp::Gray),
        Layout::Rgb8 => {
            let sub = match sub {
                Some(s) => s,
                None if quality < 90 => Subsampling::S420,
                None => Subsampling::S444,
            };
            let subsamp = match sub {
                Subsampling::S444 => Subsamp::None,
                Subsampling::S422 => Subsamp::Sub2x1,
                Subsampling::S420 => Subsamp::Sub2x2,
            };
            (PixelFormat::RGB, subsamp)
        }
        _ => return None,
    };
    let width = px.width as usize;
    let image = turbojpeg::Image {
        pixels: px.data.as_slice(),
        width,
        pitch: width * format.size(),
        height: px.height as usize,
        format,
    };
    if image.pixels.len() < image.pitch * image.height {
        return None;
    }
    TURBO.with(|cell| {
        let mut cell = cell.borrow_mut();
        let tj = cell.as_mut()?;
        tj.set_quality(i32::from(quality));
        tj.set_subsamp(subsamp);
        tj.compress_to_vec(image).ok()
    })
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
    let mut config =
        webp::WebPConfig::new().map_err(|()| encode_error(fmt, "libwebp version mismatch"))?;
    config.lossless = i32::from(settings.lossless);
    config.alpha_compression = i32::from(!settings.lossless);
    config.quality = f32::from(settings.quality.clamp(1, 100));
    config.method = i32::from(settings.encode.effort.min(6));
    let mem = encoder
        .encode_advanced(&config)
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

/// PNG at zlib `level` with adaptive (per-row) filtering, as libpng and
/// libvips do at their defaults; level 0 stores, level 1 uses the png
/// crate's very fast fdeflate path.
fn encode_png(px: &Pixels, level: u8) -> Result<Vec<u8>, ItemError> {
    let (compression, filter) = match level {
        0 => (CompressionType::Uncompressed, FilterType::NoFilter),
        1 => (CompressionType::Fast, FilterType::Adaptive),
        n => (CompressionType::Level(n.min(9)), FilterType::Adaptive),
    };
    let mut out = Vec::with_capacity(px.data.len() / 2);
    PngEncoder::new_with_quality(&mut out, compression, filter)
        .write_image(&px.data, px.width, px.height, colour_type(px.layout))
        .map_err(|e| encode_error(Format::Png, e))?;
    Ok(out)
}

fn encode_with_image(px: &Pixels, format: Format) -> Result<Vec<u8>, ItemError> {
    let mut out = Vec::new();
    let (buf, w, h, ct) = (&px.data[..], px.width, px.height, colour_type(px.layout));
    let result = match format {
        Format::Bmp => image::codecs::bmp::BmpEncoder::new(&mut out).write_image(buf, w, h, ct),
        Format::Gif => image::codecs::gif::GifEncoder::new_with_speed(&mut out, GIF_SPEED)
            .write_image(buf, w, h, ct),
        _ => return Err(encode_error(format, "wrong encoder")),
    };
    result.map_err(|e| encode_error(format, e))?;
    Ok(out)
}

/// TIFF through the tiff crate itself, so the metadata becomes tags of the
/// image's own directory: ICC, XMP, resolution, and the camera, date and
/// copyright text of the EXIF block (its sub-directories, such as GPS, are
/// not carried).
///
/// Compressed with deflate and the horizontal predictor (which is what makes
/// deflate pay on photos) unless `level` is 0.
fn encode_tiff(px: &Pixels, embedded: &Embedded, level: u8) -> Result<Vec<u8>, ItemError> {
    use tiff::encoder::colortype::{Gray8, RGB8, RGBA8};
    use tiff::encoder::{compression::DeflateLevel, Compression, Predictor};
    let fail = |e: tiff::TiffError| encode_error(Format::Tiff, e);
    let (compression, predictor) = match level {
        0 => (Compression::Uncompressed, Predictor::None),
        1..=2 => (
            Compression::Deflate(DeflateLevel::Fast),
            Predictor::Horizontal,
        ),
        3..=6 => (
            Compression::Deflate(DeflateLevel::Balanced),
            Predictor::Horizontal,
        ),
        _ => (
            Compression::Deflate(DeflateLevel::Best),
            Predictor::Horizontal,
        ),
    };
    let mut out = Cursor::new(Vec::with_capacity(px.data.len() / 2));
    let mut encoder = tiff::encoder::TiffEncoder::new(&mut out)
        .map_err(fail)?
        .with_compression(compression)
        .with_predictor(predictor);
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
