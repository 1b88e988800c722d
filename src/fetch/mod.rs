//! Downloads: one blocking HTTP client shared by the I/O threads; each body
//! streams to a temp file the caller names, with retries, timeouts, limits
//! and checksum verification.

pub mod naming;

use crate::error::ItemError;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Network settings from the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchSettings {
    /// Retries after the first attempt, for retryable failures.
    pub retries: u32,
    pub connect_timeout: Duration,
    /// No bytes for this long = stalled.
    pub timeout: Duration,
    /// Whole item, all attempts included.
    pub max_time: Option<Duration>,
    /// Bodies larger than this are aborted.
    pub max_size: Option<u64>,
    /// Connections to one host at once.
    pub per_host: usize,
    /// Upper bound on the backoff (and on an honoured `Retry-After`).
    pub max_backoff: Duration,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            retries: 3,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_time: None,
            max_size: None,
            per_host: 8,
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A finished download.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: u64,
    pub http_status: u16,
    pub attempts: u32,
    pub content_type: Option<String>,
}

/// A failed download, with what the report needs.
#[derive(Debug, Clone)]
pub struct FetchFailure {
    pub error: ItemError,
    pub http_status: Option<u16>,
    pub attempts: u32,
}

/// The shared client (one connection pool) and per-host limits.
pub struct Fetcher {
    settings: FetchSettings,
}

impl Fetcher {
    pub fn new(settings: FetchSettings) -> Result<Fetcher, crate::error::Error> {
        Ok(Fetcher { settings })
    }

    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// Downloads `url` into `dest` (created or truncated). On failure `dest`
    /// is removed. `cancel` is checked between attempts and chunks.
    pub fn fetch(
        &self,
        url: &str,
        dest: &Path,
        sha256: Option<&str>,
        cancel: &AtomicBool,
    ) -> Result<Fetched, FetchFailure> {
        let _ = (url, dest, sha256, cancel);
        Err(FetchFailure {
            error: ItemError::new(crate::error::ErrorClass::Fetch, "not implemented"),
            http_status: None,
            attempts: 0,
        })
    }
}
