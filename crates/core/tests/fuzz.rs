//! The deterministic mutation fuzzer over the manifest readers (lines,
//! NUL-separated, CSV, TSV, JSON Lines): every record consumes input, line
//! numbers never go back, and a reader is fused. See FUZZING.md.

use pixmill_core::manifest::{read_manifest, ManifestFormat};
use pixmill_testkit::fuzz::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

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
            (0..rng.below(256)).map(|_| rng.next_u64() as u8).collect()
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
