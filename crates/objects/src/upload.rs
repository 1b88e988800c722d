//! Multipart uploads with bounded memory: the bytes written fill one part
//! of [`PART_SIZE`](crate::PART_SIZE) at a time; a full part is sent while
//! the next fills, with at most [`IN_FLIGHT`] parts on the wire, so an
//! upload holds at most `IN_FLIGHT + 1` parts whatever its length. The
//! object appears under its key only when [`Upload::finish`] completes it;
//! an upload dropped unfinished is aborted.
//!
//! A run killed mid-upload cannot abort its own: S3 keeps the parts (and
//! bills them) until someone does. So each upload leaves a small marker
//! object while it is open ([`UploadMarker`]), and the next run into the
//! same prefix aborts the uploads its markers name ([`UploadMarker::sweep`]).

use crate::bucket::path;
use crate::{Bucket, Error};
use object_store::multipart::{MultipartStore, PartId};
use object_store::PutPayload;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Parts on the wire at once, per upload.
pub const IN_FLIGHT: usize = 2;

/// A multipart upload in progress ([`Bucket::upload`]). Write to it, then
/// [`Upload::finish`] it.
pub struct Upload {
    bucket: Bucket,
    key: String,
    id: String,
    part_size: usize,
    buffer: Vec<u8>,
    sending: std::collections::VecDeque<JoinHandle<object_store::Result<PartId>>>,
    parts: Vec<PartId>,
    marker: Option<(Bucket, String)>,
    stop: Option<Arc<AtomicBool>>,
    error: Option<Error>,
    done: bool,
    written: u64,
}

impl Upload {
    pub(crate) fn start(
        bucket: Bucket,
        key: &str,
        part_size: usize,
        attributes: object_store::Attributes,
    ) -> Result<Upload, Error> {
        let options = object_store::PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        let id = bucket.block_on(
            bucket
                .multipart()
                .create_multipart_opts(&path(key), options),
        )?;
        Ok(Upload {
            bucket,
            key: key.to_string(),
            id,
            part_size,
            buffer: Vec::with_capacity(part_size),
            sending: Default::default(),
            parts: Vec::new(),
            marker: None,
            stop: None,
            error: None,
            done: false,
            written: 0,
        })
    }

    /// The upload's id, as the store gave it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Leaves a marker naming this upload under `markers` until it is
    /// completed or aborted, so a later run can abort it if this one dies.
    pub fn mark(&mut self, markers: &UploadMarker) -> Result<(), Error> {
        let key = markers.marker_key(&self.key, &self.id);
        let text = serde_json::json!({"key": self.key, "id": self.id}).to_string();
        if let Err(e) = markers.bucket.put(&key, text.into_bytes()) {
            return Err(Error {
                message: format!("cannot leave an upload marker: {e}"),
                not_found: false,
            });
        }
        self.marker = Some((markers.bucket.clone(), key));
        Ok(())
    }

    /// Fail the next write once `stop` is set (Ctrl-C): the upload is then
    /// aborted rather than completed.
    pub fn stop_on(&mut self, stop: Arc<AtomicBool>) {
        self.stop = Some(stop);
    }

    /// The request error that made a write fail, if one did.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Sends the last part and completes the upload: the object now
    /// exists, whole. Returns its ETag.
    pub fn finish(mut self) -> Result<Option<String>, Error> {
        let result = self.complete();
        if result.is_err() {
            self.abort_now();
        }
        result
    }

