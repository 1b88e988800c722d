//! Wires the stages together and owns shutdown:
//!
//! ```text
//! source ──bounded──► I/O stage (threads, waiting) ──bounded──► CPU stage (cores) ──► store ──bounded──► sink
//!    └────────────── local files skip the I/O stage ──────────────┘
//! ```
//!
//! The store lands bytes inside each worker (the `files` store) or on its
//! own thread between the workers and the sink (a single-writer store).
//!
//! Every stage runs inside one `std::thread::scope`; a stage ends when its
//! input channel is drained and its senders are dropped, so the run ends
//! by itself once the source is done, and stops early once `Stop` is set.

use crate::config::{Config, Mode, OutputFormat};
use crate::io_stage::{self, IoContext};
use crate::item::{Entry, Job, Record};
use crate::naming::Names;
use crate::output::{self, OutDir};
use crate::process::{self, CpuContext};
use crate::report::{self, Counts, Progress, SinkOptions, StageLoad};
use crate::signal::Stop;
use crate::source::{self, Lists, Outlets, PlanContext, Planner, SourceStats};
use crate::store::dataset::remote::Remote;
use crate::store::dataset::DatasetStore;
use crate::store::objects::ObjectsStore;
use crate::store::{self, files::FilesStore, Finished, OutputStore, Route, Writers};
use crossbeam_channel::bounded;
use pixmill_base::error::Error;
#[cfg(feature = "s3")]
use pixmill_objects::Bucket;
use pixmill_objects::ObjectUrl;
use std::path::Path;
/// No bucket without the `s3` feature (a `-o s3://` is refused first).
#[cfg(not(feature = "s3"))]
type Bucket = std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How a run ended.
pub struct Outcome {
    /// Items by status.
    pub counts: Counts,
    /// Ctrl-C (or SIGTERM) stopped the run early.
    pub interrupted: bool,
    /// The inputs held nothing to do: no entry at all was found.
    pub found_nothing: bool,
    /// The run stopped after work was done because its records could not
    /// be kept (report or stdout unwritable) or a dataset file could not be
    /// completed (disk full): exit 1, not 2.
    pub broke: bool,
}

