//! Planning one entry: URL or file, output name, claim against the other
//! entries of the run, `--on-exists`, `--shard`, and where it goes next.

use super::{Origin, Raw};
use crate::config::{Config, Mode, OnExists};
use crate::error::{ErrorClass, ItemError};
use crate::fetch::naming;
use crate::imaging::Format;
use crate::item::{Entry, Input, Job, Record, Status};
use crate::output::{self, Claim, Claims, OutDir};
use crate::signal::Stop;
use crossbeam_channel::Sender;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What the planner hands on.
pub enum Planned {
    /// A URL for the I/O stage.
    Download(Entry),
    /// A local file for the CPU stage.
    Compute(Job),
    /// Already decided (skipped, failed, or a dry-run line).
    Done(Record),
}

/// Plans entries and sends each to the stage that takes it next.
pub struct Planner<'a> {
    config: &'a Config,
    out: &'a OutDir,
    claims: &'a Claims,
    stop: &'a Stop,
    discovered: Arc<AtomicU64>,
    to_io: Option<Sender<Entry>>,
    to_cpu: Option<Sender<Job>>,
    to_sink: Sender<Record>,
}

impl<'a> Planner<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &'a Config,
        out: &'a OutDir,
        claims: &'a Claims,
        stop: &'a Stop,
        discovered: Arc<AtomicU64>,
        to_io: Option<Sender<Entry>>,
        to_cpu: Option<Sender<Job>>,
        to_sink: Sender<Record>,
    ) -> Planner<'a> {
        Planner {
            config,
            out,
            claims,
            stop,
            discovered,
            to_io,
            to_cpu,
            to_sink,
        }
    }

    pub fn out_dir_canonical(&self) -> &Path {
        self.out.canonical()
    }

    /// Plans one raw entry and passes it on; false when the run is
    /// stopping or the next stage is gone.
    pub fn plan(&mut self, raw: Raw) -> bool {
        if self.stop.requested() {
            return self.count_untouched(self.in_shard(&raw.input));
        }
        if !self.in_shard(&raw.input) {
            return true;
        }
        let input_raw = crate::item::raw_form(&raw.input);
        let mut planned = self.decide(raw);
        if let Planned::Done(record) = &mut planned {
            record.input_raw = record.input_raw.take().or(input_raw);
        }
        self.send(planned)
    }

    /// Sends a record decided outside planning (walk or manifest errors).
    pub fn emit_record(&mut self, record: Record) -> bool {
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
            Planned::Compute(job) => self.to_cpu.as_ref().map(|tx| tx.send(job).is_ok()),
            Planned::Done(record) => Some(self.to_sink.send(record).is_ok()),
        };
        sent.unwrap_or(false) && (!self.stop.requested() || self.counting())
    }

    /// Is the rest of the list only to be counted (stdout closed early)?
    fn counting(&self) -> bool {
        self.stop.stdout_closed() && !self.stop.interrupted()
    }

    fn in_shard(&self, input: &OsStr) -> bool {
        match self.config.source.shard {
            None => true,
            Some((index, count)) => {
                output::stable_hash64(&input.to_string_lossy()) % count == index
            }
        }
    }

    fn decide(&self, raw: Raw) -> Planned {
        let label = raw.input.to_string_lossy().into_owned();
        let url = is_url(&raw.input);
        if !url && looks_like_other_url(&label) {
            return fail(
                label,
                ErrorClass::Fetch,
                "unsupported URL scheme: only http and https",
            );
        }
        if !url && matches!(self.config.mode, Mode::Fetch) {
            return fail(
                label,
                ErrorClass::Fetch,
                "not a URL: fetch downloads http and https URLs",
            );
        }
        let rel = match self.relative_output(&raw, &label, url) {
            Ok(rel) => rel,
            Err(e) => return Planned::Done(Record::failed_input(label, e)),
        };
        let format = match self.output_format(&raw, &rel, url) {
            Ok(format) => format,
            Err(e) => return Planned::Done(Record::failed_input(label, e)),
        };
        let mut path = self.out.root().join(&rel);
        if raw.output.is_none() {
            if let Some(f) = format {
                path = output::with_extension(&path, f.extension());
            }
        }
        let input = if url {
            Input::Url(label.clone())
        } else {
            Input::Path(PathBuf::from(&raw.input))
        };
        let mut entry = Entry {
            input,
            label,
            output: path,
            format,
            sha256: raw.sha256,
            started: Instant::now(),
        };
        if let Some(done) = self.claim(&mut entry, url) {
            return Planned::Done(done);
        }
        // A download whose name still lacks its extension is checked
        // against existing files once the Content-Type is known.
        let name_final = !url || format.is_some() || has_extension(&entry.output);
        if name_final {
            if let Some(done) = check_exists(&entry, self.config.on_exists) {
                return Planned::Done(done);
            }
        }
        if self.config.dry_run {
            return Planned::Done(Record::new(&entry, Status::Planned));
        }
        match (url, format) {
            (true, _) => Planned::Download(entry),
            (false, Some(format)) => Planned::Compute(Job {
                record: Record::new(&entry, Status::Ok),
                read_from: PathBuf::from(&raw.input),
                staged: false,
                format,
                entry,
            }),
            (false, None) => fail(
                entry.label,
                ErrorClass::Decode,
                "not a recognised image format",
            ),
        }
    }

    /// The output path relative to `-o`, before any extension change.
    fn relative_output(&self, raw: &Raw, label: &str, url: bool) -> Result<PathBuf, ItemError> {
        if let Some(name) = &raw.output {
            return output::relative_name(name);
        }
        Ok(match (&raw.origin, url) {
            (_, true) => PathBuf::from(
                naming::file_name_from_url(label).unwrap_or_else(|| "download".into()),
            ),
            (Origin::Walk(rel), false) => rel.clone(),
            (Origin::Listed, false) => output::mirrored_name(Path::new(&raw.input)),
        })
    }

    /// The output format for `convert`: `--format`, else the one the
    /// output name or the input name says, else the input's content.
    /// `None` for `fetch`, and for a download that names no format.
    fn output_format(&self, raw: &Raw, rel: &Path, url: bool) -> Result<Option<Format>, ItemError> {
        let Mode::Convert(settings) = &self.config.mode else {
            return Ok(None);
        };
        if let Some(f) = settings.format {
            return Ok(Some(f));
        }
        let named = |p: &Path| {
            p.extension()
                .and_then(|e| e.to_str())
                .and_then(Format::from_extension)
        };
        if let Some(f) = named(rel) {
            return Ok(Some(f));
        }
        if url {
            return Ok(None);
        }
        if let Some(f) = raw.sniffed {
            return Ok(Some(f));
        }
        crate::process::sniff_file(Path::new(&raw.input)).map(Some)
    }

    /// Claims the output for this entry; a record when it cannot go ahead.
    fn claim(&self, entry: &mut Entry, url: bool) -> Option<Record> {
        match self.claims.claim(&entry.output, &entry.label) {
            Claim::New => None,
            Claim::Duplicate => Some(Record::new(entry, Status::Skipped).skip("duplicate entry")),
            Claim::Taken if url => {
                // Different URLs, same name: a stable hash of the URL tells
                // them apart, the same on every rerun.
                entry.output = output::disambiguate(&entry.output, &entry.label);
                match self.claims.claim(&entry.output, &entry.label) {
                    Claim::New => None,
                    Claim::Duplicate => {
                        Some(Record::new(entry, Status::Skipped).skip("duplicate entry"))
                    }
                    Claim::Taken => Some(clash(entry)),
                }
            }
            Claim::Taken => Some(clash(entry)),
        }
    }
}

