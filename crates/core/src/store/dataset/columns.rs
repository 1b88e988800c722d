//! A dataset's per-row metadata: the sample JSON, the parquet table (one
//! row per input row, image bytes in a column for parquet output) and the
//! stats file. Written with the parquet crate's low-level writer, which
//! costs far less to build than its arrow layer.

use crate::item::{Record, Status};
use parquet::basic::{ConvertedType, Repetition, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// What the metadata says about one input row.
#[derive(Debug)]
pub(super) struct MetaRow {
    pub key: String,
    pub url: Option<String>,
    pub caption: Option<String>,
    pub columns: Map<String, Value>,
    pub status: &'static str,
    pub error_class: Option<String>,
    pub error: Option<String>,
    pub reason: Option<String>,
    pub http_status: Option<u16>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub original_width: Option<u32>,
    pub original_height: Option<u32>,
    pub bytes: Option<u64>,
    pub hash: Option<String>,
    /// The sample's file extension (`jpg`, `webp`, ...), for kept samples.
    pub ext: Option<String>,
    /// The image, for parquet output.
    pub image: Option<Vec<u8>>,
}

impl MetaRow {
    pub(super) fn new(key: String, record: &Record, ext: Option<&str>) -> MetaRow {
        let (caption, columns) = match &record.row {
            Some(row) => (row.extra.caption.clone(), row.extra.columns.clone()),
            None => (None, Map::new()),
        };
        let kept = record.status == Status::Ok;
        MetaRow {
            key,
            url: record.url.clone(),
            caption,
            columns,
            status: status_name(record.status),
            error_class: record.error_class.map(|c| c.as_str().to_string()),
            error: record.error.clone(),
            reason: record.reason.clone(),
            http_status: record.http_status,
            width: record.width_out,
            height: record.height_out,
            original_width: record.width_in,
            original_height: record.height_in,
            bytes: record.bytes_out.filter(|_| kept),
            hash: record.hash.clone(),
            ext: ext.filter(|_| kept).map(str::to_string),
            image: None,
        }
    }

    /// `KEY.json` in a WebDataset sample, with img2dataset's field names
    /// so training code written for it reads these unchanged.
    pub(super) fn sample_json(&self) -> Value {
        let mut json = Map::new();
        json.insert("key".into(), self.key.clone().into());
        json.insert("url".into(), self.url.clone().into());
        json.insert("caption".into(), self.caption.clone().into());
        for (name, value) in &self.columns {
            json.entry(name.clone()).or_insert_with(|| value.clone());
        }
        json.insert("status".into(), self.status.into());
        json.insert("error_message".into(), self.error.clone().into());
        json.insert("width".into(), self.width.into());
        json.insert("height".into(), self.height.into());
        json.insert("original_width".into(), self.original_width.into());
        json.insert("original_height".into(), self.original_height.into());
        json.insert("http_status".into(), self.http_status.into());
        if let Some(hash) = &self.hash {
            json.insert("hash".into(), hash.clone().into());
        }
        Value::Object(json)
    }
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Skipped => "skipped",
        Status::Failed => "failed",
        Status::Planned => "planned",
    }
}

/// `STEM_stats.json`: counts by status, by error and by skip reason.
#[derive(Debug, Default, Serialize)]
pub(super) struct Stats {
    pub count: u64,
    pub ok: u64,
    pub failed: u64,
    pub skipped: u64,
    pub errors: BTreeMap<String, u64>,
    pub skip_reasons: BTreeMap<String, u64>,
}

impl Stats {
    pub(super) fn add(&mut self, row: &MetaRow) {
        self.count += 1;
        match row.status {
            "ok" => self.ok += 1,
            "failed" => {
                self.failed += 1;
                let class = row.error_class.clone().unwrap_or_else(|| "other".into());
                *self.errors.entry(class).or_default() += 1;
            }
            _ => {
                self.skipped += 1;
                let reason = row.reason.clone().unwrap_or_else(|| "skipped".into());
                *self.skip_reasons.entry(reason).or_default() += 1;
            }
        }
    }
}