/// Runs the whole job described by `config`.
pub fn run(config: &Config, stop: &Stop) -> Result<Outcome, Error> {
    let started = Instant::now();
    let remote = remote_out(config)?;
    let out = match &remote {
        Some((url, _)) => open_spool(config, url)?,
        None => open_out_dir(config)?,
    };
    let lists = Lists::open(&config.source)?;
    let mut names = Names::protecting(read_files(config));
    if let Some((report, what)) = config
        .report
        .as_deref()
        .and_then(|r| Some((r, names.protected_at(r)?)))
    {
        // Opening it would empty it before it is read.
        return Err(Error::Usage(format!(
            "--report {} is {what} of this run: writing the report would destroy it",
            report.display()
        )));
    }
    let report_file = open_report(config)?;
    if let Some(report) = &config.report {
        names.protect(report, "the --report file");
    }
    let progress = Progress::new(config.progress, may_download(config));
    let duplicates = Arc::new(AtomicU64::new(0));
    // Records name objects, not the spool folder standing for them.
    let remote_name = remote
        .as_ref()
        .map(|(url, _)| (format!("{}/", out.root().display()), format!("{url}/")));
    let (objects, remote_dataset): (Option<ObjectsStore>, Option<Remote>) =
        match (config.output_format, remote) {
            #[cfg(not(feature = "s3"))]
            (_, Some((_, never))) => match never {},
            #[cfg(feature = "s3")]
            (OutputFormat::Files, Some((url, bucket))) => (
                Some(
                    ObjectsStore::open(
                        &out,
                        url,
                        bucket,
                        config.source.shard,
                        config.dry_run,
                        stop.shared_flag(),
                    )
                    .map_err(Error::Setup)?,
                ),
                None,
            ),
            #[cfg(feature = "s3")]
            (_, Some((url, bucket))) => (
                None,
                Some(
                    Remote::open(
                        bucket,
                        url,
                        config.source.shard,
                        config.dry_run,
                        stop.shared_flag(),
                    )
                    .map_err(Error::Setup)?,
                ),
            ),
            (_, None) => (None, None),
        };
    let files;
    let dataset;
    let store: &dyn OutputStore = match (config.output_format, &objects) {
        (_, Some(objects)) => objects,
        (OutputFormat::Files, None) => {
            files = FilesStore::new(&out, config.fsync);
            &files
        }
        (OutputFormat::Webdataset | OutputFormat::Parquet, None) => {
            dataset = DatasetStore::new(&out, config, remote_dataset).map_err(Error::Setup)?;
            &dataset
        }
    };
    let converting = matches!(config.mode, Mode::Convert(_));
    let (per_worker, mut single) = match store.writers() {
        Writers::PerWorker(make) => (Some(make), None),
        Writers::Single(writer) => (None, Some(writer)),
    };

    let (io_tx, io_rx) = bounded::<Entry>(config.io_threads * 2);
    let (cpu_tx, cpu_rx) = bounded::<Job>(config.jobs * 2);
    let (sink_tx, sink_rx) = bounded::<Record>(1024);
    let io_ctx = IoContext {
        config,
        store,
        names: &names,
        stop,
        progress: &progress,
        fetcher: OnceLock::new(),
        objects: crate::objects_in::ObjectInputs::new(config.fetch.retries as usize),
    };
    let cpu_ctx = CpuContext {
        jobs: config.jobs,
        stop,
        max_input_size: config.max_input_size,
        hash: config.hash,
        bbox_col: config.bbox_col.clone(),
    };
    let plan_ctx = PlanContext {
        config,
        out: &out,
        store,
        names: &names,
        stop,
        discovered: progress.discovered.clone(),
        duplicates: duplicates.clone(),
    };

    let ran = std::thread::scope(|scope| -> Result<Ran, Error> {
        if !config.dry_run {
            // Leftovers of a killed run; harmless to run beside this one.
            // Skipped if no thread can be had: the next run does it.
            let _ = start(scope, "clean", || {
                output::clean_stale_temps(out.canonical())
            });
        }
        let sink_options = SinkOptions {
            json: config.json,
            print0: config.print0,
            report: report_file,
            rename: remote_name.clone(),
        };
        let report_name = config
            .report
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string());
        let progress = &progress;
        let sink = start(scope, "sink", move || {
            report::run_sink(sink_rx, sink_options, progress, stop, &report_name)
        })?;
        // A single-writer store sits between the stages and the sink: every
        // record passes it, finished items with their bytes.
        let (route, sink_tx, store_thread) = match (&per_worker, single.take()) {
            (Some(make), _) => (Route::Direct(&**make), sink_tx, None),
            (None, writer) => {
                let writer =
                    writer.ok_or_else(|| Error::Setup("the store has no writer".into()))?;
                let (fin_tx, fin_rx) = bounded::<Finished>(config.jobs * 2);
                let (rec_tx, rec_rx) = bounded::<Record>(1024);
                let handle = start(scope, "store", move || {
                    store::run_store_thread(writer, fin_rx, rec_rx, sink_tx)
                })?;
                (Route::Queue(fin_tx), rec_tx, Some(handle))
            }
        };
        // Work that computes gets cores: the CPU stage (convert only).
        let cpu = match &config.mode {
            Mode::Convert(settings) => {
                let to = process::StageOut {
                    route: route.clone(),
                    records: sink_tx.clone(),
                };
                let ctx = &cpu_ctx;
                Some(start(scope, "cpu", move || {
                    process::run_stage(config.backend, settings, ctx, cpu_rx, to)
                })?)
            }
            Mode::Fetch => {
                drop(cpu_rx);
                None
            }
        };
        // Work that waits gets threads: the I/O stage.
        let io = {
            let to_cpu = converting.then(|| cpu_tx.clone());
            let tx = sink_tx.clone();
            let ctx = &io_ctx;
            start(scope, "io", move || {
                io_stage::run(ctx, io_rx, to_cpu, route, tx)
            })?
        };
        let outlets = Outlets {
            to_io: Some(io_tx),
            to_cpu: converting.then_some(cpu_tx),
            to_sink: sink_tx,
        };
        let listed = progress.listed.clone();
        let source = start(scope, "source", move || {
            let mut planner = Planner::new(plan_ctx, outlets);
            let stats = source::produce(&config.source, lists, &mut planner);
            listed.store(true, Ordering::Relaxed);
            // A dataset's last data file is planned once the list has ended.
            planner.finish();
            stats
        })?;

        let io_load = joined(io, "I/O stage")?;
        let cpu_load = cpu
            .map(|h| joined(h, "CPU stage"))
            .transpose()?
            .transpose()?;
        // Items were done by now: a data file that cannot be put in place
        // is work lost (exit 1 with the summary), not a setup error.
        let unfinished = match store_thread {
            Some(handle) => joined(handle, "output store")?
                .err()
                .map(|e| format!("cannot complete the output: {e}")),
            None => None,
        };
        let sink_end = joined(sink, "output stage")?;
        let stats = joined(source, "source stage")?;
        let mut loads = Vec::new();
        if io_load.busy.iter().any(|b| !b.is_zero()) {
            loads.push(io_load);
        }
        loads.extend(cpu_load);
        Ok(Ran {
            sink_end,
            loads,
            stats,
            unfinished,
        })
    })?;
    if let Some(objects) = &objects {
        if let Err(e) = objects.flush() {
            report::eprint_line(&format!("pixmill: warning: {e}"));
        }
    }
    let merged = duplicates.load(Ordering::Relaxed);
    Ok(finish(
        config,
        stop,
        &progress,
        ran,
        started.elapsed(),
        merged,
    ))
}

