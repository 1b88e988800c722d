//! Downloads: one blocking HTTP client shared by the I/O threads; each body
//! streams to a temp file the caller names, with retries, timeouts, limits
//! and checksum verification; the headers, cookies and logins gated hosts
//! ask for; a run-wide rate cap; robots.txt; and a check of every address
//! connected to.

#![warn(unreachable_pub)]
#![warn(missing_docs)]

mod adaptive;
mod address;
mod attempt;
mod body;
mod cookies;
mod dns;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod hostlimit;
mod netrc;
mod partial;
mod ratelimit;
mod retry;
mod robots;
#[cfg(test)]
mod tests;

pub use address::{classify, AddressKind, AddressPolicy};
pub use cookies::{load_cookies, parse_cookies, Cookie};
pub use netrc::{load_netrc, parse_netrc, NetrcLogin};
pub use partial::{OnDemand, Partial, WORTH_CONTINUING};

use adaptive::{Signal, Window};
use attempt::{Attempt, Failure, Retry};
use hostlimit::{HostLimiter, Refused};
use pixmill_base::error::{ErrorClass, ItemError};
use pixmill_base::hashing::Checksum;
use ratelimit::RateLimiter;
use robots::Robots;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// HTTP validators a server gave for a download, kept with its output so a
/// rerun can ask "changed since?" (If-None-Match / If-Modified-Since).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    /// The `ETag` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The `Last-Modified` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

impl Validators {
    /// The server gave neither.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// Redirect hops followed before giving up.
pub const MAX_REDIRECTS: usize = 10;

/// Network settings from the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchSettings {
    /// Retries after the first attempt, for retryable failures.
    pub retries: u32,
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// No bytes for this long = stalled.
    pub timeout: Duration,
    /// Whole item, all attempts included.
    pub max_time: Option<Duration>,
    /// Bodies larger than this (once decoded) are stopped as they pass it.
    pub max_size: Option<u64>,
    /// The option that set `max_size`, as messages name it (`--max-size`,
    /// or `--max-input-size` for `convert`).
    pub max_size_flag: String,
    /// Connections to one host at once: fixed, or `None` to learn each
    /// host's level (see `adaptive`), up to `per_host_max`.
    pub per_host: Option<usize>,
    /// The most an adaptive per-host level may reach (`--io-threads`).
    pub per_host_max: usize,
    /// Reuse connections to a host. Off means a fresh connection per
    /// request: dearer on TLS, but immune to servers whose small writes
    /// meet the client's delayed ACK (40 ms per request on a reused
    /// connection, as Python's http.server shows).
    pub keep_alive: bool,
    /// Upper bound on the backoff (and on an honoured `Retry-After`).
    pub max_backoff: Duration,
    /// Bytes per second a body must average over each `timeout` window;
    /// 0 = no lower bound.
    pub min_speed: u64,
    /// Extra trusted certificates (PEM), from `--cacert`.
    pub cacert: Option<std::path::PathBuf>,
    /// Skip certificate checks (`--insecure`).
    pub insecure: bool,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// `X-Robots-Tag` directives that opt a response out (lowercase); an
    /// opted-out body is never downloaded.
    pub disallowed_directives: Vec<String>,
    /// Headers sent with every request (`-H`, `--referer`), as name and
    /// value, already checked by [`parse_header`].
    pub headers: Vec<(String, String)>,
    /// Cookies sent to the hosts they belong to (`--load-cookies`).
    pub cookies: Vec<Cookie>,
    /// Logins sent as Basic auth to their hosts (`--netrc`,
    /// `--netrc-file`), unless the URL carries its own.
    pub netrc: Vec<NetrcLogin>,
    /// Bytes per second for the whole run (`--limit-rate`).
    pub limit_rate: Option<u64>,
    /// Skip what each host's robots.txt disallows (`--respect-robots-txt`).
    pub respect_robots: bool,
    /// Addresses never connected to.
    pub addresses: AddressPolicy,
    /// Refuse a redirect from https to http (`--proto-redir https`).
    pub https_only_redirects: bool,
    /// A fresh body whose `Content-Length` is announced under this many
    /// bytes (and that comes unencoded) is kept in memory, in
    /// [`Fetched::body`], instead of written to the destination file: for
    /// a caller that decodes it at once, the file's create, reads and
    /// unlink cost more than the body. 0 = every body goes to the file.
    #[serde(default)]
    pub in_memory_below: u64,
}

