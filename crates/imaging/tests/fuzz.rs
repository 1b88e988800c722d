//! A deterministic mutation fuzzer over the image converter (the manifest
//! readers have theirs in pixmill-core), run as ordinary tests.
//!
//! Each iteration derives its own RNG from (seed, iteration), so any
//! finding is reproduced by `PIXMILL_FUZZ_SEED` + the iteration printed.
//! A panic fails the test, printing the seed and saving the input under
//! `target/fuzz-crashes/`; the converter catches codec panics itself, so
//! an error of class `panic` counts as one. Once fixed, add the input as a
//! test of its own beside the fix.
//! `PIXMILL_FUZZ_ITERS=200000 cargo test --release -p pixmill-imaging --test fuzz` runs long
//! (see FUZZING.md).

use image::{DynamicImage, ImageFormat};
use pixmill_base::error::ErrorClass;
use pixmill_imaging::{Converter, Fit, Format, ResizeSpec, Settings};
use pixmill_testkit::fuzz::*;
use pixmill_testkit::{encode, fixtures, gradient};
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One input may take this long before the fuzzer calls it a hang. A hang
/// guard, not a performance target: debug builds are slow.
const HANG: Duration = Duration::from_secs(30);

/// The conversion settings an iteration uses: always a resize (so the
/// shrink-on-load and resize paths run), varied fit, format and orientation.
/// Output formats the fuzzer picks from: the fast writers. AVIF (libaom)
/// costs tens of milliseconds an image, which would dominate the run; its
/// encoder sees only pixmill's own resized pixels, never fuzzed bytes.
const WRITABLE: [Format; 6] = [
    Format::Jpeg,
    Format::Png,
    Format::Webp,
    Format::Gif,
    Format::Bmp,
    Format::Tiff,
];

fn settings_for(rng: &mut Rng) -> Settings {
    let fits = [Fit::Inside, Fit::Cover, Fit::Fill, Fit::Contain];
    Settings {
        resize: Some(ResizeSpec {
            width: Some(1 + rng.below(96) as u32),
            height: Some(1 + rng.below(96) as u32),
            percent: None,
        }),
        fit: fits[rng.below(fits.len())],
        enlarge: rng.chance(4),
        format: Some(WRITABLE[rng.below(WRITABLE.len())]),
        auto_orient: !rng.chance(8),
        // Bounded, so a mutated header cannot make each iteration allocate
        // hundreds of MB; the default limit's own check is tested elsewhere.
        max_pixels: 4_000_000,
        ..Settings::default()
    }
}