/// The fixed columns, before the manifest's own.
const STRING_COLUMNS: [&str; 8] = [
    "key",
    "url",
    "caption",
    "status",
    "error_class",
    "error_message",
    "reason",
    "hash",
];
const INT_COLUMNS: [&str; 5] = [
    "http_status",
    "width",
    "height",
    "original_width",
    "original_height",
];

/// A parquet table of [`MetaRow`]s, written a row group per [`extend`].
///
/// The manifest's extra columns become nullable string columns (other JSON
/// values as JSON text), named as in the manifest (prefixed `row_` where a
/// name is one of ours); their set is taken from the first row group.
///
/// [`extend`]: TableWriter::extend
pub(super) struct TableWriter<W: Write + Send> {
    out: Option<W>,
    writer: Option<SerializedFileWriter<W>>,
    with_image: bool,
    extras: Vec<String>,
}

impl<W: Write + Send> TableWriter<W> {
    pub(super) fn new(out: W, with_image: bool) -> TableWriter<W> {
        TableWriter {
            out: Some(out),
            writer: None,
            with_image,
            extras: Vec::new(),
        }
    }

    /// Writes `rows` as one row group.
    pub(super) fn extend(&mut self, rows: Vec<MetaRow>) -> io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.writer.is_none() {
            let names: BTreeSet<&String> = rows.iter().flat_map(|r| r.columns.keys()).collect();
            self.extras = names.into_iter().cloned().collect();
            self.start()?;
        }
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        let mut group = writer.next_row_group().map_err(to_io)?;
        let mut index = 0;
        while let Some(mut column) = group.next_column().map_err(to_io)? {
            let written = write_column(&mut column, index, &rows, &self.extras, self.with_image);
            written.map_err(to_io)?;
            column.close().map_err(to_io)?;
            index += 1;
        }
        group.close().map_err(to_io)?;
        Ok(())
    }

    /// Writes the footer and gives back the writer.
    pub(super) fn finish(mut self) -> io::Result<W> {
        if self.writer.is_none() {
            self.start()?;
        }
        match self.writer.take() {
            Some(writer) => writer.into_inner().map_err(to_io),
            None => Err(io::Error::other("parquet writer missing")),
        }
    }

    fn start(&mut self) -> io::Result<()> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let schema = Arc::new(schema(&self.extras, self.with_image).map_err(to_io)?);
        let props = Arc::new(WriterProperties::builder().build());
        self.writer = Some(SerializedFileWriter::new(out, schema, props).map_err(to_io)?);
        Ok(())
    }
}

fn schema(extras: &[String], with_image: bool) -> parquet::errors::Result<Type> {
    let string = |name: &str, repetition| {
        Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
            .with_repetition(repetition)
            .with_converted_type(ConvertedType::UTF8)
            .build()
            .map(Arc::new)
    };
    let mut fields = Vec::new();
    for name in STRING_COLUMNS {
        let required = matches!(name, "key" | "status");
        let repetition = match required {
            true => Repetition::REQUIRED,
            false => Repetition::OPTIONAL,
        };
        fields.push(string(name, repetition)?);
    }
    for name in INT_COLUMNS {
        fields.push(Arc::new(
            Type::primitive_type_builder(name, PhysicalType::INT32)
                .with_repetition(Repetition::OPTIONAL)
                .build()?,
        ));
    }
    fields.push(Arc::new(
        Type::primitive_type_builder("bytes", PhysicalType::INT64)
            .with_repetition(Repetition::OPTIONAL)
            .build()?,
    ));
    fields.push(string("ext", Repetition::OPTIONAL)?);
    if with_image {
        fields.push(Arc::new(
            Type::primitive_type_builder("image", PhysicalType::BYTE_ARRAY)
                .with_repetition(Repetition::OPTIONAL)
                .build()?,
        ));
    }
    for name in extras {
        fields.push(string(&extra_column_name(name), Repetition::OPTIONAL)?);
    }
    Type::group_type_builder("schema")
        .with_fields(fields)
        .build()
}

