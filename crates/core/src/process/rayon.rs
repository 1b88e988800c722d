//! The rayon backend: `--jobs` workers on one rayon pool, each with its own
//! converter (and its reusable buffers), taking jobs from the bounded queue.

use super::{abandon, execute, run_job, CpuContext, StageOut};
use crate::item::Job;
use crate::report::StageLoad;
use crossbeam_channel::Receiver;
use pixmill_base::error::Error;
use pixmill_imaging::{Converter, Settings};
use std::time::{Duration, Instant};

pub(crate) fn run(
    settings: &Settings,
    ctx: &CpuContext,
    jobs: Receiver<Job>,
    to: StageOut,
) -> Result<StageLoad, Error> {
    let pool = ::rayon::ThreadPoolBuilder::new()
        .num_threads(ctx.jobs)
        .thread_name(|i| format!("pixmill-cpu-{i}"))
        .build()
        .map_err(|e| Error::Setup(format!("cannot start CPU workers: {e}")))?;
    let mut busy = vec![Duration::ZERO; ctx.jobs];
    pool.scope(|scope| {
        for (worker, busy) in busy.iter_mut().enumerate() {
            let (jobs, mut outlet) = (jobs.clone(), to.outlet());
            scope.spawn(move |_| {
                let mut converter = Converter::new(settings.clone());
                for job in jobs {
                    if ctx.stop.requested() {
                        abandon(job);
                        continue;
                    }
                    let started = Instant::now();
                    let outcome =
                        execute(job, ctx, worker, &mut |spec| run_job(&mut converter, spec));
                    let sent = outlet.send(outcome);
                    *busy += started.elapsed();
                    if !sent {
                        return;
                    }
                }
            });
        }
    });
    Ok(StageLoad::new("cpu", busy))
}
