//! Dataset outputs (`--output-format webdataset|parquet`) and dataset-style
//! manifests, read back with the `tar` and `parquet` crates' own readers.

use crate::common;

use common::server::Server;
use common::*;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;

/// Every member of a tar file: name → bytes.
pub(crate) fn tar_members(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(File::open(path).unwrap());
    let mut members = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        members.insert(name, data);
    }
    members
}

/// Every row of a parquet file, as column name → field.
pub(crate) fn parquet_rows(path: &Path) -> Vec<BTreeMap<String, Field>> {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let rows = reader.get_row_iter(None).unwrap();
    rows.map(|row: Result<Row, _>| {
        row.unwrap()
            .get_column_iter()
            .map(|(name, field)| (name.clone(), field.clone()))
            .collect()
    })
    .collect()
}

pub(crate) fn text(field: &Field) -> Option<&str> {
    match field {
        Field::Str(s) => Some(s),
        _ => None,
    }
}

fn int(field: &Field) -> Option<i64> {
    match field {
        Field::Int(i) => Some(i64::from(*i)),
        Field::Long(i) => Some(*i),
        _ => None,
    }
}

/// A server with five images and a CSV list of six rows (the fifth row a
/// 404) with captions and a license column.
fn dataset_list(dir: &Path) -> Server {
    let server = Server::start();
    let mut csv = String::from("url,caption,license\n");
    for i in 0..6 {
        let name = format!("img{i}.png");
        if i != 4 {
            let img = image::DynamicImage::ImageRgb8(gradient(40 + i * 8, 30));
            server.add(&name, encode(&img, image::ImageFormat::Png));
        }
        csv.push_str(&format!(
            "{},a photo number {i},cc-by-{i}\n",
            server.url(&format!("/f/{name}"))
        ));
    }
    fs::write(dir.join("list.csv"), csv).unwrap();
    server
}

fn run_dataset(dir: &Path, kind: &str) -> assert_cmd::assert::Assert {
    pixmill()
        .current_dir(dir)
        .args([
            "convert",
            "-m",
            "list.csv",
            "-o",
            "out",
            "--output-format",
            kind,
        ])
        .args(["--samples-per-file", "2", "-r", "16x16", "-f", "jpeg"])
        .args(["--report", "r.jsonl", "--timeout", "2s", "--retries", "0"])
        .assert()
}

#[test]
fn webdataset_shards_hold_each_row_under_a_stable_key_with_metadata_for_all() {
    let dir = tempfile::tempdir().unwrap();
    let server = dataset_list(dir.path());
    run_dataset(dir.path(), "webdataset").code(1);
    let out = dir.path().join("out");

    // Rows 0..6 in files of two: 00000.tar holds rows 0 and 1, and so on.
    let first = tar_members(&out.join("00000.tar"));
    let names: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "000000.jpg",
            "000000.json",
            "000000.txt",
            "000001.jpg",
            "000001.json",
            "000001.txt"
        ]
    );
    assert_eq!(first["000001.txt"], b"a photo number 1");
    let sample = image::load_from_memory(&first["000001.jpg"]).unwrap();
    assert_eq!((sample.width(), sample.height()), (16, 10));
    let json: serde_json::Value = serde_json::from_slice(&first["000001.json"]).unwrap();
    assert_eq!(json["url"], server.url("/f/img1.png"));
    assert_eq!(json["caption"], "a photo number 1");
    assert_eq!(json["license"], "cc-by-1");
    assert_eq!(json["original_width"], 48);
    assert_eq!(json["width"], 16);
    assert_eq!(json["status"], "ok");

    // The failed row has no sample, but its metadata row says why.
    let third = tar_members(&out.join("00002.tar"));
    assert!(third.contains_key("000021.jpg") && !third.contains_key("000020.jpg"));
    let meta = parquet_rows(&out.join("00002.parquet"));
    assert_eq!(meta.len(), 2);
    let failed = meta
        .iter()
        .find(|r| text(&r["key"]) == Some("000020"))
        .unwrap();
    assert_eq!(text(&failed["status"]), Some("failed"));
    assert_eq!(int(&failed["http_status"]), Some(404));
    assert_eq!(text(&failed["license"]), Some("cc-by-4"));
    let ok = meta
        .iter()
        .find(|r| text(&r["key"]) == Some("000021"))
        .unwrap();
    assert_eq!(text(&ok["status"]), Some("ok"));
    assert_eq!(int(&ok["height"]), Some(6));

    let stats: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("00002_stats.json")).unwrap()).unwrap();
    assert_eq!(stats["count"], 2);
    assert_eq!(stats["ok"], 1);
    assert_eq!(stats["failed"], 1);
    assert_eq!(stats["errors"]["http"], 1);
    assert_no_temp_files(&out);

    // A rerun redoes only the data file that is missing.
    let kept = fs::read(out.join("00000.tar")).unwrap();
    fs::remove_file(out.join("00001.tar")).unwrap();
    let hits_before = (server.hits("/f/img0.png"), server.hits("/f/img2.png"));
    run_dataset(dir.path(), "webdataset").code(0);
    assert_eq!(
        server.hits("/f/img0.png"),
        hits_before.0,
        "complete file redone"
    );
    assert_eq!(server.hits("/f/img2.png"), hits_before.1 + 1);
    assert_eq!(fs::read(out.join("00000.tar")).unwrap(), kept);
    let second = tar_members(&out.join("00001.tar"));
    assert!(second.contains_key("000010.jpg") && second.contains_key("000011.txt"));
    assert_no_temp_files(&out);
}