/// A column name of ours, which a manifest's column is renamed around.
fn is_ours(name: &str) -> bool {
    STRING_COLUMNS.contains(&name)
        || INT_COLUMNS.contains(&name)
        || matches!(name, "bytes" | "ext" | "image")
}

fn extra_column_name(name: &str) -> String {
    match is_ours(name) {
        true => format!("row_{name}"),
        false => name.to_string(),
    }
}

/// Column `index` of the schema (fixed columns, then `image` when there
/// is one, then the extras), for every row.
fn write_column(
    column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    index: usize,
    rows: &[MetaRow],
    extras: &[String],
    with_image: bool,
) -> parquet::errors::Result<()> {
    let strings = STRING_COLUMNS.len();
    let ints = strings + INT_COLUMNS.len();
    if index < strings {
        let name = STRING_COLUMNS[index];
        let required = matches!(name, "key" | "status");
        let values = rows.iter().map(|r| string_field(r, name));
        return write_bytes(column, values, required);
    }
    if index < ints {
        let name = INT_COLUMNS[index - strings];
        let values: Vec<Option<i32>> = rows.iter().map(|r| int_field(r, name)).collect();
        let (data, levels) = levels(values);
        column
            .typed::<Int32Type>()
            .write_batch(&data, Some(&levels), None)?;
        return Ok(());
    }
    let mut rest = index - ints;
    if rest == 0 {
        let values: Vec<Option<i64>> = rows.iter().map(|r| r.bytes.map(|b| b as i64)).collect();
        let (data, levels) = levels(values);
        column
            .typed::<Int64Type>()
            .write_batch(&data, Some(&levels), None)?;
        return Ok(());
    }
    if rest == 1 {
        return write_bytes(column, rows.iter().map(|r| r.ext.clone()), false);
    }
    rest -= 2;
    if with_image {
        if rest == 0 {
            return write_raw(column, rows.iter().map(|r| r.image.clone()));
        }
        rest -= 1;
    }
    let name = extras.get(rest).map(String::as_str).unwrap_or_default();
    let values = rows.iter().map(|r| match r.columns.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    });
    write_bytes(column, values, false)
}

fn string_field(row: &MetaRow, name: &str) -> Option<String> {
    match name {
        "key" => Some(row.key.clone()),
        "url" => row.url.clone(),
        "caption" => row.caption.clone(),
        "status" => Some(row.status.to_string()),
        "error_class" => row.error_class.clone(),
        "error_message" => row.error.clone(),
        "reason" => row.reason.clone(),
        "hash" => row.hash.clone(),
        _ => None,
    }
}

fn int_field(row: &MetaRow, name: &str) -> Option<i32> {
    let value = match name {
        "http_status" => row.http_status.map(u32::from),
        "width" => row.width,
        "height" => row.height,
        "original_width" => row.original_width,
        "original_height" => row.original_height,
        _ => None,
    };
    value.map(|v| v.min(i32::MAX as u32) as i32)
}

/// Values of the present cells and a definition level (1 = present) per row.
fn levels<T>(values: Vec<Option<T>>) -> (Vec<T>, Vec<i16>) {
    let levels = values.iter().map(|v| i16::from(v.is_some())).collect();
    (values.into_iter().flatten().collect(), levels)
}

fn write_bytes(
    column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    values: impl Iterator<Item = Option<String>>,
    required: bool,
) -> parquet::errors::Result<()> {
    let values: Vec<Option<ByteArray>> = values
        .map(|v| v.map(|s| ByteArray::from(s.into_bytes())))
        .collect();
    let (data, levels) = levels(values);
    let levels = (!required).then_some(levels);
    column
        .typed::<ByteArrayType>()
        .write_batch(&data, levels.as_deref(), None)?;
    Ok(())
}

fn write_raw(
    column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    values: impl Iterator<Item = Option<Vec<u8>>>,
) -> parquet::errors::Result<()> {
    let values: Vec<Option<ByteArray>> = values.map(|v| v.map(ByteArray::from)).collect();
    let (data, levels) = levels(values);
    column
        .typed::<ByteArrayType>()
        .write_batch(&data, Some(&levels), None)?;
    Ok(())
}

