//! The output folder and its file-system rules: no path, however it was
//! derived, leads outside it; temp files carry the writer's pid, so a
//! killed run's leftovers are found and removed.

mod owner;
pub(crate) mod partial;

use owner::{Ledger, Owner};
use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_base::io_reason;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Marker in temp file names, so stale temps of a killed run can be found.
const TEMP_MARK: &str = ".pixmill-";
const TEMP_SUFFIX: &str = ".tmp";
/// The folder (inside the output folder) where each running process keeps
/// the record of the folders it makes temps in, named by its owner token.
pub(crate) const OWNERS_DIR: &str = ".pixmill-owners";

/// The output folder, created and resolved once, with the rules for what
/// may be written below it.
#[derive(Debug, Clone)]
pub(crate) struct OutDir {
    root: PathBuf,
    canonical: PathBuf,
    /// Where this run notes the folders it makes temps in (none for `--dry-run`).
    ledger: Option<Arc<Ledger>>,
}

impl OutDir {
    /// Creates the folder if needed; fails (a setup error) if it cannot.
    pub(crate) fn create(root: &Path) -> io::Result<OutDir> {
        fs::create_dir_all(root)?;
        let canonical = root.canonicalize()?;
        if !canonical.is_dir() {
            return Err(io::Error::other("not a folder"));
        }
        let ledger = Ledger::new(canonical.join(OWNERS_DIR));
        ledger.note(Path::new("."));
        // Probe that we can write here before any work starts.
        let probe = temp_path(&canonical.join("probe"));
        File::create(&probe).and_then(|_| fs::remove_file(&probe))?;
        Ok(OutDir {
            root: root.to_path_buf(),
            canonical,
            ledger: Some(Arc::new(ledger)),
        })
    }

    /// The folder without creating it (for `--dry-run`).
    pub(crate) fn resolve(root: &Path) -> io::Result<OutDir> {
        let canonical = match root.canonicalize() {
            Ok(c) => c,
            Err(_) => std::path::absolute(root)?,
        };
        Ok(OutDir {
            root: root.to_path_buf(),
            canonical,
            ledger: None,
        })
    }

    /// The folder as given on the command line (for printed paths).
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The resolved folder (symlinks followed), for containment checks.
    pub(crate) fn canonical(&self) -> &Path {
        &self.canonical
    }

