//! The source stage: turns arguments, walked folders, stdin and manifests
//! into planned entries, one at a time (nothing is collected, so a list of
//! any length streams), deciding each entry's output name on the way.

pub mod manifest;
mod plan;
mod walk;

pub use plan::{is_url, Planned, Planner};

use crate::config::SourceConfig;
use crate::error::{Error, ErrorClass, ItemError};
use crate::item::{Extra, Record};
use manifest::{read_manifest_with, ManifestFormat};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Where a raw entry came from; decides how its output is named.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Found by walking a folder; the path relative to that folder.
    Walk(PathBuf),
    /// Named directly on the command line, on stdin or in a manifest.
    Listed,
}

/// An entry before planning: what the user gave.
#[derive(Debug, Clone)]
pub struct Raw {
    pub input: OsString,
    pub output: Option<String>,
    pub sha256: Option<String>,
    pub origin: Origin,
    /// The caption and other columns of its manifest row.
    pub extra: Extra,
}

/// A list of entries to read: the manifests and stdin, opened up front so a
/// missing manifest is a usage error before any work starts.
pub struct Lists {
    lists: Vec<(String, Box<dyn BufRead + Send>, ManifestFormat)>,
}

impl Lists {
    pub fn open(config: &SourceConfig) -> Result<Lists, Error> {
        let mut lists = Vec::new();
        let stdin_format = config.manifest_format.unwrap_or(ManifestFormat::Lines);
        if config.inputs.iter().any(|i| i == "-") {
            lists.push(("stdin".to_string(), stdin_reader(), stdin_format));
        }
        for path in &config.manifests {
            if path.as_os_str() == "-" {
                lists.push(("stdin".to_string(), stdin_reader(), stdin_format));
                continue;
            }
            let file = File::open(path).map_err(|e| {
                Error::Usage(format!(
                    "cannot open manifest {}: {}",
                    path.display(),
                    crate::output::io_reason(&e)
                ))
            })?;
            let format = config
                .manifest_format
                .unwrap_or_else(|| ManifestFormat::from_path(path));
            let reader: Box<dyn BufRead + Send> = if is_gzip(path) {
                // Streamed: a compressed list of any size never sits in memory.
                let decoder = flate2::read::MultiGzDecoder::new(BufReader::new(file));
                Box::new(BufReader::with_capacity(1 << 16, decoder))
            } else {
                Box::new(BufReader::with_capacity(1 << 16, file))
            };
            lists.push((path.display().to_string(), reader, format));
        }
        Ok(Lists { lists })
    }
}

/// `.gz`, any case: decompressed as it is read.
fn is_gzip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

fn stdin_reader() -> Box<dyn BufRead + Send> {
    Box::new(BufReader::with_capacity(1 << 16, io::stdin()))
}

/// Feeds every raw entry to `planner`, in order: arguments first (folders
/// walked as met), then stdin and manifests. Stops when `planner` says so
/// (the run is stopping or the next stage is gone).
pub fn produce(config: &SourceConfig, lists: Lists, planner: &mut Planner) {
    for input in config.inputs.iter().filter(|i| *i != "-") {
        if !feed_listed(config, input.clone(), None, None, Extra::default(), planner) {
            return;
        }
    }
    for (name, reader, format) in lists.lists {
        let names = config.columns.clone();
        for item in read_manifest_with(reader, format, config.null, names) {
            let keep_going = match item {
                Ok(raw) => feed_listed(
                    config, raw.input, raw.output, raw.sha256, raw.extra, planner,
                ),
                Err(e) => {
                    let error = ItemError::new(ErrorClass::Manifest, e.message.clone());
                    planner.emit_record(Record::failed_input(format!("{name}:{}", e.line), error))
                }
            };
            if !keep_going {
                return;
            }
        }
    }
}

/// One listed entry: a URL, a file, or a folder to walk.
fn feed_listed(
    config: &SourceConfig,
    input: OsString,
    output: Option<String>,
    sha256: Option<String>,
    extra: Extra,
    planner: &mut Planner,
) -> bool {
    let path = Path::new(&input);
    if !plan::is_url(&input) && output.is_none() && path.is_dir() {
        return walk::walk(config, path, planner);
    }
    planner.plan(Raw {
        input,
        output,
        sha256,
        origin: Origin::Listed,
        extra,
    })
}
