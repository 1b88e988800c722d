//! Every decoder, through the converter: the first byte picks the output
//! format, fit and size, the rest is the image (the format is sniffed from
//! its bytes, so one target reaches JPEG, PNG/APNG, GIF, WebP, BMP, TIFF,
//! HEIF/AVIF and JPEG XL). A panic, caught by the converter or not, is a
//! finding; so is an output larger than asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixmill_base::error::ErrorClass;
use pixmill_imaging::{Converter, Fit, Format, ResizeSpec, Settings};

/// The fast writers (AVIF's encoder costs tens of milliseconds an image
/// and only ever sees pixmill's own resized pixels).
const FORMATS: [Format; 6] = [
    Format::Jpeg,
    Format::Png,
    Format::Webp,
    Format::Gif,
    Format::Bmp,
    Format::Tiff,
];
const FITS: [Fit; 4] = [Fit::Inside, Fit::Cover, Fit::Fill, Fit::Contain];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, image)) = data.split_first() else {
        return;
    };
    let side = 8 + u32::from(selector >> 5) * 12;
    let settings = Settings {
        resize: Some(ResizeSpec {
            width: Some(side),
            height: Some(side),
            percent: None,
        }),
        fit: FITS[usize::from(selector >> 3) % FITS.len()],
        format: Some(FORMATS[usize::from(selector) % FORMATS.len()]),
        // Bounded, so a mutated header cannot make each input allocate
        // hundreds of MB (the default limit has tests of its own).
        max_pixels: 4_000_000,
        ..Settings::default()
    };
    let mut converter = Converter::new(settings);
    match converter.convert(image) {
        Ok(done) => {
            assert!(!done.data.is_empty(), "an empty output");
            if !matches!(converter.settings().fit, Fit::Contain | Fit::Fill) {
                assert!(
                    done.width_out <= side.max(done.width_in),
                    "{} wide from {}",
                    done.width_out,
                    done.width_in
                );
            }
        }
        Err(e) => assert!(e.class != ErrorClass::Panic, "{}", e.message),
    }
});
