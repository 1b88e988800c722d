//! A data file's seal: what it was made from and how it ended, kept in a
//! hidden file beside it (`.00002.tar.pixmill.seal`), written last, once
//! the data file, its metadata and its stats are all in place.
//!
//! A data file is complete for a rerun only when its seal says it was made
//! from the same rows (each row's input, caption and columns, in order),
//! with the same settings and layout, and the data file is still the one
//! sealed: the same length and the same CRC of its last 4 KiB, as a loose
//! file's stamp checks. That costs a `stat`, a 4 KiB read and the seal's
//! own read per data file, never a read of the data file itself.
//!
//! The seal also keeps each row's outcome (ok with its sample's extension,
//! skipped, failed for good or failed for a reason worth retrying), so a
//! rerun can repair a complete file: retry its failed rows and copy the
//! rest, without fetching anything that succeeded.

use crate::item::{Record, Status};
use crate::store::stamp;
use pixmill_base::error::ErrorClass;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Bumped when the seal's layout or meaning changes: older seals then read
/// as unknown and their files are redone.
const VERSION: u32 = 1;
/// A seal larger than this is not ours (a row takes about 20 bytes).
const MAX_SEAL: u64 = 64 << 20;

/// How one row of a sealed data file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Its sample is in the data file, with this extension.
    Ok(String),
    Skipped,
    /// Failed for a reason that may pass on another try (a timeout, a
    /// reset, a 5xx or 429, a truncated body, a dead worker).
    Transient,
    /// Failed for a reason that will not change by itself (a 404, not an
    /// image).
    Permanent,
}

impl Outcome {
    /// How `record` ended; `ext` is its sample's extension when it is ok.
    pub(crate) fn of(record: &Record, ext: Option<&str>) -> Outcome {
        match record.status {
            Status::Ok => Outcome::Ok(ext.unwrap_or("bin").to_string()),
            Status::Skipped | Status::Planned => Outcome::Skipped,
            Status::Failed if transient(record.error_class, record.http_status) => {
                Outcome::Transient
            }
            Status::Failed => Outcome::Permanent,
        }
    }

    /// Whether a rerun retries the row: transient failures always,
    /// permanent ones with `--retry-failed`.
    pub(crate) fn retried(&self, retry_failed: bool) -> bool {
        match self {
            Outcome::Transient => true,
            Outcome::Permanent => retry_failed,
            Outcome::Ok(_) | Outcome::Skipped => false,
        }
    }

    fn code(&self) -> String {
        match self {
            Outcome::Ok(ext) => format!("o{ext}"),
            Outcome::Skipped => "s".into(),
            Outcome::Transient => "t".into(),
            Outcome::Permanent => "f".into(),
        }
    }

    fn parse(code: &str) -> Option<Outcome> {
        let mut chars = code.chars();
        Some(match chars.next()? {
            'o' => Outcome::Ok(chars.as_str().to_string()),
            's' => Outcome::Skipped,
            't' => Outcome::Transient,
            'f' => Outcome::Permanent,
            _ => return None,
        })
    }
}

/// Failures a later try may not meet: below HTTP (connect, reset, DNS), a
/// timeout, a cut-short body, a 5xx or 429, a worker that died.
pub(crate) fn transient(class: Option<ErrorClass>, http_status: Option<u16>) -> bool {
    match class {
        Some(ErrorClass::Fetch | ErrorClass::Timeout | ErrorClass::Truncated) => true,
        Some(ErrorClass::Worker) => true,
        Some(ErrorClass::Http) => {
            http_status.is_some_and(|s| s == 429 || s == 408 || (500..600).contains(&s))
        }
        _ => false,
    }
}

/// One sealed row: its fingerprint and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedRow {
    pub id: u64,
    pub outcome: Outcome,
}

/// The seal of one data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seal {
    /// The settings and layout the file was made with.
    pub settings: u64,
    /// The data file's length and the CRC of its tail when sealed.
    pub len: u64,
    pub tail: u32,
    /// Every row of the file, in input order.
    pub rows: Vec<SealedRow>,
}

/// The seal as stored: compact JSON, a string per row (`id` in hex, `:`,
/// then `o<ext>`, `s`, `t` or `f`).
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    settings: String,
    len: u64,
    tail: u32,
    rows: Vec<String>,
}

/// `.NAME.pixmill.seal` beside data file `data`.
pub(crate) fn path_of(data: &Path) -> PathBuf {
    let name = data
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    data.with_file_name(format!(".{name}.pixmill.seal"))
}

