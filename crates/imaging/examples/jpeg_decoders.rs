//! Times the JPEG decoders pixmill could use, per file, best of 3 runs:
//! jpeg-decoder scaled on load, jpeg-decoder and zune-jpeg (through the
//! image crate) at full size, and libjpeg-turbo scaled and at full size.
//! Scaled means the smallest DCT scale (1/8, 1/4, 1/2, 1) whose longest
//! side is at least `NEED` (default 512, twice a 256 px thumbnail, as
//! pixmill's shrink-on-load picks it).
//!
//! `cargo run --release -p pixmill-imaging --example jpeg_decoders -- FILE.jpg...`
//! (`bench/jpeg-decoders.sh` runs it on a corpus, baseline and progressive
//! files apart).

use std::io::Cursor;
use std::time::{Duration, Instant};

const NAMES: [&str; 5] = [
    "jpeg-decoder scaled",
    "libjpeg-turbo scaled",
    "jpeg-decoder full",
    "zune-jpeg full",
    "libjpeg-turbo full",
];

fn best_of_3(mut f: impl FnMut()) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// The smallest power-of-two eighth of `side` that is still `need` long.
/// With `EIGHTHS=any`, any eighth (libjpeg-turbo only: 3/8, 5/8, ...).
fn eighths(side: usize, need: usize) -> usize {
    [1, 2, 4, 8]
        .into_iter()
        .find(|m| (side * m).div_ceil(8) >= need)
        .unwrap_or(8)
}

fn turbo_eighths(side: usize, need: usize) -> usize {
    if std::env::var("EIGHTHS").is_ok_and(|v| v == "any") {
        (1..=8)
            .find(|m| (side * m).div_ceil(8) >= need)
            .unwrap_or(8)
    } else {
        eighths(side, need)
    }
}

fn jpeg_decoder(data: &[u8], need: Option<usize>) {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(data));
    if let Some(need) = need {
        d.read_info().expect("jpeg-decoder header");
        let info = d.info().expect("jpeg-decoder info");
        let (w, h) = (usize::from(info.width), usize::from(info.height));
        let m = eighths(w.max(h), need);
        let side = |s: usize| u16::try_from((s * m).div_ceil(8)).unwrap_or(u16::MAX);
        d.scale(side(w), side(h)).expect("jpeg-decoder scale");
    }
    std::hint::black_box(d.decode().expect("jpeg-decoder"));
}

fn turbo(tj: &mut turbojpeg::Decompressor, data: &[u8], need: Option<usize>) {
    let header = tj.read_header(data).expect("libjpeg-turbo header");
    let m = need.map_or(8, |n| turbo_eighths(header.width.max(header.height), n));
    // Asked for the sides of scale m/8, libjpeg-turbo decodes at that scale.
    let (width, height) = (
        (header.width * m).div_ceil(8),
        (header.height * m).div_ceil(8),
    );
    let mut image = turbojpeg::Image {
        pixels: vec![0u8; 3 * width * height],
        width,
        pitch: 3 * width,
        height,
        format: turbojpeg::PixelFormat::RGB,
    };
    tj.decompress(data, image.as_deref_mut())
        .expect("libjpeg-turbo");
    std::hint::black_box(image);
}

fn main() {
    let need: usize = std::env::var("NEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let mut tj = turbojpeg::Decompressor::new().expect("libjpeg-turbo");
    let mut total = [Duration::ZERO; 5];
    println!("ms per file, best of 3: {}", NAMES.join(" | "));
    for path in std::env::args().skip(1) {
        let data = std::fs::read(&path).expect("readable file");
        let times = [
            best_of_3(|| jpeg_decoder(&data, Some(need))),
            best_of_3(|| turbo(&mut tj, &data, Some(need))),
            best_of_3(|| jpeg_decoder(&data, None)),
            best_of_3(|| {
                let img = image::load_from_memory_with_format(&data, image::ImageFormat::Jpeg);
                std::hint::black_box(img.expect("zune-jpeg"));
            }),
            best_of_3(|| turbo(&mut tj, &data, None)),
        ];
        let ms: Vec<String> = times
            .iter()
            .map(|t| format!("{:.1}", t.as_secs_f64() * 1e3))
            .collect();
        println!("{} {path}", ms.join(" "));
        for (sum, t) in total.iter_mut().zip(times) {
            *sum += t;
        }
    }
    let ms: Vec<String> = total
        .iter()
        .map(|t| format!("{:.1}", t.as_secs_f64() * 1e3))
        .collect();
    println!("{} TOTAL", ms.join(" "));
}
