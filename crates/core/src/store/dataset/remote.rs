//! Dataset data files below an `s3://` prefix.
//!
//! The dataset store's rules (seals, repair, append) work on a folder; for
//! an object store that folder is the run's spool, and the prefix is the
//! truth it is filled from and published to:
//!
//! - **At the start** ([`Remote::hydrate`]) the spool is emptied of dataset
//!   files and filled from one listing of the prefix: the small files
//!   (seals, metadata, stats, the append ledger) are copied whole; each
//!   data file becomes a *stand-in*, a sparse local file of the object's
//!   length holding only its last 4 KiB (one ranged GET), which is all a
//!   seal checks. A repair fetches the whole data file it copies from.
//! - **When a data file is complete** ([`Remote::publish`]) its old seal
//!   object goes first, then the data file (a multipart upload of bounded
//!   parts, read from the spool), its metadata and stats, and its seal
//!   last, as on disk; the local data file then becomes a stand-in too, so
//!   the spool holds at most the data files being written.

use pixmill_objects::{Bucket, ObjectUrl, UploadMarker};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// What a stand-in keeps of its data file: as much as a seal checks.
const TAIL: u64 = 4096;

/// The prefix a dataset is published to.
pub(crate) struct Remote {
    bucket: Bucket,
    url: ObjectUrl,
    markers: UploadMarker,
    stop: Arc<AtomicBool>,
}

impl Remote {
    /// The prefix `url`, with the uploads an earlier run of this `shard`
    /// left open aborted.
    pub(crate) fn open(
        bucket: Bucket,
        url: ObjectUrl,
        shard: Option<(u64, u64)>,
        dry_run: bool,
        stop: Arc<AtomicBool>,
    ) -> Result<Remote, String> {
        let markers = crate::store::objects::open_markers(&bucket, &url, shard, dry_run)?;
        Ok(Remote {
            bucket,
            url,
            markers,
            stop,
        })
    }

    fn key(&self, name: &str) -> String {
        self.url.join(name)
    }

