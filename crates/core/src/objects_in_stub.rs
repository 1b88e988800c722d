//! Without the `s3` feature: an `s3://` input or list is refused, naming
//! the feature (see `objects_in.rs` for the real reader).

use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_base::hashing::Checksum;
use pixmill_fetch::{FetchFailure, Fetched, Validators};
use pixmill_objects::ObjectUrl;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Why an `s3://` URL cannot be used by this build.
pub(crate) const NO_S3: &str =
    "this pixmill was built without s3:// support (cargo install --locked \
     --path . --features s3; the wheel has it)";

/// No bucket is ever opened.
pub(crate) struct ObjectInputs;

impl ObjectInputs {
    pub(crate) fn new(_retries: usize) -> ObjectInputs {
        ObjectInputs
    }

    pub(crate) fn fetch(
        &self,
        _url: &str,
        _temp: &Path,
        _revalidate: Option<&Validators>,
        _checks: &[Checksum],
        _max_size: Option<(u64, &str)>,
        _stop: &AtomicBool,
    ) -> Result<Fetched, FetchFailure> {
        Err(FetchFailure {
            error: ItemError::new(ErrorClass::Fetch, NO_S3),
            http_status: None,
            attempts: 0,
        })
    }
}

pub(crate) fn open_list(_url: &ObjectUrl, _retries: usize) -> Result<std::fs::File, String> {
    Err(NO_S3.to_string())
}