/// Fuzzes the converter over mutations of `seeds`. Runs on a worker
/// thread watched for hangs; fails listing every panicking input.
fn fuzz_images(name: &str, seeds: Vec<Vec<u8>>, iters: u64) {
    assert!(!seeds.is_empty());
    let seed = base_seed();
    let current = Arc::new(Mutex::new((0u64, Vec::<u8>::new())));
    let done = Arc::new(AtomicU64::new(0));
    let worker = {
        let (current, done) = (current.clone(), done.clone());
        let name = name.to_string();
        std::thread::Builder::new()
            .name(format!("fuzz-{name}"))
            .spawn(move || {
                let mut crashes = Vec::new();
                let mut converted = 0u64;
                for i in 0..iters {
                    let mut rng = Rng::new(seed, i);
                    let mut input = seeds[rng.below(seeds.len())].clone();
                    mutate(&mut rng, &mut input, &seeds);
                    if !rng.chance(4) {
                        fix_png_crcs(&mut input);
                    }
                    let settings = settings_for(&mut rng);
                    *current.lock().unwrap() = (i, input.clone());
                    let result = catch_unwind(AssertUnwindSafe(|| Converter::new(settings.clone()).convert(&input)));
                    match result {
                        Ok(Ok(out)) => {
                            converted += 1;
                            assert!(!out.data.is_empty(), "{name} iteration {i}: empty output");
                        }
                        // The converter catches codec panics itself and
                        // reports them with class `panic`: a crash all the same.
                        Ok(Err(e)) if e.class != ErrorClass::Panic => {
                            assert!(!e.message.is_empty(), "{name} iteration {i}: empty error message")
                        }
                        Ok(Err(_)) | Err(_) => {
                            let path = save(&format!("{name}-seed{seed}-iter{i}.bin"), &input);
                            crashes.push(format!(
                                "iteration {i} (PIXMILL_FUZZ_SEED={seed}), settings {settings:?}, input saved to {}",
                                path.display()
                            ));
                            if crashes.len() >= 10 {
                                break;
                            }
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                (crashes, converted)
            })
            .unwrap()
    };
    // The hang guard: progress must be made on every input within HANG.
    let mut last = (0, Instant::now());
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let n = done.load(Ordering::Relaxed);
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > HANG {
            let (i, input) = current.lock().unwrap().clone();
            let path = save(&format!("{name}-seed{seed}-iter{i}-hang.bin"), &input);
            panic!("{name}: iteration {i} (PIXMILL_FUZZ_SEED={seed}) ran over {HANG:?}; input saved to {}", path.display());
        }
    }
    let (crashes, converted) = worker.join().unwrap();
    eprintln!(
        "fuzz {name}: {iters} iterations, {converted} converted, {} panics",
        crashes.len()
    );
    assert!(
        crashes.is_empty(),
        "{name}: the converter panicked:\n{}",
        crashes.join("\n")
    );
}

// ------------------------------------------------------------------ seeds

fn small() -> DynamicImage {
    DynamicImage::ImageRgb8(gradient(48, 32))
}

fn pngsuite(names: &[&str]) -> Vec<Vec<u8>> {
    names
        .iter()
        .map(|n| fs::read(fixtures().join("pngsuite").join(n)).unwrap())
        .collect()
}

fn png_seeds() -> Vec<Vec<u8>> {
    let mut seeds = pngsuite(&[
        "basn0g01.png",
        "basn0g16.png",
        "basi2c08.png",
        "basn2c16.png",
        "basi3p02.png",
        "basn3p08.png",
        "basn4a16.png",
        "basi6a08.png",
        "tbrn2c08.png",
        "s09n3p02.png",
        "z09n2c08.png",
        "cs3n2c16.png",
    ]);
    seeds.push(encode(&small(), ImageFormat::Png));
    seeds
}

/// The EXIF (APP1) segment of a fixture, to graft orientation onto seeds.
fn exif_segment(fixture: &str) -> Vec<u8> {
    let jpg = fs::read(fixtures().join("exif").join(fixture)).unwrap();
    let mut i = 2;
    while jpg[i] == 0xFF && jpg[i + 1] != 0xDA {
        let len = u16::from_be_bytes([jpg[i + 2], jpg[i + 3]]) as usize;
        if jpg[i + 1] == 0xE1 {
            return jpg[i..i + 2 + len].to_vec();
        }
        i += 2 + len;
    }
    panic!("no EXIF segment in {fixture}");
}

fn jpeg_seeds() -> Vec<Vec<u8>> {
    let plain = encode(&small(), ImageFormat::Jpeg);
    let grey = encode(
        &DynamicImage::ImageLuma8(small().to_luma8()),
        ImageFormat::Jpeg,
    );
    let mut seeds = vec![plain.clone(), grey];
    for fixture in ["Landscape_6.jpg", "Portrait_3.jpg", "Landscape_0.jpg"] {
        let mut with_exif = plain[..2].to_vec();
        with_exif.extend(exif_segment(fixture));
        with_exif.extend_from_slice(&plain[2..]);
        seeds.push(with_exif);
    }
    seeds
}

fn gif_seeds() -> Vec<Vec<u8>> {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame, Rgba, RgbaImage};
    let mut anim = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut anim);
        let frames = (0..3u8).map(|i| {
            let img = RgbaImage::from_fn(24, 16, |x, y| {
                Rgba([
                    x as u8 * 10,
                    y as u8 * 15,
                    i * 80,
                    if x < 4 { 0 } else { 255 },
                ])
            });
            Frame::from_parts(img, i as u32, 0, Delay::from_numer_denom_ms(20, 1))
        });
        enc.encode_frames(frames).unwrap();
    }
    vec![encode(&small(), ImageFormat::Gif), anim]
}

