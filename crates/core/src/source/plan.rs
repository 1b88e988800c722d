//! Planning one entry: its key (`--shard`, repeats), its output name (by
//! the rule in [`crate::naming`]), what the store already holds for it
//! (`--on-exists`), and where it goes next.

use super::{Origin, Raw};
use crate::config::{Config, Mode, OutputFormat};
use crate::item::{Entry, Input, Job, Record, Row, RowRef, Status};
use crate::item::{InputId, Provenance};
use crate::naming::dataset::Layout;
use crate::naming::Settles;
use crate::naming::{self, Names};
use crate::output::OutDir;
use crate::output_format;
use crate::signal::Stop;
use crate::store::dataset::{self, Verdict};
use crate::store::{resume, OutputStore};
use crossbeam_channel::Sender;
use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_fetch::Validators;
use pixmill_imaging::Format;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What the planner hands on.
pub(super) enum Planned {
    /// A URL for the I/O stage.
    Download(Entry),
    /// A local file for the CPU stage.
    Compute(Box<Job>),
    /// Already decided (skipped, failed, or a dry-run line).
    Done(Record),
}

/// Plans entries and sends each to the stage that takes it next.
pub(crate) struct Planner<'a> {
    config: &'a Config,
    out: &'a OutDir,
    store: &'a dyn OutputStore,
    names: &'a Names,
    stop: &'a Stop,
    discovered: Arc<AtomicU64>,
    /// Entries merged into an earlier one (the same input again).
    duplicates: Arc<AtomicU64>,
    /// Local keys are relative to this folder.
    cwd: Option<PathBuf>,
    to_io: Option<Sender<Entry>>,
    to_cpu: Option<Sender<Job>>,
    to_sink: Sender<Record>,
    /// Entries planned so far (within the shard): the next entry's position.
    rows: u64,
    /// Dataset outputs name each entry by its key.
    dataset: Option<Layout>,
    /// A dataset's rows of the data file being gathered: the store judges
    /// a data file once it knows all its rows.
    batch: Vec<Waiting>,
    /// `--append`: whether the first data file's number is settled yet.
    appending: bool,
    /// Walked input folders (canonical) whose walk reaches into the output
    /// folder: `-o` is the folder itself, or holds it. A file already at an
    /// output's name below one of them is an input of this run.
    walked_outputs: Vec<PathBuf>,
}

/// A dataset row waiting for the rest of its data file's rows.
struct Waiting {
    raw: Raw,
    key: String,
    url: bool,
    meta: Option<std::fs::Metadata>,
    /// Its fingerprint: what a data file's seal remembers of each row.
    id: u64,
}

/// What every entry is planned against: the run's settings and the state
/// the stages share.
pub(crate) struct PlanContext<'a> {
    pub config: &'a Config,
    pub out: &'a OutDir,
    pub store: &'a dyn OutputStore,
    pub names: &'a Names,
    pub stop: &'a Stop,
    /// Entries found so far (the progress bar reads it).
    pub discovered: Arc<AtomicU64>,
    /// Entries merged into an earlier one (the summary reports it).
    pub duplicates: Arc<AtomicU64>,
}

/// Where planned entries go next: URLs to the I/O stage, local files to
/// the CPU stage (none in `fetch`), decided records to the sink.
pub(crate) struct Outlets {
    pub to_io: Option<Sender<Entry>>,
    pub to_cpu: Option<Sender<Job>>,
    pub to_sink: Sender<Record>,
}

