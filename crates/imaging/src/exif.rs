//! In-place edits of a raw EXIF block (a TIFF structure) for outputs that
//! keep metadata: the orientation is reset once the pixels are upright, the
//! pixel dimensions follow the resize, and the embedded thumbnail (which
//! would show the old picture) is unlinked. Also reads the resolution.
//!
//! Only fixed-size values are rewritten, so no offset ever moves; a block
//! that does not parse is left as it is.

const ORIENTATION: u16 = 0x0112;
const X_RESOLUTION: u16 = 0x011A;
const Y_RESOLUTION: u16 = 0x011B;
const RESOLUTION_UNIT: u16 = 0x0128;
const EXIF_IFD: u16 = 0x8769;
const PIXEL_X_DIMENSION: u16 = 0xA002;
const PIXEL_Y_DIMENSION: u16 = 0xA003;

const SHORT: u16 = 3;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;

/// A TIFF structure with its byte order.
struct Tiff<'a> {
    data: &'a mut [u8],
    little: bool,
}

/// One 12-byte IFD entry.
#[derive(Clone, Copy)]
struct Entry {
    at: usize,
    tag: u16,
    kind: u16,
    count: u32,
}

impl<'a> Tiff<'a> {
    fn new(data: &'a mut [u8]) -> Option<Tiff<'a>> {
        let little = match data.get(..4)? {
            [b'I', b'I', 42, 0] => true,
            [b'M', b'M', 0, 42] => false,
            _ => return None,
        };
        Some(Tiff { data, little })
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.data.get(at..at + 2)?.try_into().ok()?;
        Some(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(at..at + 4)?.try_into().ok()?;
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn put_u16(&mut self, at: usize, v: u16) {
        let b = if self.little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        if let Some(dst) = self.data.get_mut(at..at + 2) {
            dst.copy_from_slice(&b);
        }
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        let b = if self.little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        if let Some(dst) = self.data.get_mut(at..at + 4) {
            dst.copy_from_slice(&b);
        }
    }

    /// The entries of the IFD at `offset`, and where its next-IFD link is.
    fn ifd(&self, offset: usize) -> Option<(Vec<Entry>, usize)> {
        let n = usize::from(self.u16(offset)?);
        let mut entries = Vec::with_capacity(n);
        for i in 0..n {
            let at = offset + 2 + i * 12;
            entries.push(Entry {
                at,
                tag: self.u16(at)?,
                kind: self.u16(at + 2)?,
                count: self.u32(at + 4)?,
            });
        }
        Some((entries, offset + 2 + n * 12))
    }

    fn ifd0(&self) -> Option<(Vec<Entry>, usize)> {
        self.ifd(self.u32(4)? as usize)
    }

    /// Writes a single SHORT or LONG value.
    fn set_number(&mut self, e: Entry, v: u32) {
        match (e.kind, e.count) {
            (SHORT, 1) => {
                if let Ok(v) = u16::try_from(v) {
                    self.put_u16(e.at + 8, v);
                }
            }
            (LONG, 1) => self.put_u32(e.at + 8, v),
            _ => {}
        }
    }

    fn rational(&self, e: Entry) -> Option<f64> {
        if e.kind != RATIONAL || e.count != 1 {
            return None;
        }
        let at = self.u32(e.at + 8)? as usize;
        let (n, d) = (self.u32(at)?, self.u32(at + 4)?);
        (d != 0).then(|| f64::from(n) / f64::from(d))
    }
}

/// Updates `exif` for an output of `width`x`height`; `upright` when the
/// orientation was applied to the pixels.
pub(crate) fn patch(exif: &mut [u8], upright: bool, width: u32, height: u32) {
    let Some(mut tiff) = Tiff::new(exif) else {
        return;
    };
    let Some((entries, next)) = tiff.ifd0() else {
        return;
    };
    // IFD1 holds the thumbnail of the original: drop the link to it.
    tiff.put_u32(next, 0);
    for e in entries {
        match e.tag {
            ORIENTATION if upright => tiff.set_number(e, 1),
            EXIF_IFD => {
                let Some(at) = tiff.u32(e.at + 8) else {
                    continue;
                };
                let Some((sub, _)) = tiff.ifd(at as usize) else {
                    continue;
                };
                for s in sub {
                    match s.tag {
                        PIXEL_X_DIMENSION => tiff.set_number(s, width),
                        PIXEL_Y_DIMENSION => tiff.set_number(s, height),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// The resolution in dots per inch that `exif` records, if any.
pub(crate) fn dpi(exif: &[u8]) -> Option<(f64, f64)> {
    let mut copy = exif.to_vec();
    let tiff = Tiff::new(&mut copy)?;
    let (entries, _) = tiff.ifd0()?;
    let find = |tag| entries.iter().copied().find(|e| e.tag == tag);
    let x = tiff.rational(find(X_RESOLUTION)?)?;
    let y = find(Y_RESOLUTION)
        .and_then(|e| tiff.rational(e))
        .unwrap_or(x);
    let unit = find(RESOLUTION_UNIT).and_then(|e| tiff.u16(e.at + 8));
    let per_inch = match unit {
        Some(3) => 2.54,
        Some(1) => return None, // an aspect ratio, not a density
        _ => 1.0,
    };
    (x > 0.0 && y > 0.0).then_some((x * per_inch, y * per_inch))
}

/// A minimal EXIF block (little-endian TIFF) holding only a density in
/// dots per inch: for WebP, whose only place for one is EXIF, when the
/// input had none (a JFIF density, a PNG `pHYs`).
pub(crate) fn density_only(x: f64, y: f64) -> Vec<u8> {
    let rational = |v: f64| {
        let num = (v * 100.0).round().clamp(1.0, f64::from(u32::MAX)) as u32;
        [num.to_le_bytes(), 100u32.to_le_bytes()].concat()
    };
    // Header (8), IFD0: count (2), three entries (36), next IFD (4) = 50;
    // then the two rationals.
    let entry = |tag: u16, kind: u16, value: u32| {
        [
            tag.to_le_bytes().as_slice(),
            &kind.to_le_bytes(),
            &1u32.to_le_bytes(),
            &value.to_le_bytes(),
        ]
        .concat()
    };
    const RATIONAL: u16 = 5;
    const SHORT: u16 = 3;
    [
        b"II\x2A\x00".as_slice(),
        &8u32.to_le_bytes(),
        &3u16.to_le_bytes(),
        &entry(X_RESOLUTION, RATIONAL, 50),
        &entry(Y_RESOLUTION, RATIONAL, 58),
        &entry(RESOLUTION_UNIT, SHORT, 2),
        &0u32.to_le_bytes(),
        &rational(x),
        &rational(y),
    ]
    .concat()
}

/// IFD0 text tags a TIFF output can carry as its own tags: Make, Model,
/// Software, DateTime, Artist, Copyright.
pub(crate) const TEXT_TAGS: [u16; 6] = [0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298];

const ASCII: u16 = 2;

/// The [`TEXT_TAGS`] present in `exif`'s IFD0, with their text.
pub(crate) fn ifd0_text(exif: &[u8]) -> Vec<(u16, String)> {
    let mut copy = exif.to_vec();
    let Some(tiff) = Tiff::new(&mut copy) else {
        return Vec::new();
    };
    let Some((entries, _)) = tiff.ifd0() else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter(|e| e.kind == ASCII && TEXT_TAGS.contains(&e.tag))
        .filter_map(|e| Some((e.tag, tiff.ascii(e)?)))
        .collect()
}

/// The EXIF sub-directories `exif`'s IFD0 links to (exposure details,
/// GPS, interoperability): what a TIFF output, which carries only
/// [`TEXT_TAGS`] of IFD0, leaves behind.
pub(crate) fn sub_directories(exif: &[u8]) -> Vec<&'static str> {
    let mut copy = exif.to_vec();
    let Some(tiff) = Tiff::new(&mut copy) else {
        return Vec::new();
    };
    let Some((entries, _)) = tiff.ifd0() else {
        return Vec::new();
    };
    [(0x8769, "Exif"), (0x8825, "GPS"), (0xA005, "Interop")]
        .into_iter()
        .filter(|(tag, _)| entries.iter().any(|e| e.tag == *tag))
        .map(|(_, name)| name)
        .collect()
}

impl Tiff<'_> {
    fn ascii(&self, e: Entry) -> Option<String> {
        let len = e.count as usize;
        let at = if len <= 4 {
            e.at + 8
        } else {
            self.u32(e.at + 8)? as usize
        };
        let bytes = self.data.get(at..at.checked_add(len)?)?;
        let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
        Some(String::from_utf8_lossy(text).into_owned())
    }
}