#[test]
fn parquet_output_has_every_row_and_the_image_bytes() {
    let dir = tempfile::tempdir().unwrap();
    dataset_list(dir.path());
    run_dataset(dir.path(), "parquet").code(1);
    let out = dir.path().join("out");
    let mut rows = Vec::new();
    for file in ["00000.parquet", "00001.parquet", "00002.parquet"] {
        rows.extend(parquet_rows(&out.join(file)));
    }
    assert_eq!(rows.len(), 6);
    let ok: Vec<_> = rows
        .iter()
        .filter(|r| text(&r["status"]) == Some("ok"))
        .collect();
    assert_eq!(ok.len(), 5);
    for row in ok {
        let Field::Bytes(bytes) = &row["image"] else {
            panic!("no image bytes: {row:?}");
        };
        let img = image::load_from_memory(bytes.data()).unwrap();
        assert_eq!(i64::from(img.width()), int(&row["width"]).unwrap());
        assert!(text(&row["caption"]).unwrap().starts_with("a photo number"));
    }
    assert_no_temp_files(&out);
}

/// The inputs `--dry-run --shard I/N` plans for shard `shard` of `list`,
/// in order: the expectations of a shard run, however the loopback server's
/// random port makes the URLs hash.
fn planned(dir: &Path, list: &str, shard: &str) -> Vec<String> {
    let dry = pixmill()
        .current_dir(dir)
        .args(["convert", "-m", list, "-o", "out", "--dry-run", "--json"])
        .args(["--output-format", "webdataset", "--shard", shard])
        .assert()
        .code(0);
    dry.records()
        .iter()
        .map(|r| r["input"].as_str().unwrap().to_string())
        .collect()
}

/// A list of `rows` images (`/f/imgN.png`, no caption), none missing.
fn image_list(dir: &Path, rows: usize) -> Server {
    let server = Server::start();
    let png = encode(
        &image::DynamicImage::ImageRgb8(gradient(24, 18)),
        image::ImageFormat::Png,
    );
    let mut csv = String::from("url\n");
    for i in 0..rows {
        server.add(&format!("img{i}.png"), png.clone());
        csv.push_str(&server.url(&format!("/f/img{i}.png")));
        csv.push('\n');
    }
    fs::write(dir.join("list.csv"), csv).unwrap();
    server
}

#[test]
fn shard_runs_into_one_folder_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    // 40 rows: that either of two shards gets none is a 1-in-2^39 chance.
    image_list(dir.path(), 40);
    let per_file = 4;
    let mut all = Vec::new();
    for index in 0..2 {
        let shard = format!("{index}/2");
        let want = planned(dir.path(), "list.csv", &shard);
        assert!(!want.is_empty(), "shard {shard} got no rows");
        pixmill()
            .current_dir(dir.path())
            .args(["convert", "-m", "list.csv", "-o", "out"])
            .args(["--output-format", "webdataset", "--shard", &shard])
            .args(["--samples-per-file", &per_file.to_string()])
            .args(["-r", "16x16", "-f", "jpeg", "--retries", "0"])
            .assert()
            .code(0);
        // The shard's rows, in planned order, fill its own files in turn.
        let mut got = Vec::new();
        for file in 0..want.len().div_ceil(per_file) {
            let name = format!("{index}of2-{file:05}.tar");
            let members = tar_members(&dir.path().join("out").join(&name));
            for (member, bytes) in &members {
                if member.ends_with(".json") {
                    let json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
                    assert!(member.starts_with(&format!("{index}of2-{file:05}")));
                    got.push(json["url"].as_str().unwrap().to_string());
                }
            }
        }
        assert_eq!(got, want, "shard {shard}");
        all.extend(got);
    }
    // Every row in exactly one shard, and nothing else in the folder.
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40);
    let tars = files(&dir.path().join("out"))
        .into_iter()
        .filter(|f| f.ends_with(".tar"))
        .count();
    let expected: usize = (0..2)
        .map(|i| planned(dir.path(), "list.csv", &format!("{i}/2")).len())
        .map(|rows| rows.div_ceil(per_file))
        .sum();
    assert_eq!(tars, expected);
    assert_no_temp_files(&dir.path().join("out"));
}

