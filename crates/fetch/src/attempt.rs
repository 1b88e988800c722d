//! One HTTP request for one item: send it, judge the status, and stream the
//! body into the destination file, classifying every way that can fail.

use super::body::{Body, Encoding};
use super::partial::{self, OnDemand, Partial, Resume};
use super::retry::parse_retry_after;
use super::FetchSettings;
use crate::ratelimit::RateLimiter;
use crate::Validators;
use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_base::hashing::{Checksum, Running};
use reqwest::blocking::{Client, Response};
use reqwest::header::{
    HeaderMap, AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE, ETAG, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, RANGE, RETRY_AFTER,
};
use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Read buffer; also the write buffer, so a file sees few, large writes.
const BUF_SIZE: usize = 64 * 1024;

/// What the loop needs to decide about trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    No,
    /// Retry after our own backoff.
    Yes,
    /// Retry after the server's `Retry-After` (still capped by the caller).
    After(Duration),
}

#[derive(Debug)]
pub(crate) struct Failure {
    pub error: ItemError,
    pub status: Option<u16>,
    pub retry: Retry,
}

impl Failure {
    fn new(class: ErrorClass, message: impl Into<String>, retry: Retry) -> Self {
        Failure {
            error: ItemError::new(class, message),
            status: None,
            retry,
        }
    }

    fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}

pub(crate) struct Success {
    /// From sending the request to the response head: the server's latency,
    /// whatever the body's size.
    pub latency: Duration,
    pub bytes: u64,
    pub status: u16,
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    /// What the server said identifies this version of the body.
    pub validators: Validators,
    /// What the record must say about the saved body (an encoding kept).
    pub warnings: Vec<String>,
    /// The first byte this attempt sent, when it continued a partial body.
    pub resumed_from: Option<u64>,
    /// The body, when it was kept in memory instead of written to `dest`.
    pub body: Option<Vec<u8>>,
}

/// Everything one attempt needs; borrowed from the fetch loop.
pub(crate) struct Attempt<'a> {
    pub client: &'a Client,
    pub settings: &'a FetchSettings,
    pub url: &'a url::Url,
    /// Where a body that is not kept in memory goes: a temp, or the held
    /// partial file (`partial.data`).
    pub dest: Cell<&'a Path>,
    /// The partial files this download holds: `dest` may hold a body to
    /// continue (see [`Partial`]).
    pub partial: Cell<Option<Partial<'a>>>,
    /// Partial files to claim, with the function that claims them, when a
    /// body worth continuing is about to be written (taken once).
    pub on_demand: Cell<Option<OnDemand<'a>>>,
    /// Digests the body must have, already validated (lowercase hex).
    pub checks: &'a [Checksum],
    /// The run's `--limit-rate`, shared by every thread.
    pub rate: Option<&'a RateLimiter>,
    pub cancel: &'a AtomicBool,
    pub deadline: Option<Instant>,
    /// Ask "changed since?" with these; a 304 answer writes nothing.
    pub conditional: Option<&'a Validators>,
}

