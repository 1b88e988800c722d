//! The dataset stores (`--output-format webdataset|parquet`): samples land
//! in numbered data files of at most `--samples-per-file` input rows each,
//! as img2dataset lays them out, so training code reads them unchanged.
//!
//! Which file a row lands in, and its key, follow from its position in the
//! input (within its `--shard`) alone, so the same list always gives the
//! same keys in the same files, however items finish. Items finish out of
//! order, so several files may be open at once; each is written under a
//! temp name in finish order and renamed once every row assigned to it has
//! its record. Memory stays bounded: a file holds only its metadata rows
//! (and, for parquet, one row group of images) in memory.
//!
//! Beside each data file: `STEM.parquet` with one row per input row
//! (including failed and skipped ones; for parquet output the data file is
//! that file) and `STEM_stats.json`. The data file is renamed last, so a
//! data file under its final name means the whole file is complete; resume
//! asks exactly that.

mod columns;

use super::{Freshness, OutputStore, Payload, Placed, StoreWriter, Writers};
use crate::config::{Config, OnExists, OutputFormat};
use crate::item::{Entry, Record, Status};
use crate::naming::dataset::Layout;
use crate::output::{self, OutDir};
use columns::{MetaRow, TableWriter};
use pixmill_base::error::{ErrorClass, ItemError};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// How `config` lays its rows out in data files (see [`crate::naming::dataset`]).
pub(crate) fn layout(config: &Config) -> Layout {
    let data_ext = match config.output_format {
        OutputFormat::Parquet => "parquet",
        _ => "tar",
    };
    Layout::new(config.samples_per_file, config.source.shard, data_ext)
}

/// The total number of rows the source planned, once it has planned all of
/// them (not when it stopped early): the last file's size.
pub(crate) type RowTotal = Arc<OnceLock<u64>>;

/// Tar or parquet shards below the output folder.
pub(crate) struct DatasetStore<'a> {
    out: &'a OutDir,
    layout: Layout,
    /// Tar or parquet data files.
    kind: OutputFormat,
    fsync: bool,
    on_exists: OnExists,
    total: RowTotal,
}

impl<'a> DatasetStore<'a> {
    pub(crate) fn new(out: &'a OutDir, config: &Config, total: RowTotal) -> DatasetStore<'a> {
        DatasetStore {
            out,
            layout: layout(config),
            kind: config.output_format,
            fsync: config.fsync,
            on_exists: config.on_exists,
            total,
        }
    }

    fn data_path(&self, file: u64) -> PathBuf {
        self.out.root().join(self.layout.data_name(file))
    }
}

impl OutputStore for DatasetStore<'_> {
    fn check(&self, entry: &Entry) -> Freshness {
        let Some(row) = &entry.row else {
            return Freshness::Missing;
        };
        // A data file is renamed into place only when all its rows are in.
        match self.data_path(self.layout.file_of(row.position)).is_file() {
            true => Freshness::UpToDate,
            false => Freshness::Missing,
        }
    }

    fn staging_path(&self, entry: &Entry) -> Result<PathBuf, ItemError> {
        self.out.prepare_parent(&entry.output)?;
        Ok(output::temp_path(&entry.output))
    }

    fn planned_output(&self, entry: &Entry) -> Option<String> {
        let position = entry.row.as_ref()?.position;
        // The format is settled by then when -f names it or the input is
        // local; a download's is not known before its body arrives.
        let ext = entry
            .output
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        Some(self.layout.member_name(position, &ext))
    }

    fn writers(&self) -> Writers<'_> {
        Writers::Single(Box::new(DatasetWriter {
            root: self.out.root().to_path_buf(),
            layout: self.layout,
            kind: self.kind,
            fsync: self.fsync,
            overwrite: self.on_exists == OnExists::Overwrite,
            total: self.total.clone(),
            open: BTreeMap::new(),
            kept: HashSet::new(),
            pending: None,
            broken: Vec::new(),
        }))
    }
}

/// The store thread's writer.
struct DatasetWriter {
    root: PathBuf,
    layout: Layout,
    kind: OutputFormat,
    fsync: bool,
    overwrite: bool,
    total: RowTotal,
    open: BTreeMap<u64, OpenFile>,
    /// Files complete before this run started: their rows were skipped.
    kept: HashSet<u64>,
    /// The sample `put` received, waiting for its record (which follows at
    /// once, on this same thread) to write its JSON.
    pending: Option<Pending>,
    /// Files that could not be written, for the end-of-run error.
    broken: Vec<String>,
}

