//! The process backend: `--jobs` worker processes of this same binary (the
//! hidden `__worker` command), started once and reused. Each is driven by
//! one coordinator thread over its stdin/stdout with small, versioned JSON
//! lines. Workers read their inputs themselves; the converted bytes come
//! back raw on the pipe right after the JSON reply (the store, not the
//! worker, decides where they land). A worker that dies takes only its item
//! down: it is replaced and the item retried once on the fresh worker.

use super::{abandon, execute, run_job, CpuContext, JobDone, JobSpec, StageOut};
use crate::item::Job;
use crate::report::StageLoad;
use crossbeam_channel::Receiver;
use pixmill_base::error::{Error, ErrorClass, ItemError};
use pixmill_imaging::{Converter, Settings};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bumped whenever a message changes shape.
pub(crate) const PROTOCOL_VERSION: u32 = 2;

/// Coordinator → worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Request {
    Hello { version: u32, settings: Settings },
    Job { id: u64, spec: JobSpec },
}

/// Worker → coordinator.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reply {
    Ready {
        version: u32,
    },
    /// On `Ok`, exactly `bytes_out` raw bytes of output follow the line.
    Done {
        id: u64,
        result: Result<JobDone, ItemError>,
    },
}

/// Runs the CPU stage on worker processes until `jobs` is drained.
pub(crate) fn run(
    settings: &Settings,
    ctx: &CpuContext,
    memory_mb: Option<u64>,
    jobs: Receiver<Job>,
    to: StageOut,
) -> Result<StageLoad, Error> {
    // Start every worker before taking work, so a setup failure (say, the
    // binary vanished) is one clear error rather than a failed item each.
    let workers: Vec<Worker> = (0..ctx.jobs)
        .map(|_| Worker::start(settings, memory_mb))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Setup(format!("cannot start worker processes: {e}")))?;
    let mut busy = vec![Duration::ZERO; ctx.jobs];
    std::thread::scope(|scope| {
        for ((index, busy), worker) in busy.iter_mut().enumerate().zip(workers) {
            let (jobs, mut outlet) = (jobs.clone(), to.outlet());
            scope.spawn(move || {
                let mut slot = Some(worker);
                for job in jobs {
                    if ctx.stop.requested() {
                        abandon(job);
                        continue;
                    }
                    let started = Instant::now();
                    let outcome = execute(job, ctx, index, &mut |spec| match &spec.body {
                        None => run_with_retry(&mut slot, settings, memory_mb, spec),
                        Some(body) => {
                            let spilled = spill(spec, body)?;
                            let result = run_with_retry(&mut slot, settings, memory_mb, &spilled);
                            let _ = std::fs::remove_file(&spilled.read_from);
                            result
                        }
                    });
                    let sent = outlet.send(outcome);
                    *busy += started.elapsed();
                    if !sent {
                        break;
                    }
                }
                // Dropping the worker closes its stdin: it exits.
                drop(slot);
            });
        }
    });
    Ok(StageLoad::new("cpu", busy))
}

/// A worker reads its input from a file: an input kept in memory is
/// written to `read_from` (the name its download would have had).
fn spill(spec: &JobSpec, body: &[u8]) -> Result<JobSpec, ItemError> {
    std::fs::write(&spec.read_from, body).map_err(|e| {
        let reason = pixmill_base::io_reason(&e);
        ItemError::new(
            ErrorClass::Write,
            format!("cannot stage the input: {reason}"),
        )
    })?;
    Ok(JobSpec {
        read_from: spec.read_from.clone(),
        format: spec.format,
        max_input_size: spec.max_input_size,
        hash: spec.hash,
        boxes: spec.boxes.clone(),
        body: None,
    })
}