impl Attempt<'_> {
    pub(crate) fn run(&self, resume: Option<&Resume>) -> Result<Success, Failure> {
        let timeout = self.request_timeout();
        let mut request = self.client.get(self.url.clone());
        if let Some(r) = resume {
            request = request
                .header(RANGE, format!("bytes={}-", r.offset))
                .header(IF_RANGE, r.validator.as_str());
        }
        if let Some(t) = timeout {
            request = request.timeout(t);
        }
        if let Some(v) = self.conditional {
            if let Some(etag) = &v.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(date) = &v.last_modified {
                request = request.header(IF_MODIFIED_SINCE, date);
            }
        }
        request = self.gate_headers(request);
        let sent = Instant::now();
        let response = request
            .send()
            .map_err(|e| self.send_failure(&e.without_url(), timeout.is_some()))?;
        let latency = sent.elapsed();
        let mut warnings = Vec::new();
        if self.url.scheme() == "https" && response.url().scheme() == "http" {
            // Refused instead with --proto-redir https.
            warnings.push("redirected from https to http: the body came unencrypted".to_string());
        }
        let status = response.status().as_u16();
        let headers = response.headers();
        let text = |name| header_text(headers, name);
        let validators = Validators {
            etag: text(ETAG),
            last_modified: text(LAST_MODIFIED),
        };
        if status == 304 && self.conditional.is_some() {
            return Ok(Success {
                bytes: 0,
                status,
                content_type: None,
                content_disposition: None,
                validators,
                latency,
                warnings,
                resumed_from: None,
                body: None,
            });
        }
        if status == 416 && resume.is_some() {
            // The partial body is not a prefix of what the server has now.
            self.start_over();
            let msg = "HTTP 416 to a resumed download: starting over";
            return Err(Failure::new(ErrorClass::Http, msg, Retry::Yes).with_status(status));
        }
        if !response.status().is_success() {
            return Err(status_failure(&response));
        }
        if let Some(directive) = opted_out(headers, &self.settings.disallowed_directives) {
            // Decided from the headers: the body is never read.
            return Err(Failure::new(
                ErrorClass::Filtered,
                format!("opted out: X-Robots-Tag {directive}"),
                Retry::No,
            )
            .with_status(status));
        }
        let content_type = text(CONTENT_TYPE);
        let content_disposition = text(CONTENT_DISPOSITION);
        let expected = response.content_length();
        let encoding =
            Encoding::of(headers).unless_the_file_is_gzip(self.url, content_type.as_deref());
        let offset = self
            .continue_from(status, headers, resume, expected)
            .map_err(|f| f.with_status(status))?;
        let sink = self.sink(offset, resume, &encoding, expected);
        if matches!(sink, Sink::File { .. }) {
            self.keep_continuable(headers, resume, &encoding, expected);
        }
        let (bytes, body) = self
            .check_announced_size(expected.map(|len| len + offset), &encoding)
            .and_then(|()| self.stream(response, expected, &encoding, timeout.is_some(), sink))
            .map_err(|f| f.with_status(status))?;
        Ok(Success {
            latency,
            bytes,
            body,
            status,
            content_type,
            content_disposition,
            validators,
            warnings: warnings.into_iter().chain(encoding.warning()).collect(),
            resumed_from: (offset > 0).then_some(offset),
        })
    }

    /// Where the body goes on in `dest`: after the partial body for a 206
    /// that starts where it ends, from 0 for a 200.
    fn continue_from(
        &self,
        status: u16,
        headers: &HeaderMap,
        resume: Option<&Resume>,
        announced: Option<u64>,
    ) -> Result<u64, Failure> {
        if self.partial.get().is_none() {
            return Ok(0);
        }
        let range = partial::ContentRange::of(headers);
        match (status, resume) {
            (206, Some(r)) if range.is_some_and(|c| c.first == r.offset) => {
                if let Some(flaw) = range.and_then(|c| c.flaw(announced)) {
                    self.start_over();
                    let msg = format!("the server's 206 does not add up ({flaw}): starting over");
                    return Err(Failure::new(ErrorClass::Fetch, msg, Retry::Yes));
                }
                Ok(r.offset)
            }
            (206, _) => {
                self.start_over();
                let msg = "the server sent a range that was not asked for";
                Err(Failure::new(ErrorClass::Fetch, msg, Retry::Yes))
            }
            _ => Ok(0),
        }
    }

    /// Before a body goes to a file: the sidecar learns the validator that
    /// a later attempt's `If-Range` will carry (or that there is none), so
    /// a kill mid-body leaves a partial body that can be continued; partial
    /// files claimed on demand are claimed now. A fresh download whose
    /// length is announced under [`partial::WORTH_CONTINUING`] skips that
    /// (a cut one is fetched again whole, and a sidecar, still without a
    /// validator, says so): for a dataset's small images that write was a
    /// third of the files each item opened.
    fn keep_continuable(
        &self,
        headers: &HeaderMap,
        resume: Option<&Resume>,
        encoding: &Encoding,
        announced: Option<u64>,
    ) {
        if resume.is_none() && announced.is_some_and(|len| len < partial::WORTH_CONTINUING) {
            return;
        }
        if let Some(OnDemand { files, claim }) = self.on_demand.take() {
            if claim() {
                self.partial.set(Some(files));
                self.dest.set(files.data);
            }
        }
        let Some(partial) = self.partial.get() else {
            return;
        };
        let validator = partial::validator_of(headers, *encoding != Encoding::Identity);
        if partial::write_validator(partial.sidecar, validator.as_deref()).is_err() {
            // Without a sidecar the body cannot be continued; it can still
            // be downloaded.
            let _ = std::fs::remove_file(partial.sidecar);
        }
    }

    /// Where the body goes: memory for a fresh body announced under
    /// `in_memory_below` that comes unencoded (a partial body an earlier
    /// attempt left, which this one does not continue, is dropped), else
    /// `dest`, after the `offset` bytes of a partial body it continues.
    fn sink(
        &self,
        offset: u64,
        resume: Option<&Resume>,
        encoding: &Encoding,
        announced: Option<u64>,
    ) -> Sink {
        let small = announced.filter(|&len| len < self.settings.in_memory_below);
        match small {
            Some(len) if offset == 0 && *encoding == Encoding::Identity => {
                if resume.is_some() {
                    let _ = std::fs::remove_file(self.dest.get());
                }
                Sink::Memory(Vec::with_capacity(len as usize))
            }
            _ => Sink::File { offset },
        }
    }

    /// Drops the partial body and its validator: the next attempt fetches
    /// the whole body.
    fn start_over(&self) {
        let _ = std::fs::remove_file(self.dest.get());
        if let Some(p) = self.partial.get() {
            let _ = partial::write_validator(p.sidecar, None);
        }
    }

    /// What gated hosts ask for: `-H` and `--referer` headers, the cookies
    /// of `--load-cookies` for this URL's host and path, and a netrc login
    /// as Basic auth (a login in the URL itself is sent by reqwest, and
    /// wins). reqwest drops `Authorization` and `Cookie` if a redirect
    /// leads to another host.
    fn gate_headers(
        &self,
        mut request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        let given = |name: &str| {
            self.settings
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        for (name, value) in &self.settings.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if !given(COOKIE.as_str()) {
            if let Some(cookie) = crate::cookies::cookie_header(&self.settings.cookies, self.url) {
                request = request.header(COOKIE, cookie);
            }
        }
        if self.url.username().is_empty() && !given(AUTHORIZATION.as_str()) {
            let host = self.url.host_str().unwrap_or_default();
            if let Some(login) = crate::netrc::login_for(&self.settings.netrc, host) {
                request = request.basic_auth(&login.login, Some(&login.password));
            }
        }
        request
    }

    /// The per-request timeout, when the `max_time` deadline is nearer than
    /// the stall timeout. In reqwest's blocking client a request timeout is
    /// both a whole-request deadline and the per-read limit, so setting it
    /// while the deadline is far away would disable stall detection; instead
    /// the deadline is then checked between reads (overshooting by at most
    /// one stall timeout).
    fn request_timeout(&self) -> Option<Duration> {
        let remaining = self.deadline?.saturating_duration_since(Instant::now());
        match stall_limit(self.settings) {
            Some(stall) if remaining > stall => None,
            _ => Some(remaining),
        }
    }

    fn send_failure(&self, e: &reqwest::Error, deadline_bound: bool) -> Failure {
        if let Some(refused) = crate::address::find_refusal(e) {
            // The address will not change on a retry.
            return Failure::new(ErrorClass::Fetch, refused, Retry::No);
        }
        let detail = root_cause(e);
        if e.is_timeout() {
            return if deadline_bound {
                max_time_failure(self.settings)
            } else if e.is_connect() {
                let t = secs(self.settings.connect_timeout);
                Failure::new(
                    ErrorClass::Timeout,
                    format!("connect timeout after {t}"),
                    Retry::Yes,
                )
            } else {
                let t = secs(self.settings.timeout);
                Failure::new(
                    ErrorClass::Timeout,
                    format!("no response within {t}"),
                    Retry::Yes,
                )
            };
        }
        if e.is_redirect() || e.is_builder() {
            return Failure::new(ErrorClass::Fetch, detail, Retry::No);
        }
        if let Some(tls) = find_rustls_error(e) {
            // A certificate will not change on a retry.
            return Failure::new(ErrorClass::Fetch, tls_message(tls, self.url), Retry::No);
        }
        let what = if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        Failure::new(ErrorClass::Fetch, format!("{what}: {detail}"), Retry::Yes)
    }

    /// Refuses a body whose `Content-Length` is over the limit before a
    /// byte of it is read (an encoded body's length is what was sent, which
    /// says nothing of its decoded size).
    fn check_announced_size(
        &self,
        expected: Option<u64>,
        encoding: &Encoding,
    ) -> Result<(), Failure> {
        if *encoding != Encoding::Identity {
            return Ok(());
        }
        match (self.settings.max_size, expected) {
            (Some(max), Some(len)) if len > max => Err(too_large(self.settings, max, Some(len))),
            _ => Ok(()),
        }
    }

    /// Copies the body to its sink through one fixed buffer, decoding,
    /// hashing and counting as it goes, and stops as soon as the saved
    /// bytes pass the size limit; returns the count of bytes saved, and
    /// the body itself when it was kept in memory.
    fn stream(
        &self,
        response: Response,
        expected: Option<u64>,
        encoding: &Encoding,
        deadline_bound: bool,
        sink: Sink,
    ) -> Result<(u64, Option<Vec<u8>>), Failure> {
        let mut hashers: Vec<Running> = self.checks.iter().map(|c| c.algo.start()).collect();
        let (mut out, offset) = match sink {
            Sink::Memory(body) => (Out::Memory(body), 0),
            Sink::File { offset } => {
                let file = if offset == 0 {
                    File::create(self.dest.get())
                } else {
                    self.hash_prefix(offset, &mut hashers)?;
                    OpenOptions::new().append(true).open(self.dest.get())
                };
                let file = file.map_err(|e| self.write_failure(&e))?;
                (Out::File(BufWriter::with_capacity(BUF_SIZE, file)), offset)
            }
        };
        let mut buf = vec![0u8; BUF_SIZE];
        let chunk = self.rate.map_or(BUF_SIZE, |r| r.chunk(BUF_SIZE));
        let mut total: u64 = offset;
        let mut speed = SpeedWindow::new(self.settings);
        let mut body = Body::new(response, encoding);
        loop {
            self.check_cancel_and_deadline()?;
            speed.check(body.wire().received)?;
            let before = body.wire().received;
            let n = match body.read(&mut buf[..chunk]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let received = body.wire().received;
                    return Err(if body.wire().failed {
                        self.read_failure(&e, received, expected, deadline_bound)
                    } else {
                        undecodable(encoding, &e, received, expected)
                    });
                }
            };
            total += n as u64;
            if let Some(max) = self.settings.max_size.filter(|&max| total > max) {
                return Err(too_large(self.settings, max, None));
            }
            for h in &mut hashers {
                h.update(&buf[..n]);
            }
            if let Some(rate) = self.rate {
                let wire = (body.wire().received - before) as usize;
                let waited = rate.pay(wire, self.cancel).ok_or_else(cancelled)?;
                // Time held back by the cap is not the server's slowness.
                speed.pause(waited);
            }
            out.write_all(&buf[..n])
                .map_err(|e| self.write_failure(&e))?;
        }
        let received = body.wire().received;
        if let Some(len) = expected.filter(|&len| received < len) {
            return Err(truncated(received, Some(len), None));
        }
        let body = match out {
            Out::Memory(body) => Some(body),
            Out::File(mut file) => {
                file.flush().map_err(|e| self.write_failure(&e))?;
                None
            }
        };
        self.verify(hashers)?;
        Ok((total, body))
    }

    /// Feeds the partial body's `offset` bytes to the digests, so they
    /// check the whole file.
    fn hash_prefix(&self, offset: u64, hashers: &mut [Running]) -> Result<(), Failure> {
        let mut file = File::open(self.dest.get()).map_err(|e| self.write_failure(&e))?;
        let mut buf = vec![0u8; BUF_SIZE];
        let mut left = offset;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = file
                .read(&mut buf[..want])
                .map_err(|e| self.write_failure(&e))?;
            if n == 0 {
                self.start_over();
                let msg = "the partial file shrank while it was resumed";
                return Err(Failure::new(ErrorClass::Write, msg, Retry::Yes));
            }
            for h in hashers.iter_mut() {
                h.update(&buf[..n]);
            }
            left -= n as u64;
        }
        Ok(())
    }

    fn check_cancel_and_deadline(&self) -> Result<(), Failure> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(max_time_failure(self.settings));
        }
        Ok(())
    }

    fn read_failure(
        &self,
        e: &io::Error,
        total: u64,
        expected: Option<u64>,
        deadline_bound: bool,
    ) -> Failure {
        if !is_timeout(e) {
            return truncated(total, expected, Some(&io_root_cause(e)));
        }
        let past_deadline = self.deadline.is_some_and(|d| Instant::now() >= d);
        if deadline_bound || past_deadline {
            return max_time_failure(self.settings);
        }
        let t = secs(self.settings.timeout);
        Failure::new(
            ErrorClass::Timeout,
            format!("stalled: no data for {t} after {total} bytes"),
            Retry::Yes,
        )
    }

    fn write_failure(&self, e: &io::Error) -> Failure {
        let reason = pixmill_base::io_reason(e);
        let msg = format!("cannot write {}: {reason}", self.dest.get().display());
        Failure::new(ErrorClass::Write, msg, Retry::No)
    }

    fn verify(&self, hashers: Vec<Running>) -> Result<(), Failure> {
        for (check, h) in self.checks.iter().zip(hashers) {
            let got = h.finish();
            if got != check.hex {
                let (name, want) = (check.algo.name(), &check.hex);
                let msg = format!("{name} mismatch: expected {want}, got {got}");
                return Err(Failure::new(ErrorClass::Checksum, msg, Retry::No));
            }
        }
        Ok(())
    }
}

