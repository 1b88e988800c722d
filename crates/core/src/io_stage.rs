//! The I/O stage: `--io-threads` threads that spend their lives waiting on
//! the network, so many of them overlap many downloads. Each body streams
//! to the output store's staging path; `fetch` hands it to the store,
//! `convert` to the CPU stage as soon as it arrives.

use crate::config::{Config, Mode};
use crate::item::InputId;
use crate::item::{millis, Entry, Input, Job, Record, Status};
use crate::naming::Settles;
use crate::naming::{self, Names};
use crate::output::partial::PartialFiles;
use crate::report::{Progress, StageLoad};
use crate::signal::Stop;
use crate::store::{resume, Finished, Landed, OutputStore, Payload, Route};
use crossbeam_channel::{Receiver, Sender};
use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_base::hashing::{Checksum, HashAlgo};
use pixmill_fetch::{FetchFailure, FetchSettings, Fetched, Fetcher, OnDemand, Partial};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What the download threads share.
pub(crate) struct IoContext<'a> {
    pub config: &'a Config,
    pub store: &'a dyn OutputStore,
    pub names: &'a Names,
    pub stop: &'a Stop,
    pub progress: &'a Progress,
    /// Built on the first URL, so a run over local files never pays for it.
    pub fetcher: OnceLock<Result<Fetcher, String>>,
    /// `s3://` inputs' buckets, opened on first use.
    pub objects: crate::objects_in::ObjectInputs,
}

/// Runs the download threads until `entries` is drained. `fetch` lands
/// each download through `route` to the store.
pub(crate) fn run(
    ctx: &IoContext,
    entries: Receiver<Entry>,
    to_cpu: Option<Sender<Job>>,
    route: Route,
    to_sink: Sender<Record>,
) -> StageLoad {
    let threads = ctx.config.io_threads;
    let mut busy = vec![Duration::ZERO; threads];
    let mut inline = false;
    std::thread::scope(|scope| {
        for (i, busy) in busy.iter_mut().enumerate() {
            let (entries, to_cpu, to_sink) = (entries.clone(), to_cpu.clone(), to_sink.clone());
            let landing = route.landing();
            let spawned = std::thread::Builder::new()
                .name(format!("pixmill-io-{i}"))
                .spawn_scoped(scope, move || {
                    serve(ctx, entries, to_cpu, landing, to_sink, busy)
                });
            if let Err(e) = spawned {
                // A thread or process limit (a container's pids.max,
                // `ulimit -u`) caps how many start: the run goes on with
                // those that did, or on this thread if none did.
                crate::report::eprint_line(&format!(
                    "pixmill: warning: started {i} of {threads} download threads: {e}"
                ));
                inline = i == 0;
                break;
            }
        }
    });
    if inline {
        serve(ctx, entries, to_cpu, route.landing(), to_sink, &mut busy[0]);
    }
    let mut load = StageLoad::new("download", busy);
    if let Some(Ok(fetcher)) = ctx.fetcher.get() {
        load.waiting = fetcher.host_waited();
        load.wait_limit = Some(format!("--per-host {}", fetcher.per_host()));
    }
    load
}

/// One download thread's life: entries until the list is drained, each
/// downloaded and passed on.
fn serve(
    ctx: &IoContext,
    entries: Receiver<Entry>,
    to_cpu: Option<Sender<Job>>,
    mut landing: crate::store::Landing,
    to_sink: Sender<Record>,
    busy: &mut Duration,
) {
    for entry in entries {
        if ctx.stop.requested() {
            continue;
        }
        let started = Instant::now();
        let next = download(ctx, entry);
        *busy += started.elapsed();
        let sent = match next {
            Next::Compute(job) => match &to_cpu {
                Some(tx) => tx
                    .send(job)
                    .map_err(|e| crate::process::abandon(e.0))
                    .is_ok(),
                None => false,
            },
            Next::Done(record) => to_sink.send(record).is_ok(),
            Next::Store(finished) => match landing.land(finished) {
                Landed::Record(record) => to_sink.send(*record).is_ok(),
                Landed::Queued => true,
                Landed::Closed => false,
            },
            Next::Dropped => true,
        };
        if !sent {
            return;
        }
    }
}

