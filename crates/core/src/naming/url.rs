//! File names derived from URLs, `Content-Disposition` and content types:
//! always a single harmless path component, never a path, so a hostile URL
//! or server cannot steer where we write.

use percent_encoding::percent_decode_str;

/// Longest name we produce, in bytes; well under every common filesystem's
/// 255-byte limit, leaving room for the caller's `-<hash>` and temp suffixes.
const MAX_NAME_BYTES: usize = 100;

/// Extensions longer than this are treated as part of the stem when cutting,
/// so a name with a stray dot near the end is not mistaken for `stem.ext`.
const MAX_EXT_BYTES: usize = 16;

/// The last non-empty path segment of `url`, percent-decoded and sanitized
/// into a single safe file name; `None` when nothing usable remains.
pub(crate) fn file_name_from_url(url: &str) -> Option<String> {
    let segment = last_path_segment(url)?;
    let decoded = percent_decode_str(&segment).decode_utf8_lossy();
    let name = sanitize(&decoded);
    let name = truncate_keeping_extension(&name, MAX_NAME_BYTES);
    (!name.is_empty()).then_some(name)
}

/// Is a URL's own file name worth keeping as the output name? Not when it
/// names the server's script rather than what it serves
/// (`download.php?id=1`, `get.aspx`, `fetch.cgi`).
pub(crate) fn worth_keeping(name: &str) -> bool {
    const SCRIPTS: [&str; 10] = [
        "php", "asp", "aspx", "jsp", "cgi", "pl", "py", "do", "action", "ashx",
    ];
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    !ext.is_some_and(|e| SCRIPTS.contains(&e.as_str()))
}

/// The file name a `Content-Disposition` header offers, sanitized like a
/// URL's: `filename*=UTF-8''…` (RFC 6266/5987) preferred over `filename=`;
/// any folder part dropped. `None` when it offers nothing usable.
pub(crate) fn file_name_from_content_disposition(header: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in split_params(header).skip(1) {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "filename*" => extended = decode_ext_value(value.trim()),
            "filename" => plain = Some(unquote(value.trim())),
            _ => {}
        }
    }
    let raw = extended.or(plain)?;
    // Only the last component: a server must not pick our folders.
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name = truncate_keeping_extension(&sanitize(last), MAX_NAME_BYTES);
    (!name.is_empty()).then_some(name)
}

/// Splits on `;` outside double quotes.
fn split_params(header: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in header.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                parts.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&header[start..]);
    parts.into_iter()
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => value.to_owned(),
    }
}

/// `UTF-8'lang'percent-encoded` → the decoded text (UTF-8 and ISO-8859-1).
fn decode_ext_value(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?.to_ascii_lowercase();
    let _lang = parts.next()?;
    let encoded = parts.next()?;
    let bytes: Vec<u8> = percent_decode_str(encoded).collect();
    match charset.as_str() {
        "utf-8" => String::from_utf8(bytes).ok(),
        "iso-8859-1" => Some(bytes.iter().map(|&b| b as char).collect()),
        _ => None,
    }
}

/// Works on the raw (still encoded) segment so an encoded `%2F` cannot
/// split it; `url` normalises `.`/`..` segments away before we look.
fn last_path_segment(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let mut segments = parsed.path_segments()?;
    segments.rfind(|s| !s.is_empty()).map(str::to_owned)
}

fn sanitize(decoded: &str) -> String {
    let replaced: String = decoded
        .chars()
        .filter(|&c| !c.is_control() && !is_invisible_format(c))
        .map(|c| if is_separator_or_reserved(c) { '_' } else { c })
        .collect();
    // Leading dots would make `.`/`..` or a hidden file; trailing dots and
    // spaces are silently dropped by Windows, so the name would not round-trip.
    // Dots and spaces are trimmed together: `. .png` must not become
    // `.png` (found by the `naming` fuzz target).
    replaced
        .trim()
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(['.', ' '])
        .to_owned()
}

/// Bidirectional overrides and isolates, and zero-width marks: a server's
/// `\u{202E}gpj.exe` would show as `exe.jpg` in a listing. (Control
/// characters are `Cc`; these are `Cf`, which `is_control` lets through.)
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
    )
}