/// Where [`Attempt::stream`] puts the body.
enum Sink {
    Memory(Vec<u8>),
    /// `dest`, from `offset` on (the bytes before it are a partial body
    /// this attempt continues).
    File {
        offset: u64,
    },
}

/// The open sink.
enum Out {
    Memory(Vec<u8>),
    File(BufWriter<File>),
}

impl Out {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Out::Memory(body) => {
                body.extend_from_slice(bytes);
                Ok(())
            }
            Out::File(file) => file.write_all(bytes),
        }
    }
}

/// A header's value as text; `None` when absent, not text, or too long to
/// keep in a stamp.
fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    (value.len() <= 512).then(|| value.to_owned())
}

/// `--min-speed` over the `--timeout` window (curl's `--speed-limit` with
/// `--speed-time`): a body that trickles in slower than that is stalled,
/// even though bytes keep arriving before each read would time out.
struct SpeedWindow {
    min_speed: u64,
    window: Duration,
    started: Instant,
    total_at_start: u64,
}

impl SpeedWindow {
    fn new(settings: &FetchSettings) -> SpeedWindow {
        SpeedWindow {
            min_speed: settings.min_speed,
            window: settings.timeout,
            started: Instant::now(),
            total_at_start: 0,
        }
    }

    /// Leaves `waited` (time the rate cap held the body back) out of the
    /// window.
    fn pause(&mut self, waited: Duration) {
        self.started += waited;
    }

