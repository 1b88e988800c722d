//! Imaging: decode → orient → resize/fit → flatten → encode, for one item.
//!
//! Pure computation on bytes in memory: the CPU stage calls
//! [`Converter::convert`]; nothing here touches the file system or prints.

use crate::error::{ErrorClass, ItemError};
use serde::{Deserialize, Serialize};

/// An image format pixmill reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Gif,
    Bmp,
    Tiff,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Jpeg,
        Format::Png,
        Format::Webp,
        Format::Gif,
        Format::Bmp,
        Format::Tiff,
    ];

    /// The extension written for outputs of this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Bmp => "bmp",
            Format::Tiff => "tif",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Bmp => "bmp",
            Format::Tiff => "tiff",
        }
    }

    /// The format an input file extension names (case-insensitive).
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" | "jpe" | "jfif" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            "webp" => Some(Format::Webp),
            "gif" => Some(Format::Gif),
            "bmp" => Some(Format::Bmp),
            "tif" | "tiff" => Some(Format::Tiff),
            _ => None,
        }
    }

    /// The format of encoded bytes, from their magic number.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        match image::guess_format(bytes).ok()? {
            image::ImageFormat::Jpeg => Some(Format::Jpeg),
            image::ImageFormat::Png => Some(Format::Png),
            image::ImageFormat::WebP => Some(Format::Webp),
            image::ImageFormat::Gif => Some(Format::Gif),
            image::ImageFormat::Bmp => Some(Format::Bmp),
            image::ImageFormat::Tiff => Some(Format::Tiff),
            _ => None,
        }
    }
}

/// How the image is fitted to the `--resize` box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Fit inside the box, keeping the aspect ratio.
    #[default]
    Inside,
    /// Fill the box, keeping the aspect ratio, cropping the overflow (centred).
    Cover,
    /// Stretch to exactly the box.
    Fill,
    /// Fit inside, then letterbox onto the background to exactly the box.
    Contain,
}

/// The resampling filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    Nearest,
    Box,
    Bilinear,
    Hamming,
    Catmullrom,
    Mitchell,
    Gaussian,
    #[default]
    Lanczos3,
}

/// The `--resize` box: `W`, `WxH`, or `xH`; a missing side is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResizeSpec {
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl ResizeSpec {
    /// Parses `256x256`, `256`, `256x` or `x256`.
    pub fn parse(s: &str) -> Result<ResizeSpec, String> {
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
        })
    }
}

/// Everything the CPU stage needs to turn input bytes into output bytes.
/// Serializable, so the process backend can hand it to its workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub resize: Option<ResizeSpec>,
    pub fit: Fit,
    pub enlarge: bool,
    pub filter: Filter,
    /// Output format; `None` keeps the input's format.
    pub format: Option<Format>,
    /// 1–100, for JPEG and lossy WebP.
    pub quality: u8,
    /// Lossless WebP (PNG is always lossless).
    pub lossless: bool,
    /// RGB colour for flattening alpha and for `contain` padding.
    pub background: [u8; 3],
    /// Apply the EXIF orientation (on by default).
    pub auto_orient: bool,
    /// Refuse images with more pixels than this, from the header, before
    /// allocating any pixel buffer.
    pub max_pixels: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            resize: None,
            fit: Fit::Inside,
            enlarge: false,
            filter: Filter::Lanczos3,
            format: None,
            quality: 85,
            lossless: false,
            background: [255, 255, 255],
            auto_orient: true,
            max_pixels: 100_000_000,
        }
    }
}

/// An encoded output and what the report says about it.
#[derive(Debug, Clone)]
pub struct Converted {
    pub data: Vec<u8>,
    pub format: Format,
    pub width_in: u32,
    pub height_in: u32,
    pub width_out: u32,
    pub height_out: u32,
}

/// One CPU worker's converter: holds the settings and any buffers worth
/// reusing from one item to the next.
pub struct Converter {
    settings: Settings,
}

impl Converter {
    pub fn new(settings: Settings) -> Self {
        Converter { settings }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Converts one encoded image to `format`.
    pub fn convert_to(&mut self, input: &[u8], format: Format) -> Result<Converted, ItemError> {
        self.settings.format = Some(format);
        self.convert(input)
    }

    /// Converts one encoded image.
    pub fn convert(&mut self, input: &[u8]) -> Result<Converted, ItemError> {
        // Placeholder until the imaging module lands.
        let _ = input;
        Err(ItemError::new(ErrorClass::Decode, "not implemented"))
    }
}
