//! Command-line types (clap derive only). Validation and defaults that need
//! thought live in `config`, which turns these into a `Config`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Parallel batch image converter and downloader.
///
/// Work that waits (downloads) gets threads; work that computes (decoding,
/// resizing, encoding) gets cores. Output paths go to stdout, progress and
/// errors to stderr. Exit status: 0 all done or skipped, 1 some items failed,
/// 2 usage or setup error or no input found (nothing was done), 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "pixmill", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process and moved once: boxing the large variants would
// buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert images (files, folders, manifests, URLs) to other sizes and formats.
    Convert(ConvertArgs),
    /// Download a list of URLs into a folder (any file type, bytes unchanged).
    Fetch(FetchArgs),
    /// List the image formats this build reads and writes.
    Formats(FormatsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// For example `pixmill completions bash > ~/.local/share/bash-completion/completions/pixmill`.
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, e.g. `pixmill man | man -l -`.
    Man,
    /// Run as a CPU worker process for `--backend process` (internal).
    #[command(hide = true, name = "__worker")]
    Worker(WorkerArgs),
}

#[derive(Debug, Args)]
pub struct FormatsArgs {
    /// One JSON object per format instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Cap this worker's address space (MB).
    #[arg(long)]
    pub memory_mb: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub cpu: CpuArgs,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Input")]
pub struct InputArgs {
    /// Files, folders (walked recursively) and URLs; `-` reads entries from stdin.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<std::ffi::OsString>,

    /// Read entries from a manifest file (`-` = stdin); may be repeated.
    #[arg(short = 'm', long, value_name = "FILE")]
    pub manifest: Vec<PathBuf>,

    /// Manifest format; by default parquet by content, else by extension (.csv, .tsv, .jsonl, .parquet, else lines).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub manifest_format: Option<ManifestFormatArg>,

    /// Entries on stdin and in plain manifests are NUL-separated (as `find -print0` writes).
    #[arg(short = '0', long)]
    pub null: bool,

    /// Only take files whose path (relative to the folder walked) matches this glob; may be repeated.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,

    /// Skip files and folders whose relative path matches this glob; may be repeated.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// As --include, ignoring case (`--iinclude '*.jpg'` takes IMG_0001.JPG).
    #[arg(long, value_name = "GLOB")]
    pub iinclude: Vec<String>,

    /// As --exclude, ignoring case.
    #[arg(long, value_name = "GLOB")]
    pub iexclude: Vec<String>,

    /// Descend at most this many levels below each folder given.
    #[arg(long, value_name = "N")]
    pub max_depth: Option<usize>,

    /// Follow symbolic links to folders while walking (links to files are always followed).
    #[arg(short = 'L', long)]
    pub follow: bool,

    /// Also take hidden files and folders (names starting with `.`) while walking.
    #[arg(long)]
    pub hidden: bool,

    /// Process only the entries of shard I of N (by a stable hash of each input), e.g. `--shard 0/4`;
    /// `auto` takes I and N from a Slurm array task or a Kubernetes indexed job (see docs/clusters.md).
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,

    /// The CSV/TSV/JSON Lines/parquet column holding the URL or path (default: url, path, input or file).
    #[arg(long, value_name = "NAME")]
    pub url_col: Option<String>,

    /// The column holding each image's caption (default: caption, when present).
    #[arg(long, value_name = "NAME")]
    pub caption_col: Option<String>,

    /// A column holding a digest downloads must have, and its algorithm (md5, sha1, sha256, sha512); repeatable. Columns named md5, sha1, sha256 and sha512 are checked without it.
    #[arg(long, value_name = "NAME:ALGO")]
    pub hash_col: Vec<String>,

    /// Longest manifest line, CSV/TSV row or parquet row's text (e.g. 4M); a longer one fails alone, with its line number, and is never held in memory.
    #[arg(long, default_value = "1M", value_name = "SIZE")]
    pub max_manifest_line: String,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output folder (created if missing). Nothing is written outside it.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub out_dir: PathBuf,

