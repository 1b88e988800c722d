//! Image formats: what each is called, which extensions name it, what this
//! build can read and write, and recognising them from their first bytes.

use serde::{Deserialize, Serialize};

/// How many leading bytes [`sniff`] wants to see; fewer work, but an ISOBMFF
/// brand list or an SVG after an XML prolog may need this many.
pub const SNIFF_LEN: usize = 256;

/// An image format pixmill knows by name (it may not read or write it in
/// this build: see [`Format::can_read`] and [`Format::can_write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JPEG (JFIF, Exif).
    Jpeg,
    /// PNG.
    Png,
    /// WebP, lossy or lossless.
    Webp,
    /// GIF.
    Gif,
    /// Windows bitmap.
    Bmp,
    /// TIFF.
    Tiff,
    /// HEIF stills, HEVC-coded (HEIC) in practice.
    Heif,
    /// AVIF (AV1 in HEIF).
    Avif,
    /// JPEG XL (read only).
    Jxl,
}

impl Format {
    /// Every format pixmill knows.
    pub const ALL: [Format; 9] = [
        Format::Jpeg,
        Format::Png,
        Format::Webp,
        Format::Gif,
        Format::Bmp,
        Format::Tiff,
        Format::Heif,
        Format::Avif,
        Format::Jxl,
    ];

    /// The formats this build writes, for `--format` listings and tests.
    pub fn writable() -> impl Iterator<Item = Format> {
        Format::ALL.into_iter().filter(|f| f.can_write())
    }

    /// The extension written for outputs of this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Bmp => "bmp",
            Format::Tiff => "tif",
            Format::Heif => "heic",
            Format::Avif => "avif",
            Format::Jxl => "jxl",
        }
    }

    /// The short lowercase name (`--format` value, report field).
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Bmp => "bmp",
            Format::Tiff => "tiff",
            Format::Heif => "heif",
            Format::Avif => "avif",
            Format::Jxl => "jxl",
        }
    }

    /// What a person calls a file of this format, for messages.
    pub fn description(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG image",
            Format::Png => "PNG image",
            Format::Webp => "WebP image",
            Format::Gif => "GIF image",
            Format::Bmp => "BMP image",
            Format::Tiff => "TIFF image",
            Format::Heif => "HEIC/HEIF image",
            Format::Avif => "AVIF image",
            Format::Jxl => "JPEG XL image",
        }
    }

    /// Whether this build decodes the format.
    // A `match`, not `matches!`: the arms' values differ from build to build.
    #[allow(clippy::match_like_matches_macro)]
    pub fn can_read(self) -> bool {
        match self {
            Format::Heif | Format::Avif => cfg!(feature = "heif"),
            Format::Jxl => cfg!(feature = "jxl"),
            _ => true,
        }
    }

    /// Whether this build encodes the format. HEIC output would need x265
    /// (GPL) and JPEG XL output libjxl; neither is worth it yet.
    #[allow(clippy::match_like_matches_macro)]
    pub fn can_write(self) -> bool {
        match self {
            Format::Avif => cfg!(feature = "heif"),
            Format::Heif | Format::Jxl => false,
            _ => true,
        }
    }

    /// Why this build cannot read the format: the message an input of this
    /// format fails with, naming what it is.
    pub fn unreadable_reason(self) -> String {
        let feature = match self {
            Format::Heif | Format::Avif => "heif",
            _ => "jxl",
        };
        let family = match self {
            Format::Heif => "HEIF",
            _ => self.description().trim_end_matches(" image"),
        };
        format!(
            "{}: this build has no {family} support (built without the `{feature}` feature)",
            self.description()
        )
    }

    /// The format written when the output is left to follow an input this
    /// build can read but not write (HEIC, JPEG XL): JPEG, as phones and
    /// photo apps export them.
    pub fn writable_or_jpeg(self) -> Format {
        if self.can_write() {
            self
        } else {
            Format::Jpeg
        }
    }

    /// Whether the format offers a choice between lossless and lossy
    /// encoding, which is what `--lossless` selects.
    pub fn has_lossless_mode(self) -> bool {
        matches!(self, Format::Webp)
    }

    /// Whether pixmill embeds a colour profile and metadata in outputs of
    /// this format (`--colour keep`, `--keep-metadata`).
    pub fn carries_metadata(self) -> bool {
        matches!(
            self,
            Format::Jpeg | Format::Png | Format::Webp | Format::Tiff | Format::Avif
        )
    }

    /// Whether the format can hold an animation that pixmill writes.
    pub fn can_animate(self) -> bool {
        matches!(self, Format::Gif | Format::Webp | Format::Png)
    }

    /// The format an input file extension names (case-insensitive).
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" | "jpe" | "jfif" => Some(Format::Jpeg),
            "png" | "apng" => Some(Format::Png),
            "webp" => Some(Format::Webp),
            "gif" => Some(Format::Gif),
            "bmp" => Some(Format::Bmp),
            "tif" | "tiff" => Some(Format::Tiff),
            "heic" | "heif" | "hif" | "heics" | "heifs" => Some(Format::Heif),
            "avif" | "avifs" => Some(Format::Avif),
            "jxl" => Some(Format::Jxl),
            _ => None,
        }
    }

    /// The format of encoded bytes, from their magic number; `None` for
    /// anything that is not one of pixmill's formats (see [`sniff`] for
    /// naming the others).
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        match sniff(bytes)? {
            Sniffed::Image(f) => Some(f),
            Sniffed::Unsupported(_) => None,
        }
    }
}

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// One of pixmill's formats (readable or not in this build).
    Image(Format),
    /// An image (or picture document) format pixmill does not handle,
    /// described for messages ("Photoshop PSD image").
    Unsupported(&'static str),
}

