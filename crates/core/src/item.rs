//! One item of work as it travels through the stages (`Entry` → `Job`) and
//! the `Record` it ends as. Every item ends as exactly one record.

use crate::naming::Settles;
use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_fetch::Validators;
use pixmill_imaging::Format;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What a manifest row says besides the input: its caption and every other
/// column, carried to the record and to a dataset's samples and metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Extra {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub columns: serde_json::Map<String, serde_json::Value>,
    /// What reading the row changed (a value JSON cannot hold), for the
    /// record's warnings.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Extra {
    pub fn is_empty(&self) -> bool {
        self.caption.is_none() && self.columns.is_empty()
    }
}

/// An entry's place in the run's input (within its `--shard`), counted
/// from 0 in input order, and what its row said: a dataset's keys and data
/// files are decided from the position, so the same list gives the same keys.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    #[serde(skip)]
    pub position: u64,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A shared [`Row`] in a record (serde's own `Arc` support would need its
/// `rc` feature, and a rebuild of everything that uses serde).
#[derive(Debug, Clone)]
pub(crate) struct RowRef(pub Arc<Row>);

impl Serialize for RowRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl std::ops::Deref for RowRef {
    type Target = Row;
    fn deref(&self) -> &Row {
        &self.0
    }
}

/// Where an item's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    Path(PathBuf),
    Url(String),
}

/// An entry the source has planned: its input and where its output goes.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub input: Input,
    /// The input as the user wrote it, for messages and reports.
    pub label: String,
    /// The final output path (below the output folder); provisional while
    /// `settles` says the download's headers will settle part of it.
    pub output: PathBuf,
    /// The output format, for `convert`; `None` while it depends on the
    /// content of a download.
    pub format: Option<Format>,
    pub sha256: Option<String>,
    /// What the output will be made from (its stamp, and what resume
    /// compares against).
    pub provenance: Provenance,
    /// A download to ask about with these validators (a conditional request).
    pub revalidate: Option<Validators>,
    /// Why an existing output is being redone.
    pub redo: Option<&'static str>,
    /// The key naming and `--shard` use (see [`crate::naming`]).
    pub key: String,
    /// What of `output` a download's headers settle.
    pub settles: Settles,
    /// Its input row (every planned entry has one).
    pub row: Option<Arc<Row>>,
    pub started: Instant,
}

/// A job for the CPU stage: a local file to read and the output to write.
#[derive(Debug)]
pub(crate) struct Job {
    pub entry: Entry,
    /// The file to read: the input itself, or a download staged beside the
    /// output, which the CPU stage removes once read.
    pub read_from: PathBuf,
    pub staged: bool,
    /// A small download kept in memory (see
    /// [`pixmill_fetch::FetchSettings::in_memory_below`]): the input
    /// itself; `read_from` was never written.
    pub body: Option<Vec<u8>>,
    pub format: Format,
    /// What earlier stages already know (download details).
    pub record: Record,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Ok,
    Skipped,
    Failed,
    /// `--dry-run`: would be done.
    Planned,
}

/// The per-item record: one JSON line in `--report`, one `--json` line.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Record {
    pub input: String,
    pub output: Option<String>,
    pub status: Status,
    pub error_class: Option<ErrorClass>,
    /// Why a failure failed.
    pub error: Option<String>,
    /// Why an item was skipped ("up to date", "output exists") or why an
    /// existing output was redone ("settings changed", "input changed",
    /// "output was incomplete", ...); omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub url: Option<String>,
    pub http_status: Option<u16>,
    pub attempts: Option<u32>,
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    pub width_in: Option<u32>,
    pub height_in: Option<u32>,
    pub width_out: Option<u32>,
    pub height_out: Option<u32>,
    /// The part of the input `--fit cover` kept (x, y, width, height in
    /// the input's pixels as displayed), when it cut some off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop: Option<pixmill_imaging::CropWindow>,
    /// Time spent downloading (all attempts).
    pub fetch_ms: Option<u64>,
    /// The download continued a partial file (left by a run cut short, or
    /// an attempt) from this byte; omitted when it came whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<u64>,
    /// Time spent in the CPU stage (read, decode, transform, encode, write).
    pub cpu_ms: Option<u64>,
    /// From planning to the end of the item, queue waits included.
    pub ms: u64,
    /// Which CPU worker ran it.
    pub worker: Option<usize>,
    /// What an `ok` item lost or changed that the user must know about
    /// (dropped frames, colours, data); omitted when there is nothing to say.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `--hash`: the lowercase hex digest of the downloaded (or read) bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The input row: caption and extra columns (flattened into the JSON).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub row: Option<RowRef>,
    /// The input's exact bytes, percent-escaped, present only when the
    /// input is a path that is not UTF-8 (`input` then shows it with
    /// U+FFFD, for people); see [`raw_form`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_raw: Option<String>,
    /// As `input_raw`, for the output path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_raw: Option<String>,
}

