//! Streaming manifest parser: lists of paths and URLs read one record at a time.
//!
//! Manifests may hold hundreds of millions of entries, so nothing here collects
//! the input: each format keeps one reused buffer and yields entries lazily.
//! Bad records become per-record errors and parsing continues; only a failing
//! reader (or a CSV header without an input column) ends the iteration.
//! A record over the size limit (`--max-manifest-line`) is one of those bad
//! records: it is read on to its end without being kept, so memory stays
//! flat however long a line is.

mod footer;
mod parquet;
mod rows;

use crate::item::Extra;
pub(crate) use parquet::is_parquet;
use parquet::ParquetRows;
use rows::{Row, Rows};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead};
use std::path::Path;

/// How the records of a manifest are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// One path or URL per line (or per NUL-terminated record with `-0`).
    Lines,
    /// Comma-separated with a header row.
    Csv,
    /// Tab-separated with a header row.
    Tsv,
    /// One JSON object (or bare JSON string) per line.
    Jsonl,
    /// A parquet file (read from its footer, so never from a stream).
    Parquet,
}

impl ManifestFormat {
    /// By extension (after a `.gz`): .csv → Csv, .tsv/.tab → Tsv, .jsonl/.ndjson → Jsonl,
    /// .parquet/.pq → Parquet, anything else → Lines (a file that starts with
    /// the parquet magic is parquet whatever its name: see `parquet::is_parquet`). Extensions compare case-insensitively because
    /// spreadsheet exports on Windows often come out as `.CSV`.
    pub fn from_path(path: &Path) -> ManifestFormat {
        // `list.csv.gz` is a CSV list, compressed.
        let gz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        let path = match (gz, path.file_stem()) {
            (true, Some(stem)) => Path::new(stem),
            _ => path,
        };
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => ManifestFormat::Csv,
            Some("tsv" | "tab") => ManifestFormat::Tsv,
            Some("jsonl" | "ndjson") => ManifestFormat::Jsonl,
            Some("parquet" | "pq") => ManifestFormat::Parquet,
            _ => ManifestFormat::Lines,
        }
    }

    /// The value of `--manifest-format`: `lines`, `csv`, `tsv`, `jsonl` or `parquet`.
    pub fn parse(name: &str) -> Option<ManifestFormat> {
        match name.trim().to_ascii_lowercase().as_str() {
            "lines" => Some(ManifestFormat::Lines),
            "csv" => Some(ManifestFormat::Csv),
            "tsv" => Some(ManifestFormat::Tsv),
            "jsonl" => Some(ManifestFormat::Jsonl),
            "parquet" => Some(ManifestFormat::Parquet),
            _ => None,
        }
    }
}

/// One unit of work as written in the manifest, not yet validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// A path or a URL, exactly as given (after the format's own trimming).
    pub input: OsString,
    /// Optional name relative to the output folder.
    pub output: Option<String>,
    /// Optional expected SHA-256 of the input, unchecked here.
    pub sha256: Option<String>,
    /// 1-based line (or record, with `-0`) number, for error messages.
    pub line: u64,
    /// The caption and the other columns of a CSV, TSV or JSON row.
    pub extra: Extra,
}

/// Which columns of a CSV, TSV or JSON Lines manifest hold what.
#[derive(Debug, Clone, Default)]
pub struct ColumnNames {
    /// `--url-col`: the input column (default: `url`, `path`, `input` or `file`).
    pub url: Option<String>,
    /// `--caption-col`: the caption column (default: `caption`, when there is one).
    pub caption: Option<String>,
    /// `--hash-col NAME:ALGO`: more columns holding a digest a download must
    /// have, beside those named `md5`, `sha1`, `sha256` and `sha512`.
    pub hash_columns: Vec<(String, pixmill_base::hashing::HashAlgo)>,
}

impl ColumnNames {
    fn input_keys(&self) -> Vec<&str> {
        match &self.url {
            Some(name) => vec![name.as_str()],
            None => INPUT_KEYS.to_vec(),
        }
    }

    fn caption_key(&self) -> &str {
        self.caption.as_deref().unwrap_or("caption")
    }
}

/// A record that could not be turned into an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ManifestError {
    pub line: u64,
    pub message: String,
}

impl ManifestError {
    fn new(line: u64, message: impl Into<String>) -> ManifestError {
        ManifestError {
            line,
            message: message.into(),
        }
    }
}

/// Column names that may hold the input, in order of preference.
const INPUT_KEYS: [&str; 4] = ["url", "path", "input", "file"];

/// Notepad and Excel prepend this; it would otherwise end up in a file name
/// or make the first JSON line unparsable.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest manifest record (a line, a CSV or TSV row, a JSON line, a
/// parquet row's text) read by default: 1 MiB, a thousand times a long URL
/// with its caption, and little enough to hold per reader.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// Reads the entries of one manifest lazily, records up to
/// [`DEFAULT_MAX_LINE`] bytes.
///
/// `nul` selects `\0`-separated records (as from `find -print0`) and only
/// applies to [`ManifestFormat::Lines`].
pub fn read_manifest(
    reader: Box<dyn BufRead + Send>,
    format: ManifestFormat,
    nul: bool,
) -> Entries {
    read_manifest_with(
        reader,
        format,
        nul,
        ColumnNames::default(),
        DEFAULT_MAX_LINE,
    )
}

