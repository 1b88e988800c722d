//! argv -> settings: the clap types of `cli` become the core's validated
//! [`Config`], checked here so that a usage error stops the run before any
//! work. Nothing past this module sees clap.

use crate::cli::{self, BackendArg, ColourArg, Command, FilterArg, FitArg, FormatArg, OnExistsArg};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use pixmill_base::error::Error;
use pixmill_core::config::{
    settings_base, Backend, Config, Mode, OnExists, OutputFormat, SourceConfig,
};
use pixmill_core::manifest::{ColumnNames, ManifestFormat};
use pixmill_fetch::FetchSettings;
use pixmill_imaging::{
    ColourMode, Crop, EncodeOptions, Filter, Fit, Format, Reencode, ResizeSpec, Settings,
    Subsampling,
};
use std::io::IsTerminal;
use std::time::Duration;

/// Builds the config for `convert` or `fetch`; `None` for commands that are
/// not runs (formats, completions, man, the worker).
pub fn config_from_cli(command: Command) -> Result<Option<Config>, Error> {
    match command {
        Command::Convert(args) => convert(args).map(Some),
        Command::Fetch(args) => fetch(args).map(Some),
        Command::Formats(_) | Command::Completions(_) | Command::Man | Command::Worker(_) => {
            Ok(None)
        }
    }
}

/// The most CPU workers per core `-j` gets.
const MAX_JOBS_PER_CORE: usize = 8;

fn convert(args: cli::ConvertArgs) -> Result<Config, Error> {
    let settings = image_settings(&args.image)?;
    let bbox_col = args.image.bbox_col.clone();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = match args.cpu.jobs {
        Some(0) => return Err(usage("--jobs must be at least 1")),
        // Workers compute: past a few per core they only wait their turn,
        // and rayon's idle workers steal from one another in time that
        // grows with their square (one image at -j 2000 took 22 CPU-s).
        Some(n) if n > cores * MAX_JOBS_PER_CORE => {
            let max = cores * MAX_JOBS_PER_CORE;
            pixmill_base::eprint_line(&format!(
                "pixmill: warning: -j {n} is more than {MAX_JOBS_PER_CORE} workers per core \
                 ({cores} cores): using {max} (downloads have their own --io-threads)"
            ));
            max
        }
        Some(n) => n,
        None => cores,
    };
    let backend = match args.cpu.backend {
        BackendArg::Rayon if args.cpu.worker_memory.is_some() => {
            return Err(usage("--worker-memory needs --backend process"))
        }
        BackendArg::Rayon => Backend::Rayon,
        BackendArg::Process => Backend::Process {
            worker_memory_mb: args.cpu.worker_memory,
        },
    };
    let max_input_size = parse_size(&args.image.max_input_size, "--max-input-size")?;
    let mut config = common(Mode::Convert(settings), args.input, args.output, args.net)?;
    config.jobs = jobs;
    config.backend = backend;
    config.max_input_size = max_input_size;
    if let Some(column) = &bbox_col {
        // Blurred outputs differ from unblurred ones: a rerun with another
        // column redoes them.
        let text = format!("{:016x}/bbox-col={column}", config.settings_base);
        config.settings_base = pixmill_base::hashing::stable_hash(text.as_bytes());
    }
    config.bbox_col = bbox_col;
    // A download is an input too: it stops as it passes --max-input-size
    // (1 GiB by default), unless --max-size is the lower limit.
    if !matches!(config.fetch.max_size, Some(max) if max <= max_input_size) {
        config.fetch.max_size = Some(max_input_size);
        config.fetch.max_size_flag = "--max-input-size".to_string();
    }
    Ok(config)
}

fn fetch(args: cli::FetchArgs) -> Result<Config, Error> {
    common(Mode::Fetch, args.input, args.output, args.net)
}

