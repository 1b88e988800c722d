//! The sink: the one thread that owns stdout, the report file, the progress
//! bars and the counts the exit status is folded from; plus the end-of-run
//! summary with each stage's measured load and the bottleneck verdict.

use crate::item::{Record, Status};
use crate::signal::Stop;
use crossbeam_channel::Receiver;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pixmill_base::human_bytes;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts by status, folded into the exit status.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Items done.
    pub ok: u64,
    /// Items left as they were (up to date, filtered, `--on-exists skip`).
    pub skipped: u64,
    /// Items that failed.
    pub failed: u64,
    /// Items a dry run would do.
    pub planned: u64,
    /// Bytes written by the items done.
    pub bytes_out: u64,
}

impl Counts {
    /// Items seen, whatever their status.
    pub fn total(&self) -> u64 {
        self.ok + self.skipped + self.failed + self.planned
    }

    fn add(&mut self, record: &Record) {
        match record.status {
            Status::Ok => self.ok += 1,
            Status::Skipped => self.skipped += 1,
            Status::Failed => self.failed += 1,
            Status::Planned => self.planned += 1,
        }
        self.bytes_out += record.bytes_out.unwrap_or(0);
    }
}

/// The progress bars; hidden ones when stderr is not a terminal or `-q`.
#[derive(Clone)]
pub(crate) struct Progress {
    multi: MultiProgress,
    pub fetched: ProgressBar,
    pub done: ProgressBar,
    /// Entries planned so far; the bars' length once the source is done.
    pub discovered: Arc<AtomicU64>,
    /// Set when the source has listed everything: only then is
    /// `discovered` a real total worth a bar and an ETA.
    pub listed: Arc<AtomicBool>,
    has_total: Arc<AtomicBool>,
}

impl Progress {
    pub(crate) fn new(visible: bool, downloads: bool) -> Progress {
        let target = if visible {
            ProgressDrawTarget::stderr_with_hz(8)
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let fetched = if downloads {
            let bar = multi.add(ProgressBar::no_length());
            // Position counts bytes here, so the rate is a byte rate.
            bar.set_style(style(
                "{prefix:>10} {spinner} {binary_bytes} at {binary_bytes_per_sec}",
            ));
            bar.set_prefix("downloaded");
            bar
        } else {
            ProgressBar::hidden()
        };
        // A count, with no total and no ETA, until the listing is complete:
        // a total that grows while the walk runs makes both meaningless.
        let done = multi.add(ProgressBar::no_length());
        done.set_style(style(
            "{prefix:>10} {spinner} {pos} so far ({elapsed}; still listing inputs) {msg}",
        ));
        done.set_prefix("processed");
        Progress {
            multi,
            fetched,
            done,
            discovered: Arc::new(AtomicU64::new(0)),
            listed: Arc::new(AtomicBool::new(false)),
            has_total: Arc::new(AtomicBool::new(false)),
        }
    }

    fn visible(&self) -> bool {
        !self.multi.is_hidden()
    }

    /// A message above the bars (plain stderr when they are hidden).
    fn println(&self, line: &str) {
        if self.visible() {
            let _ = self.multi.println(line);
        } else {
            eprint_line(line);
        }
    }

    /// Runs `write` with the bars wiped, so lines written to stdout (the
    /// same terminal, often) leave no stale copies of the bars behind.
    fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        if self.visible() {
            self.multi.suspend(write)
        } else {
            write()
        }
    }

    /// Once the listing is complete, the bar gets its real total and an ETA.
    fn refresh_length(&self) {
        if !self.listed.load(Ordering::Relaxed) {
            return;
        }
        self.done
            .set_length(self.discovered.load(Ordering::Relaxed));
        if !self.has_total.swap(true, Ordering::Relaxed) {
            self.done.set_style(style(
                "{prefix:>10} {wide_bar} {pos}/{len} ({elapsed}, eta {eta}) {msg}",
            ));
        }
    }

