//! The blocking client: one bucket, its requests on a small tokio runtime.

use crate::{config, one_line, Error, Upload, UploadMarker};
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Error {
        let not_found = matches!(e, object_store::Error::NotFound { .. });
        Error {
            message: one_line(&e),
            not_found,
        }
    }
}

/// One object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Its key below the bucket.
    pub key: String,
    /// Its length.
    pub size: u64,
    /// Its ETag, as the store gave it.
    pub etag: Option<String>,
}

impl From<object_store::ObjectMeta> for Meta {
    fn from(m: object_store::ObjectMeta) -> Meta {
        Meta {
            key: m.location.to_string(),
            size: m.size,
            etag: m.e_tag,
        }
    }
}

/// A bucket, with blocking requests. Cheap to share between threads
/// (`Arc` inside); requests from many threads run at once, each thread
/// waiting for its own.
#[derive(Clone)]
pub struct Bucket {
    pub(crate) store: Arc<AmazonS3>,
    pub(crate) runtime: Arc<tokio::runtime::Runtime>,
    name: String,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bucket({})", self.name)
    }
}

/// The parts of a multipart upload: 8 MiB (S3 takes 5 MiB to 5 GiB, and
/// at most 10,000 parts: 80 GB objects).
pub const PART_SIZE: usize = 8 << 20;

impl Bucket {
    /// Opens `bucket` with the configuration the environment gives (see
    /// [`config::resolve`]); failed requests (connection errors, 5xx such
    /// as `503 SlowDown`, 429) are retried `retries` times, backing off
    /// 0.2 s, 0.6 s, 1.8 s… up to 15 s. Makes no request.
    pub fn open(bucket: &str, retries: usize) -> Result<Bucket, Error> {
        let mut settings = config::resolve().map_err(|message| Error {
            message,
            not_found: false,
        })?;
        settings.retries = retries;
        Bucket::with(bucket, &settings)
    }