    fn check(&mut self, total: u64) -> Result<(), Failure> {
        if self.min_speed == 0 || self.window.is_zero() {
            return Ok(());
        }
        let elapsed = self.started.elapsed();
        if elapsed < self.window {
            return Ok(());
        }
        let got = total - self.total_at_start;
        let rate = got as f64 / elapsed.as_secs_f64();
        if rate < self.min_speed as f64 {
            let msg = format!(
                "stalled: {got} bytes in {}, below --min-speed {}/s",
                secs(self.window),
                pixmill_base::human_bytes(self.min_speed)
            );
            return Err(Failure::new(ErrorClass::Timeout, msg, Retry::Yes));
        }
        self.started = Instant::now();
        self.total_at_start = total;
        Ok(())
    }
}

/// The stall timeout as configured on the client; zero means "none".
pub(crate) fn stall_limit(settings: &FetchSettings) -> Option<Duration> {
    Some(settings.timeout).filter(|t| !t.is_zero())
}

/// The first disallowed directive an `X-Robots-Tag` header carries, for
/// all robots (`noai`), ours (`pixmill: noai`) or any (`*: noai`); values
/// are comma-separated and compared case-insensitively.
pub(crate) fn opted_out(headers: &HeaderMap, disallowed: &[String]) -> Option<String> {
    if disallowed.is_empty() {
        return None;
    }
    for value in headers.get_all("x-robots-tag") {
        // A byte that is not ASCII (`noai, café`) spoils only its own
        // directive, not the whole header.
        let value = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
        // `botname: a, b` scopes the list to one robot.
        let directives = match value.split_once(':') {
            Some((scope, rest)) => match scope.trim() {
                "pixmill" | "*" => rest,
                // Not a scope (a directive with a value, e.g. `unavailable_after: ...`).
                s if s.contains(' ') || NOT_SCOPES.contains(&s) => value.as_str(),
                _ => continue,
            },
            None => value.as_str(),
        };
        for directive in directives.split(',').map(str::trim) {
            if disallowed.iter().any(|d| d == directive) {
                return Some(directive.to_string());
            }
        }
    }
    None
}