    pub(crate) fn finish(&self) {
        self.fetched.finish_and_clear();
        self.done.finish_and_clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

pub(crate) use pixmill_base::eprint_line;

/// How records are shown and kept.
pub(crate) struct SinkOptions {
    pub json: bool,
    /// End each stdout record with NUL instead of a newline (`--print0`).
    pub print0: bool,
    pub report: Option<File>,
    /// Outputs below the first path are named below the second instead
    /// (the spool folder that stands for an `s3://` prefix).
    pub rename: Option<(String, String)>,
}

/// What the sink ends with: the counts, and why it stopped the run when it
/// could not keep its records (a report or stdout that failed mid-run).
pub(crate) struct SinkEnd {
    pub counts: Counts,
    pub broke: Option<String>,
}

/// Runs the sink until every sender is gone. A report or stdout that fails
/// mid-run stops the run (the records would be lost) but still drains and
/// counts what is in flight; that is a failure of the run, not a setup
/// error, since work was done.
/// A record's output below `from` named below `to` instead.
fn rename_output(record: &mut Record, from: &str, to: &str) {
    if let Some(rest) = record.output.as_deref().and_then(|o| o.strip_prefix(from)) {
        record.output = Some(format!("{to}{rest}"));
        record.output_raw = None;
    }
}

pub(crate) fn run_sink(
    records: Receiver<Record>,
    mut options: SinkOptions,
    progress: &Progress,
    stop: &Stop,
    report_name: &str,
) -> SinkEnd {
    let mut broke = None;
    let mut fail = |what: String, e: io::Error| {
        if broke.is_none() {
            broke = Some(format!("{what}: {}", pixmill_base::io_reason(&e)));
            stop.request();
        }
    };
    let mut counts = Counts::default();
    let stdout = io::stdout();
    let mut out = Some(BufWriter::new(stdout.lock()));
    let mut report = options.report.take().map(BufWriter::new);
    for mut record in records {
        if let Some((from, to)) = &options.rename {
            rename_output(&mut record, from, to);
        }
        counts.add(&record);
        progress.refresh_length();
        progress.done.inc(1);
        if record.status == Status::Failed {
            progress.println(&one_line(&format!(
                "pixmill: {}: {}",
                record.input,
                record.error.as_deref().unwrap_or("failed")
            )));
        }
        for warning in &record.warnings {
            progress.println(&one_line(&format!(
                "pixmill: {}: warning: {warning}",
                record.input
            )));
        }
        if let Some(w) = out.as_mut() {
            if let Err(e) = progress.suspend(|| write_stdout(w, &record, &options)) {
                out = None;
                if e.kind() == io::ErrorKind::BrokenPipe {
                    // `pixmill … | head`: the reader has seen enough. Stop
                    // taking new work, as `find | head` would; the summary
                    // says so.
                    stop.stdout_closed_early();
                } else {
                    fail("cannot write to stdout".into(), e);
                }
            }
        }
        if let Some(w) = report.as_mut() {
            // Records are written as items finish, so a killed run's report
            // still lists what it finished.
            if let Err(e) = write_report_line(w, &record) {
                report = None;
                fail(format!("cannot write report {report_name}"), e);
            }
        }
    }
    progress.finish();
    SinkEnd { counts, broke }
}

fn write_report_line(w: &mut impl Write, record: &Record) -> io::Result<()> {
    serde_json::to_writer(&mut *w, record)?;
    w.write_all(b"\n")?;
    w.flush()
}

fn write_stdout(w: &mut impl Write, record: &Record, options: &SinkOptions) -> io::Result<()> {
    let end: &[u8] = if options.print0 { b"\0" } else { b"\n" };
    if options.json {
        serde_json::to_writer(&mut *w, record)?;
    } else {
        let output = path_bytes(&record.output, &record.output_raw);
        match (record.status, output) {
            (Status::Ok, Some(output)) => w.write_all(&output)?,
            (Status::Planned, Some(output)) => {
                let input = path_bytes(&Some(record.input.clone()), &record.input_raw);
                w.write_all(&input.unwrap_or_default())?;
                w.write_all(b" -> ")?;
                w.write_all(&output)?;
            }
            _ => return Ok(()),
        }
    }
    w.write_all(end)?;
    // Line by line, so a pipeline downstream sees items as they finish.
    w.flush()
}

/// A path's real bytes: from its lossless form when it is not UTF-8, so a
/// pipeline gets the name that is on disk, never one with U+FFFD in it.
fn path_bytes(shown: &Option<String>, raw: &Option<String>) -> Option<Vec<u8>> {
    match raw {
        Some(raw) => Some(crate::item::raw_bytes(raw)),
        None => shown.as_ref().map(|s| s.clone().into_bytes()),
    }
}

/// Opens the report file (truncating it), a setup step that fails the run.
pub(crate) fn open_report(path: &Path) -> io::Result<File> {
    File::create(path)
}

/// Measured load of one stage: how long each of its workers was busy, and
/// how much of that was spent waiting on a limit rather than working.
#[derive(Debug, Clone)]
pub(crate) struct StageLoad {
    pub name: &'static str,
    /// Per worker, waiting for a limit included.
    pub busy: Vec<Duration>,
    /// All workers together: time spent waiting for a slot under
    /// `wait_limit` (the per-host cap), not working.
    pub waiting: Duration,
    /// The option that sets the limit waited on, e.g. `--per-host 8`.
    pub wait_limit: Option<String>,
}

impl StageLoad {
    pub(crate) fn new(name: &'static str, busy: Vec<Duration>) -> StageLoad {
        StageLoad {
            name,
            busy,
            waiting: Duration::ZERO,
            wait_limit: None,
        }
    }

    /// Share of the stage's capacity over `wall` spent working (waiting on
    /// a limit excluded), 0–1.
    pub(crate) fn utilization(&self, wall: Duration) -> f64 {
        let busy: Duration = self.busy.iter().sum();
        self.share(busy.saturating_sub(self.waiting), wall)
    }

    /// Share of the stage's capacity over `wall` spent waiting on its limit.
    pub(crate) fn waiting_share(&self, wall: Duration) -> f64 {
        self.share(self.waiting, wall)
    }

    fn share(&self, part: Duration, wall: Duration) -> f64 {
        if self.busy.is_empty() || wall.is_zero() {
            return 0.0;
        }
        let capacity = self.busy.len() as f64 * wall.as_secs_f64();
        (part.as_secs_f64() / capacity).clamp(0.0, 1.0)
    }

    /// One summary line: what the workers spent their time on.
    fn describe(&self, wall: Duration) -> String {
        let pc = |u: f64| (u * 100.0).round();
        let mut line = format!(
            "{} stage: {} workers, {}% busy",
            self.name,
            self.busy.len(),
            pc(self.utilization(wall))
        );
        let waited = pc(self.waiting_share(wall));
        if let (Some(limit), true) = (&self.wait_limit, waited >= 1.0) {
            line.push_str(&format!(", {waited}% waiting for a {limit} slot"));
        }
        line
    }
}

/// Runs shorter than this are not judged: start-up and the last item's
/// tail would decide the verdict, not the stages.
const MIN_JUDGED_RUN: Duration = Duration::from_millis(500);

/// Which stage or limit held the run back, from measured time, with one
/// concrete suggestion.
pub(crate) fn verdict(
    io: Option<&StageLoad>,
    cpu: Option<&StageLoad>,
    wall: Duration,
) -> Option<String> {
    let pc = |u: f64| (u * 100.0).round();
    if let Some(held) = io.and_then(|io| held_by_limit(io, wall)) {
        return Some(held);
    }
    match (io, cpu) {
        (Some(io), Some(cpu)) => {
            let (iu, cu) = (io.utilization(wall), cpu.utilization(wall));
            let threads = io.busy.len();
            Some(if cu >= 0.75 {
                format!(
                    "CPU limited this run: download threads were idle {}% of the time; \
                     more cores would help, more --io-threads would not",
                    pc(1.0 - iu)
                )
            } else if iu >= 0.6 {
                format!(
                    "downloads limited this run: CPU workers were idle {}% of the time; \
                     try --io-threads {}",
                    pc(1.0 - cu),
                    (threads * 2).max(threads + 1)
                )
            } else {
                format!(
                    "neither stage was saturated (downloads {}% busy, CPU {}% busy): \
                     the input list held the run back",
                    pc(iu),
                    pc(cu)
                )
            })
        }
        (Some(io), None) => {
            let iu = io.utilization(wall);
            let threads = io.busy.len();
            Some(if iu >= 0.8 {
                format!(
                    "downloads kept all {threads} threads busy ({}%); try --io-threads {} if the servers allow",
                    pc(iu),
                    threads * 2
                )
            } else {
                format!(
                    "download threads were idle {}% of the time: the input list \
                     or the disk held the run back, not --io-threads",
                    pc(1.0 - iu)
                )
            })
        }
        (None, Some(cpu)) => {
            let cu = cpu.utilization(wall);
            Some(if cu >= 0.75 {
                format!(
                    "CPU limited this run: workers were busy {}% of the time",
                    pc(cu)
                )
            } else {
                format!(
                    "CPU workers were idle {}% of the time: reading inputs or writing outputs held the run back",
                    pc(1.0 - cu)
                )
            })
        }
        (None, None) => None,
    }
}

/// "--per-host 8 held the run back" when download threads spent more time
/// waiting for a slot than downloading, and a good share of it: raising
/// --io-threads would then only add waiters.
fn held_by_limit(io: &StageLoad, wall: Duration) -> Option<String> {
    let limit = io.wait_limit.as_ref()?;
    let (waited, worked) = (io.waiting_share(wall), io.utilization(wall));
    (waited >= 0.3 && waited > worked).then(|| {
        format!(
            "{limit} held the run back: threads waited for a slot {}% of the time \
             (downloading {}%); raise {} if the server allows, more --io-threads would not help",
            (waited * 100.0).round(),
            (worked * 100.0).round(),
            limit.split(' ').next().unwrap_or(limit)
        )
    })
}

/// Everything the end-of-run paragraph on stderr says, in one place.
pub(crate) struct Summary<'a> {
    pub counts: &'a Counts,
    pub wall: Duration,
    /// Each stage's busy time (stages that did no work are left out).
    pub loads: &'a [StageLoad],
    pub interrupted: bool,
    /// Entries left untouched because stdout closed early.
    pub untouched: Option<u64>,
    /// What the source passed over (hidden files, non-images), if anything.
    pub passed_over: Option<String>,
    /// Entries merged into an earlier one (the same input again).
    pub merged: u64,
}

impl Summary<'_> {
    /// The paragraph: counts and rate, each stage's load, the verdict on
    /// what held the run back, and why the run left entries alone.
    pub(crate) fn render(&self) -> String {
        let counts = self.counts;
        let secs = self.wall.as_secs_f64();
        let rate = if secs > 0.0 {
            counts.ok as f64 / secs
        } else {
            0.0
        };
        let mut text = format!(
            "pixmill: {} ok, {} skipped, {} failed",
            counts.ok, counts.skipped, counts.failed
        );
        if counts.planned > 0 {
            text.push_str(&format!(", {} planned (dry run)", counts.planned));
        }
        text.push_str(&format!(" in {secs:.2} s ({rate:.1} items/s"));
        if counts.bytes_out > 0 {
            text.push_str(&format!(", {} written", human_bytes(counts.bytes_out)));
        }
        text.push(')');
        if self.interrupted {
            text.push_str("; interrupted: rerun the same command to finish the rest");
        }
        // Loads and the verdict mean something only when work was done.
        let worked = counts.ok + counts.failed;
        if worked > 0 {
            for load in self.loads.iter().filter(|l| !l.busy.is_empty()) {
                text.push_str(&format!("\n  {}", load.describe(self.wall)));
            }
            if let Some(v) = self.verdict(worked) {
                text.push_str(&format!("\n  {v}"));
            }
        }
        if let Some(untouched) = self.untouched {
            text.push_str(&format!(
                "\n  stopped early: stdout was closed; {untouched} {} left untouched \
                 (rerun the same command to do them)",
                if untouched == 1 { "entry" } else { "entries" }
            ));
        }
        if let Some(passed) = &self.passed_over {
            text.push_str(&format!("\n  passed over: {passed}"));
        }
        if self.merged > 0 {
            let entries = if self.merged == 1 { "entry" } else { "entries" };
            text.push_str(&format!(
                "\n  {} duplicate {entries} merged (the same input given again, under any spelling)",
                self.merged
            ));
        }
        text
    }