/// Path separators on any platform, plus characters Windows refuses in names,
/// so outputs stay portable when copied elsewhere.
fn is_separator_or_reserved(c: char) -> bool {
    matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let ext = name
        .rfind('.')
        .filter(|&i| i > 0 && name.len() - i <= MAX_EXT_BYTES + 1)
        .map_or("", |i| &name[i..]);
    let stem = &name[..name.len() - ext.len()];
    let cut = floor_char_boundary(stem, max - ext.len());
    let stem = stem[..cut].trim_end_matches(['.', ' ']);
    format!("{stem}{ext}")
}

/// Largest index ≤ `at` that falls on a char boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Every extension [`extension_for_content_type`] can give, and the image
/// formats' own (so a rerun knows where to look for an output whose
/// extension came from the server).
pub(crate) const KNOWN_EXTENSIONS: [&str; 11] = [
    "jpg", "png", "webp", "gif", "bmp", "tif", "html", "txt", "json", "pdf", "zip",
];

/// File extension (without dot) for a `Content-Type` value; parameters and
/// case are ignored.
pub(crate) fn extension_for_content_type(ct: &str) -> Option<&'static str> {
    let essence = ct.split(';').next()?.trim().to_ascii_lowercase();
    let ext = match essence.as_str() {
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/bmp" | "image/x-ms-bmp" => "bmp",
        "image/tiff" => "tif",
        "text/html" => "html",
        "text/plain" => "txt",
        "application/json" => "json",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        _ => return None,
    };
    Some(ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(url: &str) -> Option<String> {
        file_name_from_url(url)
    }

    #[test]
    fn plain_last_segment() {
        assert_eq!(name("https://h/img/cat.jpg").as_deref(), Some("cat.jpg"));
    }

    #[test]
    fn query_and_fragment_ignored() {
        assert_eq!(name("http://h/a.jpg?x=1").as_deref(), Some("a.jpg"));
        assert_eq!(name("http://h/a.jpg#frag").as_deref(), Some("a.jpg"));
    }

    #[test]
    fn trailing_slash_uses_last_non_empty_segment() {
        assert_eq!(name("http://h/photos/").as_deref(), Some("photos"));
        assert_eq!(name("http://h/photos//").as_deref(), Some("photos"));
    }

    #[test]
    fn root_or_nothing_usable_is_none() {
        assert_eq!(name("http://host/"), None);
        assert_eq!(name("http://host"), None);
        assert_eq!(name("http://h/..."), None);
        assert_eq!(name("http://h/%00%01"), None);
        assert_eq!(name("http://h/%20%20"), None);
        assert_eq!(name("not a url"), None);
    }

    #[test]
    fn percent_decoded() {
        assert_eq!(name("http://h/my%20cat.png").as_deref(), Some("my cat.png"));
        assert_eq!(name("http://h/caf%C3%A9.jpg").as_deref(), Some("café.jpg"));
        // Invalid UTF-8 becomes U+FFFD rather than failing.
        assert_eq!(name("http://h/a%FF.jpg").as_deref(), Some("a\u{FFFD}.jpg"));
    }

    #[test]
    fn bidi_overrides_and_zero_width_marks_are_dropped() {
        // Shown as `exe.jpg` in a listing while it ends in `.exe`.
        let header = "attachment; filename*=UTF-8''%E2%80%AEgpj.exe";
        assert_eq!(
            file_name_from_content_disposition(header).as_deref(),
            Some("gpj.exe")
        );
        assert_eq!(
            name("http://h/a%E2%80%8Bb%E2%81%A6c%EF%BB%BF.jpg").as_deref(),
            Some("abc.jpg")
        );
    }

    #[test]
    fn encoded_traversal_is_a_single_harmless_name() {
        let n = name("http://h/..%2F..%2Fetc%2Fpasswd").unwrap();
        assert!(!n.contains('/') && !n.contains('\\'), "{n}");
        assert!(!n.starts_with('.'), "{n}");
        assert_eq!(n, "_.._etc_passwd");
        let n = name("http://h/..%5C..%5Cwin.ini").unwrap();
        assert_eq!(n, "_.._win.ini");
    }

    /// Found by the `naming` fuzz target: leading dots and spaces in turn
    /// (`. .png`) left a hidden file name once trimmed one after the other.
    #[test]
    fn dots_and_spaces_mixed_at_the_start_never_leave_a_hidden_name() {
        assert_eq!(
            name("https://e.com/%00.%00%00%00%20.%FF"),
            Some("\u{FFFD}".into())
        );
        assert_eq!(name("https://e.com/.%20.png"), Some("png".into()));
        assert_eq!(name("https://e.com/%20.%20.%20a.jpg"), Some("a.jpg".into()));
        assert_eq!(
            file_name_from_content_disposition("attachment; filename=\". . .hidden\""),
            Some("hidden".into())
        );
    }

    #[test]
    fn dot_segments_never_become_names() {
        assert_eq!(name("http://h/a/%2E%2E").as_deref(), None);
        assert_eq!(name("http://h/%2e").as_deref(), None);
        assert_eq!(name("http://h/a/%2e").as_deref(), Some("a"));
        assert_eq!(name("http://h/.hidden").as_deref(), Some("hidden"));
    }

    #[test]
    fn nul_and_control_chars_removed() {
        assert_eq!(name("http://h/a%00b.jpg").as_deref(), Some("ab.jpg"));
        assert_eq!(name("http://h/a%0A%0Db%09.png").as_deref(), Some("ab.png"));
    }

    #[test]
    fn long_multibyte_name_cut_on_char_boundary_keeping_extension() {
        let stem = "é".repeat(80); // 160 bytes
        let n = name(&format!("http://h/{stem}.jpeg")).unwrap();
        assert!(n.len() <= MAX_NAME_BYTES, "{}", n.len());
        assert!(n.ends_with(".jpeg"), "{n}");
        assert!(n.trim_end_matches(".jpeg").chars().all(|c| c == 'é'));
        // 3-byte chars, odd cut point.
        let n = name(&format!("http://h/{}", "日".repeat(50))).unwrap();
        assert!(n.len() <= MAX_NAME_BYTES && n.chars().all(|c| c == '日'));
    }

    #[test]
    fn long_name_with_long_fake_extension_just_cut() {
        let long = format!("{}.{}", "a".repeat(10), "b".repeat(200));
        let n = truncate_keeping_extension(&long, MAX_NAME_BYTES);
        assert_eq!(n.len(), MAX_NAME_BYTES);
        assert!(n.starts_with("aaaaaaaaaa."));
    }

    #[test]
    fn content_type_extensions() {
        let cases = [
            ("image/jpeg", Some("jpg")),
            ("IMAGE/PNG", Some("png")),
            ("image/webp; q=1", Some("webp")),
            ("image/gif", Some("gif")),
            ("image/bmp", Some("bmp")),
            ("image/tiff", Some("tif")),
            ("text/html; charset=utf-8", Some("html")),
            ("text/plain", Some("txt")),
            ("application/json", Some("json")),
            ("application/pdf", Some("pdf")),
            ("application/zip", Some("zip")),
            (" image/jpeg ", Some("jpg")),
            ("application/octet-stream", None),
            ("", None),
        ];
        for (ct, want) in cases {
            assert_eq!(extension_for_content_type(ct), want, "{ct}");
        }
    }

    #[test]
    fn content_disposition_names_are_single_safe_components() {
        let cd = file_name_from_content_disposition;
        assert_eq!(
            cd("attachment; filename=\"report.pdf\"").as_deref(),
            Some("report.pdf")
        );
        assert_eq!(cd("inline; filename=cat.jpg").as_deref(), Some("cat.jpg"));
        assert_eq!(
            cd("attachment; filename=\"x.jpg\"; filename*=UTF-8''caf%C3%A9.jpg").as_deref(),
            Some("café.jpg")
        );
        assert_eq!(
            cd("attachment; filename=\"../../etc/passwd\"").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            cd("attachment; filename=\"..\\\\win.ini\"").as_deref(),
            Some("win.ini")
        );
        assert_eq!(
            cd("attachment; filename=\"a;b.jpg\"").as_deref(),
            Some("a;b.jpg")
        );
        assert_eq!(cd("attachment; filename=\"..\""), None);
        assert_eq!(cd("attachment"), None);
        assert_eq!(
            cd("attachment; filename=\".hidden\"").as_deref(),
            Some("hidden")
        );
    }

    #[test]
    fn script_names_are_not_worth_keeping() {
        assert!(!worth_keeping("download.php"));
        assert!(!worth_keeping("GET.ASPX"));
        assert!(worth_keeping("cat.jpg"));
        assert!(worth_keeping("12345"));
    }
}
