//! Where a download cut short waits for a rerun: `.NAME.pixmill-partial`
//! beside the output, with a sidecar `.NAME.pixmill-partial.meta` whose
//! first line names its owner as temp names do (`owner TOKEN`, see
//! [`super::owner`]) and whose `validator` line the fetcher keeps. A run
//! takes a partial file over only when its owner is provably gone, by the
//! same rule that lets a run remove dead runs' temps, so runs sharing an
//! output folder never write into each other's downloads; a partial file
//! whose owner is alive, or unknown, is left alone and the download goes
//! to an ordinary temp. Partial files are not temps: the sweep of stale
//! temps keeps them for the rerun that continues them.

use super::owner::Owner;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

const PARTIAL_MARK: &str = ".pixmill-partial";
const OWNER: &str = "owner ";

/// A partial download's body and sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartialFiles {
    pub data: PathBuf,
    pub sidecar: PathBuf,
}

impl PartialFiles {
    pub(crate) fn for_output(final_path: &Path) -> PartialFiles {
        let name = final_path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        // As temp names: short enough for any file system.
        let short: String = name.chars().take(80).collect();
        let data = final_path.with_file_name(format!(".{short}{PARTIAL_MARK}"));
        let sidecar = final_path.with_file_name(format!(".{short}{PARTIAL_MARK}.meta"));
        PartialFiles { data, sidecar }
    }
}

/// Takes `files` (see [`PartialFiles::for_output`]) for this process:
/// new ones, or those a dead run left (or this process holds). `false`
/// when another live (or unknown) run owns them, or the folder cannot be
/// written.
pub(crate) fn claim(files: &PartialFiles) -> bool {
    let me = Owner::me().token();
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&files.sidecar);
    match created {
        Ok(mut sidecar) => {
            if sidecar
                .write_all(format!("{OWNER}{me}\n").as_bytes())
                .is_err()
            {
                return false;
            }
            // A body without a sidecar says nothing of where it came from.
            let _ = fs::remove_file(&files.data);
            true
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => take_over(files, &me).is_some(),
        Err(_) => false,
    }
}

fn owner_of(sidecar: &Path) -> Option<String> {
    let text = fs::read_to_string(sidecar).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(OWNER))
        .map(str::to_owned)
}

/// Takes over partial files whose owner is provably gone: the sidecar is
/// replaced in one rename, and read back, so of two runs that try at once
/// only the one whose rename came last goes on.
fn take_over(files: &PartialFiles, me: &str) -> Option<()> {
    let owner = owner_of(&files.sidecar)?;
    if owner != me && !Owner::parse(&owner)?.is_provably_dead() {
        return None;
    }
    let text = fs::read_to_string(&files.sidecar).ok()?;
    let rest: String = text
        .lines()
        .filter(|l| !l.starts_with(OWNER))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut temp = files.sidecar.as_os_str().to_owned();
    temp.push(format!(".{me}"));
    let temp = PathBuf::from(temp);
    fs::write(&temp, format!("{OWNER}{me}\n{rest}")).ok()?;
    if fs::rename(&temp, &files.sidecar).is_err() {
        let _ = fs::remove_file(&temp);
        return None;
    }
    (owner_of(&files.sidecar).as_deref() == Some(me)).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_runs_partial_is_taken_over_and_a_live_ones_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("photo.jpg");
        let files = PartialFiles::for_output(&output);
        assert!(claim(&files), "new partial files");
        assert_eq!(files.data, dir.path().join(".photo.jpg.pixmill-partial"));
        fs::write(&files.data, b"half").unwrap();
        fs::write(
            &files.sidecar,
            format!("{OWNER}{}\nvalidator \"v1\"\n", Owner::me().token()),
        )
        .unwrap();
        // Ours (this process): claimed again, body kept.
        assert!(claim(&files));
        assert_eq!(fs::read(&files.data).unwrap(), b"half");

        // A dead process of this machine: taken over, validator kept.
        let dead = Owner::local(u32::MAX - 7).token();
        fs::write(&files.sidecar, format!("{OWNER}{dead}\nvalidator \"v1\"\n")).unwrap();
        assert!(claim(&files));
        let text = fs::read_to_string(&files.sidecar).unwrap();
        assert_eq!(
            text,
            format!("{OWNER}{}\nvalidator \"v1\"\n", Owner::me().token())
        );
        assert_eq!(fs::read(&files.data).unwrap(), b"half");

        // A live process (pid 1) or an unknown owner: left alone.
        let live = Owner::local(1).token();
        fs::write(&files.sidecar, format!("{OWNER}{live}\n")).unwrap();
        assert!(!claim(&files));
        fs::write(&files.sidecar, "owner somewhere-else\n").unwrap();
        assert!(!claim(&files));
        assert_eq!(fs::read(&files.data).unwrap(), b"half");
    }
}
