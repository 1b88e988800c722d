//! Stamps: what each output was made from, kept with the output itself, so
//! a rerun redoes exactly what is stale and nothing else.
//!
//! A stamp is a small JSON value in the `user.pixmill.stamp` extended
//! attribute of the output (or, where the file system has no user
//! attributes, in a hidden sidecar file `.NAME.pixmill.stamp` beside it). It
//! names the input (a hash of its key), the input's identity when it was
//! read (size, mtime in ns and inode for a file; ETag and Last-Modified for
//! a URL), a hash of the settings that shape the output bytes, and the
//! output's own length and a hash of its last 4 KiB: an output left empty
//! or cut short (a power loss, a `truncate` behind our back) never passes.
//!
//! Why per output and not a state file: checking one output costs a few
//! system calls on that output alone, so a rerun of 300,000 items keeps flat
//! memory (nothing is loaded), and any number of `--shard` runs can share a
//! folder with no lock and no lost update (each writes only its own files'
//! attributes), on NFS too.

use super::{Freshness, Stale, Validators};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The extended attribute holding the stamp.
#[cfg(target_os = "linux")]
const XATTR: &[u8] = b"user.pixmill.stamp\0";
/// Bumped when a stamp's meaning changes; older stamps then read as unknown.
const VERSION: u32 = 1;
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

/// The stamp as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    v: u32,
    key: String,
    settings: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mtime: Option<i128>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ino: Option<u64>,
    #[serde(default, skip_serializing_if = "Validators::is_empty")]
    http: Validators,
    len: u64,
    tail: String,
}

impl Stamp {
    fn new(p: &Provenance, len: u64, tail: u64) -> Stamp {
        let (size, mtime, ino, http) = match &p.input {
            InputId::File {
                size,
                mtime_ns,
                ino,
            } => (
                Some(*size),
                Some(*mtime_ns),
                Some(*ino),
                Validators::default(),
            ),
            InputId::Url(v) => (None, None, None, v.clone()),
        };
        Stamp {
            v: VERSION,
            key: hex16(p.key),
            settings: hex16(p.settings),
            size,
            mtime,
            ino,
            http,
            len,
            tail: hex16(tail),
        }
    }

    /// Compares against what this run would make; the output's own length
    /// and tail were checked by the caller.
    fn judge(&self, p: &Provenance) -> Freshness {
        if self.key != hex16(p.key) {
            return Freshness::Stale(Stale::InputChanged);
        }
        match &p.input {
            InputId::File {
                size,
                mtime_ns,
                ino,
            } => {
                if self.size != Some(*size)
                    || self.mtime != Some(*mtime_ns)
                    || self.ino != Some(*ino)
                {
                    return Freshness::Stale(Stale::InputChanged);
                }
            }
            InputId::Url(_) => {}
        }
        if self.settings != hex16(p.settings) {
            return Freshness::Stale(Stale::SettingsChanged);
        }
        match &p.input {
            InputId::Url(_) if !self.http.is_empty() => Freshness::Revalidate(self.http.clone()),
            _ => Freshness::UpToDate,
        }
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
    if stamp.len != meta.len()
        || tail_hash_of_file(&file, meta.len()).ok() != parse_hex16(&stamp.tail)
    {
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
    tail: u64,
    p: &Provenance,
    mode: StampMode,
) -> io::Result<Option<Vec<u8>>> {
    let text = serde_json::to_vec(&Stamp::new(p, len, tail)).map_err(io::Error::other)?;
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
    let stamp: Stamp = serde_json::from_slice(&text).ok()?;
    (stamp.v == VERSION).then_some(stamp)
}

/// `.NAME.pixmill.stamp` beside `output`: hidden, so walks pass it over.
pub fn sidecar_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.pixmill.stamp"))
}

/// Hash of the last 4 KiB of `data`.
pub fn tail_hash(data: &[u8]) -> u64 {
    let start = data.len().saturating_sub(TAIL as usize);
    first8(&Sha256::digest(&data[start..]))
}

/// Hash of the last 4 KiB of an open file `len` bytes long.
pub fn tail_hash_of_file(file: &File, len: u64) -> io::Result<u64> {
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

fn hex16(n: u64) -> String {
    format!("{n:016x}")
}

fn parse_hex16(s: &str) -> Option<u64> {
    u64::from_str_radix(s, 16).ok()
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