fn common(
    mode: Mode,
    input: cli::InputArgs,
    output: cli::OutputArgs,
    net: cli::NetArgs,
) -> Result<Config, Error> {
    let source = source_config(input)?;
    if source.inputs.is_empty() && source.manifests.is_empty() {
        return Err(usage(
            "no inputs: give files, folders or URLs, `-` for stdin, or --manifest FILE",
        ));
    }
    // Object stores are not supported yet: a URL given where a path is
    // expected is refused, never made into a folder named `s3:`.
    refuse_url("-o/--output", &output.out_dir)?;
    for manifest in &source.manifests {
        refuse_url("-m/--manifest", manifest)?;
    }
    if let Some(report) = &output.report {
        refuse_url("--report", report)?;
    }
    let stdin_uses = source.inputs.iter().filter(|i| *i == "-").count()
        + source
            .manifests
            .iter()
            .filter(|m| m.as_os_str() == "-")
            .count();
    if stdin_uses > 1 {
        return Err(usage("stdin (`-`) can be read only once"));
    }
    if net.io_threads == 0 || net.per_host == Some(0) {
        return Err(usage("--io-threads and --per-host must be at least 1"));
    }
    let headers = request_headers(&net)?;
    let netrc = netrc_logins(&net)?;
    let fetch = FetchSettings {
        retries: net.retries,
        connect_timeout: parse_duration(&net.connect_timeout, "--connect-timeout")?,
        timeout: parse_duration(&net.timeout, "--timeout")?,
        max_time: net
            .max_time
            .as_deref()
            .map(|s| parse_duration(s, "--max-time"))
            .transpose()?,
        max_size: net
            .max_size
            .as_deref()
            .map(|s| parse_size(s, "--max-size"))
            .transpose()?,
        per_host: net.per_host,
        per_host_max: net.io_threads,
        keep_alive: !net.no_keep_alive,
        min_speed: match net.min_speed.trim() {
            "0" => 0,
            s => parse_size(s, "--min-speed")?,
        },
        cacert: net.cacert,
        insecure: net.insecure,
        user_agent: net
            .user_agent
            .unwrap_or_else(|| pixmill_fetch::DEFAULT_USER_AGENT.to_string()),
        disallowed_directives: net
            .disallowed_header_directives
            .split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect(),
        headers,
        cookies: match &net.load_cookies {
            Some(path) => pixmill_fetch::load_cookies(path).map_err(|why| {
                usage(format!(
                    "cannot use --load-cookies {}: {why}",
                    path.display()
                ))
            })?,
            None => Vec::new(),
        },
        netrc,
        limit_rate: net
            .limit_rate
            .as_deref()
            .map(|s| parse_size(s, "--limit-rate"))
            .transpose()?,
        respect_robots: net.respect_robots_txt,
        addresses: pixmill_fetch::AddressPolicy {
            allow_link_local: net.allow_link_local,
            deny_private: net.deny_private,
        },
        https_only_redirects: proto_redir(&net.proto_redir)?,
        ..FetchSettings::default()
    };
    if let Some(path) = &fetch.cacert {
        // Checked now, so a wrong path stops the run before any work.
        pixmill_fetch::read_cacert(path)?;
    }
    let progress = !output.quiet && !output.dry_run && std::io::stderr().is_terminal();
    let base = settings_base(&mode);
    if output.samples_per_file == 0 {
        return Err(usage("--samples-per-file must be at least 1"));
    }
    let dataset = !matches!(output.output_format, cli::OutputFormatArg::Files);
    for (flag, given) in [
        ("--retry-failed", output.retry_failed),
        ("--append", output.append),
    ] {
        if given && !dataset {
            return Err(usage(format!(
                "{flag} applies to dataset outputs (--output-format webdataset or parquet)"
            )));
        }
    }
    Ok(Config {
        mode,
        source,
        out_dir: output.out_dir,
        output_format: match output.output_format {
            cli::OutputFormatArg::Files => OutputFormat::Files,
            cli::OutputFormatArg::Webdataset => OutputFormat::Webdataset,
            cli::OutputFormatArg::Parquet => OutputFormat::Parquet,
        },
        samples_per_file: output.samples_per_file,
        retry_failed: output.retry_failed,
        append: output.append,
        bbox_col: None,
        hash: output.hash.map(|h| match h {
            cli::HashArg::Sha256 => pixmill_base::hashing::HashAlgo::Sha256,
            cli::HashArg::Md5 => pixmill_base::hashing::HashAlgo::Md5,
        }),
        settings_base: base,
        on_exists: match output.on_exists {
            OnExistsArg::Update => OnExists::Update,
            OnExistsArg::Skip => OnExists::Skip,
            OnExistsArg::Overwrite => OnExists::Overwrite,
            OnExistsArg::Fail => OnExists::Fail,
        },
        fsync: output.fsync,
        json: output.json,
        print0: output.print0,
        report: output.report,
        quiet: output.quiet,
        dry_run: output.dry_run,
        progress,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        backend: Backend::Rayon,
        io_threads: net.io_threads,
        fetch,
        max_input_size: 1 << 30,
    })
}

