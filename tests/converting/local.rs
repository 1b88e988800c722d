//! `pixmill convert` on local images: folders, fits, formats, orientation,
//! inputs from stdin and manifests, the shell contract, reruns and bad input.

use crate::common;

use common::*;
use image::GenericImageView;
use predicates::prelude::*;
use std::fs;
use std::path::Path;

fn stdout_lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn converts_a_folder_mirroring_structure_and_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("photos");
    write_image(&src.join("a.png"), 400, 300);
    write_image(&src.join("sub/b.jpg"), 300, 600);
    write_image(&src.join("sub/deeper/c.BMP"), 50, 40);
    fs::write(src.join("notes.txt"), "not an image").unwrap();
    let out = dir.path().join("thumbs");

    let assert = pixmill()
        .current_dir(dir.path())
        .args([
            "convert",
            "photos",
            "-o",
            "thumbs",
            "--resize",
            "256x256",
            "--format",
            "jpeg",
            "--quality",
            "85",
        ])
        .assert()
        .success();
    let mut printed = stdout_lines(&assert.get_output().stdout);
    printed.sort();
    assert_eq!(
        printed,
        [
            "thumbs/a.jpg",
            "thumbs/sub/b.jpg",
            "thumbs/sub/deeper/c.jpg"
        ]
    );
    assert_eq!(files(&out), ["a.jpg", "sub/b.jpg", "sub/deeper/c.jpg"]);
    assert_eq!(dims(&out.join("a.jpg")), (256, 192));
    assert_eq!(dims(&out.join("sub/b.jpg")), (128, 256));
    // Never enlarged without --enlarge.
    assert_eq!(dims(&out.join("sub/deeper/c.jpg")), (50, 40));
    assert_eq!(format_of(&out.join("a.jpg")), image::ImageFormat::Jpeg);
}

#[test]
fn include_exclude_and_max_depth_filter_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    write_image(&src.join("keep.png"), 20, 20);
    write_image(&src.join("skip.gif"), 20, 20);
    write_image(&src.join("raw/x.png"), 20, 20);
    write_image(&src.join("a/b/deep.png"), 20, 20);
    write_image(&src.join(".hidden/h.png"), 20, 20);
    let out = dir.path().join("out");
    convert_cmd(&src, &out)
        .args([
            "--include",
            "*.png",
            "--exclude",
            "raw",
            "--max-depth",
            "2",
            "-q",
        ])
        .assert()
        .success();
    assert_eq!(files(&out), ["keep.png"]);
}

#[cfg(unix)]
#[test]
fn symlinks_are_followed_only_with_follow() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    let elsewhere = dir.path().join("elsewhere");
    write_image(&src.join("real.png"), 20, 20);
    write_image(&elsewhere.join("linked.png"), 20, 20);
    std::os::unix::fs::symlink(&elsewhere, src.join("link")).unwrap();
    let out = dir.path().join("out");
    convert_cmd(&src, &out).arg("-q").assert().success();
    assert_eq!(files(&out), ["real.png"]);
    let out2 = dir.path().join("out2");
    convert_cmd(&src, &out2)
        .args(["-q", "--follow"])
        .assert()
        .success();
    assert_eq!(files(&out2), ["link/linked.png", "real.png"]);
}

fn convert_one(dir: &Path, input: &Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    convert_cmd(input, &out)
        .arg("-q")
        .args(args)
        .assert()
        .success();
    let produced = files(&out);
    assert_eq!(produced.len(), 1, "{produced:?}");
    out.join(&produced[0])
}

