//! Pixel operations on 8-bit images: resample, orient, pad, flatten and
//! change channel layout.

use super::pixels::{Layout, Pixels, SHRINK_MARGIN};
use super::Filter;
use fast_image_resize as fr;
use image::metadata::Orientation;
use pixmill_base::error::{ErrorClass, ItemError};

fn internal(what: &str) -> ItemError {
    ItemError::new(ErrorClass::Encode, format!("internal image error: {what}"))
}

/// fast_image_resize's algorithm for a pixmill filter.
fn algorithm(filter: Filter) -> fr::ResizeAlg {
    use fr::FilterType as F;
    let f = match filter {
        Filter::Nearest => return fr::ResizeAlg::Nearest,
        Filter::Box => F::Box,
        Filter::Bilinear => F::Bilinear,
        Filter::Hamming => F::Hamming,
        Filter::Catmullrom => F::CatmullRom,
        Filter::Mitchell => F::Mitchell,
        Filter::Gaussian => F::Gaussian,
        Filter::Lanczos3 => F::Lanczos3,
        // Resolved by `Filter::for_scale` before; box is its reducing half.
        Filter::Area => F::Box,
    };
    fr::ResizeAlg::Convolution(f)
}

/// The smallest box pre-reduction factor worth a pass of its own: at 2 the
/// averaging pass costs about what it saves the final filter (4096x3072 to
/// 1024 px: 24 ms either way); at 3 and more it pays (to 680 px: 27 ms ->
/// 18 ms; to 512 px: 26 -> 9 ms; to 256 px: 24 -> 5 ms).
const PRE_REDUCE_MIN: u32 = 3;

/// Resamples `src` (optionally its centred `crop`) to `width`x`height`.
///
/// A large reduction first averages `f`x`f` blocks (a box filter, as
/// libvips's shrink does before its reduce), keeping
/// [`SHRINK_MARGIN`] times the output, so the final filter runs on a few
/// pixels instead of millions; `pre_reduce` off keeps the final filter all
/// the way (the reference the quality test compares with).
///
/// Alpha is premultiplied for the convolution (fast_image_resize's default
/// `mul_div_alpha`), so transparent pixels do not bleed their colour.
pub(crate) fn resize(
    resizer: &mut fr::Resizer,
    src: Pixels,
    crop: Option<(f64, f64)>,
    (width, height): (u32, u32),
    filter: Filter,
    pre_reduce: bool,
) -> Result<Pixels, ItemError> {
    if crop.is_none() && (src.width, src.height) == (width, height) {
        return Ok(src);
    }
    let from = crop.unwrap_or((f64::from(src.width), f64::from(src.height)));
    let filter = filter.for_scale(from, (width, height));
    let (src, crop) = if pre_reduce {
        box_reduce(resizer, src, crop, (width, height), filter)?
    } else {
        (src, crop)
    };
    let mut options = fr::ResizeOptions::new().resize_alg(algorithm(filter));
    if let Some((cw, ch)) = crop {
        let (sw, sh) = (f64::from(src.width), f64::from(src.height));
        let (cw, ch) = (cw.clamp(1.0, sw), ch.clamp(1.0, sh));
        options = options.crop((sw - cw) / 2.0, (sh - ch) / 2.0, cw, ch);
    }
    use fr::pixels::{U8x2, U8x3, U8x4, U8};
    let data = match src.layout {
        Layout::L8 => resize_typed::<U8>(resizer, &src, (width, height), &options),
        Layout::La8 => resize_typed::<U8x2>(resizer, &src, (width, height), &options),
        Layout::Rgb8 => resize_typed::<U8x3>(resizer, &src, (width, height), &options),
        Layout::Rgba8 => resize_typed::<U8x4>(resizer, &src, (width, height), &options),
    }?;
    Ok(Pixels {
        width,
        height,
        layout: src.layout,
        data,
    })
}

/// One layout's resample. Typed, so only the four 8-bit pixel types
/// pixmill uses are compiled: `Resizer::resize` dispatches at run time over
/// all thirteen of fast_image_resize's, and compiling those was most of
/// this crate's build (bench/results-build.md).
fn resize_typed<P: fr::PixelTrait>(
    resizer: &mut fr::Resizer,
    src: &Pixels,
    (width, height): (u32, u32),
    options: &fr::ResizeOptions,
) -> Result<Vec<u8>, ItemError> {
    let src_img = fr::images::TypedImageRef::<P>::from_buffer(src.width, src.height, &src.data)
        .map_err(|e| internal(&e.to_string()))?;
    let mut data = vec![0u8; width as usize * height as usize * src.layout.channels()];
    let mut dst = fr::images::TypedImage::<P>::from_buffer(width, height, &mut data)
        .map_err(|e| internal(&e.to_string()))?;
    resizer
        .resize_typed(&src_img, &mut dst, options)
        .map_err(|e| internal(&e.to_string()))?;
    Ok(data)
}

