//! Per-host concurrency cap: a counting semaphore keyed by `host:port`, so
//! many I/O threads do not all hammer one server at once. Each host's cap is
//! its [`Window`], fixed or learnt from its answers.

use super::adaptive::{Signal, Window};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Waiters wake this often to notice cancellation or their deadline.
const POLL: Duration = Duration::from_millis(50);

/// Idle hosts whose learnt windows are kept; past this, a host that goes
/// idle is forgotten (and starts polite again), so a list of millions of
/// hosts does not grow the map without bound.
const KEEP_IDLE_HOSTS: usize = 1024;

pub(crate) struct HostLimiter {
    /// The window every new host starts with.
    template: Window,
    in_flight: Mutex<HashMap<String, HostSlots>>,
    freed: Condvar,
    /// Time threads spent waiting for a slot, all threads together: what
    /// tells "the per-host cap held the run back" from "downloads did".
    waited_nanos: AtomicU64,
}

struct HostSlots {
    in_flight: usize,
    window: Window,
}

/// One slot for one host; released on drop, even if the attempt panics.
pub(crate) struct HostPermit<'a> {
    limiter: &'a HostLimiter,
    key: String,
    signal: Signal,
    /// When the slot was granted, i.e. when its request went out.
    granted: Instant,
}

/// Why no slot was obtained.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Cancelled,
    Deadline,
}

impl HostLimiter {
    /// A fixed cap of `max` per host; 0 would block forever, so it is 1.
    #[cfg(test)]
    pub(crate) fn new(max: usize) -> Self {
        Self::with_window(Window::fixed(max))
    }

    /// Every host gets its own copy of `template`.
    pub(crate) fn with_window(template: Window) -> Self {
        HostLimiter {
            template,
            in_flight: Mutex::new(HashMap::new()),
            freed: Condvar::new(),
            waited_nanos: AtomicU64::new(0),
        }
    }

    /// The most a host may get at once: the fixed `--per-host`, or the
    /// bound a learnt level grows to (`--io-threads`).
    pub(crate) fn max(&self) -> usize {
        self.template.max()
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
            let slots = map.entry(key.to_owned()).or_insert_with(|| HostSlots {
                in_flight: 0,
                window: self.template.clone(),
            });
            if slots.in_flight < slots.window.limit() {
                slots.in_flight += 1;
                return Ok(HostPermit {
                    limiter: self,
                    key: key.to_owned(),
                    signal: Signal::Neutral,
                    granted: Instant::now(),
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
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HostSlots>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, key: &str, signal: Signal, granted: Instant) {
        let mut map = self.lock();
        if let Some(slots) = map.get_mut(key) {
            slots.in_flight = slots.in_flight.saturating_sub(1);
            slots.window.record(signal, granted, Instant::now());
            if slots.in_flight == 0 && map.len() > KEEP_IDLE_HOSTS {
                map.remove(key);
            }
        }
        drop(map);
        self.freed.notify_all();
    }

    #[cfg(test)]
    fn in_flight(&self, key: &str) -> usize {
        self.lock().get(key).map_or(0, |s| s.in_flight)
    }
}

impl HostPermit<'_> {
    /// What the attempt made under this permit says about the host's load;
    /// learnt when the permit is released.
    pub(crate) fn report(&mut self, signal: Signal) {
        self.signal = signal;
    }
}

impl Drop for HostPermit<'_> {
    fn drop(&mut self) {
        self.limiter.release(&self.key, self.signal, self.granted);
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
