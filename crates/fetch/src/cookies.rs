//! `--load-cookies FILE`: the Netscape cookie file that curl, wget and
//! aria2c read and browsers' export tools write. Seven tab-separated
//! fields a line: domain, include-subdomains, path, secure, expiry (Unix
//! seconds, 0 for a session cookie), name, value. `#` starts a comment,
//! except `#HttpOnly_`, which prefixes a cookie's domain.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// One cookie of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cookie {
    /// The host it belongs to, lowercase, without a leading dot.
    pub domain: String,
    /// Sent to the domain's subdomains too.
    pub subdomains: bool,
    /// Sent for this path and below.
    pub path: String,
    /// Sent over https only.
    pub secure: bool,
    /// Unix seconds after which it is not sent; 0 = no expiry.
    pub expires: u64,
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// Reads a cookie file; an unreadable file or a malformed line is a
/// setup error naming the line.
pub fn load_cookies(path: &Path) -> Result<Vec<Cookie>, String> {
    let text = std::fs::read(path).map_err(|e| pixmill_base::io_reason(&e))?;
    parse_cookies(&String::from_utf8_lossy(&text))
}

/// Parses the text of a cookie file.
pub fn parse_cookies(text: &str) -> Result<Vec<Cookie>, String> {
    let mut cookies = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let line = line.strip_prefix("#HttpOnly_").unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let bad = |why: &str| format!("line {}: {why}", number + 1);
        if fields.len() != 7 {
            return Err(bad(&format!(
                "expected 7 tab-separated fields, found {}",
                fields.len()
            )));
        }
        let flag = |s: &str| s.eq_ignore_ascii_case("TRUE");
        let expires = fields[4]
            .trim()
            .parse::<u64>()
            .map_err(|_| bad("the expiry is not a number"))?;
        cookies.push(Cookie {
            domain: fields[0]
                .trim()
                .trim_start_matches('.')
                .to_ascii_lowercase(),
            subdomains: flag(fields[1]),
            path: fields[2].to_string(),
            secure: flag(fields[3]),
            expires,
            name: fields[5].to_string(),
            value: fields[6].to_string(),
        });
    }
    Ok(cookies)
}

/// The `Cookie` header for a request to `url`: the cookies whose domain,
/// path, secure flag and expiry match, most specific path first (RFC 6265
/// §5.4); `None` when none does.
pub(crate) fn cookie_header(cookies: &[Cookie], url: &url::Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let https = url.scheme() == "https";
    let mut matching: Vec<&Cookie> = cookies
        .iter()
        .filter(|c| {
            let domain_ok = host == c.domain
                || (c.subdomains
                    && host.len() > c.domain.len()
                    && host.ends_with(&c.domain)
                    && host.as_bytes()[host.len() - c.domain.len() - 1] == b'.');
            domain_ok
                && path_matches(url.path(), &c.path)
                && (https || !c.secure)
                && (c.expires == 0 || c.expires > now)
        })
        .collect();
    if matching.is_empty() {
        return None;
    }
    matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
    let pairs: Vec<String> = matching
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    Some(pairs.join("; "))
}

/// RFC 6265 §5.1.4 path-match.
fn path_matches(request: &str, cookie: &str) -> bool {
    if cookie.is_empty() || request == cookie {
        return true;
    }
    request.starts_with(cookie)
        && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# Netscape HTTP Cookie File\n\
        .example.org\tTRUE\t/\tFALSE\t0\tsession\tabc\n\
        #HttpOnly_img.example.org\tFALSE\t/private\tTRUE\t4102444800\ttoken\tt0k\n\
        old.example.org\tFALSE\t/\tFALSE\t1\tstale\tx\n\
        \n";

    fn header(url: &str) -> Option<String> {
        let cookies = parse_cookies(FILE).unwrap();
        cookie_header(&cookies, &url::Url::parse(url).unwrap())
    }

    #[test]
    fn cookies_match_by_domain_path_scheme_and_expiry() {
        assert_eq!(
            header("http://example.org/a.jpg").as_deref(),
            Some("session=abc")
        );
        assert_eq!(
            header("http://cdn.example.org/a.jpg").as_deref(),
            Some("session=abc")
        );
        assert_eq!(
            header("https://img.example.org/private/a.jpg").as_deref(),
            Some("token=t0k; session=abc")
        );
        // Secure cookies only over https; paths match at a `/` only.
        assert_eq!(
            header("http://img.example.org/private/a.jpg").as_deref(),
            Some("session=abc")
        );
        assert_eq!(
            header("https://img.example.org/privateer").as_deref(),
            Some("session=abc")
        );
        // Expired, and another site.
        assert_eq!(
            header("http://old.example.org/").as_deref(),
            Some("session=abc")
        );
        assert_eq!(header("http://badexample.org/"), None);
    }

    #[test]
    fn a_malformed_line_is_named() {
        let err = parse_cookies("example.org\tTRUE\t/\n").unwrap_err();
        assert_eq!(err, "line 1: expected 7 tab-separated fields, found 3");
    }
}