/// Directives written `name: value`, which are not robot scopes.
const NOT_SCOPES: [&str; 3] = ["unavailable_after", "max-snippet", "max-image-preview"];

fn status_failure(response: &Response) -> Failure {
    let status = response.status();
    let code = status.as_u16();
    let message = match status.canonical_reason() {
        Some(reason) => format!("HTTP {code} {reason}"),
        None => format!("HTTP {code}"),
    };
    if let Some(failure) = redirect_failure(response) {
        return failure.with_status(code);
    }
    let retry = match code {
        // A `Retry-After` of zero or in the past (clock skew, a stale
        // cache) would mean an immediate retry: take the normal backoff.
        429 | 503 => retry_after(response)
            .filter(|wait| !wait.is_zero())
            .map_or(Retry::Yes, Retry::After),
        408 | 500..=599 => Retry::Yes,
        _ => Retry::No,
    };
    Failure::new(ErrorClass::Http, message, retry).with_status(code)
}

/// A redirect the client would not follow: to `file:`, `ftp:` or any other
/// scheme (or to no usable place) arrives here as a bare 3xx.
fn redirect_failure(response: &Response) -> Option<Failure> {
    if !response.status().is_redirection() {
        return None;
    }
    let location = response.headers().get(reqwest::header::LOCATION)?;
    let target = location
        .to_str()
        .ok()
        .and_then(|l| response.url().join(l).ok());
    let message = match target {
        Some(url) if !super::is_web_scheme(url.scheme()) => {
            format!(
                "redirect to unsupported URL scheme \"{}\": {}",
                url.scheme(),
                crate::redact_url(url.as_str())
            )
        }
        Some(url) => format!(
            "redirect to {} was not followed",
            crate::redact_url(url.as_str())
        ),
        None => "redirect to an invalid location".to_string(),
    };
    Some(Failure::new(ErrorClass::Fetch, message, Retry::No))
}

fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

pub(crate) fn max_time_failure(settings: &FetchSettings) -> Failure {
    let t = settings
        .max_time
        .map_or_else(String::new, |d| format!(" {}", secs(d)));
    Failure::new(
        ErrorClass::Timeout,
        format!("max-time{t} exceeded"),
        Retry::No,
    )
}

/// Whether a partial body left by this failure is worth continuing: one
/// cut short (a reset, a stall, a timeout, an interrupt), not one refused
/// (404, a checksum, a size limit), whose bytes no later attempt wants.
pub(crate) fn worth_continuing(failure: &Failure) -> bool {
    failure.retry != Retry::No
        || failure.error.class == ErrorClass::Timeout
        || failure.error.message == "cancelled"
}

pub(crate) fn cancelled() -> Failure {
    Failure::new(ErrorClass::Fetch, "cancelled", Retry::No)
}

/// A body over the size limit: `announced` when its `Content-Length` said
/// so, else it was stopped as it passed the limit.
fn too_large(settings: &FetchSettings, max: u64, announced: Option<u64>) -> Failure {
    let flag = &settings.max_size_flag;
    let limit = format!("{flag} {max} bytes ({})", pixmill_base::human_bytes(max));
    let msg = match announced {
        Some(len) => format!("body of {len} bytes (Content-Length) exceeds {limit}"),
        None => format!("body exceeds {limit}: download stopped there"),
    };
    Failure::new(ErrorClass::TooLarge, msg, Retry::No)
}

