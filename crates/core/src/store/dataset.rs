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
//! and records (and, for parquet, one row group of images) in memory.
//!
//! Beside each data file: `STEM.parquet` with one row per input row
//! (including failed and skipped ones; for parquet output the data file is
//! that file), `STEM_stats.json`, and the hidden seal (see [`seal`]),
//! written last. The planner asks [`DatasetStore::judge`] about each data
//! file once all its rows are known: a file is kept only when its seal says
//! it was made from the same rows with the same settings and it is intact;
//! otherwise it is made again, or repaired (its failed rows retried, its
//! good ones copied). A row's record says `ok` only once its data file is
//! complete: the writer holds a file's records until then.
//!
//! One run at a time writes a folder's data files (per `--shard`): a lock
//! the kernel drops when its process dies, however it dies.

mod columns;
#[cfg_attr(not(feature = "s3"), path = "dataset/remote_stub.rs")]
pub(crate) mod remote;
pub(crate) mod seal;

use super::{OutputStore, Payload, Placed, Stale, StoreWriter, Writers};
use crate::config::{Config, Mode, OnExists, OutputFormat};
use crate::item::{Entry, Record, Status};
use crate::naming::dataset::Layout;
use crate::output::{self, OutDir};
use crate::store::resume::UP_TO_DATE;
use columns::{MetaRow, TableWriter};
use pixmill_base::error::{ErrorClass, ItemError};
use seal::{Outcome, Seal, SealedRow};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How `config` lays its rows out in data files (see [`crate::naming::dataset`]).
pub(crate) fn layout(config: &Config) -> Layout {
    let data_ext = match config.output_format {
        OutputFormat::Parquet => "parquet",
        _ => "tar",
    };
    Layout::new(config.samples_per_file, config.source.shard, data_ext)
}

/// What the planner decided about one data file, once it knew all its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Make the file (again): every row is done; why an existing one is
    /// redone, if one was there.
    Make(Option<&'static str>),
    /// Leave the file as it is: every row is skipped with this reason;
    /// each row's sample extension, where it has a sample.
    Keep(&'static str, Vec<Option<String>>),
    /// The file stays and every row fails, for this reason: `--on-exists
    /// fail` and the file exists, or the file holds an `--append`'s rows
    /// and this run is not that append (a base list grown into it).
    Refuse(String),
    /// A complete file with failed rows to retry (`true`); the others are
    /// up to date, with their sample extensions.
    Repair(Vec<bool>, Vec<Option<String>>),
}

/// What the writer needs to know about a data file the planner decided to
/// write: its rows' fingerprints (for its seal) and, for a repair, the old
/// file's rows kept as they were.
struct FilePlan {
    ids: Vec<u64>,
    /// `Some` for a repair: each row's old outcome, `None` where retried.
    kept: Option<Vec<Option<Outcome>>>,
}

type Plans = Arc<Mutex<HashMap<u64, FilePlan>>>;

/// Tar or parquet shards below the output folder.
pub(crate) struct DatasetStore<'a> {
    out: &'a OutDir,
    layout: Layout,
    /// Tar or parquet data files.
    kind: OutputFormat,
    fsync: bool,
    on_exists: OnExists,
    retry_failed: bool,
    dry_run: bool,
    quiet: bool,
    /// The settings and layout every data file is sealed with.
    settings: u64,
    plans: Plans,
    /// The `--append` in progress, for the ledger (see [`Appends`]).
    appends: Arc<Appends>,
    /// The prefix the folder stands for, with `-o s3://…` (see [`remote`]).
    remote: Option<Arc<remote::Remote>>,
    /// Held for the run (see [`lock`]).
    _lock: Option<File>,
    /// An `--append` run: its files follow the others', so it removes none.
    appending: bool,
    /// The first data file an `--append` added to this folder (the
    /// ledger's, as the run starts), or `u64::MAX` when none did.
    appended_from: u64,
    /// One past the highest data file number this run judged (0: none).
    planned_end: AtomicU64,
}

