//! Walking a folder: every image below it, told by content (never by
//! extension alone), filtered by `--include`, `--exclude`, `--max-depth` and
//! hiddenness, in file-name order so every run sees the same sequence, and
//! never descending into the output folder (so a rerun does not convert its
//! own outputs). Whatever is passed over is counted for the summary.

use super::{Origin, Planner, Raw, SourceStats};
use crate::config::SourceConfig;
use crate::item::Record;
use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_imaging::Format;
use std::cell::Cell;
use std::fs;
use std::path::Path;
use walkdir::{DirEntry, WalkDir};

/// Walks `root`, feeding image files to `planner`; false when the planner
/// wants no more.
pub(super) fn walk(
    config: &SourceConfig,
    root: &Path,
    planner: &mut Planner,
    stats: &mut SourceStats,
) -> bool {
    let out_dir = planner.out_dir_canonical().to_path_buf();
    // Walking the folder it writes into: what an earlier run wrote there
    // is its output, not an input (a walk below never enters `-o`).
    let walks_outputs = planner.walks_outputs(root);
    let mut walker = WalkDir::new(root)
        .follow_links(config.follow)
        .sort_by_file_name();
    if let Some(depth) = config.max_depth {
        walker = walker.max_depth(depth);
    }
    let hidden = Cell::new(0u64);
    let keep = |e: &DirEntry| {
        if e.depth() == 0 {
            return true;
        }
        if !config.hidden && e.file_name().as_encoded_bytes().starts_with(b".") {
            hidden.set(hidden.get() + 1);
            return false;
        }
        if e.file_type().is_dir() && e.path().canonicalize().is_ok_and(|p| p == out_dir) {
            return false;
        }
        let rel = e.path().strip_prefix(root).unwrap_or(e.path());
        !config.exclude.as_ref().is_some_and(|g| g.is_match(rel))
    };
    let mut going = true;
    for item in walker.into_iter().filter_entry(keep) {
        let entry = match item {
            Ok(entry) => entry,
            Err(e) => {
                let label = e
                    .path()
                    .map_or_else(|| root.display().to_string(), |p| p.display().to_string());
                let record =
                    Record::failed_input(label, ItemError::new(ErrorClass::Read, walk_reason(&e)));
                stats.entries += 1;
                if !planner.emit_record(record) {
                    going = false;
                    break;
                }
                continue;
            }
        };
        if !is_file_to_take(&entry, stats) {
            continue;
        }
        if walks_outputs && planner.made_here(entry.path()) {
            stats.earlier_outputs += 1;
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        if config.include.as_ref().is_some_and(|g| !g.is_match(rel)) {
            continue;
        }
        let Some(sniffed) = classify(entry.path(), stats) else {
            continue;
        };
        stats.entries += 1;
        let raw = Raw {
            input: entry.path().as_os_str().to_owned(),
            output: None,
            sha256: None,
            origin: Origin::Walk(rel.to_path_buf()),
            sniffed,
            extra: Default::default(),
        };
        if !planner.plan(raw) {
            going = false;
            break;
        }
    }
    stats.hidden += hidden.get();
    going
}

/// Regular files, and symlinks to regular files (as a shell glob takes
/// them). Symlinked folders are followed only with `-L` (walkdir then
/// reports them as folders and refuses loops); without it they, broken
/// links and special files (FIFOs, sockets, devices) are counted.
fn is_file_to_take(entry: &DirEntry, stats: &mut SourceStats) -> bool {
    let kind = entry.file_type();
    if kind.is_file() {
        return true;
    }
    if kind.is_dir() {
        return false;
    }
    if kind.is_symlink() {
        match fs::metadata(entry.path()) {
            Ok(target) if target.is_file() => return true,
            Ok(target) if target.is_dir() => stats.linked_folders += 1,
            Ok(_) => stats.special += 1,
            Err(_) => stats.broken_links += 1,
        }
        return false;
    }
    stats.special += 1;
    false
}

/// Is this file an image? A name with an image extension is taken as it
/// stands (its content is checked when it is converted, and a file that
/// lies fails there with the reason), so a folder of ordinary photos costs
/// no extra reads. Any other name is told by its first bytes:
/// `Some(Some(format))` for an image, `Some(None)` when it cannot be read
/// (it then fails as an item rather than vanish), `None` when it is not an
/// image.
fn classify(path: &Path, stats: &mut SourceStats) -> Option<Option<Format>> {
    if is_image_name(path) {
        return Some(None);
    }
    match crate::input::sniff_file(path) {
        Ok(format) => Some(Some(format)),
        Err(e) if e.class == ErrorClass::Decode => {
            stats.not_images += 1;
            None
        }
        Err(_) => Some(None),
    }
}

fn walk_reason(e: &walkdir::Error) -> String {
    if let Some(ancestor) = e.loop_ancestor() {
        return format!("symlink loop back to {}", ancestor.display());
    }
    match e.io_error() {
        Some(io) => format!("cannot read: {}", pixmill_base::io_reason(io)),
        None => e.to_string(),
    }
}

/// Does the name carry an image extension (case-insensitive)?
pub(super) fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| Format::from_extension(e).is_some())
}