/// [`read_manifest`] with chosen input and caption columns, and records up
/// to `max_line` bytes (a longer one fails alone).
pub(crate) fn read_manifest_with(
    reader: Box<dyn BufRead + Send>,
    format: ManifestFormat,
    nul: bool,
    names: ColumnNames,
    max_line: usize,
) -> Entries {
    let source = match format {
        ManifestFormat::Lines if nul => Source::Nul(RecordReader::new(reader, b'\0', max_line)),
        ManifestFormat::Lines => Source::Lines(RecordReader::new(reader, b'\n', max_line)),
        ManifestFormat::Jsonl => Source::Jsonl(RecordReader::new(reader, b'\n', max_line)),
        ManifestFormat::Csv | ManifestFormat::Tsv => {
            let delimiter = if format == ManifestFormat::Csv {
                b','
            } else {
                b'\t'
            };
            let rows = Rows::new(reader, delimiter, max_line);
            Source::Csv(Box::new(CsvSource::new(rows, names.clone())))
        }
        ManifestFormat::Parquet => Source::Stream,
    };
    Entries { source, names }
}

/// Reads the rows of a parquet manifest lazily, a row group at a time.
/// Fails (with a message for the user) when `file` is not parquet or has no
/// input column.
pub(crate) fn read_parquet_manifest(
    file: File,
    names: ColumnNames,
    max_line: usize,
) -> Result<Entries, String> {
    let rows = ParquetRows::open(file, &names, max_line)?;
    Ok(Entries {
        source: Source::Parquet(Box::new(rows)),
        names,
    })
}

/// A parquet file is read from its footer, which a stream cannot seek to.
const PARQUET_STREAM: &str = "a parquet manifest must be a file, not a stream";

/// Iterator returned by [`read_manifest`].
pub struct Entries {
    source: Source,
    names: ColumnNames,
}

enum Source {
    Lines(RecordReader),
    Nul(RecordReader),
    Jsonl(RecordReader),
    Csv(Box<CsvSource>),
    Parquet(Box<ParquetRows>),
    /// Parquet asked of stdin: an error, found by [`Entries::check_header`].
    Stream,
    Done,
}

/// What one parsing step produced; `Fatal` and `End` stop the iterator.
enum Step {
    Entry(RawEntry),
    Error(ManifestError),
    Fatal(ManifestError),
    End,
}

impl Entries {
    /// Reads a CSV/TSV header now, so a manifest with no `url` or `path`
    /// column is a setup error before any work starts, not a failed item
    /// after some. Other formats have no header: always fine.
    pub fn check_header(&mut self) -> Result<(), ManifestError> {
        if let Source::Stream = self.source {
            return Err(ManifestError::new(1, PARQUET_STREAM));
        }
        let Source::Csv(csv) = &mut self.source else {
            return Ok(());
        };
        if csv.columns.is_none() {
            csv.columns = Some(csv.read_header()?);
        }
        Ok(())
    }
}

impl Iterator for Entries {
    type Item = Result<RawEntry, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        let step = match &mut self.source {
            Source::Lines(r) => next_plain(r),
            Source::Nul(r) => next_nul(r),
            Source::Jsonl(r) => next_json(r, &self.names),
            Source::Csv(c) => c.next_step(),
            Source::Parquet(p) => p.next_step(),
            Source::Stream => Step::Fatal(ManifestError::new(1, PARQUET_STREAM)),
            Source::Done => Step::End,
        };
        match step {
            Step::Entry(entry) => Some(Ok(entry)),
            Step::Error(err) => Some(Err(err)),
            Step::Fatal(err) => {
                self.source = Source::Done;
                Some(Err(err))
            }
            Step::End => {
                self.source = Source::Done;
                None
            }
        }
    }
}

impl std::iter::FusedIterator for Entries {}

/// Above this, a buffer grown by one huge record is given back before the
/// next read, so a single outlier does not pin memory for the whole run.
const MAX_IDLE_BUF: usize = 1 << 20;

/// Separator-delimited records from a reader, through one reused buffer
/// that never grows past the limit.
struct RecordReader {
    reader: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    sep: u8,
    number: u64,
    /// The longest record kept whole.
    max: usize,
}

/// One record: its number, its bytes (only the first of them when it is
/// over the limit) and, then, the error that fails it.
struct Rec<'a> {
    line: u64,
    bytes: &'a [u8],
    too_long: Option<ManifestError>,
}

impl RecordReader {
    fn new(reader: Box<dyn BufRead + Send>, sep: u8, max: usize) -> RecordReader {
        RecordReader {
            reader,
            buf: Vec::with_capacity(256),
            sep,
            number: 0,
            max,
        }
    }