/// The ledger of `--append` runs into a folder (`.pixmill.appends`, one per
/// `--shard`): a JSON line when an append starts (its list, by the
/// fingerprint of its first data file's rows, and the number of its first
/// data file) and one when it has put every file in place. A rerun of the
/// same append finds where it went; another append waits until it is done.
struct Appends {
    path: PathBuf,
    fsync: bool,
    /// Published there after each line, when the folder stands for one.
    remote: Option<Arc<remote::Remote>>,
    /// This run's list, once it is settled.
    list: Mutex<Option<String>>,
    /// The source planned every row (the run was not cut short).
    planned_all: AtomicBool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct AppendLine {
    list: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_file: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    done: bool,
}

impl Appends {
    fn read(&self) -> Vec<AppendLine> {
        let text = fs::read_to_string(&self.path).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    fn write(&self, line: &AppendLine) -> io::Result<()> {
        let mut text = serde_json::to_vec(line)?;
        text.push(b'\n');
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(&text)?;
        if let Some(remote) = &self.remote {
            let (root, name) = (self.path.parent(), self.path.file_name());
            if let (Some(root), Some(name)) = (root, name) {
                remote.put_small(root, &name.to_string_lossy())?;
            }
        }
        if self.fsync {
            file.sync_all()?;
        }
        Ok(())
    }
}

/// A WebDataset's metadata is `00000.parquet`, the name of a parquet
/// dataset's first data file: the two formats cannot share a folder, so a
/// run of one into a folder sealed by the other is refused before anything
/// is written.
fn refuse_the_other_format(root: &Path, kind: OutputFormat) -> Result<(), String> {
    let (this, other, other_ext) = match kind {
        OutputFormat::Parquet => ("parquet", "WebDataset", "tar"),
        _ => ("WebDataset", "parquet", "parquet"),
    };
    let sealed = format!(".{other_ext}.pixmill.seal");
    let found = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with('.') && name.ends_with(&sealed));
    match found {
        Some(seal) => {
            let data = seal
                .trim_start_matches('.')
                .trim_end_matches(".pixmill.seal");
            Err(format!(
                "{} holds a {other} dataset ({data}): a {this} dataset there would \
                 overwrite its files; give it another folder",
                root.display()
            ))
        }
        None => Ok(()),
    }
}

impl<'a> DatasetStore<'a> {
    /// The store, once this run holds the folder's dataset lock (a dry
    /// run writes nothing and takes none).
    pub(crate) fn new(
        out: &'a OutDir,
        config: &Config,
        remote: Option<remote::Remote>,
    ) -> Result<DatasetStore<'a>, String> {
        let layout = layout(config);
        refuse_the_other_format(out.root(), config.output_format)?;
        let lock = match config.dry_run {
            true => None,
            false => Some(lock(out.root(), config.source.shard)?),
        };
        if let Some(remote) = &remote {
            let data = format!(".{}", layout.data_name(0).rsplit('.').next().unwrap_or(""));
            remote.hydrate(out.root(), |name| name.ends_with(&data))?;
        }
        let remote = remote.map(Arc::new);
        let ledger = match config.source.shard {
            Some((index, count)) => format!(".pixmill.{index}of{count}.appends"),
            None => ".pixmill.appends".to_string(),
        };
        let format_flag = match &config.mode {
            Mode::Convert(settings) => settings.format,
            Mode::Fetch => None,
        };
        let settings = pixmill_base::hashing::stable_hash(
            format!(
                "dataset/{:016x}/{}/{}",
                config.settings_hash(format_flag),
                layout.per_file(),
                layout.data_name(0)
            )
            .as_bytes(),
        );
        let appends = Arc::new(Appends {
            path: out.root().join(ledger),
            fsync: config.fsync,
            remote: remote.clone(),
            list: Mutex::new(None),
            planned_all: AtomicBool::new(false),
        });
        let appended_from = appends
            .read()
            .iter()
            .filter_map(|line| line.first_file)
            .min()
            .unwrap_or(u64::MAX);
        Ok(DatasetStore {
            out,
            layout,
            kind: config.output_format,
            fsync: config.fsync,
            on_exists: config.on_exists,
            retry_failed: config.retry_failed,
            dry_run: config.dry_run,
            quiet: config.quiet,
            settings,
            plans: Plans::default(),
            appends,
            remote,
            _lock: lock,
            appending: config.append,
            appended_from,
            planned_end: AtomicU64::new(0),
        })
    }

