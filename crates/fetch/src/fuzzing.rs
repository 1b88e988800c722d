//! Entry points for the coverage-guided fuzz targets in `fuzz/`, compiled
//! only under `cargo fuzz` (which sets `--cfg fuzzing`): thin wrappers over
//! crate-private parsers, so the public API does not grow for them.

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING};
use std::time::{Duration, SystemTime};

/// A `Retry-After` value as a wait from `now`.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    super::retry::parse_retry_after(value, now)
}

/// An HTTP date.
pub fn http_date(value: &str) -> Option<SystemTime> {
    super::retry::parse_http_date(value)
}

/// Headers holding each of `values` under `name` (values that are not
/// valid header values are left out, as the client would refuse them).
fn headers(name: reqwest::header::HeaderName, values: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for v in values {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            map.append(name.clone(), v);
        }
    }
    map
}

/// The disallowed directive `X-Robots-Tag` values carry, if any.
pub fn robots_opt_out(values: &[&[u8]], disallowed: &[String]) -> Option<String> {
    let map = headers(
        reqwest::header::HeaderName::from_static("x-robots-tag"),
        values,
    );
    super::attempt::opted_out(&map, disallowed)
}

/// How `Content-Encoding` values are read, as text.
pub fn content_encoding(values: &[&[u8]]) -> String {
    format!(
        "{:?}",
        super::body::Encoding::of(&headers(CONTENT_ENCODING, values))
    )
}
