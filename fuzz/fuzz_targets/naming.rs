//! URL-to-name naming, and the `output` names a manifest gives: the first
//! byte picks which; the rest is the URL or name. A URL's name is one
//! harmless path component; a manifest name that is accepted stays inside
//! the output folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixmill_core::fuzzing;
use std::path::Component;

mod checks {
    include!("name_checks.rs");
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 3 {
        0 => {
            // As a URL, and as the path of one (so the parser is passed).
            for url in [text.to_string(), format!("https://example.com/{text}")] {
                if let Some(name) = fuzzing::file_name_from_url(&url) {
                    checks::assert_harmless(&name);
                    let _ = fuzzing::worth_keeping(&name);
                }
            }
        }
        1 => {
            if let Some(path) = fuzzing::relative_name(&text) {
                assert!(
                    path.components().all(|c| matches!(c, Component::Normal(_))),
                    "{text:?} -> {path:?}"
                );
                assert!(!path.as_os_str().is_empty());
            }
        }
        _ => {
            if let Some(ext) = fuzzing::extension_for_content_type(&text) {
                assert!(ext.bytes().all(|b| b.is_ascii_lowercase()), "{ext}");
            }
        }
    }
});