    /// Opens `bucket` with `settings`.
    pub fn with(bucket: &str, settings: &config::Settings) -> Result<Bucket, Error> {
        // TLS through rustls with ring, as pixmill's downloads (a no-op
        // when a provider is already installed).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let retry = object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: std::time::Duration::from_millis(200),
                max_backoff: std::time::Duration::from_secs(15),
                base: 3.0,
            },
            max_retries: settings.retries,
            retry_timeout: std::time::Duration::from_secs(180),
        };
        let builder = settings
            .apply(AmazonS3Builder::new().with_bucket_name(bucket))
            .with_retry(retry);
        let store = builder.build()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pixmill-s3")
            .enable_all()
            .build()
            .map_err(|e| Error {
                message: format!("cannot start the object-store runtime: {e}"),
                not_found: false,
            })?;
        Ok(Bucket {
            store: Arc::new(store),
            runtime: Arc::new(runtime),
            name: bucket.to_string(),
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `s3://bucket/key`.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    /// The whole object.
    pub fn get(&self, key: &str) -> Result<Vec<u8>, Error> {
        let path = path(key);
        self.runtime.block_on(async {
            let got = self.store.get(&path).await?;
            Ok(got.bytes().await?.to_vec())
        })
    }

    /// Bytes `range` of the object.
    pub fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<Vec<u8>, Error> {
        let path = path(key);
        Ok(self
            .runtime
            .block_on(self.store.get_range(&path, range))?
            .to_vec())
    }

    /// The object as a stream of bytes, read as it arrives.
    pub fn reader(&self, key: &str) -> Result<ObjectReader, Error> {
        let path = path(key);
        let (size, etag, stream) = self.runtime.block_on(async {
            let got = self.store.get(&path).await?;
            Ok::<_, Error>((got.meta.size, got.meta.e_tag.clone(), got.into_stream()))
        })?;
        Ok(ObjectReader {
            stream,
            runtime: self.runtime.clone(),
            chunk: Bytes::new(),
            size,
            etag,
        })
    }

    /// The object's listing entry, or `None` if it is not there.
    pub fn head(&self, key: &str) -> Result<Option<Meta>, Error> {
        let path = path(key);
        match self.runtime.block_on(self.store.head(&path)) {
            Ok(meta) => Ok(Some(meta.into())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `data` under `key` in one request: the object appears whole
    /// or not at all. Returns its ETag.
    pub fn put(&self, key: &str, data: Vec<u8>) -> Result<Option<String>, Error> {
        let path = path(key);
        let put = self
            .runtime
            .block_on(self.store.put(&path, PutPayload::from(data)))?;
        Ok(put.e_tag)
    }

    /// As [`Bucket::put`], with user metadata (`x-amz-meta-NAME: VALUE`).
    pub fn put_with(
        &self,
        key: &str,
        data: Vec<u8>,
        meta: &[(&'static str, String)],
    ) -> Result<Option<String>, Error> {
        let path = path(key);
        let options = object_store::PutOptions {
            attributes: attributes(meta),
            ..Default::default()
        };
        let put =
            self.runtime
                .block_on(self.store.put_opts(&path, PutPayload::from(data), options))?;
        Ok(put.e_tag)
    }

    /// The object's user metadata `name` (one HEAD), or `None` when the
    /// object or the field is not there.
    pub fn meta(&self, key: &str, name: &'static str) -> Result<Option<String>, Error> {
        let path = path(key);
        let options = object_store::GetOptions {
            head: true,
            ..Default::default()
        };
        match self.runtime.block_on(self.store.get_opts(&path, options)) {
            Ok(got) => Ok(got
                .attributes
                .get(&object_store::Attribute::Metadata(name.into()))
                .map(|v| v.to_string())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes `key` (no error if it is not there).
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        let path = path(key);
        match self.runtime.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object below `prefix` (a folder: `prefix/…`; the whole bucket
    /// when empty), a page of up to 1,000 per request, in key order, given
    /// to `each` as they come.
    pub fn list(&self, prefix: &str, mut each: impl FnMut(Meta)) -> Result<u64, Error> {
        let prefix = (!prefix.is_empty()).then(|| path(prefix));
        self.runtime.block_on(async {
            let mut stream = self.store.list(prefix.as_ref());
            let mut count = 0;
            while let Some(meta) = stream.next().await {
                each(meta?.into());
                count += 1;
            }
            Ok(count)
        })
    }

    /// Starts a multipart upload to `key` (with user metadata `meta`); see
    /// [`Upload`].
    pub fn upload(&self, key: &str, meta: &[(&'static str, String)]) -> Result<Upload, Error> {
        Upload::start(self.clone(), key, PART_SIZE, attributes(meta))
    }

    /// Stores the file at `file` under `key`: one PUT up to [`PART_SIZE`],
    /// a multipart upload of bounded parts above. Returns the length.
    pub fn put_file(
        &self,
        key: &str,
        file: &std::path::Path,
        meta: &[(&'static str, String)],
        markers: Option<&UploadMarker>,
        stop: Option<Arc<std::sync::atomic::AtomicBool>>,
    ) -> Result<u64, Error> {
        let mut f = std::fs::File::open(file).map_err(|e| io_error("cannot read", file, &e))?;
        let len = f
            .metadata()
            .map_err(|e| io_error("cannot read", file, &e))?
            .len();
        if len <= PART_SIZE as u64 {
            let mut data = Vec::with_capacity(len as usize);
            f.read_to_end(&mut data)
                .map_err(|e| io_error("cannot read", file, &e))?;
            self.put_with(key, data, meta)?;
            return Ok(len);
        }
        let mut upload = self.upload(key, meta)?;
        if let Some(markers) = markers {
            upload.mark(markers)?;
        }
        if let Some(stop) = stop {
            upload.stop_on(stop);
        }
        let copied = io::copy(&mut f, &mut upload);
        match copied {
            Ok(n) => upload.finish().map(|_| n),
            Err(e) => {
                let message = match upload.error() {
                    Some(error) => error.message.clone(),
                    None => format!("cannot read {}: {e}", file.display()),
                };
                upload.abort();
                Err(Error {
                    message,
                    not_found: false,
                })
            }
        }
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    pub(crate) fn multipart(&self) -> &AmazonS3 {
        &self.store
    }
}

fn attributes(meta: &[(&'static str, String)]) -> object_store::Attributes {
    let mut attributes = object_store::Attributes::new();
    for (name, value) in meta {
        attributes.insert(
            object_store::Attribute::Metadata((*name).into()),
            value.clone().into(),
        );
    }
    attributes
}

fn io_error(what: &str, file: &std::path::Path, e: &io::Error) -> Error {
    Error {
        message: format!("{what} {}: {e}", file.display()),
        not_found: false,
    }
}

/// A key as object_store's path: as written when it is a valid path,
/// otherwise with the characters it refuses percent-encoded.
pub(crate) fn path(key: &str) -> Path {
    Path::parse(key).unwrap_or_else(|_| Path::from(key))
}

/// An object read as it arrives ([`Bucket::reader`]).
pub struct ObjectReader {
    stream: futures_util::stream::BoxStream<'static, object_store::Result<Bytes>>,
    runtime: Arc<tokio::runtime::Runtime>,
    chunk: Bytes,
    size: u64,
    etag: Option<String>,
}

impl ObjectReader {
    /// The object's length, as the store announced it.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The object's ETag, as the store gave it.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(io::Error::other(Error::from(e).message)),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}
