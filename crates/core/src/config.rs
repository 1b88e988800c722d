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
    Overwrite,
    Fail,
}

/// Where the CPU stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Rayon,
    Process { worker_memory_mb: Option<u64> },
}

/// Where entries come from and which are taken.
#[derive(Debug, Clone, Default)]
pub struct SourceConfig {
    pub inputs: Vec<OsString>,
    pub manifests: Vec<PathBuf>,
    pub manifest_format: Option<ManifestFormat>,
    pub null: bool,
    pub include: Option<GlobSet>,
    pub exclude: Option<GlobSet>,
    pub max_depth: Option<usize>,
    pub follow: bool,
    pub hidden: bool,
    /// `(index, count)`: keep entries whose stable key hashes to `index`.
    pub shard: Option<(u64, u64)>,
    /// Which manifest columns hold the input and the caption.
    pub columns: crate::source::manifest::ColumnNames,
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

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub source: SourceConfig,
    pub out_dir: PathBuf,
    pub output_format: OutputFormat,
    /// Input rows per data file of a dataset output.
    pub samples_per_file: u64,
    pub on_exists: OnExists,
    /// Make each output durable before its record says ok.
    pub fsync: bool,
    /// Stable hash of the run's settings that shape output bytes; see
    /// [`Config::settings_hash`].
    pub settings_base: u64,
    pub json: bool,
    /// NUL-terminated stdout records (`--print0`).
    pub print0: bool,
    pub report: Option<PathBuf>,
    pub quiet: bool,
    pub dry_run: bool,
    /// Progress bars on stderr (a terminal, and not quiet).
    pub progress: bool,
    pub jobs: usize,
    pub backend: Backend,
    pub io_threads: usize,
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
