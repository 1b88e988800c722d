//! Reading inputs, in one place: a local input is opened only if it is a
//! regular file (never blocking, so a FIFO cannot hang the run), read
//! whole within its size cap, and told apart by its first bytes. The walk,
//! the planner, the I/O stage (a download's settled format) and the CPU
//! stage all sniff and read through here.

use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_base::io_reason;
use pixmill_imaging::{Format, Sniffed};
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

/// Opens `path` for reading only if it is a regular file. Opened without
/// blocking and checked on the open file, so a FIFO (or a file swapped for
/// one) can never make a read wait forever.
pub(crate) fn open_regular(path: &Path) -> Result<(File, fs::Metadata), ItemError> {
    let read_err = |e: std::io::Error| {
        ItemError::new(ErrorClass::Read, format!("cannot read: {}", io_reason(&e)))
    };
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    // A FIFO is refused from its metadata before it is opened at all.
    if !fs::metadata(path).map_err(read_err)?.is_file() {
        return Err(ItemError::new(ErrorClass::Read, "not a regular file"));
    }
    let file = options.open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(ItemError::new(ErrorClass::Read, "not a regular file"));
    }
    Ok((file, meta))
}

/// The image format of a regular file, from its first bytes.
pub(crate) fn sniff_file(path: &Path) -> Result<Format, ItemError> {
    let mut head = [0u8; pixmill_imaging::SNIFF_LEN];
    // Only regular files: opening a FIFO (or reading a terminal) would wait forever.
    let (mut file, _) = open_regular(path)?;
    let n = file
        .read(&mut head)
        .map_err(|e| ItemError::new(ErrorClass::Read, format!("cannot read: {}", io_reason(&e))))?;
    sniff_bytes(&head[..n])
}

/// The image format of bytes in memory, from their start.
pub(crate) fn sniff_bytes(head: &[u8]) -> Result<Format, ItemError> {
    match pixmill_imaging::sniff(head) {
        Some(Sniffed::Image(format)) => Ok(format),
        Some(other) => Err(ItemError::new(
            ErrorClass::Decode,
            other.unreadable_reason().unwrap_or_default(),
        )),
        None => Err(ItemError::new(
            ErrorClass::Decode,
            "not a recognised image format",
        )),
    }
}

/// Checks an input already in memory as [`read_input`] checks a file.
pub(crate) fn check_in_memory(data: &[u8], max_size: u64) -> Result<&[u8], ItemError> {
    let len = data.len() as u64;
    if len > max_size {
        return Err(ItemError::new(
            ErrorClass::TooLarge,
            format!("body is {len} bytes, over --max-input-size {max_size}"),
        ));
    }
    if len == 0 {
        return Err(ItemError::new(ErrorClass::Decode, "empty file"));
    }
    Ok(data)
}

/// Reads a regular file whole, refusing anything else (FIFOs, devices,
/// folders) and anything over the size cap, so no input can hang or
/// exhaust the run.
pub(crate) fn read_input(path: &Path, max_size: u64) -> Result<Vec<u8>, ItemError> {
    let read_err = |e: std::io::Error| {
        ItemError::new(ErrorClass::Read, format!("cannot read: {}", io_reason(&e)))
    };
    let (file, meta) = open_regular(path)?;
    if meta.len() > max_size {
        return Err(ItemError::new(
            ErrorClass::TooLarge,
            format!(
                "file is {} bytes, over --max-input-size {max_size}",
                meta.len()
            ),
        ));
    }
    if meta.len() == 0 {
        return Err(ItemError::new(ErrorClass::Decode, "empty file"));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    // `take` guards against a file that grows while we read it.
    file.take(max_size + 1)
        .read_to_end(&mut data)
        .map_err(read_err)?;
    if data.len() as u64 > max_size {
        return Err(ItemError::new(
            ErrorClass::TooLarge,
            format!("file grew over --max-input-size {max_size}"),
        ));
    }
    Ok(data)
}
