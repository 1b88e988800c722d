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
//! Reading an output's tail costs an open, a read and a close per item, so
//! a rerun reads it only when the stamp says it must. The stamp also holds
//! a *seal*: a 32-bit hash of the output's own mtime and either this boot's
//! id or, for an output made durable with `--fsync`, a fixed "durable"
//! mark. When the seal still matches, the bytes cannot have changed since
//! they were stamped: a write would have moved the mtime, and a power loss
//! would have meant a new boot. Otherwise (another boot, another machine,
//! a write behind our back) the tail is read and judged as before. An
//! up-to-date check is then a `getxattr` and a `stat` of the output by path.
//!
//! The stamp of a local file's output is 58 bytes, binary, so on ext4 it
//! fits inside the inode beside the file's other metadata: it costs no
//! disk block and no extra read (a JSON stamp did: a 4 KiB block per output).
//!
//! Why per output and not a state file: checking one output costs a few
//! system calls on that output alone, so a rerun of 300,000 items keeps flat
//! memory (nothing is loaded), and any number of `--shard` runs can share a
//! folder with no lock and no lost update (each writes only its own files'
//! attributes), on NFS too.

use super::{Freshness, Stale};
#[cfg(not(all(target_os = "linux", any(target_env = "gnu", target_env = "musl"))))]
use crate::item::mtime_ns;
use crate::item::{InputId, Provenance};
use pixmill_base::hashing::stable_hash;
use pixmill_fetch::Validators;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The extended attribute holding the stamp.
#[cfg(target_os = "linux")]
const XATTR: &[u8] = b"user.pixmill\0";
/// The first byte of every stamp; bumped when a stamp's layout or meaning
/// changes, so older stamps read as unknown.
const VERSION: u8 = 0xB2;
/// How much of an output's end is hashed.
const TAIL: u64 = 4096;
/// A stamp larger than this is not ours (and fits any file system's limit).
const MAX_STAMP: usize = 2048;

/// The stamp, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    key: u64,
    settings: u64,
    len: u64,
    tail: u32,
    seal: u32,
    input: InputId,
}

/// What a finished output is, as its stamp records it: its length, the CRC
/// of its tail and its seal (see the module's notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub len: u64,
    pub tail: u32,
    pub seal: u32,
}

impl Sealed {
    /// Describes the finished output `file`, whose bytes are all written.
    /// `durable`: they are made durable (`--fsync`) before the output gets
    /// its final name.
    pub(crate) fn of_file(file: &File, durable: bool) -> io::Result<Sealed> {
        let stat = stat_file(file)?;
        Ok(Sealed {
            len: stat.len,
            tail: tail_hash_of_file(file, stat.len)?,
            seal: seal_for(&stat, durable),
        })
    }
}