/// A body whose encoding does not decode: cut short (worth a retry), or
/// corrupt (not).
fn undecodable(
    encoding: &Encoding,
    e: &io::Error,
    received: u64,
    expected: Option<u64>,
) -> Failure {
    let name = match encoding {
        Encoding::Deflate => "deflate",
        _ => "gzip",
    };
    if e.kind() == io::ErrorKind::UnexpectedEof {
        let cause = format!("{name} stream cut short");
        return truncated(received, expected, Some(&cause));
    }
    let msg = format!("body does not decode as Content-Encoding {name}: {e}");
    Failure::new(ErrorClass::Fetch, msg, Retry::No)
}

fn truncated(total: u64, expected: Option<u64>, cause: Option<&str>) -> Failure {
    let mut msg = match expected {
        Some(len) => format!("body ended after {total} of {len} bytes"),
        None => format!("body ended after {total} bytes"),
    };
    if let Some(cause) = cause {
        msg.push_str(" (");
        msg.push_str(cause);
        msg.push(')');
    }
    Failure::new(ErrorClass::Truncated, msg, Retry::Yes)
}

/// reqwest's blocking reads report their timeout as an `io::Error` wrapping
/// a `reqwest::Error`, not as `ErrorKind::TimedOut`; accept both.
fn is_timeout(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout)
}

/// The TLS error somewhere in an error chain. `io::Error::source` skips
/// the error it wraps, so wrapped errors are opened with `get_ref`.
fn find_rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if let Some(tls) = find_rustls_error(inner) {
                return Some(tls);
            }
        }
        next = err.source();
    }
    None
}

/// TLS failures in curl's words, with what to do about them.
fn tls_message(e: &rustls::Error, url: &url::Url) -> String {
    use rustls::CertificateError as C;
    let fix = "--cacert FILE trusts its issuer, --insecure skips the check";
    let problem = match e {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => format!(
                "unknown issuer: a self-signed certificate, or one from an authority \
                 this system does not trust ({fix})"
            ),
            C::Expired => "certificate has expired (--insecure skips the check)".to_string(),
            C::ExpiredContext { not_after, .. } => format!(
                "certificate has expired: it was valid until {} \
                 (--insecure skips the check)",
                http_date(*not_after)
            ),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                format!("certificate is not yet valid ({fix})")
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                "hostname mismatch: the certificate is not for {} ({fix})",
                url.host_str().unwrap_or_default()
            ),
            C::Revoked => "certificate has been revoked".to_string(),
            C::BadSignature | C::BadEncoding => format!("bad certificate ({fix})"),
            // webpki's error for a certificate that is its own CA, which is
            // what `openssl req -x509` makes; rustls only carries it as
            // an opaque `Other`, so it is known by name.
            C::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                format!("self-signed certificate ({fix})")
            }
            other => format!("{other:?} ({fix})"),
        },
        other => return format!("TLS handshake failed: {other}"),
    };
    format!("SSL certificate problem: {problem}")
}

/// `Fri, 01 Jan 2021 00:00:00 GMT`: how curl and every server write a date.
fn http_date(at: rustls::pki_types::UnixTime) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.as_secs());
    httpdate::fmt_http_date(at)
}

/// The innermost message of an error chain: "Connection refused (os error
/// 111)" says more than reqwest's "error sending request for url (...)", and
/// leaves the URL out (the caller prints the input beside the message).
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

fn io_root_cause(e: &io::Error) -> String {
    match e.get_ref() {
        Some(inner) => root_cause(inner),
        None => e.to_string(),
    }
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}
