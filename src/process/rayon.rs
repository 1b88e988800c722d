//! The rayon backend: `--jobs` workers on one rayon pool, each with its own
//! converter (and its reusable buffers), taking jobs from the bounded queue.

use super::{abandon, execute, run_job, CpuContext};
use crate::error::Error;
use crate::imaging::{Converter, Settings};
use crate::item::{Job, Record};
use crate::report::StageLoad;
use crossbeam_channel::{Receiver, Sender};
use std::time::{Duration, Instant};

pub fn run(
    settings: &Settings,
    ctx: &CpuContext,
    jobs: Receiver<Job>,
    records: Sender<Record>,
) -> Result<StageLoad, Error> {
    let pool = ::rayon::ThreadPoolBuilder::new()
        .num_threads(ctx.jobs)
        .thread_name(|i| format!("pixmill-cpu-{i}"))
        .build()
        .map_err(|e| Error::Setup(format!("cannot start CPU workers: {e}")))?;
    let mut busy = vec![Duration::ZERO; ctx.jobs];
    pool.scope(|scope| {
        for (worker, busy) in busy.iter_mut().enumerate() {
            let (jobs, records) = (jobs.clone(), records.clone());
            scope.spawn(move |_| {
                let mut converter = Converter::new(settings.clone());
                for job in jobs {
                    if ctx.stop.requested() {
                        abandon(job);
                        continue;
                    }
                    let started = Instant::now();
                    let record =
                        execute(job, ctx, worker, &mut |spec| run_job(&mut converter, spec));
                    *busy += started.elapsed();
                    if records.send(record).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(StageLoad::new("cpu", busy))
}