#[test]
fn a_shard_assigned_no_rows_succeeds_and_writes_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let server = image_list(dir.path(), 1);
    // One row: exactly one of two shards gets it.
    let empty = (0..2)
        .find(|i| planned(dir.path(), "list.csv", &format!("{i}/2")).is_empty())
        .unwrap();
    let full = 1 - empty;
    for index in [empty, full] {
        let run = pixmill()
            .current_dir(dir.path())
            .args(["convert", "-m", "list.csv", "-o", "out"])
            .args(["--output-format", "webdataset"])
            .args(["--shard", &format!("{index}/2")])
            .args(["--report", &format!("r{index}.jsonl")])
            .assert()
            .code(0);
        if index == empty {
            let stderr = run.stderr_text();
            assert!(stderr.contains("0 ok, 0 skipped, 0 failed"), "{stderr}");
            assert!(report(&dir.path().join(format!("r{index}.jsonl"))).is_empty());
            assert_eq!(server.hits("/f/img0.png"), 0);
        }
    }
    // Data files hold rows: the empty shard has none, not an empty tar
    // that a training loader would count as a shard.
    // (Hidden: the seal and the shard's lock.)
    let mut names = files(&dir.path().join("out"));
    names.retain(|n| !n.starts_with('.'));
    names.sort();
    let stem = format!("{full}of2-00000");
    assert_eq!(
        names,
        [
            format!("{stem}.parquet"),
            format!("{stem}.tar"),
            format!("{stem}_stats.json")
        ]
    );
}

#[test]
fn gzip_manifest_with_named_columns_passes_other_columns_to_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    let img = image::DynamicImage::ImageRgb8(gradient(20, 20));
    server.add("a.png", encode(&img, image::ImageFormat::Png));
    let csv = format!(
        "TEXT,link,score\nhello world,{},0.9\n",
        server.url("/f/a.png")
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(csv.as_bytes()).unwrap();
    fs::write(dir.path().join("list.csv.gz"), gz.finish().unwrap()).unwrap();
    let assert = pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-m", "list.csv.gz", "-o", "out", "--json"])
        .args(["--url-col", "link", "--caption-col", "TEXT"])
        .assert()
        .code(0);
    let records = assert.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["status"], "ok");
    assert_eq!(records[0]["caption"], "hello world");
    assert_eq!(records[0]["columns"]["score"], "0.9");
    assert!(dir.path().join("out/a.png").is_file());
}

#[test]
fn filters_skip_small_and_stretched_images_and_outside_fits_the_shorter_side() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    write_image(&photos.join("wide.png"), 100, 50);
    write_image(&photos.join("small.png"), 30, 30);
    write_image(&photos.join("strip.png"), 150, 50);
    pixmill()
        .current_dir(dir.path())
        .args(["convert", "photos", "-o", "out", "--report", "r.jsonl"])
        .args(["-r", "20x20", "--fit", "outside"])
        .args(["--min-size", "40", "--max-aspect", "2"])
        .assert()
        .code(0);
    let records = report(&dir.path().join("r.jsonl"));
    let wide = record(&records, "photos/wide.png");
    assert_eq!(wide["status"], "ok");
    // The shorter side meets the box; nothing is cropped.
    assert_eq!(
        (wide["width_out"].as_u64(), wide["height_out"].as_u64()),
        (Some(40), Some(20))
    );
    let small = record(&records, "photos/small.png");
    assert_eq!(small["status"], "skipped");
    assert!(
        small["reason"].as_str().unwrap().contains("--min-size 40"),
        "{small}"
    );
    let strip = record(&records, "photos/strip.png");
    assert_eq!(strip["status"], "skipped");
    assert!(
        strip["reason"].as_str().unwrap().contains("--max-aspect 2"),
        "{strip}"
    );
    assert!(!dir.path().join("out/small.png").exists());
    assert!(!dir.path().join("out/strip.png").exists());
}