/// Layout (little-endian): version u8, kind u8 (0 file, 1 URL), key u64,
/// settings u64, len u64, tail u32, seal u32; then a file's size u64,
/// mtime i64 (ns) and inode u64, or a URL's ETag and Last-Modified as
/// u16-prefixed text.
impl Stamp {
    fn new(p: &Provenance, sealed: Sealed) -> Stamp {
        Stamp {
            key: p.key,
            settings: p.settings,
            len: sealed.len,
            tail: sealed.tail,
            seal: sealed.seal,
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
        out.extend_from_slice(&self.seal.to_le_bytes());
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
        let (key, settings, len) = (r.u64()?, r.u64()?, r.u64()?);
        let (tail, seal) = (r.u32()?, r.u32()?);
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
            seal,
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
pub(crate) enum StampMode {
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
    pub(crate) fn probe(dir: &Path) -> StampMode {
        if std::env::var_os("PIXMILL_STAMPS").is_some_and(|v| v == "sidecar") {
            return StampMode::Sidecar;
        }
        match get_xattr_at(dir, &mut [0u8; MAX_STAMP]) {
            Err(e) if unsupported(&e) => StampMode::Sidecar,
            _ => StampMode::Xattr,
        }
    }
}

/// What the output at `path` holds, judged against `p`. An up-to-date
/// output costs two system calls (its stamp by path, then its `stat`); its
/// tail is read only when the seal no longer vouches for its bytes.
pub(crate) fn check(path: &Path, p: &Provenance, mode: StampMode) -> Freshness {
    let stamp = match read_stamp(path, mode) {
        Found::Stamp(stamp) => Some(stamp),
        Found::Nothing => None,
        Found::NoOutput => return Freshness::Missing,
        // Unreadable, or a parent is not a folder: redoing it says what is wrong.
        Found::Unreadable => return Freshness::Stale(Stale::Unknown),
    };
    let stat = match stat_path(path) {
        Ok(stat) => stat,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Freshness::Missing,
        Err(_) => return Freshness::Stale(Stale::Unknown),
    };
    let Some(stamp) = stamp.filter(|_| stat.is_file) else {
        return Freshness::Stale(Stale::Unknown);
    };
    if stamp.len != stat.len {
        return Freshness::Stale(Stale::Incomplete);
    }
    if !seal_holds(stamp.seal, &stat) {
        let tail = File::open(path).and_then(|f| tail_hash_of_file(&f, stat.len));
        if tail.ok() != Some(stamp.tail) {
            return Freshness::Stale(Stale::Incomplete);
        }
    }
    stamp.judge(p)
}

/// Whether the file at `path` carries a stamp: pixmill made it.
pub(crate) fn is_stamped(path: &Path, mode: StampMode) -> bool {
    matches!(read_stamp(path, mode), Found::Stamp(_))
}

/// The stamp of an object of `len` bytes made from `p`, for an object
/// store's ledger (the store's listing vouches for its bytes: length and
/// ETag).
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
pub(crate) fn object_stamp(p: &Provenance, len: u64) -> Vec<u8> {
    let sealed = Sealed {
        len,
        tail: 0,
        seal: 0,
    };
    Stamp::new(p, sealed).encode()
}

/// What an object of `len` bytes whose ledger stamp is `text` is worth to
/// a run that would make it from `p`.
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
pub(crate) fn judge_object(text: &[u8], len: u64, p: &Provenance) -> Freshness {
    match Stamp::decode(text) {
        Some(stamp) if stamp.len == len => stamp.judge(p),
        Some(_) => Freshness::Stale(Stale::Incomplete),
        None => Freshness::Stale(Stale::Unknown),
    }
}

/// Stamps `file` (the finished output, still under its temp name): in its
/// xattr, or, when it has none, returns the sidecar text to write after
/// the rename.
pub(crate) fn stamp_file(
    file: &File,
    sealed: Sealed,
    p: &Provenance,
    mode: StampMode,
) -> io::Result<Option<Vec<u8>>> {
    let text = Stamp::new(p, sealed).encode();
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

/// What looking for an output's stamp found.
enum Found {
    Stamp(Stamp),
    /// No stamp of ours (the output may or may not exist).
    Nothing,
    /// No output at all (known without a `stat` when the xattr says so).
    NoOutput,
    Unreadable,
}

fn read_stamp(path: &Path, mode: StampMode) -> Found {
    let mut buf = [0u8; MAX_STAMP];
    let text = match mode {
        StampMode::Xattr => match get_xattr_at(path, &mut buf) {
            Ok(Some(n)) => &buf[..n],
            Ok(None) => return Found::Nothing,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Found::NoOutput,
            // This subfolder is another file system, without xattrs.
            Err(e) if unsupported(&e) => return read_sidecar(path),
            Err(_) => return Found::Unreadable,
        },
        StampMode::Sidecar => return read_sidecar(path),
    };
    decoded(text)
}

fn read_sidecar(path: &Path) -> Found {
    match std::fs::read(sidecar_path(path)) {
        Ok(text) => decoded(&text),
        Err(_) => Found::Nothing,
    }
}

fn decoded(text: &[u8]) -> Found {
    match Stamp::decode(text) {
        Some(stamp) if text.len() <= MAX_STAMP => Found::Stamp(stamp),
        _ => Found::Nothing,
    }
}

/// A fixed mark in place of a boot and mount: the output's bytes were made
/// durable before it got its name, so they survive any reboot.
const DURABLE: u64 = 0x6475_7261_626C_6521;

/// The seal of an output, stamped now.
fn seal_for(stat: &OutputStat, durable: bool) -> u32 {
    let epoch = if durable {
        DURABLE
    } else {
        // Without a boot or mount id the seal can never hold: the tail is
        // always read.
        mounted_epoch(stat).unwrap_or(!DURABLE)
    };
    seal_of(epoch, stat.mtime_ns)
}

/// Whether a stamp's seal vouches for the bytes of an output as it is now.
fn seal_holds(seal: u32, stat: &OutputStat) -> bool {
    seal == seal_of(DURABLE, stat.mtime_ns)
        || mounted_epoch(stat).is_some_and(|epoch| seal == seal_of(epoch, stat.mtime_ns))
}

/// This boot and this mount of the output's file system. A power loss
/// means a new boot; a drive pulled out and mounted again, a new mount
/// (Linux's unique mount id, never reused): either ends the seal.
fn mounted_epoch(stat: &OutputStat) -> Option<u64> {
    let mount = stat.mount?;
    Some(boot_epoch()? ^ mount.wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

fn seal_of(epoch: u64, mtime_ns: i128) -> u32 {
    // splitmix64's finalizer: every bit of both inputs moves the result.
    let mut z = epoch ^ (mtime_ns as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 32) as u32
}

/// A hash of this boot's id (Linux's `boot_id`), read once; `None` where
/// there is none. `PIXMILL_BOOT_ID` stands in for it, so a test can play
/// a rerun after a reboot.
fn boot_epoch() -> Option<u64> {
    static EPOCH: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(|| {
        let id = match std::env::var_os("PIXMILL_BOOT_ID") {
            Some(id) => id.into_encoded_bytes(),
            None => std::fs::read("/proc/sys/kernel/random/boot_id").ok()?,
        };
        let id = id.trim_ascii();
        (!id.is_empty()).then(|| stable_hash(id))
    })
}

/// What a `stat` of an output tells its check.
struct OutputStat {
    is_file: bool,
    len: u64,
    mtime_ns: i128,
    /// The unique id of the mount it is on, where the system gives one.
    mount: Option<u64>,
}

#[cfg(all(target_os = "linux", any(target_env = "gnu", target_env = "musl")))]
fn stat_path(path: &Path) -> io::Result<OutputStat> {
    statx(libc::AT_FDCWD, &c_path(path)?, 0)
}

#[cfg(all(target_os = "linux", any(target_env = "gnu", target_env = "musl")))]
fn stat_file(file: &File) -> io::Result<OutputStat> {
    use std::os::fd::AsRawFd;
    statx(file.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
}

#[cfg(all(target_os = "linux", any(target_env = "gnu", target_env = "musl")))]
fn statx(dir: libc::c_int, path: &std::ffi::CStr, flags: libc::c_int) -> io::Result<OutputStat> {
    let mask = libc::STATX_TYPE | libc::STATX_SIZE | libc::STATX_MTIME | libc::STATX_MNT_ID_UNIQUE;
    // SAFETY: all-zero bytes are a valid statx (plain integers).
    let mut sx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the path is NUL-terminated, `sx` a valid buffer.
    if unsafe { libc::statx(dir, path.as_ptr(), flags, mask, &mut sx) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mtime = &sx.stx_mtime;
    Ok(OutputStat {
        is_file: u32::from(sx.stx_mode) & libc::S_IFMT == libc::S_IFREG,
        len: sx.stx_size,
        mtime_ns: i128::from(mtime.tv_sec) * 1_000_000_000 + i128::from(mtime.tv_nsec),
        // Older kernels give only a mount id that is reused after an
        // unmount: no seal on those.
        mount: (sx.stx_mask & libc::STATX_MNT_ID_UNIQUE != 0).then_some(sx.stx_mnt_id),
    })
}

#[cfg(not(all(target_os = "linux", any(target_env = "gnu", target_env = "musl"))))]
fn stat_path(path: &Path) -> io::Result<OutputStat> {
    Ok(output_stat(&std::fs::metadata(path)?))
}

#[cfg(not(all(target_os = "linux", any(target_env = "gnu", target_env = "musl"))))]
fn stat_file(file: &File) -> io::Result<OutputStat> {
    Ok(output_stat(&file.metadata()?))
}

#[cfg(not(all(target_os = "linux", any(target_env = "gnu", target_env = "musl"))))]
fn output_stat(meta: &std::fs::Metadata) -> OutputStat {
    OutputStat {
        is_file: meta.is_file(),
        len: meta.len(),
        mtime_ns: mtime_ns(meta),
        mount: None,
    }
}

#[cfg(target_os = "linux")]
fn c_path(path: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `.NAME.pixmill.stamp` beside `output`: hidden, so walks pass it over.
pub(crate) fn sidecar_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.pixmill.stamp"))
}

/// CRC-32 of the last 4 KiB of `data`: enough to tell a zero-filled or
/// foreign tail (nobody forges it), and cheap on a rerun of many items.
pub(crate) fn tail_hash(data: &[u8]) -> u32 {
    let start = data.len().saturating_sub(TAIL as usize);
    crc32fast::hash(&data[start..])
}

/// CRC-32 of the last 4 KiB of an open file `len` bytes long.
pub(crate) fn tail_hash_of_file(file: &File, len: u64) -> io::Result<u32> {
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

/// Reads the stamp attribute of the file at `path` (without opening it)
/// into `buf`: its length, `None` when there is none.
#[cfg(target_os = "linux")]
fn get_xattr_at(path: &Path, buf: &mut [u8]) -> io::Result<Option<usize>> {
    let path = c_path(path)?;
    // SAFETY: both names are NUL-terminated, the buffer valid for its length.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            XATTR.as_ptr().cast(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n >= 0 {
        return Ok(Some(n as usize));
    }
    no_attribute(io::Error::last_os_error()).map(|()| None)
}

/// `Ok` for the errors that mean "no stamp of ours here".
#[cfg(target_os = "linux")]
fn no_attribute(e: io::Error) -> io::Result<()> {
    match e.raw_os_error() {
        Some(libc::ENODATA) => Ok(()),
        // Larger than any stamp of ours: not ours.
        Some(libc::ERANGE) => Ok(()),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn set_xattr(_file: &File, _value: &[u8]) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(not(target_os = "linux"))]
fn get_xattr_at(_path: &Path, _buf: &mut [u8]) -> io::Result<Option<usize>> {
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
            seal: 8,
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
        assert_eq!(bytes.len(), 58);
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
        assert_eq!(Stamp::decode(&bytes[..54]), None);
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