/// Runs `spec` on the worker in `slot`; if the worker dies, a fresh one
/// tries once more, and a second death fails the item.
fn run_with_retry(
    slot: &mut Option<Worker>,
    settings: &Settings,
    memory_mb: Option<u64>,
    spec: &JobSpec,
) -> Result<JobDone, ItemError> {
    let mut last_death = String::new();
    for _attempt in 0..2 {
        let worker = match slot {
            Some(w) => w,
            None => {
                let fresh = Worker::start(settings, memory_mb).map_err(|e| {
                    ItemError::new(ErrorClass::Worker, format!("cannot start a worker: {e}"))
                })?;
                slot.insert(fresh)
            }
        };
        match worker.run(spec) {
            Ok(result) => return result,
            Err(death) => {
                *slot = None;
                last_death = death;
            }
        }
    }
    Err(ItemError::new(ErrorClass::Worker, last_death))
}

/// One worker process and the pipes to it.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The tail of what the worker wrote to stderr (a panic or an
    /// allocation failure says why it died).
    stderr_tail: Arc<Mutex<String>>,
    next_id: u64,
    line: String,
}

impl Worker {
    fn start(settings: &Settings, memory_mb: Option<u64>) -> std::io::Result<Worker> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        command.arg("__worker").env("RUST_BACKTRACE", "0");
        if let Some(mb) = memory_mb {
            command.arg("--memory-mb").arg(mb.to_string());
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr_tail = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let tail = stderr_tail.clone();
            std::thread::spawn(move || keep_tail(stderr, &tail));
        }
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("worker pipes missing"));
        };
        let mut worker = Worker {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            stderr_tail,
            next_id: 0,
            line: String::new(),
        };
        worker
            .send(&Request::Hello {
                version: PROTOCOL_VERSION,
                settings: settings.clone(),
            })
            .map_err(std::io::Error::other)?;
        match worker.receive().map_err(std::io::Error::other)? {
            Reply::Ready { version } if version == PROTOCOL_VERSION => Ok(worker),
            other => Err(std::io::Error::other(format!(
                "unexpected worker greeting: {other:?}"
            ))),
        }
    }

    /// Sends one job and waits for its result. `Err` means the worker died
    /// (or broke the protocol) and must be replaced; the text says how.
    fn run(&mut self, spec: &JobSpec) -> Result<Result<JobDone, ItemError>, String> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&Request::Job {
            id,
            spec: spec.clone(),
        })?;
        match self.receive()? {
            Reply::Done {
                id: got,
                result: Ok(mut done),
            } if got == id => {
                self.receive_bytes(&mut done)?;
                Ok(Ok(done))
            }
            Reply::Done { id: got, result } if got == id => Ok(result),
            other => Err(format!("worker answered out of turn: {other:?}")),
        }
    }

    /// The raw output bytes that follow a successful reply.
    fn receive_bytes(&mut self, done: &mut JobDone) -> Result<(), String> {
        let len = usize::try_from(done.bytes_out).map_err(|_| "output too large".to_string())?;
        let mut data = vec![0u8; len];
        if self.stdout.read_exact(&mut data).is_err() {
            return Err(self.death());
        }
        done.data = data;
        Ok(())
    }

    fn send(&mut self, request: &Request) -> Result<(), String> {
        let mut text =
            serde_json::to_string(request).map_err(|e| format!("cannot encode job: {e}"))?;
        text.push('\n');
        let stdin = self.stdin.as_mut().ok_or("worker stdin closed")?;
        if stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .is_err()
        {
            return Err(self.death());
        }
        Ok(())
    }

    fn receive(&mut self) -> Result<Reply, String> {
        self.line.clear();
        match self.stdout.read_line(&mut self.line) {
            Ok(0) | Err(_) => Err(self.death()),
            Ok(_) => {
                serde_json::from_str(&self.line).map_err(|e| format!("garbled worker reply: {e}"))
            }
        }
    }

    /// Waits for the dead worker and describes its end.
    fn death(&mut self) -> String {
        self.stdin = None;
        let status = self.child.wait();
        // Give the stderr reader a moment to collect the last words.
        std::thread::sleep(Duration::from_millis(20));
        let tail = self
            .stderr_tail
            .lock()
            .map(|t| t.trim().to_string())
            .unwrap_or_default();
        let how = match status {
            Ok(status) => describe_exit(status),
            Err(e) => format!("worker lost: {e}"),
        };
        match last_words(&tail) {
            Some(words) => format!("{how}: {words}"),
            None => how,
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing stdin asks the worker to exit; wait so no zombie remains.
        self.stdin = None;
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.signal(), status.code()) {
        (Some(sig), _) => format!("worker killed by signal {sig} ({})", signal_name(sig)),
        (None, Some(code)) => format!("worker exited with status {code}"),
        _ => "worker ended".to_string(),
    }
}

