//! Per-host concurrency cap: a counting semaphore keyed by `host:port`, so
//! many I/O threads do not all hammer one server at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Waiters wake this often to notice cancellation or their deadline.
const POLL: Duration = Duration::from_millis(50);

pub(crate) struct HostLimiter {
    max: usize,
    in_flight: Mutex<HashMap<String, usize>>,
    freed: Condvar,
    /// Time threads spent waiting for a slot, all threads together: what
    /// tells "the per-host cap held the run back" from "downloads did".
    waited_nanos: AtomicU64,
}

/// One slot for one host; released on drop, even if the attempt panics.
pub(crate) struct HostPermit<'a> {
    limiter: &'a HostLimiter,
    key: String,
}

/// Why no slot was obtained.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Cancelled,
    Deadline,
}

impl HostLimiter {
    /// `max` of 0 would block forever, so it is treated as 1.
    pub(crate) fn new(max: usize) -> Self {
        HostLimiter {
            max: max.max(1),
            in_flight: Mutex::new(HashMap::new()),
            freed: Condvar::new(),
            waited_nanos: AtomicU64::new(0),
        }
    }

    /// The cap this limiter enforces.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Total time threads have waited for a slot.
    pub(crate) fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed))
    }

    /// Waits for a free slot for `key` (see [`Self::acquire_now`]),
    /// counting the time spent waiting.
    pub(crate) fn acquire(
        &self,
        key: &str,
        cancel: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<HostPermit<'_>, Refused> {
        let asked = Instant::now();
        let result = self.acquire_now(key, cancel, deadline);
        let waited = u64::try_from(asked.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.waited_nanos.fetch_add(waited, Ordering::Relaxed);
        result
    }

    /// Waits for a free slot for `key`, giving up on cancel or deadline.
    fn acquire_now(
        &self,
        key: &str,
        cancel: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<HostPermit<'_>, Refused> {
        let mut map = self.lock();
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(Refused::Cancelled);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(Refused::Deadline);
            }
            let count = map.entry(key.to_owned()).or_insert(0);
            if *count < self.max {
                *count += 1;
                return Ok(HostPermit {
                    limiter: self,
                    key: key.to_owned(),
                });
            }
            let wait = deadline.map_or(POLL, |d| (d - now).min(POLL));
            map = match self.freed.wait_timeout(map, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// A panic elsewhere while holding the lock leaves the counts intact
    /// (every update is a single step), so poisoning is safe to ignore.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, key: &str) {
        let mut map = self.lock();
        if let Some(count) = map.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // Keeps the map from growing with every host ever seen.
                map.remove(key);
            }
        }
        drop(map);
        self.freed.notify_all();
    }

    #[cfg(test)]
    fn in_flight(&self, key: &str) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }
}

impl Drop for HostPermit<'_> {
    fn drop(&mut self) {
        self.limiter.release(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn limits_per_key_and_releases_on_drop() {
        let l = HostLimiter::new(2);
        let no = AtomicBool::new(false);
        let a = l.acquire("a:80", &no, None).unwrap();
        let _b = l.acquire("a:80", &no, None).unwrap();
        let _other = l.acquire("b:80", &no, None).unwrap();
        assert_eq!(l.in_flight("a:80"), 2);
        let soon = Some(Instant::now() + Duration::from_millis(60));
        assert_eq!(l.acquire("a:80", &no, soon).err(), Some(Refused::Deadline));
        drop(a);
        assert_eq!(l.in_flight("a:80"), 1);
        assert!(l.acquire("a:80", &no, None).is_ok());
    }

    #[test]
    fn waiting_gives_up_on_cancel() {
        let l = HostLimiter::new(1);
        let cancel = AtomicBool::new(false);
        let _held = l.acquire("h:1", &cancel, None).unwrap();
        cancel.store(true, Ordering::Relaxed);
        assert_eq!(
            l.acquire("h:1", &cancel, None).err(),
            Some(Refused::Cancelled)
        );
    }

    #[test]
    fn zero_means_one() {
        let l = HostLimiter::new(0);
        let no = AtomicBool::new(false);
        assert!(l.acquire("h:1", &no, None).is_ok());
    }

    #[test]
    fn threads_never_exceed_the_cap() {
        let l = Arc::new(HostLimiter::new(2));
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (l, now, peak) = (l.clone(), now.clone(), peak.clone());
                std::thread::spawn(move || {
                    let no = AtomicBool::new(false);
                    let _p = l.acquire("h:1", &no, None).unwrap();
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(30));
                    now.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(l.in_flight("h:1"), 0);
    }
}
