//! What pixmill's tests share across crates: the fixtures folder, generated
//! images, and the engine of the deterministic mutation fuzzer. A
//! dev-dependency only; nothing here ships.

#![warn(unreachable_pub)]
#![warn(missing_docs)]

pub mod fuzz;
pub mod s3;
pub mod server;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use std::path::PathBuf;

/// The repository's `fixtures/` folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures"))
}

/// A `w`×`h` gradient image (smooth, so resizes are meaningful).
pub fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w.max(1)) as u8,
            (y * 255 / h.max(1)) as u8,
            ((x + y) * 127 / (w + h).max(1)) as u8,
        ])
    })
}

/// Encodes `img` in memory in `format`.
pub fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let img = match format {
        ImageFormat::Gif | ImageFormat::WebP => DynamicImage::ImageRgba8(img.to_rgba8()),
        _ => img.clone(),
    };
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, format)
        .unwrap_or_else(|e| panic!("encoding {format:?}: {e}"));
    buf.into_inner()
}

/// CRC-32 (ISO-HDLC, as PNG chunks use).
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
