//! Shared helpers for the integration tests: the real binary, generated
//! images, and small file-system queries.
#![allow(dead_code)]

pub use pixmill_testkit::server;
pub mod tls;

use assert_cmd::Command;
use image::{DynamicImage, GenericImageView, ImageFormat, Rgba, RgbaImage};
pub use pixmill_testkit::{crc32, encode, fixtures, gradient};
use std::fs;
use std::path::Path;

/// The pixmill binary under test.
pub fn pixmill() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pixmill"));
    cmd.env_remove("RUST_LOG");
    cmd
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

/// A TIFF tag's bytes, read with the tiff crate: the image crate's TIFF
/// reader applies memory limits (sized to the pixels) that trip on the tags
/// of small files.
pub fn tiff_tag(data: &[u8], tag: tiff::tags::Tag) -> Option<Option<Vec<u8>>> {
    if !(data.starts_with(b"II*\0") || data.starts_with(b"MM\0*")) {
        return None;
    }
    let mut tiff = tiff::decoder::Decoder::new(std::io::Cursor::new(data)).unwrap();
    Some(tiff.get_tag_u8_vec(tag).ok())
}

/// The ICC profile an encoded image carries (JPEG, PNG, WebP, TIFF).
pub fn icc_of(data: &[u8]) -> Option<Vec<u8>> {
    if let Some(icc) = tiff_tag(data, tiff::tags::Tag::IccProfile) {
        return icc;
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(data))
        .with_guessed_format()
        .unwrap();
    image::ImageDecoder::icc_profile(&mut reader.into_decoder().unwrap()).unwrap()
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

/// A run of the binary that finished (or was killed by the hang guard).
#[derive(Debug)]
pub struct Finished {
    /// The exit status; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident memory of the child, in kilobytes (read it with
    /// [`Finished::peak_rss_kb`]).
    max_rss_kb: u64,
    /// This process's own peak when the child was started.
    harness_peak_kb: u64,
}

/// Runs `cmd` to its end, measuring the child's own peak RSS (via `wait4`,
/// so other tests' children do not count). A run still going after `limit`
/// is killed and fails the test: this is a hang guard, not a timing assert.
#[cfg(unix)]
pub fn run_guarded(mut cmd: std::process::Command, limit: std::time::Duration) -> Finished {
    use std::io::Read;
    use std::process::Stdio;
    use std::time::Instant;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let harness_peak_kb = own_peak_rss_kb();
    let mut child = cmd.spawn().expect("spawning pixmill");
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let started = Instant::now();
    let mut hung = false;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: plain FFI with valid out-pointers.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if hung { 0 } else { libc::WNOHANG };
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            break (status, usage);
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if started.elapsed() > limit {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            hung = true;
            continue;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    drop(child);
    let finished = Finished {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        max_rss_kb: usage.ru_maxrss as u64,
        harness_peak_kb,
    };
    assert!(
        !hung,
        "pixmill hung: killed after {limit:?}\nstderr: {}",
        finished.stderr
    );
    finished
}

/// This test process's own peak RSS (`VmHWM`), in KiB.
fn own_peak_rss_kb() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

impl Finished {
    /// Asserts the child's peak RSS stayed under `limit_kb`. Linux counts a
    /// child's peak from its parent's memory at the fork, so the figure is
    /// an upper bound: proof enough when it is under the limit, and a
    /// failure is the child's only while this harness itself stayed under
    /// it (tests that do heavy work in-process, such as the converter's
    /// fuzzer, live in their crate's own test binary for that reason).
    pub fn assert_peak_rss_below(&self, limit_kb: u64, what: &str) {
        if self.max_rss_kb < limit_kb {
            return;
        }
        assert!(
            self.harness_peak_kb < limit_kb,
            "{what}: the test process itself peaked at {} MB, so the child's peak cannot be \
             told apart from it: move in-process heavy work out of tests/",
            self.harness_peak_kb / 1024
        );
        panic!(
            "{what}: peak RSS {} MB, over {} MB",
            self.max_rss_kb / 1024,
            limit_kb / 1024
        );
    }
}

/// The pixmill binary as a plain `std` command (for `run_guarded`).
pub fn pixmill_std() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pixmill"));
    cmd.env_remove("RUST_LOG");
    cmd
}

/// Reads a `--report` file.
pub fn report(path: &Path) -> Vec<serde_json::Value> {
    json_lines(&fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// The record for `input` in a report (by exact input label).
pub fn record<'a>(report: &'a [serde_json::Value], input: &str) -> &'a serde_json::Value {
    report
        .iter()
        .find(|r| r["input"] == input)
        .unwrap_or_else(|| panic!("no record for {input} in {report:#?}"))
}

/// Is the test running as root (where file permissions do not stop reads)?
#[cfg(unix)]
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `pixmill convert INPUT -o OUT`, for more arguments to follow.
pub fn convert_cmd(
    input: impl AsRef<std::ffi::OsStr>,
    out: impl AsRef<std::ffi::OsStr>,
) -> Command {
    let mut cmd = pixmill();
    cmd.arg("convert").arg(input).arg("-o").arg(out);
    cmd
}

/// Every frame of an animated GIF, WebP or APNG, read with the image crate.
pub fn decode_frames(bytes: &[u8], format: ImageFormat) -> Vec<image::Frame> {
    use image::AnimationDecoder;
    let c = std::io::Cursor::new(bytes);
    let frames = match format {
        ImageFormat::Gif => image::codecs::gif::GifDecoder::new(c)
            .unwrap()
            .into_frames()
            .collect_frames(),
        ImageFormat::WebP => image::codecs::webp::WebPDecoder::new(c)
            .unwrap()
            .into_frames()
            .collect_frames(),
        ImageFormat::Png => image::codecs::png::PngDecoder::new(c)
            .unwrap()
            .apng()
            .unwrap()
            .into_frames()
            .collect_frames(),
        other => panic!("no animation decoder for {other:?}"),
    };
    frames.unwrap()
}

/// Three 64x48 frames, red, green, blue, with the given delays (in
/// hundredths) and NETSCAPE loop count, written with the gif crate.
pub fn three_frame_gif(delays: [u16; 3], repeat: gif::Repeat) -> Vec<u8> {
    let colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
    let mut out = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut out, 64, 48, &[]).unwrap();
        enc.set_repeat(repeat).unwrap();
        for (c, delay) in colours.iter().zip(delays) {
            let rgb: Vec<u8> = c.iter().copied().cycle().take(64 * 48 * 3).collect();
            let mut frame = gif::Frame::from_rgb(64, 48, &rgb);
            frame.delay = delay;
            enc.write_frame(&frame).unwrap();
        }
    }
    out
}

