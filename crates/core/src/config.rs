//! The validated settings of one run. The binary builds them from its
//! command line (and checks them there); nothing in this crate sees clap.

use crate::source::manifest::ManifestFormat;
use globset::GlobSet;
use pixmill_fetch::FetchSettings;
use pixmill_imaging::{Format, Settings};
use std::ffi::OsString;
use std::path::PathBuf;

/// What the run does with each item.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Decode, transform and encode images.
    Convert(Settings),
    /// Save downloaded bytes unchanged.
    Fetch,
}

/// What to do with an output that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExists {
    /// Redo it unless its stamp says it is up to date (the default).
    Update,
    /// Keep it, whatever made it.
    Skip,
    /// Redo it, whatever its stamp says.
    Overwrite,
    /// Fail the item and keep the existing output.
    Fail,
}

/// Where the CPU stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One rayon thread per core, in this process.
    Rayon,
    /// One worker process per core; a crash fails only its item.
    Process {
        /// Caps each worker's address space, in MB (`--worker-memory`).
        worker_memory_mb: Option<u64>,
    },
}

/// Where entries come from and which are taken.
#[derive(Debug, Clone, Default)]
pub struct SourceConfig {
    /// Files, folders and URLs given as arguments (`-` is stdin).
    pub inputs: Vec<OsString>,
    /// Manifest files (`-m`), read as streams.
    pub manifests: Vec<PathBuf>,
    /// The manifests' format when their names do not say it.
    pub manifest_format: Option<ManifestFormat>,
    /// Stdin and text manifests are NUL-separated (`-0`).
    pub null: bool,
    /// Only walked files matching these globs (`--include`).
    pub include: Option<GlobSet>,
    /// No walked file matching these globs (`--exclude`).
    pub exclude: Option<GlobSet>,
    /// How deep folder walks go (`--max-depth`).
    pub max_depth: Option<usize>,
    /// Walks follow symbolic links (`--follow`).
    pub follow: bool,
    /// Walks take hidden files and folders (`--hidden`).
    pub hidden: bool,
    /// `(index, count)`: keep entries whose stable key hashes to `index`.
    pub shard: Option<(u64, u64)>,
    /// Which manifest columns hold the input and the caption.
    pub columns: crate::source::manifest::ColumnNames,
    /// The longest manifest record kept (`--max-manifest-line`); a longer
    /// one fails alone.
    pub max_line: usize,
}

/// How outputs are stored (`--output-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Loose files under `-o`.
    Files,
    /// WebDataset tar shards.
    Webdataset,
    /// Parquet shards with the image bytes in a column.
    Parquet,
}

/// Everything one run needs, settled from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// `convert` or `fetch`.
    pub mode: Mode,
    /// Where the work comes from.
    pub source: SourceConfig,
    /// The output folder (`-o`).
    pub out_dir: PathBuf,
    /// Loose files or dataset shards.
    pub output_format: OutputFormat,
    /// Input rows per data file of a dataset output.
    pub samples_per_file: u64,
    /// A dataset rerun also retries rows that failed for good (404, not an
    /// image), not only transient failures (`--retry-failed`).
    pub retry_failed: bool,
    /// The manifest column holding boxes to blur in each image (`--bbox-col`).
    pub bbox_col: Option<String>,
    /// Add this list to the dataset in the output folder, in data files
    /// numbered after what is there (`--append`).
    pub append: bool,
    /// What to do with outputs that exist (`--on-exists`).
    pub on_exists: OnExists,
    /// Make each output durable before its record says ok.
    pub fsync: bool,
    /// Stable hash of the run's settings that shape output bytes; see
    /// [`Config::settings_hash`].
    pub settings_base: u64,
    /// Records on stdout as JSON lines (`--json`).
    pub json: bool,
    /// NUL-terminated stdout records (`--print0`).
    pub print0: bool,
    /// Also write every record as a JSON line to this file (`--report`).
    pub report: Option<PathBuf>,
    /// No summary and no progress on stderr (`--quiet`).
    pub quiet: bool,
    /// Plan and print, write nothing (`--dry-run`).
    pub dry_run: bool,
    /// Progress bars on stderr (a terminal, and not quiet).
    pub progress: bool,
    /// CPU workers (`-j`), one per core by default.
    pub jobs: usize,
    /// Where the CPU stage runs (`--backend`).
    pub backend: Backend,
    /// Threads that read and download (`--io-threads`).
    pub io_threads: usize,
    /// Network settings for URL inputs.
    pub fetch: FetchSettings,
    /// `--hash`: digest each item's input bytes into its record.
    pub hash: Option<pixmill_base::hashing::HashAlgo>,
    /// Local inputs larger than this are refused before reading.
    pub max_input_size: u64,
}

impl Config {
    /// A stable hash of the settings that shape one output's bytes (the
    /// run's image settings and the item's output format): a rerun whose
    /// hash differs redoes the item.
    pub fn settings_hash(&self, format: Option<Format>) -> u64 {
        let text = format!(
            "{:016x}/{}",
            self.settings_base,
            format.map_or("-", Format::name)
        );
        pixmill_base::hashing::stable_hash(text.as_bytes())
    }
}

/// Hashes what shapes output bytes; limits that only refuse inputs
/// (`--max-pixels`) do not count, nor does `--format`, which each item's
/// own format stands for.
pub fn settings_base(mode: &Mode) -> u64 {
    let text = match mode {
        Mode::Convert(settings) => {
            let shaping = Settings {
                max_pixels: 0,
                format: None,
                ..settings.clone()
            };
            format!(
                "convert/{}",
                serde_json::to_string(&shaping).unwrap_or_default()
            )
        }
        Mode::Fetch => "fetch".to_string(),
    };
    pixmill_base::hashing::stable_hash(text.as_bytes())
}
