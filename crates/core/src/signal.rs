//! Stopping: Ctrl-C and SIGTERM set a shared flag the stages check; a
//! second Ctrl-C exits at once with 130. A closed stdout stops quietly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared between every stage: "take no new work".
#[derive(Clone, Default)]
pub struct Stop {
    requested: Arc<AtomicBool>,
    interrupted: Arc<AtomicBool>,
    stdout_closed: Arc<AtomicBool>,
}

impl Stop {
    /// Installs the Ctrl-C / SIGTERM handler for this process.
    pub fn install() -> Result<Stop, pixmill_base::error::Error> {
        let stop = Stop::default();
        let flag = stop.clone();
        ctrlc::set_handler(move || {
            if flag.interrupted.swap(true, Ordering::SeqCst) {
                // Second Ctrl-C: the user wants out now. Temp files left
                // behind are cleaned by the next run.
                std::process::exit(130);
            }
            flag.requested.store(true, Ordering::SeqCst);
        })
        .map_err(|e| {
            pixmill_base::error::Error::Setup(format!("cannot install signal handler: {e}"))
        })?;
        Ok(stop)
    }

    /// Should stages stop taking new work?
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Was the run interrupted by a signal (exit 130)?
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// Stop taking new work because the run cannot go on (its report or
    /// stdout cannot be written); in-flight items finish.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }

    /// Stop without it being an error: the reader of stdout has gone
    /// (`pixmill … | head`).
    pub fn stdout_closed_early(&self) {
        self.stdout_closed.store(true, Ordering::SeqCst);
        self.requested.store(true, Ordering::SeqCst);
    }

    /// Did the run stop because stdout was closed?
    pub fn stdout_closed(&self) -> bool {
        self.stdout_closed.load(Ordering::Relaxed)
    }

    /// The flag, shared, for work that outlives a borrow (an upload that
    /// aborts rather than completes once it is set).
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    pub(crate) fn shared_flag(&self) -> Arc<AtomicBool> {
        self.requested.clone()
    }

    /// The flag itself, for code that polls it inside long operations.
    pub fn flag(&self) -> &AtomicBool {
        &self.requested
    }
}
