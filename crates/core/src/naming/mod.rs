//! Output names, decided once, by one rule, in one place. The planner asks
//! here for every entry's name and key; the I/O stage asks here once more
//! when a download's headers settle what its URL left open (an extension,
//! or a `Content-Disposition` name). Nothing else names outputs.
//!
//! The rule:
//! 1. **Key.** A URL is its own key. A local path is keyed on its lexically
//!    normalized form, relative to the current folder when it lies below it
//!    (`m/a.jpg`, `./m/a.jpg`, `m//a.jpg` and `$PWD/m/a.jpg` are all
//!    `m/a.jpg`). `--shard` hashes the key. The same input under any
//!    spelling (the same file, by device and inode; the same URL) with the
//!    same explicit `output` (or none) is one item: later mentions are
//!    merged into the first.
//! 2. **Name.** A manifest's `output` column, checked (relative, no `..`);
//!    else the path below a walked folder; else a listed file's path as
//!    given when it is relative and stays below the current folder (`./`
//!    and doubled separators dropped), its file name alone otherwise; else
//!    the URL's last path segment, sanitized into one harmless file name.
//!    A repeated input keeps the name of its first mention.
//! 3. **Extension.** `convert`: the output format's. `fetch`: the URL name's
//!    own; when it has none, the Content-Type's. A URL whose name is not
//!    worth keeping (none, or a script such as `download.php?id=1`) takes
//!    the server's `Content-Disposition` file name (sanitized the same way),
//!    else `download` plus the Content-Type's extension.
//! 4. **Clashes.** When a derived name is already taken by another input of
//!    the run, the later input (in input order; walks are sorted) gets
//!    `-<10 hex of SHA-256(key)>` before its extension: stable across reruns
//!    and machines, and no input ever fails because another one did. Two
//!    inputs given the same explicit `output` name are a clash: the later
//!    one fails, since the user asked for exactly that name.
//! 5. **Datasets.** A row of a WebDataset or parquet output is named by its
//!    position, not its input: its data file and sample key come from
//!    [`dataset::Layout`] (`00002.tar:000025.jpg`).

pub(crate) mod dataset;
pub(crate) mod url;

use pixmill_base::error::{ErrorClass, ItemError};
use std::collections::hash_map::{DefaultHasher, Entry as MapEntry};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

pub(crate) use url::{
    extension_for_content_type, file_name_from_content_disposition, file_name_from_url,
    worth_keeping,
};

/// What of a download's output name is left open until its headers arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settles {
    /// The name is final.
    Nothing,
    /// The extension: from the Content-Type (`fetch`) or the content's format (`convert`).
    Extension,
    /// The whole name: the URL named a script (or nothing), so the server's
    /// Content-Disposition name is taken when it sends one.
    Name,
}

/// Checks an `output` value from a manifest: relative, no `..`, not empty.
pub(crate) fn relative_name(name: &str) -> Result<PathBuf, ItemError> {
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

/// The key of a local input: lexically normalized (no `.`, no doubled
/// separators, `..` folded), relative to `cwd` when it lies below it,
/// absolute otherwise. No system call: keys must be cheap for lists of
/// millions, and stable across machines that share a relative layout.
pub(crate) fn local_key(input: &Path, cwd: Option<&Path>) -> PathBuf {
    let absolute = match cwd {
        Some(cwd) if input.is_relative() => cwd.join(input),
        _ => input.to_path_buf(),
    };
    let mut clean = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match clean.components().next_back() {
                Some(Component::Normal(_)) => {
                    clean.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => clean.push(".."),
            },
            other => clean.push(other),
        }
    }
    match cwd.and_then(|cwd| clean.strip_prefix(cwd).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => clean,
    }
}