/// Reads back the rows of a table [`TableWriter`] wrote (a data file's
/// metadata, or a parquet data file with its images), one at a time, for
/// a repair that copies a file's good rows into its replacement.
pub(super) fn read_rows(path: &Path) -> io::Result<impl Iterator<Item = io::Result<MetaRow>>> {
    use parquet::file::reader::SerializedFileReader;
    use parquet::record::reader::RowIter;
    let file = std::fs::File::open(path)?;
    // Our own file, but read after a crash or behind our back: a malformed
    // footer is an error, never a panic.
    let reader = match pixmill_base::panics::catch(|| SerializedFileReader::new(file)) {
        Ok(reader) => reader.map_err(to_io)?,
        Err(_) => return Err(io::Error::other("malformed parquet footer")),
    };
    let mut rows = RowIter::from_file_into(Box::new(reader));
    Ok(std::iter::from_fn(
        move || match pixmill_base::panics::catch(|| rows.next()) {
            Ok(next) => next.map(|row| row.map(|row| meta_of(&row)).map_err(to_io)),
            Err(_) => Some(Err(io::Error::other("malformed parquet row"))),
        },
    ))
}

/// A [`MetaRow`] from a row of one of our tables.
fn meta_of(row: &parquet::record::Row) -> MetaRow {
    use parquet::record::Field;
    let mut meta = MetaRow {
        key: String::new(),
        url: None,
        caption: None,
        columns: Map::new(),
        status: "skipped",
        error_class: None,
        error: None,
        reason: None,
        http_status: None,
        width: None,
        height: None,
        original_width: None,
        original_height: None,
        bytes: None,
        hash: None,
        ext: None,
        image: None,
    };
    for (name, field) in row.get_column_iter() {
        let text = match field {
            Field::Str(s) => Some(s.clone()),
            _ => None,
        };
        let int = match field {
            Field::Int(i) => u32::try_from(*i).ok(),
            _ => None,
        };
        match name.as_str() {
            "key" => meta.key = text.unwrap_or_default(),
            "url" => meta.url = text,
            "caption" => meta.caption = text,
            "status" => {
                meta.status = match text.as_deref() {
                    Some("ok") => "ok",
                    Some("failed") => "failed",
                    _ => "skipped",
                }
            }
            "error_class" => meta.error_class = text,
            "error_message" => meta.error = text,
            "reason" => meta.reason = text,
            "hash" => meta.hash = text,
            "http_status" => meta.http_status = int.and_then(|i| u16::try_from(i).ok()),
            "width" => meta.width = int,
            "height" => meta.height = int,
            "original_width" => meta.original_width = int,
            "original_height" => meta.original_height = int,
            "bytes" => {
                meta.bytes = match field {
                    Field::Long(l) => u64::try_from(*l).ok(),
                    _ => None,
                }
            }
            "ext" => meta.ext = text,
            "image" => {
                meta.image = match field {
                    Field::Bytes(b) => Some(b.data().to_vec()),
                    _ => None,
                }
            }
            extra => {
                let name = match extra.strip_prefix("row_") {
                    Some(ours) if is_ours(ours) => ours,
                    _ => extra,
                };
                if let Some(text) = text {
                    meta.columns.insert(name.to_string(), Value::String(text));
                }
            }
        }
    }
    meta
}

/// The parquet error as an I/O error; one that wraps an I/O error (a full
/// disk) is that error, so its reason reads without the library's
/// `External:` variant name.
fn to_io(e: parquet::errors::ParquetError) -> io::Error {
    match e {
        parquet::errors::ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other.to_string()),
        },
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_error_inside_parquet_reads_as_the_write_error() {
        let disk_full = io::Error::from_raw_os_error(28);
        let e = to_io(parquet::errors::ParquetError::from(disk_full));
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        let reason = pixmill_base::io_reason(&e);
        assert_eq!(reason, "No space left on device");
    }
}
