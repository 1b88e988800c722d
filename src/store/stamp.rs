//! Stamps: what each output was made from, kept with the output itself, so
//! a rerun redoes exactly what is stale and nothing else.
//!
//! A stamp is a few dozen bytes in the `user.pixmill` extended attribute of
//! the output (or, where the file system has no user attributes, in a
//! hidden sidecar file `.NAME.pixmill.stamp` beside it). It names the input
//! (a hash of its key), the input's identity when it was read (size, mtime
//! in ns and inode for a file; ETag and Last-Modified for a URL), a hash of
//! the settings that shape the output bytes, and the output's own length
//! and a CRC of its last 4 KiB: an output left empty, cut short or
//! zero-filled (a power loss, a `truncate` behind our back) never passes.
//!
//! The stamp of a local file's output is 54 bytes, binary, so on ext4 it
//! fits inside the inode beside the file's other metadata: it costs no
//! disk block and no extra read (a JSON stamp did: a 4 KiB block per output).
//!
//! Why per output and not a state file: checking one output costs a few
//! system calls on that output alone, so a rerun of 300,000 items keeps flat
//! memory (nothing is loaded), and any number of `--shard` runs can share a
//! folder with no lock and no lost update (each writes only its own files'
//! attributes), on NFS too.

use super::{Freshness, Stale, Validators};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The extended attribute holding the stamp.
#[cfg(target_os = "linux")]
const XATTR: &[u8] = b"user.pixmill\0";
/// The first byte of every stamp; bumped when a stamp's layout or meaning
/// changes, so older stamps read as unknown.
const VERSION: u8 = 0xB1;
/// How much of an output's end is hashed.
const TAIL: u64 = 4096;
/// A stamp larger than this is not ours (and fits any file system's limit).
const MAX_STAMP: usize = 2048;

/// What an input was when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputId {
    File { size: u64, mtime_ns: i128, ino: u64 },
    Url(Validators),
}

impl InputId {
    pub fn of_file(meta: &std::fs::Metadata) -> InputId {
        #[cfg(unix)]
        let (mtime_ns, ino) = {
            use std::os::unix::fs::MetadataExt;
            (
                meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
                meta.ino(),
            )
        };
        #[cfg(not(unix))]
        let (mtime_ns, ino) = (
            meta.modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128),
            0,
        );
        InputId::File {
            size: meta.len(),
            mtime_ns,
            ino,
        }
    }
}

/// What the run knows about an item before doing it: the stamp it will
/// write, minus the output's own length and tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Stable hash of the input key (normalized path or URL).
    pub key: u64,
    /// Stable hash of the settings that shape the output bytes.
    pub settings: u64,
    pub input: InputId,
}

/// The stamp, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    key: u64,
    settings: u64,
    len: u64,
    tail: u32,
    input: InputId,
}

