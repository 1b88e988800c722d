//! The output format of a `convert` item, decided here and nowhere else:
//! `--format`, else the format the output name says, else the input's
//! content. A format pixmill reads but cannot write (HEIC, JPEG XL) becomes
//! JPEG, as phones and photo apps export it ([`Format::writable_or_jpeg`]).
//!
//! The planner asks first; a download whose name says nothing is decided
//! by its content once the body is in (the I/O stage asks again then).

use pixmill_imaging::Format;
use std::path::Path;

/// What `--format` or the output name decide, before any content is read.
pub(crate) fn from_flag_or_name(asked: Option<Format>, output_name: &Path) -> Option<Format> {
    asked.or_else(|| {
        output_name
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Format::from_extension)
            .map(Format::writable_or_jpeg)
    })
}

/// The format an input's content decides, when flag and name did not.
pub(crate) fn from_content(sniffed: Format) -> Format {
    sniffed.writable_or_jpeg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_the_name_then_the_content() {
        let name = Path::new("a/photo.png");
        assert_eq!(
            from_flag_or_name(Some(Format::Webp), name),
            Some(Format::Webp)
        );
        assert_eq!(from_flag_or_name(None, name), Some(Format::Png));
        assert_eq!(from_flag_or_name(None, Path::new("a/photo")), None);
        assert_eq!(from_content(Format::Png), Format::Png);
    }

    #[test]
    fn formats_read_but_not_written_become_jpeg() {
        assert_eq!(from_content(Format::Jxl), Format::Jpeg);
        assert_eq!(
            from_flag_or_name(None, Path::new("x.jxl")),
            Some(Format::Jpeg)
        );
    }
}