impl<'a> Planner<'a> {
    pub(crate) fn new(context: PlanContext<'a>, outlets: Outlets) -> Planner<'a> {
        let PlanContext {
            config,
            out,
            store,
            names,
            stop,
            discovered,
            duplicates,
        } = context;
        let Outlets {
            to_io,
            to_cpu,
            to_sink,
        } = outlets;
        Planner {
            config,
            out,
            store,
            names,
            stop,
            discovered,
            duplicates,
            cwd: std::env::current_dir().ok(),
            to_io,
            to_cpu,
            to_sink,
            rows: 0,
            dataset: (config.output_format != OutputFormat::Files).then(|| dataset::layout(config)),
            batch: Vec::new(),
            appending: config.append,
            walked_outputs: walked_outputs(config, out),
        }
    }

    /// An output written into a folder this run walks must not replace a
    /// file there that pixmill did not make: that file is another input of
    /// this run (`a.jpg` to `a.png` beside an original `a.png`), which
    /// would be overwritten, maybe before it is read.
    fn replaces_an_input(&self, entry: &Entry) -> Option<ItemError> {
        if self.walked_outputs.is_empty() || self.dataset.is_some() {
            return None;
        }
        let rel = entry.output.strip_prefix(self.out.root()).ok()?;
        let at = self.out.canonical().join(rel);
        if !self.walked_outputs.iter().any(|root| at.starts_with(root)) {
            return None;
        }
        let there = std::fs::metadata(&entry.output).ok()?;
        (there.is_file() && !self.store.made_here(&entry.output)).then(|| {
            ItemError::new(
                ErrorClass::Name,
                format!(
                    "output {} would replace an input of this run that pixmill did not \
                     make (choose another -o or --format)",
                    entry.output.display()
                ),
            )
        })
    }

    /// After the source's last entry: plans a dataset's last data file.
    /// Not after an interrupt: a file cut short is made by the next run.
    pub(crate) fn finish(&mut self) {
        if self.stop.requested() {
            return;
        }
        if !self.batch.is_empty() && !self.flush() {
            return;
        }
        self.store.source_done();
    }

    pub(crate) fn out_dir_canonical(&self) -> &Path {
        self.out.canonical()
    }

    /// Whether a walk of `root` reaches into the output folder (see
    /// `walked_outputs`).
    pub(crate) fn walks_outputs(&self, root: &Path) -> bool {
        std::fs::canonicalize(root).is_ok_and(|r| self.walked_outputs.contains(&r))
    }

    /// Whether the file at `path` is an output pixmill made.
    pub(crate) fn made_here(&self, path: &Path) -> bool {
        self.store.made_here(path)
    }

    /// Plans one raw entry and passes it on; false when the run is
    /// stopping or the next stage is gone.
    pub(crate) fn plan(&mut self, mut raw: Raw) -> bool {
        if self.stop.requested() {
            let key = self.key_of(&raw.input, is_url(&raw.input));
            return self.count_untouched(self.in_shard(&key));
        }
        let url = is_url(&raw.input);
        let key = self.key_of(&raw.input, url);
        if !self.in_shard(&key) {
            return true;
        }
        let meta = (!url).then(|| std::fs::metadata(&raw.input).ok()).flatten();
        if let Some(layout) = self.dataset {
            let id = row_id(&key, &raw.extra, meta.as_ref());
            self.batch.push(Waiting {
                raw,
                key,
                url,
                meta,
                id,
            });
            return match self.batch.len() as u64 >= layout.per_file() {
                true => self.flush(),
                false => true,
            };
        }
        // In a dataset every row is its own sample (the same URL may come
        // with another caption), under a key no other row has.
        if self.dataset.is_none()
            && !self
                .names
                .first_sight(identity(&key, meta.as_ref(), raw.output.as_deref()))
        {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let input_raw = crate::item::raw_form(&raw.input);
        let row = Arc::new(Row {
            position: self.rows,
            extra: std::mem::take(&mut raw.extra),
        });
        self.rows += 1;
        let planned = self.decide(raw, key, url, meta, &row, None);
        self.send_row(planned, input_raw, row)
    }

    /// Sends a planned row; every record of a planned entry carries its
    /// row, failures too: a dataset's metadata has a line for each row.
    fn send_row(&mut self, mut planned: Planned, input_raw: Option<String>, row: Arc<Row>) -> bool {
        if let Planned::Done(record) = &mut planned {
            record.input_raw = record.input_raw.take().or(input_raw);
            record.row.get_or_insert(RowRef(row));
        }
        self.send(planned)
    }

    /// Plans a dataset's gathered rows: one data file's, judged together
    /// by the store (kept, made, repaired or refused).
    fn flush(&mut self) -> bool {
        let batch = std::mem::take(&mut self.batch);
        let Some(layout) = self.dataset else {
            return true;
        };
        let ids: Vec<u64> = batch.iter().map(|w| w.id).collect();
        if std::mem::take(&mut self.appending) {
            match self.store.append_at(&ids) {
                Some(Ok(file)) => self.rows = file * layout.per_file(),
                Some(Err(why)) => {
                    let e = ItemError::new(ErrorClass::Exists, why);
                    for w in batch {
                        let label = w.raw.input.to_string_lossy().into_owned();
                        self.send(Planned::Done(Record::failed_input(label, e.clone())));
                    }
                    return false;
                }
                None => {}
            }
        }
        let start = self.rows;
        self.rows += batch.len() as u64;
        let file = layout.file_of(start);
        let verdict = self
            .store
            .judge_file(file, &ids)
            .unwrap_or(Verdict::Make(None));
        for (i, w) in batch.into_iter().enumerate() {
            let Waiting {
                mut raw,
                key,
                url,
                meta,
                ..
            } = w;
            let position = start + i as u64;
            let input_raw = crate::item::raw_form(&raw.input);
            let row = Arc::new(Row {
                position,
                extra: std::mem::take(&mut raw.extra),
            });
            let label = raw.input.to_string_lossy().into_owned();
            let planned = match &verdict {
                Verdict::Make(redo) => self.decide(raw, key, url, meta, &row, *redo),
                Verdict::Repair(retried, _) if retried.get(i) == Some(&true) => {
                    self.decide(raw, key, url, meta, &row, Some(RETRYING))
                }
                Verdict::Repair(_, exts) => {
                    let ext = exts.get(i).cloned().flatten();
                    Planned::Done(self.kept(label, url, position, ext, resume::UP_TO_DATE))
                }
                Verdict::Keep(reason, exts) => {
                    let ext = exts.get(i).cloned().flatten();
                    Planned::Done(self.kept(label, url, position, ext, reason))
                }
                Verdict::Refuse(why) => {
                    let e = ItemError::new(ErrorClass::Exists, why.clone());
                    Planned::Done(Record::failed_input(label, e))
                }
            };
            if !self.send_row(planned, input_raw, row) {
                return false;
            }
        }
        true
    }

    /// The record of a row of a data file kept as it is: skipped, naming
    /// its sample in the file when it has one.
    fn kept(
        &self,
        label: String,
        url: bool,
        position: u64,
        ext: Option<String>,
        why: &str,
    ) -> Record {
        let mut record = Record::blank(label.clone(), Status::Skipped);
        record.url = url.then_some(label);
        record.output = ext.and_then(|ext| self.store.member_name(position, &ext));
        record.skip(why)
    }

    /// The entry's key (see [`crate::naming`]): the URL, or the normalized path.
    fn key_of(&self, input: &OsStr, url: bool) -> String {
        if url {
            return input.to_string_lossy().into_owned();
        }
        naming::local_key(Path::new(input), self.cwd.as_deref())
            .to_string_lossy()
            .into_owned()
    }

    /// Sends a record decided outside planning (walk or manifest errors).
    pub(crate) fn emit_record(&mut self, record: Record) -> bool {
        if self.stop.requested() {
            return self.count_untouched(true);
        }
        self.send(Planned::Done(record))
    }

    /// After stdout closed early the rest of the list is only counted, so
    /// the summary can say how many entries were left untouched; after an
    /// interrupt the source stops at once.
    fn count_untouched(&self, counts: bool) -> bool {
        if !self.counting() {
            return false;
        }
        if counts {
            self.discovered.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    fn send(&mut self, planned: Planned) -> bool {
        self.discovered.fetch_add(1, Ordering::Relaxed);
        let sent = match planned {
            Planned::Download(entry) => self.to_io.as_ref().map(|tx| tx.send(entry).is_ok()),
            Planned::Compute(job) => self.to_cpu.as_ref().map(|tx| tx.send(*job).is_ok()),
            Planned::Done(record) => Some(self.to_sink.send(record).is_ok()),
        };
        sent.unwrap_or(false) && (!self.stop.requested() || self.counting())
    }

    /// Is the rest of the list only to be counted (stdout closed early)?
    fn counting(&self) -> bool {
        self.stop.stdout_closed() && !self.stop.interrupted()
    }

    fn in_shard(&self, key: &str) -> bool {
        match self.config.source.shard {
            None => true,
            Some((index, count)) => naming::stable_hash64(key) % count == index,
        }
    }

    fn decide(
        &self,
        raw: Raw,
        key: String,
        url: bool,
        meta: Option<std::fs::Metadata>,
        row: &Arc<Row>,
        redo: Option<&'static str>,
    ) -> Planned {
        let label = raw.input.to_string_lossy().into_owned();
        if !url && looks_like_other_url(&label) {
            return fail(
                label,
                ErrorClass::Fetch,
                "unsupported URL scheme: only http, https and s3",
            );
        }
        if !url && matches!(self.config.mode, Mode::Fetch) {
            return fail(
                label,
                ErrorClass::Fetch,
                "not a URL: fetch downloads http, https and s3 URLs",
            );
        }
        let (rel, settles) = match self.relative_output(&raw, &key, url, row) {
            Ok(named) => named,
            Err(e) => return Planned::Done(Record::failed_input(label, e)),
        };
        let format = match self.output_format(&raw, &rel, url) {
            Ok(format) => format,
            Err(e) => return Planned::Done(Record::failed_input(label, e)),
        };
        let mut path = self.out.root().join(&rel);
        if raw.output.is_none() || self.dataset.is_some() {
            if let Some(f) = format {
                path = naming::with_extension(&path, f.extension());
            }
        }
        let (input, identity) = if url {
            (
                Input::Url(label.clone()),
                Some(InputId::Url(Validators::default())),
            )
        } else {
            let identity = meta.as_ref().map(InputId::of_file);
            (Input::Path(PathBuf::from(&raw.input)), identity)
        };
        let provenance = Provenance {
            key: naming::stable_hash64(&key),
            settings: self.config.settings_hash(format),
            input: identity
                .clone()
                .unwrap_or(InputId::Url(Validators::default())),
        };
        let mut entry = Entry {
            input,
            label,
            output: path,
            format,
            sha256: raw.sha256,
            provenance,
            revalidate: None,
            redo,
            settles: match (&self.config.mode, settles) {
                (Mode::Fetch, settles) => settles,
                (Mode::Convert(_), _) if url && format.is_none() => Settles::Extension,
                (Mode::Convert(_), _) => Settles::Nothing,
            },
            key,
            row: Some(row.clone()),
            started: Instant::now(),
        };
        if meta
            .as_ref()
            .is_some_and(|m| is_same_file(m, &entry.output))
        {
            let e = ItemError::new(
                ErrorClass::Name,
                "output would replace its input (choose another -o or --format)",
            );
            return Planned::Done(Record::new(&entry, Status::Failed).fail(e));
        }
        if let Some(e) = self.replaces_an_input(&entry) {
            return Planned::Done(Record::new(&entry, Status::Failed).fail(e));
        }
        // Dataset keys are unique by construction: nothing to claim.
        let claimed = match self.dataset {
            Some(_) => Ok(entry.output.clone()),
            None => self
                .names
                .claim(&entry.output, &entry.key, raw.output.is_some()),
        };
        match claimed {
            Ok(output) => entry.output = output,
            Err(e) => return Planned::Done(Record::new(&entry, Status::Failed).fail(e)),
        }
        // A missing input has nothing to compare: it fails when read.
        if identity.is_some() {
            if let Some(done) =
                resume::before(self.store, self.names, &mut entry, self.config.on_exists)
            {
                return Planned::Done(done);
            }
        }
        if self.config.dry_run {
            let mut record = Record::new(&entry, Status::Planned);
            if let Some(output) = self.store.planned_output(&entry) {
                record.output = Some(output);
                record.output_raw = None;
            }
            return Planned::Done(record);
        }
        match (url, format) {
            (true, _) => Planned::Download(entry),
            (false, Some(format)) => Planned::Compute(Box::new(Job {
                record: Record::new(&entry, Status::Ok),
                read_from: PathBuf::from(&raw.input),
                staged: false,
                body: None,
                format,
                entry,
            })),
            (false, None) => fail(
                entry.label,
                ErrorClass::Decode,
                "not a recognised image format",
            ),
        }
    }

    /// The output path relative to `-o`, before any extension change, and
    /// what of it a download's headers settle (for `fetch`; `convert` names
    /// by format).
    fn relative_output(
        &self,
        raw: &Raw,
        key: &str,
        url: bool,
        row: &Row,
    ) -> Result<(PathBuf, Settles), ItemError> {
        if let Some(layout) = &self.dataset {
            // A sample is named by its key; its extension follows its
            // format (or, for `fetch`, its Content-Type).
            return Ok((PathBuf::from(layout.key(row.position)), Settles::Extension));
        }
        if let Some(name) = &raw.output {
            return naming::relative_name(name).map(|rel| (rel, Settles::Nothing));
        }
        Ok(match (&raw.origin, url) {
            (_, true) => match naming::file_name_from_url(key) {
                Some(name) if naming::worth_keeping(&name) => {
                    let open = Path::new(&name).extension().is_none();
                    let settles = if open {
                        Settles::Extension
                    } else {
                        Settles::Nothing
                    };
                    (PathBuf::from(name), settles)
                }
                Some(script) => (Path::new(&script).with_extension(""), Settles::Name),
                None => (PathBuf::from("download"), Settles::Name),
            },
            (Origin::Walk(rel), false) => (rel.clone(), Settles::Nothing),
            (Origin::Listed, false) => (
                naming::mirrored_name(Path::new(&raw.input)),
                Settles::Nothing,
            ),
        })
    }

    /// The output format for `convert` (see [`output_format`]). `None`
    /// for `fetch`, and for a download that names no format.
    fn output_format(&self, raw: &Raw, rel: &Path, url: bool) -> Result<Option<Format>, ItemError> {
        let Mode::Convert(settings) = &self.config.mode else {
            return Ok(None);
        };
        if let Some(f) = output_format::from_flag_or_name(settings, rel) {
            return Ok(Some(f));
        }
        if url {
            // Decided by the body's content once it is in.
            return Ok(None);
        }
        let sniffed = match raw.sniffed {
            Some(f) => f,
            None => crate::input::sniff_file(Path::new(&raw.input))?,
        };
        Ok(Some(output_format::from_content(settings, sniffed)))
    }
}

/// Why a row of a complete data file is done again.
const RETRYING: &str = "retrying a failed row";

/// A dataset row's fingerprint: its key (URL or path), what its manifest
/// row says (caption and columns) and, for a file, which file it is now.
/// A data file is up to date only for the same fingerprints in order.
fn row_id(key: &str, extra: &crate::item::Extra, meta: Option<&std::fs::Metadata>) -> u64 {
    let columns = serde_json::to_string(extra).unwrap_or_default();
    let file = meta.map(|m| format!("{:?}", InputId::of_file(m)));
    naming::stable_hash64(&format!("{key}\0{columns}\0{}", file.unwrap_or_default()))
}

/// What makes two entries the same item: the same file (device and inode,
/// whatever the spelling), else the same key; and the same explicit output
/// name (one input may be asked for under two names).
fn identity(key: &str, meta: Option<&std::fs::Metadata>, output: Option<&str>) -> u64 {
    let output = output.unwrap_or_default();
    #[cfg(unix)]
    if let Some(meta) = meta {
        use std::os::unix::fs::MetadataExt;
        return naming::stable_hash64(&format!("file:{}:{}\0{output}", meta.dev(), meta.ino()));
    }
    let _ = meta;
    naming::stable_hash64(&format!("{key}\0{output}"))
}

/// Is `output` the very file `input` describes? Then writing it would lose
/// the original (and each rerun would see a changed input and redo it).
fn is_same_file(input: &std::fs::Metadata, output: &Path) -> bool {
    let Ok(out) = std::fs::metadata(output) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        input.dev() == out.dev() && input.ino() == out.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (input, out);
        false
    }
}

fn fail(label: String, class: ErrorClass, message: &str) -> Planned {
    Planned::Done(Record::failed_input(label, ItemError::new(class, message)))
}

/// `http://`, `https://` or `s3://`, any case: an input the I/O stage
/// reads.
pub(crate) fn is_url(input: &OsStr) -> bool {
    let Some(s) = input.to_str() else {
        return false;
    };
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("s3://")
}

/// `ftp://x`, `file:///x`: a URL we do not download.
fn looks_like_other_url(s: &str) -> bool {
    match s.split_once("://") {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// The walked input folders whose walk reaches the output folder (see
/// [`Planner::replaces_an_input`]): `-o` is one of them, or lies above
/// one. A walk never enters an output folder below its root, so then
/// nothing written there is an input.
fn walked_outputs(config: &Config, out: &OutDir) -> Vec<PathBuf> {
    let out = out.canonical();
    config
        .source
        .inputs
        .iter()
        .filter(|i| *i != "-")
        .filter_map(|i| std::fs::canonicalize(i).ok())
        .filter(|root| root.is_dir() && root.starts_with(out))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url(OsStr::new("https://example.com/a.jpg")));
        assert!(is_url(OsStr::new("HTTP://example.com/a.jpg")));
        assert!(!is_url(OsStr::new("http.jpg")));
        assert!(!is_url(OsStr::new("photos/http/a.jpg")));
        assert!(looks_like_other_url("ftp://host/a.jpg"));
        assert!(looks_like_other_url("file:///etc/passwd"));
        assert!(!looks_like_other_url("a/b.jpg"));
        assert!(!looks_like_other_url("weird name ://x"));
    }
}
