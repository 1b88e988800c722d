//! The shapes every stage of the engine passes along: pixel buffers and
//! their layouts, decoded samples before colour management, what a decoder
//! hands on, and animation frames. The lowest module of the crate: it
//! imports none of the others but `Format`, so decoders, colour, pixel
//! operations and encoders all build on it and never on each other's
//! definitions.

use crate::Format;
use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer};
use pixmill_base::error::{ErrorClass, ItemError};

/// The channel layouts pixmill works in; everything decodes to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    L8,
    La8,
    Rgb8,
    Rgba8,
}

impl Layout {
    pub(crate) fn channels(self) -> usize {
        match self {
            Layout::L8 => 1,
            Layout::La8 => 2,
            Layout::Rgb8 => 3,
            Layout::Rgba8 => 4,
        }
    }

    pub(crate) fn has_alpha(self) -> bool {
        matches!(self, Layout::La8 | Layout::Rgba8)
    }
}

/// A tightly packed 8-bit image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pixels {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub data: Vec<u8>,
}

impl Pixels {
    /// Takes the decoder's buffer as is when it is already 8-bit; 16-bit
    /// and float images are reduced to 8-bit here (pixmill writes 8-bit).
    pub(crate) fn from_dynamic(img: DynamicImage) -> Pixels {
        let (width, height) = (img.width(), img.height());
        let (layout, data) = match img {
            DynamicImage::ImageLuma8(b) => (Layout::L8, b.into_raw()),
            DynamicImage::ImageLumaA8(b) => (Layout::La8, b.into_raw()),
            DynamicImage::ImageRgb8(b) => (Layout::Rgb8, b.into_raw()),
            DynamicImage::ImageRgba8(b) => (Layout::Rgba8, b.into_raw()),
            DynamicImage::ImageLuma16(_) => (Layout::L8, img.to_luma8().into_raw()),
            DynamicImage::ImageLumaA16(_) => (Layout::La8, img.to_luma_alpha8().into_raw()),
            DynamicImage::ImageRgb16(_) | DynamicImage::ImageRgb32F(_) => {
                (Layout::Rgb8, img.to_rgb8().into_raw())
            }
            _ => (Layout::Rgba8, img.to_rgba8().into_raw()),
        };
        Pixels {
            width,
            height,
            layout,
            data,
        }
    }

    /// Wraps the buffer for the image crate's encoders and transforms; the
    /// length always matches because every constructor here keeps it so.
    pub(crate) fn into_dynamic(self) -> Option<DynamicImage> {
        let (w, h) = (self.width, self.height);
        Some(match self.layout {
            Layout::L8 => DynamicImage::ImageLuma8(ImageBuffer::from_raw(w, h, self.data)?),
            Layout::La8 => DynamicImage::ImageLumaA8(ImageBuffer::from_raw(w, h, self.data)?),
            Layout::Rgb8 => DynamicImage::ImageRgb8(ImageBuffer::from_raw(w, h, self.data)?),
            Layout::Rgba8 => DynamicImage::ImageRgba8(ImageBuffer::from_raw(w, h, self.data)?),
        })
    }
}

/// Decoded samples, before colour management.
pub(crate) enum Samples {
    /// 8 bits a sample, in one of the pipeline's layouts.
    Eight(Pixels),
    /// More than 8 bits a sample (16-bit PNG and TIFF, float images).
    Deep(DynamicImage),
    /// CMYK ink amounts (0 = no ink, 255 = full ink), 4 bytes a pixel.
    Cmyk {
        width: u32,
        height: u32,
        data: Vec<u8>,
    },
}

impl From<Pixels> for Samples {
    fn from(px: Pixels) -> Samples {
        Samples::Eight(px)
    }
}

impl From<DynamicImage> for Samples {
    /// 8-bit images become pixels at once; deeper ones wait for the
    /// colour step.
    fn from(img: DynamicImage) -> Samples {
        match img {
            DynamicImage::ImageLuma8(_)
            | DynamicImage::ImageLumaA8(_)
            | DynamicImage::ImageRgb8(_)
            | DynamicImage::ImageRgba8(_) => Samples::Eight(Pixels::from_dynamic(img)),
            deep => Samples::Deep(deep),
        }
    }
}

impl Samples {
    pub(crate) fn dimensions(&self) -> (u32, u32) {
        match self {
            Samples::Eight(px) => (px.width, px.height),
            Samples::Deep(img) => (img.width(), img.height()),
            Samples::Cmyk { width, height, .. } => (*width, *height),
        }
    }
}

/// Decoded samples plus what the header said.
pub(crate) struct Decoded {
    /// Before colour management ([`colour::apply`] turns them into pixels).
    pub samples: Samples,
    /// The EXIF orientation (`NoTransforms` when absent or invalid).
    pub orientation: Orientation,
    /// Full stored dimensions; `pixels` may be smaller after shrink-on-load.
    pub full: (u32, u32),
    /// The embedded ICC profile, raw, when the input carries one (or one
    /// standing for a PNG's `cICP`/`gAMA`/`cHRM`).
    pub icc: Option<Vec<u8>>,
    /// The colour description HEIF/AVIF give as an `nclx` box instead of
    /// (or besides) a profile; the pixels are RGB in these primaries and
    /// transfer (the matrix has already been applied by the decoder).
    pub cicp: Option<Cicp>,
}

/// ITU-T H.273 colour code points (what HEIF's `nclx` and PNG's `cICP`
/// carry): 1/13/0 full range is sRGB, 12/13 Display P3, 9/16 BT.2100 PQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cicp {
    pub primaries: u8,
    pub transfer: u8,
    pub matrix: u8,
    pub full_range: bool,
}

impl Cicp {
    /// sRGB or BT.709 primaries with an sRGB-like transfer (or unspecified
    /// ones), which the sRGB pipeline already treats right.
    pub(crate) fn is_srgb_like(&self) -> bool {
        matches!(self.primaries, 1 | 2) && matches!(self.transfer, 1 | 2 | 6 | 13 | 14 | 15)
    }
}

impl std::fmt::Display for Cicp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "nclx primaries {}, transfer {}",
            self.primaries, self.transfer
        )
    }
}

/// Extra resolution the shrink-on-load decode keeps over the output, so the
/// final Lanczos pass still has real detail to work with (see the quality
/// test in `tests.rs` for the figures behind it).
pub(crate) const SHRINK_MARGIN: f64 = 2.0;

pub(crate) fn decode_error(format: Option<Format>, reason: impl std::fmt::Display) -> ItemError {
    let msg = match format {
        Some(f) => format!("corrupt {}: {reason}", f.name().to_uppercase()),
        None => format!("not a decodable image: {reason}"),
    };
    ItemError::new(ErrorClass::Decode, msg)
}

/// Refuses images over the pixel budget, from header dimensions alone.
pub(crate) fn check_pixels(w: u32, h: u32, max_pixels: u64) -> Result<(), ItemError> {
    let n = u64::from(w) * u64::from(h);
    if n > max_pixels {
        return Err(ItemError::new(
            ErrorClass::TooLarge,
            format!("image is {w}x{h} ({n} pixels), over --max-pixels {max_pixels}"),
        ));
    }
    if n == 0 {
        return Err(decode_error(None, format!("image is {w}x{h}")));
    }
    Ok(())
}

/// How many times an animation plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plays {
    Forever,
    /// Total plays, at least 1.
    Times(u32),
}

/// One decoded (or resized) frame and how long it shows, in milliseconds.
pub(crate) struct Frame {
    pub pixels: Pixels,
    pub delay_ms: u32,
}