#[test]
fn every_fit_gives_the_promised_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let landscape = dir.path().join("land.png");
    let portrait = dir.path().join("port.png");
    write_image(&landscape, 400, 200);
    write_image(&portrait, 200, 400);
    let cases: &[(&Path, &[&str], (u32, u32))] = &[
        (&landscape, &["--resize", "100x100"], (100, 50)),
        (&portrait, &["--resize", "100x100"], (50, 100)),
        (&landscape, &["--resize", "100"], (100, 50)),
        (&landscape, &["--resize", "x40"], (80, 40)),
        (&landscape, &["--resize", "800x800"], (400, 200)),
        (
            &landscape,
            &["--resize", "800x800", "--enlarge"],
            (800, 400),
        ),
        (
            &landscape,
            &["--resize", "100x100", "--fit", "cover"],
            (100, 100),
        ),
        (
            &portrait,
            &["--resize", "120x60", "--fit", "cover"],
            (120, 60),
        ),
        (
            &landscape,
            &["--resize", "100x100", "--fit", "fill"],
            (100, 100),
        ),
        (
            &landscape,
            &["--resize", "100x100", "--fit", "contain"],
            (100, 100),
        ),
    ];
    for (i, (input, args, expected)) in cases.iter().enumerate() {
        let out = convert_one(dir.path(), input, &format!("o{i}"), args);
        assert_eq!(dims(&out), *expected, "case {i}: {args:?}");
    }
}

#[test]
fn contain_letterboxes_onto_the_background_and_cover_crops_the_centre() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("wide.png");
    write_image(&input, 400, 100);
    let out = convert_one(
        dir.path(),
        &input,
        "contain",
        &[
            "--resize",
            "100x100",
            "--fit",
            "contain",
            "--background",
            "#00ff00",
        ],
    );
    let img = open(&out).to_rgb8();
    // 400x100 fits as 100x25, centred: rows at the top and bottom are padding.
    assert_eq!(img.get_pixel(50, 2).0, [0, 255, 0]);
    assert_eq!(img.get_pixel(50, 97).0, [0, 255, 0]);
    assert_ne!(img.get_pixel(50, 50).0, [0, 255, 0]);

    let cover = convert_one(
        dir.path(),
        &input,
        "cover",
        &["--resize", "50x50", "--fit", "cover"],
    );
    let img = open(&cover).to_rgb8();
    // The centre of the gradient survives the crop: red ≈ half of 255.
    let red = img.get_pixel(25, 25).0[0] as i32;
    assert!((red - 128).abs() < 20, "red at centre {red}");
}

#[test]
fn fit_modes_other_than_inside_need_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    pixmill()
        .args(["convert", "x.png", "-o"])
        .arg(dir.path())
        .args(["--resize", "100", "--fit", "cover"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("both sides"));
}

#[test]
fn every_output_format_is_written_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_image(&input, 120, 80);
    for (name, format, ext) in [
        ("jpeg", image::ImageFormat::Jpeg, "jpg"),
        ("png", image::ImageFormat::Png, "png"),
        ("webp", image::ImageFormat::WebP, "webp"),
        ("gif", image::ImageFormat::Gif, "gif"),
        ("bmp", image::ImageFormat::Bmp, "bmp"),
        ("tiff", image::ImageFormat::Tiff, "tif"),
    ] {
        let out = convert_one(
            dir.path(),
            &input,
            name,
            &["--format", name, "--resize", "60x60"],
        );
        assert_eq!(out.extension().unwrap(), ext);
        assert_eq!(format_of(&out), format, "{name}");
        assert_eq!(dims(&out), (60, 40), "{name}");
    }
}

#[test]
fn quality_changes_jpeg_and_lossy_webp_size_and_lossless_webp_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photo.jpg");
    fs::copy(fixtures().join("exif/Landscape_1.jpg"), &input).unwrap();
    for format in ["jpeg", "webp"] {
        let low = convert_one(
            dir.path(),
            &input,
            &format!("{format}20"),
            &["-f", format, "--quality", "20"],
        );
        let high = convert_one(
            dir.path(),
            &input,
            &format!("{format}95"),
            &["-f", format, "--quality", "95"],
        );
        let (low, high) = (
            fs::metadata(low).unwrap().len(),
            fs::metadata(high).unwrap().len(),
        );
        assert!(
            low * 2 < high,
            "{format}: q20 {low} bytes vs q95 {high} bytes"
        );
    }
    let png = dir.path().join("g.png");
    write_image(&png, 64, 48);
    let lossless = convert_one(dir.path(), &png, "lossless", &["-f", "webp", "--lossless"]);
    assert_eq!(mean_abs_diff(&open(&png), &open(&lossless)), 0.0);
}