/// What the stages hand back when they are all done.
struct Ran {
    sink_end: report::SinkEnd,
    loads: Vec<StageLoad>,
    stats: SourceStats,
    /// Why the output store could not complete its files.
    unfinished: Option<String>,
}

/// A stage's result, or a setup error naming the stage that panicked.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>, stage: &str) -> Result<T, Error> {
    handle
        .join()
        .map_err(|_| Error::Setup(format!("the {stage} panicked")))
}

/// Says how the run ended on stderr and makes the outcome.
fn finish(
    config: &Config,
    stop: &Stop,
    progress: &Progress,
    ran: Ran,
    wall: Duration,
    merged: u64,
) -> Outcome {
    let Ran {
        sink_end,
        loads,
        stats,
        unfinished,
    } = ran;
    let counts = sink_end.counts;
    if let Some(why) = &sink_end.broke {
        report::eprint_line(&format!(
            "pixmill: {why}; the run stopped (outputs written so far are complete)"
        ));
    }
    if let Some(why) = &unfinished {
        report::eprint_line(&format!("pixmill: {why}"));
    }
    let interrupted = stop.interrupted();
    let found_nothing = stats.entries == 0 && !interrupted;
    if found_nothing {
        // Said even with -q: it is why the run did nothing (exit 2).
        let why = stats
            .passed_over()
            .map_or_else(String::new, |p| format!(" ({p})"));
        report::eprint_line(&format!("pixmill: no input found: nothing to do{why}"));
    } else if !config.quiet {
        let untouched = stop.stdout_closed().then(|| {
            progress
                .discovered
                .load(Ordering::Relaxed)
                .saturating_sub(counts.total())
        });
        let summary = report::Summary {
            counts: &counts,
            wall,
            loads: &loads,
            interrupted,
            untouched,
            passed_over: stats.passed_over(),
            merged,
        };
        report::eprint_line(&summary.render());
    }
    Outcome {
        counts,
        interrupted,
        found_nothing,
        broke: sink_end.broke.is_some() || unfinished.is_some(),
    }
}

/// A download bar when downloads are possible: fetch, or a list that may
/// hold URLs.
fn may_download(config: &Config) -> bool {
    !matches!(config.mode, Mode::Convert(_))
        || !config.source.manifests.is_empty()
        || config
            .source
            .inputs
            .iter()
            .any(|i| i == "-" || source::is_url(i))
}

