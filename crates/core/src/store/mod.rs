//! The output store: the one place that decides where a finished item's
//! bytes land and what a rerun finds complete. The CPU stage only computes
//! bytes; the store lands them; the sink reports. Loose files (today),
//! tar shards and parquet files are three ways of storing the same bytes.
//!
//! Two shapes share one trait pair, as hyperfine's exporters share one
//! trait: a store whose writers may run in every worker at once
//! ([`Writers::PerWorker`], the `files` store: a temp file beside the
//! output, then a rename), and a store with one writer owned by one thread
//! ([`Writers::Single`], as the sink owns stdout: tar or parquet shards).

pub(crate) mod dataset;
pub(crate) mod files;
#[cfg_attr(not(feature = "s3"), path = "objects_stub.rs")]
pub(crate) mod objects;
pub(crate) mod resume;
pub(crate) mod stamp;

use crate::item::{Entry, Record, Status};
use crossbeam_channel::Sender;
use pixmill_base::error::ItemError;
use pixmill_fetch::Validators;
use std::path::{Path, PathBuf};

/// The bytes of one finished item.
#[derive(Debug)]
pub(crate) enum Payload {
    /// Converted bytes in memory (the CPU stage's result).
    Bytes(Vec<u8>),
    /// A download streamed to the store's [`OutputStore::staging_path`];
    /// the store takes it over (renames, copies or removes it).
    Staged(PathBuf),
}

/// Where `put` landed an item, for its record.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    /// What the record calls the output (a path, or `shard.tar:key`).
    pub output: String,
    pub bytes: u64,
}

/// What the store holds for an item's output (asked before the work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Nothing there: do the work.
    Missing,
    /// Complete, made from the same input with the same settings: skip.
    UpToDate,
    /// Complete as far as the store can tell, made from the same URL with the
    /// same settings; the server decides (a conditional request: 304 = skip).
    Revalidate(Validators),
    /// Something is there but it must be redone; the reason goes to the record.
    Stale(Stale),
}

/// Why an existing output is redone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stale {
    SettingsChanged,
    InputChanged,
    /// Empty, cut short or changed since it was written.
    Incomplete,
    /// An output with no stamp: made by another tool or an older pixmill.
    Unknown,
}

impl Stale {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Stale::SettingsChanged => "settings changed",
            Stale::InputChanged => "input changed",
            Stale::Incomplete => "output was incomplete",
            Stale::Unknown => "output has no record of how it was made",
        }
    }
}

/// The shared side of a store: resume questions and staging, asked by the
/// planner and the I/O threads at once.
pub(crate) trait OutputStore: Sync {
    /// What a rerun finds for `entry`'s output: resume asks the store, never
    /// the file system directly.
    fn check(&self, entry: &Entry) -> Freshness;

    /// Whether anything is there at all (for `--on-exists skip|fail`, and
    /// to find a download's settled name), without judging it.
    fn exists(&self, entry: &Entry) -> bool {
        self.check(entry) != Freshness::Missing
    }

    /// Whether the file at `path` is an output pixmill made (it carries a
    /// stamp), for a walk of the folder it writes into: those are passed
    /// over, not converted again.
    fn made_here(&self, _path: &Path) -> bool {
        false
    }

    /// The output a download named by its server (`Content-Disposition`)
    /// was given on an earlier run, so a rerun can judge it before asking
    /// for the body. Only a hint: the output's stamp still decides.
    fn recall_name(&self, _entry: &Entry) -> Option<PathBuf> {
        None
    }

    /// Keeps the name `entry`'s download was given (its `output`) for
    /// [`OutputStore::recall_name`].
    fn remember_name(&self, _entry: &Entry) {}

    /// A path where the I/O stage may stream `entry`'s download before it is
    /// put (the files store: a temp file beside the output, so a put is a
    /// rename).
    fn staging_path(&self, entry: &Entry) -> Result<PathBuf, ItemError>;

    /// How the pipeline gets writers for this store.
    fn writers(&self) -> Writers<'_>;

    /// What a `--dry-run` line calls `entry`'s output, when that is not its
    /// path (a dataset's `FILE.tar:KEY`, as the record of a real run says).
    fn planned_output(&self, _entry: &Entry) -> Option<String> {
        None
    }

    /// For a store of data files: what to do with data file `file`, whose
    /// rows (in input order) have the fingerprints `ids` (see
    /// [`dataset::DatasetStore::judge`]).
    fn judge_file(&self, _file: u64, _ids: &[u64]) -> Option<dataset::Verdict> {
        None
    }