struct Pending {
    position: u64,
    bytes: Vec<u8>,
    ext: String,
}

/// A data file being written.
struct OpenFile {
    number: u64,
    stem: String,
    stats: columns::Stats,
    temp: PathBuf,
    data: Data,
    meta: Vec<MetaRow>,
    seen: u64,
}

enum Data {
    Tar(tar::Builder<BufWriter<File>>),
    /// Rows (image bytes included) go out a row group at a time.
    Parquet(Box<TableWriter<BufWriter<File>>>),
}

/// Image rows per parquet row group: bounds the images held in memory.
const ROWS_PER_GROUP: usize = 256;

impl StoreWriter for DatasetWriter {
    fn put(&mut self, entry: &Entry, payload: Payload) -> Result<Placed, ItemError> {
        let write_error = |e: &io::Error| output::write_error(&entry.output, e);
        let bytes = match payload {
            Payload::Bytes(bytes) => bytes,
            Payload::Staged(path) => {
                let read = fs::read(&path);
                let _ = fs::remove_file(&path);
                read.map_err(|e| write_error(&e))?
            }
        };
        let Some(row) = &entry.row else {
            return Err(ItemError::new(
                ErrorClass::Write,
                "a dataset output needs the item's input position",
            ));
        };
        let ext = entry
            .output
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("bin")
            .to_ascii_lowercase();
        let placed = Placed {
            output: self.layout.member_name(row.position, &ext),
            bytes: bytes.len() as u64,
        };
        self.pending = Some(Pending {
            position: row.position,
            bytes,
            ext,
        });
        Ok(placed)
    }

    fn record(&mut self, record: &Record) {
        let Some(row) = record.row.as_ref().map(|r| r.0.clone()) else {
            return;
        };
        let pending = self.pending.take_if(|p| p.position == row.position);
        if record.status == Status::Planned {
            return;
        }
        let number = self.layout.file_of(row.position);
        if self.kept.contains(&number) {
            return;
        }
        if !self.open.contains_key(&number) {
            let final_path = self.root.join(self.layout.data_name(number));
            if !self.overwrite && final_path.is_file() {
                self.kept.insert(number);
                return;
            }
            match self.open_file(number) {
                Ok(file) => {
                    self.open.insert(number, file);
                }
                Err(e) => {
                    self.broken.push(format!(
                        "{}: {}",
                        final_path.display(),
                        pixmill_base::io_reason(&e)
                    ));
                    self.kept.insert(number);
                    return;
                }
            }
        }
        let key = self.layout.key(row.position);
        let meta = MetaRow::new(key, record, pending.as_ref().map(|p| p.ext.as_str()));
        let Some(file) = self.open.get_mut(&number) else {
            return;
        };
        let written = file.add(meta, pending, record);
        if let Err(e) = written {
            self.abandon(number, &e);
            return;
        }
        if Some(file.seen) == self.expected(number) {
            self.close(number);
        }
    }

    fn finish(&mut self) -> Result<(), ItemError> {
        let numbers: Vec<u64> = self.open.keys().copied().collect();
        for number in numbers {
            let complete = self
                .open
                .get(&number)
                .is_some_and(|f| Some(f.seen) == self.expected(number));
            if complete {
                self.close(number);
            } else if let Some(file) = self.open.remove(&number) {
                // Cut short (interrupted): left for a rerun to redo.
                let _ = fs::remove_file(&file.temp);
            }
        }
        match self.broken.is_empty() {
            true => Ok(()),
            false => Err(ItemError::new(ErrorClass::Write, self.broken.join("; "))),
        }
    }
}

impl DatasetWriter {
    /// How many rows data file `number` holds: full, or the rest of the
    /// input for the last one (known once the source has planned it all).
    fn expected(&self, number: u64) -> Option<u64> {
        let per_file = self.layout.per_file();
        match self.total.get() {
            Some(&total) if total <= (number + 1) * per_file => {
                Some(total.saturating_sub(number * per_file))
            }
            _ => Some(per_file),
        }
    }

    fn open_file(&self, number: u64) -> io::Result<OpenFile> {
        let final_path = self.root.join(self.layout.data_name(number));
        let temp = output::temp_path(&final_path);
        let file = BufWriter::with_capacity(1 << 20, File::create(&temp)?);
        let data = match self.kind {
            OutputFormat::Parquet => Data::Parquet(Box::new(TableWriter::new(file, true))),
            _ => Data::Tar(tar::Builder::new(file)),
        };
        Ok(OpenFile {
            number,
            stem: self.layout.stem(number),
            stats: columns::Stats::default(),
            temp,
            data,
            meta: Vec::new(),
            seen: 0,
        })
    }

