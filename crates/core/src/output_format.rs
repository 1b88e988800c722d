//! The output format of a `convert` item, decided here and nowhere else:
//! `--format`, else the format the output name says, else the input's
//! content. A format pixmill reads but cannot write (HEIC, JPEG XL) becomes
//! JPEG, as phones and photo apps export it ([`Format::writable_or_jpeg`]).
//!
//! The planner asks first; a download whose name says nothing is decided
//! by its content once the body is in (the I/O stage asks again then).

use pixmill_imaging::{Format, Reencode, Settings};
use std::path::Path;

/// What `--format` or the output name decide, before any content is read.
/// With `--reencode never` the name decides nothing: the input's bytes are
/// kept, so their content is their format.
pub(crate) fn from_flag_or_name(settings: &Settings, output_name: &Path) -> Option<Format> {
    if settings.reencode == Reencode::Never {
        return settings.format;
    }
    settings.format.or_else(|| {
        output_name
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Format::from_extension)
            .map(Format::writable_or_jpeg)
    })
}

/// The format an input's content decides, when flag and name did not:
/// itself when its bytes are kept (`--reencode never`).
pub(crate) fn from_content(settings: &Settings, sniffed: Format) -> Format {
    match settings.reencode {
        Reencode::Never => sniffed,
        _ => sniffed.writable_or_jpeg(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_the_name_then_the_content() {
        let name = Path::new("a/photo.png");
        let webp = Settings {
            format: Some(Format::Webp),
            ..Settings::default()
        };
        let plain = Settings::default();
        assert_eq!(from_flag_or_name(&webp, name), Some(Format::Webp));
        assert_eq!(from_flag_or_name(&plain, name), Some(Format::Png));
        assert_eq!(from_flag_or_name(&plain, Path::new("a/photo")), None);
        assert_eq!(from_content(&plain, Format::Png), Format::Png);
    }

    #[test]
    fn formats_read_but_not_written_become_jpeg_unless_kept() {
        let plain = Settings::default();
        assert_eq!(from_content(&plain, Format::Jxl), Format::Jpeg);
        assert_eq!(
            from_flag_or_name(&plain, Path::new("x.jxl")),
            Some(Format::Jpeg)
        );
        let kept = Settings {
            reencode: Reencode::Never,
            ..Settings::default()
        };
        assert_eq!(from_content(&kept, Format::Jxl), Format::Jxl);
        assert_eq!(from_flag_or_name(&kept, Path::new("x.png")), None);
    }
}