    /// For a store of data files with `--append`: the number of the first
    /// data file of the list whose first file's rows have the fingerprints
    /// `first` (where an earlier run of the same append put it, or the
    /// next free number), or why the append is refused.
    fn append_at(&self, _first: &[u64]) -> Option<Result<u64, String>> {
        None
    }

    /// The source has planned every entry (the run was not cut short).
    fn source_done(&self) {}

    /// For a store of data files: what records call the sample of the row
    /// at `position` (`00002.tar:000025.jpg`).
    fn member_name(&self, _position: u64, _ext: &str) -> Option<String> {
        None
    }
}

/// How a store's writers are run.
pub(crate) enum Writers<'a> {
    /// A fresh writer for each worker (CPU worker or download thread); they
    /// put at once, each from its own thread.
    PerWorker(Box<PerWorkerFn<'a>>),
    /// One writer, owned by one store thread that receives every finished
    /// item (and sees every other record) in the order they finish.
    Single(Box<dyn StoreWriter + 'a>),
}

/// The landing side of a store.
pub(crate) trait StoreWriter: Send {
    /// Lands one finished item's bytes under `entry.output`; on `Ok` the
    /// output is complete (and durable, with `--fsync`).
    fn put(&mut self, entry: &Entry, payload: Payload) -> Result<Placed, ItemError>;

    /// Sees every record of the run (skipped and failed ones too), after its
    /// own put when it had one, and gives back the records to send on: a
    /// dataset writer holds a data file's records until the file is
    /// complete. Only [`Writers::Single`] writers are shown the records
    /// that never reach a put; dataset metadata is built here.
    fn record(&mut self, record: Record) -> Vec<Record> {
        vec![record]
    }

    /// After the last record: the records still held (of data files the
    /// run could not complete).
    fn drain(&mut self) -> Vec<Record> {
        Vec::new()
    }

    /// After the last item: whether everything was put in place.
    fn finish(&mut self) -> Result<(), ItemError> {
        Ok(())
    }
}

/// An item the CPU stage (or, for `fetch`, the I/O stage) finished: its
/// record so far and its bytes, on their way to the store.
#[derive(Debug)]
pub(crate) struct Finished {
    pub entry: Entry,
    pub record: Record,
    pub payload: Payload,
}

/// A worker's way to the store: its own writer, or the store thread's queue.
pub(crate) enum Landing<'a> {
    Direct(Box<dyn StoreWriter + 'a>),
    Queue(Sender<Finished>),
}

/// How each worker reaches the store, once the pipeline has started the
/// store thread (for a single-writer store).
#[derive(Clone)]
pub(crate) enum Route<'s, 'a> {
    Direct(&'s PerWorkerFn<'a>),
    Queue(Sender<Finished>),
}

/// Makes one writer for one worker.
pub(crate) type PerWorkerFn<'a> = dyn Fn() -> Box<dyn StoreWriter + 'a> + Sync + 'a;

impl<'a> Route<'_, 'a> {
    /// A landing for one worker.
    pub(crate) fn landing(&self) -> Landing<'a> {
        match self {
            Route::Direct(make) => Landing::Direct(make()),
            Route::Queue(tx) => Landing::Queue(tx.clone()),
        }
    }
}

impl Landing<'_> {
    /// Lands `finished`.
    pub(crate) fn land(&mut self, finished: Finished) -> Landed {
        match self {
            Landing::Direct(writer) => Landed::Record(Box::new(put_one(writer.as_mut(), finished))),
            Landing::Queue(tx) => match tx.send(finished) {
                Ok(()) => Landed::Queued,
                Err(_) => Landed::Closed,
            },
        }
    }
}

/// What landing an item came to.
pub(crate) enum Landed {
    /// Put; its record goes on to the sink.
    Record(Box<Record>),
    /// Taken by the store thread, which sends the record on itself.
    Queued,
    /// The store thread is gone: the run is ending.
    Closed,
}

/// Puts one item and completes its record.
pub(crate) fn put_one(writer: &mut dyn StoreWriter, finished: Finished) -> Record {
    let Finished {
        entry,
        mut record,
        payload,
    } = finished;
    let record = match writer.put(&entry, payload) {
        Ok(placed) => {
            record.status = Status::Ok;
            record.output = Some(placed.output);
            record.bytes_out = Some(placed.bytes);
            record
        }
        Err(e) => record.fail(e),
    };
    record.finish(&entry)
}

