//! pixmill: a parallel batch image converter and downloader.
//!
//! Work that waits gets threads; work that computes gets cores.

pub mod error;
pub mod fetch;
pub mod imaging;
pub mod source;