/// `-H` and `--referer`, checked.
fn request_headers(net: &cli::NetArgs) -> Result<Vec<(String, String)>, Error> {
    let mut headers = Vec::new();
    for text in &net.headers {
        let header = pixmill_fetch::parse_header(text).map_err(|why| {
            usage(format!(
                "invalid -H/--header: {why} (hidden files while walking: --hidden)"
            ))
        })?;
        headers.push(header);
    }
    if let Some(referer) = &net.referer {
        let header = pixmill_fetch::parse_header(&format!("Referer: {referer}"))
            .map_err(|why| usage(format!("invalid --referer: {why}")))?;
        headers.push(header);
    }
    Ok(headers)
}

/// `--netrc` (`~/.netrc`) and `--netrc-file`: a file asked for must be
/// readable.
fn netrc_logins(net: &cli::NetArgs) -> Result<Vec<pixmill_fetch::NetrcLogin>, Error> {
    let path = match (&net.netrc_file, net.netrc) {
        (Some(path), _) => path.clone(),
        (None, true) => match std::env::var_os("HOME") {
            Some(home) => std::path::PathBuf::from(home).join(".netrc"),
            None => return Err(usage("--netrc: HOME is not set")),
        },
        (None, false) => return Ok(Vec::new()),
    };
    pixmill_fetch::load_netrc(&path)
        .map_err(|why| usage(format!("cannot read netrc file {}: {why}", path.display())))
}

/// `--proto-redir`: whether redirects must stay on https.
fn proto_redir(list: &str) -> Result<bool, Error> {
    let mut protocols = Vec::new();
    for p in list.split(',').map(|p| p.trim().to_ascii_lowercase()) {
        match p.as_str() {
            "http" | "https" => protocols.push(p),
            "" => {}
            _ => {
                return Err(usage(format!(
                    "invalid --proto-redir '{list}': expected http, https or http,https"
                )))
            }
        }
    }
    match (protocols.iter().any(|p| p == "http"), protocols.is_empty()) {
        (_, true) => Err(usage("--proto-redir needs https or http,https")),
        (has_http, false) => Ok(!has_http),
    }
}

/// `--hash-col NAME:ALGO`.
fn hash_column(spec: &str) -> Result<(String, pixmill_base::hashing::HashAlgo), Error> {
    let bad = || {
        usage(format!(
            "invalid --hash-col '{spec}': expected NAME:ALGO, ALGO one of md5, sha1, sha256, sha512"
        ))
    };
    let (name, algo) = spec.rsplit_once(':').ok_or_else(bad)?;
    let algo = pixmill_base::hashing::HashAlgo::parse(algo).ok_or_else(bad)?;
    if name.trim().is_empty() {
        return Err(bad());
    }
    Ok((name.trim().to_string(), algo))
}

/// A usage error when `path` is URL-shaped (`http://...`, `gs://...`) but
/// not an `s3://` URL, which `-o` and `-m` take. The message names the
/// scheme only: the rest of a URL may hold credentials.
fn refuse_url(flag: &str, path: &std::path::Path) -> Result<(), Error> {
    if flag != "--report" {
        if let Some(text) = path.to_str() {
            return pixmill_objects::ObjectUrl::parse(text)
                .map(|_| ())
                .map_err(|e| usage(format!("{flag}: {e}")));
        }
    }
    let Some(scheme) = path.to_str().and_then(pixmill_objects::url_scheme) else {
        return Ok(());
    };
    Err(usage(format!(
        "{flag} takes a local path, not a URL ({scheme}://)"
    )))
}

fn usage(message: impl Into<String>) -> Error {
    Error::Usage(message.into())
}

