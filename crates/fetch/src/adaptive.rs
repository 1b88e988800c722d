//! How many requests one host gets at once, learnt from its answers the way
//! TCP learns a congestion window (AIMD): start at a polite level, grow
//! fourfold per round trip while answers come back fast and clean (slow
//! start, until the first sign of trouble), then grow by one per round trip; halve on signs of overload (429, 503,
//! `Retry-After`, resets, timeouts) and shrink when latency climbs well
//! above the best seen. `--per-host N` fixes the window instead.

use std::time::{Duration, Instant};

/// Where an adaptive window starts: pixmill's fixed per-host cap before
/// it learnt (and about the 6 connections per host browsers open, which
/// servers are built to take).
pub(crate) const INITIAL_WINDOW: usize = 8;

/// Latency this many times the best seen (plus [`LATENCY_SLACK`]) means
/// requests are queueing at the server: more concurrency no longer helps.
const LATENCY_RISE: f64 = 2.0;

/// Absolute slack on the latency rule, so scheduling jitter on a fast
/// (e.g. local) server is not mistaken for queueing.
const LATENCY_SLACK: Duration = Duration::from_millis(10);

/// What each clean answer adds to the window during slow start: 3, so a
/// window's worth of answers quadruples it and the polite start reaches 32
/// in one round trip (TCP's doubling took two, which cost a 315-URL batch
/// a tenth of its time against a fixed level).
const SLOW_START_STEP: f64 = 3.0;

/// Weight of each new latency sample in the running average.
const LATENCY_WEIGHT: f64 = 0.2;

/// Latency samples needed before the latency rule may act.
const LATENCY_SAMPLES: u32 = 8;

/// What one finished attempt says about the host's load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Signal {
    /// Answered cleanly; the response head came after this long.
    Answered(Duration),
    /// A sign of overload: 429/503, `Retry-After`, reset, timeout.
    Overloaded,
    /// Says nothing about load (404, checksum mismatch, cancelled, ...).
    Neutral,
}

/// One host's concurrency window.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    limit: f64,
    max: f64,
    /// Fixed by `--per-host`: never moves.
    fixed: bool,
    /// Below this the window doubles per round trip; above, it adds one.
    threshold: f64,
    best_latency: Option<Duration>,
    /// Running average of the response-head latency, in seconds.
    average: f64,
    samples: u32,
    /// Requests sent before this were sent under a larger window: their
    /// failures are the congestion event already acted on, not a new one.
    last_cut: Option<Instant>,
}

impl Window {
    /// A window that stays at `n` (at least 1).
    pub(crate) fn fixed(n: usize) -> Window {
        let w = Window::adaptive(n);
        Window {
            fixed: true,
            limit: w.max,
            ..w
        }
    }

    /// A learning window bounded by `max` (at least 1).
    pub(crate) fn adaptive(max: usize) -> Window {
        let max = max.max(1) as f64;
        Window {
            limit: max.min(INITIAL_WINDOW as f64),
            max,
            fixed: false,
            threshold: max,
            best_latency: None,
            average: 0.0,
            samples: 0,
            last_cut: None,
        }
    }

    /// The most the window can reach.
    pub(crate) fn max(&self) -> usize {
        self.max as usize
    }

    /// Requests the host may have in flight now.
    pub(crate) fn limit(&self) -> usize {
        (self.limit.floor() as usize).max(1)
    }

    /// Learns from one finished attempt, sent at `sent`.
    pub(crate) fn record(&mut self, signal: Signal, sent: Instant, now: Instant) {
        if self.fixed {
            return;
        }
        match signal {
            Signal::Answered(latency) => self.answered(latency, sent, now),
            Signal::Overloaded => self.cut(0.5, 1.0, sent, now),
            Signal::Neutral => {}
        }
    }

