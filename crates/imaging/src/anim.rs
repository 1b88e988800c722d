//! Animations and multi-page files: counting frames or pages from the
//! container alone, decoding every frame of an animated GIF, WebP or APNG
//! as full composited canvases, and encoding them back as GIF, WebP or APNG.

use super::pixels::decode_error;
use super::pixels::{Frame, Layout, Pixels, Plays};
use super::{Format, Settings};
use image::AnimationDecoder;
use pixmill_base::error::{ErrorClass, ItemError};
use std::io::Cursor;

/// What a file holds beyond its first picture, from the container alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sequence {
    /// An animation of `frames` frames on a `width`x`height` canvas.
    Animation {
        frames: u64,
        width: u32,
        height: u32,
        plays: Plays,
    },
    /// A multi-page file (TIFF); only the first page is converted.
    Pages(u64),
}

/// Counts frames or pages without decoding pixel data; `None` for a still
/// (or when the container cannot say, and the still path reports errors).
pub(crate) fn sequence(input: &[u8], format: Format) -> Option<Sequence> {
    let seq = match format {
        Format::Gif => gif_sequence(input),
        Format::Png => apng_sequence(input),
        Format::Webp => webp_sequence(input),
        Format::Tiff => tiff_pages(input).map(Sequence::Pages),
        _ => None,
    }?;
    let count = match seq {
        Sequence::Animation { frames, .. } => frames,
        Sequence::Pages(n) => n,
    };
    (count > 1).then_some(seq)
}

fn gif_sequence(input: &[u8]) -> Option<Sequence> {
    let mut options = gif::DecodeOptions::new();
    // Frame headers only: counting a 3000-frame GIF must not inflate it.
    options.skip_frame_decoding(true);
    let mut decoder = options.read_info(Cursor::new(input)).ok()?;
    let (width, height) = (u32::from(decoder.width()), u32::from(decoder.height()));
    let mut frames = 0u64;
    while let Ok(Some(_)) = decoder.next_frame_info() {
        frames += 1;
    }
    // GIF's NETSCAPE loop count n repeats n times after the first play
    // (as browsers show it); no extension at all means one play.
    let plays = match decoder.repeat() {
        gif::Repeat::Infinite => Plays::Forever,
        gif::Repeat::Finite(n) => Plays::Times(u32::from(n) + 1),
    };
    Some(Sequence::Animation {
        frames,
        width,
        height,
        plays,
    })
}

fn apng_sequence(input: &[u8]) -> Option<Sequence> {
    let reader = png::Decoder::new(Cursor::new(input)).read_info().ok()?;
    let info = reader.info();
    let actl = info.animation_control?;
    Some(Sequence::Animation {
        frames: u64::from(actl.num_frames),
        width: info.width,
        height: info.height,
        plays: plays_from(actl.num_plays),
    })
}

fn webp_sequence(input: &[u8]) -> Option<Sequence> {
    let decoder = image_webp::WebPDecoder::new(Cursor::new(input)).ok()?;
    if !decoder.is_animated() {
        return None;
    }
    let (width, height) = decoder.dimensions();
    let plays = match decoder.loop_count() {
        image_webp::LoopCount::Forever => Plays::Forever,
        image_webp::LoopCount::Times(n) => Plays::Times(u32::from(n.get())),
    };
    Some(Sequence::Animation {
        frames: u64::from(decoder.num_frames()),
        width,
        height,
        plays,
    })
}

/// Why an animation file is cut short (an interrupted download), if it is:
/// the decoders stop quietly at the cut, and would hand over the frames
/// before it as if they were all. GIF, APNG and animated WebP only.
pub(crate) fn truncation(input: &[u8], format: Format) -> Option<String> {
    match format {
        Format::Gif => gif_truncation(input),
        Format::Png => apng_truncation(input),
        Format::Webp => webp_truncation(input),
        _ => None,
    }
}

/// GIF declares no frame count: a file is whole when its frames run to the
/// trailer byte. One lacking only that byte (some writers forget it) is
/// whole too; one that stops inside a frame is not.
fn gif_truncation(input: &[u8]) -> Option<String> {
    let ends_inside = |data: &[u8]| {
        let mut options = gif::DecodeOptions::new();
        options.skip_frame_decoding(true);
        let Ok(mut decoder) = options.read_info(Cursor::new(data)) else {
            return false;
        };
        loop {
            match decoder.next_frame_info() {
                Ok(Some(_)) => {}
                Ok(None) => return false,
                Err(e) => return matches!(e, gif::DecodingError::UnexpectedEof),
            }
        }
    };
    if !ends_inside(input) {
        return None;
    }
    let with_trailer = [input, &[0x3B]].concat();
    ends_inside(&with_trailer).then(|| "truncated GIF: the file ends inside a frame".to_string())
}