/// Starts one of the run's stage threads; a thread that cannot be had
/// (a container's pids.max, `ulimit -u`) is a setup error, not a panic.
fn start<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, T>, Error> {
    std::thread::Builder::new()
        .name(format!("pixmill-{name}"))
        .spawn_scoped(scope, f)
        .map_err(|e| Error::Setup(format!("cannot start the {name} thread: {e}")))
}

/// The files this run reads (see [`Names::protecting`]): input files
/// given as arguments, and lists.
fn read_files(config: &Config) -> impl Iterator<Item = (&Path, &'static str)> {
    let source = &config.source;
    let inputs = source
        .inputs
        .iter()
        .filter(|i| *i != "-")
        .map(|i| (Path::new(i), "an input"));
    let lists = source
        .manifests
        .iter()
        .map(|m| (m.as_path(), "the list (-m)"));
    inputs.chain(lists)
}

fn open_report(config: &Config) -> Result<Option<std::fs::File>, Error> {
    let Some(path) = &config.report else {
        return Ok(None);
    };
    report::open_report(path).map(Some).map_err(|e| {
        Error::Setup(format!(
            "cannot write report {}: {}",
            path.display(),
            pixmill_base::io_reason(&e)
        ))
    })
}

/// `-o s3://bucket/prefix`: the prefix and its bucket (no request yet).
fn remote_out(config: &Config) -> Result<Option<(ObjectUrl, Bucket)>, Error> {
    let Some(text) = config.out_dir.to_str() else {
        return Ok(None);
    };
    let Some(url) = ObjectUrl::parse(text).map_err(Error::Usage)? else {
        return Ok(None);
    };
    #[cfg(not(feature = "s3"))]
    return Err(Error::Usage(format!(
        "-o {url}: {}",
        crate::objects_in::NO_S3
    )));
    #[cfg(feature = "s3")]
    {
        let bucket = Bucket::open(&url.bucket, config.fetch.retries as usize)
            .map_err(|e| Error::Setup(format!("cannot use {url}: {e}")))?;
        Ok(Some((url, bucket)))
    }
}

/// The local folder that stands for an `s3://` prefix while a run plans
/// names and streams downloads: one per prefix and shard, so a rerun on
/// the same machine finds the partial downloads it can continue.
fn open_spool(config: &Config, url: &ObjectUrl) -> Result<OutDir, Error> {
    let shard = config
        .source
        .shard
        .map_or_else(String::new, |(i, n)| format!(" {i}/{n}"));
    let hash = pixmill_base::hashing::stable_hash(format!("{url}{shard}").as_bytes());
    let spool = std::env::temp_dir().join(format!("pixmill-spool-{hash:016x}"));
    // Made even for --dry-run: it is local state, and a dataset's rules
    // are judged in it.
    OutDir::create(&spool).map_err(|e| {
        Error::Setup(format!(
            "cannot make the spool folder {} for {url}: {}",
            spool.display(),
            pixmill_base::io_reason(&e)
        ))
    })
}

fn open_out_dir(config: &Config) -> Result<OutDir, Error> {
    // `-o photo.jpg` (or a folder below a file): say what is in the way,
    // not the "File exists" the OS gives.
    let in_the_way = config
        .out_dir
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .find(|a| a.exists() && !a.is_dir());
    if let Some(file) = in_the_way {
        let what = if file == config.out_dir {
            "it is a file, not a directory".to_string()
        } else {
            format!("{} is a file, not a directory", file.display())
        };
        return Err(Error::Setup(format!(
            "cannot use output folder {}: {what}",
            config.out_dir.display()
        )));
    }
    let made = if config.dry_run {
        OutDir::resolve(&config.out_dir)
    } else {
        OutDir::create(&config.out_dir)
    };
    made.map_err(|e| {
        Error::Setup(format!(
            "cannot use output folder {}: {}",
            config.out_dir.display(),
            pixmill_base::io_reason(&e)
        ))
    })
}
