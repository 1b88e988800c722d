//! Who owns a temp file, across machines: the identity written into temp
//! names and run records, and the one rule for when an owner is provably
//! gone, so runs sharing an output folder (shards on several nodes, in
//! several containers) never remove each other's work in progress.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A marker for a field this machine cannot tell; an owner with one is
/// never judged, so nothing is removed on a guess.
const UNKNOWN: &str = "x";

/// The process that writes a temp file: its machine (`host`), the boot of
/// that machine's kernel (`boot`), its PID namespace (`pid_ns`), and its PID
/// there. Rendered as `HOST-BOOT-PIDNS-PID`, e.g.
/// `3f2a9c01d4e5-468b8d9b3685-4026531836-1234`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Owner {
    host: String,
    boot: String,
    pid_ns: String,
    pid: u32,
}

/// This machine's side of an [`Owner`], read once per process.
#[derive(Debug)]
struct Machine {
    host: String,
    boot: String,
    pid_ns: String,
}

impl Owner {
    /// This process.
    pub(super) fn me() -> Owner {
        Owner::local(std::process::id())
    }

    /// Process `pid` of this machine, boot and PID namespace (a worker).
    pub(super) fn local(pid: u32) -> Owner {
        let m = machine();
        Owner {
            host: m.host.clone(),
            boot: m.boot.clone(),
            pid_ns: m.pid_ns.clone(),
            pid,
        }
    }

    pub(super) fn token(&self) -> String {
        format!("{}-{}-{}-{}", self.host, self.boot, self.pid_ns, self.pid)
    }

    pub(super) fn parse(token: &str) -> Option<Owner> {
        let mut parts = token.split('-');
        let (host, boot, pid_ns, pid) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let field = |s: &str, ok: fn(char) -> bool| {
            (s == UNKNOWN || (!s.is_empty() && s.chars().all(ok))).then(|| s.to_string())
        };
        Some(Owner {
            host: field(host, |c| c.is_ascii_hexdigit())?,
            boot: field(boot, |c| c.is_ascii_hexdigit())?,
            pid_ns: field(pid_ns, |c| c.is_ascii_digit())?,
            pid: pid.parse().ok()?,
        })
    }

    /// True only when the owner cannot be running: same host and an earlier
    /// boot, or same host, boot and PID namespace and no such PID. An owner
    /// on another host (or in another PID namespace, or with a field this
    /// machine cannot tell) is never judged: it may well be running.
    pub(super) fn is_provably_dead(&self) -> bool {
        let me = machine();
        let known = |a: &str, b: &str| a != UNKNOWN && b != UNKNOWN;
        if !known(&self.host, &me.host) || self.host != me.host {
            return false;
        }
        if !known(&self.boot, &me.boot) {
            return false;
        }
        if self.boot != me.boot {
            return true;
        }
        if !known(&self.pid_ns, &me.pid_ns) || self.pid_ns != me.pid_ns {
            return false;
        }
        self.pid != std::process::id() && !process_alive(self.pid)
    }
}

fn machine() -> &'static Machine {
    static MACHINE: OnceLock<Machine> = OnceLock::new();
    MACHINE.get_or_init(|| Machine {
        host: host_id(),
        boot: boot_id(),
        pid_ns: pid_namespace(),
    })
}

/// 12 hex digits of a hash of the host name and `/etc/machine-id`: two
/// machines collide only if they share both (a cloned image that also
/// kept its host name).
fn host_id() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let machine_id = fs::read_to_string("/etc/machine-id").ok();
    if name.is_none() && machine_id.is_none() {
        return UNKNOWN.into();
    }
    let key = format!(
        "{}\n{}",
        name.unwrap_or_default().trim(),
        machine_id.unwrap_or_default().trim()
    );
    format!("{:016x}", crate::naming::stable_hash64(&key))[..12].to_string()
}

/// The first 12 hex digits of the kernel's random boot id, new at every
/// boot (48 random bits; only compared between owners of one host).
fn boot_id() -> String {
    let Ok(id) = fs::read_to_string("/proc/sys/kernel/random/boot_id") else {
        return UNKNOWN.into();
    };
    let hex: String = id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    if hex.len() == 12 {
        hex.to_ascii_lowercase()
    } else {
        UNKNOWN.into()
    }
}

/// The inode of this process's PID namespace (`pid:[4026531836]`): PIDs
/// mean the same thing only within one namespace.
fn pid_namespace() -> String {
    fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|link| {
            let link = link.to_string_lossy().into_owned();
            let inode = link.strip_prefix("pid:[")?.strip_suffix(']')?;
            inode.parse::<u64>().ok().map(|n| n.to_string())
        })
        .unwrap_or_else(|| UNKNOWN.into())
}