/// The box pre-reduction of [`resize`]: `src` averaged down by the largest
/// whole factor that keeps [`SHRINK_MARGIN`] times the output on both axes
/// (of the crop, when there is one), and the crop scaled to match; both
/// unchanged when that factor is under [`PRE_REDUCE_MIN`] or the filter is
/// nearest or box (already cheap, and asked for by name).
fn box_reduce(
    resizer: &mut fr::Resizer,
    src: Pixels,
    crop: Option<(f64, f64)>,
    (width, height): (u32, u32),
    filter: Filter,
) -> Result<(Pixels, Option<(f64, f64)>), ItemError> {
    if matches!(filter, Filter::Nearest | Filter::Box) || width == 0 || height == 0 {
        return Ok((src, crop));
    }
    let (cw, ch) = crop.unwrap_or((f64::from(src.width), f64::from(src.height)));
    let ratio = (cw / f64::from(width)).min(ch / f64::from(height)) / SHRINK_MARGIN;
    let factor = ratio.floor() as u32;
    if factor < PRE_REDUCE_MIN {
        return Ok((src, crop));
    }
    let (mw, mh) = (
        src.width.div_ceil(factor).max(1),
        src.height.div_ceil(factor).max(1),
    );
    let (sw, sh) = (f64::from(src.width), f64::from(src.height));
    let mid = resize(resizer, src, None, (mw, mh), Filter::Box, false)?;
    let crop = crop.map(|(cw, ch)| (cw * f64::from(mw) / sw, ch * f64::from(mh) / sh));
    Ok((mid, crop))
}

/// The `w`x`h` region of `px` whose top left corner is `(x, y)` (clamped
/// to fit inside it).
pub(crate) fn extract(px: Pixels, (x, y): (u32, u32), (w, h): (u32, u32)) -> Pixels {
    let (w, h) = (w.min(px.width), h.min(px.height));
    if (w, h) == (px.width, px.height) {
        return px;
    }
    let (x, y) = (x.min(px.width - w) as usize, y.min(px.height - h) as usize);
    let c = px.layout.channels();
    let (row, stride) = (w as usize * c, px.width as usize * c);
    let mut data = Vec::with_capacity(row * h as usize);
    for r in y..y + h as usize {
        let start = r * stride + x * c;
        data.extend_from_slice(&px.data[start..start + row]);
    }
    Pixels {
        width: w,
        height: h,
        layout: px.layout,
        data,
    }
}