    /// The next record without its separator, or `None` at end of input.
    /// A record over the limit is read to its end, but only its first
    /// `max` bytes are kept.
    fn next_record(&mut self) -> io::Result<Option<Rec<'_>>> {
        self.buf.clear();
        if self.buf.capacity() > MAX_IDLE_BUF {
            self.buf.shrink_to(256);
        }
        let mut len = 0u64;
        let mut any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let end = available.iter().position(|&b| b == self.sep);
            let chunk = &available[..end.unwrap_or(available.len())];
            let room = self.max.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            len += chunk.len() as u64;
            let used = chunk.len() + usize::from(end.is_some());
            self.reader.consume(used);
            if end.is_some() {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        let too_long = (len > self.max as u64).then(|| too_long(self.number, len, self.max));
        Ok(Some(Rec {
            line: self.number,
            bytes: &self.buf,
            too_long,
        }))
    }

    fn io_error(&self, err: &io::Error) -> Step {
        Step::Fatal(ManifestError::new(
            self.number + 1,
            format!("read error: {err}"),
        ))
    }
}

fn next_plain(r: &mut RecordReader) -> Step {
    loop {
        let Rec {
            line,
            bytes,
            too_long,
        } = match r.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => return Step::End,
            Err(err) => return r.io_error(&err),
        };
        let record = if line == 1 { strip_bom(bytes) } else { bytes };
        // trim_ascii also takes the `\r` of CRLF endings. A comment is
        // known by its start, however long it runs.
        let text = record.trim_ascii();
        if text.is_empty() || text.starts_with(b"#") {
            continue;
        }
        if let Some(err) = too_long {
            return Step::Error(err);
        }
        return path_entry(line, text);
    }
}

/// `-0` records are taken byte for byte, like `xargs -0`: names may start
/// with `#` or a space, or contain (even end in) a newline.
fn next_nul(r: &mut RecordReader) -> Step {
    loop {
        match r.next_record() {
            Ok(Some(Rec { bytes: [], .. })) => continue,
            Ok(Some(Rec {
                too_long: Some(err),
                ..
            })) => return Step::Error(err),
            Ok(Some(Rec { line, bytes, .. })) => return path_entry(line, bytes),
            Ok(None) => return Step::End,
            Err(err) => return r.io_error(&err),
        }
    }
}

fn path_entry(line: u64, bytes: &[u8]) -> Step {
    match os_string(bytes) {
        Ok(input) => Step::Entry(RawEntry {
            input,
            output: None,
            sha256: None,
            line,
            extra: Extra::default(),
        }),
        Err(message) => Step::Error(ManifestError::new(line, message)),
    }
}

/// File names on Unix are bytes, not text, so they pass through untouched.
#[cfg(unix)]
fn os_string(bytes: &[u8]) -> Result<OsString, &'static str> {
    use std::os::unix::ffi::OsStringExt;
    Ok(OsString::from_vec(bytes.to_vec()))
}

#[cfg(not(unix))]
fn os_string(bytes: &[u8]) -> Result<OsString, &'static str> {
    std::str::from_utf8(bytes)
        .map(OsString::from)
        .map_err(|_| "invalid UTF-8")
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

fn next_json(r: &mut RecordReader, names: &ColumnNames) -> Step {
    loop {
        let Rec {
            line,
            bytes,
            too_long,
        } = match r.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => return Step::End,
            Err(err) => return r.io_error(&err),
        };
        let record = if line == 1 { strip_bom(bytes) } else { bytes };
        if record.trim_ascii().is_empty() {
            continue;
        }
        if let Some(err) = too_long {
            return Step::Error(err);
        }
        return match json_entry(line, record, names) {
            Ok(entry) => Step::Entry(entry),
            Err(message) => Step::Error(ManifestError::new(line, message)),
        };
    }
}

fn json_entry(line: u64, record: &[u8], names: &ColumnNames) -> Result<RawEntry, String> {
    // Checked up front: serde_json would report bad bytes outside strings as
    // a confusing syntax error.
    let text = std::str::from_utf8(record).map_err(|_| "invalid UTF-8".to_string())?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| format!("invalid JSON: {err}"))?;
    let mut extra = Extra::default();
    let (input, output, sha256) = match value {
        // `""` means "not given", as in an object or an empty CSV cell.
        serde_json::Value::String(input) => (Some(input).filter(|s| !s.is_empty()), None, None),
        serde_json::Value::Object(mut object) => {
            let mut input = None;
            for key in names.input_keys() {
                let value = json_string(&mut object, key)?;
                if input.is_none() {
                    input = value;
                }
            }
            let output = json_string(&mut object, "output")?;
            let sha256 = json_string(&mut object, "sha256")?;
            extra.caption = match object.remove(names.caption_key()) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s),
                Some(other) => Some(other.to_string()),
            };
            extra.columns = object;
            (input, output, sha256)
        }
        _ => return Err("expected a JSON object or string".to_string()),
    };
    let input = input.ok_or_else(|| match &names.url {
        Some(name) => format!("missing or empty \"{name}\""),
        None => "missing or empty \"url\" or \"path\"".to_string(),
    })?;
    Ok(RawEntry {
        input: input.into(),
        output,
        sha256,
        line,
        extra,
    })
}

/// A string field; absent, `null` and `""` all mean "not given", matching an
/// empty CSV cell. Strings are not trimmed: JSON quoting is already exact.
fn json_string(
    object: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<Option<String>, String> {
    match object.remove(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s).filter(|s| !s.is_empty())),
        Some(_) => Err(format!("\"{key}\" must be a string")),
    }
}

