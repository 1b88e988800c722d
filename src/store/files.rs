//! The `files` store: each output is a file under `-o`, written to a hidden
//! temp file beside its final name and renamed into place, so a file under a
//! final name is always complete. Its writers run in every worker at once.

use super::{Freshness, OutputStore, Payload, Placed, StoreWriter, Writers};
use crate::error::ItemError;
use crate::item::Entry;
use crate::output::{self, OutDir};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Loose files below the output folder.
pub struct FilesStore<'a> {
    out: &'a OutDir,
}

impl<'a> FilesStore<'a> {
    pub fn new(out: &'a OutDir) -> FilesStore<'a> {
        FilesStore { out }
    }
}

impl OutputStore for FilesStore<'_> {
    fn check(&self, entry: &Entry) -> Freshness {
        match entry.output.symlink_metadata() {
            Ok(_) => Freshness::UpToDate,
            Err(_) => Freshness::Missing,
        }
    }

    fn staging_path(&self, entry: &Entry) -> Result<PathBuf, ItemError> {
        self.out.prepare_parent(&entry.output)?;
        Ok(output::temp_path(&entry.output))
    }

    fn writers(&self) -> Writers<'_> {
        let out = self.out;
        Writers::PerWorker(Box::new(move || Box::new(FilesWriter { out })))
    }
}

/// One worker's writer: nothing shared, so workers never wait on each other.
struct FilesWriter<'a> {
    out: &'a OutDir,
}

impl StoreWriter for FilesWriter<'_> {
    fn put(&mut self, entry: &Entry, payload: Payload) -> Result<Placed, ItemError> {
        let target = &entry.output;
        let bytes = match payload {
            Payload::Bytes(data) => {
                self.out.prepare_parent(target)?;
                write_atomic(target, &data)?;
                data.len() as u64
            }
            Payload::Staged(temp) => {
                let len = fs::metadata(&temp)
                    .map(|m| m.len())
                    .map_err(|e| output::write_error(target, &e));
                let len = match len {
                    Ok(len) => len,
                    Err(e) => {
                        let _ = fs::remove_file(&temp);
                        return Err(e);
                    }
                };
                output::persist(&temp, target)?;
                len
            }
        };
        Ok(Placed {
            output: target.display().to_string(),
            bytes,
        })
    }
}

/// Writes `data` to `final_path` through a temp file and a rename.
fn write_atomic(final_path: &Path, data: &[u8]) -> Result<(), ItemError> {
    let temp = output::temp_path(final_path);
    let written = File::create(&temp).and_then(|mut f| f.write_all(data));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(output::write_error(final_path, &e));
    }
    output::persist(&temp, final_path)
}
