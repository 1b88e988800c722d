//! Without the `s3` feature there is no object store: this type has no
//! value (see `objects.rs` for the real store).

use super::{Freshness, OutputStore, Writers};
use crate::item::Entry;
use pixmill_base::error::ItemError;
use std::path::PathBuf;

/// Never made.
pub(crate) enum ObjectsStore<'a> {
    #[allow(dead_code)]
    Never(std::convert::Infallible, std::marker::PhantomData<&'a ()>),
}

impl ObjectsStore<'_> {
    pub(crate) fn flush(&self) -> Result<(), String> {
        match self {
            ObjectsStore::Never(never, _) => match *never {},
        }
    }
}

impl OutputStore for ObjectsStore<'_> {
    fn check(&self, _entry: &Entry) -> Freshness {
        match self {
            ObjectsStore::Never(never, _) => match *never {},
        }
    }

    fn staging_path(&self, _entry: &Entry) -> Result<PathBuf, ItemError> {
        match self {
            ObjectsStore::Never(never, _) => match *never {},
        }
    }

    fn writers(&self) -> Writers<'_> {
        match self {
            ObjectsStore::Never(never, _) => match *never {},
        }
    }
}
