//! pixmill's pipeline: everything between validated settings and the
//! records of a run. Work that waits gets threads; work that computes gets
//! cores. The stages (source → I/O threads → CPU workers → store → sink)
//! are joined by bounded channels, so they overlap and memory stays flat
//! however long the list.
//!
//! The public surface is small: a [`Config`] in, [`run`] it under a
//! [`Stop`], an [`Outcome`] out; [`serve_worker`] is the other end of the
//! process backend.

#![warn(unreachable_pub)]
#![warn(missing_docs)]

pub mod config;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod input;
mod io_stage;
mod item;
mod naming;
#[cfg_attr(not(feature = "s3"), path = "objects_in_stub.rs")]
mod objects_in;
mod output;
mod output_format;
mod pipeline;
mod process;
mod report;
mod signal;
mod source;
mod store;

pub use config::Config;
pub use pipeline::{run, Outcome};
pub use report::Counts;
pub use signal::Stop;

/// Manifest formats and column names, as `--manifest-format`,
/// `--url-col` and `--caption-col` choose them.
pub mod manifest {
    pub use crate::source::manifest::{
        read_manifest, ColumnNames, ManifestFormat, DEFAULT_MAX_LINE,
    };
}

/// Serves jobs as a worker process of `--backend process`: reads jobs on
/// stdin and answers on stdout until stdin closes.
pub fn serve_worker(memory_mb: Option<u64>) -> Result<(), pixmill_base::error::Error> {
    process::worker::serve(memory_mb)
}