/// A record over the limit: it fails alone, and reading goes on.
fn too_long(line: u64, len: u64, max: usize) -> ManifestError {
    ManifestError::new(
        line,
        format!(
            "{len} bytes ({}), over the {} limit of --max-manifest-line: skipped",
            pixmill_base::human_bytes(len),
            pixmill_base::human_bytes(max as u64)
        ),
    )
}

/// Longest header excerpt quoted in the "no input column" error; a list of
/// plain paths misread as CSV would otherwise dump a whole record.
const MAX_HEADER_ECHO: usize = 200;

/// CSV/TSV rows through one reused record; the header is read lazily so that
/// its errors arrive through the iterator like any other.
struct CsvSource {
    rows: Rows,
    columns: Option<Columns>,
    names: ColumnNames,
}

/// Where the interesting fields sit in each row.
struct Columns {
    /// Candidate input columns, in [`INPUT_KEYS`] order of preference.
    input: Vec<usize>,
    output: Option<usize>,
    sha256: Option<usize>,
    caption: Option<usize>,
    /// Every other column, by name: passed through to the record.
    others: Vec<(usize, String)>,
    width: usize,
}

impl Columns {
    fn from_header(header: &csv::ByteRecord, names: &ColumnNames) -> Option<Columns> {
        let cell_text = |i: usize, cell: &[u8]| {
            let cell = if i == 0 { strip_bom(cell) } else { cell };
            String::from_utf8_lossy(cell.trim_ascii()).into_owned()
        };
        let find = |key: &str| {
            header
                .iter()
                .enumerate()
                .position(|(i, cell)| cell_text(i, cell).eq_ignore_ascii_case(key))
        };
        let input: Vec<usize> = names
            .input_keys()
            .iter()
            .filter_map(|key| find(key))
            .collect();
        if input.is_empty() {
            return None;
        }
        let (output, sha256) = (find("output"), find("sha256"));
        let caption = find(names.caption_key());
        let used = |i: usize| input.contains(&i) || [output, sha256, caption].contains(&Some(i));
        let others = header
            .iter()
            .enumerate()
            .filter(|&(i, _)| !used(i))
            .map(|(i, cell)| (i, cell_text(i, cell)))
            .collect();
        Some(Columns {
            input,
            output,
            sha256,
            caption,
            others,
            width: header.len(),
        })
    }
}

impl CsvSource {
    fn new(rows: Rows, names: ColumnNames) -> CsvSource {
        CsvSource {
            rows,
            columns: None,
            names,
        }
    }

    fn next_step(&mut self) -> Step {
        if self.columns.is_none() {
            match self.read_header() {
                Ok(columns) => self.columns = Some(columns),
                Err(err) => return Step::Fatal(err),
            }
        }
        let Some(columns) = &self.columns else {
            return Step::End;
        };
        loop {
            return match self.rows.read() {
                Ok(Row::End) => Step::End,
                Ok(Row::Overlong { line, bytes }) => {
                    Step::Error(too_long(line, bytes, self.rows.max()))
                }
                Ok(Row::Read) if is_blank_line(&self.rows.record) => continue,
                Ok(Row::Read) => match row_entry(columns, &self.rows.record) {
                    Ok(entry) => Step::Entry(entry),
                    Err(err) => Step::Error(err),
                },
                Err(err) => Step::Fatal(self.read_error(&err)),
            };
        }
    }

    fn read_error(&self, err: &io::Error) -> ManifestError {
        ManifestError::new(self.rows.line(), format!("read error: {err}"))
    }

    fn read_header(&mut self) -> Result<Columns, ManifestError> {
        match self.rows.read() {
            Ok(Row::Read) => {}
            Ok(Row::End) => return Err(ManifestError::new(1, "missing header row")),
            Ok(Row::Overlong { line, bytes }) => {
                let err = too_long(line, bytes, self.rows.max());
                return Err(ManifestError::new(
                    line,
                    format!("header row: {}", err.message),
                ));
            }
            Err(err) => return Err(self.read_error(&err)),
        }
        let record = &self.rows.record;
        let missing = |wanted: String| {
            ManifestError::new(
                record_line(record),
                format!("{wanted} in header: {}", header_echo(record)),
            )
        };
        let columns = Columns::from_header(record, &self.names).ok_or_else(|| {
            missing(match &self.names.url {
                Some(name) => format!("no {name} column"),
                None => "no url or path column".to_string(),
            })
        })?;
        // A named caption column that is not there is a typo or the wrong
        // list: a dataset without captions must not be a silent success.
        if let (Some(name), None) = (&self.names.caption, columns.caption) {
            return Err(missing(format!("no {name} column")));
        }
        Ok(columns)
    }
}

