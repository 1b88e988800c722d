//! Entry points for the coverage-guided fuzz targets in `fuzz/`, compiled
//! only under `cargo fuzz` (which sets `--cfg fuzzing`): thin wrappers over
//! crate-private functions, so the public API does not grow for them.

use crate::source::manifest::{self, ColumnNames, Entries, ManifestFormat};
use std::io::BufRead;
use std::path::PathBuf;

/// The manifest reader of `format` over `reader`, records up to `max_line`.
pub fn manifest(
    reader: Box<dyn BufRead + Send>,
    format: ManifestFormat,
    nul: bool,
    max_line: usize,
) -> Entries {
    manifest::read_manifest_with(reader, format, nul, ColumnNames::default(), max_line)
}

/// The parquet manifest reader over `file`, rows up to `max_line` bytes of text.
pub fn parquet_manifest(file: std::fs::File, max_line: usize) -> Result<Entries, String> {
    manifest::read_parquet_manifest(file, ColumnNames::default(), max_line)
}

/// A URL's file name, as `fetch` names a download.
pub fn file_name_from_url(url: &str) -> Option<String> {
    crate::naming::file_name_from_url(url)
}

/// Whether a URL's file name is kept (not a script's).
pub fn worth_keeping(name: &str) -> bool {
    crate::naming::worth_keeping(name)
}

/// The file name a `Content-Disposition` header offers.
pub fn file_name_from_content_disposition(header: &str) -> Option<String> {
    crate::naming::file_name_from_content_disposition(header)
}

/// The extension a `Content-Type` gives.
pub fn extension_for_content_type(content_type: &str) -> Option<&'static str> {
    crate::naming::extension_for_content_type(content_type)
}

/// A manifest's `output` name, checked; `None` when refused.
pub fn relative_name(name: &str) -> Option<PathBuf> {
    crate::naming::relative_name(name).ok()
}
