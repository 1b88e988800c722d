//! Resumable downloads: a body cut short (a kill, a timeout, a reset) is
//! kept with a small sidecar file naming the validator (a strong `ETag`, or
//! `Last-Modified`) of the response it came from; the next attempt, in
//! this run or a rerun, asks for the rest with `Range` and `If-Range`. A
//! server that answers 206 sends the rest; one whose file changed, or that
//! ignores ranges, answers 200 and the download starts over. The sidecar's
//! other lines belong to the caller (who owns the partial file).

use reqwest::header::{HeaderMap, CONTENT_RANGE, ETAG, LAST_MODIFIED};
use std::fs;
use std::io::Write;
use std::path::Path;

/// A download that may continue a partial file left by an earlier attempt.
#[derive(Debug, Clone, Copy)]
pub struct Partial<'a> {
    /// The partial body; the finished download when the fetch succeeds.
    pub data: &'a Path,
    /// Its sidecar: lines `KEY VALUE`; this crate reads and writes the
    /// `validator` line and keeps the others.
    pub sidecar: &'a Path,
}

/// Partial files a download may take when it needs them (see
/// [`crate::Fetcher::fetch_claiming`]).
#[derive(Clone, Copy)]
pub struct OnDemand<'a> {
    /// The files; they do not exist yet.
    pub files: Partial<'a>,
    /// Takes them for the caller (creating the sidecar); `false` when
    /// another run holds them.
    pub claim: &'a dyn Fn() -> bool,
}

const VALIDATOR: &str = "validator ";

/// Where a resumed request starts, and what it must still match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resume {
    pub offset: u64,
    pub validator: String,
}

/// What the partial file and its sidecar allow: `None` when there is no
/// validator or no bytes to continue.
pub(crate) fn resume_point(partial: &Partial) -> Option<Resume> {
    let validator = read_validator(partial.sidecar)?;
    let offset = fs::metadata(partial.data).ok()?.len();
    (offset > 0).then_some(Resume { offset, validator })
}

fn read_validator(sidecar: &Path) -> Option<String> {
    let text = fs::read_to_string(sidecar).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(VALIDATOR))
        .map(str::to_owned)
        .filter(|v| !v.is_empty())
}

/// The announced length below which a fresh download is not made
/// continuable: fetching it again whole costs less than the files that
/// would let a later run continue it.
pub const WORTH_CONTINUING: u64 = 256 << 10;

/// Sets (or clears) the sidecar's validator, keeping its other lines;
/// written to a temp beside it and renamed, so a kill leaves the old or
/// the new sidecar, never half of one.
pub(crate) fn write_validator(sidecar: &Path, validator: Option<&str>) -> std::io::Result<()> {
    let old = fs::read_to_string(sidecar).unwrap_or_default();
    let mut text: String = old
        .lines()
        .filter(|l| !l.starts_with(VALIDATOR))
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(v) = validator {
        text.push_str(&format!("{VALIDATOR}{v}\n"));
    }
    let mut temp = sidecar.as_os_str().to_owned();
    temp.push(".new");
    let temp = std::path::PathBuf::from(temp);
    fs::File::create(&temp)?.write_all(text.as_bytes())?;
    fs::rename(&temp, sidecar)
}

/// The validator an `If-Range` may carry for this response: a strong ETag,
/// else `Last-Modified` (RFC 9110 §13.1.5); `None` for a weak ETag alone,
/// or for a body that was decoded on the way (its bytes are not the
/// server's, so a byte range of the server's would not continue them).
pub(crate) fn validator_of(headers: &HeaderMap, decoded: bool) -> Option<String> {
    if decoded {
        return None;
    }
    let text = |name| headers.get(name)?.to_str().ok().map(str::to_owned);
    text(ETAG)
        .filter(|e| !e.starts_with("W/") && e.len() <= 512)
        .or_else(|| text(LAST_MODIFIED).filter(|d| d.len() <= 512))
}

/// What a 206 says it carries: `Content-Range: bytes FIRST-LAST/LEN`
/// (`LEN` may be `*`, unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContentRange {
    pub first: u64,
    pub last: u64,
    pub total: Option<u64>,
}