fn webp_seeds() -> Vec<Vec<u8>> {
    let rgb = small().to_rgb8();
    let rgba = small().to_rgba8();
    vec![
        encode(&small(), ImageFormat::WebP),
        webp::Encoder::from_rgb(rgb.as_raw(), 48, 32)
            .encode(60.0)
            .to_vec(),
        webp::Encoder::from_rgba(rgba.as_raw(), 48, 32)
            .encode(80.0)
            .to_vec(),
    ]
}

fn bmp_seeds() -> Vec<Vec<u8>> {
    vec![
        encode(&small(), ImageFormat::Bmp),
        encode(
            &DynamicImage::ImageRgba8(small().to_rgba8()),
            ImageFormat::Bmp,
        ),
    ]
}

fn tiff_seeds() -> Vec<Vec<u8>> {
    vec![
        encode(&small(), ImageFormat::Tiff),
        encode(
            &DynamicImage::ImageLuma8(small().to_luma8()),
            ImageFormat::Tiff,
        ),
        encode(
            &DynamicImage::ImageRgba8(small().to_rgba8()),
            ImageFormat::Tiff,
        ),
    ]
}

/// Every seed must convert before mutation, or the fuzzer explores nothing.
fn checked(name: &str, seeds: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    for (i, s) in seeds.iter().enumerate() {
        let settings = Settings {
            resize: Some(ResizeSpec {
                width: Some(32),
                height: Some(32),
                percent: None,
            }),
            format: Some(Format::Png),
            ..Settings::default()
        };
        if let Err(e) = Converter::new(settings).convert(s) {
            panic!("{name} seed {i} does not convert unmutated: {e}");
        }
    }
    seeds
}

#[test]
fn fuzz_png() {
    fuzz_images(
        "png",
        checked("png", png_seeds()),
        iterations(DEFAULT_ITERS),
    );
}

#[test]
fn fuzz_jpeg() {
    fuzz_images(
        "jpeg",
        checked("jpeg", jpeg_seeds()),
        iterations(DEFAULT_ITERS),
    );
}

#[test]
fn fuzz_gif() {
    fuzz_images(
        "gif",
        checked("gif", gif_seeds()),
        iterations(DEFAULT_ITERS),
    );
}

#[test]
fn fuzz_webp() {
    fuzz_images(
        "webp",
        checked("webp", webp_seeds()),
        iterations(DEFAULT_ITERS),
    );
}

#[test]
fn fuzz_bmp() {
    fuzz_images(
        "bmp",
        checked("bmp", bmp_seeds()),
        iterations(DEFAULT_ITERS),
    );
}

#[test]
fn fuzz_tiff() {
    fuzz_images(
        "tiff",
        checked("tiff", tiff_seeds()),
        iterations(DEFAULT_ITERS),
    );
}

#[cfg(all(feature = "heif", feature = "jxl"))]
/// HEIC, AVIF (libheif, C) and JPEG XL (jxl-oxide) stills, plus an
/// animated WebP, from the fixtures.
fn newer_format_seeds() -> Vec<Vec<u8>> {
    let dir = fixtures().join("formats");
    [
        "photo.heic",
        "photo.avif",
        "alpha.avif",
        "photo.jxl",
        "photo-boxed.jxl",
        "anim.webp",
    ]
    .iter()
    .map(|name| fs::read(dir.join(name)).unwrap())
    .collect()
}

#[test]
#[cfg(all(feature = "heif", feature = "jxl"))]
fn fuzz_heif_avif_jxl() {
    fuzz_images(
        "heif-avif-jxl",
        checked("heif-avif-jxl", newer_format_seeds()),
        iterations(DEFAULT_ITERS / 2),
    );
}

#[test]
fn fuzz_across_formats() {
    // Splices between formats: one format's header on another's body.
    let mut seeds = png_seeds();
    for more in [
        jpeg_seeds(),
        gif_seeds(),
        webp_seeds(),
        bmp_seeds(),
        tiff_seeds(),
    ] {
        seeds.extend(more);
    }
    fuzz_images("mixed", seeds, iterations(DEFAULT_ITERS));
}