enum Next {
    Compute(Job),
    /// A finished download for the store (`fetch`).
    Store(Finished),
    Done(Record),
    /// Cut short by an interrupt: neither done nor failed, so no record;
    /// a rerun does it.
    Dropped,
}

/// The run's network settings, and where bodies go: an image that
/// `convert` decodes at once is kept in memory when it is announced under
/// [`in_memory_below`] (in a dataset run the temp file's create, writes,
/// reads and unlink cost more system time than the body's bytes; worker
/// processes, which read files, get it written where its download would
/// have gone). `fetch` keeps files: they are its output.
fn fetch_settings(config: &Config) -> FetchSettings {
    let mut settings = config.fetch.clone();
    if matches!(config.mode, Mode::Convert(_)) {
        settings.in_memory_below = in_memory_below(config.io_threads);
    }
    settings
}

/// Bodies in memory at once, at most: one per download thread (waiting to
/// hand it on), plus the few in the CPU stage's queue and hands.
const IN_MEMORY_BUDGET: u64 = 64 << 20;

/// The largest body `convert` keeps in memory: 1 MiB (most web images;
/// staging the rest of the dataset corpus's to files cost a twentieth of
/// its system time), less with so many download threads that their bodies
/// would pass [`IN_MEMORY_BUDGET`], never under the 256 KiB a download
/// must reach to be worth continuing after a kill.
fn in_memory_below(io_threads: usize) -> u64 {
    let share = IN_MEMORY_BUDGET / (io_threads.max(1) as u64);
    share.clamp(pixmill_fetch::WORTH_CONTINUING, 1 << 20)
}

/// The fetcher names the file it could not write, here the temp the
/// download goes to; the user asked for (and the record names) the output.
fn named_as_output(mut error: ItemError, temp: &Path, output: &Path) -> ItemError {
    if error.class == ErrorClass::Write {
        let (temp, output) = (temp.display().to_string(), output.display().to_string());
        error.message = error.message.replace(&temp, &output);
    }
    error
}

fn download(ctx: &IoContext, entry: Entry) -> Next {
    let mut record = Record::new(&entry, Status::Ok);
    let Input::Url(url) = entry.input.clone() else {
        let e = ItemError::new(ErrorClass::Fetch, "not a URL");
        return done(record.fail(e), &entry);
    };
    let temp = match ctx.store.staging_path(&entry) {
        Ok(temp) => temp,
        Err(e) => return done(record.fail(e), &entry),
    };
    let checks = expected_digests(&entry, &ctx.config.source.columns.hash_columns);
    record.warnings.extend(checks.missing);
    let started = Instant::now();
    if pixmill_objects::is_object_url(&url) {
        let max = ctx
            .config
            .fetch
            .max_size
            .map(|m| (m, ctx.config.fetch.max_size_flag.as_str()));
        let result = ctx.objects.fetch(
            &url,
            &temp,
            entry.revalidate.as_ref(),
            &checks.digests,
            max,
            ctx.stop.flag(),
        );
        return fetched_next(ctx, entry, record, temp, started, result);
    }
    let fetcher = match ctx
        .fetcher
        .get_or_init(|| Fetcher::new(fetch_settings(ctx.config)).map_err(|e| e.to_string()))
    {
        Ok(f) => f,
        Err(e) => {
            return done(
                record.fail(ItemError::new(ErrorClass::Fetch, e.clone())),
                &entry,
            )
        }
    };
    // A download that a rerun can continue if it is cut short: into this
    // output's partial file when one is left to continue (unless another
    // live run owns it: then an ordinary temp), else claimed only once a
    // body worth continuing arrives (a small one goes to memory or a temp,
    // and no partial file is made for it).
    let files = PartialFiles::for_output(&entry.output);
    let partial = Partial {
        data: &files.data,
        sidecar: &files.sidecar,
    };
    let (digests, known, stop) = (&checks.digests, entry.revalidate.as_ref(), ctx.stop.flag());
    let (result, in_partial) = if files.sidecar.symlink_metadata().is_ok() {
        let held = crate::output::partial::claim(&files);
        let result = if held {
            fetcher.fetch_partial(&url, partial, digests, known, stop)
        } else {
            fetcher.fetch_if_changed(&url, &temp, digests, known, stop)
        };
        (result, held)
    } else {
        let claimed = std::cell::Cell::new(false);
        let claim = || {
            claimed.set(crate::output::partial::claim(&files));
            claimed.get()
        };
        let result = fetcher.fetch_claiming(
            &url,
            &temp,
            OnDemand {
                files: partial,
                claim: &claim,
            },
            digests,
            known,
            stop,
        );
        (result, claimed.get())
    };
    let temp = if in_partial { files.data } else { temp };
    fetched_next(ctx, entry, record, temp, started, result)
}