impl Seal {
    /// The seal of data file `data`, if it has one we can read.
    pub(crate) fn read(data: &Path) -> Option<Seal> {
        let path = path_of(data);
        let file = File::open(&path).ok()?;
        if file.metadata().ok()?.len() > MAX_SEAL {
            return None;
        }
        let stored: Stored = serde_json::from_reader(io::BufReader::new(file)).ok()?;
        if stored.version != VERSION {
            return None;
        }
        let rows = stored
            .rows
            .iter()
            .map(|row| {
                let (id, code) = row.split_once(':')?;
                Some(SealedRow {
                    id: u64::from_str_radix(id, 16).ok()?,
                    outcome: Outcome::parse(code)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Seal {
            settings: u64::from_str_radix(&stored.settings, 16).ok()?,
            len: stored.len,
            tail: stored.tail,
            rows,
        })
    }

    /// Whether `data` is still the file this seal was written for: the
    /// same length and the same tail.
    pub(crate) fn holds(&self, data: &Path) -> bool {
        let Ok(file) = File::open(data) else {
            return false;
        };
        let Ok(meta) = file.metadata() else {
            return false;
        };
        meta.is_file()
            && meta.len() == self.len
            && stamp::tail_hash_of_file(&file, self.len).is_ok_and(|tail| tail == self.tail)
    }

    /// Writes this seal for `data` (under a temp name, then renamed).
    pub(crate) fn write(&self, data: &Path, fsync: bool) -> io::Result<()> {
        let stored = Stored {
            version: VERSION,
            settings: format!("{:016x}", self.settings),
            len: self.len,
            tail: self.tail,
            rows: self
                .rows
                .iter()
                .map(|r| format!("{:016x}:{}", r.id, r.outcome.code()))
                .collect(),
        };
        let path = path_of(data);
        let temp = crate::output::temp_path(&path);
        let result = (|| {
            let bytes = serde_json::to_vec(&stored)?;
            let mut file = File::create(&temp)?;
            io::Write::write_all(&mut file, &bytes)?;
            if fsync {
                file.sync_all()?;
            }
            fs::rename(&temp, &path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// The length and tail CRC of the finished data file `file`.
    pub(crate) fn measure(file: &File) -> io::Result<(u64, u32)> {
        let len = file.metadata()?.len();
        Ok((len, stamp::tail_hash_of_file(file, len)?))
    }
}

/// Removes data file `data`'s seal, before the file is replaced: a run
/// killed half-way through replacing it then leaves a file with no seal,
/// which the next run redoes, never an old seal over new files.
pub(crate) fn remove(data: &Path) -> io::Result<()> {
    match fs::remove_file(path_of(data)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_reads_back_and_knows_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("00000.tar");
        fs::write(&data, vec![7u8; 10_000]).unwrap();
        let (len, tail) = Seal::measure(&File::open(&data).unwrap()).unwrap();
        let seal = Seal {
            settings: 0xfeed,
            len,
            tail,
            rows: vec![
                SealedRow {
                    id: 1,
                    outcome: Outcome::Ok("jpg".into()),
                },
                SealedRow {
                    id: u64::MAX,
                    outcome: Outcome::Transient,
                },
                SealedRow {
                    id: 3,
                    outcome: Outcome::Permanent,
                },
            ],
        };
        seal.write(&data, false).unwrap();
        assert_eq!(Seal::read(&data), Some(seal.clone()));
        assert!(seal.holds(&data));
        // The same length with another tail is another file.
        let mut other = vec![7u8; 10_000];
        other[9_999] = 0;
        fs::write(&data, other).unwrap();
        assert!(!seal.holds(&data));
        fs::write(&data, b"").unwrap();
        assert!(!seal.holds(&data));
        remove(&data).unwrap();
        assert_eq!(Seal::read(&data), None);
    }

    #[test]
    fn transient_failures_are_the_ones_worth_retrying() {
        assert!(transient(Some(ErrorClass::Timeout), None));
        assert!(transient(Some(ErrorClass::Fetch), None));
        assert!(transient(Some(ErrorClass::Truncated), None));
        assert!(transient(Some(ErrorClass::Http), Some(503)));
        assert!(transient(Some(ErrorClass::Http), Some(429)));
        assert!(!transient(Some(ErrorClass::Http), Some(404)));
        assert!(!transient(Some(ErrorClass::Decode), None));
        assert!(Outcome::Permanent.retried(true));
        assert!(!Outcome::Permanent.retried(false));
        assert!(!Outcome::Ok("jpg".into()).retried(true));
    }
}