/// Layout (little-endian): version u8, kind u8 (0 file, 1 URL), key u64,
/// settings u64, len u64, tail u32; then a file's size u64, mtime i64 (ns)
/// and inode u64, or a URL's ETag and Last-Modified as u16-prefixed text.
impl Stamp {
    fn new(p: &Provenance, len: u64, tail: u32) -> Stamp {
        Stamp {
            key: p.key,
            settings: p.settings,
            len,
            tail,
            input: p.input.clone(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.push(VERSION);
        out.push(matches!(self.input, InputId::Url(_)) as u8);
        out.extend_from_slice(&self.key.to_le_bytes());
        out.extend_from_slice(&self.settings.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.tail.to_le_bytes());
        match &self.input {
            InputId::File {
                size,
                mtime_ns,
                ino,
            } => {
                out.extend_from_slice(&size.to_le_bytes());
                out.extend_from_slice(&(*mtime_ns as i64).to_le_bytes());
                out.extend_from_slice(&ino.to_le_bytes());
            }
            InputId::Url(v) => {
                for text in [&v.etag, &v.last_modified] {
                    let bytes = text.as_deref().unwrap_or_default().as_bytes();
                    let n = bytes.len().min(MAX_STAMP / 4);
                    out.extend_from_slice(&(n as u16).to_le_bytes());
                    out.extend_from_slice(&bytes[..n]);
                }
            }
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Stamp> {
        let mut r = Reader(bytes);
        if r.take(1)? != [VERSION] {
            return None;
        }
        let kind = r.take(1)?[0];
        let (key, settings, len, tail) = (r.u64()?, r.u64()?, r.u64()?, r.u32()?);
        let input = match kind {
            0 => InputId::File {
                size: r.u64()?,
                mtime_ns: r.u64()? as i64 as i128,
                ino: r.u64()?,
            },
            1 => InputId::Url(Validators {
                etag: r.text()?,
                last_modified: r.text()?,
            }),
            _ => return None,
        };
        r.0.is_empty().then_some(Stamp {
            key,
            settings,
            len,
            tail,
            input,
        })
    }

    /// Compares against what this run would make; the output's own length
    /// and tail were checked by the caller.
    fn judge(&self, p: &Provenance) -> Freshness {
        if self.key != p.key {
            return Freshness::Stale(Stale::InputChanged);
        }
        if let InputId::File { .. } = p.input {
            if self.input != p.input {
                return Freshness::Stale(Stale::InputChanged);
            }
        }
        if self.settings != p.settings {
            return Freshness::Stale(Stale::SettingsChanged);
        }
        match &self.input {
            InputId::Url(v) if !v.is_empty() => Freshness::Revalidate(v.clone()),
            _ => Freshness::UpToDate,
        }
    }
}

/// Reads a stamp's fields in order.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn text(&mut self) -> Option<Option<String>> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().ok()?) as usize;
        let text = std::str::from_utf8(self.take(n)?).ok()?;
        Some((!text.is_empty()).then(|| text.to_string()))
    }
}

/// Where stamps are kept in this output folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampMode {
    /// In an extended attribute of each output.
    Xattr,
    /// In a hidden sidecar file beside each output (no user xattrs here).
    Sidecar,
}

impl StampMode {
    /// Asks the output folder whether it has user xattrs, without writing
    /// anything (a dry run must not). A file system that has none answers
    /// "not supported" to a read as well. `PIXMILL_STAMPS=sidecar` forces
    /// the fallback (to test it anywhere).
    pub fn probe(dir: &Path) -> StampMode {
        if std::env::var_os("PIXMILL_STAMPS").is_some_and(|v| v == "sidecar") {
            return StampMode::Sidecar;
        }
        match File::open(dir).and_then(|d| get_xattr(&d)) {
            Err(e) if unsupported(&e) => StampMode::Sidecar,
            _ => StampMode::Xattr,
        }
    }
}

/// What the output at `path` holds, judged against `p`.
pub fn check(path: &Path, p: &Provenance, mode: StampMode) -> Freshness {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Freshness::Missing,
        // Unreadable or not a file: redoing it says what is wrong.
        Err(_) => return Freshness::Stale(Stale::Unknown),
    };
    let Ok(meta) = file.metadata() else {
        return Freshness::Stale(Stale::Unknown);
    };
    if !meta.is_file() {
        return Freshness::Stale(Stale::Unknown);
    }
    let Some(stamp) = read_stamp(&file, path, mode) else {
        return Freshness::Stale(Stale::Unknown);
    };
    if stamp.len != meta.len() || tail_hash_of_file(&file, meta.len()).ok() != Some(stamp.tail) {
        return Freshness::Stale(Stale::Incomplete);
    }
    stamp.judge(p)
}

/// Stamps `file` (the finished output, still under its temp name): in its
/// xattr, or, when it has none, returns the sidecar text to write after
/// the rename.
pub fn stamp_file(
    file: &File,
    len: u64,
    tail: u32,
    p: &Provenance,
    mode: StampMode,
) -> io::Result<Option<Vec<u8>>> {
    let text = Stamp::new(p, len, tail).encode();
    if mode == StampMode::Xattr {
        match set_xattr(file, &text) {
            Ok(()) => return Ok(None),
            // This subfolder is another file system: use a sidecar for it.
            Err(e) if unsupported(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(text))
}

fn read_stamp(file: &File, path: &Path, mode: StampMode) -> Option<Stamp> {
    let text = match mode {
        StampMode::Xattr => match get_xattr(file) {
            Ok(Some(text)) => text,
            Ok(None) => return None,
            Err(e) if unsupported(&e) => std::fs::read(sidecar_path(path)).ok()?,
            Err(_) => return None,
        },
        StampMode::Sidecar => std::fs::read(sidecar_path(path)).ok()?,
    };
    if text.len() > MAX_STAMP {
        return None;
    }
    Stamp::decode(&text)
}

/// `.NAME.pixmill.stamp` beside `output`: hidden, so walks pass it over.
pub fn sidecar_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.pixmill.stamp"))
}

/// CRC-32 of the last 4 KiB of `data`: enough to tell a zero-filled or
/// foreign tail (nobody forges it), and cheap on a rerun of many items.
pub fn tail_hash(data: &[u8]) -> u32 {
    let start = data.len().saturating_sub(TAIL as usize);
    crc32fast::hash(&data[start..])
}

/// CRC-32 of the last 4 KiB of an open file `len` bytes long.
pub fn tail_hash_of_file(file: &File, len: u64) -> io::Result<u32> {
    let start = len.saturating_sub(TAIL);
    let mut buf = vec![0u8; (len - start) as usize];
    read_exact_at(file, &mut buf, start)?;
    Ok(tail_hash(&buf))
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, at)
}

