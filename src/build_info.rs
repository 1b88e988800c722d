//! What this build can do: the long `--version` text and `pixmill formats`.
//!
//! Both are read from `Format::can_read` and `Format::can_write`, so formats
//! that depend on optional cargo features show up (or not) with no change
//! here.

use pixmill_imaging::Format;
use serde::Serialize;
use std::io::{self, Write};

/// The text after `pixmill ` for `--version`: the version, then which
/// formats this build reads and writes.
pub fn long_version() -> String {
    let mut text = format!(
        "{}\nreads:  {}\nwrites: {}",
        env!("CARGO_PKG_VERSION"),
        format_names(Format::can_read),
        format_names(Format::can_write),
    );
    let missing: Vec<String> = Format::ALL
        .iter()
        .filter_map(|&format| missing_capabilities(format))
        .collect();
    if !missing.is_empty() {
        text.push_str(&format!("\nnot in this build: {}", missing.join(", ")));
    }
    text
}

fn format_names(supported: fn(Format) -> bool) -> String {
    let names: Vec<&str> = Format::ALL
        .iter()
        .filter(|&&format| supported(format))
        .map(|format| format.name())
        .collect();
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(" ")
    }
}

/// `heic (write)` for a format this build reads but cannot write, and so on.
fn missing_capabilities(format: Format) -> Option<String> {
    match (format.can_read(), format.can_write()) {
        (true, true) => None,
        (false, false) => Some(format.name().to_owned()),
        (true, false) => Some(format!("{} (write)", format.name())),
        (false, true) => Some(format!("{} (read)", format.name())),
    }
}

/// One row of `pixmill formats`.
#[derive(Debug, Serialize)]
struct FormatRow {
    format: &'static str,
    read: bool,
    write: bool,
    extension: &'static str,
}

fn rows() -> impl Iterator<Item = FormatRow> {
    Format::ALL.iter().map(|&format| FormatRow {
        format: format.name(),
        read: format.can_read(),
        write: format.can_write(),
        extension: format.extension(),
    })
}

/// Writes the formats table, or with `json` one JSON object per format (as
/// `--json` does for records elsewhere).
pub fn write_formats(out: &mut impl Write, json: bool) -> io::Result<()> {
    if json {
        for row in rows() {
            serde_json::to_writer(&mut *out, &row)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    writeln!(
        out,
        "{:<8} {:<5} {:<6} EXTENSION",
        "FORMAT", "READ", "WRITE"
    )?;
    for row in rows() {
        writeln!(
            out,
            "{:<8} {:<5} {:<6} .{}",
            row.format,
            yes_no(row.read),
            yes_no(row.write),
            row.extension
        )?;
    }
    Ok(())
}
