//! The source stage: turns arguments, walked folders, stdin and manifests
//! into planned entries, one at a time (nothing is collected, so a list of
//! any length streams), deciding each entry's output name on the way.

pub(crate) mod manifest;
mod plan;
mod walk;

pub(crate) use plan::{is_url, Outlets, PlanContext, Planner};

use crate::config::SourceConfig;
use crate::item::{Extra, Record};
use manifest::{read_manifest_with, ManifestFormat};
use pixmill_base::error::{Error, ErrorClass, ItemError};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Where a raw entry came from; decides how its output is named.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// Found by walking a folder; the path relative to that folder.
    Walk(PathBuf),
    /// Named directly on the command line, on stdin or in a manifest.
    Listed,
}

/// An entry before planning: what the user gave.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub input: OsString,
    pub output: Option<String>,
    pub sha256: Option<String>,
    pub origin: Origin,
    /// The image format read from the first bytes, when the walk already
    /// looked (so the planner need not open the file again).
    pub sniffed: Option<pixmill_imaging::Format>,
    /// The caption and other columns of its manifest row.
    pub extra: Extra,
}

/// What the source found and what it passed over, for the summary: nothing
/// is left out without a word.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceStats {
    /// Entries handed on (before `--shard`): listed ones, images found by
    /// walking, and walk errors.
    pub entries: u64,
    /// Regular files a walk met whose content is not an image.
    pub not_images: u64,
    /// Hidden files and folders a walk did not enter (`-H` takes them).
    pub hidden: u64,
    /// Symlinks to folders a walk did not follow (`-L` follows them).
    pub linked_folders: u64,
    /// Symlinks whose target is missing.
    pub broken_links: u64,
    /// FIFOs, sockets and devices.
    pub special: u64,
    /// Outputs of an earlier run in a walked folder that is also `-o`.
    pub earlier_outputs: u64,
}

