//! The `files` store: each output is a file under `-o`, written to a hidden
//! temp file beside its final name, stamped (see [`super::stamp`]) and
//! renamed into place, so a file under a final name is always complete and
//! says what it was made from. Its writers run in every worker at once.

use super::stamp::{self, StampMode};
use super::{Freshness, OutputStore, Payload, Placed, StoreWriter, Writers};
use crate::item::Entry;
use crate::output::{self, OutDir};
use pixmill_base::error::ItemError;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::path::PathBuf;

/// Loose files below the output folder.
pub(crate) struct FilesStore<'a> {
    out: &'a OutDir,
    mode: StampMode,
    fsync: bool,
}

impl<'a> FilesStore<'a> {
    /// `fsync`: make each output and its folder entry durable before `put`
    /// returns.
    pub(crate) fn new(out: &'a OutDir, fsync: bool) -> FilesStore<'a> {
        FilesStore {
            out,
            mode: StampMode::probe(out.canonical()),
            fsync,
        }
    }
}

impl OutputStore for FilesStore<'_> {
    fn check(&self, entry: &Entry) -> Freshness {
        stamp::check(&entry.output, &entry.provenance, self.mode)
    }

    fn made_here(&self, path: &Path) -> bool {
        stamp::is_stamped(path, self.mode)
    }

    fn exists(&self, entry: &Entry) -> bool {
        // As `--on-exists skip` always was: one `stat`, nothing read.
        !matches!(fs::metadata(&entry.output), Err(e) if e.kind() == io::ErrorKind::NotFound)
    }

    fn recall_name(&self, entry: &Entry) -> Option<PathBuf> {
        let name = fs::read(name_record_path(entry)).ok()?;
        let name = plain_file_name(&name)?;
        Some(entry.output.with_file_name(name))
    }

    fn remember_name(&self, entry: &Entry) {
        let Some(name) = entry.output.file_name() else {
            return;
        };
        let path = name_record_path(entry);
        let temp = output::temp_path(&path);
        // A hint that is not kept costs the next rerun one download, no more.
        let kept =
            fs::write(&temp, name.as_encoded_bytes()).and_then(|()| fs::rename(&temp, &path));
        if kept.is_err() {
            let _ = fs::remove_file(&temp);
        }
    }

    fn staging_path(&self, entry: &Entry) -> Result<PathBuf, ItemError> {
        self.out.prepare_parent(&entry.output)?;
        Ok(output::temp_path(&entry.output))
    }

    fn writers(&self) -> Writers<'_> {
        let (out, mode, fsync) = (self.out, self.mode, self.fsync);
        Writers::PerWorker(Box::new(move || Box::new(FilesWriter { out, mode, fsync })))
    }
}

/// One worker's writer: nothing shared, so workers never wait on each other.
struct FilesWriter<'a> {
    out: &'a OutDir,
    mode: StampMode,
    fsync: bool,
}

impl StoreWriter for FilesWriter<'_> {
    fn put(&mut self, entry: &Entry, payload: Payload) -> Result<Placed, ItemError> {
        let target = &entry.output;
        let temp = match payload {
            Payload::Bytes(data) => {
                self.out.prepare_parent(target)?;
                let temp = output::temp_path(target);
                let written = File::create(&temp).and_then(|mut f| f.write_all(&data));
                if let Err(e) = written {
                    let _ = fs::remove_file(&temp);
                    return Err(output::write_error(target, &e));
                }
                temp
            }
            Payload::Staged(temp) => temp,
        };
        match self.seal_and_rename(&temp, entry) {
            Ok(bytes) => Ok(Placed {
                output: target.display().to_string(),
                bytes,
            }),
            Err(e) => {
                let _ = fs::remove_file(&temp);
                Err(output::write_error(target, &e))
            }
        }
    }
}

impl FilesWriter<'_> {
    /// Stamps the finished temp file, makes it durable when asked, and
    /// renames it into place; returns its length.
    fn seal_and_rename(&self, temp: &Path, entry: &Entry) -> io::Result<u64> {
        let target = &entry.output;
        let file = File::open(temp)?;
        let sealed = stamp::Sealed::of_file(&file, self.fsync)?;
        let sidecar = stamp::stamp_file(&file, sealed, &entry.provenance, self.mode)?;
        if self.fsync {
            file.sync_all()?;
        }
        drop(file);
        if sidecar.is_some() {
            // An old sidecar must never describe the new output.
            match fs::remove_file(stamp::sidecar_path(target)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        fs::rename(temp, target)?;
        if let Some(text) = sidecar {
            self.write_sidecar(target, &text)?;
        }
        if self.fsync {
            sync_dir(target)?;
        }
        Ok(sealed.len)
    }

    fn write_sidecar(&self, target: &Path, text: &[u8]) -> io::Result<()> {
        let path = stamp::sidecar_path(target);
        let temp = output::temp_path(&path);
        let written = File::create(&temp).and_then(|mut f| {
            f.write_all(text)?;
            if self.fsync {
                f.sync_all()?;
            }
            Ok(())
        });
        if let Err(e) = written.and_then(|()| fs::rename(&temp, &path)) {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        Ok(())
    }
}

/// `.HASH.pixmill.name` in the folder of `entry`'s output: the file name its
/// URL (hashed) was given by its server. Hidden, so walks pass it over; one
/// per URL, so `--shard` runs sharing the folder never write the same one.
fn name_record_path(entry: &Entry) -> PathBuf {
    entry
        .output
        .with_file_name(format!(".{:016x}.pixmill.name", entry.provenance.key))
}

/// `bytes` as one plain, visible file name, or `None` (a record that is
/// not ours, or edited to lead elsewhere).
fn plain_file_name(bytes: &[u8]) -> Option<&std::ffi::OsStr> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut parts = Path::new(text).components();
    match (parts.next(), parts.next()) {
        (Some(std::path::Component::Normal(name)), None) if !text.starts_with('.') => Some(name),
        _ => None,
    }
}

/// Makes `path`'s folder entry durable (the rename that put it there).
fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}
