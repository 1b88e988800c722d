//! A caching DNS resolver for the download client: a list of millions of
//! URLs over a few thousand hosts looks each host up once every few minutes,
//! not once per connection, and many threads asking for one host at once
//! share one lookup. (Repeated lookups of the same hosts are what make DNS
//! fail under dataset-scale downloads.)
//!
//! Every answer passes the [`AddressPolicy`] before a connection is made:
//! refused addresses are dropped, and a name left with none fails with the
//! policy's reason. The cache keeps the full answer; the filter runs on
//! each use, so it also holds when a name's answer changes between
//! lookups.
//!
//! Lookups themselves go to the system resolver (`getaddrinfo`, so
//! `/etc/hosts` and nsswitch apply), each on its own short-lived thread: the
//! client's async runtime must never wait on one.

use crate::address::{AddressPolicy, AddressRefused};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long a successful lookup is reused (the system resolver gives no
/// TTL; five minutes follows host moves soon enough).
pub(crate) const POSITIVE_TTL: Duration = Duration::from_secs(5 * 60);
/// How long a failed lookup is reused: briefly, so a burst of URLs on a
/// dead host fails fast but a passing failure heals.
pub(crate) const NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// Hosts remembered at most; beyond, the entries nearest expiry go first.
pub(crate) const CAPACITY: usize = 10_000;

/// Turns a host name into addresses (blocking).
pub(crate) trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>>;
}

/// The system resolver.
pub(crate) struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let mut ips: Vec<IpAddr> = Vec::new();
        for addr in (host, 0).to_socket_addrs()? {
            if !ips.contains(&addr.ip()) {
                ips.push(addr.ip());
            }
        }
        Ok(ips)
    }
}

/// Where "now" comes from (a test drives it by hand).
pub(crate) trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A lookup's result, shared by everyone who asked for it.
type Outcome = Result<Arc<[IpAddr]>, Arc<str>>;

/// The caching resolver; cheap to share (`Arc`).
pub(crate) struct CachingResolver {
    shared: Arc<Shared>,
    policy: AddressPolicy,
}

struct Shared {
    lookup: Box<dyn Lookup>,
    clock: Box<dyn Clock>,
    capacity: usize,
    hosts: Mutex<HashMap<String, Slot>>,
}

enum Slot {
    Ready { outcome: Outcome, expires: Instant },
    InFlight(Arc<Flight>),
}

/// One lookup under way, and who waits for it.
#[derive(Default)]
struct Flight {
    state: Mutex<FlightState>,
}

#[derive(Default)]
struct FlightState {
    outcome: Option<Outcome>,
    wakers: Vec<Waker>,
}

impl CachingResolver {
    pub(crate) fn system(policy: AddressPolicy) -> CachingResolver {
        let mut resolver =
            CachingResolver::new(Box::new(SystemLookup), Box::new(SystemClock), CAPACITY);
        resolver.policy = policy;
        resolver
    }

    pub(crate) fn new(
        lookup: Box<dyn Lookup>,
        clock: Box<dyn Clock>,
        capacity: usize,
    ) -> CachingResolver {
        CachingResolver {
            shared: Arc::new(Shared {
                lookup,
                clock,
                capacity: capacity.max(1),
                hosts: Mutex::new(HashMap::new()),
            }),
            policy: AddressPolicy::default(),
        }
    }

