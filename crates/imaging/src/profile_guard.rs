//! A PNG's colour profile (its `iCCP` chunk) is deflated, and a hostile one
//! inflates to gigabytes: the decoders would inflate it whole before
//! giving up in silence. It is measured here first, inflating at most
//! [`MAX_PROFILE`] bytes; one that is larger, or does not inflate, is cut
//! out of the input before any decoder sees it, and the record says so.

use flate2::read::ZlibDecoder;
use std::io::Read;

/// The largest colour profile inflated: real ones are kilobytes (sRGB 3
/// KB, Display P3 0.5 KB, the largest printer profiles a few hundred KB).
pub(crate) const MAX_PROFILE: usize = 4 << 20;

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A PNG without its colour profile, and why it was dropped.
pub(crate) struct Dropped {
    pub input: Vec<u8>,
    pub warning: String,
}

/// `None` for anything but a PNG whose profile is too large to inflate or
/// broken; else the input without that profile, and the warning.
pub(crate) fn guard_png(input: &[u8]) -> Option<Dropped> {
    let (start, end, data) = find_iccp(input)?;
    let why = match inflated_size(data) {
        Ok(len) if len <= MAX_PROFILE => return None,
        Ok(_) => format!(
            "it inflates past {}, where real ones are kilobytes",
            pixmill_base::human_bytes(MAX_PROFILE as u64)
        ),
        Err(why) => why,
    };
    let mut rest = Vec::with_capacity(input.len() - (end - start));
    rest.extend_from_slice(&input[..start]);
    rest.extend_from_slice(&input[end..]);
    Some(Dropped {
        input: rest,
        warning: format!("colour profile dropped ({why}); colours taken as sRGB"),
    })
}

/// The `iCCP` chunk before the image data: its span in the file and its
/// compressed profile.
fn find_iccp(input: &[u8]) -> Option<(usize, usize, &[u8])> {
    let mut at = SIGNATURE.len();
    if input.get(..at)? != SIGNATURE {
        return None;
    }
    loop {
        let head = input.get(at..at + 8)?;
        let len = u32::from_be_bytes(head[..4].try_into().ok()?) as usize;
        let kind = &head[4..8];
        let body = at + 8;
        let end = body.checked_add(len)?.checked_add(4)?;
        match kind {
            b"IDAT" | b"IEND" => return None,
            b"iCCP" => {
                let data = input.get(body..body + len)?;
                // Name (1 to 79 bytes), NUL, compression method 0.
                let nul = data.iter().take(80).position(|&b| b == 0)?;
                let compressed = data.get(nul + 2..)?;
                return Some((at, end.min(input.len()), compressed));
            }
            _ => at = end,
        }
    }
}

/// The profile's inflated size, up to one byte past [`MAX_PROFILE`].
fn inflated_size(compressed: &[u8]) -> Result<usize, String> {
    let mut inflater = ZlibDecoder::new(compressed).take(MAX_PROFILE as u64 + 1);
    let mut sink = [0u8; 64 * 1024];
    let mut total = 0;
    loop {
        match inflater.read(&mut sink) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("its iCCP chunk does not inflate: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    /// A 1×1 grey PNG with an `iCCP` chunk holding `compressed`.
    fn png_with_profile(compressed: &[u8]) -> Vec<u8> {
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(data);
            let mut crc = flate2::Crc::new();
            crc.update(&c[4..]);
            c.extend_from_slice(&crc.sum().to_be_bytes());
            c
        };
        let mut png = SIGNATURE.to_vec();
        png.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]));
        let mut iccp = b"bomb\0\0".to_vec();
        iccp.extend_from_slice(compressed);
        png.extend(chunk(b"iCCP", &iccp));
        png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 2, 0, 1]));
        png.extend(chunk(b"IEND", &[]));
        png
    }

    fn deflate(len: usize) -> Vec<u8> {
        let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; len]).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn a_profile_of_real_size_is_left_alone() {
        assert!(guard_png(&png_with_profile(&deflate(3000))).is_none());
        assert!(guard_png(&png_with_profile(&deflate(MAX_PROFILE))).is_none());
        assert!(guard_png(b"not a png").is_none());
    }

    #[test]
    fn a_profile_that_inflates_too_far_is_cut_out_and_named() {
        let png = png_with_profile(&deflate(MAX_PROFILE + 1));
        let dropped = guard_png(&png).unwrap();
        assert!(
            dropped.warning.contains("inflates past 4.0 MiB"),
            "{}",
            dropped.warning
        );
        assert!(find_iccp(&dropped.input).is_none());
        assert!(dropped.input.ends_with(&png[png.len() - 12..]));
        let broken = guard_png(&png_with_profile(b"\x78\x9cnot deflate")).unwrap();
        assert!(
            broken.warning.contains("does not inflate"),
            "{}",
            broken.warning
        );
    }
}