#[cfg(not(unix))]
fn read_exact_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(buf)
}

/// A stable 64-bit hash of `bytes` (the first 8 bytes of its SHA-256).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    first8(&Sha256::digest(bytes))
}

fn first8(digest: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

fn unsupported(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        matches!(
            e.raw_os_error(),
            Some(libc::ENOTSUP) | Some(libc::EPERM) | Some(libc::ENOSYS)
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = e;
        true
    }
}

#[cfg(target_os = "linux")]
fn set_xattr(file: &File, value: &[u8]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the name is NUL-terminated, the value a valid slice, the fd open.
    let r = unsafe {
        libc::fsetxattr(
            file.as_raw_fd(),
            XATTR.as_ptr().cast(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The stamp attribute, `None` when there is none.
#[cfg(target_os = "linux")]
fn get_xattr(file: &File) -> io::Result<Option<Vec<u8>>> {
    use std::os::fd::AsRawFd;
    let mut buf = vec![0u8; MAX_STAMP];
    // SAFETY: the name is NUL-terminated, the buffer valid for its length.
    let n = unsafe {
        libc::fgetxattr(
            file.as_raw_fd(),
            XATTR.as_ptr().cast(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n >= 0 {
        buf.truncate(n as usize);
        return Ok(Some(buf));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENODATA) => Ok(None),
        // Larger than any stamp of ours: not ours.
        Some(libc::ERANGE) => Ok(None),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn set_xattr(_file: &File, _value: &[u8]) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(not(target_os = "linux"))]
fn get_xattr(_file: &File) -> io::Result<Option<Vec<u8>>> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_stamp() -> Stamp {
        Stamp {
            key: 1,
            settings: 2,
            len: 3,
            tail: 4,
            input: InputId::File {
                size: 5,
                mtime_ns: 1_795_545_009_968_266_516,
                ino: 7,
            },
        }
    }

    #[test]
    fn stamps_round_trip_and_a_file_stamp_fits_in_an_ext4_inode() {
        let stamp = file_stamp();
        let bytes = stamp.encode();
        // 256-byte inodes keep about 92 bytes for attributes in the inode:
        // a 24-byte entry for "pixmill" and the value rounded up to 4.
        assert_eq!(bytes.len(), 54);
        assert_eq!(Stamp::decode(&bytes), Some(stamp));
        let url = Stamp {
            input: InputId::Url(Validators {
                etag: Some("\"abc\"".into()),
                last_modified: None,
            }),
            ..file_stamp()
        };
        assert_eq!(Stamp::decode(&url.encode()), Some(url));
        // Anything else is not a stamp of ours.
        assert_eq!(Stamp::decode(b"{}"), None);
        assert_eq!(Stamp::decode(&bytes[..50]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Stamp::decode(&longer), None);
    }

    #[test]
    fn the_judgement_names_what_changed() {
        let p = Provenance {
            key: 1,
            settings: 2,
            input: file_stamp().input,
        };
        let stamp = file_stamp();
        assert_eq!(stamp.judge(&p), Freshness::UpToDate);
        let moved = Provenance {
            settings: 9,
            ..p.clone()
        };
        assert_eq!(
            stamp.judge(&moved),
            Freshness::Stale(Stale::SettingsChanged)
        );
        let touched = Provenance {
            input: InputId::File {
                size: 5,
                mtime_ns: 1,
                ino: 7,
            },
            ..p
        };
        assert_eq!(stamp.judge(&touched), Freshness::Stale(Stale::InputChanged));
    }
}
