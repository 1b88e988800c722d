//! Square thumbnails that keep the interesting part: `--crop entropy` and
//! `attention`, `--gravity`, the window in the record, EXIF orientation,
//! and reruns that notice the crop changed.

use crate::common;

use common::{convert_cmd, dims, fixtures, json_lines, open, run, Said};
use image::{Rgb, RgbImage};
use std::path::Path;

/// A flat grey `w`x`h` photo with one `size`-pixel square of `colour` at
/// `(x, y)`, noisy inside when `noisy` (a busy region for entropy).
fn subject(
    w: u32,
    h: u32,
    (x, y, size): (u32, u32, u32),
    colour: [u8; 3],
    noisy: bool,
) -> RgbImage {
    let mut state = 0x9e37_79b9_u32;
    RgbImage::from_fn(w, h, |px, py| {
        if px < x || py < y || px >= x + size || py >= y + size {
            return Rgb([120, 120, 120]);
        }
        if !noisy {
            return Rgb(colour);
        }
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let b = state.to_le_bytes();
        Rgb([b[0], b[1], b[2]])
    })
}

/// The one record of a `--json` run into `dir/out`, which must have
/// succeeded.
fn converted(dir: &Path, input: &Path, args: &[&str]) -> serde_json::Value {
    let out = run(convert_cmd(input, dir.join("out")).args(args).arg("--json"));
    assert!(out.status.success(), "{}", out.stderr_text());
    let records = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(records.len(), 1);
    records[0].clone()
}

/// The `crop` window of a record as (x, y, width, height).
fn window(record: &serde_json::Value) -> (u64, u64, u64, u64) {
    let c = &record["crop"];
    let n = |k: &str| {
        c[k].as_u64()
            .unwrap_or_else(|| panic!("no crop.{k} in {record}"))
    };
    (n("x"), n("y"), n("width"), n("height"))
}

fn holds(win: (u64, u64, u64, u64), (x, y, size): (u32, u32, u32)) -> bool {
    let (x, y, size) = (u64::from(x), u64::from(y), u64::from(size));
    win.0 <= x && win.1 <= y && win.0 + win.2 >= x + size && win.1 + win.3 >= y + size
}

#[test]
fn attention_and_entropy_keep_a_subject_the_centre_crop_cuts_off() {
    let dir = tempfile::tempdir().unwrap();
    // A red subject and a busy one near either end of a wide photo: the
    // centre crop keeps neither.
    for (name, colour, noisy, square) in [
        ("red-right.png", [210, 30, 30], false, (700, 200, 120)),
        ("skin-left.png", [224, 172, 138], false, (40, 60, 120)),
        ("busy-left.png", [0, 0, 0], true, (60, 300, 100)),
    ] {
        let input = dir.path().join(name);
        subject(900, 450, square, colour, noisy)
            .save(&input)
            .unwrap();
        let mode = if noisy { "entropy" } else { "attention" };
        let args = ["--resize", "150x150", "--fit", "cover", "--format", "png"];
        let smart_dir = dir.path().join(mode);
        let smart = converted(&smart_dir, &input, &[&args[..], &["--crop", mode]].concat());
        let win = window(&smart);
        assert_eq!((win.1, win.3), (0, 450), "{name}: the whole height is kept");
        assert!(
            (449..=451).contains(&win.2),
            "{name}: a square window: {win:?}"
        );
        assert!(holds(win, square), "{name}: --crop {mode} kept {win:?}");
        let centre = converted(dir.path(), &input, &args);
        assert!(
            !holds(window(&centre), square),
            "{name}: centre {:?}",
            window(&centre)
        );
        // The output is the window: the subject is in it.
        let out = smart_dir.join("out").join(name);
        assert_eq!(dims(&out), (150, 150));
        let smart_out = open(&out).to_rgb8();
        let not_grey = smart_out
            .pixels()
            .filter(|p| p.0.iter().any(|&v| v.abs_diff(120) > 30))
            .count();
        // The subject is about 40 px a side in the output.
        assert!(not_grey > 40 * 40 / 4, "{name}: subject pixels {not_grey}");
    }
}