#[test]
fn x_robots_tag_opt_outs_are_honoured_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    let img = image::DynamicImage::ImageRgb8(gradient(20, 20));
    server.add("a.png", encode(&img, image::ImageFormat::Png));
    let tags = [
        ("noai", "skipped"),
        ("PIXMILL:%20NoImageAI", "skipped"),
        ("otherbot:%20noai", "ok"),
        ("noarchive,%20noindex", "skipped"),
        ("nofollow", "ok"),
    ];
    let mut list = String::new();
    for (tag, _) in tags {
        list.push_str(&server.url(&format!("/robots/{tag}/a.png")));
        list.push('\n');
    }
    fs::write(dir.path().join("list.txt"), list).unwrap();
    let run = |extra: &[&str]| {
        pixmill()
            .current_dir(dir.path())
            .args([
                "convert", "-m", "list.txt", "-o", "out", "--report", "r.jsonl",
            ])
            .args(["--output-format", "webdataset"])
            .args(extra)
            .assert()
            .code(0);
        report(&dir.path().join("r.jsonl"))
    };
    let records = run(&[]);
    for (tag, want) in tags {
        let r = records
            .iter()
            .find(|r| r["url"].as_str().unwrap().contains(&format!("/{tag}/")))
            .unwrap();
        assert_eq!(r["status"], want, "{tag}: {r}");
        if want == "skipped" {
            assert!(
                r["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("opted out: X-Robots-Tag"),
                "{r}"
            );
            assert!(
                r["bytes_in"].is_null(),
                "opted-out body was downloaded: {r}"
            );
        }
    }
    // The metadata keeps the opted-out rows, with the reason.
    let meta = parquet_rows(&dir.path().join("out/00000.parquet"));
    let opted = meta
        .iter()
        .filter(|r| text(&r["reason"]).is_some_and(|s| s.starts_with("opted out")))
        .count();
    assert_eq!(opted, 3);

    // An empty list honours none.
    fs::remove_dir_all(dir.path().join("out")).unwrap();
    let records = run(&["--disallowed-header-directives", ""]);
    assert!(records.iter().all(|r| r["status"] == "ok"), "{records:#?}");
}

#[test]
fn hash_digests_the_downloaded_bytes_into_records_and_samples() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.add("abc", b"abc".to_vec());
    let png = encode(
        &image::DynamicImage::ImageRgb8(gradient(20, 20)),
        image::ImageFormat::Png,
    );
    server.add("a.png", png.clone());
    let fetched = pixmill()
        .current_dir(dir.path())
        .args(["fetch", &server.url("/f/abc"), "-o", "dl", "--json"])
        .args(["--hash", "md5"])
        .assert()
        .code(0);
    let records = fetched.records();
    assert_eq!(records[0]["hash"], "900150983cd24fb0d6963f7d28e17f72");

    pixmill()
        .current_dir(dir.path())
        .args(["convert", &server.url("/f/a.png"), "-o", "out"])
        .args([
            "--output-format",
            "webdataset",
            "-f",
            "jpeg",
            "--hash",
            "sha256",
        ])
        .assert()
        .code(0);
    let tar = tar_members(&dir.path().join("out/00000.tar"));
    let json: serde_json::Value = serde_json::from_slice(&tar["000000000.json"]).unwrap();
    let want: String = sha2::Sha256::digest(&png)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(json["hash"], want);
}

/// One row of a LAION-style parquet list: URL, caption, and typed columns.
pub(crate) struct ListRow {
    pub url: Option<String>,
    pub text: Option<&'static str>,
    pub id: i64,
    pub similarity: Option<f64>,
    pub nsfw: Option<&'static str>,
}