    fn complete(&mut self) -> Result<Option<String>, Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !self.buffer.is_empty() || self.parts.is_empty() && self.sending.is_empty() {
            self.send_part()?;
        }
        while let Some(part) = self.sending.pop_front() {
            self.parts.push(self.joined(part)?);
        }
        let parts = std::mem::take(&mut self.parts);
        let put = self
            .bucket
            .block_on(self.bucket.multipart().complete_multipart(
                &path(&self.key),
                &self.id,
                parts,
            ))?;
        self.done = true;
        self.remove_marker();
        Ok(put.e_tag)
    }

    /// Aborts the upload: its parts are dropped and nothing appears.
    pub fn abort(mut self) {
        self.abort_now();
    }

    fn abort_now(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        for part in self.sending.drain(..) {
            part.abort();
        }
        let aborted = self.bucket.block_on(
            self.bucket
                .multipart()
                .abort_multipart(&path(&self.key), &self.id),
        );
        // If the abort itself fails, the marker stays for the next run.
        if aborted.is_ok() {
            self.remove_marker();
        }
    }

    fn remove_marker(&mut self) {
        if let Some((bucket, key)) = self.marker.take() {
            let _ = bucket.delete(&key);
        }
    }

    fn joined(&self, part: JoinHandle<object_store::Result<PartId>>) -> Result<PartId, Error> {
        match self.bucket.block_on(part) {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(Error {
                message: format!("a part upload stopped: {e}"),
                not_found: false,
            }),
        }
    }

    /// Sends the buffer as the next part, first waiting for the oldest
    /// part on the wire when [`IN_FLIGHT`] are.
    fn send_part(&mut self) -> Result<(), Error> {
        if self
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            return Err(Error {
                message: "interrupted".into(),
                not_found: false,
            });
        }
        while self.sending.len() >= IN_FLIGHT {
            let oldest = self.sending.pop_front().expect("a part in flight");
            let id = self.joined(oldest)?;
            self.parts.push(id);
        }
        let data = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.part_size));
        let index = self.parts.len() + self.sending.len();
        let (store, key, id) = (self.bucket.store.clone(), path(&self.key), self.id.clone());
        let part = self.bucket.runtime.spawn(async move {
            store
                .put_part(&key, &id, index, PutPayload::from(data))
                .await
        });
        self.sending.push_back(part);
        Ok(())
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.done {
            return Err(io::Error::other("the upload is closed"));
        }
        let room = self.part_size - self.buffer.len();
        let n = room.min(buf.len());
        self.buffer.extend_from_slice(&buf[..n]);
        self.written += n as u64;
        if self.buffer.len() == self.part_size {
            if let Err(e) = self.send_part() {
                let message = e.message.clone();
                self.error = Some(e);
                return Err(io::Error::other(message));
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.abort_now();
    }
}

/// Where a run's open uploads leave their markers: a hidden folder below
/// its output prefix, one per `--shard`, so shard runs sharing a prefix
/// never abort each other's uploads.
#[derive(Clone)]
pub struct UploadMarker {
    bucket: Bucket,
    prefix: String,
}

impl UploadMarker {
    /// Markers below `prefix` (a key prefix, no trailing `/`).
    pub fn new(bucket: &Bucket, prefix: String) -> UploadMarker {
        UploadMarker {
            bucket: bucket.clone(),
            prefix,
        }
    }

    fn marker_key(&self, key: &str, id: &str) -> String {
        let hash = pixmill_base::hashing::stable_hash(format!("{key}\n{id}").as_bytes());
        format!("{}/{hash:016x}.json", self.prefix)
    }

    /// Aborts the uploads that earlier runs left open here (each named by
    /// a marker) and removes their markers. Returns how many were aborted.
    pub fn sweep(&self) -> Result<u64, Error> {
        let mut markers = Vec::new();
        self.bucket
            .list(&self.prefix, |meta| markers.push(meta.key))?;
        let mut aborted = 0;
        for marker in markers {
            let text = match self.bucket.get(&marker) {
                Ok(text) => text,
                Err(e) if e.not_found => continue,
                Err(e) => return Err(e),
            };
            let value: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
            let (Some(key), Some(id)) = (value["key"].as_str(), value["id"].as_str()) else {
                // Not ours: leave it.
                continue;
            };
            let abort = self.bucket.block_on(
                self.bucket
                    .multipart()
                    .abort_multipart(&path(key), &id.to_string()),
            );
            match abort {
                Ok(()) => aborted += 1,
                // Already completed or aborted.
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            self.bucket.delete(&marker)?;
        }
        Ok(aborted)
    }
}