    /// The numbers of this layout's data files (or their seals) in the
    /// folder: `00012.tar`, `.00012.tar.pixmill.seal`, or in a `--shard
    /// 3/8` run `3of8-00012.tar`.
    fn data_numbers(&self) -> std::collections::BTreeSet<u64> {
        let prefix = self.layout.stem(0);
        let prefix = &prefix[..prefix.len() - 5];
        let suffix = format!(
            ".{}",
            self.layout.data_name(0).rsplit('.').next().unwrap_or("")
        );
        fs::read_dir(self.out.root())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let name = name.strip_prefix('.').unwrap_or(&name);
                let name = name.strip_suffix(".pixmill.seal").unwrap_or(name);
                name.strip_suffix(suffix.as_str())
                    .and_then(|n| n.strip_prefix(prefix))
                    .filter(|n| n.len() >= 5 && n.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .collect()
    }

    /// After a whole list was planned (not an `--append`): data files of
    /// this layout past its last one are left from another layout (more
    /// rows per file before) or a longer list, and would hold its rows a
    /// second time, or rows it no longer has. They go, with their
    /// metadata, stats and seal, and each is named on stderr. Files an
    /// `--append` added (from the ledger's first appended file on) stay,
    /// and so does everything under `--on-exists skip` or `fail`.
    fn remove_files_past_the_list(&self) {
        let end = self.planned_end.load(Ordering::Relaxed);
        // `--on-exists skip` and `fail` keep whatever exists.
        let keeps = matches!(self.on_exists, OnExists::Skip | OnExists::Fail);
        if self.appending || keeps || end == 0 {
            return;
        }
        let past: Vec<u64> = self
            .data_numbers()
            .into_iter()
            .filter(|&n| n >= end && n < self.appended_from)
            .collect();
        for file in past {
            let data = self.layout.data_name(file);
            if !self.quiet {
                let verb = if self.dry_run {
                    "would remove"
                } else {
                    "removing"
                };
                eprintln!("pixmill: {verb} {data} (past the end of this list in this layout)");
            }
            if self.dry_run {
                continue;
            }
            let stem = self.layout.stem(file);
            let data_path = self.out.root().join(&data);
            let seal = seal::path_of(&data_path);
            let mut names = vec![data.clone(), format!("{stem}_stats.json")];
            if self.kind != OutputFormat::Parquet {
                names.push(format!("{stem}.parquet"));
            }
            // The seal first: cut short here, what is left is unsealed.
            let _ = fs::remove_file(&seal);
            for name in &names {
                let _ = fs::remove_file(self.out.root().join(name));
            }
            if let Some(remote) = &self.remote {
                let seal_name = seal
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if let Err(e) = remote.remove(&seal_name, &names) {
                    eprintln!("pixmill: warning: cannot remove {data} from the store: {e}");
                }
            }
        }
    }

    /// See [`OutputStore::append_at`].
    fn start_append(&self, first: &[u64]) -> Result<u64, String> {
        let text: String = first.iter().map(|id| format!("{id:016x}")).collect();
        let list = format!(
            "{:016x}",
            pixmill_base::hashing::stable_hash(text.as_bytes())
        );
        let ledger = self.appends.read();
        let known = ledger
            .iter()
            .find(|line| line.list == list && line.first_file.is_some());
        let first_file = match known {
            Some(line) => line.first_file.unwrap_or_default(),
            None => {
                let unfinished = ledger.iter().find(|start| {
                    start.first_file.is_some()
                        && !ledger.iter().any(|end| end.done && end.list == start.list)
                });
                if let Some(start) = unfinished {
                    return Err(format!(
                        "an earlier --append into this folder (from data file {}) did not \
                         finish: rerun it with its own list first",
                        self.layout.data_name(start.first_file.unwrap_or_default())
                    ));
                }
                let next = self.next_free_file(&ledger);
                if !self.dry_run {
                    let line = AppendLine {
                        list: list.clone(),
                        first_file: Some(next),
                        done: false,
                    };
                    self.appends.write(&line).map_err(|e| {
                        format!(
                            "cannot record the append in {}: {}",
                            self.appends.path.display(),
                            pixmill_base::io_reason(&e)
                        )
                    })?;
                }
                next
            }
        };
        if let Ok(mut mine) = self.appends.list.lock() {
            *mine = Some(list);
        }
        Ok(first_file)
    }

    /// The number after every data file (or seal) of this layout in the
    /// folder, and after every earlier append's first file.
    fn next_free_file(&self, ledger: &[AppendLine]) -> u64 {
        let mut next = ledger
            .iter()
            .filter_map(|line| line.first_file.map(|f| f + 1))
            .max()
            .unwrap_or(0);
        if let Some(last) = self.data_numbers().last() {
            next = next.max(last + 1);
        }
        next
    }

    fn data_path(&self, file: u64) -> PathBuf {
        self.out.root().join(self.layout.data_name(file))
    }

    /// Whether the files beside data file `file` are there.
    fn beside_present(&self, file: u64) -> bool {
        let stem = self.layout.stem(file);
        let root = self.out.root();
        let meta = match self.kind {
            OutputFormat::Parquet => true,
            _ => root.join(format!("{stem}.parquet")).is_file(),
        };
        meta && root.join(format!("{stem}_stats.json")).is_file()
    }

    /// The rule for data file `file`, whose rows (in order) have the
    /// fingerprints `ids`: `--on-exists`, then the seal. A file to be
    /// written is remembered for the writer.
    pub(crate) fn judge(&self, file: u64, ids: &[u64]) -> Verdict {
        self.planned_end.fetch_max(file + 1, Ordering::Relaxed);
        if !self.appending && file >= self.appended_from {
            return Verdict::Refuse(format!(
                "{} holds rows an --append added: this list has grown into it (add rows \
                 with --append, or write to a new folder)",
                self.layout.data_name(file)
            ));
        }
        let data = self.data_path(file);
        let exists = fs::symlink_metadata(&data).is_ok();
        let verdict = match (self.on_exists, exists) {
            (OnExists::Overwrite, _) | (OnExists::Skip | OnExists::Fail, false) => {
                Verdict::Make(None)
            }
            (OnExists::Skip, true) => {
                let exts = Seal::read(&data).map(|s| exts(&s)).unwrap_or_default();
                Verdict::Keep("output exists", exts)
            }
            (OnExists::Fail, true) => Verdict::Refuse(format!(
                "output {} exists (--on-exists fail)",
                self.layout.data_name(file)
            )),
            (OnExists::Update, _) => self.by_seal(file, &data, exists, ids),
        };
        if let (Verdict::Make(Some(why)), false) = (&verdict, self.quiet) {
            // A different list into a used folder: say which files go.
            eprintln!(
                "pixmill: {} {} ({why})",
                if self.dry_run {
                    "would replace"
                } else {
                    "replacing"
                },
                self.layout.data_name(file)
            );
        }
        if self.dry_run {
            return verdict;
        }
        if let (Verdict::Repair(..), Some(remote)) = (&verdict, &self.remote) {
            // The kept samples are copied from the whole file, not its stand-in.
            if let Err(e) = remote.fetch_whole(&self.layout.data_name(file), &data) {
                eprintln!("pixmill: {e}; making it again");
                return self.judged_make(file, ids, Stale::Incomplete.reason());
            }
        }
        let kept = match &verdict {
            Verdict::Make(_) => None,
            Verdict::Repair(retried, _) => {
                let seal = Seal::read(&data);
                let rows = seal.map(|s| s.rows).unwrap_or_default();
                Some(
                    retried
                        .iter()
                        .zip(rows)
                        .map(|(retry, row)| (!retry).then_some(row.outcome))
                        .collect(),
                )
            }
            Verdict::Keep(..) | Verdict::Refuse(_) => return verdict,
        };
        let plan = FilePlan {
            ids: ids.to_vec(),
            kept,
        };
        if let Ok(mut plans) = self.plans.lock() {
            plans.insert(file, plan);
        }
        verdict
    }

    /// Data file `file` is made again, for `why`.
    fn judged_make(&self, file: u64, ids: &[u64], why: &'static str) -> Verdict {
        let plan = FilePlan {
            ids: ids.to_vec(),
            kept: None,
        };
        if let Ok(mut plans) = self.plans.lock() {
            plans.insert(file, plan);
        }
        Verdict::Make(Some(why))
    }

    /// The up-to-date rule for a data file, as for a loose file's stamp.
    fn by_seal(&self, file: u64, data: &Path, exists: bool, ids: &[u64]) -> Verdict {
        let seal = Seal::read(data);
        let stale = match (exists, &seal) {
            (false, None) => return Verdict::Make(None),
            (false, Some(_)) => Stale::Incomplete,
            (true, None) => Stale::Unknown,
            (true, Some(seal)) if !seal.holds(data) || !self.beside_present(file) => {
                Stale::Incomplete
            }
            (true, Some(seal)) if seal.settings != self.settings => Stale::SettingsChanged,
            (true, Some(seal)) if !seal.rows.iter().map(|r| r.id).eq(ids.iter().copied()) => {
                Stale::InputChanged
            }
            (true, Some(seal)) => {
                let retried: Vec<bool> = seal
                    .rows
                    .iter()
                    .map(|r| r.outcome.retried(self.retry_failed))
                    .collect();
                return match retried.contains(&true) {
                    true => Verdict::Repair(retried, exts(seal)),
                    false => Verdict::Keep(UP_TO_DATE, exts(seal)),
                };
            }
        };
        Verdict::Make(Some(stale.reason()))
    }
}

/// Each sealed row's sample extension, where it has a sample.
fn exts(seal: &Seal) -> Vec<Option<String>> {
    seal.rows
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Ok(ext) => Some(ext.clone()),
            _ => None,
        })
        .collect()
}