/// Writes `rows` as a parquet file with one row group per `groups` entry
/// (its row count): snappy-compressed, with the caption column in zstd, as
/// the files datasets ship come.
pub(crate) fn write_parquet_list(path: &Path, rows: &[ListRow], groups: &[usize]) {
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::ColumnPath;
    use std::sync::Arc;

    let schema = parquet::schema::parser::parse_message_type(
        "message list {
            OPTIONAL BYTE_ARRAY URL (UTF8);
            OPTIONAL BYTE_ARRAY TEXT (UTF8);
            REQUIRED INT64 id;
            OPTIONAL DOUBLE similarity;
            OPTIONAL BYTE_ARRAY NSFW (UTF8);
        }",
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_column_compression(
            ColumnPath::from("TEXT"),
            Compression::ZSTD(ZstdLevel::default()),
        )
        .build();
    let file = File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).unwrap();
    // Optional text: values for the present cells, a definition level for each.
    fn strings(cells: Vec<Option<String>>) -> (Vec<ByteArray>, Vec<i16>) {
        let levels = cells.iter().map(|c| i16::from(c.is_some())).collect();
        let values = cells
            .into_iter()
            .flatten()
            .map(|s| ByteArray::from(s.into_bytes()))
            .collect();
        (values, levels)
    }
    assert_eq!(groups.iter().sum::<usize>(), rows.len());
    let mut start = 0;
    for &size in groups {
        let group = &rows[start..start + size];
        start += size;
        let mut rg = writer.next_row_group().unwrap();
        for column in 0..5 {
            let mut col = rg.next_column().unwrap().unwrap();
            match column {
                0 | 1 | 4 => {
                    let cells = group
                        .iter()
                        .map(|r| match column {
                            0 => r.url.clone(),
                            1 => r.text.map(String::from),
                            _ => r.nsfw.map(String::from),
                        })
                        .collect();
                    let (values, levels) = strings(cells);
                    col.typed::<ByteArrayType>()
                        .write_batch(&values, Some(&levels), None)
                        .unwrap();
                }
                2 => {
                    let ids: Vec<i64> = group.iter().map(|r| r.id).collect();
                    col.typed::<Int64Type>()
                        .write_batch(&ids, None, None)
                        .unwrap();
                }
                _ => {
                    let levels: Vec<i16> = group
                        .iter()
                        .map(|r| i16::from(r.similarity.is_some()))
                        .collect();
                    let values: Vec<f64> = group.iter().filter_map(|r| r.similarity).collect();
                    col.typed::<DoubleType>()
                        .write_batch(&values, Some(&levels), None)
                        .unwrap();
                }
            }
            col.close().unwrap();
        }
        rg.close().unwrap();
    }
    writer.close().unwrap();
}

/// Six rows over three row groups (3, 2, 1): row 4 is a 404, row 3 has
/// no caption and null columns.
fn parquet_list(dir: &Path, name: &str) -> Server {
    let server = Server::start();
    let mut rows = Vec::new();
    for i in 0..6u32 {
        let file = format!("img{i}.png");
        if i != 4 {
            let img = image::DynamicImage::ImageRgb8(gradient(40 + i * 8, 30));
            server.add(&file, encode(&img, image::ImageFormat::Png));
        }
        rows.push(ListRow {
            url: Some(server.url(&format!("/f/{file}"))),
            text: [
                Some("a cat"),
                Some("a dog"),
                Some("a bird"),
                None,
                Some("gone"),
                Some("a fish"),
            ][i as usize],
            id: 1000 + i64::from(i),
            similarity: (i != 3).then_some(0.25 + f64::from(i)),
            nsfw: (i != 3).then_some("UNLIKELY"),
        });
    }
    write_parquet_list(&dir.join(name), &rows, &[3, 2, 1]);
    server
}

#[test]
fn parquet_manifest_rows_become_samples_with_typed_columns_passed_through() {
    let dir = tempfile::tempdir().unwrap();
    // No extension: recognised by its magic bytes.
    let server = parquet_list(dir.path(), "laion-part");
    pixmill()
        .current_dir(dir.path())
        .args(["convert", "-m", "laion-part", "-o", "out"])
        .args(["--url-col", "url", "--caption-col", "TEXT"])
        .args(["--output-format", "webdataset", "--samples-per-file", "2"])
        .args(["-r", "16x16", "-f", "jpeg", "--report", "r.jsonl"])
        .args(["--timeout", "2s", "--retries", "0"])
        .assert()
        .code(1);
    let out = dir.path().join("out");

    // Rows keep their order across row groups: row 3 is 00001.tar's second.
    let second = tar_members(&out.join("00001.tar"));
    let names: Vec<&str> = second.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "000010.jpg",
            "000010.json",
            "000010.txt",
            "000011.jpg",
            "000011.json"
        ]
    );
    assert_eq!(second["000010.txt"], b"a bird");
    let json: serde_json::Value = serde_json::from_slice(&second["000010.json"]).unwrap();
    assert_eq!(json["url"], server.url("/f/img2.png"));
    assert_eq!(json["caption"], "a bird");
    assert_eq!(json["id"], 1002);
    assert_eq!(json["similarity"], 2.25);
    assert_eq!(json["NSFW"], "UNLIKELY");
    // A row with null cells: no caption file, nulls kept as null.
    let json: serde_json::Value = serde_json::from_slice(&second["000011.json"]).unwrap();
    assert_eq!(json["id"], 1003);
    assert!(
        json["similarity"].is_null() && json["NSFW"].is_null(),
        "{json}"
    );
    assert!(json["caption"].is_null(), "{json}");

    // The metadata has every row, the failed one with its columns.
    let meta = parquet_rows(&out.join("00002.parquet"));
    let failed = meta
        .iter()
        .find(|r| text(&r["key"]) == Some("000020"))
        .unwrap();
    assert_eq!(text(&failed["status"]), Some("failed"));
    assert_eq!(int(&failed["http_status"]), Some(404));
    assert_eq!(text(&failed["id"]), Some("1004"));
    assert_eq!(text(&failed["caption"]), Some("gone"));

    let records = report(&dir.path().join("r.jsonl"));
    assert_eq!(records.len(), 6);
    let fish = records
        .iter()
        .find(|r| r["caption"] == "a fish")
        .expect("row 5 in the report");
    assert_eq!(fish["status"], "ok");
    assert_eq!(fish["columns"]["id"], 1005);
    assert_eq!(fish["columns"]["similarity"], 5.25);
    assert_no_temp_files(&out);
}

