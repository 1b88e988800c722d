//! The I/O stage: `--io-threads` threads that spend their lives waiting on
//! the network, so many of them overlap many downloads. Each body streams
//! to a temp file beside its output; `fetch` renames it into place,
//! `convert` hands it to the CPU stage as soon as it arrives.

use crate::config::{Config, Mode};
use crate::error::{ErrorClass, ItemError};
use crate::fetch::{naming, FetchFailure, Fetched, Fetcher};
use crate::item::{millis, Entry, Input, Job, Record, Status};
use crate::output::{self, Claim, Claims, OutDir};
use crate::report::{Progress, StageLoad};
use crate::signal::Stop;
use crate::source::{clash, plan_check_exists};
use crossbeam_channel::{Receiver, Sender};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What the download threads share.
pub struct IoContext<'a> {
    pub config: &'a Config,
    pub out: &'a OutDir,
    pub claims: &'a Claims,
    pub stop: &'a Stop,
    pub progress: &'a Progress,
    /// Built on the first URL, so a run over local files never pays for it.
    pub fetcher: OnceLock<Result<Fetcher, String>>,
}

/// Runs the download threads until `entries` is drained.
pub fn run(
    ctx: &IoContext,
    entries: Receiver<Entry>,
    to_cpu: Option<Sender<Job>>,
    to_sink: Sender<Record>,
) -> StageLoad {
    let threads = ctx.config.io_threads;
    let mut busy = vec![Duration::ZERO; threads];
    std::thread::scope(|scope| {
        for (i, busy) in busy.iter_mut().enumerate() {
            let (entries, to_cpu, to_sink) = (entries.clone(), to_cpu.clone(), to_sink.clone());
            std::thread::Builder::new()
                .name(format!("pixmill-io-{i}"))
                .spawn_scoped(scope, move || {
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
                            Next::Dropped => true,
                        };
                        if !sent {
                            return;
                        }
                    }
                })
                .expect("spawning an I/O thread");
        }
    });
    let mut load = StageLoad::new("download", busy);
    if let Some(Ok(fetcher)) = ctx.fetcher.get() {
        load.waiting = fetcher.host_waited();
        load.wait_limit = Some(format!("--per-host {}", fetcher.per_host()));
    }
    load
}

enum Next {
    Compute(Job),
    Done(Record),
    /// Cut short by an interrupt: neither done nor failed, so no record;
    /// a rerun does it.
    Dropped,
}

fn download(ctx: &IoContext, mut entry: Entry) -> Next {
    let mut record = Record::new(&entry, Status::Ok);
    let Input::Url(url) = entry.input.clone() else {
        let e = ItemError::new(ErrorClass::Fetch, "not a URL");
        return done(record.fail(e), &entry);
    };
    let fetcher = match ctx
        .fetcher
        .get_or_init(|| Fetcher::new(ctx.config.fetch.clone()).map_err(|e| e.to_string()))
    {
        Ok(f) => f,
        Err(e) => {
            return done(
                record.fail(ItemError::new(ErrorClass::Fetch, e.clone())),
                &entry,
            )
        }
    };
    if let Err(e) = ctx.out.prepare_parent(&entry.output) {
        return done(record.fail(e), &entry);
    }
    let temp = output::temp_path(&entry.output);
    let started = Instant::now();
    let result = fetcher.fetch(&url, &temp, entry.sha256.as_deref(), ctx.stop.flag());
    record.fetch_ms = Some(millis(started.elapsed()));
    let fetched = match result {
        Ok(fetched) => fetched,
        Err(_) if ctx.stop.requested() => return Next::Dropped,
        Err(FetchFailure {
            error,
            http_status,
            attempts,
        }) => {
            record.http_status = http_status;
            record.attempts = Some(attempts);
            return done(record.fail(error), &entry);
        }
    };
    record.http_status = Some(fetched.http_status);
    record.attempts = Some(fetched.attempts);
    record.bytes_in = Some(fetched.bytes);
    ctx.progress.fetched.inc(fetched.bytes);
    match &ctx.config.mode {
        Mode::Fetch => finish_fetch(ctx, entry, record, temp, &fetched),
        Mode::Convert(_) => {
            let sniffed = crate::process::sniff_file(&temp).ok();
            if sniffed.is_none() && is_html(fetched.content_type.as_deref()) {
                // A login page or an error page with status 200.
                let _ = std::fs::remove_file(&temp);
                let e = ItemError::new(ErrorClass::Decode, "server sent text/html, not an image");
                return done(record.fail(e), &entry);
            }
            let format = match entry.format.or(sniffed) {
                Some(f) => f,
                None => {
                    let _ = std::fs::remove_file(&temp);
                    let e = ItemError::new(ErrorClass::Decode, "not a recognised image format");
                    return done(record.fail(e), &entry);
                }
            };
            if entry.format.is_none() {
                entry.output = output::with_extension(&entry.output, format.extension());
                entry.format = Some(format);
                if let Some(r) = settle_name(ctx, &mut entry, &temp) {
                    return Next::Done(r);
                }
                record.output = Some(entry.output.display().to_string());
            }
            Next::Compute(Job {
                entry,
                read_from: temp,
                staged: true,
                format,
                record,
            })
        }
    }
}

/// `fetch`: name the file (Content-Type may give the extension) and
/// rename it into place.
fn finish_fetch(
    ctx: &IoContext,
    mut entry: Entry,
    mut record: Record,
    temp: PathBuf,
    fetched: &Fetched,
) -> Next {
    if entry.output.extension().is_none() {
        if let Some(ext) = fetched
            .content_type
            .as_deref()
            .and_then(naming::extension_for_content_type)
        {
            entry.output = output::with_extension(&entry.output, ext);
            if let Some(r) = settle_name(ctx, &mut entry, &temp) {
                return Next::Done(r);
            }
            record.output = Some(entry.output.display().to_string());
        }
    }
    if let Err(e) = output::persist(&temp, &entry.output) {
        return done(record.fail(e), &entry);
    }
    record.bytes_out = Some(fetched.bytes);
    done(record, &entry)
}

/// A name decided only after the download: claim it and apply
/// `--on-exists`, as the planner does for names known up front.
fn settle_name(ctx: &IoContext, entry: &mut Entry, temp: &Path) -> Option<Record> {
    let mut claim = ctx.claims.claim(&entry.output, &entry.label);
    if claim == Claim::Taken {
        entry.output = output::disambiguate(&entry.output, &entry.label);
        claim = ctx.claims.claim(&entry.output, &entry.label);
    }
    let refused = match claim {
        Claim::New => plan_check_exists(entry, ctx.config.on_exists),
        Claim::Duplicate => Some(Record::new(entry, Status::Skipped).skip("duplicate entry")),
        Claim::Taken => Some(clash(entry)),
    };
    if refused.is_some() {
        let _ = std::fs::remove_file(temp);
    }
    refused.map(|r| r.finish(entry))
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