    /// When an output already exists: update (redo it unless it is up to date: same input, same settings, intact), skip (keep whatever exists), overwrite (always redo), fail.
    #[arg(long, value_enum, default_value_t = OnExistsArg::Update, value_name = "WHAT")]
    pub on_exists: OnExistsArg,

    /// How outputs are stored: loose files, WebDataset tar shards, or parquet shards (image bytes in a column).
    #[arg(long, value_enum, default_value_t = OutputFormatArg::Files, value_name = "KIND")]
    pub output_format: OutputFormatArg,

    /// With webdataset or parquet output: at most this many input rows per data file.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub samples_per_file: u64,

    /// With webdataset or parquet output: a rerun also retries the rows that failed for good (404, not an image), not only those that failed for a reason worth retrying (timeouts, resets, 5xx, 429).
    #[arg(long)]
    pub retry_failed: bool,

    /// With webdataset or parquet output: add this list to the dataset in the folder, in data files numbered after the ones there; rerunning the same append resumes it and adds nothing twice.
    #[arg(long)]
    pub append: bool,

    /// Digest each item's input bytes (as downloaded or read) into its record and the dataset metadata.
    #[arg(long, value_enum, value_name = "ALGO")]
    pub hash: Option<HashArg>,

    /// Make each output (and its folder entry) durable on disk before its record says ok.
    #[arg(long)]
    pub fsync: bool,

    /// Print one JSON record per item on stdout instead of output paths.
    #[arg(long)]
    pub json: bool,

    /// End each output path (or --json record) with NUL instead of a newline, for `xargs -0`.
    #[arg(long)]
    pub print0: bool,

    /// Write one JSON record per item to FILE (JSON Lines).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// No progress bar and no summary (errors are still printed).
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// List what would be done without reading, downloading or writing anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Image")]
pub struct ImageArgs {
    /// Resize to fit a box: `WxH`, `W` (width only) or `xH` (height only); or scale by a percentage, `50%`.
    #[arg(short = 'r', long, value_name = "SIZE")]
    pub resize: Option<String>,

    /// How to fit the box: inside (keep aspect), cover (crop to fill), fill (stretch), contain (letterbox), outside (shorter side to the box, no crop).
    #[arg(long, value_enum, default_value_t = FitArg::Inside)]
    pub fit: FitArg,

    /// Which part `--fit cover` keeps: centre, entropy (the busiest region) or attention (skin tones, saturated colour and edges), chosen on the shrunk image; the record gives the window kept.
    #[arg(long, value_enum, value_name = "MODE", conflicts_with = "gravity")]
    pub crop: Option<CropArg>,

    /// A fixed place for the `--fit cover` window: north, south, east, west, northeast, northwest, southeast, southwest or centre.
    #[arg(long, value_enum, value_name = "PLACE")]
    pub gravity: Option<GravityArg>,

    /// Allow images smaller than the box to be enlarged.
    #[arg(long)]
    pub enlarge: bool,

    /// Resampling filter.
    #[arg(long, value_enum, default_value_t = FilterArg::Lanczos3)]
    pub filter: FilterArg,

    /// Output format (default: same as the input's).
    #[arg(short = 'f', long, value_enum)]
    pub format: Option<FormatArg>,

    /// Quality for JPEG and lossy WebP, 1–100.
    #[arg(long, default_value_t = 85, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,

    /// Lossless WebP (an error with a --format that has no lossless mode).
    #[arg(long)]
    pub lossless: bool,

    /// PNG and TIFF compression (zlib level), 0 (none, fastest) to 9 (smallest, slowest).
    #[arg(long, default_value_t = 3, value_name = "0-9", value_parser = clap::value_parser!(u8).range(0..=9))]
    pub compression: u8,

    /// WebP encoding effort (libwebp method), 0 (fastest) to 6 (smallest).
    #[arg(long, default_value_t = 4, value_name = "0-6", value_parser = clap::value_parser!(u8).range(0..=6))]
    pub effort: u8,

    /// Write progressive JPEG.
    #[arg(long)]
    pub progressive: bool,

    /// JPEG chroma subsampling (default: 420 below --quality 90, 444 from 90).
    #[arg(long, value_enum, value_name = "MODE")]
    pub subsampling: Option<SubsamplingArg>,

