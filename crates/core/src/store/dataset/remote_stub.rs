//! Without the `s3` feature a dataset is never published: this type has no
//! value (see `remote.rs` for the real one).

use std::io;
use std::path::Path;

/// Never made.
pub(crate) enum Remote {}

impl Remote {
    pub(crate) fn hydrate(
        &self,
        _root: &Path,
        _is_data: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        match *self {}
    }

    pub(crate) fn fetch_whole(&self, _name: &str, _path: &Path) -> Result<(), String> {
        match *self {}
    }

    pub(crate) fn publish(
        &self,
        _root: &Path,
        _data: &str,
        _beside: &[String],
        _seal: &str,
    ) -> Result<(), (String, io::Error)> {
        match *self {}
    }

    pub(crate) fn put_small(&self, _root: &Path, _name: &str) -> io::Result<()> {
        match *self {}
    }

    pub(crate) fn remove(&self, _seal: &str, _names: &[String]) -> Result<(), String> {
        match *self {}
    }
}