/// The record of an entry whose output another input already claimed.
pub fn clash(entry: &Entry) -> Record {
    Record::new(entry, Status::Failed).fail(ItemError::new(
        ErrorClass::Clash,
        format!(
            "output {} is already produced by another input of this run",
            entry.output.display()
        ),
    ))
}

/// The `--on-exists` rule for an output that is already there.
pub fn check_exists(entry: &Entry, on_exists: OnExists) -> Option<Record> {
    if on_exists == OnExists::Overwrite || entry.output.symlink_metadata().is_err() {
        return None;
    }
    Some(match on_exists {
        OnExists::Fail => Record::new(entry, Status::Failed).fail(ItemError::new(
            ErrorClass::Exists,
            format!(
                "output {} exists (--on-exists fail)",
                entry.output.display()
            ),
        )),
        _ => Record::new(entry, Status::Skipped).skip("output exists"),
    })
}

fn fail(label: String, class: ErrorClass, message: &str) -> Planned {
    Planned::Done(Record::failed_input(label, ItemError::new(class, message)))
}

fn has_extension(path: &Path) -> bool {
    path.extension().is_some()
}

/// `http://` or `https://`, any case.
pub fn is_url(input: &OsStr) -> bool {
    let Some(s) = input.to_str() else {
        return false;
    };
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
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