#[test]
fn gravity_pins_the_window_to_an_edge_or_corner() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("wide.png");
    subject(800, 400, (0, 0, 0), [0, 0, 0], false)
        .save(&input)
        .unwrap();
    let tall = dir.path().join("tall.png");
    subject(300, 900, (0, 0, 0), [0, 0, 0], false)
        .save(&tall)
        .unwrap();
    let cases = [
        (&input, "west", (0, 0, 400, 400)),
        (&input, "east", (400, 0, 400, 400)),
        (&input, "northeast", (400, 0, 400, 400)),
        (&input, "centre", (200, 0, 400, 400)),
        (&tall, "north", (0, 0, 300, 300)),
        (&tall, "south", (0, 600, 300, 300)),
        (&tall, "southwest", (0, 600, 300, 300)),
    ];
    for (file, gravity, expected) in cases {
        let args = [
            "--resize",
            "100x100",
            "--fit",
            "cover",
            "--gravity",
            gravity,
        ];
        let record = converted(dir.path(), file, &args);
        assert_eq!(window(&record), expected, "--gravity {gravity}");
        assert_eq!(record["width_out"], 100);
        assert_eq!(record["height_out"], 100);
    }
}

#[test]
fn the_window_is_chosen_on_the_picture_as_displayed_whatever_its_exif_orientation() {
    // Landscape_1..8 hold one picture stored in the eight EXIF orientations.
    let dir = tempfile::tempdir().unwrap();
    let exif = fixtures().join("exif");
    let mut first: Option<((u64, u64, u64, u64), image::RgbImage)> = None;
    for n in 1..=8 {
        let input = exif.join(format!("Landscape_{n}.jpg"));
        let args = [
            "--resize",
            "120x120",
            "--fit",
            "cover",
            "--crop",
            "attention",
        ];
        let record = converted(dir.path(), &input, &[&args[..], &["-f", "png"]].concat());
        let win = window(&record);
        let img = open(&dir.path().join(format!("out/Landscape_{n}.png"))).to_rgb8();
        match &first {
            None => first = Some((win, img)),
            Some((w1, img1)) => {
                let close = |a: u64, b: u64| a.abs_diff(b) <= 2;
                assert!(
                    close(win.0, w1.0) && close(win.1, w1.1) && close(win.2, w1.2),
                    "orientation {n}: {win:?} against {w1:?}"
                );
                let diff = common::mean_abs_diff(
                    &image::DynamicImage::ImageRgb8(img),
                    &image::DynamicImage::ImageRgb8(img1.clone()),
                );
                assert!(diff < 6.0, "orientation {n}: pictures differ by {diff:.1}");
            }
        }
    }
}

#[test]
fn changing_the_crop_redoes_outputs_and_the_default_stays_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("p.png");
    subject(600, 300, (480, 100, 80), [210, 30, 30], false)
        .save(&input)
        .unwrap();
    let args = ["--resize", "100x100", "--fit", "cover"];
    converted(dir.path(), &input, &args);
    // Spelling out the default is the same settings: nothing to redo.
    let again = converted(
        dir.path(),
        &input,
        &[&args[..], &["--gravity", "centre"]].concat(),
    );
    assert_eq!(again["status"], "skipped", "{again}");
    let smart = converted(
        dir.path(),
        &input,
        &[&args[..], &["--crop", "attention"]].concat(),
    );
    assert_eq!(smart["status"], "ok");
    assert_eq!(smart["reason"], "settings changed", "{smart}");
}

#[test]
fn crop_options_without_a_cover_fit_or_together_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("p.png");
    subject(60, 30, (0, 0, 0), [0, 0, 0], false)
        .save(&input)
        .unwrap();
    let out = dir.path().join("out");
    for args in [
        &["--resize", "20x20", "--crop", "entropy"][..],
        &[
            "--resize",
            "20x20",
            "--fit",
            "contain",
            "--gravity",
            "north",
        ][..],
        &[
            "--resize",
            "20x20",
            "--fit",
            "cover",
            "--crop",
            "attention",
            "--gravity",
            "north",
        ][..],
    ] {
        let done = run(convert_cmd(&input, &out).args(args));
        assert_eq!(done.status.code(), Some(2), "{args:?}");
        assert!(done.stderr_text().contains("--"), "{}", done.stderr_text());
    }
    assert!(!out.exists(), "nothing written");
}

#[test]
fn animations_keep_one_window_for_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures().join("formats/anim.webp");
    let (w, h) = dims(&input);
    let size = w.min(h) / 2;
    let resize = format!("{size}x{}", size / 2);
    let args = ["--resize", &resize, "--fit", "cover", "--crop", "entropy"];
    let record = converted(dir.path(), &input, &args);
    let out = dir.path().join("out/anim.webp");
    let frames = common::decode_frames(&std::fs::read(&out).unwrap(), image::ImageFormat::WebP);
    assert!(frames.len() > 1);
    for f in &frames {
        assert_eq!(f.buffer().dimensions(), (size, size / 2));
    }
    let win = window(&record);
    assert!(win.0 + win.2 <= u64::from(w) && win.1 + win.3 <= u64::from(h));
}