#[test]
fn transparency_is_flattened_onto_the_background_for_jpeg_and_kept_for_png() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("alpha.png");
    write_half_transparent_png(&input, 40, 20);
    let jpg = convert_one(
        dir.path(),
        &input,
        "j",
        &["-f", "jpeg", "--background", "0,0,255"],
    );
    let img = open(&jpg).to_rgb8();
    let left = img.get_pixel(5, 10).0;
    assert!(
        left[2] > 230 && left[0] < 25 && left[1] < 25,
        "transparent → blue, got {left:?}"
    );
    let right = img.get_pixel(35, 10).0;
    assert!(
        right[0] > 230 && right[2] < 25,
        "opaque red stays red, got {right:?}"
    );

    let png = convert_one(dir.path(), &input, "p", &["-f", "png"]);
    assert_eq!(open(&png).to_rgba8().get_pixel(5, 10).0[3], 0);
}

#[test]
fn exif_orientations_come_out_upright() {
    let dir = tempfile::tempdir().unwrap();
    let exif = fixtures().join("exif");
    for kind in ["Landscape", "Portrait"] {
        let out = dir.path().join(kind);
        pixmill()
            .arg("convert")
            .args((1..=8).map(|i| exif.join(format!("{kind}_{i}.jpg"))))
            .arg("-o")
            .arg(&out)
            .args(["--resize", "120x120", "-f", "png", "-q"])
            .assert()
            .success();
        let reference = open(&out.join(format!("{kind}_1.png")));
        let (w, h) = reference.dimensions();
        assert_eq!(w > h, kind == "Landscape", "{kind} reference is {w}x{h}");
        for i in 2..=8 {
            let img = open(&out.join(format!("{kind}_{i}.png")));
            assert_eq!(img.dimensions(), (w, h), "{kind}_{i}");
            let diff = mean_abs_diff(&reference, &img);
            assert!(diff < 10.0, "{kind}_{i} differs from upright by {diff:.1}");
        }
    }
}

#[test]
fn no_auto_orient_keeps_pixels_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures().join("exif/Landscape_6.jpg");
    let (sw, sh) = dims(&input);
    let out = convert_one(
        dir.path(),
        &input,
        "raw",
        &["--no-auto-orient", "-f", "png"],
    );
    assert_eq!(dims(&out), (sw, sh));
    let oriented = convert_one(dir.path(), &input, "oriented", &["-f", "png"]);
    assert_eq!(dims(&oriented), (sh, sw));
}

#[test]
fn entries_from_stdin_plain_and_nul_separated() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 30, 30);
    write_image(&dir.path().join("with space.png"), 30, 30);
    write_image(&dir.path().join("# hash.png"), 30, 30);

    pixmill()
        .current_dir(dir.path())
        .args(["convert", "-", "-o", "plain", "-q"])
        .write_stdin("# a comment\na.png\n\n  with space.png  \r\n")
        .assert()
        .success();
    assert_eq!(
        files(&dir.path().join("plain")),
        ["a.png", "with space.png"]
    );

    pixmill()
        .current_dir(dir.path())
        .args(["convert", "-0", "-", "-o", "nul", "-q"])
        .write_stdin("a.png\0# hash.png\0")
        .assert()
        .success();
    assert_eq!(files(&dir.path().join("nul")), ["# hash.png", "a.png"]);
}

#[test]
fn csv_tsv_and_jsonl_manifests_with_output_names() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("in/a.png"), 40, 40);
    write_image(&dir.path().join("in/b.png"), 40, 40);
    fs::write(
        dir.path().join("list.csv"),
        "path,output\nin/a.png,first/one.jpg\nin/b.png,\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("list.tsv"),
        "output\tpath\nx.webp\tin/a.png\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("list.jsonl"),
        "{\"path\": \"in/a.png\", \"output\": \"j/a.gif\"}\n{\"path\": \"in/b.png\"}\n",
    )
    .unwrap();
    let run = |manifest: &str, out: &str| {
        pixmill()
            .current_dir(dir.path())
            .args(["convert", "-m", manifest, "-o", out, "-q"])
            .assert()
            .success();
        files(&dir.path().join(out))
    };
    assert_eq!(run("list.csv", "c"), ["first/one.jpg", "in/b.png"]);
    // The output name's extension chooses the format when --format is absent.
    assert_eq!(
        format_of(&dir.path().join("c/first/one.jpg")),
        image::ImageFormat::Jpeg
    );
    assert_eq!(run("list.tsv", "t"), ["x.webp"]);
    assert_eq!(
        format_of(&dir.path().join("t/x.webp")),
        image::ImageFormat::WebP
    );
    assert_eq!(run("list.jsonl", "j"), ["in/b.png", "j/a.gif"]);

    // --manifest-format overrides the extension.
    fs::copy(dir.path().join("list.csv"), dir.path().join("list.txt")).unwrap();
    pixmill()
        .current_dir(dir.path())
        .args([
            "convert",
            "-m",
            "list.txt",
            "--manifest-format",
            "csv",
            "-o",
            "o",
            "-q",
        ])
        .assert()
        .success();
    assert_eq!(files(&dir.path().join("o")), ["first/one.jpg", "in/b.png"]);
}

