//! `--respect-robots-txt`: each host's robots.txt, read as RFC 9309 says,
//! fetched once per host (scheme, host and port) and shared by every I/O
//! thread; a thread that needs a host's rules while another fetches them
//! waits for that fetch instead of making its own.
//!
//! Hand-written rather than a crate: the matcher is small (groups, longest
//! match, `*` and `$`), and the crates that do it either pull in a regex
//! engine and a parser-combinator library or are unmaintained ports.

use crate::address::find_refusal;
use crate::FetchSettings;
use reqwest::blocking::Client;
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

/// RFC 9309 §2.5: at least 500 KiB must be parsed; the rest is ignored.
const MAX_ROBOTS_BYTES: u64 = 512 * 1024;
/// Hosts whose rules are kept; past it the cache starts again empty.
const MAX_HOSTS: usize = 100_000;

/// What a host's robots.txt says for our user agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rules {
    /// No file (4xx): everything is allowed.
    AllowAll,
    /// The server failed (5xx) or could not be reached: nothing is.
    DisallowAll,
    /// The rules of the group for our agent (or `*`).
    Group(Vec<Rule>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    allow: bool,
    pattern: String,
}

impl Rules {
    /// Parses a robots.txt for the agent `token` (the product name of the
    /// User-Agent, e.g. `pixmill`).
    pub(crate) fn parse(text: &str, token: &str) -> Rules {
        let mut ours: Vec<Rule> = Vec::new();
        let mut star: Vec<Rule> = Vec::new();
        let (mut found_ours, mut found_star) = (false, false);
        // The agents of the group being read, and whether its rules began.
        let mut agents: Vec<String> = Vec::new();
        let mut in_rules = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "user-agent" => {
                    if in_rules {
                        agents.clear();
                        in_rules = false;
                    }
                    agents.push(value.to_ascii_lowercase());
                    found_ours |= agent_matches(value, token);
                    found_star |= value == "*";
                }
                "allow" | "disallow" => {
                    in_rules = true;
                    let allow = key == "allow";
                    if value.is_empty() {
                        continue; // `Disallow:` with no path allows all.
                    }
                    let rule = Rule {
                        allow,
                        pattern: encode_non_ascii(value),
                    };
                    if agents.iter().any(|a| agent_matches(a, token)) {
                        ours.push(rule.clone());
                    }
                    if agents.iter().any(|a| a == "*") {
                        star.push(rule);
                    }
                }
                _ => {}
            }
        }
        match (found_ours, found_star) {
            (true, _) => Rules::Group(ours),
            (false, true) => Rules::Group(star),
            (false, false) => Rules::AllowAll,
        }
    }

    /// Whether `path` (path and query, as the URL writes them) may be
    /// fetched: the longest matching rule decides, an allow winning a tie.
    pub(crate) fn allows(&self, path: &str) -> bool {
        let rules = match self {
            Rules::AllowAll => return true,
            Rules::DisallowAll => return path == "/robots.txt",
            Rules::Group(rules) => rules,
        };
        if path == "/robots.txt" {
            return true;
        }
        let mut best: Option<(usize, bool)> = None;
        for rule in rules {
            if !pattern_matches(rule.pattern.as_bytes(), path.as_bytes()) {
                continue;
            }
            let len = rule.pattern.len();
            best = match best {
                Some((l, a)) if l > len || (l == len && a) => Some((l, a)),
                _ => Some((len, rule.allow)),
            };
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

/// RFC 9309 §2.2.1: the product token is matched case-insensitively.
fn agent_matches(agent: &str, token: &str) -> bool {
    !token.is_empty() && agent.trim().eq_ignore_ascii_case(token)
}

/// Rule paths are compared as URLs write them: non-ASCII percent-encoded.
fn encode_non_ascii(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// A rule's pattern against a path: a prefix match, where `*` matches any
/// run of characters and a final `$` anchors the end.
fn pattern_matches(pattern: &[u8], path: &[u8]) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix(b"$") {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    // Positions in `path` the pattern so far can end at (a set, as a bitmap).
    let mut ends = vec![false; path.len() + 1];
    ends[0] = true;
    for &p in pattern {
        if p == b'*' {
            // Any end so far may be followed by any run.
            let first = ends.iter().position(|&e| e);
            if let Some(first) = first {
                ends[first..].iter_mut().for_each(|e| *e = true);
            }
        } else {
            let mut next = vec![false; path.len() + 1];
            for i in 0..path.len() {
                if ends[i] && path[i] == p {
                    next[i + 1] = true;
                }
            }
            ends = next;
        }
        if !ends.contains(&true) {
            return false;
        }
    }
    if anchored {
        ends[path.len()]
    } else {
        ends.contains(&true)
    }
}

/// The shared cache of every host's rules.
pub(crate) struct Robots {
    token: String,
    hosts: Mutex<HashMap<String, Arc<OnceLock<Rules>>>>,
}

impl Robots {
    pub(crate) fn new(user_agent: &str) -> Robots {
        // The product token: `pixmill/0.1.0 (+url)` -> `pixmill`.
        let token = user_agent
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .next()
            .unwrap_or_default()
            .to_string();
        Robots {
            token,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether robots.txt lets us fetch `url`, fetching that host's file
    /// first if no thread has yet.
    pub(crate) fn allows(&self, client: &Client, settings: &FetchSettings, url: &url::Url) -> bool {
        let origin = url.origin().ascii_serialization();
        let slot = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            if hosts.len() >= MAX_HOSTS && !hosts.contains_key(&origin) {
                hosts.clear();
            }
            hosts.entry(origin.clone()).or_default().clone()
        };
        let rules = slot.get_or_init(|| self.fetch(client, settings, &origin));
        let mut path = url.path().to_string();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        rules.allows(&path)
    }

    /// RFC 9309 §2.3.1: 2xx is parsed; 4xx means no rules; 5xx and an
    /// unreachable server mean a complete disallow. A refused address
    /// (`--deny-private`) gives no verdict: the item's own request then
    /// fails with that reason.
    fn fetch(&self, client: &Client, settings: &FetchSettings, origin: &str) -> Rules {
        let mut request = client.get(format!("{origin}/robots.txt"));
        if !settings.timeout.is_zero() {
            request = request.timeout(settings.timeout);
        }
        let response = match request.send() {
            Ok(response) => response,
            Err(e) if find_refusal(&e).is_some() => return Rules::AllowAll,
            Err(_) => return Rules::DisallowAll,
        };
        let status = response.status();
        if status.is_client_error() || status.is_redirection() {
            return Rules::AllowAll;
        }
        if !status.is_success() {
            return Rules::DisallowAll;
        }
        let mut body = Vec::new();
        if response
            .take(MAX_ROBOTS_BYTES)
            .read_to_end(&mut body)
            .is_err()
        {
            return Rules::DisallowAll;
        }
        Rules::parse(&String::from_utf8_lossy(&body), &self.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# comments and blank lines are ignored
User-agent: *
Disallow: /private/
Allow: /private/public*
Disallow: /*.gif$

User-agent: otherbot
Disallow: /

user-agent: PIXMILL
user-agent: another
disallow: /no-pixmill
allow: /no-pixmill/ok
";

    #[test]
    fn our_group_is_used_over_the_star_group() {
        let ours = Rules::parse(FILE, "pixmill");
        assert!(!ours.allows("/no-pixmill/a.jpg"));
        assert!(ours.allows("/no-pixmill/ok/a.jpg"));
        // The `*` group does not apply when ours exists.
        assert!(ours.allows("/private/a.jpg"));
    }

    #[test]
    fn the_star_group_with_longest_match_and_wildcards() {
        let star = Rules::parse(FILE, "somebot");
        assert!(!star.allows("/private/a.jpg"));
        assert!(star.allows("/private/public/a.jpg"));
        assert!(star.allows("/private/publicity"));
        assert!(!star.allows("/img/a.gif"));
        assert!(star.allows("/img/a.gif?x=1"));
        assert!(star.allows("/img/a.png"));
        assert!(star.allows("/robots.txt"));
    }

    #[test]
    fn ties_go_to_allow_and_empty_disallow_allows() {
        let tie = Rules::parse("User-agent: *\nDisallow: /a\nAllow: /a\n", "x");
        assert!(tie.allows("/a/b"));
        let empty = Rules::parse("User-agent: *\nDisallow:\n", "x");
        assert!(empty.allows("/anything"));
        assert_eq!(Rules::parse("Disallow: /\n", "x"), Rules::AllowAll);
    }

    #[test]
    fn failures_read_as_rfc_9309_says() {
        assert!(Rules::AllowAll.allows("/x"));
        assert!(!Rules::DisallowAll.allows("/x"));
    }

    #[test]
    fn patterns() {
        let m = |p: &str, s: &str| pattern_matches(p.as_bytes(), s.as_bytes());
        assert!(m("/", "/anything"));
        assert!(m("/fish", "/fish.html"));
        assert!(!m("/fish", "/Fish"));
        assert!(m("/fish*.php", "/fish/salmon.php?x"));
        assert!(m("/*.php$", "/a/b.php"));
        assert!(!m("/*.php$", "/a/b.php5"));
        assert!(m("/a$", "/a"));
        assert!(!m("/a$", "/ab"));
        assert!(m("*", ""));
        assert_eq!(encode_non_ascii("/café"), "/caf%C3%A9");
    }

    #[test]
    fn the_product_token_comes_from_the_user_agent() {
        assert_eq!(Robots::new("pixmill/0.1.0").token, "pixmill");
        assert_eq!(Robots::new("my-bot (+https://x)").token, "my-bot");
    }
}
