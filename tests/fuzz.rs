//! A deterministic mutation fuzzer over the image converter and the
//! manifest parser, run as ordinary tests (no nightly, no new dependency).
//!
//! Each iteration derives its own RNG from (seed, iteration), so any
//! finding is reproduced by `PIXMILL_FUZZ_SEED` + the iteration printed.
//! A panic fails the test, printing the seed and saving the input under
//! `target/fuzz-crashes/`; the converter catches codec panics itself, so
//! an error of class `panic` counts as one. Once fixed, add the input as a
//! test of its own beside the fix.
//! `PIXMILL_FUZZ_ITERS=200000 cargo test --release --test tests fuzz` runs long
//! (see FUZZING.md).

use crate::common;

use common::*;
use image::{DynamicImage, ImageFormat};
use pixmill_base::error::ErrorClass;
use pixmill_core::manifest::{read_manifest, ManifestFormat};
use pixmill_imaging::{Converter, Fit, Format, ResizeSpec, Settings};
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One input may take this long before the fuzzer calls it a hang. A hang
/// guard, not a performance target: debug builds are slow.
const HANG: Duration = Duration::from_secs(30);

/// Iterations per image test unless `PIXMILL_FUZZ_ITERS` says otherwise.
const DEFAULT_ITERS: u64 = 2000;

fn iterations(default: u64) -> u64 {
    std::env::var("PIXMILL_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn base_seed() -> u64 {
    std::env::var("PIXMILL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_0FC0_FFEE)
}

/// xorshift64*: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, iteration: u64) -> Rng {
        // splitmix64 of the pair, so neighbouring iterations differ fully.
        let mut z = seed ^ iteration.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Values that tend to break size arithmetic and bounds checks.
const INTERESTING_U32: [u32; 12] = [
    0,
    1,
    2,
    0x7F,
    0x80,
    0xFF,
    0xFFFF,
    40_000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    16_384,
];

/// Applies one to four mutations to `data`, using `others` for splicing.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, others: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(4) {
        if data.is_empty() {
            data.push(rng.next() as u8);
        }
        let len = data.len();
        match rng.below(9) {
            // Flip a few bits anywhere.
            0 => {
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(len);
                    data[at] ^= 1 << rng.below(8);
                }
            }
            // Set bytes to boundary values.
            1 => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(len);
                    data[at] = [0, 1, 0x7F, 0x80, 0xFF][rng.below(5)];
                }
            }
            // Truncate.
            2 => data.truncate(rng.below(len)),
            // Splice: this one's head onto another's tail.
            3 => {
                let other = &others[rng.below(others.len())];
                if !other.is_empty() {
                    let head = rng.below(len);
                    let tail = rng.below(other.len());
                    data.truncate(head);
                    data.extend_from_slice(&other[tail..]);
                }
            }
            // Repeat a chunk of itself (duplicated chunks, segments, frames).
            4 => {
                let from = rng.below(len);
                let n = 1 + rng.below((len - from).min(512));
                let chunk = data[from..from + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            // Delete a range.
            5 => {
                let from = rng.below(len);
                let n = 1 + rng.below((len - from).min(256));
                data.drain(from..from + n);
            }
            // Patch a header field (sizes, lengths, offsets live early).
            6 | 7 => {
                let at = rng.below(len.min(96));
                let value = if rng.chance(2) {
                    INTERESTING_U32[rng.below(INTERESTING_U32.len())]
                } else {
                    rng.next() as u32
                };
                let bytes = match rng.below(4) {
                    0 => value.to_be_bytes().to_vec(),
                    1 => value.to_le_bytes().to_vec(),
                    2 => (value as u16).to_be_bytes().to_vec(),
                    _ => (value as u16).to_le_bytes().to_vec(),
                };
                for (i, b) in bytes.into_iter().enumerate() {
                    if at + i < data.len() {
                        data[at + i] = b;
                    }
                }
            }
            // Random garbage in the middle.
            _ => {
                let at = rng.below(len);
                let n = 1 + rng.below(64);
                for byte in &mut data[at..(at + n).min(len)] {
                    *byte = rng.next() as u8;
                }
            }
        }
    }
}