impl Sniffed {
    /// The one-line reason an input of this kind cannot be converted, or
    /// `None` when this build reads it.
    pub fn unreadable_reason(self) -> Option<String> {
        match self {
            Sniffed::Image(f) if f.can_read() => None,
            Sniffed::Image(f) => Some(f.unreadable_reason()),
            Sniffed::Unsupported(what) => Some(format!("{what}: not supported")),
        }
    }
}

/// Recognises an image by content: pixmill's formats first, then the
/// common ones it cannot read, so such an input fails with its name.
/// `None` means "not an image pixmill knows of".
pub fn sniff(bytes: &[u8]) -> Option<Sniffed> {
    if let Some(f) = sniff_own(bytes) {
        return Some(Sniffed::Image(f));
    }
    sniff_isobmff(bytes)
        .or_else(|| sniff_foreign(bytes))
        .map(Sniffed::Unsupported)
        .or_else(|| is_svg(bytes).then_some(Sniffed::Unsupported("SVG image")))
}

fn sniff_own(b: &[u8]) -> Option<Format> {
    // Camera raws are TIFF inside; decoding one as TIFF gives a thumbnail
    // or garbage, so they are told apart first.
    if raw_in_tiff(b).is_some() {
        return None;
    }
    if b.starts_with(&[0xFF, 0x0A]) || b.starts_with(JXL_CONTAINER) {
        return Some(Format::Jxl);
    }
    if let Some(f) = isobmff_image(b) {
        return Some(f);
    }
    match image::guess_format(b).ok()? {
        image::ImageFormat::Jpeg => Some(Format::Jpeg),
        image::ImageFormat::Png => Some(Format::Png),
        image::ImageFormat::WebP => Some(Format::Webp),
        image::ImageFormat::Gif => Some(Format::Gif),
        image::ImageFormat::Bmp => Some(Format::Bmp),
        image::ImageFormat::Tiff => Some(Format::Tiff),
        _ => None,
    }
}