/// How long an idle keep-alive connection waits for its host's next
/// request before it is closed (hyper closes it between this and twice
/// this). A list over many sites reaches most of them once or rarely, and
/// each idle connection holds a socket and about 80 KB: at reqwest's
/// default of 90 s, a run over distinct sites at 500 images a second would
/// hold some 45,000 of them, and ran out of file descriptors in seconds.
/// Two seconds still carries a site's next image in a list: a site with one
/// row in 1,000 comes back every 2 s at that rate.
pub const KEEP_IDLE: Duration = Duration::from_secs(2);

/// The default `User-Agent`: names pixmill and its version.
pub const DEFAULT_USER_AGENT: &str = concat!("pixmill/", env!("CARGO_PKG_VERSION"));

/// The `X-Robots-Tag` directives honoured by default (img2dataset's list,
/// and `noml`).
pub const DEFAULT_DISALLOWED: [&str; 5] = ["noai", "noimageai", "noindex", "noimageindex", "noml"];

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            retries: 3,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_time: None,
            max_size: None,
            max_size_flag: "--max-size".to_string(),
            per_host: None,
            per_host_max: 16,
            keep_alive: true,
            max_backoff: Duration::from_secs(30),
            min_speed: 1024,
            cacert: None,
            insecure: false,
            user_agent: DEFAULT_USER_AGENT.to_string(),
            disallowed_directives: DEFAULT_DISALLOWED.iter().map(|d| d.to_string()).collect(),
            headers: Vec::new(),
            cookies: Vec::new(),
            netrc: Vec::new(),
            limit_rate: None,
            respect_robots: false,
            addresses: AddressPolicy::default(),
            https_only_redirects: false,
            in_memory_below: 0,
        }
    }
}

