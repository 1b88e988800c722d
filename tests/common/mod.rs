//! Shared helpers for the integration tests: the real binary, generated
//! images, and small file-system queries.
#![allow(dead_code)]

pub mod server;

use assert_cmd::Command;
use image::{DynamicImage, GenericImageView, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use std::fs;
use std::path::{Path, PathBuf};

/// The pixmill binary under test.
pub fn pixmill() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pixmill"));
    cmd.env_remove("RUST_LOG");
    cmd
}

/// The project's fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
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

/// Writes a gradient image at `path` in the format its extension names.
pub fn write_image(path: &Path, w: u32, h: u32) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap();
    }
    let format = ImageFormat::from_path(path).unwrap();
    let img = DynamicImage::ImageRgb8(gradient(w, h));
    let img = match format {
        ImageFormat::Gif | ImageFormat::WebP => DynamicImage::ImageRgba8(img.to_rgba8()),
        _ => img,
    };
    img.save_with_format(path, format).unwrap();
}

/// A PNG whose left half is fully transparent and right half opaque red.
pub fn write_half_transparent_png(path: &Path, w: u32, h: u32) {
    let img = RgbaImage::from_fn(w, h, |x, _| {
        if x < w / 2 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([255, 0, 0, 255])
        }
    });
    img.save_with_format(path, ImageFormat::Png).unwrap();
}

/// Opens an image by content (never by extension).
pub fn open(path: &Path) -> DynamicImage {
    let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    image::load_from_memory(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn dims(path: &Path) -> (u32, u32) {
    open(path).dimensions()
}

pub fn format_of(path: &Path) -> ImageFormat {
    image::guess_format(&fs::read(path).unwrap()).unwrap()
}

/// Every file below `dir`, relative, sorted (temp files included, so tests
/// can check none are left).
pub fn files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    out.sort();
    out
}

/// Parses JSON Lines.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Mean absolute difference per channel between two same-size RGB images.
pub fn mean_abs_diff(a: &DynamicImage, b: &DynamicImage) -> f64 {
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (*x as i32 - *y as i32).unsigned_abs() as u64)
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// No temp files anywhere below `dir`.
pub fn assert_no_temp_files(dir: &Path) {
    let temps: Vec<String> = files(dir)
        .into_iter()
        .filter(|f| f.contains(".pixmill-"))
        .collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
}
