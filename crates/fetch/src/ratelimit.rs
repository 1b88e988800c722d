//! `--limit-rate`: one cap on the bytes per second of the whole run, shared
//! by every I/O thread (curl's and wget's option, but for all downloads
//! together). Each read of a body is paid for before the next one: the
//! limiter keeps the time at which the bytes read so far are "paid for" at
//! the cap, and a reader ahead of it sleeps until then.

use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shared cap.
pub(crate) struct RateLimiter {
    bytes_per_sec: f64,
    /// When everything read so far is paid for.
    paid_until: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(bytes_per_sec: u64) -> RateLimiter {
        RateLimiter {
            bytes_per_sec: bytes_per_sec.max(1) as f64,
            paid_until: Mutex::new(None),
        }
    }

    /// The most to read at once: about a twentieth of a second's worth, so
    /// the pace is smooth (between 1 KiB and `max`).
    pub(crate) fn chunk(&self, max: usize) -> usize {
        ((self.bytes_per_sec / 20.0) as usize).clamp(1024, max.max(1024))
    }

    /// Accounts for `n` bytes just read and sleeps until they are paid for.
    /// Returns how long it slept (which is not the server's slowness), or
    /// `None` when `cancel` was set meanwhile.
    pub(crate) fn pay(&self, n: usize, cancel: &AtomicBool) -> Option<Duration> {
        let cost = Duration::from_secs_f64(n as f64 / self.bytes_per_sec);
        let now = Instant::now();
        let due = {
            let mut paid = self.paid_until.lock().unwrap_or_else(|e| e.into_inner());
            // Idle time is not banked: a cap that saved up would allow a burst.
            let start = paid.filter(|&p| p > now).unwrap_or(now);
            let due = start + cost;
            *paid = Some(due);
            due
        };
        let wait = due.saturating_duration_since(now);
        (wait.is_zero() || crate::retry::sleep_unless_cancelled(wait, cancel)).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_share_one_schedule() {
        let limiter = RateLimiter::new(1_000_000);
        let cancel = AtomicBool::new(false);
        // Reads queue behind each other: the second 10 kB is due 20 ms
        // after the start, not 10 ms.
        assert!(limiter.pay(10_000, &cancel).is_some());
        let before = limiter.paid_until.lock().unwrap().unwrap();
        assert!(limiter.pay(10_000, &cancel).is_some());
        let after = limiter.paid_until.lock().unwrap().unwrap();
        assert!(after >= before + Duration::from_millis(9));
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(limiter.pay(1_000_000, &cancel), None);
        assert_eq!(limiter.chunk(64 * 1024), 50_000);
        assert_eq!(RateLimiter::new(100).chunk(64 * 1024), 1024);
    }
}