/// Is `pid` a process in this PID namespace? Asked of the kernel with
/// signal 0 rather than read from `/proc`, which may be mounted for another
/// namespace.
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false; // beyond any PID
    };
    if pid <= 0 {
        return true; // not a single process; never judged
    }
    // SAFETY: signal 0 only checks that the process exists.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    found || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// This run's record, `OWNERS/OWNER`, of the folders (relative to the
/// output folder, NUL-separated) it writes temps into: each folder is noted
/// before the first temp is made there, so whoever finds the record of a
/// dead run knows every folder to look in. Removed when the run ends.
#[derive(Debug)]
pub(super) struct Ledger {
    dir: PathBuf,
    record: PathBuf,
    state: Mutex<LedgerState>,
}

#[derive(Debug, Default)]
struct LedgerState {
    /// Hashes of the folders noted so far: 8 bytes each, however long the
    /// names. A collision leaves a folder unrecorded, which costs at worst
    /// a temp no one removes if this run is killed.
    noted: std::collections::HashSet<u64>,
    file: Option<File>,
}

impl Ledger {
    pub(super) fn new(owners_dir: PathBuf) -> Ledger {
        let record = owners_dir.join(Owner::me().token());
        Ledger {
            dir: owners_dir,
            record,
            state: Mutex::default(),
        }
    }

    /// Notes that temps may be made in `folder` (relative). Best effort: a
    /// run that cannot keep its record still works; only its leftovers, if
    /// it is killed, wait for a manual clean-up.
    pub(super) fn note(&self, folder: &Path) {
        // The output folder itself is written as `.` (records never hold
        // empty names).
        let folder = match folder.as_os_str().is_empty() {
            true => Path::new("."),
            false => folder,
        };
        let key = crate::naming::hash64(folder);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.noted.contains(&key) {
            return;
        }
        if state.file.is_none() {
            state.file = self.open_record().ok();
        }
        let Some(file) = state.file.as_mut() else {
            return;
        };
        let mut line = super::path_bytes(folder);
        line.push(0);
        if file.write_all(&line).is_ok() {
            state.noted.insert(key);
        }
    }

    fn open_record(&self) -> io::Result<File> {
        let open = || {
            OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.record)
        };
        // Another run may remove the (empty) folder between our create and
        // our open; one more try wins that race.
        let mut result = Err(io::Error::other("not tried"));
        for _ in 0..3 {
            fs::create_dir_all(&self.dir)?;
            result = open();
            match &result {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                _ => break,
            }
        }
        result
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if state.file.take().is_some() {
            let _ = fs::remove_file(&self.record);
            // Only succeeds when no other run has a record there.
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(host: &str, boot: &str, pid_ns: &str, pid: u32) -> Owner {
        Owner {
            host: host.into(),
            boot: boot.into(),
            pid_ns: pid_ns.into(),
            pid,
        }
    }

    #[test]
    fn tokens_round_trip() {
        let me = Owner::me();
        assert_eq!(Owner::parse(&me.token()), Some(me));
        let unknown = with(UNKNOWN, UNKNOWN, UNKNOWN, 7);
        assert_eq!(Owner::parse(&unknown.token()), Some(unknown));
        for bad in [
            "",
            "1-2",
            "ab-cd-12-x",
            "ab-cd-1z-3",
            "ab-cd-12-3-4",
            "g1-cd-12-3",
        ] {
            assert_eq!(Owner::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_provably_dead_owners_are_judged_dead() {
        let m = machine();
        let gone = u32::MAX; // beyond any PID
                             // Same host, boot and namespace: the PID decides.
        assert!(with(&m.host, &m.boot, &m.pid_ns, gone).is_provably_dead());
        assert!(!Owner::me().is_provably_dead());
        assert!(!with(
            &m.host,
            &m.boot,
            &m.pid_ns,
            std::os::unix::process::parent_id()
        )
        .is_provably_dead());
        // Same host, an earlier boot: whatever the PID, it is over.
        let other_boot = if m.boot == "000000000000" {
            "111111111111"
        } else {
            "000000000000"
        };
        if m.boot != UNKNOWN {
            assert!(with(&m.host, other_boot, &m.pid_ns, 1).is_provably_dead());
        }
        // Another host, another PID namespace, or an unknown field: never.
        assert!(!with("0123456789ab", &m.boot, &m.pid_ns, gone).is_provably_dead());
        assert!(!with(&m.host, &m.boot, "1", gone).is_provably_dead());
        assert!(!with(UNKNOWN, &m.boot, &m.pid_ns, gone).is_provably_dead());
        assert!(!with(&m.host, UNKNOWN, &m.pid_ns, gone).is_provably_dead());
        assert!(!with(&m.host, &m.boot, UNKNOWN, gone).is_provably_dead());
    }

    #[test]
    fn machine_identity_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let m = machine();
            assert_eq!(m.boot.len(), 12, "{m:?}");
            assert_ne!(m.pid_ns, UNKNOWN, "{m:?}");
            assert_ne!(m.host, UNKNOWN, "{m:?}");
        }
    }
}
