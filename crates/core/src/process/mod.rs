//! The CPU stage: read → decode → transform → encode, one item per worker
//! at a time, with one worker per core. It computes bytes and never decides
//! where they land: each finished item goes on to the output store. Two
//! backends run the same job function: threads of one rayon pool (cheap,
//! shared memory) or worker processes (dearer to start and talk to, but a
//! crash takes down only its own item).

pub(crate) mod rayon;
pub(crate) mod worker;

use crate::input::{check_in_memory, read_input};
use crate::item::{millis, Entry, Job, Record};
use crate::report::StageLoad;
use crate::signal::Stop;
use crate::store::{Finished, Payload};
use crossbeam_channel::{Receiver, Sender};
use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_imaging::{Converter, Format};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::PathBuf;
use std::time::Instant;

/// What a CPU worker needs to do one item; small and serializable, so it
/// crosses a pipe to a worker process while the input bytes do not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobSpec {
    pub read_from: PathBuf,
    pub format: Format,
    pub max_input_size: u64,
    /// `--hash`: digest the input bytes.
    #[serde(default)]
    pub hash: Option<pixmill_base::hashing::HashAlgo>,
    /// `--bbox-col`: the item's regions to blur.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boxes: Vec<pixmill_imaging::BlurBox>,
    /// The input, when a download kept it in memory; it never crosses a
    /// pipe (the process backend writes it to `read_from` first).
    #[serde(skip)]
    pub body: Option<Vec<u8>>,
}

/// What a finished job measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobDone {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub width_in: u32,
    pub height_in: u32,
    pub width_out: u32,
    pub height_out: u32,
    /// See [`pixmill_imaging::Converted::crop`].
    #[serde(default)]
    pub crop: Option<pixmill_imaging::CropWindow>,
    /// See [`pixmill_imaging::Converted::warnings`].
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The input bytes' digest, with `--hash`.
    #[serde(default)]
    pub hash: Option<String>,
    /// The converted bytes (`bytes_out` long). A worker process sends them
    /// after its JSON reply, raw, so they are not part of the JSON.
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// Runs one job: read the input and convert it. Pure: the bytes are
/// returned, and the output store decides where they land.
pub(crate) fn run_job(converter: &mut Converter, spec: &JobSpec) -> Result<JobDone, ItemError> {
    let read;
    let data = match &spec.body {
        Some(body) => check_in_memory(body, spec.max_input_size)?,
        None => {
            read = read_input(&spec.read_from, spec.max_input_size)?;
            &read[..]
        }
    };
    let converted = converter.convert_blurred(data, spec.format, &spec.boxes)?;
    Ok(JobDone {
        bytes_in: data.len() as u64,
        bytes_out: converted.data.len() as u64,
        width_in: converted.width_in,
        height_in: converted.height_in,
        width_out: converted.width_out,
        height_out: converted.height_out,
        crop: converted.crop,
        warnings: converted.warnings,
        hash: spec.hash.map(|algo| algo.of_bytes(data)),
        data: converted.data,
    })
}

/// Everything a CPU backend shares with the rest of the run.
pub(crate) struct CpuContext<'a> {
    pub jobs: usize,
    pub stop: &'a Stop,
    pub max_input_size: u64,
    pub hash: Option<pixmill_base::hashing::HashAlgo>,
    /// `--bbox-col`: the manifest column holding each row's boxes to blur.
    pub bbox_col: Option<String>,
}

/// What one job came to: bytes for the store, or a failure for the sink.
pub(crate) enum Outcome {
    Finished(Box<Finished>),
    Failed(Box<Record>),
}

/// One job through a runner (a thread's converter, or a worker process),
/// its result turned into a finished item or a failed record. A staged
/// download is removed afterwards whatever happened.
pub(crate) fn execute(
    job: Job,
    ctx: &CpuContext,
    worker: usize,
    run: &mut dyn FnMut(&JobSpec) -> Result<JobDone, ItemError>,
) -> Outcome {
    let started = Instant::now();
    let Job {
        entry,
        read_from,
        staged,
        body,
        format,
        mut record,
    } = job;
    record.worker = Some(worker);
    let boxes = match boxes_of(&entry, ctx.bbox_col.as_deref()) {
        Ok(boxes) => boxes,
        Err(why) => {
            if staged {
                let _ = fs::remove_file(&read_from);
            }
            let e = ItemError::new(ErrorClass::Manifest, why);
            return Outcome::Failed(Box::new(record.fail(e).finish(&entry)));
        }
    };
    let spec = JobSpec {
        read_from: read_from.clone(),
        format,
        max_input_size: ctx.max_input_size,
        hash: ctx.hash,
        boxes,
        body,
    };
    let result = run(&spec);
    if staged {
        let _ = fs::remove_file(&read_from);
    }
    record.cpu_ms = Some(millis(started.elapsed()));
    match result {
        Ok(done) => {
            record.bytes_in = Some(done.bytes_in);
            record.width_in = Some(done.width_in);
            record.height_in = Some(done.height_in);
            record.width_out = Some(done.width_out);
            record.height_out = Some(done.height_out);
            record.crop = done.crop;
            // A download's warnings came first.
            record.warnings.extend(done.warnings);
            record.warnings.extend(name_mismatch(&entry.output, format));
            record.hash = done.hash;
            Outcome::Finished(Box::new(Finished {
                entry,
                record,
                payload: Payload::Bytes(done.data),
            }))
        }
        // A filtered item is skipped, not failed; its record goes on as is.
        Err(e) if e.class == ErrorClass::Filtered => {
            Outcome::Failed(Box::new(record.skip(&e.message).finish(&entry)))
        }
        Err(e) => Outcome::Failed(Box::new(record.fail(e).finish(&entry))),
    }
}

