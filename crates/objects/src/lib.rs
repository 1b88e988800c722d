//! pixmill's object stores: `s3://bucket/key` URLs wherever pixmill takes
//! a path, for any S3-compatible store (AWS, MinIO, R2, Ceph, moto).
//!
//! Work that waits gets threads: pixmill's stages are threads that block,
//! so this crate gives them a blocking face ([`Bucket`]) over the Arrow
//! project's `object_store`, whose async requests run on one small tokio
//! runtime per bucket. Credentials and the endpoint are read as the AWS
//! CLI reads them ([`config`]); they never appear in a message.

#![warn(unreachable_pub)]
#![warn(missing_docs)]

// The client itself (feature `store`: object_store, tokio); without it,
// only what names and checks an `s3://` URL.
#[cfg(feature = "store")]
mod bucket;
#[cfg(feature = "store")]
pub mod config;
#[cfg(feature = "store")]
mod upload;

#[cfg(feature = "store")]
pub use bucket::{Bucket, Meta, ObjectReader, PART_SIZE};
#[cfg(feature = "store")]
pub use upload::{Upload, UploadMarker, IN_FLIGHT};

use std::fmt;

/// An object-store URL, split: `s3://bucket/some/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    /// The bucket.
    pub bucket: String,
    /// The key or prefix below the bucket, without leading or trailing `/`.
    pub key: String,
}

impl ObjectUrl {
    /// Parses `s3://bucket[/key]`. `Ok(None)`: not URL-shaped at all (a
    /// local path). `Err`: URL-shaped but not a store pixmill reads (the
    /// message names only the scheme: the rest may hold a secret).
    pub fn parse(text: &str) -> Result<Option<ObjectUrl>, String> {
        let Some(scheme) = url_scheme(text) else {
            return Ok(None);
        };
        let rest = &text[scheme.len() + 3..];
        if !scheme.eq_ignore_ascii_case("s3") {
            return Err(format!(
                "{scheme}:// is not a store pixmill reads or writes: s3:// (AWS and every \
                 S3-compatible store) is"
            ));
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || bucket.contains('@') {
            return Err("an s3:// URL names its bucket first: s3://bucket/prefix".into());
        }
        let key = key.trim_matches('/');
        if key.split('/').any(|part| part == "." || part == "..") || key.contains("//") {
            return Err("an s3:// key has no empty, . or .. parts".into());
        }
        Ok(Some(ObjectUrl {
            bucket: bucket.to_string(),
            key: key.to_string(),
        }))
    }

    /// `key` joined below this URL's key.
    pub fn join(&self, key: &str) -> String {
        match (self.key.is_empty(), key.is_empty()) {
            (true, _) => key.to_string(),
            (false, true) => self.key.clone(),
            (false, false) => format!("{}/{key}", self.key),
        }
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key.is_empty() {
            true => write!(f, "s3://{}", self.bucket),
            false => write!(f, "s3://{}/{}", self.bucket, self.key),
        }
    }
}

/// The scheme of a URL-shaped `text` (`s3` of `s3://b/k`, `C` of no
/// `C:\x`: a scheme has two or more characters), or `None` for a path.
pub fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let url_like = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    url_like.then_some(scheme)
}

/// Whether `text` is an `s3://` URL (any case).
pub fn is_object_url(text: &str) -> bool {
    text.len() > 5 && text[..5].eq_ignore_ascii_case("s3://")
}

/// A failed request, in one line, without credentials.
#[derive(Debug, Clone)]
pub struct Error {
    /// What went wrong.
    pub message: String,
    /// The object is not there (404).
    pub not_found: bool,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The first line of an error's chain that says something, without the
/// signed request's query (object_store's messages hold no secret keys, but
/// a session token could travel in a URL).
#[cfg(feature = "store")]
fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !more.is_empty() && !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    let text = text.replace('\n', " ");
    redact_query(&text)
}

/// `…?X-Amz-…` query strings cut from a message.
#[cfg_attr(not(feature = "store"), allow(dead_code))]
fn redact_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(' ') {
        if !out.is_empty() {
            out.push(' ');
        }
        match word.find('?') {
            Some(at) if word.contains("://") => {
                out.push_str(&word[..at]);
                out.push_str("?…");
            }
            _ => out.push_str(word),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_key() {
        let url = ObjectUrl::parse("s3://bucket/a/b/").unwrap().unwrap();
        assert_eq!(url.bucket, "bucket");
        assert_eq!(url.key, "a/b");
        assert_eq!(url.to_string(), "s3://bucket/a/b");
        assert_eq!(url.join("c.jpg"), "a/b/c.jpg");
        let root = ObjectUrl::parse("S3://bucket").unwrap().unwrap();
        assert_eq!(root.key, "");
        assert_eq!(root.join("c.jpg"), "c.jpg");
        assert_eq!(ObjectUrl::parse("photos/a.jpg"), Ok(None));
        assert_eq!(ObjectUrl::parse("C:\\x"), Ok(None));
    }

    #[test]
    fn other_schemes_and_bad_keys_are_refused_naming_only_the_scheme() {
        let e = ObjectUrl::parse("gs://secret-bucket/key").unwrap_err();
        assert!(e.starts_with("gs:// is not a store"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        assert!(ObjectUrl::parse("s3://").is_err());
        assert!(ObjectUrl::parse("s3://user:pw@bucket/x").is_err());
        assert!(ObjectUrl::parse("s3://b/a/../x").is_err());
        assert!(ObjectUrl::parse("s3://b/a//x").is_err());
    }

    #[test]
    fn messages_lose_signed_queries() {
        assert_eq!(
            redact_query("error sending http://h/b/k?X-Amz-Security-Token=abc: reset"),
            "error sending http://h/b/k?… reset"
        );
        assert_eq!(redact_query("a? b"), "a? b");
    }
}