#[test]
fn parquet_manifest_feeds_fetch_and_bad_rows_are_failed_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    let img = image::DynamicImage::ImageRgb8(gradient(20, 20));
    server.add("a.png", encode(&img, image::ImageFormat::Png));
    let row = |url: Option<String>, id| ListRow {
        url,
        text: Some("x"),
        id,
        similarity: None,
        nsfw: None,
    };
    let rows = [
        row(Some(server.url("/f/a.png")), 1),
        row(None, 2),
        row(Some(String::new()), 3),
    ];
    write_parquet_list(&dir.path().join("list.parquet"), &rows, &[2, 1]);
    let fetched = pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-m", "list.parquet", "-o", "dl", "--json"])
        .assert()
        .code(1);
    let records = fetched.records();
    assert_eq!(records.len(), 3, "{records:#?}");
    let ok = records.iter().find(|r| r["status"] == "ok").unwrap();
    assert_eq!(ok["columns"]["id"], 1);
    // No `caption` column and no --caption-col: TEXT is just another column.
    assert_eq!(ok["columns"]["TEXT"], "x");
    assert!(ok["columns"]["similarity"].is_null());
    assert!(dir.path().join("dl/a.png").is_file());
    // Rows 2 and 3 (counted from 1) have no URL: each a failed record.
    for number in [2, 3] {
        let bad = records
            .iter()
            .find(|r| r["input"] == format!("list.parquet:{number}"))
            .unwrap_or_else(|| panic!("no record for row {number}: {records:#?}"));
        assert_eq!(bad["status"], "failed");
        assert!(bad["error"].as_str().unwrap().contains("empty"), "{bad}");
    }
}

/// NaN and ±inf in a pass-through column cannot be JSON numbers: they
/// pass through as null, and each record names what became null.
#[test]
fn non_finite_parquet_values_are_named_in_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    let img = image::DynamicImage::ImageRgb8(gradient(20, 20));
    let mut rows = Vec::new();
    for (i, similarity) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.5]
        .into_iter()
        .enumerate()
    {
        server.add(&format!("{i}.png"), encode(&img, image::ImageFormat::Png));
        rows.push(ListRow {
            url: Some(server.url(&format!("/f/{i}.png"))),
            text: None,
            id: i as i64,
            similarity: Some(similarity),
            nsfw: None,
        });
    }
    write_parquet_list(&dir.path().join("list.parquet"), &rows, &[4]);
    let fetched = pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-m", "list.parquet", "-o", "dl", "--json"])
        .assert()
        .success();
    let records = fetched.records();
    let by_id = |id: i64| {
        records
            .iter()
            .find(|r| r["columns"]["id"] == id)
            .unwrap_or_else(|| panic!("no record {id}: {records:#?}"))
    };
    for (id, name) in [(0, "NaN"), (1, "inf"), (2, "-inf")] {
        let r = by_id(id);
        assert_eq!(r["status"], "ok", "{r}");
        assert!(r["columns"]["similarity"].is_null(), "{r}");
        assert_eq!(
            r["warnings"][0],
            format!(
                "column \"similarity\": {name} passed through as null (JSON has no NaN or infinity)"
            ),
            "{r}"
        );
    }
    let fine = by_id(3);
    assert_eq!(fine["columns"]["similarity"], 0.5);
    assert!(fine.get("warnings").is_none(), "{fine}");
}

