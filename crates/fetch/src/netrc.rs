//! `--netrc` and `--netrc-file FILE`: logins per host, in the `.netrc`
//! format curl, wget and ftp read (`machine HOST login USER password PASS`,
//! `default` for any other host; `macdef` blocks are skipped).

use serde::{Deserialize, Serialize};
use std::path::Path;

/// One `machine` (or `default`) entry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetrcLogin {
    /// The host, or `None` for `default`.
    pub machine: Option<String>,
    /// The user name.
    pub login: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for NetrcLogin {
    // Never the password, whatever prints the settings.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetrcLogin")
            .field("machine", &self.machine)
            .finish_non_exhaustive()
    }
}

/// Reads a netrc file (setup error when it cannot be read).
pub fn load_netrc(path: &Path) -> Result<Vec<NetrcLogin>, String> {
    let text = std::fs::read(path).map_err(|e| pixmill_base::io_reason(&e))?;
    Ok(parse_netrc(&String::from_utf8_lossy(&text)))
}

/// Parses netrc text; tokens it does not know are skipped.
pub fn parse_netrc(text: &str) -> Vec<NetrcLogin> {
    let mut logins: Vec<NetrcLogin> = Vec::new();
    let mut lines = text.lines();
    let mut tokens: Vec<String> = Vec::new();
    // macdef bodies run to the next blank line: drop them before tokenising.
    while let Some(line) = lines.next() {
        for word in line.split_whitespace() {
            if word == "macdef" {
                for body in lines.by_ref() {
                    if body.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            tokens.push(word.to_string());
        }
    }
    let mut it = tokens.into_iter();
    while let Some(token) = it.next() {
        match token.as_str() {
            "machine" => logins.push(NetrcLogin {
                machine: it.next().map(|h| h.to_ascii_lowercase()),
                login: String::new(),
                password: String::new(),
            }),
            "default" => logins.push(NetrcLogin {
                machine: None,
                login: String::new(),
                password: String::new(),
            }),
            "login" | "password" | "account" => {
                let value = it.next().unwrap_or_default();
                if let Some(last) = logins.last_mut() {
                    match token.as_str() {
                        "login" => last.login = value,
                        "password" => last.password = value,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    logins
}

/// The login for `host`: its `machine` entry, else `default`.
pub(crate) fn login_for<'a>(logins: &'a [NetrcLogin], host: &str) -> Option<&'a NetrcLogin> {
    let host = host.to_ascii_lowercase();
    logins
        .iter()
        .find(|l| l.machine.as_deref() == Some(host.as_str()))
        .or_else(|| logins.iter().find(|l| l.machine.is_none()))
        .filter(|l| !l.login.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_then_default() {
        let text = "machine img.example.org\n  login alice\n  password s3cret\n\
                    macdef init\ncd /pub\nlogin nobody\n\n\
                    machine other.org login bob password pw2 default login anon password x\n";
        let logins = parse_netrc(text);
        let alice = login_for(&logins, "IMG.example.org").unwrap();
        assert_eq!(
            (alice.login.as_str(), alice.password.as_str()),
            ("alice", "s3cret")
        );
        assert_eq!(login_for(&logins, "other.org").unwrap().login, "bob");
        assert_eq!(login_for(&logins, "elsewhere.net").unwrap().login, "anon");
        assert!(!format!("{alice:?}").contains("s3cret"));
        assert!(login_for(&parse_netrc("machine a login u password p"), "b").is_none());
    }
}