/// What follows a download (or an object read): the record's figures, the
/// up-to-date answer, then the store (`fetch`) or the CPU stage.
fn fetched_next(
    ctx: &IoContext,
    mut entry: Entry,
    mut record: Record,
    temp: PathBuf,
    started: Instant,
    result: Result<Fetched, FetchFailure>,
) -> Next {
    record.fetch_ms = Some(millis(started.elapsed()));
    let mut fetched = match result {
        Ok(fetched) => fetched,
        Err(_) if ctx.stop.requested() => return Next::Dropped,
        Err(FetchFailure {
            error,
            http_status,
            attempts,
        }) => {
            record.http_status = http_status;
            record.attempts = Some(attempts);
            // An opt-out is the server's wish, not a failure.
            if error.class == ErrorClass::Filtered {
                return done(record.skip(&error.message), &entry);
            }
            let error = named_as_output(error, &temp, &entry.output);
            return done(record.fail(error), &entry);
        }
    };
    record.http_status = Some(fetched.http_status);
    record.attempts = Some(fetched.attempts);
    match resume::answered(&entry, fetched.not_modified) {
        Err(up_to_date) => {
            let _ = std::fs::remove_file(&temp);
            record.reason = None;
            return done(record.skip(up_to_date), &entry);
        }
        Ok(Some(redo)) => record.reason = Some(redo.to_string()),
        Ok(None) => {}
    }
    entry.provenance.input = InputId::Url(fetched.validators.clone());
    record.bytes_in = Some(fetched.bytes);
    record.resumed_from = fetched.resumed_from;
    record.warnings.extend(fetched.warnings.iter().cloned());
    ctx.progress.fetched.inc(fetched.bytes);
    match &ctx.config.mode {
        Mode::Fetch => finish_fetch(ctx, entry, record, temp, &fetched),
        Mode::Convert(settings) => {
            // A body pixmill reads but cannot write (HEIC, JPEG XL) becomes
            // JPEG; one it cannot read fails naming its format.
            let body = fetched.body.take();
            let sniffed = match &body {
                Some(body) => crate::input::sniff_bytes(body),
                None => crate::input::sniff_file(&temp),
            };
            if sniffed.is_err() && is_html(fetched.content_type.as_deref()) {
                // A login page or an error page with status 200.
                let _ = std::fs::remove_file(&temp);
                let e = ItemError::new(ErrorClass::Decode, "server sent text/html, not an image");
                return done(record.fail(e), &entry);
            }
            let format = match entry
                .format
                .map(Ok)
                .unwrap_or(sniffed.map(|f| crate::output_format::from_content(settings, f)))
            {
                Ok(f) => f,
                Err(e) => {
                    let _ = std::fs::remove_file(&temp);
                    return done(record.fail(e), &entry);
                }
            };
            if entry.format.is_none() {
                entry.format = Some(format);
                entry.provenance.settings = ctx.config.settings_hash(Some(format));
                let named = naming::with_extension(&entry.output, format.extension());
                if let Some(r) = settle_name(ctx, &mut entry, named, &temp, &mut record) {
                    return Next::Done(r);
                }
            }
            Next::Compute(Job {
                entry,
                read_from: temp,
                staged: body.is_none(),
                body,
                format,
                record,
            })
        }
    }
}