fn row_entry(columns: &Columns, record: &csv::ByteRecord) -> Result<RawEntry, ManifestError> {
    let line = record_line(record);
    if record.len() != columns.width {
        return Err(ManifestError::new(
            line,
            format!("expected {} fields, found {}", columns.width, record.len()),
        ));
    }
    let cell = |index: Option<usize>| -> Result<Option<&str>, ManifestError> {
        let Some(bytes) = index.and_then(|i| record.get(i)) else {
            return Ok(None);
        };
        let text = std::str::from_utf8(bytes.trim_ascii())
            .map_err(|_| ManifestError::new(line, "invalid UTF-8"))?;
        Ok(Some(text).filter(|t| !t.is_empty()))
    };
    let mut input = None;
    for &index in &columns.input {
        input = cell(Some(index))?;
        if input.is_some() {
            break;
        }
    }
    let input = input.ok_or_else(|| ManifestError::new(line, "empty url/path field"))?;
    let mut extra = Extra {
        caption: cell(columns.caption)?.map(str::to_owned),
        ..Extra::default()
    };
    for (index, name) in &columns.others {
        let value = record.get(*index).unwrap_or_default();
        let value = String::from_utf8_lossy(value.trim_ascii()).into_owned();
        extra
            .columns
            .insert(name.clone(), serde_json::Value::String(value));
    }
    Ok(RawEntry {
        input: OsString::from(input),
        output: cell(columns.output)?.map(str::to_owned),
        sha256: cell(columns.sha256)?.map(str::to_owned),
        line,
        extra,
    })
}

/// csv skips empty lines itself, but not `\r` or spaces-only lines, which
/// would otherwise surface as short rows.
fn is_blank_line(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && record[0].trim_ascii().is_empty()
}

fn record_line(record: &csv::ByteRecord) -> u64 {
    record.position().map_or(1, |p| p.line())
}