const JXL_CONTAINER: &[u8] = b"\0\0\0\x0CJXL \r\n\x87\n";

/// The brands of an ISOBMFF `ftyp` box (major first), if `b` starts with one.
fn ftyp_brands(b: &[u8]) -> Option<impl Iterator<Item = &[u8]>> {
    if b.len() < 16 || &b[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes(b[..4].try_into().ok()?) as usize;
    let end = size.clamp(16, b.len());
    let major = std::iter::once(&b[8..12]);
    // Bytes 12..16 are the minor version, not a brand.
    Some(major.chain(b[16..end].chunks_exact(4)))
}

/// HEIF-family stills: AVIF when any brand says AV1, else HEIF.
fn isobmff_image(b: &[u8]) -> Option<Format> {
    let brands: Vec<&[u8]> = ftyp_brands(b)?.collect();
    let has = |set: &[&[u8]]| brands.iter().any(|br| set.contains(br));
    if has(&[b"avif", b"avis"]) {
        return Some(Format::Avif);
    }
    let heif: &[&[u8]] = &[
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1",
    ];
    has(heif).then_some(Format::Heif)
}

/// Other ISOBMFF files worth naming (Canon's raw is one).
fn sniff_isobmff(b: &[u8]) -> Option<&'static str> {
    let mut brands = ftyp_brands(b)?;
    match brands.next()? {
        b"crx " => Some("Canon CR3 camera raw"),
        b"jp2 " | b"jpx " => Some("JPEG 2000 image"),
        _ => None,
    }
}

/// TIFF-based camera raws that carry a marker of their own.
fn raw_in_tiff(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"II*\0") && b.get(8..10) == Some(b"CR") {
        return Some("Canon CR2 camera raw");
    }
    if b.starts_with(b"IIRO") || b.starts_with(b"IIRS") || b.starts_with(b"MMOR") {
        return Some("Olympus ORF camera raw");
    }
    if b.starts_with(b"IIU\0") {
        return Some("Panasonic RW2 camera raw");
    }
    None
}

/// Magic numbers of formats pixmill does not read.
fn sniff_foreign(b: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"8BPS", "Photoshop PSD image"),
        (b"qoif", "QOI image"),
        (b"%PDF-", "PDF document"),
        (b"%!PS", "PostScript document"),
        (b"\xC5\xD0\xD3\xC6", "PostScript document"),
        (b"gimp xcf", "GIMP XCF image"),
        (b"FUJIFILMCCD-RAW", "Fujifilm RAF camera raw"),
        (b"\0\0\0\x0CjP  \r\n\x87\n", "JPEG 2000 image"),
        (b"\xFF\x4F\xFF\x51", "JPEG 2000 image"),
        (b"\x76\x2F\x31\x01", "OpenEXR image"),
        (b"#?RADIANCE", "Radiance HDR image"),
        (b"#?RGBE", "Radiance HDR image"),
        (b"DDS ", "DirectDraw Surface (DDS) image"),
        (b"farbfeld", "farbfeld image"),
        (b"\0\0\x01\0", "Windows ICO icon"),
        (b"\0\0\x02\0", "Windows CUR cursor"),
        (b"icns", "Apple ICNS icon"),
        (b"\x0A\x05\x01\x08", "PCX image"),
    ];
    if let Some(raw) = raw_in_tiff(b) {
        return Some(raw);
    }
    if let Some((_, what)) = MAGIC.iter().find(|(m, _)| b.starts_with(m)) {
        // ICO/CUR magic is weak (4 bytes, two of them zero): also ask for a
        // plausible image count.
        let weak = b.starts_with(b"\0\0");
        if !weak || b.get(4..6).is_some_and(|n| n != [0, 0]) {
            return Some(what);
        }
    }
    netpbm(b)
}

