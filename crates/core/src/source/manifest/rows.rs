//! CSV and TSV rows read through a buffer of bounded size: csv-core parses,
//! and a row whose fields outgrow `--max-manifest-line` is read on to its
//! end without being kept, so one huge field costs no more memory than the
//! limit, and the rows after it are read as usual.

use csv_core::ReadRecordResult;
use std::io::{self, BufRead};

/// What one read found.
pub(super) enum Row {
    /// A row, in [`Rows::record`].
    Read,
    /// A row over the limit, skipped: where it started and its size.
    Overlong {
        line: u64,
        bytes: u64,
    },
    End,
}

/// A row's fields start with this much room, grown as needed up to the limit.
const FIRST_ROOM: usize = 1024;
/// Field ends start with this much room, grown as needed.
const FIRST_ENDS: usize = 64;

/// Rows of a CSV or TSV stream.
pub(super) struct Rows {
    input: Box<dyn BufRead + Send>,
    core: csv_core::Reader,
    /// The last row read (positioned at its first line).
    pub(super) record: csv::ByteRecord,
    fields: Vec<u8>,
    ends: Vec<usize>,
    /// The line the next row starts on.
    line: u64,
    /// The most a row's fields may hold.
    max: usize,
    done: bool,
}

impl Rows {
    pub(super) fn new(input: Box<dyn BufRead + Send>, delimiter: u8, max: usize) -> Rows {
        let core = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            // TSV has no quoting: a caption that opens with `"` is text, not
            // a field that would run on over every later row.
            .quoting(delimiter != b'\t')
            // Splitting on `\n` keeps line numbers right with CRLF endings
            // (BurntSushi/rust-csv#395); the `\r` left on the last cell is
            // trimmed with the rest.
            .terminator(csv_core::Terminator::Any(b'\n'))
            .build();
        Rows {
            input,
            core,
            record: csv::ByteRecord::new(),
            fields: vec![0; FIRST_ROOM.min(max.max(1))],
            ends: vec![0; FIRST_ENDS],
            line: 1,
            max: max.max(1),
            done: false,
        }
    }

    /// The most a row's fields may hold.
    pub(super) fn max(&self) -> usize {
        self.max
    }

    /// The line the next row starts on (for an error at the end of input).
    pub(super) fn line(&self) -> u64 {
        self.line
    }

    /// Reads the next row into [`Rows::record`].
    pub(super) fn read(&mut self) -> io::Result<Row> {
        if self.done {
            return Ok(Row::End);
        }
        let start = self.line;
        let (mut outlen, mut endlen) = (0, 0);
        let mut bytes = 0u64;
        let mut ended_line = false;
        let mut overlong = false;
        loop {
            let (res, nin, nout, nend) = {
                let input = match self.input.fill_buf() {
                    Ok(input) => input,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.done = true;
                        return Err(e);
                    }
                };
                let fields = &mut self.fields[outlen..];
                let read = self
                    .core
                    .read_record(input, fields, &mut self.ends[endlen..]);
                if read.1 > 0 {
                    ended_line = input[read.1 - 1] == b'\n';
                }
                read
            };
            self.input.consume(nin);
            self.line = self.core.line();
            bytes += nin as u64;
            outlen += nout;
            endlen += nend;
            match res {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull if overlong => {
                    // Read on to the row's end, keeping nothing.
                    (outlen, endlen) = (0, 0);
                }
                ReadRecordResult::OutputFull if self.fields.len() < self.max => {
                    let room = (self.fields.len() * 2).min(self.max);
                    self.fields.resize(room, 0);
                }
                ReadRecordResult::OutputEndsFull if self.ends.len() * 8 < self.max => {
                    let room = self.ends.len() * 2;
                    self.ends.resize(room, 0);
                }
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {
                    overlong = true;
                    (outlen, endlen) = (0, 0);
                    self.shrink();
                }
                ReadRecordResult::Record if overlong => {
                    // Its size as a line's: without the newline that ends it.
                    let bytes = bytes - u64::from(ended_line);
                    return Ok(Row::Overlong { line: start, bytes });
                }
                ReadRecordResult::Record => {
                    self.fill_record(start, endlen);
                    return Ok(Row::Read);
                }
                ReadRecordResult::End => {
                    self.done = true;
                    return Ok(Row::End);
                }
            }
        }
    }

    /// Gives back the room one huge row took.
    fn shrink(&mut self) {
        self.fields.truncate(FIRST_ROOM.min(self.max));
        self.fields.shrink_to_fit();
        self.ends.truncate(FIRST_ENDS);
        self.ends.shrink_to_fit();
    }

    fn fill_record(&mut self, line: u64, count: usize) {
        self.record.clear();
        let mut from = 0;
        for &end in &self.ends[..count] {
            self.record.push_field(&self.fields[from..end]);
            from = end;
        }
        let mut position = csv::Position::new();
        position.set_line(line);
        self.record.set_position(Some(position));
        if self.fields.len() > FIRST_ROOM * 64 {
            self.shrink();
        }
    }
}