/// The boxes to blur in `entry`'s image, from its row's `column`: a list
/// of `[x0, y0, x1, y1]` fractions (JSON, or JSON text in a CSV cell);
/// empty or missing means none.
fn boxes_of(entry: &Entry, column: Option<&str>) -> Result<Vec<pixmill_imaging::BlurBox>, String> {
    use serde_json::Value;
    let Some(column) = column else {
        return Ok(Vec::new());
    };
    let value = entry
        .row
        .as_ref()
        .and_then(|row| row.extra.columns.get(column));
    let parsed;
    let value = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(Vec::new()),
        Some(Value::String(text)) => {
            parsed = serde_json::from_str::<Value>(text)
                .map_err(|e| format!("--bbox-col {column}: not a JSON list of boxes: {e}"))?;
            &parsed
        }
        Some(other) => other,
    };
    let boxes: Vec<pixmill_imaging::BlurBox> =
        serde_json::from_value(value.clone()).map_err(|_| {
            format!("--bbox-col {column}: expected a list of [x0, y0, x1, y1] boxes, got {value}")
        })?;
    for b in &boxes {
        pixmill_imaging::check_box(b).map_err(|why| format!("--bbox-col {column}: {why}"))?;
    }
    Ok(boxes)
}

/// Drops a job the run will not do (it is stopping), cleaning its staged file.
pub(crate) fn abandon(job: Job) {
    if job.staged {
        let _ = fs::remove_file(&job.read_from);
    }
}

/// Runs the CPU stage on the chosen backend until `jobs` is drained.
pub(crate) fn run_stage(
    backend: crate::config::Backend,
    settings: &pixmill_imaging::Settings,
    ctx: &CpuContext,
    jobs: Receiver<Job>,
    to: StageOut,
) -> Result<StageLoad, pixmill_base::error::Error> {
    match backend {
        crate::config::Backend::Rayon => rayon::run(settings, ctx, jobs, to),
        crate::config::Backend::Process { worker_memory_mb } => {
            worker::run(settings, ctx, worker_memory_mb, jobs, to)
        }
    }
}

/// Where a CPU worker sends what it finished: the store (its own writer, or
/// the store thread) and the sink.
pub(crate) struct StageOut<'s, 'a> {
    pub route: crate::store::Route<'s, 'a>,
    pub records: Sender<Record>,
}

impl<'a> StageOut<'_, 'a> {
    /// One worker's outlet.
    pub(crate) fn outlet(&self) -> Outlet<'a> {
        Outlet {
            landing: self.route.landing(),
            records: self.records.clone(),
        }
    }
}

/// One worker's outlet: lands finished items, sends records on.
pub(crate) struct Outlet<'a> {
    landing: crate::store::Landing<'a>,
    records: Sender<Record>,
}

impl Outlet<'_> {
    /// Sends an outcome on; false when the run is ending (nobody listens).
    pub(crate) fn send(&mut self, outcome: Outcome) -> bool {
        let record = match outcome {
            Outcome::Failed(record) => *record,
            Outcome::Finished(finished) => match self.landing.land(*finished) {
                crate::store::Landed::Record(record) => *record,
                crate::store::Landed::Queued => return true,
                crate::store::Landed::Closed => return false,
            },
        };
        self.records.send(record).is_ok()
    }
}

/// A warning when the output's name says another format than the one
/// written into it: a manifest's `output` name is kept as given (`a.heic`
/// holds JPEG, as pixmill cannot write HEIF; `x.png` with `-f webp` holds
/// WebP). Derived names always carry the written format's extension.
fn name_mismatch(output: &std::path::Path, written: Format) -> Option<String> {
    let ext = output.extension().and_then(|e| e.to_str());
    match ext.and_then(Format::from_extension) {
        Some(named) if named == written => None,
        Some(named) => Some(format!(
            "output name says {} but it holds {}",
            named.name(),
            written.name()
        )),
        None => Some(format!(
            "output name does not say its format: it holds {}",
            written.name()
        )),
    }
}