/// Footers found by the `manifest` fuzz target: each used to crash pixmill
/// (a panic in the parquet crate, or an abort allocating the billions of
/// items a few bytes declared); each is now a setup error naming the file.
#[test]
fn hostile_parquet_footers_are_setup_errors_not_crashes() {
    let dir = fixtures().join("manifests/fuzz");
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    for name in names {
        let out = tempfile::tempdir().unwrap();
        let run = pixmill()
            .current_dir(&dir)
            .args(["fetch", "-m", &name, "-o"])
            .arg(out.path())
            .assert()
            .code(2);
        let stderr = run.stderr_text();
        assert!(
            stderr.contains(&format!("manifest {name}: not a readable parquet file")),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn unusable_parquet_manifests_are_setup_errors_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [ListRow {
        url: Some("http://127.0.0.1:9/a.png".into()),
        text: None,
        id: 1,
        similarity: None,
        nsfw: None,
    }];
    write_parquet_list(&dir.path().join("list.parquet"), &rows, &[1]);
    let cases: [(&str, &[&str], &str); 3] = [
        (
            "list.parquet",
            &["--url-col", "link"],
            "no link column in parquet schema",
        ),
        ("junk.parquet", &[], "not a readable parquet file"),
        (
            "-",
            &["--manifest-format", "parquet"],
            "must be a file, not a stream",
        ),
    ];
    fs::write(dir.path().join("junk.parquet"), b"PAR1 this is not parquet").unwrap();
    for (list, extra, want) in cases {
        let run = pixmill()
            .current_dir(dir.path())
            .args(["fetch", "-m", list, "-o", "dl"])
            .args(extra)
            .write_stdin("")
            .assert()
            .code(2);
        let stderr = run.stderr_text();
        assert!(stderr.contains(want), "{list}: {stderr}");
        assert!(!dir.path().join("dl/a.png").exists());
    }
}

/// Fetches one image as a WebDataset into `out`, where a folder already
/// holds the name `blocker` (so that file cannot be put in place); expects
/// exit 1 and returns stderr and its "cannot complete the output" line.
fn fetch_one_into_a_blocked_dataset(out: &Path, blocker: &str) -> (String, String) {
    let server = Server::start();
    server.add(
        "a.png",
        encode(&gradient(8, 8).into(), image::ImageFormat::Png),
    );
    fs::create_dir_all(out.join(blocker)).unwrap();
    let run = pixmill()
        .args(["fetch", "--output-format", "webdataset", "-o"])
        .arg(out)
        .arg(server.url("/f/a.png"))
        .assert()
        .code(1);
    let stderr = run.stderr_text();
    let reason = stderr
        .lines()
        .find(|l| l.contains("cannot complete the output"))
        .unwrap_or_else(|| panic!("no reason in: {stderr}"))
        .to_string();
    (stderr, reason)
}

/// A data file that cannot be put in place after its items were done (here
/// a folder already holds its name; on a full disk the same happens) is
/// work done and then lost: exit 1 (some items failed), not 2 ("nothing
/// was done"), with a one-line reason naming the file and the summary. Its
/// rows are failed, not ok: their samples are in no file.
#[test]
fn a_data_file_that_cannot_be_completed_exits_1_with_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shards");
    let (stderr, reason) = fetch_one_into_a_blocked_dataset(&out, "00000.tar");
    assert!(reason.contains("00000.tar"), "{reason}");
    assert!(
        stderr.contains("0 ok, 0 skipped, 1 failed"),
        "no summary in: {stderr}"
    );
    assert!(
        stderr.contains("data file 00000.tar could not be completed"),
        "{stderr}"
    );
    // No orphan metadata or stats beside the file that is not there.
    let mut left = files(&out);
    left.retain(|n| !n.starts_with('.') && n != "00000.tar");
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_no_temp_files(&out);
}

/// When a file beside the data file (here its stats) cannot be put in
/// place, the reason names that file, not the data file.
#[test]
fn a_stats_file_that_cannot_be_completed_is_the_one_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shards");
    let (_, reason) = fetch_one_into_a_blocked_dataset(&out, "00000_stats.json");
    assert!(reason.contains("00000_stats.json: "), "{reason}");
    assert!(!out.join("00000.tar").exists(), "data file put in place");
    // The metadata written before the stats is taken back: no orphan.
    assert!(!out.join("00000.parquet").exists(), "orphan metadata left");
    assert_no_temp_files(&out);
}

