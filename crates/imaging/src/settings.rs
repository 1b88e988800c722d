//! What one conversion is asked to do: the resize box and fit, the filter,
//! the output format and encoder options, colour and metadata, and the
//! limits that refuse an input. Plain data, checked by the caller.

use crate::{ColourMode, Crop, EncodeOptions, Format};
use serde::{Deserialize, Serialize};

/// How the image is fitted to the `--resize` box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Fit inside the box, keeping the aspect ratio.
    #[default]
    Inside,
    /// Fill the box, keeping the aspect ratio, cropping the overflow (where
    /// [`Settings::crop`] says).
    Cover,
    /// Stretch to exactly the box.
    Fill,
    /// Fit inside, then letterbox onto the background to exactly the box.
    Contain,
    /// Cover the box, keeping the aspect ratio, without cropping: the
    /// shorter side meets the box (img2dataset's `keep_ratio`).
    Outside,
}

/// When an output is encoded afresh (`--reencode`), or the input's own
/// bytes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reencode {
    /// Always decode, transform and encode (the default).
    #[default]
    Always,
    /// Keep the input's bytes when the output would show the same pixels
    /// at the same size in the same format: no resize, crop, rotation,
    /// colour conversion or blur to apply, and nothing to warn about.
    IfNeeded,
    /// Keep the input's bytes, once they are checked to decode; options
    /// that change pixels are refused by the caller.
    Never,
}

impl Reencode {
    /// Whether the settings hash leaves it out (its default).
    pub fn is_always(&self) -> bool {
        *self == Reencode::Always
    }
}

/// The resampling filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    /// Nearest neighbour.
    Nearest,
    /// Box (area average).
    Box,
    /// Bilinear.
    Bilinear,
    /// Hamming.
    Hamming,
    /// Catmull-Rom bicubic.
    Catmullrom,
    /// Mitchell-Netravali bicubic.
    Mitchell,
    /// Gaussian.
    Gaussian,
    /// Lanczos with three lobes (the default, as libvips and sharp use).
    #[default]
    Lanczos3,
    /// Area averaging when reducing, Lanczos3 when enlarging: the pair
    /// img2dataset uses by default (OpenCV's `INTER_AREA` and
    /// `INTER_LANCZOS4`). The decoder's own averaging (a JPEG's DCT
    /// scaling, a PNG's row box) goes down to the smallest size that still
    /// covers the output, instead of keeping twice the output for the
    /// final filter, and a short Hamming pass does the rest: cheaper than
    /// Lanczos3, a little softer, and within 1.6 levels of 255 (MAD) of
    /// box-averaging the full decode.
    Area,
}

impl Filter {
    /// The filter that resamples `from` to `to`: [`Filter::Area`] is a
    /// Hamming pass when neither side grows (after the decoder's averaging,
    /// whatever is left is a small reduction, where a box of whole pixels
    /// would alias: MAD 2.1-2.9 against box-averaging the full decode,
    /// where Hamming gives 0.9-1.6), else Lanczos3.
    pub(crate) fn for_scale(self, from: (f64, f64), to: (u32, u32)) -> Filter {
        match self {
            Filter::Area if f64::from(to.0) <= from.0 && f64::from(to.1) <= from.1 => {
                Filter::Hamming
            }
            Filter::Area => Filter::Lanczos3,
            other => other,
        }
    }

    /// Resolution the shrink-on-load decode keeps over the output, as a
    /// factor: [`SHRINK_MARGIN`](crate::pixels::SHRINK_MARGIN) for the
    /// filters that need real detail to work with, 1 for area averaging.
    pub(crate) fn shrink_margin(self) -> f64 {
        match self {
            Filter::Area => 1.0,
            _ => crate::pixels::SHRINK_MARGIN,
        }
    }
}

/// The `--resize` box: `W`, `WxH`, or `xH`; a missing side is unbounded.
/// Or a percentage of the image's own size (`50%`), which has no box.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResizeSpec {
    /// The box's width, if bounded.
    pub width: Option<u32>,
    /// The box's height, if bounded.
    pub height: Option<u32>,
    /// Scale both sides by this percentage (then `width` and `height` are
    /// `None`); asking for more than 100% is asking to enlarge.
    #[serde(default)]
    pub percent: Option<f64>,
}

