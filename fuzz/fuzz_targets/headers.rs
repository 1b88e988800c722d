//! The header parsers a server's answer goes through: the first byte picks
//! X-Robots-Tag, Content-Disposition, Retry-After (and the HTTP dates in
//! it) or Content-Encoding; the rest, split on newlines, is the header's
//! values. Besides "no panic": a Content-Disposition name is one harmless
//! path component, a Retry-After wait is never in the past, and an opt-out
//! names one of the directives asked about.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixmill_core::fuzzing as core;
use pixmill_fetch::fuzzing as fetch;
use std::time::{Duration, SystemTime};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let values: Vec<&[u8]> = rest.split(|&b| b == b'\n').collect();
    let text = String::from_utf8_lossy(rest);
    match selector % 4 {
        0 => {
            let disallowed: Vec<String> = pixmill_fetch::DEFAULT_DISALLOWED
                .iter()
                .map(|d| d.to_string())
                .collect();
            if let Some(directive) = fetch::robots_opt_out(&values, &disallowed) {
                assert!(disallowed.contains(&directive), "{directive:?}");
            }
        }
        1 => {
            if let Some(name) = core::file_name_from_content_disposition(&text) {
                naming_checks::assert_harmless(&name);
            }
        }
        2 => {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            let _ = fetch::retry_after(&text, now);
            let _ = fetch::http_date(&text);
        }
        _ => {
            let _ = fetch::content_encoding(&values);
        }
    }
});

mod naming_checks {
    include!("name_checks.rs");
}