    /// Colour for flattening transparency and for `--fit contain` borders: a name (white, black), `#rrggbb`, `r,g,b`, or `transparent` (contain borders stay transparent where the format has alpha).
    #[arg(long, default_value = "white", value_name = "COLOUR")]
    pub background: String,

    /// Keep pixels as stored instead of applying the EXIF orientation.
    #[arg(long)]
    pub no_auto_orient: bool,

    /// Colour profile handling: srgb converts through the input's embedded profile to sRGB; p3 converts to Display P3 and embeds its profile; keep leaves the numbers and embeds the input's profile in the output.
    #[arg(long, value_enum, default_value_t = ColourArg::Srgb, value_name = "MODE")]
    pub colour: ColourArg,

    /// Convert colours to this RGB ICC profile, and embed it, instead of sRGB (JPEG, PNG, WebP, AVIF and TIFF; other outputs get sRGB and say so).
    #[arg(long, value_name = "FILE.icc")]
    pub export_profile: Option<PathBuf>,

    /// Convert JPEGs that end early (e.g. an interrupted download) instead of failing them; the missing part comes out grey and the record says so.
    #[arg(long)]
    pub accept_truncated: bool,

    /// Copy EXIF (orientation reset, dimensions updated), XMP, the colour profile and pixel density into JPEG, PNG, WebP and TIFF outputs (default: stripped).
    #[arg(long)]
    pub keep_metadata: bool,
    /// Skip images whose shorter side is below N pixels (checked from the header, before decoding).
    #[arg(long, value_name = "N")]
    pub min_size: Option<u32>,

    /// Skip images whose longer side is more than R times their shorter (e.g. 3).
    #[arg(long, value_name = "R")]
    pub max_aspect: Option<f64>,

    /// Refuse images with more pixels than this (checked from the header, before decoding).
    #[arg(long, default_value_t = 100_000_000, value_name = "N")]
    pub max_pixels: u64,

    /// Refuse inputs larger than this (e.g. 500M): files, and downloads, which stop as their body passes it.
    #[arg(long, default_value = "1G", value_name = "SIZE")]
    pub max_input_size: String,

    /// When to encode afresh: always; if-needed (keep the input's bytes when the output would be the same size and format with nothing to rotate, convert or blur); never (keep the input's bytes once they decode; options that change pixels are refused).
    #[arg(long, value_enum, default_value_t = ReencodeArg::Always, value_name = "WHEN")]
    pub reencode: ReencodeArg,

    /// The manifest column holding boxes to blur strongly before resizing (faces, plates): a list of [x0, y0, x1, y1], each a fraction of the width or height, as img2dataset's bbox_col. A malformed box fails its row.
    #[arg(long, value_name = "NAME")]
    pub bbox_col: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReencodeArg {
    Always,
    IfNeeded,
    Never,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "CPU stage")]
pub struct CpuArgs {
    /// CPU workers (default: number of cores; at most 8 per core).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Where the CPU stage runs: threads of one rayon pool, or isolated worker processes.
    #[arg(long, value_enum, default_value_t = BackendArg::Rayon)]
    pub backend: BackendArg,

    /// With `--backend process`: cap each worker's address space (MB), so one huge image kills only its worker.
    #[arg(long, value_name = "MB")]
    pub worker_memory: Option<u64>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Network")]
pub struct NetArgs {
    /// Download threads (downloads wait on the network, so many threads overlap them; each holds a socket and a temp file, not the body).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub io_threads: usize,

    /// Fix the connections to one host at once (default: learnt per host, from 8 up to --io-threads, backing off when the server shows load).
    #[arg(long, value_name = "N")]
    pub per_host: Option<usize>,

    /// Open a fresh connection for every request instead of reusing one per host (by default an idle connection waits about 2 s for its host's next request).
    #[arg(long)]
    pub no_keep_alive: bool,

    /// Retries for connection errors, timeouts, HTTP 408/429/5xx and truncated bodies.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub retries: u32,

    /// Time allowed to connect (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub connect_timeout: String,

    /// A download that receives no bytes for this long is stalled.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub timeout: String,

