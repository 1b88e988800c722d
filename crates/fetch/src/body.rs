//! The body as it is saved: `Content-Encoding: gzip` (or `x-gzip`,
//! `deflate`) is undone as the bytes arrive, so the file holds the image a
//! browser would show, not its compressed wrapping; any other encoding is
//! saved as sent and named in the record's warnings.
//!
//! The bytes that came over the wire are counted apart from the bytes
//! saved: `Content-Length`, `--min-speed` and truncation speak of the
//! former, `--max-size` and `sha256` of the latter.

use flate2::read::{MultiGzDecoder, ZlibDecoder};
use reqwest::blocking::Response;
use reqwest::header::{HeaderMap, CONTENT_ENCODING};
use std::io::{self, Read};

/// How the body was encoded for the trip, from `Content-Encoding`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// No header, or `identity`.
    Identity,
    Gzip,
    /// zlib-wrapped deflate, as RFC 9110 defines `deflate`.
    Deflate,
    /// Anything else (`br`, `zstd`, a list): saved as sent.
    Other(String),
}

impl Encoding {
    pub(crate) fn of(headers: &HeaderMap) -> Encoding {
        let values: Vec<String> = headers
            .get_all(CONTENT_ENCODING)
            .iter()
            .flat_map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty() && s != "identity")
            .collect();
        match values.as_slice() {
            [] => Encoding::Identity,
            [one] if one == "gzip" || one == "x-gzip" => Encoding::Gzip,
            [one] if one == "deflate" => Encoding::Deflate,
            _ => Encoding::Other(values.join(", ")),
        }
    }

    /// Gzip that is the file itself, not a wrapping for the trip: a `.gz`
    /// or `.tgz` URL, or a gzip `Content-Type` (servers configured with
    /// Apache's `AddEncoding x-gzip .gz` label such files so). It is saved
    /// as sent, as browsers do.
    pub(crate) fn unless_the_file_is_gzip(
        self,
        url: &url::Url,
        content_type: Option<&str>,
    ) -> Encoding {
        if self != Encoding::Gzip {
            return self;
        }
        let path = url.path().to_ascii_lowercase();
        let gz_name = [".gz", ".tgz", ".gzip"]
            .iter()
            .any(|ext| path.ends_with(ext));
        let gz_type = content_type.is_some_and(|ct| {
            let ct = ct
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            matches!(ct.as_str(), "application/gzip" | "application/x-gzip")
        });
        if gz_name || gz_type {
            Encoding::Identity
        } else {
            self
        }
    }

    /// What the record says about a body saved in this encoding.
    pub(crate) fn warning(&self) -> Option<String> {
        match self {
            Encoding::Other(name) => Some(format!(
                "saved as sent, still compressed: Content-Encoding {name} is not decoded"
            )),
            _ => None,
        }
    }
}

/// The response body, counting the bytes that arrive and remembering
/// whether the network (rather than a decoder) failed.
pub(crate) struct Wire {
    response: Response,
    pub(crate) received: u64,
    pub(crate) failed: bool,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.response.read(buf) {
            Ok(n) => {
                self.received += n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.failed = true;
                }
                Err(e)
            }
        }
    }
}

/// The body decoded as its `Content-Encoding` says.
pub(crate) enum Body {
    Plain(Wire),
    Gzip(Box<MultiGzDecoder<Wire>>),
    Deflate(Box<ZlibDecoder<Wire>>),
}

impl Body {
    pub(crate) fn new(response: Response, encoding: &Encoding) -> Body {
        let wire = Wire {
            response,
            received: 0,
            failed: false,
        };
        match encoding {
            Encoding::Gzip => Body::Gzip(Box::new(MultiGzDecoder::new(wire))),
            Encoding::Deflate => Body::Deflate(Box::new(ZlibDecoder::new(wire))),
            Encoding::Identity | Encoding::Other(_) => Body::Plain(wire),
        }
    }

    pub(crate) fn wire(&self) -> &Wire {
        match self {
            Body::Plain(w) => w,
            Body::Gzip(d) => d.get_ref(),
            Body::Deflate(d) => d.get_ref(),
        }
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Plain(w) => w.read(buf),
            Body::Gzip(d) => d.read(buf),
            Body::Deflate(d) => d.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn of(values: &[&str]) -> Encoding {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(CONTENT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        Encoding::of(&headers)
    }

    #[test]
    fn encodings_are_read_from_every_header_value() {
        assert_eq!(of(&[]), Encoding::Identity);
        assert_eq!(of(&["identity"]), Encoding::Identity);
        assert_eq!(of(&["GZIP"]), Encoding::Gzip);
        assert_eq!(of(&["x-gzip"]), Encoding::Gzip);
        assert_eq!(of(&["deflate"]), Encoding::Deflate);
        assert_eq!(of(&["br"]), Encoding::Other("br".into()));
        assert_eq!(of(&["gzip", "br"]), Encoding::Other("gzip, br".into()));
        assert_eq!(of(&["gzip, gzip"]), Encoding::Other("gzip, gzip".into()));
        assert!(of(&["br"]).warning().unwrap().contains("br is not decoded"));
        assert_eq!(of(&["gzip"]).warning(), None);
    }

    #[test]
    fn a_gzip_file_is_saved_as_the_file_it_is() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        let gz = || Encoding::Gzip;
        let image = url("https://e.com/a.png");
        assert_eq!(
            gz().unless_the_file_is_gzip(&image, Some("image/png")),
            Encoding::Gzip
        );
        let tarball = url("https://e.com/data.tar.GZ");
        assert_eq!(
            gz().unless_the_file_is_gzip(&tarball, None),
            Encoding::Identity
        );
        let typed = Some("application/x-gzip; charset=binary");
        assert_eq!(
            gz().unless_the_file_is_gzip(&image, typed),
            Encoding::Identity
        );
        let br = Encoding::Other("br".into());
        assert_eq!(br.clone().unless_the_file_is_gzip(&tarball, None), br);
    }
}
