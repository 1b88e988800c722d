//! A check of a parquet footer before the parquet crate decodes it. Its
//! thrift decoder sizes vectors by the counts the file declares, so a
//! footer of a few bytes claiming billions of list items or a string of
//! 80 GB aborts the process on allocation (found by the `manifest` fuzz
//! target). In thrift's compact protocol every list item, map entry and
//! string byte takes at least one byte of the footer, so a count larger
//! than the bytes left is a lie: such a footer is refused here, without
//! allocating anything.
//!
//! The walk reads the footer by its wire types, while the parquet crate
//! reads each field as its schema says (a field sent as a number but
//! declared a list is read as a list), so a footer can still lie in a way
//! only the decoder sees. On Unix the footer is therefore decoded once in
//! a forked child first: a child that dies (an abort on allocation) is a
//! refused footer, and the parent never decodes it.

/// Nesting deeper than this is refused (the real schema is a few levels).
const MAX_DEPTH: usize = 64;

/// [`check`] on the footer of `file`, read from its end; leaves the file
/// where it was read from (the parquet crate seeks for itself).
pub(super) fn check_file(file: &mut std::fs::File) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e: std::io::Error| format!("cannot read its footer: {e}");
    let size = file.metadata().map_err(io)?.len();
    if size < 8 {
        return Ok(());
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8)).map_err(io)?;
    file.read_exact(&mut tail).map_err(io)?;
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len + 8 > size {
        return Ok(()); // the crate reports a length past the file
    }
    let mut footer = vec![0u8; len as usize + 8];
    file.seek(SeekFrom::End(-(len as i64) - 8)).map_err(io)?;
    file.read_exact(&mut footer).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    check(&footer)?;
    decodes_in_a_child(&footer[..footer.len() - 8])
}

/// Decodes `metadata` in a forked child; `Err` when the child dies doing
/// so. A child that could not be made, or a clean decoding error, leaves
/// the decision to the parquet crate in this process.
#[cfg(unix)]
fn decodes_in_a_child(metadata: &[u8]) -> Result<(), String> {
    use parquet::file::metadata::ParquetMetaDataReader;
    // SAFETY: the child only decodes bytes already in memory (allocating
    // through glibc's malloc, which is safe after fork) and leaves by
    // `_exit`, never returning into the parent's code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Ok(());
    }
    if pid == 0 {
        // What the child's death prints (Rust's allocation-failure
        // message) is not the run's to show: the parent says it.
        // An abort must end the child plainly: a handler inherited from
        // the parent (a fuzzer's crash handler) would report it as its own.
        // SAFETY: plain calls on a path we own; dup2 replaces only fd 2,
        // signal resets one handler in this child.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if null >= 0 {
                libc::dup2(null, 2);
            }
            libc::signal(libc::SIGABRT, libc::SIG_DFL);
        }
        let _ = pixmill_base::panics::catch(|| {
            let _ = ParquetMetaDataReader::decode_metadata(metadata);
        });
        // SAFETY: ends the child at once, running nothing of the parent's.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child, writing only `status`.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return Ok(());
        }
    }
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        return Err(format!(
            "malformed footer: decoding it kills the process (signal {signal}), \
             as when it declares more items than memory holds"
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn decodes_in_a_child(_metadata: &[u8]) -> Result<(), String> {
    Ok(())
}

/// `Err` with the reason when the footer at the end of `file` (the thrift
/// metadata, its length as u32 LE, `PAR1`) declares more than it holds.
pub(super) fn check(file: &[u8]) -> Result<(), String> {
    let Some(tail) = file.len().checked_sub(8).map(|at| &file[at..]) else {
        return Ok(()); // too short: the parquet crate says so itself
    };
    let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
    let Some(start) = (file.len() - 8).checked_sub(len) else {
        return Ok(()); // the crate reports a length past the file
    };
    let mut walker = Walker {
        bytes: &file[start..file.len() - 8],
        at: 0,
    };
    walker
        .structure(0)
        .map_err(|why| format!("malformed footer: {why}"))
}

struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Walker<'_> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.at).ok_or("it ends too early")?;
        self.at += 1;
        Ok(b)
    }

    fn skip(&mut self, n: usize) -> Result<(), String> {
        if n > self.left() {
            return Err(format!(
                "it declares {n} bytes where {} are left",
                self.left()
            ));
        }
        self.at += n;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a number runs on".to_string())
    }

    /// A count of items, each at least `min` bytes: no more than fit.
    fn count(&mut self, declared: u64, min: usize) -> Result<usize, String> {
        let fits = (self.left() / min.max(1)) as u64;
        if declared > fits {
            return Err(format!(
                "it declares {declared} items where {} bytes are left",
                self.left()
            ));
        }
        Ok(declared as usize)
    }

    fn structure(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("it nests too deep".to_string());
        }
        loop {
            let head = self.byte()?;
            let kind = head & 0x0f;
            if kind == 0 {
                return Ok(());
            }
            if head >> 4 == 0 {
                self.varint()?; // the field id, when not given as a delta
            }
            self.value(kind, depth)?;
        }
    }

    /// One value of compact type `kind` (as a struct field; in a list, a
    /// bool is a byte of its own).
    fn value(&mut self, kind: u8, depth: usize) -> Result<(), String> {
        match kind {
            1 | 2 => Ok(()),
            3 => self.skip(1),
            4..=6 => self.varint().map(drop),
            7 => self.skip(8),
            8 => {
                let len = self.varint()?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                self.skip(len)
            }
            9 | 10 => {
                let head = self.byte()?;
                let declared = match head >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                let element = head & 0x0f;
                let n = self.count(declared, 1)?;
                for _ in 0..n {
                    match element {
                        1 | 2 => self.skip(1)?,
                        k => self.value(k, depth + 1)?,
                    }
                }
                Ok(())
            }
            11 => {
                let declared = self.varint()?;
                if declared == 0 {
                    return Ok(());
                }
                let types = self.byte()?;
                let n = self.count(declared, 2)?;
                for _ in 0..n {
                    for k in [types >> 4, types & 0x0f] {
                        match k {
                            1 | 2 => self.skip(1)?,
                            k => self.value(k, depth + 1)?,
                        }
                    }
                }
                Ok(())
            }
            12 => self.structure(depth + 1),
            other => Err(format!("unknown thrift type {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `metadata` as a footer: itself, its length, `PAR1`.
    fn footer(metadata: &[u8]) -> Vec<u8> {
        let mut f = metadata.to_vec();
        f.extend_from_slice(&(metadata.len() as u32).to_le_bytes());
        f.extend_from_slice(b"PAR1");
        f
    }

    #[test]
    fn honest_counts_pass_and_inflated_ones_are_refused() {
        // Field 1 (i32) = 1; field 2: a list of two i32; stop.
        assert_eq!(
            check(&footer(&[0x15, 0x02, 0x19, 0x25, 0x02, 0x04, 0x00])),
            Ok(())
        );
        // Field 2: a list whose count (varint 0xFFFFFFFF) is the rest of a few bytes.
        let lying = footer(&[0x19, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
        assert!(check(&lying)
            .unwrap_err()
            .contains("declares 4294967295 items"));
        // A string of 80 GB in three bytes.
        let long = footer(&[0x18, 0x80, 0x80, 0x80, 0x80, 0xa0, 0x02, 0x00]);
        assert!(check(&long).unwrap_err().contains("bytes where"));
        // Ends inside a struct.
        assert!(check(&footer(&[0x15])).is_err());
    }
}