impl ContentRange {
    pub(crate) fn of(headers: &HeaderMap) -> Option<ContentRange> {
        let value = headers.get(CONTENT_RANGE)?.to_str().ok()?;
        let range = value.trim().strip_prefix("bytes ")?;
        let (span, total) = range.split_once('/')?;
        let (first, last) = span.split_once('-')?;
        let total = match total.trim() {
            "*" => None,
            len => Some(len.parse().ok()?),
        };
        Some(ContentRange {
            first: first.trim().parse().ok()?,
            last: last.trim().parse().ok()?,
            total,
        })
    }

    /// Why a 206 to `Range: bytes=FIRST-` cannot be the rest of the file:
    /// its range runs backwards, stops short of the length it gives, or
    /// disagrees with the body's `Content-Length`. Such an answer appended
    /// to the partial body would make a file of the wrong bytes.
    pub(crate) fn flaw(&self, content_length: Option<u64>) -> Option<String> {
        let Some(len) = self.last.checked_sub(self.first).map(|d| d + 1) else {
            return Some(format!(
                "its range {}-{} runs backwards",
                self.first, self.last
            ));
        };
        if let Some(total) = self.total.filter(|&t| t != self.last + 1) {
            return Some(format!(
                "its range ends at byte {} of {total}, not at the end",
                self.last
            ));
        }
        match content_length {
            Some(sent) if sent != len => Some(format!(
                "its range holds {len} bytes but Content-Length says {sent}"
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn the_sidecar_keeps_its_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let sidecar = dir.path().join("x.meta");
        fs::write(&sidecar, "owner me-1\n").unwrap();
        write_validator(&sidecar, Some("\"v1\"")).unwrap();
        assert_eq!(read_validator(&sidecar).as_deref(), Some("\"v1\""));
        write_validator(&sidecar, Some("Tue, 01 Dec 2026 10:00:00 GMT")).unwrap();
        let text = fs::read_to_string(&sidecar).unwrap();
        assert_eq!(
            text,
            "owner me-1\nvalidator Tue, 01 Dec 2026 10:00:00 GMT\n"
        );
        write_validator(&sidecar, None).unwrap();
        assert_eq!(read_validator(&sidecar), None);
        let data = dir.path().join("x");
        fs::write(&data, b"abc").unwrap();
        let partial = Partial {
            data: &data,
            sidecar: &sidecar,
        };
        assert_eq!(resume_point(&partial), None, "no validator, no resume");
        write_validator(&sidecar, Some("\"v2\"")).unwrap();
        let point = resume_point(&partial).unwrap();
        assert_eq!((point.offset, point.validator.as_str()), (3, "\"v2\""));
    }

    #[test]
    fn validators_and_ranges() {
        let mut h = HeaderMap::new();
        h.insert(ETAG, HeaderValue::from_static("W/\"weak\""));
        assert_eq!(validator_of(&h, false), None);
        h.insert(
            LAST_MODIFIED,
            HeaderValue::from_static("Tue, 01 Dec 2026 10:00:00 GMT"),
        );
        assert_eq!(
            validator_of(&h, false).as_deref(),
            Some("Tue, 01 Dec 2026 10:00:00 GMT")
        );
        h.insert(ETAG, HeaderValue::from_static("\"strong\""));
        assert_eq!(validator_of(&h, false).as_deref(), Some("\"strong\""));
        assert_eq!(validator_of(&h, true), None);
        h.insert(
            CONTENT_RANGE,
            HeaderValue::from_static("bytes 500-999/1000"),
        );
        let range = ContentRange::of(&h).unwrap();
        assert_eq!(
            (range.first, range.last, range.total),
            (500, 999, Some(1000))
        );
        assert_eq!(range.flaw(Some(500)), None);
        assert_eq!(range.flaw(None), None);
        assert!(range
            .flaw(Some(495))
            .unwrap()
            .contains("Content-Length says 495"));
        h.insert(
            CONTENT_RANGE,
            HeaderValue::from_static("bytes 500-994/1000"),
        );
        assert!(ContentRange::of(&h)
            .unwrap()
            .flaw(None)
            .unwrap()
            .contains("not at the end"));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes 500-499/*"));
        assert!(ContentRange::of(&h)
            .unwrap()
            .flaw(None)
            .unwrap()
            .contains("backwards"));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes 500-999/*"));
        assert_eq!(ContentRange::of(&h).unwrap().flaw(Some(500)), None);
    }
}