/// A manifest's `output` name is kept as given, so when it says another
/// format than the one written (`-f` wins, and pixmill writes no HEIF),
/// the record says so: never a silent `.png` full of WebP.
#[test]
fn an_output_name_that_says_another_format_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("in/a.png"), 40, 40);
    fs::write(
        dir.path().join("list.csv"),
        "path,output\nin/a.png,x.png\nin/a.png,y.heic\nin/a.png,z\nin/a.png,w.webp\n",
    )
    .unwrap();
    let out = pixmill()
        .current_dir(dir.path())
        .args([
            "convert", "-m", "list.csv", "-o", "o", "-f", "webp", "--json",
        ])
        .assert()
        .success();
    let records = json_lines(&String::from_utf8_lossy(&out.get_output().stdout));
    let warnings = |name: &str| {
        let r = records
            .iter()
            .find(|r| r["output"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no record for {name}: {records:?}"));
        assert_eq!(r["status"], "ok", "{r}");
        r["warnings"].to_string()
    };
    assert!(
        warnings("x.png").contains("output name says png but it holds webp"),
        "{records:?}"
    );
    assert!(
        warnings("y.heic").contains("output name says heif but it holds webp"),
        "{records:?}"
    );
    assert!(
        warnings("/z").contains("output name does not say its format: it holds webp"),
        "{records:?}"
    );
    assert!(!warnings("w.webp").contains("output name"), "{records:?}");
    assert_eq!(
        format_of(&dir.path().join("o/x.png")),
        image::ImageFormat::WebP
    );
}

#[test]
fn manifest_output_names_cannot_escape() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 10, 10);
    fs::write(
        dir.path().join("m.csv"),
        "path,output\na.png,../evil.png\na.png,/tmp/evil.png\na.png,ok.png\n",
    )
    .unwrap();
    let assert = pixmill()
        .current_dir(dir.path())
        .args(["convert", "-m", "m.csv", "-o", "out"])
        .assert()
        .code(1);
    let stderr = assert.stderr_text();
    assert!(
        stderr.contains("unsafe output name '../evil.png'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unsafe output name '/tmp/evil.png'"),
        "{stderr}"
    );
    assert_eq!(files(&dir.path().join("out")), ["ok.png"]);
    assert!(!dir.path().join("evil.png").exists());
}