/// Whether an EXIF orientation turns the image a quarter (swaps its sides).
pub(crate) fn swaps_sides(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Turns the stored image upright.
pub(crate) fn orient(px: Pixels, o: Orientation) -> Result<Pixels, ItemError> {
    if o == Orientation::NoTransforms {
        return Ok(px);
    }
    let mut img = px.into_dynamic().ok_or_else(|| internal("buffer size"))?;
    img.apply_orientation(o);
    Ok(Pixels::from_dynamic(img))
}

/// Converts to `to`, compositing alpha over `bg` when `to` has none.
pub(crate) fn convert(px: Pixels, to: Layout, bg: [u8; 3]) -> Pixels {
    if px.layout == to {
        return px;
    }
    let from = px.layout;
    let mut data = Vec::with_capacity(px.data.len() / from.channels() * to.channels());
    for p in px.data.chunks_exact(from.channels()) {
        let (rgb, a) = match from {
            Layout::L8 => ([p[0]; 3], 255),
            Layout::La8 => ([p[0]; 3], p[1]),
            Layout::Rgb8 => ([p[0], p[1], p[2]], 255),
            Layout::Rgba8 => ([p[0], p[1], p[2]], p[3]),
        };
        let rgb = if to.has_alpha() {
            rgb
        } else {
            composite(rgb, a, bg)
        };
        match to {
            Layout::L8 => data.push(luma(rgb)),
            Layout::La8 => data.extend_from_slice(&[luma(rgb), a]),
            Layout::Rgb8 => data.extend_from_slice(&rgb),
            Layout::Rgba8 => data.extend_from_slice(&[rgb[0], rgb[1], rgb[2], a]),
        }
    }
    Pixels {
        width: px.width,
        height: px.height,
        layout: to,
        data,
    }
}

fn composite(c: [u8; 3], a: u8, bg: [u8; 3]) -> [u8; 3] {
    let a = u32::from(a);
    let mix = |c: u8, b: u8| ((u32::from(c) * a + u32::from(b) * (255 - a) + 127) / 255) as u8;
    [mix(c[0], bg[0]), mix(c[1], bg[1]), mix(c[2], bg[2])]
}

/// Rec. 601 luma, the weights the image crate uses too.
fn luma(c: [u8; 3]) -> u8 {
    let y = 299 * u32::from(c[0]) + 587 * u32::from(c[1]) + 114 * u32::from(c[2]);
    ((y + 500) / 1000) as u8
}

fn is_gray(c: [u8; 3]) -> bool {
    c[0] == c[1] && c[1] == c[2]
}

/// The layout that can carry `layout` plus the colour `bg` without loss.
pub(crate) fn with_colour(layout: Layout, bg: [u8; 3]) -> Layout {
    match layout {
        Layout::L8 if !is_gray(bg) => Layout::Rgb8,
        Layout::La8 if !is_gray(bg) => Layout::Rgba8,
        l => l,
    }
}

/// Letterboxes `px` centred onto an opaque `bg` canvas of `w`x`h`.
pub(crate) fn pad(px: Pixels, w: u32, h: u32, bg: [u8; 3]) -> Pixels {
    if (px.width, px.height) == (w, h) {
        return px;
    }
    let layout = with_colour(px.layout, bg);
    let px = convert(px, layout, bg);
    let fill: Vec<u8> = match px.layout {
        Layout::L8 => vec![bg[0]],
        Layout::La8 => vec![bg[0], 255],
        Layout::Rgb8 => bg.to_vec(),
        Layout::Rgba8 => vec![bg[0], bg[1], bg[2], 255],
    };
    paste_centred(px, w, h, &fill)
}

/// Letterboxes `px` centred onto a fully transparent canvas of `w`x`h`.
pub(crate) fn pad_transparent(px: Pixels, w: u32, h: u32) -> Pixels {
    if (px.width, px.height) == (w, h) {
        return px;
    }
    let (layout, fill): (Layout, &[u8]) = match px.layout {
        Layout::L8 | Layout::La8 => (Layout::La8, &[0, 0]),
        Layout::Rgb8 | Layout::Rgba8 => (Layout::Rgba8, &[0, 0, 0, 0]),
    };
    let px = convert(px, layout, [0; 3]);
    paste_centred(px, w, h, fill)
}

/// `px` centred on a `w`x`h` canvas of `fill` (one pixel in `px`'s layout).
fn paste_centred(px: Pixels, w: u32, h: u32, fill: &[u8]) -> Pixels {
    let n = fill.len();
    let mut data = fill.repeat(w as usize * h as usize);
    let (pw, ph) = (px.width.min(w) as usize, px.height.min(h) as usize);
    let (x0, y0) = ((w as usize - pw) / 2, (h as usize - ph) / 2);
    let src_stride = px.width as usize * n;
    for (row, src) in px.data.chunks_exact(src_stride).take(ph).enumerate() {
        let at = ((y0 + row) * w as usize + x0) * n;
        data[at..at + pw * n].copy_from_slice(&src[..pw * n]);
    }
    Pixels {
        width: w,
        height: h,
        layout: px.layout,
        data,
    }
}

/// A region to blur: `[x0, y0, x1, y1]`, each a fraction (0 to 1) of the
/// image's width or height as displayed, img2dataset's box format.
pub type BlurBox = [f64; 4];

/// Checks one box: four finite fractions in 0..=1 with `x0 < x1`, `y0 < y1`.
pub fn check_box(b: &BlurBox) -> Result<(), String> {
    let [x0, y0, x1, y1] = *b;
    if !b.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)) {
        return Err(format!(
            "box [{x0}, {y0}, {x1}, {y1}] is not four fractions from 0 to 1"
        ));
    }
    if x0 >= x1 || y0 >= y1 {
        return Err(format!(
            "box [{x0}, {y0}, {x1}, {y1}] is empty: it needs x0 < x1 and y0 < y1"
        ));
    }
    Ok(())
}