impl SourceStats {
    /// One line for the summary, or `None` when nothing was passed over.
    pub(crate) fn passed_over(&self) -> Option<String> {
        let mut parts = Vec::new();
        let mut say = |n: u64, one: &str, many: &str, how: &str| {
            if n > 0 {
                let what = if n == 1 { one } else { many };
                parts.push(format!("{n} {what}{how}"));
            }
        };
        say(
            self.earlier_outputs,
            "output of an earlier run skipped",
            "outputs of an earlier run skipped",
            " (-o is the walked folder)",
        );
        say(
            self.not_images,
            "file skipped: not an image",
            "files skipped: not images",
            "",
        );
        say(
            self.linked_folders,
            "symlinked folder not followed",
            "symlinked folders not followed",
            " (-L follows them)",
        );
        say(
            self.hidden,
            "hidden entry skipped",
            "hidden entries skipped",
            " (--hidden takes them)",
        );
        say(
            self.broken_links,
            "broken symlink skipped",
            "broken symlinks skipped",
            "",
        );
        say(
            self.special,
            "special file skipped (FIFO, socket or device)",
            "special files skipped (FIFOs, sockets or devices)",
            "",
        );
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// A list of entries to read: the manifests and stdin, opened up front so a
/// missing manifest is a usage error before any work starts.
pub(crate) struct Lists {
    lists: Vec<(String, manifest::Entries)>,
}

impl Lists {
    pub(crate) fn open(config: &SourceConfig) -> Result<Lists, Error> {
        let mut lists = Vec::new();
        let stdin = || {
            let format = config.manifest_format.unwrap_or(ManifestFormat::Lines);
            let entries = read_manifest_with(
                stdin_reader(),
                format,
                config.null,
                config.columns.clone(),
                config.max_line,
            );
            checked("stdin".to_string(), entries)
        };
        if config.inputs.iter().any(|i| i == "-") {
            lists.push(stdin()?);
        }
        for path in &config.manifests {
            match path.as_os_str() == "-" {
                true => lists.push(stdin()?),
                false => lists.push(open_manifest(path, config)?),
            }
        }
        Ok(Lists { lists })
    }
}

/// A manifest whose header (when it has one) names an input column.
fn checked(
    name: String,
    mut entries: manifest::Entries,
) -> Result<(String, manifest::Entries), Error> {
    entries
        .check_header()
        .map_err(|e| Error::Setup(format!("manifest {name}: line {}: {}", e.line, e.message)))?;
    Ok((name, entries))
}

/// Opens one manifest file: parquet by its magic (or `--manifest-format`),
/// other formats by extension, gzip unpacked as it is read.
fn open_manifest(path: &Path, config: &SourceConfig) -> Result<(String, manifest::Entries), Error> {
    let name = path.display().to_string();
    let cannot_open = |e: io::Error| {
        Error::Usage(format!(
            "cannot open manifest {name}: {}",
            pixmill_base::io_reason(&e)
        ))
    };
    let remote = path
        .to_str()
        .map(pixmill_objects::ObjectUrl::parse)
        .transpose()
        .map_err(|e| Error::Usage(format!("cannot open manifest: {e}")))?
        .flatten();
    let mut file = match remote {
        Some(url) => crate::objects_in::open_list(&url, 3)
            .map_err(|e| Error::Usage(format!("cannot open manifest {name}: {e}")))?,
        None => File::open(path).map_err(cannot_open)?,
    };
    let format = match config.manifest_format {
        Some(format) => format,
        None if manifest::is_parquet(&mut file).map_err(cannot_open)? => ManifestFormat::Parquet,
        None => ManifestFormat::from_path(path),
    };
    if format == ManifestFormat::Parquet {
        let entries = parquet_list(file, path, config)
            .map_err(|message| Error::Setup(format!("manifest {name}: {message}")))?;
        return Ok((name, entries));
    }
    let reader: Box<dyn BufRead + Send> = if is_gzip(path) {
        // Streamed: a compressed list of any size never sits in memory.
        let decoder = flate2::read::MultiGzDecoder::new(BufReader::new(file));
        Box::new(BufReader::with_capacity(1 << 16, decoder))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, file))
    };
    checked(
        name,
        read_manifest_with(
            reader,
            format,
            config.null,
            config.columns.clone(),
            config.max_line,
        ),
    )
}

/// A parquet manifest: compressed inside, so a gzip around it is refused
/// rather than misread.
fn parquet_list(
    file: File,
    path: &Path,
    config: &SourceConfig,
) -> Result<manifest::Entries, String> {
    if is_gzip(path) {
        return Err("a parquet manifest cannot be gzip-compressed (unpack it first)".to_string());
    }
    manifest::read_parquet_manifest(file, config.columns.clone(), config.max_line)
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
pub(crate) fn produce(config: &SourceConfig, lists: Lists, planner: &mut Planner) -> SourceStats {
    let mut stats = SourceStats::default();
    feed_all(config, lists, planner, &mut stats);
    stats
}

fn feed_all(config: &SourceConfig, lists: Lists, planner: &mut Planner, stats: &mut SourceStats) {
    for input in config.inputs.iter().filter(|i| *i != "-") {
        if !feed_listed(
            config,
            input.clone(),
            None,
            None,
            Extra::default(),
            planner,
            stats,
        ) {
            return;
        }
    }
    for (name, entries) in lists.lists {
        for item in entries {
            let keep_going = match item {
                Ok(raw) => feed_listed(
                    config, raw.input, raw.output, raw.sha256, raw.extra, planner, stats,
                ),
                Err(e) => {
                    stats.entries += 1;
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
    stats: &mut SourceStats,
) -> bool {
    let path = Path::new(&input);
    if !plan::is_url(&input) && output.is_none() && path.is_dir() {
        return walk::walk(config, path, planner, stats);
    }
    stats.entries += 1;
    planner.plan(Raw {
        input,
        output,
        sha256,
        origin: Origin::Listed,
        sniffed: None,
        extra,
    })
}