/// Runs a single-writer store: puts every finished item, shows the writer
/// every record, and passes the records on to the sink.
pub(crate) fn run_store_thread(
    mut writer: Box<dyn StoreWriter + '_>,
    finished: crossbeam_channel::Receiver<Finished>,
    records: crossbeam_channel::Receiver<Record>,
    to_sink: Sender<Record>,
) -> Result<(), ItemError> {
    let (mut finished, mut records) = (Some(finished), Some(records));
    while finished.is_some() || records.is_some() {
        let record = crossbeam_channel::select! {
            recv(finished.as_ref().unwrap_or(&crossbeam_channel::never())) -> item => match item {
                Ok(item) => put_one(writer.as_mut(), item),
                Err(_) => { finished = None; continue; }
            },
            recv(records.as_ref().unwrap_or(&crossbeam_channel::never())) -> record => match record {
                Ok(record) => record,
                Err(_) => { records = None; continue; }
            },
        };
        for record in writer.record(record) {
            if to_sink.send(record).is_err() {
                return writer.finish();
            }
        }
    }
    for record in writer.drain() {
        let _ = to_sink.send(record);
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Input;
    use crate::item::{InputId, Provenance};
    use crate::naming::Settles;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    type Put = (String, Vec<u8>);

    /// A single-writer store that keeps what it is given, as a shard
    /// writer would append to its tar.
    #[derive(Default, Clone)]
    struct Shelf {
        puts: Arc<Mutex<Vec<Put>>>,
        seen: Arc<Mutex<Vec<Status>>>,
        finished: Arc<Mutex<bool>>,
    }

    impl StoreWriter for Shelf {
        fn put(&mut self, entry: &Entry, payload: Payload) -> Result<Placed, ItemError> {
            let Payload::Bytes(data) = payload else {
                unreachable!("only bytes in this test")
            };
            let key = entry.key.clone();
            let placed = Placed {
                output: format!("shard-0.tar:{key}"),
                bytes: data.len() as u64,
            };
            self.puts.lock().unwrap().push((key, data));
            Ok(placed)
        }
        fn record(&mut self, record: Record) -> Vec<Record> {
            self.seen.lock().unwrap().push(record.status);
            vec![record]
        }
        fn finish(&mut self) -> Result<(), ItemError> {
            *self.finished.lock().unwrap() = true;
            Ok(())
        }
    }

    fn entry(key: &str) -> Entry {
        Entry {
            input: Input::Path(key.into()),
            label: key.into(),
            output: key.into(),
            format: None,
            sha256: None,
            provenance: Provenance {
                key: 0,
                settings: 0,
                input: InputId::Url(Validators::default()),
            },
            revalidate: None,
            redo: None,
            key: key.into(),
            settles: Settles::Nothing,
            row: None,
            started: Instant::now(),
        }
    }

    #[test]
    fn a_single_writer_store_lands_every_item_and_sees_every_record() {
        let shelf = Shelf::default();
        let (fin_tx, fin_rx) = crossbeam_channel::bounded(4);
        let (rec_tx, rec_rx) = crossbeam_channel::bounded(4);
        let (sink_tx, sink_rx) = crossbeam_channel::unbounded();
        let writer = Box::new(shelf.clone());
        let thread = std::thread::spawn(move || run_store_thread(writer, fin_rx, rec_rx, sink_tx));
        let mut landing = Route::Queue(fin_tx).landing();
        for key in ["a", "b"] {
            let e = entry(key);
            let finished = Finished {
                record: Record::new(&e, Status::Ok),
                entry: e,
                payload: Payload::Bytes(key.as_bytes().repeat(3)),
            };
            assert!(matches!(landing.land(finished), Landed::Queued));
        }
        let failed = Record::new(&entry("c"), Status::Ok).fail(ItemError::new(
            pixmill_base::error::ErrorClass::Decode,
            "bad",
        ));
        rec_tx.send(failed).unwrap();
        drop((landing, rec_tx));
        thread.join().unwrap().unwrap();

        let mut records: Vec<Record> = sink_rx.iter().collect();
        records.sort_by(|x, y| x.input.cmp(&y.input));
        let outputs: Vec<_> = records.iter().map(|r| r.output.clone()).collect();
        assert_eq!(
            outputs,
            [
                Some("shard-0.tar:a".to_string()),
                Some("shard-0.tar:b".to_string()),
                Some("c".to_string())
            ]
        );
        assert_eq!(records[1].bytes_out, Some(3));
        assert_eq!(records[2].status, Status::Failed);
        assert_eq!(shelf.puts.lock().unwrap().len(), 2);
        assert_eq!(shelf.seen.lock().unwrap().len(), 3);
        assert!(*shelf.finished.lock().unwrap());
    }
}
