//! Streaming manifest parser: lists of paths and URLs read one record at a time.
//!
//! Manifests may hold hundreds of millions of entries, so nothing here collects
//! the input: each format keeps one reused buffer and yields entries lazily.
//! Bad records become per-record errors and parsing continues; only a failing
//! reader (or a CSV header without an input column) ends the iteration.

use std::ffi::OsString;
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
}

impl ManifestFormat {
    /// By extension: .csv → Csv, .tsv/.tab → Tsv, .jsonl/.ndjson → Jsonl,
    /// anything else → Lines. Extensions compare case-insensitively because
    /// spreadsheet exports on Windows often come out as `.CSV`.
    pub fn from_path(path: &Path) -> ManifestFormat {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => ManifestFormat::Csv,
            Some("tsv" | "tab") => ManifestFormat::Tsv,
            Some("jsonl" | "ndjson") => ManifestFormat::Jsonl,
            _ => ManifestFormat::Lines,
        }
    }

    /// The value of `--manifest-format`: `lines`, `csv`, `tsv` or `jsonl`.
    pub fn parse(name: &str) -> Option<ManifestFormat> {
        match name.trim().to_ascii_lowercase().as_str() {
            "lines" => Some(ManifestFormat::Lines),
            "csv" => Some(ManifestFormat::Csv),
            "tsv" => Some(ManifestFormat::Tsv),
            "jsonl" => Some(ManifestFormat::Jsonl),
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

/// Reads the entries of one manifest lazily.
///
/// `nul` selects `\0`-separated records (as from `find -print0`) and only
/// applies to [`ManifestFormat::Lines`].
pub fn read_manifest(
    reader: Box<dyn BufRead + Send>,
    format: ManifestFormat,
    nul: bool,
) -> Entries {
    let source = match format {
        ManifestFormat::Lines if nul => Source::Nul(RecordReader::new(reader, b'\0')),
        ManifestFormat::Lines => Source::Lines(RecordReader::new(reader, b'\n')),
        ManifestFormat::Jsonl => Source::Jsonl(RecordReader::new(reader, b'\n')),
        ManifestFormat::Csv => Source::Csv(CsvSource::new(reader, b',')),
        ManifestFormat::Tsv => Source::Csv(CsvSource::new(reader, b'\t')),
    };
    Entries { source }
}

/// Iterator returned by [`read_manifest`].
pub struct Entries {
    source: Source,
}

enum Source {
    Lines(RecordReader),
    Nul(RecordReader),
    Jsonl(RecordReader),
    Csv(CsvSource),
    Done,
}

/// What one parsing step produced; `Fatal` and `End` stop the iterator.
enum Step {
    Entry(RawEntry),
    Error(ManifestError),
    Fatal(ManifestError),
    End,
}

impl Iterator for Entries {
    type Item = Result<RawEntry, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        let step = match &mut self.source {
            Source::Lines(r) => next_plain(r),
            Source::Nul(r) => next_nul(r),
            Source::Jsonl(r) => next_json(r),
            Source::Csv(c) => c.next_step(),
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

/// Above this, a buffer grown by one huge record is given back before the
/// next read, so a single outlier does not pin memory for the whole run.
const MAX_IDLE_BUF: usize = 1 << 20;

/// Separator-delimited records from a reader, through one reused buffer.
struct RecordReader {
    reader: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    sep: u8,
    number: u64,
}

impl RecordReader {
    fn new(reader: Box<dyn BufRead + Send>, sep: u8) -> RecordReader {
        RecordReader {
            reader,
            buf: Vec::with_capacity(256),
            sep,
            number: 0,
        }
    }

    /// The next record without its separator, or `None` at end of input.
    fn next_record(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        self.buf.clear();
        if self.buf.capacity() > MAX_IDLE_BUF {
            self.buf.shrink_to(256);
        }
        if self.reader.read_until(self.sep, &mut self.buf)? == 0 {
            return Ok(None);
        }
        self.number += 1;
        if self.buf.last() == Some(&self.sep) {
            self.buf.pop();
        }
        Ok(Some((self.number, &self.buf)))
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
        let (line, record) = match r.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => return Step::End,
            Err(err) => return r.io_error(&err),
        };
        let record = if line == 1 { strip_bom(record) } else { record };
        // trim_ascii also takes the `\r` of CRLF endings.
        let text = record.trim_ascii();
        if text.is_empty() || text.starts_with(b"#") {
            continue;
        }
        return path_entry(line, text);
    }
}

/// `-0` records are taken byte for byte, like `xargs -0`: names may start
/// with `#` or a space, or contain (even end in) a newline.
fn next_nul(r: &mut RecordReader) -> Step {
    loop {
        match r.next_record() {
            Ok(Some((_, []))) => continue,
            Ok(Some((line, record))) => return path_entry(line, record),
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

fn next_json(_r: &mut RecordReader) -> Step {
    Step::End
}

struct CsvSource;

impl CsvSource {
    fn new(_reader: Box<dyn BufRead + Send>, _delimiter: u8) -> CsvSource {
        CsvSource
    }

    fn next_step(&mut self) -> Step {
        Step::End
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

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

    /// Yields some bytes, then fails on every call.
    struct FailingReader {
        sent: bool,
    }

    impl io::Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if !self.sent {
                self.sent = true;
                let data = b"a.jpg\nb.jpg\n";
                buf[..data.len()].copy_from_slice(data);
                return Ok(data.len());
            }
            Err(io::Error::other("disk on fire"))
        }
    }

    #[test]
    fn read_error_is_reported_once_then_ends() {
        for format in [ManifestFormat::Lines] {
            let reader = io::BufReader::new(FailingReader { sent: false });
            let results: Vec<_> = read_manifest(Box::new(reader), format, false).collect();
            let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
            assert_eq!(errors.len(), 1, "{format:?}: {results:?}");
            assert!(errors[0].message.contains("disk on fire"), "{format:?}");
            assert!(results.last().unwrap().is_err(), "{format:?}");
        }
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
            ("archive.csv.gz", ManifestFormat::Lines),
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
        assert_eq!(ManifestFormat::parse("xml"), None);
        assert_eq!(ManifestFormat::parse(""), None);
    }
}
