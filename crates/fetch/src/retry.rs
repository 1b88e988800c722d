//! Retry timing: exponential backoff with jitter, `Retry-After` parsing
//! (delta-seconds or RFC 1123 date), and sleeps that notice cancellation.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// First backoff step; doubled for each further retry.
const BASE_BACKOFF: Duration = Duration::from_millis(250);

/// How often a sleeping thread looks at the cancel flag: short enough that
/// Ctrl-C feels immediate, long enough not to spin.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Delay before retry number `retry` (0 for the first retry): 250 ms × 2^n
/// capped at `max`, with "equal jitter" so we never retry at once yet still
/// spread out threads that failed together.
pub(crate) fn backoff(retry: u32, max: Duration) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1u32 << retry.min(20));
    let half = exp.min(max) / 2;
    half + half.mul_f64(jitter())
}

/// A number in [0, 1). `RandomState` is seeded randomly per process and per
/// thread, which is all the randomness jitter needs; no RNG crate required.
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    h.write_u32(nanos);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// How long a `Retry-After` header asks us to wait, measured from `now`.
/// A date in the past means "now"; anything unparsable is ignored.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits but too big for u64 is still "a very long time".
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate / RFC 1123 date: `Sun, 06 Nov 1994 08:49:37 GMT`.
/// The weekday is not checked: it is redundant and servers get it wrong.
pub(crate) fn parse_http_date(s: &str) -> Option<SystemTime> {
    let mut parts = s.split_ascii_whitespace();
    let weekday = parts.next()?;
    if !weekday.ends_with(',') {
        return None;
    }
    let day: u32 = parse_digits(parts.next()?, 1, 2)?;
    let month = month_number(parts.next()?)?;
    let year: i64 = parse_digits(parts.next()?, 4, 4)?.into();
    let (hour, min, sec) = parse_clock(parts.next()?)?;
    if !matches!(parts.next(), Some(zone) if zone.eq_ignore_ascii_case("GMT") || zone == "UTC")
        || parts.next().is_some()
    {
        return None;
    }
    if day == 0 || day > days_in_month(year, month) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec);
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

fn parse_digits(s: &str, min_len: usize, max_len: usize) -> Option<u32> {
    let ok = (min_len..=max_len).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| s.parse().ok()).flatten()
}

fn parse_clock(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split(':');
    let h = parse_digits(it.next()?, 2, 2)?;
    let m = parse_digits(it.next()?, 2, 2)?;
    let sec = parse_digits(it.next()?, 2, 2)?;
    it.next().is_none().then_some((h, m, sec))
}

fn month_number(s: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let pos = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(s))?;
    u32::try_from(pos + 1).ok()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), so we need no date crate for one header.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Sleeps for `d` in short slices; returns false (early) if `cancel` is set.
pub(crate) fn sleep_unless_cancelled(d: Duration, cancel: &AtomicBool) -> bool {
    // An unrepresentable end is "forever": only cancel ends that sleep.
    let end = Instant::now().checked_add(d);
    loop {
        if cancel.load(Ordering::Relaxed) {
            return false;
        }
        let left = end.map_or(CANCEL_POLL, |end| {
            end.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(CANCEL_POLL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn http_date_rfc1123() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(at(784_111_777))
        );
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(at(0))
        );
        // Leap day, and a date after 2038.
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(at(951_825_600))
        );
        assert_eq!(
            parse_http_date("Sat, 01 Jan 2050 00:00:00 GMT"),
            Some(at(2_524_608_000))
        );
    }

    #[test]
    fn http_date_rejects_junk() {
        for bad in [
            "",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sunday, 06-Nov-94 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = at(784_111_777);
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        // Past dates mean "retry now".
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_respects_cap() {
        let max = Duration::from_secs(30);
        for retry in 0..6 {
            let full = BASE_BACKOFF * (1 << retry);
            let d = backoff(retry, max);
            assert!(d >= full / 2 && d <= full, "retry {retry}: {d:?}");
        }
        let small = Duration::from_millis(20);
        for retry in [0, 5, 31, u32::MAX] {
            assert!(backoff(retry, small) <= small);
        }
    }

    #[test]
    fn jitter_in_unit_interval() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }

    #[test]
    fn cancelled_sleep_returns_early() {
        let cancel = AtomicBool::new(true);
        let t = Instant::now();
        assert!(!sleep_unless_cancelled(Duration::from_secs(5), &cancel));
        assert!(t.elapsed() < Duration::from_secs(1));
        let cancel = AtomicBool::new(false);
        assert!(sleep_unless_cancelled(Duration::from_millis(10), &cancel));
    }
}
