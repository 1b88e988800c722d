//! The `objects` store: loose outputs as objects below an `s3://` prefix.
//!
//! The planner and the I/O stage work as they do for a folder, in a local
//! spool folder that stands for the prefix (downloads stream there before
//! they are put); a put is one PUT (or a multipart upload of bounded parts
//! for a large download), so an object appears under its final key only
//! whole.
//!
//! Resume asks the store, by listing: one `ListObjectsV2` page per 1,000
//! objects at the start of the run, never a HEAD per object. What each
//! object was made from (its stamp, as a file's xattr says it on disk)
//! lives in a ledger of small objects below `PREFIX/.pixmill/ledger/`,
//! written as the run goes (every [`LEDGER_BATCH`] outputs) and at its end,
//! together with the object's length and ETag: an object whose listing no
//! longer matches its ledger line was replaced by someone else, and is
//! redone as "no record of how it was made". A run killed between an
//! object and its ledger line costs its rerun that object, no more.

use super::stamp;
use super::{Freshness, OutputStore, Payload, Placed, Stale, StoreWriter, Writers};
use crate::item::Entry;
use crate::output::{self, OutDir};
use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_objects::{Bucket, Meta, ObjectUrl, UploadMarker};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// Ledger lines gathered before they are written as one object.
pub(crate) const LEDGER_BATCH: usize = 256;

/// The user metadata (`x-amz-meta-pixmill-stamp`) that carries an
/// object's stamp, in hex, for when no ledger line does.
const STAMP_META: &str = "pixmill-stamp";

/// The hidden folder below the prefix that holds pixmill's own objects.
pub(crate) const STATE: &str = ".pixmill";

/// Loose outputs below an object-store prefix.
pub(crate) struct ObjectsStore<'a> {
    out: &'a OutDir,
    bucket: Bucket,
    url: ObjectUrl,
    /// What the listing found at the start: relative key → object.
    found: HashMap<String, Meta>,
    /// What the ledgers say: relative key → (stamp, length, ETag).
    stamps: HashMap<String, Known>,
    ledger: Arc<Ledger>,
    markers: UploadMarker,
    stop: Arc<AtomicBool>,
}

#[derive(Debug, Clone)]
struct Known {
    stamp: Vec<u8>,
    len: u64,
    etag: Option<String>,
}

impl<'a> ObjectsStore<'a> {
    /// Opens the prefix: aborts the uploads a killed run of this shard
    /// left open, lists what is there and reads the ledgers.
    pub(crate) fn open(
        out: &'a OutDir,
        url: ObjectUrl,
        bucket: Bucket,
        shard: Option<(u64, u64)>,
        dry_run: bool,
        stop: Arc<AtomicBool>,
    ) -> Result<ObjectsStore<'a>, String> {
        let markers = open_markers(&bucket, &url, shard, dry_run)?;
        let mut found = HashMap::new();
        let mut ledgers = Vec::new();
        let base = url.join("");
        let state = url.join(STATE);
        bucket
            .list(&base, |meta| {
                if meta.key == state || meta.key.starts_with(&format!("{state}/")) {
                    if meta.key.starts_with(&format!("{state}/ledger/")) {
                        ledgers.push(meta.key);
                    }
                    return;
                }
                let rel = match base.is_empty() {
                    true => meta.key.clone(),
                    false => meta.key[base.len() + 1..].to_string(),
                };
                found.insert(rel, meta);
            })
            .map_err(|e| format!("cannot list {url}: {e}"))?;
        let mut stamps = HashMap::new();
        for key in &ledgers {
            let text = match bucket.get(key) {
                Ok(text) => text,
                Err(e) if e.not_found => continue,
                Err(e) => return Err(format!("cannot read {}: {e}", bucket.url(key))),
            };
            read_ledger(&text, &mut stamps);
        }
        let tag = shard.map_or_else(|| "all".into(), |(i, n)| format!("{i}of{n}"));
        let run = format!(
            "{tag}-{:x}-{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            std::process::id()
        );
        let ledger = Arc::new(Ledger {
            bucket: bucket.clone(),
            prefix: url.join(&format!("{STATE}/ledger/{run}")),
            lines: Mutex::new((Vec::new(), 0)),
        });
        Ok(ObjectsStore {
            out,
            bucket,
            url,
            found,
            stamps,
            ledger,
            markers,
            stop,
        })
    }

    /// Writes the ledger lines not yet written.
    pub(crate) fn flush(&self) -> Result<(), String> {
        self.ledger.flush()
    }

    fn rel(&self, output: &Path) -> Option<String> {
        relative_key(self.out.root(), output)
    }
}