    /// The addresses of `host`: from the cache, from a lookup already under
    /// way, or from a new lookup on its own thread.
    pub(crate) fn addresses(&self, host: &str) -> Addresses {
        let now = self.shared.clock.now();
        let mut hosts = self.shared.lock();
        match hosts.get(host) {
            Some(Slot::Ready { outcome, expires }) if *expires > now => {
                return Addresses(Answer::Ready(Some(outcome.clone())));
            }
            Some(Slot::InFlight(flight)) => return Addresses(Answer::Waiting(flight.clone())),
            _ => {}
        }
        let flight = Arc::new(Flight::default());
        self.shared.make_room(&mut hosts, now);
        hosts.insert(host.to_string(), Slot::InFlight(flight.clone()));
        drop(hosts);
        let shared = self.shared.clone();
        let name = host.to_string();
        let spawned = std::thread::Builder::new()
            .name("pixmill-dns".into())
            .spawn(move || shared.run_lookup(&name));
        if let Err(e) = spawned {
            self.shared
                .settle(host, Err(format!("cannot start a lookup: {e}").into()));
        }
        Addresses(Answer::Waiting(flight))
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // A panic elsewhere cannot leave the map half-updated: every change
        // is one insert or remove.
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run_lookup(&self, host: &str) {
        let outcome = match self.lookup.lookup(host) {
            Ok(ips) if ips.is_empty() => Err(format!("{host}: no addresses").into()),
            Ok(ips) => Ok(ips.into()),
            Err(e) => Err(format!("{host}: {e}").into()),
        };
        self.settle(host, outcome);
    }

    /// Stores a finished lookup and wakes everyone waiting on it.
    fn settle(&self, host: &str, outcome: Outcome) {
        let ttl = match outcome {
            Ok(_) => POSITIVE_TTL,
            Err(_) => NEGATIVE_TTL,
        };
        let expires = self.clock.now() + ttl;
        let flight = {
            let mut hosts = self.lock();
            let slot = Slot::Ready {
                outcome: outcome.clone(),
                expires,
            };
            match hosts.insert(host.to_string(), slot) {
                Some(Slot::InFlight(flight)) => flight,
                _ => return,
            }
        };
        let wakers = {
            let mut state = flight.state.lock().unwrap_or_else(|e| e.into_inner());
            state.outcome = Some(outcome);
            std::mem::take(&mut state.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Keeps the cache under its capacity: expired entries go first, then
    /// those nearest expiry. Lookups in flight are never dropped.
    fn make_room(&self, hosts: &mut HashMap<String, Slot>, now: Instant) {
        if hosts.len() < self.capacity {
            return;
        }
        hosts.retain(|_, slot| !matches!(slot, Slot::Ready { expires, .. } if *expires <= now));
        while hosts.len() >= self.capacity {
            let soonest = hosts
                .iter()
                .filter_map(|(host, slot)| match slot {
                    Slot::Ready { expires, .. } => Some((*expires, host.clone())),
                    Slot::InFlight(_) => None,
                })
                .min();
            match soonest {
                Some((_, host)) => hosts.remove(&host),
                None => return,
            };
        }
    }
}

/// The future of one resolution.
pub(crate) struct Addresses(Answer);

enum Answer {
    Ready(Option<Outcome>),
    Waiting(Arc<Flight>),
}

impl Future for Addresses {
    type Output = Result<Vec<IpAddr>, io::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = match &mut self.get_mut().0 {
            Answer::Ready(outcome) => outcome.take(),
            Answer::Waiting(flight) => {
                let mut state = flight.state.lock().unwrap_or_else(|e| e.into_inner());
                match &state.outcome {
                    Some(outcome) => Some(outcome.clone()),
                    None => {
                        state.wakers.push(cx.waker().clone());
                        return Poll::Pending;
                    }
                }
            }
        };
        Poll::Ready(match outcome {
            Some(Ok(ips)) => Ok(ips.to_vec()),
            Some(Err(message)) => Err(io::Error::other(message.to_string())),
            None => Err(io::Error::other("resolution polled after it finished")),
        })
    }
}

impl reqwest::dns::Resolve for CachingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addresses = self.addresses(name.as_str());
        let policy = self.policy;
        Box::pin(async move {
            let ips = allowed(addresses.await?, &policy)?;
            // Port 0: reqwest puts in the URL's port.
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The addresses `policy` allows; when it allows none, the reason the
/// first was refused.
pub(crate) fn allowed(
    ips: Vec<IpAddr>,
    policy: &AddressPolicy,
) -> Result<Vec<IpAddr>, AddressRefused> {
    let mut first_refusal = None;
    let kept: Vec<IpAddr> = ips
        .into_iter()
        .filter(|ip| match policy.refusal(*ip) {
            Some(why) => {
                first_refusal.get_or_insert(why);
                false
            }
            None => true,
        })
        .collect();
    match (kept.is_empty(), first_refusal) {
        (true, Some(why)) => Err(AddressRefused(why)),
        _ => Ok(kept),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{unbounded, Receiver, Sender};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// Counts lookups; each waits for the test to release it, so the test
    /// decides when a lookup is "in flight" without sleeping.
    struct Counting {
        calls: Arc<AtomicUsize>,
        started: Sender<String>,
        release: Receiver<io::Result<Vec<IpAddr>>>,
    }

    impl Lookup for Counting {
        fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.started.send(host.to_string()).unwrap();
            self.release.recv().unwrap()
        }
    }

    #[derive(Clone)]
    struct ManualClock(Arc<Mutex<Instant>>);

    impl ManualClock {
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    struct Rig {
        resolver: CachingResolver,
        calls: Arc<AtomicUsize>,
        started: Receiver<String>,
        release: Sender<io::Result<Vec<IpAddr>>>,
        clock: ManualClock,
    }

    fn rig(capacity: usize) -> Rig {
        let calls = Arc::new(AtomicUsize::new(0));
        let (started_tx, started) = unbounded();
        let (release, release_rx) = unbounded();
        let clock = ManualClock(Arc::new(Mutex::new(Instant::now())));
        let lookup = Counting {
            calls: calls.clone(),
            started: started_tx,
            release: release_rx,
        };
        let resolver = CachingResolver::new(Box::new(lookup), Box::new(clock.clone()), capacity);
        Rig {
            resolver,
            calls,
            started,
            release,
            clock,
        }
    }

    /// Runs a future to completion on this thread.
    fn block_on<F: Future>(future: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::park();
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn concurrent_and_repeated_resolutions_share_one_lookup() {
        let rig = rig(100);
        // Eight resolutions while the lookup is still under way...
        let waiting: Vec<Addresses> = (0..8)
            .map(|_| rig.resolver.addresses("example.org"))
            .collect();
        assert_eq!(rig.started.recv().unwrap(), "example.org");
        let more = rig.resolver.addresses("example.org");
        rig.release.send(Ok(vec![ip(1), ip(2)])).unwrap();
        // ...all get its answer.
        for addresses in waiting.into_iter().chain([more]) {
            assert_eq!(block_on(addresses).unwrap(), [ip(1), ip(2)]);
        }
        // Later ones, within the TTL, come from the cache.
        rig.clock.advance(POSITIVE_TTL - Duration::from_secs(1));
        for _ in 0..5 {
            assert_eq!(
                block_on(rig.resolver.addresses("example.org")).unwrap(),
                [ip(1), ip(2)]
            );
        }
        assert_eq!(rig.calls.load(Ordering::SeqCst), 1);
        assert!(rig.started.try_recv().is_err());
    }

    #[test]
    fn an_expired_entry_is_looked_up_again() {
        let rig = rig(100);
        let first = rig.resolver.addresses("example.org");
        rig.started.recv().unwrap();
        rig.release.send(Ok(vec![ip(1)])).unwrap();
        assert_eq!(block_on(first).unwrap(), [ip(1)]);

        rig.clock.advance(POSITIVE_TTL);
        let second = rig.resolver.addresses("example.org");
        assert_eq!(rig.started.recv().unwrap(), "example.org");
        rig.release.send(Ok(vec![ip(9)])).unwrap();
        assert_eq!(block_on(second).unwrap(), [ip(9)]);
        assert_eq!(rig.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn failures_are_remembered_briefly() {
        let rig = rig(100);
        let failed = rig.resolver.addresses("nowhere.invalid");
        rig.started.recv().unwrap();
        let gone = io::Error::new(io::ErrorKind::NotFound, "Name or service not known");
        rig.release.send(Err(gone)).unwrap();
        let err = block_on(failed).unwrap_err();
        assert!(err
            .to_string()
            .contains("nowhere.invalid: Name or service not known"));
        // Within the negative TTL: the same failure, no new lookup.
        rig.clock.advance(NEGATIVE_TTL - Duration::from_secs(1));
        assert!(block_on(rig.resolver.addresses("nowhere.invalid")).is_err());
        assert_eq!(rig.calls.load(Ordering::SeqCst), 1);
        // After it: asked again.
        rig.clock.advance(Duration::from_secs(1));
        let again = rig.resolver.addresses("nowhere.invalid");
        rig.started.recv().unwrap();
        rig.release.send(Ok(vec![ip(3)])).unwrap();
        assert_eq!(block_on(again).unwrap(), [ip(3)]);
        assert_eq!(rig.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn refused_addresses_are_dropped_and_a_name_left_with_none_fails() {
        let deny = AddressPolicy {
            allow_link_local: false,
            deny_private: true,
        };
        let metadata = IpAddr::from([169, 254, 169, 254]);
        let public = IpAddr::from([192, 0, 2, 7]);
        let loopback = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(allowed(vec![metadata, public], &deny).unwrap(), [public]);
        let err = allowed(vec![loopback, metadata], &deny).unwrap_err();
        assert!(err.0.contains("127.0.0.1: a loopback address"), "{err}");
        let default = AddressPolicy::default();
        assert_eq!(allowed(vec![loopback], &default).unwrap(), [loopback]);
        assert!(allowed(vec![metadata], &default).is_err());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let rig = rig(2);
        for (n, host) in ["a.test", "b.test", "c.test"].iter().enumerate() {
            rig.clock.advance(Duration::from_secs(1));
            let addresses = rig.resolver.addresses(host);
            rig.started.recv().unwrap();
            rig.release.send(Ok(vec![ip(n as u8)])).unwrap();
            block_on(addresses).unwrap();
        }
        assert_eq!(rig.resolver.shared.lock().len(), 2);
        // The entry nearest expiry (the oldest) went: a.test is asked again.
        let again = rig.resolver.addresses("a.test");
        assert_eq!(rig.started.recv().unwrap(), "a.test");
        rig.release.send(Ok(vec![ip(0)])).unwrap();
        block_on(again).unwrap();
        assert_eq!(rig.calls.load(Ordering::SeqCst), 4);
    }
}