/// Blurs each box strongly: a Gaussian (three box passes) whose sigma is a
/// sixth of the box's longer side, as DataComp blurs faces, so what was in
/// the box cannot be read back; pixels outside the boxes are untouched.
pub(crate) fn blur_boxes(mut px: Pixels, boxes: &[BlurBox]) -> Pixels {
    let (w, h) = (px.width as usize, px.height as usize);
    let channels = px.layout.channels();
    for b in boxes {
        let x0 = ((b[0] * w as f64).floor() as usize).min(w);
        let y0 = ((b[1] * h as f64).floor() as usize).min(h);
        let x1 = ((b[2] * w as f64).ceil() as usize).min(w);
        let y1 = ((b[3] * h as f64).ceil() as usize).min(h);
        if x1 <= x0 || y1 <= y0 {
            continue;
        }
        let sigma = ((x1 - x0).max(y1 - y0) as f64 / 6.0).max(2.0);
        let radius = sigma.round() as usize;
        let region = Region {
            x0,
            y0,
            x1,
            y1,
            stride: w * channels,
            channels,
        };
        for _ in 0..3 {
            region.pass(&mut px.data, radius, true);
            region.pass(&mut px.data, radius, false);
        }
    }
    px
}

/// A rectangle of an interleaved 8-bit buffer.
struct Region {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    stride: usize,
    channels: usize,
}

impl Region {
    /// One box-blur pass of `radius` along rows (or columns), the window
    /// clamped to the region's edges.
    fn pass(&self, data: &mut [u8], radius: usize, rows: bool) {
        let (lines, len) = match rows {
            true => (self.y0..self.y1, self.x1 - self.x0),
            false => (self.x0..self.x1, self.y1 - self.y0),
        };
        let mut line = vec![0u32; len];
        for l in lines {
            let at = |i: usize, c: usize| match rows {
                true => l * self.stride + (self.x0 + i) * self.channels + c,
                false => (self.y0 + i) * self.stride + l * self.channels + c,
            };
            for c in 0..self.channels {
                for (i, v) in line.iter_mut().enumerate() {
                    *v = u32::from(data[at(i, c)]);
                }
                // A running sum over the clamped window.
                let value = |i: isize| line[i.clamp(0, len as isize - 1) as usize];
                let r = radius as isize;
                let width = (2 * radius + 1) as u32;
                let mut sum: u32 = (-r..=r).map(value).sum();
                for i in 0..len {
                    data[at(i, c)] = ((sum + width / 2) / width) as u8;
                    let i = i as isize;
                    sum = sum + value(i + r + 1) - value(i - r);
                }
            }
        }
    }
}

#[cfg(test)]
mod blur_tests {
    use super::*;

    fn checkerboard(w: u32, h: u32) -> Pixels {
        let data = (0..h)
            .flat_map(|y| (0..w).map(move |x| if (x / 2 + y / 2) % 2 == 0 { 255u8 } else { 0 }))
            .flat_map(|v| [v, v, v])
            .collect();
        Pixels {
            width: w,
            height: h,
            layout: Layout::Rgb8,
            data,
        }
    }

    #[test]
    fn a_blurred_box_loses_its_detail_and_the_rest_is_untouched() {
        let before = checkerboard(64, 64);
        let after = blur_boxes(checkerboard(64, 64), &[[0.25, 0.25, 0.75, 0.75]]);
        let at = |px: &Pixels, x: usize, y: usize| px.data[(y * 64 + x) * 3];
        // Inside: the 0/255 checks are all near the mean grey.
        for y in 20..44 {
            for x in 20..44 {
                let v = at(&after, x, y);
                assert!((96..=160).contains(&v), "({x},{y}) = {v}");
            }
        }
        // Outside: not a byte changed.
        for y in 0..64 {
            for x in 0..64 {
                if !(16..48).contains(&x) || !(16..48).contains(&y) {
                    assert_eq!(at(&after, x, y), at(&before, x, y));
                }
            }
        }
    }

    #[test]
    fn malformed_boxes_are_refused() {
        assert!(check_box(&[0.1, 0.1, 0.5, 0.5]).is_ok());
        assert!(check_box(&[0.5, 0.1, 0.4, 0.5]).is_err());
        assert!(check_box(&[0.1, 0.1, 1.5, 0.5]).is_err());
        assert!(check_box(&[f64::NAN, 0.1, 0.5, 0.5]).is_err());
    }
}