    fn answered(&mut self, latency: Duration, sent: Instant, now: Instant) {
        let best = self.best_latency.map_or(latency, |b| b.min(latency));
        self.best_latency = Some(best);
        let secs = latency.as_secs_f64();
        self.average = if self.samples == 0 {
            secs
        } else {
            self.average + LATENCY_WEIGHT * (secs - self.average)
        };
        self.samples = self.samples.saturating_add(1);
        let queueing = (best.mul_f64(LATENCY_RISE) + LATENCY_SLACK).as_secs_f64();
        if self.samples >= LATENCY_SAMPLES && self.average > queueing {
            // Queueing, not overload: back off gently, and never below
            // the polite start, which a slow server can always take.
            self.cut(0.75, INITIAL_WINDOW as f64, sent, now);
            return;
        }
        let step = if self.limit < self.threshold {
            SLOW_START_STEP
        } else {
            1.0 / self.limit
        };
        self.limit = (self.limit + step).min(self.max);
    }

    /// Multiplies the window by `factor` (not below `floor`) and leaves
    /// slow start, once per congestion event: like TCP, one cut per window
    /// of requests, so a burst of failures is not read as many.
    fn cut(&mut self, factor: f64, floor: f64, sent: Instant, now: Instant) {
        if self.last_cut.is_some_and(|t| sent < t) {
            return;
        }
        self.last_cut = Some(now);
        let floor = floor.min(self.max).max(1.0);
        self.limit = (self.limit * factor).max(floor.min(self.limit)).max(1.0);
        self.threshold = self.limit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(50);

    fn answer(w: &mut Window, n: usize, latency: Duration, at: Instant) {
        for _ in 0..n {
            w.record(Signal::Answered(latency), at, at);
        }
    }

    #[test]
    fn starts_polite_and_grows_to_the_bound_on_clean_answers() {
        let t = Instant::now();
        let mut w = Window::adaptive(32);
        assert_eq!(w.limit(), INITIAL_WINDOW);
        // Slow start: three more per answer, so a window's worth of answers
        // quadruples it.
        answer(&mut w, INITIAL_WINDOW, FAST, t);
        assert_eq!(w.limit(), 4 * INITIAL_WINDOW);
        answer(&mut w, 100, FAST, t);
        assert_eq!(w.limit(), 32, "bounded by --io-threads");
    }

    #[test]
    fn overload_halves_once_per_round_trip_then_growth_is_additive() {
        let t = Instant::now();
        let mut w = Window::adaptive(32);
        answer(&mut w, INITIAL_WINDOW, FAST, t);
        assert_eq!(w.limit(), 32);
        // A burst of 429s to requests sent before the cut is one event.
        let after = t + Duration::from_millis(1);
        for _ in 0..10 {
            w.record(Signal::Overloaded, t, after);
        }
        assert_eq!(w.limit(), 16);
        let later = t + Duration::from_millis(200);
        w.record(Signal::Overloaded, later, later);
        assert_eq!(w.limit(), 8);
        // Past slow start: about a window's worth of answers adds one.
        answer(&mut w, 9, FAST, later);
        assert_eq!(w.limit(), 9);
    }

    #[test]
    fn never_below_one() {
        let mut t = Instant::now();
        let mut w = Window::adaptive(8);
        for _ in 0..20 {
            t += Duration::from_secs(1);
            w.record(Signal::Overloaded, t, t);
        }
        assert_eq!(w.limit(), 1);
        answer(&mut w, 3, FAST, t);
        assert!(w.limit() >= 1);
    }

    #[test]
    fn rising_latency_stops_growth_and_backs_off_to_the_polite_start() {
        let mut t = Instant::now();
        let mut w = Window::adaptive(32);
        answer(&mut w, INITIAL_WINDOW, FAST, t);
        assert_eq!(w.limit(), 32);
        for _ in 0..40 {
            t += Duration::from_millis(300);
            answer(&mut w, 1, Duration::from_millis(400), t);
        }
        assert_eq!(w.limit(), INITIAL_WINDOW);
    }

    #[test]
    fn neutral_answers_change_nothing_and_fixed_windows_never_move() {
        let t = Instant::now();
        let mut w = Window::adaptive(32);
        w.record(Signal::Neutral, t, t);
        assert_eq!(w.limit(), INITIAL_WINDOW);
        let mut f = Window::fixed(3);
        answer(&mut f, 50, FAST, t);
        f.record(Signal::Overloaded, t, t);
        assert_eq!(f.limit(), 3);
        assert_eq!(Window::fixed(0).limit(), 1);
        assert_eq!(Window::fixed(20).limit(), 20);
    }
}