/// An APNG (a PNG with an `acTL` chunk) must run to its `IEND` chunk; the
/// first frame decodes without the frames after it.
fn apng_truncation(input: &[u8]) -> Option<String> {
    const SIGNATURE: usize = 8;
    let mut at = SIGNATURE;
    let mut frames = None;
    while let Some(header) = input.get(at..at + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let data = input.get(at + 8..(at + 12).saturating_add(len));
        if kind == b"acTL" {
            frames = data
                .and_then(|d| d.get(..4))
                .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]));
        }
        if data.is_none() || kind == b"IEND" {
            break;
        }
        at += 12 + len;
    }
    let whole = input.get(at + 4..at + 8) == Some(b"IEND");
    match frames {
        Some(n) if !whole => Some(format!(
            "truncated PNG: the animation of {n} frames ends before its last chunk"
        )),
        _ => None,
    }
}

/// A RIFF file says its own length: an animated WebP shorter than that
/// lost its last frames.
fn webp_truncation(input: &[u8]) -> Option<String> {
    const ANIMATION_FLAG: u8 = 0x02;
    let animated = input.get(12..16) == Some(b"VP8X")
        && input.get(20).is_some_and(|f| f & ANIMATION_FLAG != 0);
    let size = input.get(4..8)?;
    let declared = u64::from(u32::from_le_bytes([size[0], size[1], size[2], size[3]])) + 8;
    let len = input.len() as u64;
    (animated && len < declared).then(|| {
        format!("truncated WEBP: the file has {len} of the {declared} bytes its header declares")
    })
}

/// WebP and APNG say "0 = forever".
fn plays_from(n: u32) -> Plays {
    match n {
        0 => Plays::Forever,
        n => Plays::Times(n),
    }
}

/// Counts a TIFF's images (IFDs) by walking the chain of IFD offsets; each
/// IFD is counted once, so a chain that loops back (a cycle of any length)
/// ends where it would repeat, and a hostile long chain stops at a bound.
fn tiff_pages(input: &[u8]) -> Option<u64> {
    const MAX_COUNTED: u64 = 100_000;
    let (big, le) = match input.get(..4)? {
        b"II*\0" => (false, true),
        b"MM\0*" => (false, false),
        b"II+\0" => (true, true),
        b"MM\0+" => (true, false),
        _ => return None,
    };
    let read = |at: u64, len: usize| -> Option<u64> {
        let at = usize::try_from(at).ok()?;
        let bytes = input.get(at..at.checked_add(len)?)?;
        let mut v = 0u64;
        for i in 0..len {
            let b = u64::from(bytes[if le { len - 1 - i } else { i }]);
            v = (v << 8) | b;
        }
        Some(v)
    };
    // Classic TIFF: 2-byte entry count, 12-byte entries, 4-byte offsets;
    // BigTIFF: 8, 20 and 8.
    let (count_len, entry_len, offset_len) = if big { (8, 20, 8) } else { (2, 12, 4) };
    let mut next = read(if big { 8 } else { 4 }, offset_len)?;
    let mut seen = std::collections::HashSet::new();
    let mut pages = 0;
    while next != 0 && pages < MAX_COUNTED && seen.insert(next) {
        let Some(entries) = read(next, count_len) else {
            break;
        };
        pages += 1;
        let after = entries
            .checked_mul(entry_len)
            .and_then(|n| n.checked_add(next + count_len as u64));
        next = after.and_then(|at| read(at, offset_len)).unwrap_or(0);
    }
    (pages > 0).then_some(pages)
}

/// Refuses an animation whose frames together exceed the pixel budget,
/// before any frame is decoded: every frame is a full canvas in memory
/// at some point, and each costs the time of a still.
pub(crate) fn check_budget(frames: u64, w: u32, h: u32, max_pixels: u64) -> Result<(), ItemError> {
    let total = frames
        .saturating_mul(u64::from(w))
        .saturating_mul(u64::from(h));
    if total > max_pixels {
        return Err(ItemError::new(
            ErrorClass::TooLarge,
            format!(
                "animation is {frames} frames of {w}x{h} ({total} pixels), over --max-pixels {max_pixels}"
            ),
        ));
    }
    Ok(())
}

/// Decodes every frame as a full RGBA canvas (disposal and blending
/// applied by the image crate), handing each to `each` as it comes so only
/// one canvas is alive at a time.
pub(crate) fn for_each_frame(
    input: &[u8],
    format: Format,
    mut each: impl FnMut(Frame) -> Result<(), ItemError>,
) -> Result<(), ItemError> {
    let fmt = Some(format);
    let err = |e: image::ImageError| decode_error(fmt, e);
    let frames: image::Frames<'_> = match format {
        Format::Gif => image::codecs::gif::GifDecoder::new(Cursor::new(input))
            .map_err(err)?
            .into_frames(),
        Format::Webp => image::codecs::webp::WebPDecoder::new(Cursor::new(input))
            .map_err(err)?
            .into_frames(),
        Format::Png => image::codecs::png::PngDecoder::new(Cursor::new(input))
            .map_err(err)?
            .apng()
            .map_err(err)?
            .into_frames(),
        _ => return Err(decode_error(fmt, "not an animation format")),
    };
    for frame in frames {
        let frame = frame.map_err(err)?;
        let (numer, denom) = frame.delay().numer_denom_ms();
        let delay_ms = numer.checked_div(denom).unwrap_or(0);
        let buffer = frame.into_buffer();
        let (width, height) = buffer.dimensions();
        each(Frame {
            pixels: Pixels {
                width,
                height,
                layout: Layout::Rgba8,
                data: buffer.into_raw(),
            },
            delay_ms,
        })?;
    }
    Ok(())
}