/// Bytes escaped in [`raw_form`]: `%` itself and control characters (every
/// byte that is not ASCII is always escaped), so the form is lossless.
const RAW_ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

/// The lossless form of a path that is not UTF-8: its bytes with `%`,
/// control characters and every non-ASCII byte percent-escaped (Python:
/// `urllib.parse.unquote_to_bytes`). `None` for UTF-8 paths, which JSON
/// holds exactly as they are.
pub(crate) fn raw_form(path: &std::ffi::OsStr) -> Option<String> {
    if path.to_str().is_some() {
        return None;
    }
    let bytes = path.as_encoded_bytes();
    Some(percent_encoding::percent_encode(bytes, RAW_ESCAPED).to_string())
}

/// The bytes a [`raw_form`] stands for.
pub(crate) fn raw_bytes(raw: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(raw).collect()
}

impl Record {
    /// A record for `entry` with nothing measured yet. A login written in
    /// a URL (`http://user:pw@host/`) is replaced by `***` in everything the
    /// record shows: stdout, stderr, `--report`, dry runs, dataset metadata.
    pub(crate) fn new(entry: &Entry, status: Status) -> Record {
        Record {
            output: Some(entry.output.display().to_string()),
            output_raw: raw_form(entry.output.as_os_str()),
            input_raw: match &entry.input {
                Input::Path(p) => raw_form(p.as_os_str()),
                Input::Url(_) => None,
            },
            url: match &entry.input {
                Input::Url(u) => Some(redact(u)),
                Input::Path(_) => None,
            },
            reason: entry.redo.map(String::from),
            warnings: entry
                .row
                .as_ref()
                .map_or_else(Vec::new, |row| row.extra.warnings.clone()),
            row: entry.row.clone().map(RowRef),
            ..Record::blank(redact(&entry.label), status)
        }
    }

    /// A failure before an output was decided (bad manifest line, missing file).
    pub(crate) fn failed_input(label: String, error: ItemError) -> Record {
        Record::blank(redact(&label), Status::Ok).fail(error)
    }

    /// A record of `input` with nothing known but its status.
    pub(crate) fn blank(input: String, status: Status) -> Record {
        Record {
            input,
            output: None,
            status,
            error_class: None,
            error: None,
            reason: None,
            url: None,
            http_status: None,
            attempts: None,
            bytes_in: None,
            bytes_out: None,
            width_in: None,
            height_in: None,
            width_out: None,
            height_out: None,
            crop: None,
            fetch_ms: None,
            resumed_from: None,
            cpu_ms: None,
            ms: 0,
            worker: None,
            warnings: Vec::new(),
            input_raw: None,
            output_raw: None,
            hash: None,
            row: None,
        }
    }

    pub(crate) fn fail(mut self, error: ItemError) -> Record {
        self.status = Status::Failed;
        self.error_class = Some(error.class);
        self.error = Some(error.message);
        self
    }

    pub(crate) fn skip(mut self, why: &str) -> Record {
        self.status = Status::Skipped;
        self.reason = Some(why.to_string());
        self
    }

    /// Stamps the total time since the entry was planned.
    pub(crate) fn finish(mut self, entry: &Entry) -> Record {
        self.ms = millis(entry.started.elapsed());
        self
    }
}

/// `text` with any login in a URL replaced by `***`.
fn redact(text: &str) -> String {
    pixmill_fetch::redact_url(text).into_owned()
}

pub(crate) fn millis(d: std::time::Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// What an input was when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InputId {
    File { size: u64, mtime_ns: i128, ino: u64 },
    Url(Validators),
}

impl InputId {
    pub(crate) fn of_file(meta: &std::fs::Metadata) -> InputId {
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let ino = 0;
        InputId::File {
            size: meta.len(),
            mtime_ns: mtime_ns(meta),
            ino,
        }
    }
}

/// A file's modification time in nanoseconds since the epoch.
pub(crate) fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128
    }
    #[cfg(not(unix))]
    {
        meta.modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128)
    }
}

/// What the run knows about an item before doing it: the stamp it will
/// write, minus the output's own length and tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provenance {
    /// Stable hash of the input key (normalized path or URL).
    pub key: u64,
    /// Stable hash of the settings that shape the output bytes.
    pub settings: u64,
    pub input: InputId,
}