/// The part of a listed local input mirrored under the output folder: the
/// path as given when it is relative and stays below the current folder
/// (`./m//a.jpg` → `m/a.jpg`), otherwise just its file name.
pub(crate) fn mirrored_name(input: &Path) -> PathBuf {
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
pub(crate) fn with_extension(rel: &Path, ext: &str) -> PathBuf {
    rel.with_extension(ext)
}

/// A hash of `key` that is the same on every run and machine (for
/// `--shard` and name disambiguation; std's hasher promises neither).
pub(crate) fn stable_hash64(key: &str) -> u64 {
    pixmill_base::hashing::stable_hash(key.as_bytes())
}

/// `dir/name.ext` → `dir/name-<10 hex of hash(key)>.ext`.
pub(crate) fn disambiguate(path: &Path, key: &str) -> PathBuf {
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

/// Names given out in this run. Holds 64-bit hashes, not names: a
/// 100-million-entry list costs about 3 GB here at worst, a small run
/// nothing to speak of.
#[derive(Default)]
pub(crate) struct Names {
    /// output name → the key that claimed it.
    claims: Mutex<HashMap<u64, u64>>,
    /// Inputs already planned (by file identity or URL).
    seen: Mutex<HashSet<u64>>,
    /// Files this run reads or writes besides its outputs, which no output
    /// may replace.
    protected: Protected,
}

/// The run's own files that no output may replace: the input files named
/// as arguments, the lists (`-m`) and the `--report` file. An output in
/// the same folder under the same name would otherwise overwrite an input
/// before it is read, or the list being read, or the report.
#[derive(Default)]
struct Protected {
    /// Their file names: an output whose name is none of these needs no
    /// `stat` (a claim is made for every item).
    names: HashSet<std::ffi::OsString>,
    /// (device, inode) → what the file is to this run.
    files: HashMap<(u64, u64), &'static str>,
}

impl Names {
    /// Names that protect `files` (each with what it is to the run, such as
    /// "an input"; see [`Names::protect`]).
    pub(crate) fn protecting<'p>(
        files: impl IntoIterator<Item = (&'p Path, &'static str)>,
    ) -> Names {
        let mut names = Names::default();
        for (path, what) in files {
            names.protect(path, what);
        }
        names
    }

    /// No output may replace the file at `path`, which is `what` to this
    /// run. Only an existing file: a path that does not exist (yet) has
    /// nothing to lose.
    pub(crate) fn protect(&mut self, path: &Path, what: &'static str) {
        use std::os::unix::fs::MetadataExt;
        let (Some(name), Ok(meta)) = (path.file_name(), std::fs::metadata(path)) else {
            return;
        };
        if meta.is_file() {
            self.protected.names.insert(name.to_owned());
            self.protected
                .files
                .entry((meta.dev(), meta.ino()))
                .or_insert(what);
        }
    }

    /// What `output` is to this run when it is one of its protected files.
    pub(crate) fn protected_at(&self, output: &Path) -> Option<&'static str> {
        use std::os::unix::fs::MetadataExt;
        let name = output.file_name()?;
        if !self.protected.names.contains(name) {
            return None;
        }
        let meta = std::fs::metadata(output).ok()?;
        self.protected.files.get(&(meta.dev(), meta.ino())).copied()
    }

    /// True the first time `identity` is met; false for a repeat (the
    /// same file under another spelling, the same URL again).
    pub(crate) fn first_sight(&self, identity: u64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(identity)
    }

    /// Claims `output` for the input `key`, by rule 4: the name itself when
    /// free (or already this input's), else, for a derived name, its
    /// disambiguated form. `Err` only for a clash of explicit names.
    pub(crate) fn claim(
        &self,
        output: &Path,
        key: &str,
        explicit: bool,
    ) -> Result<PathBuf, ItemError> {
        if let Some(what) = self.protected_at(output) {
            return Err(ItemError::new(
                ErrorClass::Name,
                format!(
                    "output {} would replace {what} of this run (choose another -o or name)",
                    output.display()
                ),
            ));
        }
        if self.try_claim(output, key) {
            return Ok(output.to_path_buf());
        }
        if !explicit {
            let other = disambiguate(output, key);
            if self.try_claim(&other, key) {
                return Ok(other);
            }
        }
        Err(ItemError::new(
            ErrorClass::Clash,
            format!(
                "output {} is already produced by another input of this run",
                output.display()
            ),
        ))
    }

    fn try_claim(&self, output: &Path, key: &str) -> bool {
        let (out, input) = (hash64(output), hash64(key));
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        match claims.entry(out) {
            MapEntry::Vacant(v) => {
                v.insert(input);
                true
            }
            MapEntry::Occupied(o) => *o.get() == input,
        }
    }
}