/// The animation's colour profile (WebP `ICCP`, PNG `iCCP` or one standing
/// for its `cICP`/`gAMA`/`cHRM`, a GIF `ICCRGBG1` extension), for the
/// colour step to apply to every frame as it would to a still.
pub(crate) fn icc(input: &[u8], format: Format) -> Option<Vec<u8>> {
    use image::ImageDecoder;
    let c = Cursor::new(input);
    let icc = match format {
        Format::Gif => image::codecs::gif::GifDecoder::new(c).ok()?.icc_profile(),
        Format::Webp => image::codecs::webp::WebPDecoder::new(c).ok()?.icc_profile(),
        Format::Png => image::codecs::png::PngDecoder::new(c).ok()?.icc_profile(),
        _ => return None,
    };
    let icc = icc.ok().flatten();
    if icc.is_none() && format == Format::Png {
        return super::colour::png_profile(input);
    }
    icc
}

fn encode_error(format: Format, reason: impl std::fmt::Display) -> ItemError {
    ItemError::new(
        ErrorClass::Encode,
        format!("cannot encode animated {}: {reason}", format.name()),
    )
}

/// Encodes same-sized RGBA frames as an animation in `format`.
pub(crate) fn encode(
    frames: &[Frame],
    plays: Plays,
    format: Format,
    settings: &Settings,
) -> Result<Vec<u8>, ItemError> {
    let Some(first) = frames.first() else {
        return Err(encode_error(format, "no frames"));
    };
    let (w, h) = (first.pixels.width, first.pixels.height);
    if frames
        .iter()
        .any(|f| (f.pixels.width, f.pixels.height, f.pixels.layout) != (w, h, Layout::Rgba8))
    {
        return Err(encode_error(format, "frames differ in size"));
    }
    match format {
        Format::Gif => encode_gif(frames, plays, settings.background),
        Format::Png => encode_apng(frames, plays, w, h),
        Format::Webp => super::webp_anim::encode(frames, plays, w, h, settings),
        other => Err(encode_error(other, "format cannot hold an animation")),
    }
}

fn encode_gif(frames: &[Frame], plays: Plays, bg: [u8; 3]) -> Result<Vec<u8>, ItemError> {
    use image::codecs::gif::{GifEncoder, Repeat};
    let fmt = Format::Gif;
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, super::encode::GIF_SPEED);
        // The inverse of reading: n plays is a NETSCAPE count of n - 1, and
        // a single play is no loop extension at all.
        let repeat = match plays {
            Plays::Forever => Some(Repeat::Infinite),
            Plays::Times(1) => None,
            Plays::Times(n) => Some(Repeat::Finite(u16::try_from(n - 1).unwrap_or(u16::MAX))),
        };
        if let Some(r) = repeat {
            encoder.set_repeat(r).map_err(|e| encode_error(fmt, e))?;
        }
        for f in frames {
            let mut data = f.pixels.data.clone();
            super::encode::one_bit_alpha(&mut data, bg);
            let buffer = image::RgbaImage::from_raw(f.pixels.width, f.pixels.height, data)
                .ok_or_else(|| encode_error(fmt, "frame buffer size"))?;
            let delay = image::Delay::from_numer_denom_ms(f.delay_ms, 1);
            encoder
                .encode_frame(image::Frame::from_parts(buffer, 0, 0, delay))
                .map_err(|e| encode_error(fmt, e))?;
        }
    }
    Ok(out)
}

fn encode_apng(frames: &[Frame], plays: Plays, w: u32, h: u32) -> Result<Vec<u8>, ItemError> {
    let fmt = Format::Png;
    let e = |e: png::EncodingError| encode_error(fmt, e);
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let count =
            u32::try_from(frames.len()).map_err(|_| encode_error(fmt, "too many frames"))?;
        let num_plays = match plays {
            Plays::Forever => 0,
            Plays::Times(n) => n,
        };
        encoder.set_animated(count, num_plays).map_err(e)?;
        let mut writer = encoder.write_header().map_err(e)?;
        for f in frames {
            let (numer, denom) = apng_delay(f.delay_ms);
            writer.set_frame_delay(numer, denom).map_err(e)?;
            writer.write_image_data(&f.pixels.data).map_err(e)?;
        }
        writer.finish().map_err(e)?;
    }
    Ok(out)
}

/// APNG delays are a u16 fraction of a second: milliseconds when they fit,
/// hundredths beyond 65 s.
fn apng_delay(ms: u32) -> (u16, u16) {
    match u16::try_from(ms) {
        Ok(ms) => (ms, 1000),
        Err(_) => (u16::try_from(ms / 10).unwrap_or(u16::MAX), 100),
    }
}
