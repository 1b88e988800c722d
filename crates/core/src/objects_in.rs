//! `s3://bucket/key` inputs (in manifests, as arguments, and `-m s3://…`
//! lists), read on the I/O stage as URLs are: one bucket client per
//! bucket, opened on first use, bodies streamed to the same temp files a
//! download goes to, with the same size cap and the same up-to-date rule
//! (the object's ETag stands for an HTTP validator).

use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_base::hashing::Checksum;
use pixmill_fetch::{FetchFailure, Fetched, Validators};
use pixmill_objects::{Bucket, ObjectUrl};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The buckets a run reads from.
#[derive(Default)]
pub(crate) struct ObjectInputs {
    buckets: Mutex<HashMap<String, Result<Bucket, String>>>,
    /// `--retries`.
    retries: usize,
}

impl ObjectInputs {
    /// No bucket opened yet; requests retried `retries` times.
    pub(crate) fn new(retries: usize) -> ObjectInputs {
        ObjectInputs {
            buckets: Mutex::default(),
            retries,
        }
    }

    /// The client for `url`'s bucket.
    pub(crate) fn bucket(&self, url: &ObjectUrl) -> Result<Bucket, String> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .entry(url.bucket.clone())
            .or_insert_with(|| Bucket::open(&url.bucket, self.retries).map_err(|e| e.message))
            .clone()
    }

    /// Streams the object `url` names to `temp`. With `revalidate` holding
    /// the ETag an earlier run saw, an unchanged object is answered
    /// `not_modified` after one HEAD, as a 304 would be.
    pub(crate) fn fetch(
        &self,
        url: &str,
        temp: &Path,
        revalidate: Option<&Validators>,
        checks: &[Checksum],
        max_size: Option<(u64, &str)>,
        stop: &AtomicBool,
    ) -> Result<Fetched, FetchFailure> {
        let fail = |class: ErrorClass, message: String, status: Option<u16>| FetchFailure {
            error: ItemError::new(class, message),
            http_status: status,
            attempts: 1,
        };
        let parsed = match ObjectUrl::parse(url) {
            Ok(Some(parsed)) if !parsed.key.is_empty() => parsed,
            Ok(_) => {
                return Err(fail(
                    ErrorClass::Fetch,
                    "an s3:// input names an object: s3://bucket/key".into(),
                    None,
                ))
            }
            Err(e) => return Err(fail(ErrorClass::Fetch, e, None)),
        };
        let bucket = self
            .bucket(&parsed)
            .map_err(|e| fail(ErrorClass::Fetch, e, None))?;
        let request_failed = |e: pixmill_objects::Error| match e.not_found {
            true => fail(ErrorClass::Http, "404 Not Found".into(), Some(404)),
            false => fail(ErrorClass::Fetch, e.message, None),
        };
        if let Some(etag) = revalidate.and_then(|v| v.etag.as_ref()) {
            let head = bucket.head(&parsed.key).map_err(request_failed)?;
            match head {
                Some(meta) if meta.etag.as_ref() == Some(etag) => {
                    return Ok(fetched(0, meta.etag, true));
                }
                Some(_) => {}
                None => return Err(fail(ErrorClass::Http, "404 Not Found".into(), Some(404))),
            }
        }
        let mut reader = bucket.reader(&parsed.key).map_err(request_failed)?;
        if let Some((max, flag)) = max_size {
            if reader.size() > max {
                return Err(fail(
                    ErrorClass::TooLarge,
                    format!("{} bytes, over {flag} {max}", reader.size()),
                    Some(200),
                ));
            }
        }
        let etag = reader.etag().map(str::to_string);
        let written = copy_to(&mut reader, temp, checks, max_size, stop);
        match written {
            Ok(n) => Ok(fetched(n, etag, false)),
            Err(e) => {
                let _ = std::fs::remove_file(temp);
                Err(e)
            }
        }
    }
}

fn fetched(bytes: u64, etag: Option<String>, not_modified: bool) -> Fetched {
    Fetched {
        bytes,
        http_status: if not_modified { 304 } else { 200 },
        attempts: 1,
        content_type: None,
        content_disposition: None,
        validators: Validators {
            etag,
            last_modified: None,
        },
        not_modified,
        warnings: Vec::new(),
        resumed_from: None,
        body: None,
    }
}

/// Copies the body to `temp`, stopping as it passes the size cap or when
/// the run is interrupted.
fn copy_to(
    reader: &mut impl Read,
    temp: &Path,
    checks: &[Checksum],
    max_size: Option<(u64, &str)>,
    stop: &AtomicBool,
) -> Result<u64, FetchFailure> {
    let fail = |class: ErrorClass, message: String| FetchFailure {
        error: ItemError::new(class, message),
        http_status: Some(200),
        attempts: 1,
    };
    let mut file = std::fs::File::create(temp).map_err(|e| {
        fail(
            ErrorClass::Write,
            format!(
                "cannot write {}: {}",
                temp.display(),
                pixmill_base::io_reason(&e)
            ),
        )
    })?;
    let mut hashers: Vec<_> = checks.iter().map(|c| c.algo.start()).collect();
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(fail(ErrorClass::Fetch, "interrupted".into()));
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => {
                for (check, h) in checks.iter().zip(hashers) {
                    let got = h.finish();
                    if !got.eq_ignore_ascii_case(&check.hex) {
                        let (name, want) = (check.algo.name(), &check.hex);
                        let message = format!("{name} mismatch: expected {want}, got {got}");
                        return Err(fail(ErrorClass::Checksum, message));
                    }
                }
                return Ok(total);
            }
            Ok(n) => n,
            Err(e) => return Err(fail(ErrorClass::Truncated, format!("body cut short: {e}"))),
        };
        total += n as u64;
        if let Some((max, flag)) = max_size {
            if total > max {
                return Err(fail(
                    ErrorClass::TooLarge,
                    format!("more than {max} bytes, over {flag}"),
                ));
            }
        }
        for h in &mut hashers {
            h.update(&buf[..n]);
        }
        file.write_all(&buf[..n]).map_err(|e| {
            fail(
                ErrorClass::Write,
                format!(
                    "cannot write {}: {}",
                    temp.display(),
                    pixmill_base::io_reason(&e)
                ),
            )
        })?;
    }
}

/// An `s3://` list (`-m s3://bucket/list.csv.gz`), copied to an unnamed
/// temp file (the list is read as a local one would be, parquet's footer
/// included; memory stays flat whatever its length): the open file, or why
/// not.
pub(crate) fn open_list(url: &ObjectUrl, retries: usize) -> Result<std::fs::File, String> {
    let bucket = Bucket::open(&url.bucket, retries).map_err(|e| e.message)?;
    let mut reader = bucket.reader(&url.key).map_err(|e| match e.not_found {
        true => "not found".to_string(),
        false => e.message,
    })?;
    let path = std::env::temp_dir().join(format!(
        ".pixmill-list-{}-{:016x}",
        std::process::id(),
        pixmill_base::hashing::stable_hash(url.to_string().as_bytes())
    ));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("cannot make a temp file: {}", pixmill_base::io_reason(&e)))?;
    // Unnamed from here on: nothing to clean up, however the run ends.
    let _ = std::fs::remove_file(&path);
    std::io::copy(&mut reader, &mut file).map_err(|e| e.to_string())?;
    use std::io::Seek;
    file.rewind().map_err(|e| e.to_string())?;
    Ok(file)
}