/// Where this shard's open uploads leave their markers below `url`, after
/// aborting the uploads an earlier run of the shard left open (not in a
/// dry run, which changes nothing). For loose files and datasets alike.
pub(crate) fn open_markers(
    bucket: &Bucket,
    url: &ObjectUrl,
    shard: Option<(u64, u64)>,
    dry_run: bool,
) -> Result<UploadMarker, String> {
    let tag = shard.map_or_else(|| "all".into(), |(i, n)| format!("{i}of{n}"));
    let markers = UploadMarker::new(bucket, url.join(&format!("{STATE}/uploads/{tag}")));
    let aborted = match dry_run {
        true => 0,
        false => markers
            .sweep()
            .map_err(|e| format!("cannot list {url}: {e}"))?,
    };
    if aborted > 0 {
        eprintln!(
            "pixmill: aborted {aborted} unfinished upload{} an earlier run left in {url}",
            if aborted == 1 { "" } else { "s" }
        );
    }
    Ok(markers)
}

/// `output` (below the spool folder `root`) as a key below the prefix.
fn relative_key(root: &Path, output: &Path) -> Option<String> {
    let rel = output.strip_prefix(root).ok()?;
    let parts: Vec<&str> = rel
        .components()
        .map(|c| match c {
            std::path::Component::Normal(p) => p.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl OutputStore for ObjectsStore<'_> {
    fn check(&self, entry: &Entry) -> Freshness {
        let Some(rel) = self.rel(&entry.output) else {
            return Freshness::Missing;
        };
        let Some(meta) = self.found.get(&rel) else {
            return Freshness::Missing;
        };
        if let Some(known) = self.stamps.get(&rel) {
            if known.len == meta.size && known.etag == meta.etag {
                return stamp::judge_object(&known.stamp, meta.size, &entry.provenance);
            }
        }
        // Not in a ledger (a run killed before it wrote its last lines, or
        // an object put by another tool): the object's own metadata says,
        // at the cost of one HEAD.
        let key = self.url.join(&rel);
        match self.bucket.meta(&key, STAMP_META) {
            Ok(Some(hex)) => match unhex(&hex) {
                Some(text) => stamp::judge_object(&text, meta.size, &entry.provenance),
                None => Freshness::Stale(Stale::Unknown),
            },
            _ => Freshness::Stale(Stale::Unknown),
        }
    }

    fn exists(&self, entry: &Entry) -> bool {
        self.rel(&entry.output)
            .is_some_and(|rel| self.found.contains_key(&rel))
    }

    fn staging_path(&self, entry: &Entry) -> Result<PathBuf, ItemError> {
        self.out.prepare_parent(&entry.output)?;
        Ok(output::temp_path(&entry.output))
    }

    fn writers(&self) -> Writers<'_> {
        Writers::PerWorker(Box::new(move || {
            Box::new(ObjectsWriter { store: self }) as Box<dyn StoreWriter + '_>
        }))
    }

    fn planned_output(&self, entry: &Entry) -> Option<String> {
        let rel = self.rel(&entry.output)?;
        Some(format!("{}/{rel}", self.url))
    }
}

struct ObjectsWriter<'s, 'a> {
    store: &'s ObjectsStore<'a>,
}

impl StoreWriter for ObjectsWriter<'_, '_> {
    fn put(&mut self, entry: &Entry, payload: Payload) -> Result<Placed, ItemError> {
        let store = self.store;
        let rel = store.rel(&entry.output).ok_or_else(|| {
            ItemError::new(
                ErrorClass::Name,
                format!("{} is not inside the output prefix", entry.output.display()),
            )
        })?;
        let key = store.url.join(&rel);
        let shown = format!("{}/{rel}", store.url);
        let failed = |e: pixmill_objects::Error| {
            ItemError::new(ErrorClass::Write, format!("cannot write {shown}: {e}"))
        };
        let (len, etag) = match payload {
            Payload::Bytes(data) => {
                let len = data.len() as u64;
                let meta = [(
                    STAMP_META,
                    hex(&stamp::object_stamp(&entry.provenance, len)),
                )];
                (
                    len,
                    store.bucket.put_with(&key, data, &meta).map_err(failed)?,
                )
            }
            Payload::Staged(temp) => {
                let len = std::fs::metadata(&temp).map_or(0, |m| m.len());
                let meta = [(
                    STAMP_META,
                    hex(&stamp::object_stamp(&entry.provenance, len)),
                )];
                let put = store.bucket.put_file(
                    &key,
                    &temp,
                    &meta,
                    Some(&store.markers),
                    Some(store.stop.clone()),
                );
                let _ = std::fs::remove_file(&temp);
                let len = put.map_err(failed)?;
                // A multipart ETag is not the bytes' MD5; the listing's is
                // what the ledger must match.
                let etag = store.bucket.head(&key).ok().flatten().and_then(|m| m.etag);
                (len, etag)
            }
        };
        let line = ledger_line(
            &rel,
            &stamp::object_stamp(&entry.provenance, len),
            len,
            etag,
        );
        if let Err(e) = store.ledger.add(line) {
            // The object is whole; only the next run's knowledge of it is
            // lost (it would redo it), so this is a warning, not a failure.
            eprintln!("pixmill: warning: {e}");
        }
        Ok(Placed {
            output: shown,
            bytes: len,
        })
    }
}

/// The run's ledger objects: lines gathered, written a batch at a time.
struct Ledger {
    bucket: Bucket,
    prefix: String,
    /// Lines not yet written, and how many objects were written.
    lines: Mutex<(Vec<String>, u64)>,
}

impl Ledger {
    fn add(&self, line: String) -> Result<(), String> {
        let batch = {
            let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
            lines.0.push(line);
            if lines.0.len() < LEDGER_BATCH {
                return Ok(());
            }
            lines.1 += 1;
            (std::mem::take(&mut lines.0), lines.1)
        };
        self.write(batch)
    }

    fn flush(&self) -> Result<(), String> {
        let batch = {
            let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
            if lines.0.is_empty() {
                return Ok(());
            }
            lines.1 += 1;
            (std::mem::take(&mut lines.0), lines.1)
        };
        self.write(batch)
    }

    fn write(&self, (lines, n): (Vec<String>, u64)) -> Result<(), String> {
        let key = format!("{}-{n:06}.jsonl", self.prefix);
        let mut text = lines.join("\n");
        text.push('\n');
        self.bucket
            .put(&key, text.into_bytes())
            .map(|_| ())
            .map_err(|e| format!("cannot write the ledger {}: {e}", self.bucket.url(&key)))
    }
}

fn ledger_line(rel: &str, stamp: &[u8], len: u64, etag: Option<String>) -> String {
    serde_json::json!({"key": rel, "stamp": hex(stamp), "len": len, "etag": etag}).to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads one ledger object into `stamps`; later lines win (a redone
/// output's newer line).
fn read_ledger(text: &[u8], stamps: &mut HashMap<String, Known>) {
    for line in text.split(|&b| b == b'\n') {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(key), Some(hex), Some(len)) = (
            value["key"].as_str(),
            value["stamp"].as_str(),
            value["len"].as_u64(),
        ) else {
            continue;
        };
        let Some(stamp) = unhex(hex) else { continue };
        stamps.insert(
            key.to_string(),
            Known {
                stamp,
                len,
                etag: value["etag"].as_str().map(str::to_string),
            },
        );
    }
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_paths_map_to_keys_below_the_prefix() {
        let root = Path::new("/tmp/spool");
        assert_eq!(
            relative_key(root, Path::new("/tmp/spool/a/b.jpg")).as_deref(),
            Some("a/b.jpg")
        );
        assert_eq!(relative_key(root, Path::new("/elsewhere/b.jpg")), None);
        assert_eq!(relative_key(root, root), None);
    }

    #[test]
    fn ledger_lines_round_trip_and_later_lines_win() {
        let mut stamps = HashMap::new();
        let text = format!(
            "{}\n{}\nnot json\n",
            ledger_line("a.jpg", &[1, 2, 255], 10, Some("\"e1\"".into())),
            ledger_line("a.jpg", &[3], 11, None)
        );
        read_ledger(text.as_bytes(), &mut stamps);
        let known = &stamps["a.jpg"];
        assert_eq!(
            (known.stamp.as_slice(), known.len, known.etag.as_deref()),
            (&[3u8][..], 11, None)
        );
        assert_eq!(unhex("01ff"), Some(vec![1, 255]));
        assert_eq!(unhex("0"), None);
    }
}
