//! Output names and atomic writes: every output is written to a temp file
//! beside its final name and renamed into place, so a file under a final
//! name is always complete; and no name, however it was derived, leads
//! outside the output folder.

use crate::error::{ErrorClass, ItemError};
use std::collections::hash_map::{DefaultHasher, Entry as MapEntry};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Marker in temp file names, so stale temps of a killed run can be found.
const TEMP_MARK: &str = ".pixmill-";
const TEMP_SUFFIX: &str = ".tmp";

/// Checks an `output` value from a manifest: relative, no `..`, not empty.
pub fn relative_name(name: &str) -> Result<PathBuf, ItemError> {
    let bad = |why: &str| {
        ItemError::new(
            ErrorClass::Name,
            format!("unsafe output name '{name}': {why}"),
        )
    };
    if name.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let path = Path::new(name);
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(bad("'..' would leave the output folder")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(bad("absolute paths would leave the output folder"))
            }
        }
    }
    if clean.as_os_str().is_empty() || name.ends_with('/') {
        return Err(bad("names no file"));
    }
    Ok(clean)
}

/// The part of a local input path mirrored under the output folder: the
/// path itself when it is relative and stays below the current folder,
/// otherwise just its file name.
pub fn mirrored_name(input: &Path) -> PathBuf {
    let mut clean = PathBuf::new();
    for component in input.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            _ => {
                return input
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("unnamed"))
            }
        }
    }
    if clean.as_os_str().is_empty() {
        PathBuf::from("unnamed")
    } else {
        clean
    }
}

/// Replaces (or adds) the extension: `a/b.png` → `a/b.jpg`.
pub fn with_extension(rel: &Path, ext: &str) -> PathBuf {
    rel.with_extension(ext)
}

/// A hash of `key` that is the same on every run and machine (for
/// `--shard` and name disambiguation; std's hasher promises neither).
pub fn stable_hash64(key: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// `dir/name.ext` → `dir/name-<10 hex of hash(key)>.ext`.
pub fn disambiguate(path: &Path, key: &str) -> PathBuf {
    let tag = format!("{:016x}", stable_hash64(key));
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{}.{}", &tag[..10], ext.to_string_lossy()),
        None => format!("{stem}-{}", &tag[..10]),
    };
    path.with_file_name(name)
}

/// What claiming an output name found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First use of this output in this run.
    New,
    /// The same input already claimed it (a duplicate entry).
    Duplicate,
    /// A different input already claimed it.
    Taken,
}

/// The outputs claimed so far in this run, so two inputs never write the
/// same file. Holds two 64-bit hashes per item rather than the names: a
/// 100-million-entry manifest costs about 2 GB here at worst, not the
/// names' many more, and a small run costs nothing to speak of.
#[derive(Default)]
pub struct Claims {
    taken: Mutex<HashMap<u64, u64>>,
}

impl Claims {
    pub fn claim(&self, output: &Path, input_key: &str) -> Claim {
        let (out, input) = (hash64(output), hash64(input_key));
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        match taken.entry(out) {
            MapEntry::Vacant(v) => {
                v.insert(input);
                Claim::New
            }
            MapEntry::Occupied(o) if *o.get() == input => Claim::Duplicate,
            MapEntry::Occupied(_) => Claim::Taken,
        }
    }
}

fn hash64<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

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
    fn relative_names_stay_inside() {
        assert_eq!(relative_name("a/b.jpg").unwrap(), PathBuf::from("a/b.jpg"));
        assert_eq!(
            relative_name("./a/./b.jpg").unwrap(),
            PathBuf::from("a/b.jpg")
        );
        for bad in [
            "../x.jpg",
            "a/../../x.jpg",
            "/etc/passwd",
            "",
            ".",
            "a/",
            "a\0b",
        ] {
            let err = relative_name(bad).unwrap_err();
            assert_eq!(err.class, ErrorClass::Name, "{bad:?}");
        }
    }

    #[test]
    fn mirrored_names() {
        assert_eq!(
            mirrored_name(Path::new("./a/b.png")),
            PathBuf::from("a/b.png")
        );
        assert_eq!(
            mirrored_name(Path::new("/abs/dir/b.png")),
            PathBuf::from("b.png")
        );
        assert_eq!(
            mirrored_name(Path::new("../up/b.png")),
            PathBuf::from("b.png")
        );
        assert_eq!(
            with_extension(Path::new("a/b.tar.png"), "jpg"),
            PathBuf::from("a/b.tar.jpg")
        );
        assert_eq!(
            with_extension(Path::new("photo"), "jpg"),
            PathBuf::from("photo.jpg")
        );
    }

    #[test]
    fn disambiguation_is_stable() {
        let a = disambiguate(Path::new("o/cat.jpg"), "http://a/cat.jpg");
        let b = disambiguate(Path::new("o/cat.jpg"), "http://b/cat.jpg");
        assert_ne!(a, b);
        assert_eq!(a, disambiguate(Path::new("o/cat.jpg"), "http://a/cat.jpg"));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("cat-") && name.ends_with(".jpg") && name.len() == 18,
            "{name}"
        );
        // Known value: the hash must never change between versions.
        assert_eq!(stable_hash64("abc"), 0xba7816bf8f01cfea);
    }

    #[test]
    fn claims_tell_duplicates_from_clashes() {
        let claims = Claims::default();
        assert_eq!(claims.claim(Path::new("o/a.jpg"), "a.png"), Claim::New);
        assert_eq!(
            claims.claim(Path::new("o/a.jpg"), "a.png"),
            Claim::Duplicate
        );
        assert_eq!(claims.claim(Path::new("o/a.jpg"), "a.gif"), Claim::Taken);
        assert_eq!(claims.claim(Path::new("o/b.jpg"), "a.gif"), Claim::New);
    }

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