impl ResizeSpec {
    /// Parses `256x256`, `256`, `256x`, `x256` or `50%`.
    pub fn parse(s: &str) -> Result<ResizeSpec, String> {
        if let Some(p) = s.trim().strip_suffix('%') {
            return match p.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 && v <= 10_000.0 => Ok(ResizeSpec {
                    width: None,
                    height: None,
                    percent: Some(v),
                }),
                _ => Err(format!(
                    "invalid size '{s}': a percentage must be above 0 and at most 10000"
                )),
            };
        }
        let side = |t: &str| -> Result<Option<u32>, String> {
            if t.is_empty() {
                return Ok(None);
            }
            match t.parse::<u32>() {
                Ok(0) => Err(format!("invalid size '{s}': sides must be at least 1")),
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(format!("invalid size '{s}': expected WxH, W or xH")),
            }
        };
        let (w, h) = match s.split_once(['x', 'X']) {
            Some((w, h)) => (side(w)?, side(h)?),
            None => (side(s)?, None),
        };
        if w.is_none() && h.is_none() {
            return Err(format!("invalid size '{s}': expected WxH, W or xH"));
        }
        Ok(ResizeSpec {
            width: w,
            height: h,
            percent: None,
        })
    }
}

/// Everything the CPU stage needs to turn input bytes into output bytes.
/// Serializable, so the process backend can hand it to its workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// `--resize`; `None` keeps the size.
    pub resize: Option<ResizeSpec>,
    /// How the image fits the box (`--fit`).
    pub fit: Fit,
    /// Which part `--fit cover` keeps (`--crop`, `--gravity`). Left out of
    /// the serialized form at its default, so the settings hash of runs
    /// made before it existed stays the same.
    #[serde(default, skip_serializing_if = "Crop::is_centre")]
    pub crop: Crop,
    /// Images smaller than the box are enlarged (`--enlarge`).
    pub enlarge: bool,
    /// The resampling filter (`--filter`).
    pub filter: Filter,
    /// Output format; `None` keeps the input's format.
    pub format: Option<Format>,
    /// 1–100, for JPEG and lossy WebP.
    pub quality: u8,
    /// Lossless WebP (PNG is always lossless).
    pub lossless: bool,
    /// RGB colour for flattening alpha and for `contain` padding.
    pub background: [u8; 3],
    /// `--background transparent`: `contain` pads with transparent pixels
    /// where the output format has alpha (`background` is then white, for
    /// formats without).
    #[serde(default)]
    pub pad_transparent: bool,
    /// Per-format encoder controls (`--compression`, `--effort`, ...).
    #[serde(default)]
    pub encode: EncodeOptions,
    /// Apply the EXIF orientation (on by default).
    pub auto_orient: bool,
    /// Refuse images with more pixels than this, from the header, before
    /// allocating any pixel buffer.
    pub max_pixels: u64,
    /// Convert to sRGB through the input's profile, or keep its numbers.
    #[serde(default)]
    pub colour: ColourMode,
    /// `--export-profile`: the ICC profile (RGB, usable as a destination,
    /// checked by the caller) outputs are converted to and carry, in place
    /// of sRGB. Only with [`ColourMode::Srgb`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_profile: Option<Vec<u8>>,
    /// Convert truncated JPEGs anyway (the missing part comes out grey),
    /// with a warning, instead of failing them.
    #[serde(default)]
    pub accept_truncated: bool,
    /// Copy EXIF, XMP, the colour profile and pixel density to outputs.
    #[serde(default)]
    pub keep_metadata: bool,
    /// Skip images whose shorter side is below this (from the header).
    #[serde(default)]
    pub min_size: Option<u32>,
    /// Skip images whose longer side over their shorter is above this.
    #[serde(default)]
    pub max_aspect: Option<f64>,
    /// `--reencode`. Left out of the serialized form at its default, so
    /// the settings hash of runs made before it existed stays the same.
    #[serde(default, skip_serializing_if = "Reencode::is_always")]
    pub reencode: Reencode,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            resize: None,
            fit: Fit::Inside,
            crop: Crop::Centre,
            enlarge: false,
            filter: Filter::Lanczos3,
            format: None,
            quality: 85,
            lossless: false,
            background: [255, 255, 255],
            pad_transparent: false,
            encode: EncodeOptions::default(),
            auto_orient: true,
            max_pixels: 100_000_000,
            colour: ColourMode::Srgb,
            export_profile: None,
            accept_truncated: false,
            keep_metadata: false,
            min_size: None,
            max_aspect: None,
            reencode: Reencode::Always,
        }
    }
}