#[test]
fn json_and_report_records_describe_each_item() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("in/good.png"), 200, 100);
    fs::write(
        dir.path().join("in/bad.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let assert = pixmill()
        .current_dir(dir.path())
        .args([
            "convert", "in", "-o", "out", "--resize", "50", "--json", "--report", "r.jsonl",
        ])
        .assert()
        .code(1);
    let stdout_records = assert.records();
    let report = json_lines(&fs::read_to_string(dir.path().join("r.jsonl")).unwrap());
    assert_eq!(stdout_records.len(), 2);
    assert_eq!(report.len(), 2);
    let good = report.iter().find(|r| r["input"] == "in/good.png").unwrap();
    assert_eq!(good["status"], "ok");
    assert_eq!(good["output"], "out/good.png");
    assert_eq!(good["width_in"], 200);
    assert_eq!(good["height_in"], 100);
    assert_eq!(good["width_out"], 50);
    assert_eq!(good["height_out"], 25);
    assert!(good["bytes_in"].as_u64().unwrap() > 0);
    assert_eq!(
        good["bytes_out"].as_u64().unwrap(),
        fs::metadata(dir.path().join("out/good.png")).unwrap().len()
    );
    assert!(good["ms"].is_u64());
    let bad = report.iter().find(|r| r["input"] == "in/bad.png").unwrap();
    assert_eq!(bad["status"], "failed");
    assert_eq!(bad["error_class"], "decode");
    assert!(!bad["error"].as_str().unwrap().is_empty());
}

#[test]
fn rerun_skips_what_exists_and_on_exists_controls_it() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("in/a.png"), 30, 30);
    write_image(&dir.path().join("in/b.png"), 30, 30);
    let run = |extra: &[&str]| {
        pixmill()
            .current_dir(dir.path())
            .args(["convert", "in", "-o", "out", "--report", "r.jsonl"])
            .args(extra)
            .assert()
    };
    run(&[]).success();
    fs::remove_file(dir.path().join("out/b.png")).unwrap();
    let before = fs::metadata(dir.path().join("out/a.png"))
        .unwrap()
        .modified()
        .unwrap();
    run(&[]).success().stdout("out/b.png\n");
    let report = json_lines(&fs::read_to_string(dir.path().join("r.jsonl")).unwrap());
    let a = report.iter().find(|r| r["input"] == "in/a.png").unwrap();
    assert_eq!(a["status"], "skipped");
    assert_eq!(
        fs::metadata(dir.path().join("out/a.png"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );

    run(&["--on-exists", "fail"])
        .code(1)
        .stderr(predicate::str::contains("exists"));
    run(&["--on-exists", "overwrite"]).success();
    let report = json_lines(&fs::read_to_string(dir.path().join("r.jsonl")).unwrap());
    assert!(report.iter().all(|r| r["status"] == "ok"));
}

#[test]
fn two_inputs_mapping_to_one_name_both_convert_the_later_under_a_stable_suffix() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 30, 30);
    write_image(&dir.path().join("a.gif"), 60, 60);
    let run = || {
        pixmill()
            .current_dir(dir.path())
            .args(["convert", "a.png", "a.gif", "-o", "out", "-f", "jpeg"])
            .assert()
            .success()
    };
    let first = run().stdout_text();
    let names = files(&dir.path().join("out"));
    assert_eq!(names.len(), 2, "{names:?}");
    // The first input keeps the plain name; the later one is told apart.
    assert_eq!(dims(&dir.path().join("out/a.jpg")), (30, 30));
    let other = names.iter().find(|n| *n != "a.jpg").unwrap();
    assert!(
        other.starts_with("a-") && other.ends_with(".jpg"),
        "{other}"
    );
    assert_eq!(dims(&dir.path().join("out").join(other)), (60, 60));
    assert_eq!(first.lines().count(), 2);
    // The same names on a rerun: everything is up to date.
    assert_eq!(run().stdout_text(), "");
    assert_eq!(files(&dir.path().join("out")), names);
}

#[test]
fn two_inputs_given_the_same_explicit_name_clash_instead_of_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 30, 30);
    write_image(&dir.path().join("b.png"), 60, 60);
    fs::write(
        dir.path().join("m.csv"),
        "path,output\na.png,x.png\nb.png,x.png\n",
    )
    .unwrap();
    let assert = pixmill()
        .current_dir(dir.path())
        .args(["convert", "-m", "m.csv", "-o", "out"])
        .assert()
        .code(1);
    let stderr = assert.stderr_text();
    assert!(
        stderr.contains("b.png") && stderr.contains("already produced"),
        "{stderr}"
    );
    assert_eq!(dims(&dir.path().join("out/x.png")), (30, 30));
}

