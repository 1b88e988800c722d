//! Imaging: decode → orient → resize/fit → flatten → encode, for one item.
//!
//! Pure computation on bytes in memory: the CPU stage calls
//! [`Converter::convert`]; nothing here touches the file system or prints.

#![warn(unreachable_pub)]
#![warn(missing_docs)]

pub use colour::{check_export_profile, ColourMode};

mod anim;
mod colour;
mod convert;
mod decode;
mod encode;
mod exif;
mod format;
#[cfg(feature = "heif")]
mod heif;
mod jpeg_markers;
#[cfg(feature = "jxl")]
mod jxl;
mod metadata;
mod ops;
mod pixels;
mod plan;
mod png_stream;
mod profile_guard;
mod settings;
mod shrink;
mod smartcrop;
#[cfg(test)]
mod tests;
mod webp_anim;
mod webp_fast;

pub use convert::{Converted, Converter};
pub use encode::{EncodeOptions, Subsampling};
pub use format::{sniff, Format, Sniffed, SNIFF_LEN};
pub use ops::{check_box, BlurBox};
pub use settings::{Filter, Fit, Reencode, ResizeSpec, Settings};
pub use smartcrop::{Crop, CropWindow};