/// Takes the folder's dataset lock (one per `--shard`, whose runs write
/// files of their own names): an advisory lock on a file in the folder,
/// which the kernel releases when the process ends, even by SIGKILL, so a
/// killed run never leaves a lock to clear by hand. A second run into the
/// folder is refused at once rather than made to wait behind a long run.
fn lock(root: &Path, shard: Option<(u64, u64)>) -> Result<File, String> {
    let name = match shard {
        Some((index, count)) => format!(".pixmill.{index}of{count}.lock"),
        None => ".pixmill.lock".to_string(),
    };
    let path = root.join(name);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            format!(
                "cannot open {}: {}",
                path.display(),
                pixmill_base::io_reason(&e)
            )
        })?;
    match try_lock(&file) {
        Ok(true) => Ok(file),
        Ok(false) => Err(format!(
            "another pixmill run is writing a dataset into {} (it holds {}); \
             wait for it to end, or write to another folder (--shard runs may share one)",
            root.display(),
            path.display()
        )),
        Err(e) => Err(format!(
            "cannot lock {}: {}",
            path.display(),
            pixmill_base::io_reason(&e)
        )),
    }
}

/// An exclusive `flock` on `file` without waiting: false when another
/// process holds it.
#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor this `File` owns; no memory is passed.
    let done = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if done == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> io::Result<bool> {
    Ok(true)
}