/// Recomputes the CRC of every PNG chunk that lies within `data`, so that
/// mutations get past the CRC check into zlib, filters and colour handling.
fn fix_png_crcs(data: &mut [u8]) {
    if !data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return;
    }
    let mut at = 8;
    while at + 12 <= data.len() {
        let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&e| e + 4 <= data.len()) else {
            return;
        };
        let crc = crc32(&data[at + 4..end]);
        data[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

/// Where crashing and hanging inputs are written.
fn crash_dir() -> PathBuf {
    // target/<profile>/deps/<test binary>
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("fuzz-crashes");
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn save(name: &str, data: &[u8]) -> PathBuf {
    let path = crash_dir().join(name);
    fs::write(&path, data).unwrap();
    path
}

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

// ------------------------------------------------------------- manifests

fn manifest_seeds() -> Vec<Vec<u8>> {
    [
        &b"a.png\n# comment\n\n  b c.jpg  \r\nhttps://example.com/x.jpg\n"[..],
        b"a.png\0b\nc.png\0\0# d.png\0",
        b"\xEF\xBB\xBFpath,output,sha256\na.png,x/a.jpg,\n\"q,\"\"u\"\".png\",b.png,abc\nc.png\n,\n",
        b"url\toutput\nhttps://e.com/a\ta.png\n\"tab\tin\"\tb.png\n",
        b"{\"url\": \"https://e.com/a.jpg\", \"output\": \"a.jpg\"}\n\"bare.png\"\n{\"path\": 3}\n[1]\n{\"file\": \"f.png\", \"sha256\": null}\n",
        b"caf\xe9.png\nok.png\n",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

#[test]
fn fuzz_manifest_parser() {
    let formats = [
        (ManifestFormat::Lines, false),
        (ManifestFormat::Lines, true),
        (ManifestFormat::Csv, false),
        (ManifestFormat::Tsv, false),
        (ManifestFormat::Jsonl, false),
    ];
    let seeds = manifest_seeds();
    let seed = base_seed();
    let iters = iterations(DEFAULT_ITERS) * 20;
    let mut failures = Vec::new();
    for i in 0..iters {
        let mut rng = Rng::new(seed, i);
        let mut input = if rng.chance(8) {
            (0..rng.below(256)).map(|_| rng.next() as u8).collect()
        } else {
            let mut s = seeds[rng.below(seeds.len())].clone();
            mutate(&mut rng, &mut s, &seeds);
            s
        };
        if rng.chance(16) {
            input.truncate(0);
        }
        for (format, nul) in formats {
            let data = input.clone();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let mut entries =
                    read_manifest(Box::new(std::io::Cursor::new(data.clone())), format, nul);
                let mut count = 0usize;
                let mut last_line = 0u64;
                for item in entries.by_ref() {
                    count += 1;
                    // Every record consumes input: no endless iteration.
                    assert!(
                        count <= data.len() + 2,
                        "{count} items from {} bytes",
                        data.len()
                    );
                    let line = match &item {
                        Ok(entry) => {
                            assert!(!entry.input.is_empty(), "an entry without an input");
                            entry.line
                        }
                        Err(e) => {
                            assert!(!e.message.is_empty());
                            e.line
                        }
                    };
                    assert!(
                        line >= 1 && line >= last_line,
                        "line {line} after {last_line}"
                    );
                    last_line = line;
                }
                // Fused: once done, done.
                assert!(entries.next().is_none());
            }));
            if outcome.is_err() {
                let path = save(
                    &format!("manifest-{format:?}-nul{nul}-seed{seed}-iter{i}.bin"),
                    &input,
                );
                failures.push(format!(
                    "{format:?} nul={nul} iteration {i}: input saved to {}",
                    path.display()
                ));
            }
        }
        if failures.len() >= 10 {
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "the manifest parser broke a property:\n{}",
        failures.join("\n")
    );
}