fn source_config(input: cli::InputArgs) -> Result<SourceConfig, Error> {
    let shard = input.shard.as_deref().map(parse_shard).transpose()?;
    Ok(SourceConfig {
        inputs: input.inputs,
        manifests: input.manifest,
        manifest_format: input.manifest_format.map(|f| match f {
            cli::ManifestFormatArg::Lines => ManifestFormat::Lines,
            cli::ManifestFormatArg::Csv => ManifestFormat::Csv,
            cli::ManifestFormatArg::Tsv => ManifestFormat::Tsv,
            cli::ManifestFormatArg::Jsonl => ManifestFormat::Jsonl,
            cli::ManifestFormatArg::Parquet => ManifestFormat::Parquet,
        }),
        null: input.null,
        include: glob_set(&input.include, &input.iinclude, "--include")?,
        exclude: glob_set(&input.exclude, &input.iexclude, "--exclude")?,
        max_depth: input.max_depth,
        follow: input.follow,
        hidden: input.hidden,
        shard,
        columns: ColumnNames {
            url: input.url_col,
            caption: input.caption_col,
            hash_columns: input
                .hash_col
                .iter()
                .map(|spec| hash_column(spec))
                .collect::<Result<_, _>>()?,
        },
        max_line: match parse_size(&input.max_manifest_line, "--max-manifest-line")? {
            0 => return Err(usage("--max-manifest-line must be at least 1 byte")),
            n => usize::try_from(n).unwrap_or(usize::MAX),
        },
    })
}

/// One set from the exact globs and the case-insensitive ones (`--i...`).
fn glob_set(exact: &[String], any_case: &[String], flag: &str) -> Result<Option<GlobSet>, Error> {
    if exact.is_empty() && any_case.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    let tagged = exact.iter().map(|g| (g, false));
    for (g, ignore_case) in tagged.chain(any_case.iter().map(|g| (g, true))) {
        // A glob without a slash matches a file name anywhere, as in fd and rg.
        let pattern = if g.contains('/') {
            g.clone()
        } else {
            format!("**/{g}")
        };
        let glob = GlobBuilder::new(&pattern)
            .case_insensitive(ignore_case)
            .build()
            .map_err(|e| usage(format!("{flag} {g}: {e}")))?;
        builder.add(glob);
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| usage(format!("{flag}: {e}")))
}

fn parse_shard(s: &str) -> Result<(u64, u64), Error> {
    if s == "auto" {
        return shard_from_env(|name| std::env::var(name).ok());
    }
    let bad = || {
        usage(format!(
            "invalid --shard '{s}': expected I/N with 0 <= I < N"
        ))
    };
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let i: u64 = i.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// `--shard auto`: which shard this task is, from its scheduler's
/// environment, so no one has to get the arithmetic right by hand.
/// - a Slurm job array: `SLURM_ARRAY_TASK_ID` among `SLURM_ARRAY_TASK_COUNT`
///   tasks, counted from `SLURM_ARRAY_TASK_MIN` in steps of
///   `SLURM_ARRAY_TASK_STEP` (so `--array=1-8` and `--array=0-14:2` work; a
///   list with gaps, such as `--array=1,3,8`, is refused);
/// - a Kubernetes indexed job: `JOB_COMPLETION_INDEX` among
///   `PIXMILL_SHARD_COUNT` (set it to the job's `completions`).
fn shard_from_env(var: impl Fn(&str) -> Option<String>) -> Result<(u64, u64), Error> {
    let number = |name: &str| -> Result<Option<u64>, Error> {
        var(name)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| usage(format!("--shard auto: {name}={v:?} is not a number")))
            })
            .transpose()
    };
    let required = |name: &str, why: &str| -> Result<u64, Error> {
        number(name)?.ok_or_else(|| usage(format!("--shard auto: {name} is not set ({why})")))
    };
    let (index, count) = if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        let count = required("SLURM_ARRAY_TASK_COUNT", "Slurm 18.08 or later sets it")?;
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        let contiguous = match number("SLURM_ARRAY_TASK_MAX")? {
            Some(max) => max >= min && (max - min) % step == 0 && (max - min) / step + 1 == count,
            None => true,
        };
        let offset = id.checked_sub(min).filter(|o| o % step == 0);
        match offset {
            Some(offset) if contiguous && offset / step < count => (offset / step, count),
            _ => {
                return Err(usage(format!(
                    "--shard auto: array task {id} is not one of {count} evenly spaced tasks \
                     from {min}; submit a plain range such as --array=0-{}",
                    count.saturating_sub(1)
                )))
            }
        }
    } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let count = required(
            "PIXMILL_SHARD_COUNT",
            "set it to the indexed job's completions",
        )?;
        (index, count)
    } else {
        return Err(usage(
            "--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor \
             JOB_COMPLETION_INDEX (a Kubernetes indexed job) is set; give --shard I/N",
        ));
    };
    if count == 0 || index >= count {
        return Err(usage(format!(
            "--shard auto: shard {index} of {count} does not exist"
        )));
    }
    Ok((index, count))
}