    /// A verdict only when there was enough work to keep every worker busy
    /// for long enough to judge.
    fn verdict(&self, worked: u64) -> Option<String> {
        let workers = self
            .loads
            .iter()
            .map(|l| l.busy.len() as u64)
            .max()
            .unwrap_or(1);
        if worked < 2 * workers || self.wall < MIN_JUDGED_RUN {
            return None;
        }
        let io = self.loads.iter().find(|l| l.name == "download");
        let cpu = self.loads.iter().find(|l| l.name == "cpu");
        verdict(io, cpu, self.wall)
    }
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`), so an
/// item's message is one line whatever its file name or error text hold.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| match c {
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &'static str, busy_secs: &[f64]) -> StageLoad {
        let busy = busy_secs
            .iter()
            .map(|s| Duration::from_secs_f64(*s))
            .collect();
        StageLoad::new(name, busy)
    }

    #[test]
    fn waiting_for_a_per_host_slot_is_named_as_the_limit() {
        let wall = Duration::from_secs(10);
        let mut io = load("download", &[10.0; 4]);
        io.waiting = Duration::from_secs(28);
        io.wait_limit = Some("--per-host 1".into());
        let v = verdict(Some(&io), None, wall).unwrap();
        assert!(v.starts_with("--per-host 1 held the run back"), "{v}");
        assert!(v.contains("waited for a slot 70%"), "{v}");
        assert!(!v.contains("try --io-threads"), "{v}");
        io.waiting = Duration::from_secs(1);
        let v = verdict(Some(&io), None, wall).unwrap();
        assert!(v.starts_with("downloads kept all 4 threads busy"), "{v}");
    }

    #[test]
    fn verdict_names_the_limiting_stage() {
        let wall = Duration::from_secs(10);
        let io_busy = load("download", &[9.5; 16]);
        let cpu_idle = load("cpu", &[3.0, 3.0]);
        let v = verdict(Some(&io_busy), Some(&cpu_idle), wall).unwrap();
        assert!(v.starts_with("downloads limited"), "{v}");
        assert!(v.contains("idle 70%"), "{v}");
        assert!(v.contains("--io-threads 32"), "{v}");

        let io_idle = load("download", &[1.0; 16]);
        let cpu_busy = load("cpu", &[9.8, 9.7]);
        let v = verdict(Some(&io_idle), Some(&cpu_busy), wall).unwrap();
        assert!(v.starts_with("CPU limited"), "{v}");
        assert!(v.contains("idle 90%"), "{v}");
    }

    #[test]
    fn utilization_is_measured_share() {
        let l = load("cpu", &[5.0, 10.0]);
        assert!((l.utilization(Duration::from_secs(10)) - 0.75).abs() < 1e-9);
        assert_eq!(l.utilization(Duration::ZERO), 0.0);
    }

    #[test]
    fn summary_counts() {
        let counts = Counts {
            ok: 3,
            skipped: 1,
            failed: 2,
            planned: 0,
            bytes_out: 2048,
        };
        let s = Summary {
            counts: &counts,
            wall: Duration::from_secs(2),
            loads: &[],
            interrupted: true,
            untouched: Some(1),
            passed_over: Some("2 hidden".into()),
            merged: 4,
        }
        .render();
        assert!(s.contains("3 ok, 1 skipped, 2 failed"), "{s}");
        assert!(s.contains("1.5 items/s"), "{s}");
        assert!(s.contains("2.0 KiB"), "{s}");
        assert!(s.contains("interrupted"), "{s}");
        assert!(s.contains("1 entry left untouched"), "{s}");
        assert!(s.contains("passed over: 2 hidden"), "{s}");
        assert!(s.contains("4 duplicate entries merged"), "{s}");
    }
}