pub(crate) fn hash64<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// The name a download settles to once its headers are in, by rule 3;
/// `None` when `output` stays as planned.
pub(crate) fn settle_download(
    output: &Path,
    settles: Settles,
    fetched: &pixmill_fetch::Fetched,
) -> Option<PathBuf> {
    let from_type = || {
        fetched
            .content_type
            .as_deref()
            .and_then(extension_for_content_type)
    };
    match settles {
        Settles::Nothing => None,
        Settles::Extension => from_type().map(|ext| with_extension(output, ext)),
        Settles::Name => {
            let offered = fetched
                .content_disposition
                .as_deref()
                .and_then(file_name_from_content_disposition);
            match offered {
                Some(name) => {
                    let named = output.with_file_name(name);
                    match (named.extension(), from_type()) {
                        (None, Some(ext)) => Some(with_extension(&named, ext)),
                        _ => Some(named),
                    }
                }
                None => from_type().map(|ext| with_extension(output, ext)),
            }
        }
    }
}

/// The names a download whose extension is still open may end up with, in
/// the order a rerun looks for them: each extension a Content-Type or a
/// sniffed format can give, then none.
pub(crate) fn settled_candidates(stem: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    url::KNOWN_EXTENSIONS
        .iter()
        .map(move |ext| with_extension(stem, ext))
        .chain(std::iter::once(stem.to_path_buf()))
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
    fn every_spelling_of_a_path_has_one_key() {
        let cwd = Path::new("/work/here");
        let want = PathBuf::from("m/a.jpg");
        for spelling in [
            "m/a.jpg",
            "./m/a.jpg",
            "m//a.jpg",
            "/work/here/m/a.jpg",
            "m/x/../a.jpg",
        ] {
            assert_eq!(
                local_key(Path::new(spelling), Some(cwd)),
                want,
                "{spelling}"
            );
        }
        let outside = local_key(Path::new("../up/b.png"), Some(cwd));
        assert_eq!(outside, PathBuf::from("/work/up/b.png"));
    }

    #[test]
    fn mirrored_names() {
        for (given, name) in [
            ("./a/b.png", "a/b.png"),
            ("a//b.png", "a/b.png"),
            ("/abs/dir/b.png", "b.png"),
            ("../up/b.png", "b.png"),
        ] {
            assert_eq!(
                mirrored_name(Path::new(given)),
                PathBuf::from(name),
                "{given}"
            );
        }
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
    fn a_later_claimant_of_a_derived_name_gets_a_stable_suffix() {
        let names = Names::default();
        let out = Path::new("o/a.webp");
        assert_eq!(names.claim(out, "a.jpg", false).unwrap(), out);
        assert_eq!(names.claim(out, "a.jpg", false).unwrap(), out);
        let other = names.claim(out, "a.png", false).unwrap();
        assert_eq!(other, disambiguate(out, "a.png"));
        // Explicit names are exactly what the user asked for: a clash fails.
        let err = names.claim(out, "b.png", true).unwrap_err();
        assert_eq!(err.class, ErrorClass::Clash);
    }

    #[test]
    fn repeats_are_seen() {
        let names = Names::default();
        assert!(names.first_sight(7));
        assert!(!names.first_sight(7));
        assert!(names.first_sight(8));
    }
}