fn image_settings(args: &cli::ImageArgs) -> Result<Settings, Error> {
    let resize = args
        .resize
        .as_deref()
        .map(ResizeSpec::parse)
        .transpose()
        .map_err(usage)?;
    let fit = match args.fit {
        FitArg::Inside => Fit::Inside,
        FitArg::Cover => Fit::Cover,
        FitArg::Fill => Fit::Fill,
        FitArg::Contain => Fit::Contain,
        FitArg::Outside => Fit::Outside,
    };
    if fit != Fit::Inside {
        match resize {
            Some(ResizeSpec {
                width: Some(_),
                height: Some(_),
                ..
            }) => {}
            _ => {
                let name = format!("{fit:?}").to_lowercase();
                return Err(usage(format!(
                    "--fit {name} needs a box with both sides: --resize WxH"
                )));
            }
        }
    }
    let crop = crop_setting(args.crop, args.gravity);
    if fit != Fit::Cover && (args.crop.is_some() || args.gravity.is_some()) {
        let flag = if args.crop.is_some() {
            "--crop"
        } else {
            "--gravity"
        };
        return Err(usage(format!(
            "{flag} places the window --fit cover keeps: add --fit cover"
        )));
    }
    let reencode = match args.reencode {
        cli::ReencodeArg::Always => Reencode::Always,
        cli::ReencodeArg::IfNeeded => Reencode::IfNeeded,
        cli::ReencodeArg::Never => Reencode::Never,
    };
    if reencode == Reencode::Never {
        let needs_pixels = [
            ("--resize", args.resize.is_some()),
            ("--format", args.format.is_some()),
            ("--colour p3", args.colour == ColourArg::P3),
            ("--export-profile", args.export_profile.is_some()),
            ("--bbox-col", args.bbox_col.is_some()),
            ("--lossless", args.lossless),
        ];
        if let Some((flag, _)) = needs_pixels.iter().find(|(_, given)| *given) {
            return Err(usage(format!(
                "--reencode never keeps the input's bytes: {flag} needs them encoded afresh \
                 (use --reencode if-needed or always)"
            )));
        }
    }
    let export_profile = match &args.export_profile {
        Some(_) if args.colour != ColourArg::Srgb => {
            return Err(usage(
                "--export-profile converts colours to that profile: it cannot go with --colour keep or p3",
            ))
        }
        Some(path) => Some(read_export_profile(path)?),
        None => None,
    };
    if args.max_pixels == 0 {
        return Err(usage("--max-pixels must be at least 1"));
    }
    if args.format == Some(FormatArg::Avif) && !Format::Avif.can_write() {
        return Err(usage(
            "--format avif: this build cannot write AVIF (built without the `heif` feature)",
        ));
    }
    let format = args.format.map(|f| match f {
        FormatArg::Jpeg => Format::Jpeg,
        FormatArg::Png => Format::Png,
        FormatArg::Webp => Format::Webp,
        FormatArg::Gif => Format::Gif,
        FormatArg::Bmp => Format::Bmp,
        FormatArg::Tiff => Format::Tiff,
        FormatArg::Avif => Format::Avif,
    });
    if let Some(f) = format.filter(|f| args.lossless && !f.has_lossless_mode()) {
        return Err(usage(format!(
            "--lossless: {} has no lossless mode to choose (use --format webp)",
            f.name()
        )));
    }
    let pad_transparent = args.background.trim().eq_ignore_ascii_case("transparent");
    if pad_transparent && format == Some(Format::Jpeg) {
        return Err(usage(
            "--background transparent: jpeg has no transparency (give a colour)",
        ));
    }
    let background = if pad_transparent {
        // What formats without alpha are flattened onto.
        [255, 255, 255]
    } else {
        parse_colour(&args.background)?
    };
    Ok(Settings {
        resize,
        fit,
        crop,
        enlarge: args.enlarge,
        filter: match args.filter {
            FilterArg::Nearest => Filter::Nearest,
            FilterArg::Box => Filter::Box,
            FilterArg::Bilinear => Filter::Bilinear,
            FilterArg::Hamming => Filter::Hamming,
            FilterArg::Catmullrom => Filter::Catmullrom,
            FilterArg::Mitchell => Filter::Mitchell,
            FilterArg::Gaussian => Filter::Gaussian,
            FilterArg::Lanczos3 => Filter::Lanczos3,
            FilterArg::Area => Filter::Area,
        },
        format,
        quality: args.quality,
        lossless: args.lossless,
        background,
        pad_transparent,
        encode: EncodeOptions {
            compression: args.compression,
            effort: args.effort,
            progressive: args.progressive,
            subsampling: args.subsampling.map(|s| match s {
                cli::SubsamplingArg::S444 => Subsampling::S444,
                cli::SubsamplingArg::S422 => Subsampling::S422,
                cli::SubsamplingArg::S420 => Subsampling::S420,
            }),
        },
        auto_orient: !args.no_auto_orient,
        max_pixels: args.max_pixels,
        colour: match args.colour {
            ColourArg::Srgb => ColourMode::Srgb,
            ColourArg::Keep => ColourMode::Keep,
            ColourArg::P3 => ColourMode::P3,
        },
        export_profile,
        reencode,
        accept_truncated: args.accept_truncated,
        keep_metadata: args.keep_metadata,
        min_size: args.min_size,
        max_aspect: match args.max_aspect {
            Some(r) if !(r >= 1.0 && r.is_finite()) => {
                return Err(usage(format!("--max-aspect {r}: must be at least 1")))
            }
            r => r,
        },
    })
}

