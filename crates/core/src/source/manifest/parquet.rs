//! Parquet manifests, as LAION, DataComp and COYO ship their URL lists:
//! rows come through the parquet crate's row reader a row group at a time
//! (a page per column in memory), so a list of any length keeps memory flat.

use super::{ColumnNames, ManifestError, RawEntry, Step};
use crate::item::Extra;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// The first (and last) four bytes of every parquet file.
const MAGIC: &[u8; 4] = b"PAR1";

/// Whether `file` starts with the parquet magic; leaves it at its start.
/// Only a regular file is looked at: peeking at a pipe would eat its bytes.
pub(crate) fn is_parquet(file: &mut File) -> io::Result<bool> {
    if !file.metadata()?.is_file() {
        return Ok(false);
    }
    let mut head = [0u8; 4];
    let found = match file.read_exact(&mut head) {
        Ok(()) => &head == MAGIC,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(found)
}

/// The rows of one parquet manifest.
pub(super) struct ParquetRows {
    rows: RowIter<'static>,
    columns: Columns,
    /// Rows read so far: the 1-based number of the last one.
    number: u64,
    /// The most text a row may carry (`--max-manifest-line`).
    max: usize,
}

/// Where the interesting columns sit among a row's top-level fields.
struct Columns {
    /// Candidate input columns, in order of preference.
    input: Vec<usize>,
    output: Option<usize>,
    sha256: Option<usize>,
    caption: Option<usize>,
    /// The input column names, for messages.
    input_names: String,
}

impl ParquetRows {
    /// Reads the footer and checks the schema has an input column, so a
    /// wrong file is a setup error before any work starts.
    pub(super) fn open(
        mut file: File,
        names: &ColumnNames,
        max: usize,
    ) -> Result<ParquetRows, String> {
        let unreadable = |why: String| format!("not a readable parquet file: {why}");
        super::footer::check_file(&mut file).map_err(unreadable)?;
        // The footer decoder panics on some malformed footers (found by
        // the `manifest` fuzz target): a setup error, never a crash.
        let reader = match pixmill_base::panics::catch(|| SerializedFileReader::new(file)) {
            Ok(Ok(reader)) => reader,
            Ok(Err(e)) => return Err(unreadable(e.to_string())),
            Err(panic) => {
                let why = pixmill_base::panics::message(&*panic);
                return Err(unreadable(format!("malformed footer ({why})")));
            }
        };
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let fields: Vec<&str> = schema
            .root_schema()
            .get_fields()
            .iter()
            .map(|f| f.name())
            .collect();
        let columns = Columns::find(&fields, names).ok_or_else(|| {
            let wanted = match &names.url {
                Some(name) => format!("no {name} column"),
                None => "no url or path column".to_string(),
            };
            format!("{wanted} in parquet schema: {}", fields.join(", "))
        })?;
        if let (Some(name), None) = (&names.caption, columns.caption) {
            return Err(format!(
                "no {name} column in parquet schema: {}",
                fields.join(", ")
            ));
        }
        Ok(ParquetRows {
            rows: RowIter::from_file_into(Box::new(reader)),
            columns,
            number: 0,
            max,
        })
    }

    pub(super) fn next_step(&mut self) -> Step {
        // The row reader panics on some malformed files rather than
        // erroring; a bad list must end as a clear message, not a crash.
        let next = pixmill_base::panics::catch(|| self.rows.next());
        let row = match next {
            Ok(None) => return Step::End,
            Ok(Some(Ok(row))) => row,
            Ok(Some(Err(e))) => return self.fatal(&e.to_string()),
            Err(panic) => {
                let why = pixmill_base::panics::message(&*panic);
                return self.fatal(&format!("malformed row group ({why})"));
            }
        };
        self.number += 1;
        let bytes: usize = row.get_column_iter().map(|(_, f)| text_size(f)).sum();
        if bytes > self.max {
            return Step::Error(super::too_long(self.number, bytes as u64, self.max));
        }
        match self.columns.entry(self.number, row.into_columns()) {
            Ok(entry) => Step::Entry(entry),
            Err(message) => Step::Error(ManifestError::new(self.number, message)),
        }
    }

    fn fatal(&self, message: &str) -> Step {
        Step::Fatal(ManifestError::new(
            self.number + 1,
            format!("read error: {message}"),
        ))
    }
}

/// What a column is for.
enum Role {
    /// An input candidate, with its rank of preference.
    Input(usize),
    Output,
    Sha256,
    Caption,
    Other,
}

impl Columns {
    fn role(&self, index: usize) -> Role {
        if let Some(rank) = self.input.iter().position(|&i| i == index) {
            Role::Input(rank)
        } else if Some(index) == self.output {
            Role::Output
        } else if Some(index) == self.sha256 {
            Role::Sha256
        } else if Some(index) == self.caption {
            Role::Caption
        } else {
            Role::Other
        }
    }

    fn find(fields: &[&str], names: &ColumnNames) -> Option<Columns> {
        let find = |key: &str| fields.iter().position(|f| f.eq_ignore_ascii_case(key));
        let keys = names.input_keys();
        let input: Vec<usize> = keys.iter().filter_map(|key| find(key)).collect();
        if input.is_empty() {
            return None;
        }
        Some(Columns {
            input,
            output: find("output"),
            sha256: find("sha256"),
            caption: find(names.caption_key()),
            input_names: keys.join("/"),
        })
    }

    /// One row as an entry; every column not otherwise used passes through
    /// with its type (numbers stay numbers, nulls stay null).
    fn entry(&self, number: u64, cells: Vec<(String, Field)>) -> Result<RawEntry, String> {
        let mut input = None;
        let mut candidates = Vec::new();
        let mut extra = Extra::default();
        let (mut output, mut sha256) = (None, None);
        for (index, (name, field)) in cells.into_iter().enumerate() {
            match self.role(index) {
                Role::Input(rank) => candidates.push((rank, text(&name, field)?)),
                Role::Output => output = text(&name, field)?,
                Role::Sha256 => sha256 = text(&name, field)?,
                Role::Caption => extra.caption = caption(field),
                Role::Other => {
                    if let Some(value) = non_finite(&field) {
                        extra.warnings.push(format!(
                            "column \"{name}\": {value} passed through as null (JSON has no NaN or infinity)"
                        ));
                    }
                    extra.columns.insert(name, field.to_json_value());
                }
            }
        }
        candidates.sort_by_key(|(rank, _)| *rank);
        for (_, value) in candidates {
            if input.is_none() {
                input = value;
            }
        }
        let input = input.ok_or_else(|| format!("empty {} field", self.input_names))?;
        Ok(RawEntry {
            input: OsString::from(input),
            output,
            sha256,
            line: number,
            extra,
        })
    }
}

/// A text cell: null and `""` mean "not given", as an empty CSV cell.
fn text(name: &str, field: Field) -> Result<Option<String>, String> {
    let value = match field {
        Field::Null => None,
        Field::Str(s) => Some(s),
        Field::Bytes(b) => Some(
            String::from_utf8(b.data().to_vec())
                .map_err(|_| format!("\"{name}\" is not valid UTF-8"))?,
        ),
        _ => return Err(format!("\"{name}\" must be a string")),
    };
    Ok(value.filter(|s| !s.is_empty()))
}

/// The bytes of text a cell holds, nested cells included.
fn text_size(field: &Field) -> usize {
    match field {
        Field::Str(s) => s.len(),
        Field::Bytes(b) => b.len(),
        Field::Group(row) => row.get_column_iter().map(|(_, f)| text_size(f)).sum(),
        Field::ListInternal(list) => list.elements().iter().map(text_size).sum(),
        Field::MapInternal(map) => map
            .entries()
            .iter()
            .map(|(k, v)| text_size(k) + text_size(v))
            .sum(),
        _ => 0,
    }
}

/// The first float a cell holds (nested cells included) that JSON cannot:
/// `NaN`, `inf` or `-inf`.
fn non_finite(field: &Field) -> Option<&'static str> {
    let name = |v: f64| match v {
        v if v.is_nan() => Some("NaN"),
        v if v == f64::INFINITY => Some("inf"),
        v if v == f64::NEG_INFINITY => Some("-inf"),
        _ => None,
    };
    match field {
        Field::Float16(v) => name(f64::from(*v)),
        Field::Float(v) => name(f64::from(*v)),
        Field::Double(v) => name(*v),
        Field::Group(row) => row.get_column_iter().find_map(|(_, f)| non_finite(f)),
        Field::ListInternal(list) => list.elements().iter().find_map(non_finite),
        Field::MapInternal(map) => map
            .entries()
            .iter()
            .find_map(|(k, v)| non_finite(k).or_else(|| non_finite(v))),
        _ => None,
    }
}

/// A caption of any type: text as it is, anything else as its JSON.
fn caption(field: Field) -> Option<String> {
    match field {
        Field::Null => None,
        Field::Str(s) => Some(s),
        other => Some(other.to_json_value().to_string()),
    }
}
