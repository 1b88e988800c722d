//! Every manifest reader: the first byte picks the format (plain lines,
//! NUL-separated, CSV, TSV, JSON Lines, parquet) and whether the bytes
//! come through gzip, and the line limit (small, so the over-limit path is
//! reached); the rest is the list. Besides "no panic": every record
//! consumes input, every entry has an input, line numbers never go back,
//! and the reader stays done.
//!
//! The parquet crate panics on some malformed files; pixmill catches that
//! (`pixmill_base::panics::catch`) and ends the list with "malformed row
//! group", which is the designed answer, so a caught panic is not a
//! finding here. A panic that escapes pixmill's catch still aborts, as
//! libFuzzer's hook makes every panic do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixmill_core::fuzzing;
use pixmill_core::manifest::ManifestFormat;
use std::io::{BufReader, Cursor, Write};

const TEXT: [(ManifestFormat, bool); 5] = [
    (ManifestFormat::Lines, false),
    (ManifestFormat::Lines, true),
    (ManifestFormat::Csv, false),
    (ManifestFormat::Tsv, false),
    (ManifestFormat::Jsonl, false),
];

static HOOK: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // Silent inside pixmill's own catch, libFuzzer's abort everywhere else.
    HOOK.call_once(pixmill_base::panics::install_hook);
    let Some((&selector, list)) = data.split_first() else {
        return;
    };
    let max_line = match selector >> 4 {
        0..=7 => 8 + usize::from(selector >> 4) * 16,
        _ => pixmill_core::manifest::DEFAULT_MAX_LINE,
    };
    let which = usize::from(selector & 7);
    let entries = if which < TEXT.len() {
        let (format, nul) = TEXT[which];
        let reader: Box<dyn std::io::BufRead + Send> = if selector & 8 != 0 {
            // The list gzipped, read back through the gzip decoder as a
            // `.gz` manifest is; a damaged stream is a read error.
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(list).unwrap();
            let mut packed = gz.finish().unwrap();
            if let Some(cut) = list.first().map(|&b| usize::from(b)) {
                if cut < packed.len() && selector & 0x80 != 0 {
                    packed.truncate(packed.len() - cut);
                }
            }
            let decoder = flate2::read::MultiGzDecoder::new(Cursor::new(packed));
            Box::new(BufReader::with_capacity(64, decoder))
        } else {
            // A tiny buffer, so records straddle many reads.
            Box::new(BufReader::with_capacity(16, Cursor::new(list.to_vec())))
        };
        fuzzing::manifest(reader, format, nul, max_line)
    } else {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(list).unwrap();
        match fuzzing::parquet_manifest(file, max_line) {
            Ok(entries) => entries,
            Err(_) => return,
        }
    };
    let mut entries = entries;
    let mut count = 0usize;
    let mut last_line = 0u64;
    for item in entries.by_ref() {
        count += 1;
        let line = match &item {
            Ok(entry) => {
                assert!(!entry.input.is_empty(), "an entry without an input");
                entry.line
            }
            Err(e) => e.line,
        };
        assert!(line >= last_line, "line {line} after {last_line}");
        last_line = line;
        // Parquet rows can be empty groups; text records consume bytes.
        if which < TEXT.len() {
            assert!(
                count <= list.len() + 2,
                "{count} items from {} bytes",
                list.len()
            );
        } else {
            assert!(count <= 1 << 20, "{count} rows");
        }
    }
    assert!(entries.next().is_none(), "the reader is not fused");
});