    /// Creates the parent folders of `path` (a path below the root) and
    /// checks they really lie inside the output folder, so a symlink planted
    /// inside it cannot carry a write outside. Each level is checked before
    /// the next is created, so not even an empty folder is made outside.
    /// The root itself was resolved when the run began; resolving it again
    /// for every item (a `readlink` per level of its path, and a `stat`)
    /// was a few percent of a dataset run's system time.
    pub(crate) fn prepare_parent(&self, path: &Path) -> Result<(), ItemError> {
        let parent = path.parent().unwrap_or(Path::new("."));
        let rel = parent.strip_prefix(&self.root).map_err(|_| {
            ItemError::new(
                ErrorClass::Name,
                format!("{} is not inside the output folder", parent.display()),
            )
        })?;
        let mut dir = self.root.clone();
        for component in rel.components() {
            match component {
                Component::Normal(part) => dir.push(part),
                Component::CurDir => continue,
                _ => {
                    return Err(ItemError::new(
                        ErrorClass::Name,
                        format!("{} leads outside the output folder", parent.display()),
                    ))
                }
            }
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(ItemError::new(
                        ErrorClass::Write,
                        format!("cannot create folder {}: {}", dir.display(), io_reason(&e)),
                    ))
                }
            }
            self.check_inside(&dir)?;
        }
        if let Some(ledger) = &self.ledger {
            ledger.note(rel);
        }
        Ok(())
    }

    /// Fails unless `dir` resolves (symlinks followed) below the output folder.
    fn check_inside(&self, dir: &Path) -> Result<(), ItemError> {
        let real = dir.canonicalize().map_err(|e| {
            ItemError::new(
                ErrorClass::Write,
                format!("cannot resolve folder {}: {}", dir.display(), io_reason(&e)),
            )
        })?;
        if !real.starts_with(&self.canonical) {
            return Err(ItemError::new(
                ErrorClass::Name,
                format!(
                    "{} leads outside the output folder (through a symlink to {})",
                    dir.display(),
                    real.display()
                ),
            ));
        }
        if !real.is_dir() {
            return Err(ItemError::new(
                ErrorClass::Write,
                format!(
                    "cannot create folder {}: a file is in the way",
                    dir.display()
                ),
            ));
        }
        Ok(())
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temp name beside `final_path`: `.NAME.pixmill-OWNER-N.tmp`, where
/// OWNER says which process on which machine writes it (see [`Owner`]), so a
/// later run anywhere can tell a dead run's leftovers from work in progress.
pub(crate) fn temp_path(final_path: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let prefix = temp_prefix(final_path, &Owner::me());
    final_path.with_file_name(format!("{prefix}{n}{TEMP_SUFFIX}"))
}

/// `.NAME.pixmill-OWNER-`: what every temp of `owner` for `final_path`
/// starts with.
fn temp_prefix(final_path: &Path, owner: &Owner) -> String {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    // Keep temp names short enough for any file system (255 bytes): at
    // most 80 + 60 bytes here.
    let short: String = name.chars().take(80).collect();
    format!(".{short}{TEMP_MARK}{}-", owner.token())
}

pub(crate) fn write_error(path: &Path, e: &io::Error) -> ItemError {
    ItemError::new(
        ErrorClass::Write,
        format!("cannot write {}: {}", path.display(), io_reason(e)),
    )
}

/// Is this file name one of our temp files, left by a process that is
/// provably gone?
pub(crate) fn is_stale_temp(name: &OsStr) -> bool {
    temp_owner(name).is_some_and(|owner| owner.is_provably_dead())
}

/// The owner recorded in a temp file name, if the name is one of ours.
/// Names from before owners carried a machine (`.NAME.pixmill-PID-N.tmp`)
/// give none: nothing says which machine wrote them.
fn temp_owner(name: &OsStr) -> Option<Owner> {
    let name = name.to_str()?;
    let body = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let tail = &body[body.rfind(TEMP_MARK)? + TEMP_MARK.len()..];
    let (token, counter) = tail.rsplit_once('-')?;
    counter.parse::<u64>().ok()?;
    Owner::parse(token)
}

/// Removes the temp files that dead runs left in the output folder `root`,
/// without walking it: each run keeps a record of the folders it writes
/// temps into ([`OWNERS_DIR`]), so only the records of provably dead runs
/// are read, and only the folders they name. Returns how many temps were
/// removed. Safe beside other live runs on this or any other machine.
pub(crate) fn clean_stale_temps(root: &Path) -> usize {
    let Ok(records) = fs::read_dir(root.join(OWNERS_DIR)) else {
        return 0;
    };
    let mut removed = 0;
    for record in records.flatten() {
        let dead = Owner::parse(&record.file_name().to_string_lossy())
            .is_some_and(|owner| owner.is_provably_dead());
        if dead {
            removed += reap_record(root, &record.path());
        }
    }
    removed
}

/// Removes the dead temps in each folder a dead run's record names, then
/// the record.
fn reap_record(root: &Path, record: &Path) -> usize {
    let Ok(bytes) = fs::read(record) else {
        return 0;
    };
    let mut removed = 0;
    for folder in bytes.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        // A record is only ever a list of clean relative folders; anything
        // else was not written by us and is not followed.
        let Some(rel) = clean_relative(folder) else {
            continue;
        };
        removed += reap_folder(&root.join(rel));
    }
    let _ = fs::remove_file(record);
    removed
}

fn reap_folder(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| is_stale_temp(&e.file_name()))
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

fn clean_relative(bytes: &[u8]) -> Option<PathBuf> {
    #[cfg(unix)]
    let path = Path::new(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes)).to_path_buf();
    #[cfg(not(unix))]
    let path = PathBuf::from(String::from_utf8_lossy(bytes).into_owned());
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        .then_some(path)
}