fn header_echo(header: &csv::ByteRecord) -> String {
    let cells: Vec<String> = header
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let mut echo = cells.join(", ");
    if echo.len() > MAX_HEADER_ECHO {
        let cut = (0..=MAX_HEADER_ECHO)
            .rev()
            .find(|&i| echo.is_char_boundary(i))
            .unwrap_or(0);
        echo.truncate(cut);
        echo.push('…');
    }
    echo
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn read(input: &[u8], format: ManifestFormat, nul: bool) -> Entries {
        read_manifest(Box::new(Cursor::new(input.to_vec())), format, nul)
    }

    /// Inputs as strings, errors as their Display, in order.
    fn outcomes(input: &[u8], format: ManifestFormat, nul: bool) -> Vec<Result<String, String>> {
        read(input, format, nul)
            .map(|r| {
                r.map(|e| e.input.to_string_lossy().into_owned())
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    fn ok(s: &str) -> Result<String, String> {
        Ok(s.to_string())
    }

    #[test]
    fn lines_skip_comments_blanks_and_trim() {
        let input = b"\xEF\xBB\xBFa.jpg\n\n   \n# comment\n  # indented comment\n  b c.png  \r\nhttps://x/y.jpg\r\n\tlast.gif";
        let entries: Vec<RawEntry> = read(input, ManifestFormat::Lines, false)
            .map(Result::unwrap)
            .collect();
        let inputs: Vec<_> = entries.iter().map(|e| e.input.to_str().unwrap()).collect();
        assert_eq!(inputs, ["a.jpg", "b c.png", "https://x/y.jpg", "last.gif"]);
        let lines: Vec<u64> = entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 6, 7, 8]);
        assert!(entries
            .iter()
            .all(|e| e.output.is_none() && e.sha256.is_none()));
    }

    #[test]
    fn lines_empty_input_yields_nothing() {
        assert!(outcomes(b"", ManifestFormat::Lines, false).is_empty());
        assert!(outcomes(b"\n\n# only comments\n", ManifestFormat::Lines, false).is_empty());
    }

    #[test]
    fn nul_records_are_taken_verbatim() {
        let input = b"plain.jpg\0 leading space.jpg\0\0# not a comment\0two\nlines.jpg\0trailing\n";
        assert_eq!(
            outcomes(input, ManifestFormat::Lines, true),
            [
                ok("plain.jpg"),
                ok(" leading space.jpg"),
                ok("# not a comment"),
                ok("two\nlines.jpg"),
                ok("trailing\n"),
            ]
        );
    }

    #[test]
    fn nul_record_numbers_count_empty_records() {
        let lines: Vec<u64> = read(b"a\0\0b\0", ManifestFormat::Lines, true)
            .map(|r| r.unwrap().line)
            .collect();
        assert_eq!(lines, [1, 3]);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_line_round_trips_to_same_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let name = b"caf\xE9 \xFF.jpg";
        let mut input = b"ok.jpg\n".to_vec();
        input.extend_from_slice(name);
        input.extend_from_slice(b"\r\n");
        let entries: Vec<RawEntry> = read(&input, ManifestFormat::Lines, false)
            .map(Result::unwrap)
            .collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].input.as_bytes(), name);
        assert_eq!(entries[1].line, 2);
    }

    #[test]
    fn csv_header_variations_and_columns() {
        let input = b"id, Output ,URL,sha256,notes\n\
            1,out/a.png,https://x/a.jpg,abc123,hi\n\
            2,,https://x/b.jpg,,\n";
        let mut entries: Vec<RawEntry> = read(input, ManifestFormat::Csv, false)
            .map(Result::unwrap)
            .collect();
        // The other columns pass through, by name, in header order.
        let columns = serde_json::to_string(&entries[0].extra.columns).unwrap();
        assert_eq!(columns, r#"{"id":"1","notes":"hi"}"#);
        for entry in &mut entries {
            entry.extra = Extra::default();
        }
        assert_eq!(
            entries,
            [
                RawEntry {
                    input: "https://x/a.jpg".into(),
                    output: Some("out/a.png".into()),
                    sha256: Some("abc123".into()),
                    line: 2,
                    extra: Extra::default(),
                },
                RawEntry {
                    input: "https://x/b.jpg".into(),
                    output: None,
                    sha256: None,
                    line: 3,
                    extra: Extra::default(),
                },
            ]
        );
    }

    #[test]
    fn csv_path_column_with_spaces_and_bom() {
        let input = "\u{FEFF} path ,extra\nphotos/a.jpg,x\n";
        assert_eq!(
            outcomes(input.as_bytes(), ManifestFormat::Csv, false),
            [ok("photos/a.jpg")]
        );
    }

    #[test]
    fn csv_input_prefers_url_then_falls_back_to_path() {
        let input = b"path,url\nlocal.jpg,https://x/a.jpg\nonly-local.jpg,\n";
        assert_eq!(
            outcomes(input, ManifestFormat::Csv, false),
            [ok("https://x/a.jpg"), ok("only-local.jpg")]
        );
    }

    #[test]
    fn csv_quoted_comma_and_newline() {
        let input = b"url,output\n\"a,b.jpg\",\"x\ny.png\"\nc.jpg,d.png\n";
        let entries: Vec<RawEntry> = read(input, ManifestFormat::Csv, false)
            .map(Result::unwrap)
            .collect();
        assert_eq!(entries[0].input, "a,b.jpg");
        assert_eq!(entries[0].output.as_deref(), Some("x\ny.png"));
        assert_eq!(entries[0].line, 2);
        assert_eq!(entries[1].input, "c.jpg");
        // The quoted newline makes the second row start on line 4.
        assert_eq!(entries[1].line, 4);
    }

    #[test]
    fn csv_bad_rows_are_errors_and_parsing_continues() {
        let input = b"url,output\nshort\n,empty-input.png\na.jpg,b.png,extra\ngood.jpg,g.png\n";
        assert_eq!(
            outcomes(input, ManifestFormat::Csv, false),
            [
                Err("line 2: expected 2 fields, found 1".to_string()),
                Err("line 3: empty url/path field".to_string()),
                Err("line 4: expected 2 fields, found 3".to_string()),
                ok("good.jpg"),
            ]
        );
    }

    #[test]
    fn csv_invalid_utf8_is_a_row_error() {
        let input = b"url,output\nbad\xFF.jpg,x.png\nok.jpg,bad\xFE.png\nfine.jpg,\n";
        assert_eq!(
            outcomes(input, ManifestFormat::Csv, false),
            [
                Err("line 2: invalid UTF-8".to_string()),
                Err("line 3: invalid UTF-8".to_string()),
                ok("fine.jpg"),
            ]
        );
    }

    #[test]
    fn csv_without_input_column_is_one_error() {
        let results = outcomes(b"name,output\na,b\nc,d\n", ManifestFormat::Csv, false);
        assert_eq!(
            results,
            [Err(
                "line 1: no url or path column in header: name, output".to_string()
            )]
        );
    }

    #[test]
    fn csv_empty_input_is_missing_header() {
        let results: Vec<_> = read(b"", ManifestFormat::Csv, false).collect();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].as_ref().unwrap_err().line, 1);
    }

    #[test]
    fn csv_header_only_yields_nothing() {
        assert!(outcomes(b"url,output\n", ManifestFormat::Csv, false).is_empty());
    }

    #[test]
    fn csv_long_header_echo_is_truncated() {
        let header = "x".repeat(10_000);
        let err = read(header.as_bytes(), ManifestFormat::Csv, false)
            .next()
            .unwrap()
            .unwrap_err();
        assert!(err.message.len() < 300, "{}", err.message);
    }

    #[test]
    fn tsv_rows() {
        let input = b"File\tsha256\r\nmy photo, 1.jpg\tdeadbeef\r\n\r\nsecond.jpg\t\r\n";
        let entries: Vec<RawEntry> = read(input, ManifestFormat::Tsv, false)
            .map(Result::unwrap)
            .collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].input, "my photo, 1.jpg");
        assert_eq!(entries[0].sha256.as_deref(), Some("deadbeef"));
        assert_eq!(entries[1].input, "second.jpg");
        assert_eq!(entries[1].sha256, None);
        assert_eq!(entries[1].line, 4);
    }

    #[test]
    fn nul_flag_is_ignored_for_csv() {
        assert_eq!(
            outcomes(b"url\na.jpg\n", ManifestFormat::Csv, true),
            [ok("a.jpg")]
        );
    }

    #[test]
    fn jsonl_objects_bare_strings_and_errors() {
        let input = concat!(
            "{\"url\": \"https://x/a.jpg\", \"output\": \"a.webp\", \"sha256\": \"ff00\", \"extra\": 1}\n",
            "\"bare name.jpg\"\n",
            "\n",
            "not json at all\n",
            "{\"output\": \"orphan.png\"}\n",
            "{\"path\": 42}\n",
            "{\"path\": \"p.jpg\", \"sha256\": null, \"output\": \"\"}\r\n",
            "[1, 2]\n",
            "{\"url\": \"\", \"file\": \"f.jpg\"}",
        );
        let results: Vec<_> = read(input.as_bytes(), ManifestFormat::Jsonl, false).collect();
        assert_eq!(results.len(), 8);
        assert_eq!(
            results[0],
            Ok(RawEntry {
                input: "https://x/a.jpg".into(),
                output: Some("a.webp".into()),
                sha256: Some("ff00".into()),
                line: 1,
                // Keys that are not ours pass through as the row's columns.
                extra: Extra {
                    caption: None,
                    columns: serde_json::from_str(r#"{"extra": 1}"#).unwrap(),
                    ..Extra::default()
                },
            })
        );
        assert_eq!(
            results[1],
            Ok(RawEntry {
                input: "bare name.jpg".into(),
                output: None,
                sha256: None,
                line: 2,
                extra: Extra::default(),
            })
        );
        let garbage = results[2].as_ref().unwrap_err();
        assert_eq!(garbage.line, 4);
        assert!(garbage.message.starts_with("invalid JSON"), "{garbage}");
        let missing = results[3].as_ref().unwrap_err();
        assert_eq!(missing.line, 5);
        assert!(missing.message.contains("missing"), "{missing}");
        assert_eq!(
            results[4],
            Err(ManifestError::new(6, "\"path\" must be a string"))
        );
        assert_eq!(
            results[5],
            Ok(RawEntry {
                input: "p.jpg".into(),
                output: None,
                sha256: None,
                line: 7,
                extra: Extra::default(),
            })
        );
        assert_eq!(results[6].as_ref().unwrap_err().line, 8);
        assert_eq!(results[7].as_ref().unwrap().input, "f.jpg");
    }

    #[test]
    fn jsonl_empty_bare_string_is_an_error_not_an_empty_entry() {
        let results = outcomes(b"\"\"\n\"a.jpg\"\n", ManifestFormat::Jsonl, false);
        assert_eq!(results.len(), 2);
        assert!(
            results[0].as_ref().unwrap_err().contains("missing"),
            "{results:?}"
        );
        assert_eq!(results[1], ok("a.jpg"));
    }

    #[test]
    fn jsonl_non_string_output_is_an_error() {
        let results = outcomes(
            b"{\"url\": \"a.jpg\", \"output\": 3}\n{\"url\": \"b.jpg\"}\n",
            ManifestFormat::Jsonl,
            false,
        );
        assert_eq!(
            results,
            [
                Err("line 1: \"output\" must be a string".to_string()),
                ok("b.jpg")
            ]
        );
    }

    #[test]
    fn jsonl_invalid_utf8_is_a_line_error() {
        let results = outcomes(
            b"\"caf\xE9.jpg\"\n{\"url\": \"ok.jpg\"}\n",
            ManifestFormat::Jsonl,
            false,
        );
        assert_eq!(
            results,
            [Err("line 1: invalid UTF-8".to_string()), ok("ok.jpg")]
        );
    }

    /// Yields `data`, then fails on every call.
    struct FailingReader {
        data: &'static [u8],
    }

    impl io::Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() {
                return Err(io::Error::other("disk on fire"));
            }
            let n = self.data.len().min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_error_is_reported_once_then_ends() {
        let cases: [(ManifestFormat, &[u8], usize); 3] = [
            (ManifestFormat::Lines, b"a.jpg\nb.jpg\n", 2),
            (ManifestFormat::Jsonl, b"\"a.jpg\"\n", 1),
            (ManifestFormat::Csv, b"url\na.jpg\n", 1),
        ];
        for (format, data, entries) in cases {
            let reader = io::BufReader::new(FailingReader { data });
            let results: Vec<_> = read_manifest(Box::new(reader), format, false).collect();
            let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
            assert_eq!(errors.len(), 1, "{format:?}: {results:?}");
            assert!(errors[0].message.contains("disk on fire"), "{format:?}");
            assert!(results.last().unwrap().is_err(), "{format:?}");
            assert_eq!(results.len(), entries + 1, "{format:?}");
        }
    }

    /// Produces `total` numbered lines on demand, holding one line at a time,
    /// so a test can feed far more input than it ever keeps in memory.
    struct LineGenerator {
        next: u64,
        total: u64,
        pending: Vec<u8>,
        pos: usize,
    }

    impl io::Read for LineGenerator {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.pending.len() {
                if self.next == self.total {
                    return Ok(0);
                }
                self.pending.clear();
                self.pos = 0;
                writeln!(self.pending, "img/{}.jpg", self.next)?;
                self.next += 1;
            }
            let n = (self.pending.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn streams_a_million_generated_lines() {
        const TOTAL: u64 = 1_000_000;
        let generator = LineGenerator {
            next: 0,
            total: TOTAL,
            pending: Vec::new(),
            pos: 0,
        };
        let reader = io::BufReader::new(generator);
        let (count, last) = read_manifest(Box::new(reader), ManifestFormat::Lines, false)
            .fold((0u64, None), |(count, _), entry| {
                (count + 1, Some(entry.unwrap()))
            });
        assert_eq!(count, TOTAL);
        let last = last.unwrap();
        assert_eq!(last.line, TOTAL);
        assert_eq!(last.input, "img/999999.jpg");
    }

    #[test]
    fn huge_line_fails_alone_then_normal_lines() {
        let mut input = vec![b'x'; 3 << 20];
        input.extend_from_slice(b"\nsmall.jpg\n");
        let results = outcomes(&input, ManifestFormat::Lines, false);
        assert_eq!(
            results,
            [
                Err(
                    "line 1: 3145728 bytes (3.0 MiB), over the 1.0 MiB limit of \
                     --max-manifest-line: skipped"
                        .to_string()
                ),
                ok("small.jpg")
            ]
        );
    }

    /// Records up to the limit, in every text format.
    fn limited(input: &[u8], format: ManifestFormat, nul: bool) -> Vec<Result<String, String>> {
        let reader = Box::new(Cursor::new(input.to_vec()));
        read_manifest_with(reader, format, nul, ColumnNames::default(), 10)
            .map(|r| {
                r.map(|e| e.input.to_string_lossy().into_owned())
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    #[test]
    fn the_limit_holds_in_every_format_and_reading_goes_on() {
        let over = |line: u64, bytes: u64| {
            Err(format!(
                "line {line}: {bytes} bytes ({bytes} B), over the 10 B limit of \
                 --max-manifest-line: skipped"
            ))
        };
        // Exactly at the limit fits; one byte more does not.
        let lines = b"0123456789\n0123456789a\n# a comment longer than ten\nb\n";
        assert_eq!(
            limited(lines, ManifestFormat::Lines, false),
            [ok("0123456789"), over(2, 11), ok("b")]
        );
        assert_eq!(
            limited(b"0123456789a\0b\0", ManifestFormat::Lines, true),
            [over(1, 11), ok("b")]
        );
        assert_eq!(
            limited(
                b"\"a\"\n\"0123456789a\"\n\"b\"\n",
                ManifestFormat::Jsonl,
                false
            ),
            [ok("a"), over(2, 13), ok("b")]
        );
        // A CSV field's quoted newlines are part of its row: the row is
        // skipped whole, and the row after it keeps its line number.
        let csv = b"path\na\n\"01234\n56789a\"\nb\n";
        let rows: Vec<_> = read_manifest_with(
            Box::new(Cursor::new(csv.to_vec())),
            ManifestFormat::Csv,
            false,
            ColumnNames::default(),
            10,
        )
        .map(|r| r.map(|e| (e.line, e.input)).map_err(|e| e.line))
        .collect();
        assert_eq!(rows, [Ok((2, "a".into())), Err(3), Ok((5, "b".into()))]);
        assert_eq!(
            limited(
                b"path\ta\nx\t0123456789a\ny\tb\n",
                ManifestFormat::Tsv,
                false
            ),
            [over(2, 13), ok("y")]
        );
        // A header over the limit ends the list: nothing can be read without it.
        let long_header = limited(b"path,0123456789\na\n", ManifestFormat::Csv, false);
        assert_eq!(long_header.len(), 1);
        assert!(long_header[0].as_ref().unwrap_err().contains("header row"));
    }

    #[test]
    fn entries_can_move_to_another_thread() {
        fn assert_send<T: Send>(_: &T) {}
        let entries = read(b"a.jpg\nb.jpg\n", ManifestFormat::Lines, false);
        assert_send(&entries);
        let handle = std::thread::spawn(move || entries.count());
        assert_eq!(handle.join().unwrap(), 2);
    }

    #[test]
    fn format_from_path() {
        let cases = [
            ("list.csv", ManifestFormat::Csv),
            ("LIST.CSV", ManifestFormat::Csv),
            ("a/b.tsv", ManifestFormat::Tsv),
            ("b.tab", ManifestFormat::Tsv),
            ("c.jsonl", ManifestFormat::Jsonl),
            ("c.ndjson", ManifestFormat::Jsonl),
            ("urls.txt", ManifestFormat::Lines),
            ("urls", ManifestFormat::Lines),
            ("csv", ManifestFormat::Lines),
            // Compressed lists are read through gzip, in the inner format.
            ("archive.csv.gz", ManifestFormat::Csv),
            ("list.JSONL.GZ", ManifestFormat::Jsonl),
            ("urls.txt.gz", ManifestFormat::Lines),
            ("part-00000.parquet", ManifestFormat::Parquet),
            ("x.PQ", ManifestFormat::Parquet),
        ];
        for (path, want) in cases {
            assert_eq!(ManifestFormat::from_path(Path::new(path)), want, "{path}");
        }
    }

    #[test]
    fn format_parse_names() {
        assert_eq!(ManifestFormat::parse("lines"), Some(ManifestFormat::Lines));
        assert_eq!(ManifestFormat::parse("CSV"), Some(ManifestFormat::Csv));
        assert_eq!(ManifestFormat::parse("tsv"), Some(ManifestFormat::Tsv));
        assert_eq!(ManifestFormat::parse("jsonl"), Some(ManifestFormat::Jsonl));
        assert_eq!(
            ManifestFormat::parse("parquet"),
            Some(ManifestFormat::Parquet)
        );
        assert_eq!(ManifestFormat::parse("xml"), None);
        assert_eq!(ManifestFormat::parse(""), None);
    }
}