    /// Empties `root` of dataset files, then fills it from the prefix:
    /// small files whole, data files (`is_data`) as stand-ins.
    pub(crate) fn hydrate(
        &self,
        root: &Path,
        is_data: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        for entry in fs::read_dir(root).map_err(|e| e.to_string())?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = !name.starts_with('.')
                || name.ends_with(".pixmill.seal")
                || name.ends_with(".appends");
            if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = fs::remove_file(entry.path());
            }
        }
        let base = self.url.join("");
        let mut found = Vec::new();
        self.bucket
            .list(&base, |meta| {
                let rel = match base.is_empty() {
                    true => meta.key.clone(),
                    false => meta.key[base.len() + 1..].to_string(),
                };
                // Flat: data files and what goes beside them.
                if !rel.contains('/') {
                    found.push((rel, meta.size));
                }
            })
            .map_err(|e| format!("cannot list {}: {e}", self.url))?;
        for (name, size) in found {
            let path = root.join(&name);
            let got = match is_data(&name) {
                true => self.stand_in(&name, size, &path),
                false => self
                    .bucket
                    .get(&self.key(&name))
                    .and_then(|data| fs::write(&path, data).map_err(io_error)),
            };
            got.map_err(|e| format!("cannot read {}/{name}: {e}", self.url))?;
        }
        Ok(())
    }

    /// A sparse local file of `size` bytes holding the object's last bytes.
    fn stand_in(&self, name: &str, size: u64, path: &Path) -> Result<(), pixmill_objects::Error> {
        let start = size.saturating_sub(TAIL);
        let tail = match size {
            0 => Vec::new(),
            _ => self.bucket.get_range(&self.key(name), start..size)?,
        };
        write_stand_in(path, size, &tail).map_err(io_error)
    }

    /// Replaces the stand-in at `path` with the whole data file (before a
    /// repair copies its kept samples).
    pub(crate) fn fetch_whole(&self, name: &str, path: &Path) -> Result<(), String> {
        let mut reader = self
            .bucket
            .reader(&self.key(name))
            .map_err(|e| format!("cannot read {}/{name}: {e}", self.url))?;
        let temp = crate::output::temp_path(path);
        let copied = File::create(&temp)
            .and_then(|mut f| io::copy(&mut reader, &mut f))
            .and_then(|_| fs::rename(&temp, path));
        copied.map_err(|e| {
            let _ = fs::remove_file(&temp);
            format!("cannot read {}/{name}: {e}", self.url)
        })
    }

    /// Puts the completed data file `data` and the files `beside` it (names
    /// in `root`), the seal `seal` last; on failure, removes what it put.
    /// The local data file becomes a stand-in.
    pub(crate) fn publish(
        &self,
        root: &Path,
        data: &str,
        beside: &[String],
        seal: &str,
    ) -> Result<(), (String, io::Error)> {
        let failed =
            |name: &str, e: pixmill_objects::Error| (name.to_string(), io::Error::other(e.message));
        self.bucket
            .delete(&self.key(seal))
            .map_err(|e| failed(seal, e))?;
        let mut put: Vec<String> = Vec::new();
        let result = (|| {
            let path = root.join(data);
            self.bucket
                .put_file(
                    &self.key(data),
                    &path,
                    &[],
                    Some(&self.markers),
                    Some(self.stop.clone()),
                )
                .map_err(|e| failed(data, e))?;
            put.push(data.to_string());
            for name in beside.iter().map(String::as_str).chain([seal]) {
                let bytes = fs::read(root.join(name)).map_err(|e| (name.to_string(), e))?;
                self.bucket
                    .put(&self.key(name), bytes)
                    .map_err(|e| failed(name, e))?;
                put.push(name.to_string());
            }
            shrink_to_stand_in(&path).map_err(|e| (data.to_string(), e))
        })();
        if result.is_err() {
            for name in put {
                let _ = self.bucket.delete(&self.key(&name));
            }
        }
        result
    }

    /// Removes data file objects: the seal `seal` first, then `names`.
    pub(crate) fn remove(&self, seal: &str, names: &[String]) -> Result<(), String> {
        for name in std::iter::once(seal).chain(names.iter().map(String::as_str)) {
            self.bucket
                .delete(&self.key(name))
                .map_err(|e| format!("{name}: {}", e.message))?;
        }
        Ok(())
    }

    /// Puts a small file of `root` as it is now (the append ledger).
    pub(crate) fn put_small(&self, root: &Path, name: &str) -> io::Result<()> {
        let bytes = fs::read(root.join(name))?;
        self.bucket
            .put(&self.key(name), bytes)
            .map(|_| ())
            .map_err(|e| io::Error::other(e.message))
    }
}

fn io_error(e: io::Error) -> pixmill_objects::Error {
    pixmill_objects::Error {
        message: e.to_string(),
        not_found: false,
    }
}

fn write_stand_in(path: &Path, size: u64, tail: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.set_len(size)?;
    file.seek(SeekFrom::Start(size - tail.len() as u64))?;
    file.write_all(tail)
}

/// Keeps only the last bytes of the published data file at `path`, at its
/// length (the rest becomes a hole).
fn shrink_to_stand_in(path: &Path) -> io::Result<()> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let start = size.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::with_capacity((size - start) as usize);
    file.read_to_end(&mut tail)?;
    drop(file);
    write_stand_in(path, size, &tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stand_in_has_its_data_files_length_and_tail_and_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000.tar");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&path, &data).unwrap();
        shrink_to_stand_in(&path).unwrap();
        let after = fs::read(&path).unwrap();
        assert_eq!(after.len(), data.len());
        let cut = data.len() - TAIL as usize;
        assert_eq!(after[cut..], data[cut..]);
        assert!(after[..cut].iter().all(|&b| b == 0));
        assert_eq!(
            crate::store::stamp::tail_hash(&after),
            crate::store::stamp::tail_hash(&data)
        );
    }
}