/// A finished download.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Body bytes written.
    pub bytes: u64,
    /// The final answer's status.
    pub http_status: u16,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Content-Disposition` header.
    pub content_disposition: Option<String>,
    /// ETag and Last-Modified, for the output's stamp.
    pub validators: Validators,
    /// A conditional request was answered 304: nothing was written.
    pub not_modified: bool,
    /// What the record must say about the saved body (an encoding that was
    /// not undone).
    pub warnings: Vec<String>,
    /// The body continued a partial file from this byte on (a 206 answer to
    /// `Range`); `None` when it came whole.
    pub resumed_from: Option<u64>,
    /// The body, when it was kept in memory (see
    /// [`FetchSettings::in_memory_below`]); the destination file was then
    /// not written (and any partial body it held is gone).
    pub body: Option<Vec<u8>>,
}

/// Whether a download's partial files are the caller's from the start.
#[derive(Clone, Copy)]
enum Start<'a> {
    /// No partial files: the body goes to `dest` (or memory).
    Plain,
    /// The caller holds them; the body may continue an earlier one.
    Held(Partial<'a>),
    /// Taken with the function when a body worth continuing is about to
    /// be written (see [`Fetcher::fetch_claiming`]).
    OnDemand(OnDemand<'a>),
}

/// A failed download, with what the report needs.
#[derive(Debug, Clone)]
pub struct FetchFailure {
    /// Why it failed.
    pub error: ItemError,
    /// The last answer's status, if one came.
    pub http_status: Option<u16>,
    /// Attempts made, the first included.
    pub attempts: u32,
}

/// The shared client (one connection pool) and per-host limits.
pub struct Fetcher {
    settings: FetchSettings,
    client: reqwest::blocking::Client,
    limiter: HostLimiter,
    rate: Option<RateLimiter>,
    robots: Option<Robots>,
}

impl Fetcher {
    /// Builds the one client all I/O threads share. Proxy settings come from
    /// the usual environment variables (`HTTPS_PROXY`, `NO_PROXY`, ...).
    pub fn new(settings: FetchSettings) -> Result<Fetcher, pixmill_base::error::Error> {
        Self::build(settings, true)
    }

    fn build(
        settings: FetchSettings,
        env_proxy: bool,
    ) -> Result<Fetcher, pixmill_base::error::Error> {
        // reqwest is built without a crypto provider; a second install (e.g.
        // another Fetcher) fails harmlessly because one is already in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // In the blocking client, `timeout` bounds the wait for the response
        // head and each body read separately, which is exactly a stall
        // timeout; the whole-item limit is enforced by the fetch loop.
        let mut builder = reqwest::blocking::Client::builder()
            .user_agent(settings.user_agent.clone())
            .connect_timeout(Some(settings.connect_timeout).filter(|t| !t.is_zero()))
            .timeout(attempt::stall_limit(&settings))
            .redirect(redirect_policy(&settings))
            .dns_resolver(Arc::new(dns::CachingResolver::system(settings.addresses)))
            // One request per connection, as the per-host limits assume:
            // reqwest gains HTTP/2 for the object-store client, and would
            // otherwise multiplex every download to a host on one connection.
            .http1_only()
            // No Referer of our own on a redirect: it would carry the first
            // URL, query and all (a signed URL's token), to the next host.
            // `--referer` and `-H Referer:` still send one.
            .referer(false);
        builder = if settings.keep_alive {
            builder.pool_idle_timeout(KEEP_IDLE)
        } else {
            builder.pool_max_idle_per_host(0)
        };
        if settings.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        if let Some(path) = &settings.cacert {
            builder = builder.tls_certs_merge(read_cacert(path)?);
        }
        if !env_proxy {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| {
            pixmill_base::error::Error::Setup(format!(
                "cannot create HTTP client: {}",
                attempt::root_cause(&e)
            ))
        })?;
        let window = match settings.per_host {
            Some(n) => Window::fixed(n),
            None => Window::adaptive(settings.per_host_max),
        };
        let limiter = HostLimiter::with_window(window);
        Ok(Fetcher {
            rate: settings.limit_rate.map(RateLimiter::new),
            robots: settings
                .respect_robots
                .then(|| Robots::new(&settings.user_agent)),
            settings,
            client,
            limiter,
        })
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// Time the I/O threads spent waiting for a per-host slot so far.
    pub fn host_waited(&self) -> Duration {
        self.limiter.waited()
    }

    /// The `--per-host` cap in force.
    pub fn per_host(&self) -> usize {
        self.limiter.max()
    }

    /// Downloads `url` into `dest` (created or truncated), checking the
    /// body against every digest in `checks`. On failure `dest` is removed.
    /// `cancel` is checked between attempts and chunks; a cancelled fetch
    /// fails with class `Fetch`, message "cancelled". A URL robots.txt
    /// disallows (with `--respect-robots-txt`) fails with class `Filtered`
    /// and the message `robots.txt`, without a request.
    pub fn fetch(
        &self,
        url: &str,
        dest: &Path,
        checks: &[Checksum],
        cancel: &AtomicBool,
    ) -> Result<Fetched, FetchFailure> {
        self.fetch_if_changed(url, dest, checks, None, cancel)
    }

    /// As [`Fetcher::fetch`], but asks the server whether the body changed
    /// since the version `known` describes (If-None-Match /
    /// If-Modified-Since). A 304 answer is a success with `not_modified`
    /// set and nothing written to `dest`.
    pub fn fetch_if_changed(
        &self,
        url: &str,
        dest: &Path,
        checks: &[Checksum],
        known: Option<&Validators>,
        cancel: &AtomicBool,
    ) -> Result<Fetched, FetchFailure> {
        match self.fetch_inner(url, dest, Start::Plain, checks, known, cancel) {
            Ok((done, _)) => Ok(done),
            Err((failure, _, _)) => {
                remove_quietly(dest);
                Err(failure)
            }
        }
    }

    /// As [`Fetcher::fetch_if_changed`], into `partial.data`, which an
    /// earlier attempt or run may have begun: when its sidecar names the
    /// validator the partial body came with, the rest is asked for with
    /// `Range` and `If-Range` (a changed file, or a server without ranges,
    /// answers 200 and the body starts over). After a failure a later
    /// attempt could continue from (a cut body, a timeout, a reset, a
    /// cancel), the partial body and its sidecar are kept; after any other,
    /// both are removed. On success the sidecar is removed and
    /// `partial.data` holds the whole body.
    pub fn fetch_partial(
        &self,
        url: &str,
        partial: Partial,
        checks: &[Checksum],
        known: Option<&Validators>,
        cancel: &AtomicBool,
    ) -> Result<Fetched, FetchFailure> {
        let start = Start::Held(partial);
        self.fetch_holding(url, partial.data, start, checks, known, cancel)
    }

    /// As [`Fetcher::fetch_partial`] for a download no earlier one began
    /// (the partial files do not exist), without touching them until they
    /// are needed: the body goes to `temp`, or to memory, unless it is
    /// worth continuing (announced at [`WORTH_CONTINUING`] or more, or not
    /// announced) and about to be written to a file; then `partial.claim`
    /// is asked to take the files for this caller (it creates the sidecar),
    /// and when it does, the body goes to `partial.files.data` as with
    /// [`Fetcher::fetch_partial`]. For a list of small images that keeps
    /// each download from creating and removing a sidecar file, which cost
    /// a twentieth of a dataset run's CPU time.
    pub fn fetch_claiming(
        &self,
        url: &str,
        temp: &Path,
        partial: OnDemand,
        checks: &[Checksum],
        known: Option<&Validators>,
        cancel: &AtomicBool,
    ) -> Result<Fetched, FetchFailure> {
        let start = Start::OnDemand(partial);
        self.fetch_holding(url, temp, start, checks, known, cancel)
    }

    /// The partial file's bookkeeping around the fetch loop: on success
    /// the sidecar goes; after a failure a later attempt could continue
    /// from, both files stay, and after any other both go. Files never
    /// claimed are not touched.
    fn fetch_holding(
        &self,
        url: &str,
        dest: &Path,
        start: Start,
        checks: &[Checksum],
        known: Option<&Validators>,
        cancel: &AtomicBool,
    ) -> Result<Fetched, FetchFailure> {
        match self.fetch_inner(url, dest, start, checks, known, cancel) {
            Ok((done, held)) => {
                if let Some(partial) = held {
                    remove_quietly(partial.sidecar);
                }
                Ok(done)
            }
            Err((failure, keep, held)) => {
                match held {
                    // Without a validator no later request could continue it.
                    Some(partial) if !keep || partial::resume_point(&partial).is_none() => {
                        remove_quietly(partial.data);
                        remove_quietly(partial.sidecar);
                    }
                    Some(_) => {}
                    None => remove_quietly(dest),
                }
                Err(failure)
            }
        }
    }

    /// The fetch loop; a failure comes with whether a partial body worth
    /// continuing was kept.
    #[allow(clippy::type_complexity)]
    fn fetch_inner<'a>(
        &self,
        url: &str,
        dest: &'a Path,
        start: Start<'a>,
        checks: &[Checksum],
        known: Option<&Validators>,
        cancel: &AtomicBool,
    ) -> Result<(Fetched, Option<Partial<'a>>), (FetchFailure, bool, Option<Partial<'a>>)> {
        let (partial, on_demand) = match start {
            Start::Plain => (None, None),
            Start::Held(partial) => (Some(partial), None),
            Start::OnDemand(on_demand) => (None, Some(on_demand)),
        };
        // A partial body from an earlier run stays for a later one.
        let kept = partial.is_some();
        let before_any_attempt = |error| {
            let failure = FetchFailure {
                error,
                http_status: None,
                attempts: 0,
            };
            (failure, kept, partial)
        };
        let url = parse_url(url).map_err(before_any_attempt)?;
        let checks = checks
            .iter()
            .map(|c| {
                c.normalized()
                    .map_err(|msg| ItemError::new(ErrorClass::Checksum, msg))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(before_any_attempt)?;
        if let Some(why) = self.settings.addresses.refusal_for_url(&url) {
            return Err(before_any_attempt(ItemError::new(ErrorClass::Fetch, why)));
        }
        if let Some(robots) = &self.robots {
            if !robots.allows(&self.client, &self.settings, &url) {
                let skip = ItemError::new(ErrorClass::Filtered, "robots.txt");
                return Err(before_any_attempt(skip));
            }
        }
        let host = host_key(&url);
        // A max-time too large to represent is no limit at all.
        let deadline = self
            .settings
            .max_time
            .and_then(|d| Instant::now().checked_add(d));
        let attempt = Attempt {
            client: &self.client,
            settings: &self.settings,
            url: &url,
            dest: Cell::new(dest),
            partial: Cell::new(partial),
            on_demand: Cell::new(on_demand),
            checks: &checks,
            rate: self.rate.as_ref(),
            cancel,
            deadline,
            conditional: known.filter(|v| !v.is_empty()),
        };
        let mut attempts = 0;
        let mut last: Option<Failure> = None;
        // Whether the partial body left by the last attempt is worth
        // continuing (true before any: what an earlier run left).
        let mut keep = kept;
        // The partial files held after an attempt (with the caller's
        // lifetime): those held from the start, or those claimed on demand.
        let held = |attempt: &Attempt| {
            attempt
                .partial
                .get()
                .and(partial.or(on_demand.map(|o| o.files)))
        };
        loop {
            let mut permit = match self.limiter.acquire(&host, cancel, deadline) {
                Ok(permit) => permit,
                Err(refused) => {
                    let failure = self.refused(refused, last, attempts);
                    return Err((failure, keep, held(&attempt)));
                }
            };
            attempts += 1;
            let resume = attempt
                .partial
                .get()
                .and_then(|p| partial::resume_point(&p));
            let outcome = attempt.run(resume.as_ref());
            permit.report(load_signal(&outcome));
            drop(permit);
            let held = held(&attempt);
            let failure = match outcome {
                Ok(done) => return Ok((fetched(done, attempts), held)),
                Err(failure) => failure,
            };
            // A body cut short is kept for the next attempt (or run) to
            // continue; otherwise no partial file lingers through the
            // backoff (or a Ctrl-C in it).
            keep = held.is_some() && attempt::worth_continuing(&failure);
            if !keep {
                remove_quietly(attempt.dest.get());
                if let Some(p) = &held {
                    let _ = partial::write_validator(p.sidecar, None);
                }
            }
            let Some(delay) = self.retry_delay(&failure, attempts) else {
                return Err((finish(failure, attempts), keep, held));
            };
            let wake = Instant::now().checked_add(delay);
            if deadline.is_some_and(|d| wake.is_none_or(|w| w >= d)) {
                let failure = self.refused(Refused::Deadline, Some(failure), attempts);
                return Err((failure, keep, held));
            }
            if !retry::sleep_unless_cancelled(delay, cancel) {
                let failure = self.refused(Refused::Cancelled, Some(failure), attempts);
                return Err((failure, keep, held));
            }
            last = Some(failure);
        }
    }

    /// How long to wait before the next attempt, or `None` to give up.
    fn retry_delay(&self, failure: &Failure, attempts: u32) -> Option<Duration> {
        if attempts > self.settings.retries {
            return None;
        }
        let cap = self.settings.max_backoff;
        match failure.retry {
            Retry::No => None,
            Retry::Yes => Some(retry::backoff(attempts - 1, cap)),
            Retry::After(wait) => Some(wait.min(cap)),
        }
    }

    /// A failure for stopping between attempts; mentions the last attempt's
    /// error so a max-time hit still says what kept going wrong.
    fn refused(&self, why: Refused, last: Option<Failure>, attempts: u32) -> FetchFailure {
        let mut failure = match why {
            Refused::Cancelled => attempt::cancelled(),
            Refused::Deadline => attempt::max_time_failure(&self.settings),
        };
        if let Some(last) = last {
            failure.status = last.status;
            if why == Refused::Deadline {
                failure.error.message =
                    format!("{} (last error: {})", failure.error.message, last.error);
            }
        }
        finish(failure, attempts)
    }
}

/// What an attempt's outcome says about the host's load. Retryable
/// failures (429, 503, `Retry-After`, resets, timeouts, cut-off bodies) are
/// what an overloaded server produces; a plain 500 or 501 is a bug, not load.
fn load_signal(outcome: &Result<attempt::Success, Failure>) -> Signal {
    match outcome {
        Ok(done) => Signal::Answered(done.latency),
        Err(f) if f.retry != Retry::No && !matches!(f.status, Some(500 | 501)) => {
            Signal::Overloaded
        }
        Err(_) => Signal::Neutral,
    }
}

fn fetched(done: attempt::Success, attempts: u32) -> Fetched {
    Fetched {
        bytes: done.bytes,
        not_modified: done.status == 304,
        http_status: done.status,
        attempts,
        content_type: done.content_type,
        content_disposition: done.content_disposition,
        validators: done.validators,
        warnings: done.warnings,
        resumed_from: done.resumed_from,
        body: done.body,
    }
}

fn finish(failure: Failure, attempts: u32) -> FetchFailure {
    FetchFailure {
        error: failure.error,
        http_status: failure.status,
        attempts,
    }
}

/// Only http and https: anything else (file:, ftp:, data:) is refused before
/// a request is made, and again on redirects.
fn parse_url(url: &str) -> Result<url::Url, ItemError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| ItemError::new(ErrorClass::Fetch, format!("invalid URL: {e}")))?;
    if !is_web_scheme(parsed.scheme()) {
        let msg = format!("unsupported URL scheme \"{}\"", parsed.scheme());
        return Err(ItemError::new(ErrorClass::Fetch, msg));
    }
    if !matches!(parsed.host_str(), Some(h) if !h.is_empty()) {
        return Err(ItemError::new(ErrorClass::Fetch, "invalid URL: no host"));
    }
    Ok(parsed)
}

fn is_web_scheme(scheme: &str) -> bool {
    matches!(scheme, "http" | "https")
}

/// `host:port`, the unit the per-host cap counts.
fn host_key(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(0);
    format!("{host}:{port}")
}

/// Follows up to [`MAX_REDIRECTS`] hops to http or https, checking each
/// hop's literal-IP host against the address policy (names are checked
/// when resolved) and, with `--proto-redir https`, refusing a downgrade.
/// reqwest itself drops `Authorization` and `Cookie` on a hop to another
/// host, port or scheme (curl's rule).
fn redirect_policy(settings: &FetchSettings) -> reqwest::redirect::Policy {
    let (addresses, https_only) = (settings.addresses, settings.https_only_redirects);
    reqwest::redirect::Policy::custom(move |attempt| {
        // `previous` holds every URL already requested, the original included.
        if attempt.previous().len() > MAX_REDIRECTS {
            let msg = format!("too many redirects (more than {MAX_REDIRECTS})");
            return attempt.error(msg);
        }
        let scheme = attempt.url().scheme().to_owned();
        if !is_web_scheme(&scheme) {
            return attempt.error(format!("redirect to unsupported URL scheme \"{scheme}\""));
        }
        let from_https = attempt
            .previous()
            .last()
            .is_some_and(|u| u.scheme() == "https");
        if https_only && from_https && scheme == "http" {
            return attempt.error("redirect from https to http refused (--proto-redir https)");
        }
        if let Some(why) = addresses.refusal_for_url(attempt.url()) {
            return attempt.error(why);
        }
        attempt.follow()
    })
}

/// Checks a `-H` value, `Name: value`, as HTTP allows it; the name and the
/// trimmed value, or why it is not a header.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(format!("{text:?} is not `Name: value`"));
    };
    let (name, value) = (name.trim(), value.trim());
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{name:?} is not a header name"))?;
    reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| format!("the value of {name} holds a character headers cannot"))?;
    Ok((name.to_string(), value.to_string()))
}

/// `url` with any user name and password in it replaced by `***`, for
/// everything pixmill writes (records, messages, reports, metadata); text
/// that is not a URL with credentials is returned unchanged.
pub fn redact_url(text: &str) -> std::borrow::Cow<'_, str> {
    // Cheap test first: most inputs have no `@` before the path.
    let Some(rest) = text.split_once("://").map(|(_, r)| r) else {
        return text.into();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some(at) = authority.rfind('@') else {
        return text.into();
    };
    let start = text.len() - rest.len();
    format!("{}***{}", &text[..start], &text[start + at..]).into()
}

/// The certificates of a `--cacert` PEM file; an unreadable file or one
/// with no certificate in it is a setup error.
pub fn read_cacert(path: &Path) -> Result<Vec<reqwest::Certificate>, pixmill_base::error::Error> {
    let setup = |why: String| {
        pixmill_base::error::Error::Setup(format!("cannot use --cacert {}: {why}", path.display()))
    };
    let pem = std::fs::read(path).map_err(|e| setup(pixmill_base::io_reason(&e)))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| setup(e.to_string()))?;
    if certs.is_empty() {
        return Err(setup("no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn remove_quietly(path: &Path) {
    // NotFound is the common case (failed before the file was created).
    let _ = std::fs::remove_file(path);
}