#[cfg(not(unix))]
fn describe_exit(status: std::process::ExitStatus) -> String {
    format!("worker ended: {status}")
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGABRT => "SIGABRT: aborted, often out of memory",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}

/// The line of a dead worker's stderr that says why: an allocation failure
/// or a panic message, else its last line.
fn last_words(tail: &str) -> Option<&str> {
    let lines = || tail.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .find(|l| l.contains("memory allocation") || l.contains("panicked"))
        .or_else(|| lines().next_back())
}

/// Keeps the last few hundred bytes a worker writes to stderr.
fn keep_tail(mut stderr: impl Read, tail: &Mutex<String>) {
    let mut buf = [0u8; 512];
    while let Ok(n) = stderr.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Ok(mut t) = tail.lock() {
            t.push_str(&String::from_utf8_lossy(&buf[..n]));
            if t.len() > 1024 {
                let cut = t.len() - 512;
                let cut = (cut..t.len())
                    .find(|i| t.is_char_boundary(*i))
                    .unwrap_or(t.len());
                t.replace_range(..cut, "");
            }
        }
    }
}

/// The hidden `__worker` command: answers jobs on stdin until it closes.
pub(crate) fn serve(memory_mb: Option<u64>) -> Result<(), Error> {
    guard_process(memory_mb)?;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut line = String::new();
    let mut converter: Option<Converter> = None;
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(Error::Setup(format!("worker cannot read its jobs: {e}"))),
        }
        let request: Request = serde_json::from_str(&line)
            .map_err(|e| Error::Usage(format!("worker got a malformed request: {e}")))?;
        let reply = match request {
            Request::Hello { version, settings } => {
                if version != PROTOCOL_VERSION {
                    return Err(Error::Usage(format!(
                        "worker speaks protocol {PROTOCOL_VERSION}, coordinator {version}"
                    )));
                }
                converter = Some(Converter::new(settings));
                Reply::Ready { version }
            }
            Request::Job { id, spec } => {
                let result = match converter.as_mut() {
                    Some(c) => run_job(c, &spec),
                    None => Err(ItemError::new(ErrorClass::Worker, "job before hello")),
                };
                Reply::Done { id, result }
            }
        };
        let text = serde_json::to_string(&reply).map_err(|e| Error::Setup(e.to_string()))?;
        let bytes = match &reply {
            Reply::Done {
                result: Ok(done), ..
            } => done.data.as_slice(),
            _ => &[],
        };
        let sent = writeln!(out, "{text}")
            .and_then(|()| out.write_all(bytes))
            .and_then(|()| out.flush());
        if sent.is_err() {
            // The coordinator is gone: nothing left to do.
            return Ok(());
        }
    }
}

/// A worker never outlives its coordinator, ignores Ctrl-C (the
/// coordinator decides what an interrupt means) and keeps to its memory cap.
fn guard_process(memory_mb: Option<u64>) -> Result<(), Error> {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl and signal with these constant arguments only change
    // this process's own signal dispositions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    if let Some(mb) = memory_mb {
        let bytes = mb.saturating_mul(1024 * 1024) as libc::rlim_t;
        let limit = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        // SAFETY: setrlimit reads the struct we pass and changes only this
        // process's limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
            return Err(Error::Setup(format!(
                "cannot cap worker memory at {mb} MB: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}