    /// Time allowed for one item, all attempts included.
    #[arg(long, value_name = "DURATION")]
    pub max_time: Option<String>,

    /// A download averaging less than this many bytes per second over a --timeout window is stalled (0 = off).
    #[arg(long, default_value = "1K", value_name = "SIZE")]
    pub min_speed: String,

    /// Also trust the certificates in this PEM file (e.g. a private CA's).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Do not check TLS certificates at all (for testing only: anyone on the path can then read and change the downloads).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// The User-Agent header (default: pixmill/VERSION).
    #[arg(long, value_name = "STRING")]
    pub user_agent: Option<String>,

    /// X-Robots-Tag directives that opt an image out (comma-separated; empty to honour none).
    #[arg(
        long,
        value_name = "LIST",
        default_value = "noai,noimageai,noindex,noimageindex,noml"
    )]
    pub disallowed_header_directives: String,

    /// Send this header with every request, as `Name: value` (repeatable). Authorization and Cookie are not sent on after a redirect to another host.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// Send this Referer header with every request.
    #[arg(long, value_name = "URL")]
    pub referer: Option<String>,

    /// Send the cookies of this Netscape cookie file (as curl, wget and aria2c read) to the hosts they belong to.
    #[arg(long, value_name = "FILE")]
    pub load_cookies: Option<PathBuf>,

    /// Send logins from ~/.netrc as Basic auth (a login in the URL wins).
    #[arg(long)]
    pub netrc: bool,

    /// Send logins from this netrc file as Basic auth.
    #[arg(long, value_name = "FILE")]
    pub netrc_file: Option<PathBuf>,

    /// Cap the whole run's download rate, in bytes per second (e.g. 500K, 2M).
    #[arg(long, value_name = "RATE")]
    pub limit_rate: Option<String>,

    /// Skip URLs that their host's robots.txt disallows (fetched once per host; a 4xx robots.txt allows all, a 5xx or unreachable one disallows all).
    #[arg(long)]
    pub respect_robots_txt: bool,

    /// Also refuse to connect to loopback, private (RFC 1918), CGNAT, unique local (fc00::/7) and unspecified addresses.
    #[arg(long)]
    pub deny_private: bool,

    /// Allow connections to link-local addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254: where clouds serve instance credentials), refused by default.
    #[arg(long)]
    pub allow_link_local: bool,

    /// Protocols a redirect may lead to: `https` refuses a redirect from https to http (default: http,https, and such a downgrade is noted in the record).
    #[arg(long, value_name = "PROTOCOLS", default_value = "http,https")]
    pub proto_redir: String,

    /// Stop downloads as their body passes this size (e.g. 50M; `convert` stops them at --max-input-size unless this is lower).
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ManifestFormatArg {
    Lines,
    Csv,
    Tsv,
    Jsonl,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormatArg {
    Files,
    Webdataset,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HashArg {
    Sha256,
    Md5,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnExistsArg {
    Update,
    Skip,
    Overwrite,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColourArg {
    Srgb,
    Keep,
    P3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CropArg {
    #[value(alias = "center")]
    Centre,
    Entropy,
    Attention,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GravityArg {
    North,
    South,
    East,
    West,
    Northeast,
    Northwest,
    Southeast,
    Southwest,
    #[value(alias = "center")]
    Centre,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FitArg {
    Inside,
    Cover,
    Fill,
    Contain,
    Outside,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FilterArg {
    Nearest,
    Box,
    Bilinear,
    Hamming,
    Catmullrom,
    Mitchell,
    Gaussian,
    Lanczos3,
    /// Area average when reducing, Lanczos3 when enlarging (OpenCV's INTER_AREA, img2dataset's default); decodes JPEGs smaller, so faster and a little softer.
    Area,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    #[value(alias = "jpg")]
    Jpeg,
    Png,
    Webp,
    Gif,
    Bmp,
    #[value(alias = "tif")]
    Tiff,
    /// AVIF (AV1 in HEIF), when built with the `heif` feature.
    Avif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubsamplingArg {
    #[value(name = "444")]
    S444,
    #[value(name = "422")]
    S422,
    #[value(name = "420")]
    S420,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Rayon,
    Process,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