/// `--crop` or `--gravity` (clap lets only one through) as one setting.
fn crop_setting(crop: Option<cli::CropArg>, gravity: Option<cli::GravityArg>) -> Crop {
    use cli::{CropArg as C, GravityArg as G};
    match (crop, gravity) {
        (Some(C::Entropy), _) => Crop::Entropy,
        (Some(C::Attention), _) => Crop::Attention,
        (Some(C::Centre), _) | (None, None | Some(G::Centre)) => Crop::Centre,
        (None, Some(g)) => match g {
            G::North => Crop::North,
            G::South => Crop::South,
            G::East => Crop::East,
            G::West => Crop::West,
            G::Northeast => Crop::Northeast,
            G::Northwest => Crop::Northwest,
            G::Southeast => Crop::Southeast,
            G::Southwest => Crop::Southwest,
            G::Centre => Crop::Centre,
        },
    }
}

/// The largest `--export-profile` read: real profiles are kilobytes (LUT
/// based ones a few hundred).
const MAX_EXPORT_PROFILE: u64 = 4 << 20;

/// Reads and checks `--export-profile` before any work starts.
fn read_export_profile(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let shown = path.display();
    let file =
        std::fs::File::open(path).map_err(|e| usage(format!("--export-profile {shown}: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_EXPORT_PROFILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| usage(format!("--export-profile {shown}: {e}")))?;
    if bytes.len() as u64 > MAX_EXPORT_PROFILE {
        return Err(usage(format!(
            "--export-profile {shown}: over 4 MiB, not an ICC profile"
        )));
    }
    pixmill_imaging::check_export_profile(&bytes)
        .map_err(|e| usage(format!("--export-profile {shown}: {e}")))?;
    Ok(bytes)
}

/// Parses `white`, `black`, `#rrggbb`, `rrggbb` or `r,g,b`.
pub fn parse_colour(s: &str) -> Result<[u8; 3], Error> {
    let bad = || {
        usage(format!(
            "invalid colour '{s}': use a name, #rrggbb or r,g,b"
        ))
    };
    let t = s.trim().to_ascii_lowercase();
    let named = match t.as_str() {
        "white" => Some([255, 255, 255]),
        "black" => Some([0, 0, 0]),
        "gray" | "grey" => Some([128, 128, 128]),
        "red" => Some([255, 0, 0]),
        "green" => Some([0, 128, 0]),
        "blue" => Some([0, 0, 255]),
        _ => None,
    };
    if let Some(c) = named {
        return Ok(c);
    }
    if t.contains(',') {
        let parts: Vec<u8> = t
            .split(',')
            .map(|p| p.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        return <[u8; 3]>::try_from(parts).map_err(|_| bad());
    }
    let hex = t.strip_prefix('#').unwrap_or(&t);
    if hex.len() != 6 || !hex.is_ascii() {
        return Err(bad());
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
    Ok([byte(0)?, byte(2)?, byte(4)?])
}

/// Parses `30`, `30s`, `500ms`, `2m`, `1h`, `1.5s`.
pub fn parse_duration(s: &str, flag: &str) -> Result<Duration, Error> {
    let t = s.trim();
    let (number, unit) = split_unit(t);
    let value: f64 = number.parse().map_err(|_| {
        usage(format!(
            "invalid {flag} '{s}': expected e.g. 30s, 500ms, 2m"
        ))
    })?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(usage(format!(
                "invalid {flag} '{s}': unknown unit '{unit}'"
            )))
        }
    };
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 1e9 {
        return Err(usage(format!("invalid {flag} '{s}': must be positive")));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses `1000`, `10K`, `50M`, `2G` (powers of 1024; a trailing `B`/`iB` is allowed).
pub fn parse_size(s: &str, flag: &str) -> Result<u64, Error> {
    let t = s.trim();
    let (number, unit) = split_unit(t);
    let bad = || usage(format!("invalid {flag} '{s}': expected e.g. 500K, 50M, 2G"));
    let value: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.to_ascii_lowercase();
    let unit = unit.trim_end_matches("ib").trim_end_matches('b');
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

fn split_unit(t: &str) -> (&str, &str) {
    let at = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    (&t[..at], t[at..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30", "x").unwrap(), Duration::from_secs(30));
        assert_eq!(
            parse_duration("500ms", "x").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_duration("2m", "x").unwrap(), Duration::from_secs(120));
        assert_eq!(
            parse_duration("1.5s", "x").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_duration("0", "x").is_err());
        assert!(parse_duration("fast", "x").is_err());
        assert!(parse_duration("3 days", "x").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1000", "x").unwrap(), 1000);
        assert_eq!(parse_size("10K", "x").unwrap(), 10 * 1024);
        assert_eq!(parse_size("50MB", "x").unwrap(), 50 << 20);
        assert_eq!(parse_size("2GiB", "x").unwrap(), 2 << 30);
        assert!(parse_size("-1", "x").is_err());
        assert!(parse_size("lots", "x").is_err());
    }

    #[test]
    fn colours() {
        assert_eq!(parse_colour("white").unwrap(), [255, 255, 255]);
        assert_eq!(parse_colour("#ff8000").unwrap(), [255, 128, 0]);
        assert_eq!(parse_colour("0,10,20").unwrap(), [0, 10, 20]);
        assert!(parse_colour("#ff80").is_err());
        assert!(parse_colour("1,2").is_err());
        assert!(parse_colour("ééé").is_err());
    }

    #[test]
    fn shards() {
        assert_eq!(parse_shard("0/4").unwrap(), (0, 4));
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("1/0").is_err());
        assert!(parse_shard("x").is_err());
    }

    #[test]
    fn shards_from_the_scheduler() {
        fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
            move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        }
        // Slurm arrays starting at 0, at 1, and with a step.
        let slurm0 = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(shard_from_env(env(&slurm0)).unwrap(), (3, 4));
        let slurm1 = [
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "4"),
        ];
        assert_eq!(shard_from_env(env(&slurm1)).unwrap(), (3, 4));
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "14"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "14"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ];
        assert_eq!(shard_from_env(env(&stepped)).unwrap(), (7, 8));
        // A list with gaps would leave shards out: refused.
        let gaps = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "8"),
        ];
        assert!(shard_from_env(env(&gaps)).is_err());
        let no_count = [("SLURM_ARRAY_TASK_ID", "1")];
        assert!(shard_from_env(env(&no_count)).is_err());
        // Kubernetes: the index, and the count the user passes.
        let k8s = [("JOB_COMPLETION_INDEX", "2"), ("PIXMILL_SHARD_COUNT", "5")];
        assert_eq!(shard_from_env(env(&k8s)).unwrap(), (2, 5));
        assert!(shard_from_env(env(&[("JOB_COMPLETION_INDEX", "2")])).is_err());
        let beyond = [("JOB_COMPLETION_INDEX", "5"), ("PIXMILL_SHARD_COUNT", "5")];
        assert!(shard_from_env(env(&beyond)).is_err());
        let err = shard_from_env(env(&[])).unwrap_err();
        assert!(err.to_string().contains("SLURM_ARRAY_TASK_ID"), "{err}");
    }
}
