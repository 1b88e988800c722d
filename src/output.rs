//! The output folder and its file-system rules: no path, however it was
//! derived, leads outside it; temp files carry the writer's pid, so a
//! killed run's leftovers are found and removed.

use crate::error::{ErrorClass, ItemError};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Marker in temp file names, so stale temps of a killed run can be found.
const TEMP_MARK: &str = ".pixmill-";
const TEMP_SUFFIX: &str = ".tmp";

/// The output folder, created and resolved once, with the rules for what
/// may be written below it.
#[derive(Debug, Clone)]
pub struct OutDir {
    root: PathBuf,
    canonical: PathBuf,
}

impl OutDir {
    /// Creates the folder if needed; fails (a setup error) if it cannot.
    pub fn create(root: &Path) -> io::Result<OutDir> {
        fs::create_dir_all(root)?;
        let canonical = root.canonicalize()?;
        if !canonical.is_dir() {
            return Err(io::Error::other("not a folder"));
        }
        // Probe that we can write here before any work starts.
        let probe = temp_path(&canonical.join("probe"));
        File::create(&probe).and_then(|_| fs::remove_file(&probe))?;
        Ok(OutDir {
            root: root.to_path_buf(),
            canonical,
        })
    }

    /// The folder without creating it (for `--dry-run`).
    pub fn resolve(root: &Path) -> io::Result<OutDir> {
        let canonical = match root.canonicalize() {
            Ok(c) => c,
            Err(_) => std::path::absolute(root)?,
        };
        Ok(OutDir {
            root: root.to_path_buf(),
            canonical,
        })
    }

    /// The folder as given on the command line (for printed paths).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The resolved folder (symlinks followed), for containment checks.
    pub fn canonical(&self) -> &Path {
        &self.canonical
    }

    /// Creates the parent folders of `path` (a path below the root) and
    /// checks they really lie inside the output folder, so a symlink planted
    /// inside it cannot carry a write outside. Each level is checked before
    /// the next is created, so not even an empty folder is made outside.
    pub fn prepare_parent(&self, path: &Path) -> Result<(), ItemError> {
        let parent = path.parent().unwrap_or(Path::new("."));
        let rel = parent.strip_prefix(&self.root).map_err(|_| {
            ItemError::new(
                ErrorClass::Name,
                format!("{} is not inside the output folder", parent.display()),
            )
        })?;
        let mut dir = self.root.clone();
        self.check_inside(&dir)?;
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

/// A temp name beside `final_path`: `.NAME.pixmill-PID-N.tmp`. Hidden, and
/// carrying the process id, so a later run can tell a killed run's leftovers
/// from a live run's work in progress.
pub fn temp_path(final_path: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let prefix = temp_prefix(final_path, std::process::id());
    final_path.with_file_name(format!("{prefix}{n}{TEMP_SUFFIX}"))
}

/// `.NAME.pixmill-PID-`: what every temp of process `pid` for `final_path`
/// starts with.
fn temp_prefix(final_path: &Path, pid: u32) -> String {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    // Keep temp names short enough for any file system (255 bytes).
    let short: String = name.chars().take(80).collect();
    format!(".{short}{TEMP_MARK}{pid}-")
}

/// Renames a finished temp file into place; removes it if that fails.
pub fn persist(temp: &Path, final_path: &Path) -> Result<(), ItemError> {
    fs::rename(temp, final_path).map_err(|e| {
        let _ = fs::remove_file(temp);
        write_error(final_path, &e)
    })
}

pub fn write_error(path: &Path, e: &io::Error) -> ItemError {
    ItemError::new(
        ErrorClass::Write,
        format!("cannot write {}: {}", path.display(), io_reason(e)),
    )
}

/// An I/O error's reason without the "(os error N)" noise.
pub fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Is this file name one of our temp files, left by a process that is no
/// longer running?
pub fn is_stale_temp(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    if !name.starts_with('.') || !name.ends_with(TEMP_SUFFIX) {
        return false;
    }
    let Some(at) = name.rfind(TEMP_MARK) else {
        return false;
    };
    let tail = &name[at + TEMP_MARK.len()..name.len() - TEMP_SUFFIX.len()];
    let Some(pid) = tail.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    pid != std::process::id() && !process_alive(pid)
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes temp files that killed runs left in the output folder. Returns
/// how many were removed.
pub fn clean_stale_temps(root: &Path) -> usize {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && is_stale_temp(e.file_name()))
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_only_when_stale() {
        let temp = temp_path(Path::new("/x/photo.jpg"));
        let name = temp.file_name().unwrap();
        assert!(name.to_str().unwrap().starts_with(".photo.jpg.pixmill-"));
        // Our own temps are never stale while we run.
        assert!(!is_stale_temp(name));
        // A pid that cannot exist (beyond pid_max) is a dead run's.
        assert!(is_stale_temp(OsStr::new(
            ".photo.jpg.pixmill-4294967295-3.tmp"
        )));
        assert!(!is_stale_temp(OsStr::new("photo.jpg")));
        assert!(!is_stale_temp(OsStr::new(".photo.jpg.pixmill-x-3.tmp")));
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
