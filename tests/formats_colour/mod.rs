//! Formats and colour: HEIC, AVIF, JPEG XL, animations and pages; colour
//! management end to end; metadata kept or dropped.

mod colour;
mod formats;
mod metadata;
