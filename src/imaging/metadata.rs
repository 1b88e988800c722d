//! What an output carries besides its pixels (colour profile, and with
//! `--keep-metadata` EXIF, XMP and pixel density), and the container
//! surgery that puts it into encoded bytes.
//!
//! Encoders write bare pixels; [`embed`] adds the rest afterwards, so every
//! format gets it the same way and a new format only adds one arm.

use super::Format;
use crate::error::{ErrorClass, ItemError};
use img_parts::{Bytes, ImageICC};

/// Data to embed in an output. Empty by default: outputs are stripped.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Embedded {
    /// The ICC profile the output's numbers are in (only when not sRGB).
    pub icc: Option<Vec<u8>>,
}

impl Embedded {
    pub fn is_empty(&self) -> bool {
        self.icc.is_none()
    }
}

fn embed_error(format: Format, reason: impl std::fmt::Display) -> ItemError {
    ItemError::new(
        ErrorClass::Encode,
        format!("cannot embed metadata in {}: {reason}", format.name()),
    )
}

/// Adds `what` to encoded `data`. TIFF is handled by its encoder (its tags
/// are written with the image), GIF and BMP carry none of it.
pub(crate) fn embed(data: Vec<u8>, format: Format, what: &Embedded) -> Result<Vec<u8>, ItemError> {
    if what.is_empty() {
        return Ok(data);
    }
    let bytes = Bytes::from(data);
    let fail = |e: img_parts::Error| embed_error(format, e);
    let icc = what.icc.clone().map(Bytes::from);
    let out = match format {
        Format::Jpeg => {
            let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(bytes).map_err(fail)?;
            jpeg.set_icc_profile(icc);
            jpeg.encoder().bytes()
        }
        Format::Png => {
            let mut png = img_parts::png::Png::from_bytes(bytes).map_err(fail)?;
            png.set_icc_profile(icc);
            png.encoder().bytes()
        }
        Format::Webp => {
            let mut webp = img_parts::webp::WebP::from_bytes(bytes).map_err(fail)?;
            webp.set_icc_profile(icc);
            webp.encoder().bytes()
        }
        Format::Tiff | Format::Gif | Format::Bmp => bytes,
    };
    Ok(out.to_vec())
}