fn path_bytes(path: &Path) -> Vec<u8> {
    #[cfg(unix)]
    return std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(not(unix))]
    return path.to_string_lossy().into_owned().into_bytes();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_only_when_stale() {
        let temp = temp_path(Path::new("/x/photo.jpg"));
        let name = temp.file_name().unwrap();
        assert!(name.to_str().unwrap().starts_with(".photo.jpg.pixmill-"));
        assert!(name.len() < 255);
        // Our own temps are never stale while we run.
        assert_eq!(temp_owner(name), Some(Owner::me()));
        assert!(!is_stale_temp(name));
        // A dead process of this machine: stale.
        let dead = Owner::local(u32::MAX).token();
        let dead_name = format!(".photo.jpg.pixmill-{dead}-3.tmp");
        assert!(is_stale_temp(OsStr::new(&dead_name)));
        // Names that only look like temps, and pre-owner names (no machine).
        assert!(!is_stale_temp(OsStr::new("photo.jpg")));
        assert!(!is_stale_temp(OsStr::new(".photo.jpg.pixmill-x-3.tmp")));
        assert!(!is_stale_temp(OsStr::new(
            ".photo.jpg.pixmill-4294967295-3.tmp"
        )));
        assert!(!is_stale_temp(OsStr::new(&format!(
            ".a.pixmill-{dead}-x.tmp"
        ))));
    }

    #[test]
    fn a_dead_runs_temps_are_reaped_and_a_live_or_foreign_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(root.join(OWNERS_DIR)).unwrap();
        let dead = Owner::local(u32::MAX).token();
        let foreign = "0123456789ab-0123456789ab-1-42";
        let mine = Owner::me().token();
        for (owner, folder) in [(&*dead, "a/b"), (foreign, "a/b"), (&*mine, "a/b")] {
            fs::write(
                root.join(folder).join(format!(".p.pixmill-{owner}-1.tmp")),
                "x",
            )
            .unwrap();
        }
        // A temp of the dead run outside its recorded folders is not looked for.
        fs::write(root.join(format!("a/.q.pixmill-{dead}-2.tmp")), "x").unwrap();
        // Records: the dead run's names its folder; a record cannot lead outside.
        fs::write(root.join(OWNERS_DIR).join(&dead), b"\0a/b\0../..\0/etc\0").unwrap();
        fs::write(root.join(OWNERS_DIR).join(foreign), b"a/b\0").unwrap();

        assert_eq!(clean_stale_temps(&root), 1);
        let left: Vec<String> = walkdir::WalkDir::new(&root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!left
            .iter()
            .any(|n| n == &format!(".p.pixmill-{dead}-1.tmp")));
        assert!(!left.contains(&dead), "the dead run's record goes too");
        for kept in [
            format!(".p.pixmill-{foreign}-1.tmp"),
            format!(".p.pixmill-{mine}-1.tmp"),
            format!(".q.pixmill-{dead}-2.tmp"),
            foreign.to_string(),
        ] {
            assert!(left.contains(&kept), "{kept} missing from {left:?}");
        }
    }

    #[test]
    fn a_run_keeps_a_record_of_its_folders_until_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutDir::create(&dir.path().join("out")).unwrap();
        out.prepare_parent(&out.root().join("x/y/a.jpg")).unwrap();
        out.prepare_parent(&out.root().join("x/y/b.jpg")).unwrap();
        out.prepare_parent(&out.root().join("top.jpg")).unwrap();
        let record = out.canonical().join(OWNERS_DIR).join(Owner::me().token());
        assert_eq!(fs::read(&record).unwrap(), b".\0x/y\0");
        drop(out);
        assert!(!record.exists());
        assert!(!dir.path().join("out").join(OWNERS_DIR).exists());
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_folder_inside_output_cannot_lead_outside() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let out = OutDir::create(&dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink(&outside, out.root().join("link")).unwrap();
        let err = out
            .prepare_parent(&out.root().join("link/a.jpg"))
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::Name);
        // Not even an empty folder is created through the link.
        let err = out
            .prepare_parent(&out.root().join("link/new/deeper/a.jpg"))
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::Name);
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        out.prepare_parent(&out.root().join("a/b/c.jpg")).unwrap();
        assert!(out.root().join("a/b").is_dir());
    }
}
