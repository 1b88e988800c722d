//! Walking a folder: image files below it, filtered by `--include`,
//! `--exclude`, `--max-depth` and hiddenness, never descending into the
//! output folder (so a rerun does not convert its own outputs).

use super::{Origin, Planner, Raw};
use crate::config::SourceConfig;
use crate::error::{ErrorClass, ItemError};
use crate::imaging::Format;
use crate::item::Record;
use std::path::Path;
use walkdir::{DirEntry, WalkDir};

/// Walks `root`, feeding image files to `planner`; false when the planner
/// wants no more.
pub fn walk(config: &SourceConfig, root: &Path, planner: &mut Planner) -> bool {
    let out_dir = planner.out_dir_canonical().to_path_buf();
    let mut walker = WalkDir::new(root).follow_links(config.follow);
    if let Some(depth) = config.max_depth {
        walker = walker.max_depth(depth);
    }
    let keep = |e: &DirEntry| {
        if e.depth() == 0 {
            return true;
        }
        if !config.hidden && e.file_name().to_string_lossy().starts_with('.') {
            return false;
        }
        if e.file_type().is_dir() && e.path().canonicalize().is_ok_and(|p| p == out_dir) {
            return false;
        }
        let rel = e.path().strip_prefix(root).unwrap_or(e.path());
        !config.exclude.as_ref().is_some_and(|g| g.is_match(rel))
    };
    for item in walker.into_iter().filter_entry(keep) {
        let entry = match item {
            Ok(entry) => entry,
            Err(e) => {
                let label = e
                    .path()
                    .map_or_else(|| root.display().to_string(), |p| p.display().to_string());
                let reason = walk_reason(&e);
                let record = Record::failed_input(label, ItemError::new(ErrorClass::Read, reason));
                if !planner.emit_record(record) {
                    return false;
                }
                continue;
            }
        };
        // Without --follow a symlink is neither file nor folder here: skipped.
        if !entry.file_type().is_file() || !is_image_name(entry.path()) {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        if config.include.as_ref().is_some_and(|g| !g.is_match(rel)) {
            continue;
        }
        let raw = Raw {
            input: entry.path().as_os_str().to_owned(),
            output: None,
            sha256: None,
            origin: Origin::Walk(rel.to_path_buf()),
            extra: Default::default(),
        };
        if !planner.plan(raw) {
            return false;
        }
    }
    true
}

fn walk_reason(e: &walkdir::Error) -> String {
    if let Some(ancestor) = e.loop_ancestor() {
        return format!("symlink loop back to {}", ancestor.display());
    }
    match e.io_error() {
        Some(io) => format!("cannot read: {}", crate::output::io_reason(io)),
        None => e.to_string(),
    }
}

/// Image file extensions taken when walking (case-insensitive).
pub fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| Format::from_extension(e).is_some())
}