/// `fetch`: name the file (Content-Type may give the extension) and hand
/// it to the store.
fn finish_fetch(
    ctx: &IoContext,
    mut entry: Entry,
    mut record: Record,
    temp: PathBuf,
    fetched: &Fetched,
) -> Next {
    if let Some(algo) = ctx.config.hash {
        match algo.of_file(&temp) {
            Ok(digest) => record.hash = Some(digest),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                let e = ItemError::new(ErrorClass::Read, format!("cannot hash: {e}"));
                return done(record.fail(e), &entry);
            }
        }
    }
    let named_by_server = entry.settles == Settles::Name;
    if let Some(named) = naming::settle_download(&entry.output, entry.settles, fetched) {
        let refused = settle_name(ctx, &mut entry, named, &temp, &mut record);
        if named_by_server && entry.settles == Settles::Nothing {
            // Claimed: a rerun finds this name before the body.
            ctx.store.remember_name(&entry);
        }
        if let Some(r) = refused {
            return Next::Done(r);
        }
    }
    Next::Store(Finished {
        entry,
        record,
        payload: Payload::Staged(temp),
    })
}

/// A name decided only after the download: claimed by the one naming
/// rule, then `--on-exists` applied, as the planner does for names known
/// up front. A record when the item goes no further.
fn settle_name(
    ctx: &IoContext,
    entry: &mut Entry,
    named: PathBuf,
    temp: &Path,
    record: &mut Record,
) -> Option<Record> {
    let refused = match ctx.names.claim(&named, &entry.key, false) {
        Ok(output) => {
            entry.output = output;
            entry.settles = Settles::Nothing;
            resume::after_download(ctx.store, entry, ctx.config.on_exists)
        }
        Err(e) => Some(Record::new(entry, Status::Failed).fail(e)),
    };
    if refused.is_some() {
        let _ = std::fs::remove_file(temp);
    }
    record.output = Some(entry.output.display().to_string());
    record.reason = entry.redo.map(String::from).or(record.reason.take());
    refused.map(|r| r.finish(entry))
}

/// The digests a download must have, and what the record says about
/// `--hash-col` columns the row lacks.
struct Checks {
    digests: Vec<Checksum>,
    missing: Vec<String>,
}

/// The digests an entry's row expects: its `sha256` column, the columns
/// named `md5`, `sha1` and `sha512` (any case), and those `--hash-col`
/// names. An empty cell expects nothing; a cell that is not text is kept
/// as its JSON text, which then fails as an invalid digest.
fn expected_digests(entry: &Entry, named: &[(String, HashAlgo)]) -> Checks {
    let mut checks = Checks {
        digests: Vec::new(),
        missing: Vec::new(),
    };
    if let Some(hex) = &entry.sha256 {
        checks.digests.push(Checksum {
            algo: HashAlgo::Sha256,
            hex: hex.clone(),
        });
    }
    let Some(row) = &entry.row else {
        return checks;
    };
    let cell = |name: &str| {
        row.extra
            .columns
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let defaults = [HashAlgo::Md5, HashAlgo::Sha1, HashAlgo::Sha512].map(|a| (a.name(), a, false));
    let given = named.iter().map(|(n, a)| (n.as_str(), *a, true));
    for (name, algo, asked) in defaults.into_iter().chain(given) {
        let hex = match cell(name) {
            None if asked => {
                checks.missing.push(format!(
                    "no column {name:?} (--hash-col): {} not checked",
                    algo.name()
                ));
                continue;
            }
            None | Some(serde_json::Value::Null) => continue,
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => continue,
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let digest = Checksum { algo, hex };
        if !checks.digests.contains(&digest) {
            checks.digests.push(digest);
        }
    }
    checks
}

fn is_html(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim();
        mime.eq_ignore_ascii_case("text/html") || mime.eq_ignore_ascii_case("application/xhtml+xml")
    })
}

fn done(record: Record, entry: &Entry) -> Next {
    Next::Done(record.finish(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_kept_in_memory_stay_within_the_budget() {
        // The default 64 download threads: images up to 1 MiB.
        assert_eq!(in_memory_below(64), 1 << 20);
        assert_eq!(in_memory_below(1), 1 << 20);
        // More threads: a smaller share each, never under what is worth
        // continuing after a kill.
        assert_eq!(in_memory_below(128), 512 << 10);
        assert_eq!(in_memory_below(4096), pixmill_fetch::WORTH_CONTINUING);
        for threads in [1, 16, 64, 100, 256] {
            assert!(threads as u64 * in_memory_below(threads) <= IN_MEMORY_BUDGET);
        }
    }
}
