//! Errors: `ItemError` is one item's failure (data that flows to the sink),
//! `Error` is a setup or usage failure that stops the run before work starts.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of failure an item met; written to reports as `error_class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The input could not be read (missing, unreadable, not a regular file).
    Read,
    /// The input is not a decodable image (corrupt, truncated, unknown format).
    Decode,
    /// The input exceeds a limit (`--max-pixels`, `--max-size`, file size cap).
    TooLarge,
    /// The image could not be encoded to the requested format.
    Encode,
    /// The output could not be written (permissions, disk full, ...).
    Write,
    /// The output exists and `--on-exists fail` was given.
    Exists,
    /// Another input of this run already maps to the same output.
    Clash,
    /// The output name is unsafe (absolute, `..`, escapes `-o`).
    Name,
    /// The manifest entry could not be parsed.
    Manifest,
    /// A download failed below HTTP (refused, reset, DNS, TLS, bad URL).
    Fetch,
    /// The server answered with an HTTP error status.
    Http,
    /// A connect, stall or whole-item timeout expired.
    Timeout,
    /// The body ended before its announced length.
    Truncated,
    /// The `sha256` of the body did not match the manifest.
    Checksum,
    /// A worker process died or misbehaved while running the item.
    Worker,
    /// A decoder or encoder panicked on this input (caught, so only this
    /// item failed): a bug worth reporting with the input attached.
    Panic,
    /// Left out by a filter (`--min-size`, `--max-aspect`): the record is
    /// `skipped` with the message as its reason, not failed.
    Filtered,
}

impl ErrorClass {
    /// The class's name in records (`decode`, `http`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Read => "read",
            ErrorClass::Decode => "decode",
            ErrorClass::TooLarge => "too_large",
            ErrorClass::Encode => "encode",
            ErrorClass::Write => "write",
            ErrorClass::Exists => "exists",
            ErrorClass::Clash => "clash",
            ErrorClass::Name => "name",
            ErrorClass::Manifest => "manifest",
            ErrorClass::Fetch => "fetch",
            ErrorClass::Http => "http",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Truncated => "truncated",
            ErrorClass::Checksum => "checksum",
            ErrorClass::Worker => "worker",
            ErrorClass::Panic => "panic",
            ErrorClass::Filtered => "filtered",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item's failure: a class for machines and a one-line message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ItemError {
    /// What kind of failure, for machines and exit codes.
    pub class: ErrorClass,
    /// One line for people.
    pub message: String,
}

impl ItemError {
    /// An error of `class`; line breaks in `message` become spaces.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        // Reports and stderr promise one line per failure.
        let message = message.into().replace(['\n', '\r'], " ");
        ItemError { class, message }
    }
}

/// A failure that stops the whole run before (or instead of) doing work;
/// exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// The run cannot start (an unreadable manifest, an output folder that cannot be made).
    #[error("{0}")]
    Setup(String),
}