    fn abandon(&mut self, number: u64, e: &io::Error) {
        if let Some(file) = self.open.remove(&number) {
            let _ = fs::remove_file(&file.temp);
            self.broken
                .push(format!("{}: {}", file.stem, pixmill_base::io_reason(e)));
        }
        // Its remaining rows are not written; a rerun redoes the file.
        self.kept.insert(number);
    }

    /// Completes a data file: metadata and stats first, the data file's
    /// rename last, so the data file's presence means all three are there.
    fn close(&mut self, number: u64) {
        let Some(file) = self.open.remove(&number) else {
            return;
        };
        let temp = file.temp.clone();
        if let Err((name, e)) = self.seal(file) {
            let _ = fs::remove_file(&temp);
            self.broken
                .push(format!("{name}: {}", pixmill_base::io_reason(&e)));
        }
    }

    /// On failure, the name of the file that could not be completed (the
    /// data file or one beside it) and why.
    fn seal(&self, file: OpenFile) -> Result<(), (String, io::Error)> {
        let OpenFile {
            number,
            stem,
            stats,
            temp,
            data,
            meta,
            ..
        } = file;
        let data_name = self.layout.data_name(number);
        let data_error = |e: io::Error| (data_name.clone(), e);
        let data_file = match data {
            Data::Tar(tar) => {
                let file = tar
                    .into_inner()
                    .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                    .map_err(data_error)?;
                let meta_path = self.root.join(format!("{stem}.parquet"));
                self.write_beside(&meta_path, |w| {
                    let mut table = TableWriter::new(w, false);
                    table.extend(meta)?;
                    table.finish().map(|_| ())
                })?;
                file
            }
            Data::Parquet(mut table) => table
                .extend(meta)
                .and_then(|()| table.finish())
                .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                .map_err(data_error)?,
        };
        let stats_path = self.root.join(format!("{stem}_stats.json"));
        self.write_beside(&stats_path, |w| {
            serde_json::to_writer_pretty(&mut *w, &stats)?;
            w.write_all(b"\n")
        })?;
        let final_path = self.root.join(&data_name);
        (|| {
            if self.fsync {
                data_file.sync_all()?;
            }
            drop(data_file);
            fs::rename(&temp, &final_path)?;
            if self.fsync {
                File::open(&self.root)?.sync_all()?;
            }
            Ok(())
        })()
        .map_err(data_error)
    }

    /// Writes a metadata file under a temp name and renames it into place;
    /// a failure comes with that file's name.
    fn write_beside(
        &self,
        path: &Path,
        fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
    ) -> Result<(), (String, io::Error)> {
        let temp = output::temp_path(path);
        let result = (|| {
            let mut w = BufWriter::new(File::create(&temp)?);
            fill(&mut w)?;
            let file = w.into_inner().map_err(|e| e.into_error())?;
            if self.fsync {
                file.sync_all()?;
            }
            fs::rename(&temp, path)
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&temp);
            let name = path.file_name().unwrap_or_default();
            (name.to_string_lossy().into_owned(), e)
        })
    }
}

impl OpenFile {
    /// Takes one record: its metadata row, and for an `ok` item its sample.
    fn add(&mut self, meta: MetaRow, pending: Option<Pending>, record: &Record) -> io::Result<()> {
        self.seen += 1;
        self.stats.add(&meta);
        let sample = pending.filter(|_| record.status == Status::Ok);
        match &mut self.data {
            Data::Tar(tar) => {
                if let Some(sample) = sample {
                    let key = &meta.key;
                    append(tar, &format!("{key}.{}", sample.ext), &sample.bytes)?;
                    if let Some(caption) = &meta.caption {
                        append(tar, &format!("{key}.txt"), caption.as_bytes())?;
                    }
                    let json = serde_json::to_vec(&meta.sample_json())?;
                    append(tar, &format!("{key}.json"), &json)?;
                }
                self.meta.push(meta);
            }
            Data::Parquet(table) => {
                let mut meta = meta;
                meta.image = sample.map(|s| s.bytes);
                self.meta.push(meta);
                if self.meta.len() >= ROWS_PER_GROUP {
                    table.extend(std::mem::take(&mut self.meta))?;
                }
            }
        }
        Ok(())
    }
}

/// One tar member, with fixed owner and time so the same samples give the
/// same bytes.
fn append(tar: &mut tar::Builder<BufWriter<File>>, name: &str, data: &[u8]) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, name, data)
}