impl OutputStore for DatasetStore<'_> {
    fn check(&self, _entry: &Entry) -> super::Freshness {
        // Judged a whole data file at a time, by the planner (see `judge`).
        super::Freshness::Missing
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

    fn judge_file(&self, file: u64, ids: &[u64]) -> Option<Verdict> {
        Some(self.judge(file, ids))
    }

    fn member_name(&self, position: u64, ext: &str) -> Option<String> {
        Some(self.layout.member_name(position, ext))
    }

    fn append_at(&self, first: &[u64]) -> Option<Result<u64, String>> {
        Some(self.start_append(first))
    }

    fn source_done(&self) {
        self.appends.planned_all.store(true, Ordering::Relaxed);
        self.remove_files_past_the_list();
    }

    fn writers(&self) -> Writers<'_> {
        Writers::Single(Box::new(DatasetWriter {
            root: self.out.root().to_path_buf(),
            layout: self.layout,
            kind: self.kind,
            fsync: self.fsync,
            settings: self.settings,
            plans: self.plans.clone(),
            appends: self.appends.clone(),
            remote: self.remote.clone(),
            cut_short: false,
            open: BTreeMap::new(),
            lost: HashMap::new(),
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
    settings: u64,
    plans: Plans,
    appends: Arc<Appends>,
    remote: Option<Arc<remote::Remote>>,
    /// Some file was left unfinished (the run stopped).
    cut_short: bool,
    open: BTreeMap<u64, OpenFile>,
    /// Files that could not be written, and why: their rows fail.
    lost: HashMap<u64, String>,
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
    stem: String,
    stats: columns::Stats,
    temp: PathBuf,
    data: Data,
    meta: Vec<MetaRow>,
    seen: u64,
    /// The rows' fingerprints, and how each ended so far.
    ids: Vec<u64>,
    outcomes: Vec<Option<Outcome>>,
    /// For a repair: which rows were copied from the old file.
    copied: Vec<bool>,
    /// The records of the rows written so far, sent on once the file is
    /// complete (ok) or lost (failed).
    held: Vec<Record>,
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

    fn record(&mut self, record: Record) -> Vec<Record> {
        let Some(position) = record.row.as_ref().map(|r| r.position) else {
            return vec![record];
        };
        let pending = self.pending.take_if(|p| p.position == position);
        if record.status == Status::Planned {
            return vec![record];
        }
        let number = self.layout.file_of(position);
        if let Some(why) = self.lost.get(&number) {
            return vec![lost(record, why)];
        }
        if !self.open.contains_key(&number) {
            let plan = self.plans.lock().ok().and_then(|mut p| p.remove(&number));
            // A file the planner kept: its rows' records pass.
            let Some(plan) = plan else {
                return vec![record];
            };
            match self.open_file(number, plan) {
                Ok(file) => {
                    self.open.insert(number, file);
                }
                Err(e) => {
                    let why = self.lose(number, &e);
                    return vec![lost(record, &why)];
                }
            }
        }
        let index = (position % self.layout.per_file()) as usize;
        let key = self.layout.key(position);
        let Some(file) = self.open.get_mut(&number) else {
            return vec![record];
        };
        if file.copied.get(index).copied().unwrap_or(false) {
            // Up to date in the old file and copied from it.
            return vec![record];
        }
        let mut record = record;
        if record.status != Status::Ok {
            // No sample: nothing in the store to name.
            record.output = None;
            record.output_raw = None;
        }
        let ext = pending.as_ref().map(|p| p.ext.clone());
        let meta = MetaRow::new(key, &record, ext.as_deref());
        if let Some(slot) = file.outcomes.get_mut(index) {
            *slot = Some(Outcome::of(&record, ext.as_deref()));
        }
        let written = file.add(meta, pending, &record);
        file.held.push(record);
        if let Err(e) = written {
            return self.abandon(number, &e);
        }
        if file.seen >= file.ids.len() as u64 {
            return self.close(number);
        }
        Vec::new()
    }

    fn drain(&mut self) -> Vec<Record> {
        // Files still open were cut short (the run stopped): removed, their
        // rows failed, and a rerun makes them.
        let mut records = Vec::new();
        for (number, file) in std::mem::take(&mut self.open) {
            let _ = fs::remove_file(&file.temp);
            let why = format!(
                "data file {} not completed: the run stopped before all its rows were done",
                self.layout.data_name(number)
            );
            records.extend(file.held.into_iter().map(|r| lost(r, &why)));
            self.cut_short = true;
        }
        records
    }

    fn finish(&mut self) -> Result<(), ItemError> {
        let whole = self.appends.planned_all.load(Ordering::Relaxed)
            && !self.cut_short
            && self.broken.is_empty();
        let list = self.appends.list.lock().ok().and_then(|l| l.clone());
        if let (true, Some(list)) = (whole, list) {
            let line = AppendLine {
                list,
                first_file: None,
                done: true,
            };
            if let Err(e) = self.appends.write(&line) {
                self.broken.push(format!(
                    "cannot record the append's end in {}: {}",
                    self.appends.path.display(),
                    pixmill_base::io_reason(&e)
                ));
            }
        }
        match self.broken.is_empty() {
            true => Ok(()),
            false => Err(ItemError::new(ErrorClass::Write, self.broken.join("; "))),
        }
    }
}

/// `record` of a row whose data file could not be completed: a sample
/// that is in no file is not `ok`.
fn lost(mut record: Record, why: &str) -> Record {
    if record.status != Status::Ok {
        return record;
    }
    record.output = None;
    record.bytes_out = None;
    record.fail(ItemError::new(ErrorClass::Write, why))
}

impl DatasetWriter {
    fn open_file(&self, number: u64, plan: FilePlan) -> io::Result<OpenFile> {
        let final_path = self.root.join(self.layout.data_name(number));
        let temp = output::temp_path(&final_path);
        let file = BufWriter::with_capacity(1 << 20, File::create(&temp)?);
        let data = match self.kind {
            OutputFormat::Parquet => Data::Parquet(Box::new(TableWriter::new(file, true))),
            _ => Data::Tar(tar::Builder::new(file)),
        };
        let rows = plan.ids.len();
        let mut open = OpenFile {
            stem: self.layout.stem(number),
            stats: columns::Stats::default(),
            temp,
            data,
            meta: Vec::new(),
            seen: 0,
            ids: plan.ids,
            outcomes: vec![None; rows],
            copied: vec![false; rows],
            held: Vec::new(),
        };
        if let Some(kept) = plan.kept {
            if let Err(e) = self.copy_kept(&mut open, &final_path, kept) {
                let _ = fs::remove_file(&open.temp);
                return Err(e);
            }
        }
        Ok(open)
    }

    /// A repair: copies the rows of the old data file that are not retried
    /// (their samples and metadata) into its replacement.
    fn copy_kept(
        &self,
        open: &mut OpenFile,
        old: &Path,
        kept: Vec<Option<Outcome>>,
    ) -> io::Result<()> {
        let stem = open.stem.clone();
        let index_of = |key: &str| -> Option<usize> {
            let within = key.strip_prefix(stem.as_str())?.parse::<usize>().ok()?;
            kept.get(within)?.as_ref().map(|_| within)
        };
        let meta_path = match self.kind {
            OutputFormat::Parquet => old.to_path_buf(),
            _ => self.root.join(format!("{}.parquet", open.stem)),
        };
        if let Data::Tar(tar) = &mut open.data {
            let mut archive = tar::Archive::new(io::BufReader::new(File::open(old)?));
            for member in archive.entries()? {
                let mut member = member?;
                let name = member.path()?.to_string_lossy().into_owned();
                let key = name.split('.').next().unwrap_or_default();
                if index_of(key).is_none() {
                    continue;
                }
                let mut bytes = Vec::with_capacity(member.size() as usize);
                io::Read::read_to_end(&mut member, &mut bytes)?;
                append(tar, &name, &bytes)?;
            }
        }
        for row in columns::read_rows(&meta_path)? {
            let row = row?;
            let Some(index) = index_of(&row.key) else {
                continue;
            };
            open.outcomes[index] = kept[index].clone();
            open.copied[index] = true;
            open.push(row)?;
        }
        let missing = kept
            .iter()
            .zip(&open.copied)
            .any(|(kept, copied)| kept.is_some() && !copied);
        match missing {
            true => Err(io::Error::other(
                "the file to repair lacks rows its seal lists",
            )),
            false => Ok(()),
        }
    }

    /// Why data file `number` is lost, kept for its remaining rows and for
    /// the end-of-run error.
    fn lose(&mut self, number: u64, e: &io::Error) -> String {
        let why = format!(
            "data file {} could not be written: {}",
            self.layout.data_name(number),
            pixmill_base::io_reason(e)
        );
        self.broken.push(why.clone());
        self.lost.insert(number, why.clone());
        why
    }

    fn abandon(&mut self, number: u64, e: &io::Error) -> Vec<Record> {
        let why = self.lose(number, e);
        let Some(file) = self.open.remove(&number) else {
            return Vec::new();
        };
        let _ = fs::remove_file(&file.temp);
        file.held.into_iter().map(|r| lost(r, &why)).collect()
    }

    /// Completes a data file: its metadata and stats, then the data file,
    /// then its seal; every record it held goes on, ok only if all of that
    /// is in place.
    fn close(&mut self, number: u64) -> Vec<Record> {
        let Some(mut file) = self.open.remove(&number) else {
            return Vec::new();
        };
        let held = std::mem::take(&mut file.held);
        let temp = file.temp.clone();
        match self.seal(number, file) {
            Ok(()) => held,
            Err((name, e)) => {
                let _ = fs::remove_file(&temp);
                let why = format!(
                    "data file {} could not be completed: {name}: {}",
                    self.layout.data_name(number),
                    pixmill_base::io_reason(&e)
                );
                self.broken.push(why.clone());
                held.into_iter().map(|r| lost(r, &why)).collect()
            }
        }
    }

    /// On failure, the name of the file that could not be completed (the
    /// data file or one beside it) and why; nothing it wrote is left.
    fn seal(&self, number: u64, file: OpenFile) -> Result<(), (String, io::Error)> {
        let OpenFile {
            stem,
            stats,
            temp,
            data,
            meta,
            ids,
            outcomes,
            ..
        } = file;
        let data_name = self.layout.data_name(number);
        let final_path = self.root.join(&data_name);
        let data_error = |e: io::Error| (data_name.clone(), e);
        // The old seal goes first: a run killed while the files are being
        // replaced leaves no seal that vouches for a mix of old and new.
        seal::remove(&final_path).map_err(data_error)?;
        let mut placed: Vec<PathBuf> = Vec::new();
        let result = (|| {
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
                    placed.push(meta_path);
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
            placed.push(stats_path);
            if self.fsync {
                data_file.sync_all().map_err(data_error)?;
            }
            drop(data_file);
            // Opened for writing only: measured through a reading handle.
            let (len, tail) = File::open(&temp)
                .and_then(|f| Seal::measure(&f))
                .map_err(data_error)?;
            fs::rename(&temp, &final_path).map_err(data_error)?;
            placed.push(final_path.clone());
            let rows = ids
                .into_iter()
                .zip(outcomes)
                .map(|(id, outcome)| SealedRow {
                    id,
                    outcome: outcome.unwrap_or(Outcome::Transient),
                })
                .collect();
            let seal = Seal {
                settings: self.settings,
                len,
                tail,
                rows,
            };
            let seal_path = seal::path_of(&final_path);
            let seal_name = seal_path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            seal.write(&final_path, self.fsync)
                .map_err(|e| (seal_name.clone(), e))?;
            if let Some(remote) = &self.remote {
                let beside: Vec<String> = placed
                    .iter()
                    .filter(|p| **p != final_path)
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect();
                remote
                    .publish(&self.root, &data_name, &beside, &seal_name)
                    .inspect_err(|_| {
                        let _ = seal::remove(&final_path);
                    })?;
            }
            if self.fsync {
                File::open(&self.root)
                    .and_then(|d| d.sync_all())
                    .map_err(data_error)?;
            }
            Ok(())
        })();
        if result.is_err() {
            // No orphans: what was put in place goes, and a rerun makes the
            // file again.
            for path in placed {
                let _ = fs::remove_file(path);
            }
        }
        result
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
        let sample = pending.filter(|_| record.status == Status::Ok);
        match &mut self.data {
            Data::Tar(tar) => {
                if let Some(sample) = &sample {
                    let key = &meta.key;
                    append(tar, &format!("{key}.{}", sample.ext), &sample.bytes)?;
                    if let Some(caption) = &meta.caption {
                        append(tar, &format!("{key}.txt"), caption.as_bytes())?;
                    }
                    let json = serde_json::to_vec(&meta.sample_json())?;
                    append(tar, &format!("{key}.json"), &json)?;
                }
                self.push(meta)
            }
            Data::Parquet(_) => {
                let mut meta = meta;
                meta.image = sample.map(|s| s.bytes);
                self.push(meta)
            }
        }
    }

    /// Counts a metadata row (its sample, if any, is written) and keeps
    /// it; parquet rows go out a row group at a time.
    fn push(&mut self, meta: MetaRow) -> io::Result<()> {
        self.seen += 1;
        self.stats.add(&meta);
        self.meta.push(meta);
        if let Data::Parquet(table) = &mut self.data {
            if self.meta.len() >= ROWS_PER_GROUP {
                table.extend(std::mem::take(&mut self.meta))?;
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