/// Three 64x48 frames, red, green, blue, as APNG with delays in ms.
pub fn three_frame_apng(delays_ms: [u16; 3], plays: u32) -> Vec<u8> {
    let colours = [[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]];
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 64, 48);
        enc.set_color(png::ColorType::Rgba);
        enc.set_animated(3, plays).unwrap();
        let mut w = enc.write_header().unwrap();
        for (c, d) in colours.iter().zip(delays_ms) {
            w.set_frame_delay(d, 1000).unwrap();
            let data: Vec<u8> = c.iter().copied().cycle().take(64 * 48 * 4).collect();
            w.write_image_data(&data).unwrap();
        }
        w.finish().unwrap();
    }
    out
}

/// What a finished run of the binary said: its exit code, its stdout and
/// stderr as text, and the records it printed with `--json`.
pub trait Said {
    /// The raw output.
    fn output_of(&self) -> &std::process::Output;

    /// The exit code (`None` when a signal ended the run).
    fn exit_code(&self) -> Option<i32> {
        self.output_of().status.code()
    }

    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.output_of().stdout).into_owned()
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.output_of().stderr).into_owned()
    }

    /// The `--json` records on stdout, one per line.
    fn records(&self) -> Vec<serde_json::Value> {
        json_lines(&self.stdout_text())
    }
}

impl Said for std::process::Output {
    fn output_of(&self) -> &std::process::Output {
        self
    }
}

impl Said for assert_cmd::assert::Assert {
    fn output_of(&self) -> &std::process::Output {
        self.get_output()
    }
}

/// Runs `cmd` to its end, whatever its exit code, for the [`Said`] queries.
pub fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output().expect("running pixmill")
}