#[test]
fn bad_inputs_fail_alone_and_leave_no_partial_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    write_image(&src.join("good1.png"), 50, 50);
    write_image(&src.join("good2.jpg"), 50, 50);
    fs::write(src.join("empty.png"), b"").unwrap();
    fs::write(src.join("text.jpg"), b"hello, I am not an image").unwrap();
    let jpeg = fs::read(fixtures().join("exif/Landscape_1.jpg")).unwrap();
    fs::write(src.join("truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    let mut corrupt = fs::read(src.join("good1.png")).unwrap();
    let mid = corrupt.len() / 2;
    corrupt[mid..]
        .iter_mut()
        .for_each(|b| *b = b.wrapping_mul(7).wrapping_add(13));
    fs::write(src.join("corrupt.png"), &corrupt).unwrap();
    let out = dir.path().join("out");

    let assert = convert_cmd(&src, &out).assert().code(1);
    let stderr = assert.stderr_text();
    for bad in ["empty.png", "text.jpg", "corrupt.png"] {
        let line = stderr
            .lines()
            .find(|l| l.contains(bad))
            .unwrap_or_else(|| panic!("{bad} not reported:\n{stderr}"));
        assert!(line.starts_with("pixmill: "), "{line}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    let produced = files(&out);
    assert!(
        produced.contains(&"good1.png".to_string()) && produced.contains(&"good2.jpg".to_string())
    );
    for bad in ["empty.png", "text.jpg", "corrupt.png"] {
        assert!(!produced.contains(&bad.to_string()), "{bad} left an output");
    }
    assert_no_temp_files(&out);
}

#[test]
fn missing_inputs_fail_as_items_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 10, 10);
    pixmill()
        .current_dir(dir.path())
        .args(["convert", "a.png", "nope.png", "-o", "out"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nope.png"));
    assert_eq!(files(&dir.path().join("out")), ["a.png"]);
    pixmill().args(["convert", "a.png"]).assert().code(2);
    pixmill()
        .current_dir(dir.path())
        .args(["convert", "a.png", "-o", "out", "--quality", "0"])
        .assert()
        .code(2);
    pixmill()
        .current_dir(dir.path())
        .args(["convert", "-m", "missing.csv", "-o", "out"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.csv"));
}

#[test]
fn dry_run_lists_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("in/a.png"), 10, 10);
    pixmill()
        .current_dir(dir.path())
        .args(["convert", "in", "-o", "out", "-f", "webp", "--dry-run"])
        .assert()
        .success()
        .stdout("in/a.png -> out/a.webp\n");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn quiet_silences_the_summary_and_no_bar_is_drawn_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 10, 10);
    let assert = pixmill()
        .current_dir(dir.path())
        .args(["convert", "a.png", "-o", "out"])
        .assert()
        .success();
    let stderr = assert.stderr_text();
    assert!(stderr.contains("1 ok, 0 skipped, 0 failed"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes on a non-terminal: {stderr:?}"
    );
    pixmill()
        .current_dir(dir.path())
        .args(["convert", "a.png", "-o", "out2", "-q"])
        .assert()
        .success()
        .stderr("");
}

#[test]
fn shards_split_the_entries_without_overlap() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..12 {
        write_image(&dir.path().join(format!("in/{i:02}.png")), 16, 16);
    }
    let shard = |i: u32| {
        let out = format!("s{i}");
        pixmill()
            .current_dir(dir.path())
            .args([
                "convert",
                "in",
                "-o",
                &out,
                "-q",
                "--shard",
                &format!("{i}/2"),
            ])
            .assert()
            .success();
        files(&dir.path().join(out))
    };
    let (a, b) = (shard(0), shard(1));
    assert!(!a.is_empty() && !b.is_empty(), "{a:?} {b:?}");
    assert!(a.iter().all(|f| !b.contains(f)), "overlap: {a:?} {b:?}");
    assert_eq!(a.len() + b.len(), 12);
    // Stable: the same shard picks the same entries again.
    assert_eq!(shard(0), a);
    pixmill()
        .args(["convert", "in", "-o", "x", "--shard", "2/2"])
        .assert()
        .code(2);
}

/// A fit that needs both sides of the box, given one, is a usage error
/// naming that fit (it once named the other three).
#[test]
fn a_fit_without_a_whole_box_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("a.png"), 40, 40);
    for fit in ["cover", "fill", "contain", "outside"] {
        let out = pixmill()
            .current_dir(dir.path())
            .args(["convert", "a.png", "-o", "o", "-r", "x30", "--fit", fit])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{fit}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("--fit {fit} needs a box with both sides")),
            "{fit}: {stderr}"
        );
    }
}
