//! A walk over a JPEG's markers (SOI … segments … SOS entropy data … EOI)
//! that finds what the decoders would paper over: a file cut short (they
//! fill the rest with grey and report success) and coding they cannot read
//! (12-bit, hierarchical, lossless arithmetic), which must not be called
//! "corrupt".
//!
//! It reads no pixels: segment lengths are skipped whole (so an EXIF
//! thumbnail's own end marker is never mistaken for the image's), and the
//! entropy data is only scanned for the next marker.

/// What the walk found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The data ends before the end-of-image marker.
    Truncated(&'static str),
    /// Valid JPEG coding no decoder in this build reads.
    Unsupported(&'static str),
}

impl Problem {
    pub(crate) fn message(&self) -> String {
        match self {
            Problem::Truncated(where_) => format!("truncated JPEG: {where_}"),
            Problem::Unsupported(what) => format!("{what} is not supported"),
        }
    }
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;

/// Checks the structure of `data`, a JPEG by its magic number.
pub(crate) fn check(data: &[u8]) -> Result<(), Problem> {
    if data.get(..2) != Some(&[0xFF, SOI]) {
        return Err(Problem::Truncated("no start-of-image marker"));
    }
    let mut at = 2;
    loop {
        let (marker, after) = next_marker(data, at).ok_or(Problem::Truncated(
            "data ends before the end-of-image marker",
        ))?;
        match marker {
            EOI => return Ok(()),
            // Standalone markers carry no length.
            0x01 | 0xD0..=0xD7 => at = after,
            _ => {
                let segment = segment(data, after)?;
                check_frame(marker, segment)?;
                at = after + 2 + segment.len();
                // A file that ends on EOI is whole (a cut lands there only
                // by a one-in-65536 chance), so the scans need no walk; a
                // file with trailing bytes gets the full walk.
                if marker == SOS && data.ends_with(&[0xFF, EOI]) {
                    return Ok(());
                }
                if marker == SOS {
                    at = end_of_entropy(data, at).ok_or(Problem::Truncated(
                        "scan data ends before the end-of-image marker",
                    ))?;
                }
            }
        }
    }
}

/// The marker at or after `at` (skipping fill bytes), and where its
/// payload starts.
fn next_marker(data: &[u8], mut at: usize) -> Option<(u8, usize)> {
    while *data.get(at)? != 0xFF {
        at += 1; // garbage between segments: tolerated, as decoders do
    }
    while *data.get(at)? == 0xFF {
        at += 1;
    }
    Some((data[at], at + 1))
}

/// The body of the segment whose length field starts at `at`.
fn segment(data: &[u8], at: usize) -> Result<&[u8], Problem> {
    let short = Problem::Truncated("a header segment ends early");
    let len = data.get(at..at + 2).ok_or(short.clone())?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    if len < 2 {
        return Err(Problem::Truncated("a header segment has a bad length"));
    }
    data.get(at + 2..at + len).ok_or(short)
}

/// Refuses frame types the decoders cannot read, by name.
fn check_frame(marker: u8, body: &[u8]) -> Result<(), Problem> {
    match marker {
        // Arithmetic-coded sequential and progressive frames (0xC9, 0xCA)
        // are read by libjpeg-turbo; its lossless one is not.
        0xCB => Err(Problem::Unsupported("lossless arithmetic-coded JPEG")),
        0xC5..=0xC7 | 0xCD..=0xCF => Err(Problem::Unsupported("hierarchical JPEG")),
        0xC1 | 0xC2 | 0xC9 | 0xCA if body.first() == Some(&12) => {
            Err(Problem::Unsupported("12-bit JPEG"))
        }
        _ => Ok(()),
    }
}

/// Where the entropy-coded data starting at `at` ends: the first marker
/// that is not a stuffed zero or a restart marker.
fn end_of_entropy(data: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let ff = at + memchr_ff(data.get(at..)?)?;
        match *data.get(ff + 1)? {
            0x00 | 0xD0..=0xD7 | 0xFF => at = ff + 1,
            _ => return Some(ff),
        }
    }
}

fn memchr_ff(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == 0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(progressive: bool) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
        enc.set_progressive(progressive);
        enc.add_app_segment(1, b"Exif\0\0 with a stray \xFF\xD9 inside".to_vec())
            .unwrap();
        enc.encode(img.as_raw(), 64, 48, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    #[test]
    fn whole_files_pass_even_with_trailing_bytes() {
        for progressive in [false, true] {
            let mut data = jpeg(progressive);
            assert_eq!(check(&data), Ok(()));
            data.extend_from_slice(b"trailing junk \xFF\xD8");
            assert_eq!(check(&data), Ok(()));
        }
    }

    #[test]
    fn every_cut_is_caught() {
        for progressive in [false, true] {
            let data = jpeg(progressive);
            for len in 0..data.len() {
                assert!(
                    matches!(check(&data[..len]), Err(Problem::Truncated(_))),
                    "cut at {len} of {} passed",
                    data.len()
                );
            }
        }
    }

    #[test]
    fn unreadable_frames_are_named_and_arithmetic_coding_passes() {
        let data = jpeg(false);
        let sof = data.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let mut arith = data.clone();
        arith[sof + 1] = 0xC9;
        assert_eq!(check(&arith), Ok(()));
        arith[sof + 1] = 0xCB;
        assert_eq!(
            check(&arith),
            Err(Problem::Unsupported("lossless arithmetic-coded JPEG"))
        );
        arith[sof + 1] = 0xCA;
        arith[sof + 4] = 12;
        assert_eq!(check(&arith), Err(Problem::Unsupported("12-bit JPEG")));
        let mut twelve = data;
        twelve[sof + 1] = 0xC1;
        twelve[sof + 4] = 12;
        assert_eq!(check(&twelve), Err(Problem::Unsupported("12-bit JPEG")));
    }
}