/// A `--caption-col` the list does not have (a typo, or the wrong list)
/// would build a whole dataset with no captions and exit 0; as with
/// `--url-col`, it is a setup error before any work.
#[test]
fn a_caption_column_the_list_lacks_is_a_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("list.csv"),
        "url,TEXT\nhttp://127.0.0.1:9/a.png,a cat\n",
    )
    .unwrap();
    let rows = [ListRow {
        url: Some("http://127.0.0.1:9/a.png".into()),
        text: Some("a cat"),
        id: 1,
        similarity: None,
        nsfw: None,
    }];
    write_parquet_list(&dir.path().join("list.parquet"), &rows, &[1]);
    for list in ["list.csv", "list.parquet"] {
        let run = pixmill()
            .current_dir(dir.path())
            .args(["fetch", "-m", list, "-o", "dl", "--caption-col", "TXT"])
            .assert()
            .code(2);
        let stderr = run.stderr_text();
        assert!(stderr.contains("no TXT column"), "{list}: {stderr}");
        assert!(!dir.path().join("dl/a.png").exists());
    }
    // The right name, in any case, still works.
    pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-m", "list.csv", "-o", "dl", "--dry-run"])
        .args(["--caption-col", "text"])
        .assert()
        .success();
}

/// TSV has no quoting (the IANA text/tab-separated-values format): a
/// caption that opens with a double quote and never closes it is text,
/// not the start of a field that swallows every later row of the list.
#[test]
fn tsv_captions_with_quotes_are_literal_and_lose_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let list = "caption\turl\n\
        \"quoted\" word\thttp://127.0.0.1:9/a.png\n\
        it's 5\" tall\thttp://127.0.0.1:9/b.png\n\
        \"unterminated\thttp://127.0.0.1:9/c.png\n\
        next\thttp://127.0.0.1:9/d.png\n";
    fs::write(dir.path().join("list.tsv"), list).unwrap();
    let run = pixmill()
        .current_dir(dir.path())
        .args(["fetch", "-m", "list.tsv", "-o", "dl", "--dry-run", "--json"])
        .assert()
        .success();
    let records = run.records();
    let mut seen: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            let input = r["input"].as_str().unwrap();
            (
                input.rsplit('/').next().unwrap().to_string(),
                r["caption"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let want = [
        ("a.png", "\"quoted\" word"),
        ("b.png", "it's 5\" tall"),
        ("c.png", "\"unterminated"),
        ("d.png", "next"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(seen, want);
}

/// `--dry-run` names each row's output as the real run's record will: its
/// data file and sample key, not a path that will never exist.
#[test]
fn dry_run_names_the_data_file_and_key_a_real_run_records() {
    let dir = tempfile::tempdir().unwrap();
    let _server = image_list(dir.path(), 3);
    let run = |extra: &[&str]| {
        let out = pixmill()
            .current_dir(dir.path())
            .args([
                "convert", "-m", "list.csv", "-o", "out", "--json", "-f", "jpeg",
            ])
            .args(["--output-format", "webdataset", "--samples-per-file", "2"])
            .args(extra)
            .assert()
            .code(0);
        let mut named: Vec<(String, String)> = out
            .records()
            .iter()
            .map(|r| {
                let input = r["input"].as_str().unwrap().to_string();
                (input, r["output"].as_str().unwrap().to_string())
            })
            .collect();
        named.sort();
        named
    };
    let planned = run(&["--dry-run"]);
    assert!(!dir.path().join("out").exists(), "a dry run writes nothing");
    let outputs: Vec<&str> = planned.iter().map(|(_, o)| o.as_str()).collect();
    assert_eq!(
        outputs,
        [
            "00000.tar:000000.jpg",
            "00000.tar:000001.jpg",
            "00001.tar:000010.jpg"
        ]
    );
    assert_eq!(planned, run(&[]), "the real run records what was planned");
}

/// A parquet list whose row group is malformed so that the parquet reader
/// panics on it: the run ends with one line in pixmill's words naming the
/// list and row, never Rust's panic report.
#[test]
fn a_malformed_parquet_row_group_is_a_clear_error_not_a_panic_report() {
    let dir = tempfile::tempdir().unwrap();
    let list = fixtures().join("manifests/malformed-row-group.parquet");
    let run = pixmill()
        .arg("fetch")
        .arg("-m")
        .arg(&list)
        .args(["--url-col", "key", "-o"])
        .arg(dir.path().join("dl"))
        .assert()
        .code(1);
    let stderr = run.stderr_text();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("malformed-row-group.parquet:1: read error: malformed row group ("),
        "{stderr}"
    );
}