/// `P1`–`P7` then whitespace: the Netpbm family.
fn netpbm(b: &[u8]) -> Option<&'static str> {
    match b {
        [b'P', b'1'..=b'7', ws, ..] if ws.is_ascii_whitespace() => Some("Netpbm (PNM) image"),
        _ => None,
    }
}

/// An SVG document: XML (or a bare `<svg`) with an `<svg` element early on.
fn is_svg(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let text = &b[start..];
    let xmlish = [&b"<?xml"[..], b"<svg", b"<!DOCTYPE svg", b"<!--"]
        .iter()
        .any(|p| text.starts_with(p));
    xmlish && text.windows(4).any(|w| w == b"<svg")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len();
        let mut b = (size as u32).to_be_bytes().to_vec();
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0, 0, 0, 0]);
        for c in compatible {
            b.extend_from_slice(*c);
        }
        b.extend_from_slice(b"\0\0\0\x08meta");
        b
    }

    #[test]
    fn heif_family_brands_are_told_apart() {
        let cases: &[(Vec<u8>, Format)] = &[
            (ftyp(b"heic", &[b"mif1", b"heic"]), Format::Heif),
            (ftyp(b"heix", &[b"mif1"]), Format::Heif),
            (ftyp(b"mif1", &[b"heic"]), Format::Heif),
            (ftyp(b"msf1", &[b"hevc"]), Format::Heif),
            (ftyp(b"avif", &[b"mif1", b"miaf"]), Format::Avif),
            (ftyp(b"mif1", &[b"avif", b"miaf"]), Format::Avif),
            (ftyp(b"avis", &[b"msf1"]), Format::Avif),
        ];
        for (bytes, want) in cases {
            assert_eq!(Format::sniff(bytes), Some(*want), "{bytes:?}");
        }
        // An MP4 video is ISOBMFF too, but not an image.
        assert_eq!(sniff(&ftyp(b"isom", &[b"mp41"])), None);
    }

    #[test]
    fn jpeg_xl_codestream_and_container_are_recognised() {
        assert_eq!(Format::sniff(&[0xFF, 0x0A, 0xFA, 0x7F]), Some(Format::Jxl));
        let mut boxed = JXL_CONTAINER.to_vec();
        boxed.extend_from_slice(b"\0\0\0\x14ftypjxl ");
        assert_eq!(Format::sniff(&boxed), Some(Format::Jxl));
    }

    #[test]
    fn formats_pixmill_cannot_read_are_named() {
        let cases: &[(&[u8], &str)] = &[
            (b"8BPS\0\x01\0\0\0\0\0\0", "Photoshop PSD image"),
            (b"qoif\0\0\0\x10\0\0\0\x10\x04\0", "QOI image"),
            (b"%PDF-1.7\n", "PDF document"),
            (b"\0\0\x01\0\x01\0\x10\x10", "Windows ICO icon"),
            (b"II*\0\x10\0\0\0CR\x02\0", "Canon CR2 camera raw"),
            (b"P6\n16 16\n255\n", "Netpbm (PNM) image"),
            (
                b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
                "SVG image",
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff(bytes), Some(Sniffed::Unsupported(want)), "{want}");
            let reason = sniff(bytes).unwrap().unreadable_reason().unwrap();
            assert_eq!(reason, format!("{want}: not supported"));
        }
        assert_eq!(
            sniff(&ftyp(b"crx ", &[b"crx "])),
            Some(Sniffed::Unsupported("Canon CR3 camera raw"))
        );
    }

    #[test]
    fn text_and_unknown_bytes_are_not_images() {
        for bytes in [&b"hello world\n"[..], b"", b"\0\0\0\0\0\0", b"<html><body>"] {
            assert_eq!(sniff(bytes), None, "{bytes:?}");
        }
    }

    #[test]
    fn every_format_has_an_extension_that_names_it() {
        for f in Format::ALL {
            assert_eq!(Format::from_extension(f.extension()), Some(f));
            assert!(f.writable_or_jpeg().can_write());
        }
    }
}
