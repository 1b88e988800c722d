//! Formats and colour: HEIC, AVIF, JPEG XL, animations and pages; colour
//! management end to end; wide-gamut outputs; metadata kept or dropped.

mod colour;
mod export;
mod formats;
mod metadata;
