//! Animated WebP output through libwebp's `WebPAnimEncoder` (the libwebp
//! that the webp crate already builds). Called directly because the webp
//! crate's wrapper ends every animation with a timestamp of 0, which loses
//! the last frame's duration.

use super::pixels::{Frame, Plays};
use super::{Format, Settings};
use libwebp_sys as sys;
use pixmill_base::error::{ErrorClass, ItemError};
use std::ffi::{c_int, CStr};
use std::mem::MaybeUninit;
use std::ptr;

fn encode_error(reason: impl std::fmt::Display) -> ItemError {
    ItemError::new(
        ErrorClass::Encode,
        format!("cannot encode animated {}: {reason}", Format::Webp.name()),
    )
}

/// Owns a `WebPAnimEncoder`, deleting it on every path out.
struct AnimEncoder(*mut sys::WebPAnimEncoder);

impl Drop for AnimEncoder {
    fn drop(&mut self) {
        // SAFETY: created by WebPAnimEncoderNewInternal, deleted once here.
        unsafe { sys::WebPAnimEncoderDelete(self.0) }
    }
}

impl AnimEncoder {
    fn error(&self) -> ItemError {
        // SAFETY: the encoder is live; the string it returns lives as long.
        let msg = unsafe { sys::WebPAnimEncoderGetError(self.0) };
        if msg.is_null() {
            return encode_error("libwebp failed");
        }
        // SAFETY: a NUL-terminated C string owned by the encoder.
        encode_error(unsafe { CStr::from_ptr(msg) }.to_string_lossy())
    }
}

/// Encodes RGBA frames of `w`x`h` with `--quality`/`--lossless`.
pub(crate) fn encode(
    frames: &[Frame],
    plays: Plays,
    w: u32,
    h: u32,
    settings: &Settings,
) -> Result<Vec<u8>, ItemError> {
    if w > 16383 || h > 16383 {
        return Err(encode_error(format!("{w}x{h} exceeds 16383 px")));
    }
    let (wi, hi) = (w as c_int, h as c_int);
    let config = config(settings)?;
    let encoder = new_encoder(wi, hi, plays)?;
    let mut timestamp: c_int = 0;
    for f in frames {
        add_frame(&encoder, f, wi, hi, timestamp, &config)?;
        // libwebp wants strictly increasing timestamps; a 0 ms frame (common
        // in GIFs, shown by browsers at about 100 ms) gets 1 ms.
        let delay = c_int::try_from(f.delay_ms.max(1)).unwrap_or(c_int::MAX);
        timestamp = timestamp.saturating_add(delay);
    }
    // SAFETY: live encoder; a NULL frame marks the end, at the time the last
    // frame stops showing.
    let ended =
        unsafe { sys::WebPAnimEncoderAdd(encoder.0, ptr::null_mut(), timestamp, ptr::null()) };
    if ended == 0 {
        return Err(encoder.error());
    }
    let mut data = sys::WebPData::default();
    // SAFETY: live encoder; `data` receives a buffer we free below.
    if unsafe { sys::WebPAnimEncoderAssemble(encoder.0, &mut data) } == 0 {
        return Err(encoder.error());
    }
    // SAFETY: Assemble succeeded, so `bytes` points to `size` bytes.
    let out = unsafe { std::slice::from_raw_parts(data.bytes, data.size) }.to_vec();
    // SAFETY: the buffer came from libwebp and is freed exactly once.
    unsafe { sys::WebPDataClear(&mut data) };
    Ok(out)
}

fn config(settings: &Settings) -> Result<sys::WebPConfig, ItemError> {
    let mut config = MaybeUninit::<sys::WebPConfig>::zeroed();
    // SAFETY: WebPInitConfig fills the whole struct.
    if !unsafe { sys::WebPInitConfig(config.as_mut_ptr()) } {
        return Err(encode_error("libwebp version mismatch"));
    }
    // SAFETY: initialised just above.
    let mut config = unsafe { config.assume_init() };
    config.quality = f32::from(settings.quality.clamp(1, 100));
    config.lossless = c_int::from(settings.lossless);
    // SAFETY: a valid, initialised config.
    if unsafe { sys::WebPValidateConfig(&config) } == 0 {
        return Err(encode_error("invalid WebP settings"));
    }
    Ok(config)
}

fn new_encoder(w: c_int, h: c_int, plays: Plays) -> Result<AnimEncoder, ItemError> {
    let abi = sys::WebPGetMuxABIVersion();
    let mut options = MaybeUninit::<sys::WebPAnimEncoderOptions>::zeroed();
    // SAFETY: the init function fills the whole struct for this ABI.
    if unsafe { sys::WebPAnimEncoderOptionsInitInternal(options.as_mut_ptr(), abi) } == 0 {
        return Err(encode_error("libwebp version mismatch"));
    }
    // SAFETY: initialised just above.
    let mut options = unsafe { options.assume_init() };
    options.anim_params.loop_count = match plays {
        Plays::Forever => 0,
        Plays::Times(n) => c_int::try_from(n).unwrap_or(c_int::MAX),
    };
    // SAFETY: valid options; the result is checked for NULL.
    let enc = unsafe { sys::WebPAnimEncoderNewInternal(w, h, &options, abi) };
    if enc.is_null() {
        return Err(encode_error("cannot create the encoder"));
    }
    Ok(AnimEncoder(enc))
}

fn add_frame(
    encoder: &AnimEncoder,
    frame: &Frame,
    w: c_int,
    h: c_int,
    timestamp: c_int,
    config: &sys::WebPConfig,
) -> Result<(), ItemError> {
    let px = &frame.pixels;
    if px.data.len() != px.width as usize * px.height as usize * 4 {
        return Err(encode_error("frame buffer size"));
    }
    let mut pic = MaybeUninit::<sys::WebPPicture>::zeroed();
    // SAFETY: WebPPictureInit fills the whole struct.
    if !unsafe { sys::WebPPictureInit(pic.as_mut_ptr()) } {
        return Err(encode_error("libwebp version mismatch"));
    }
    // SAFETY: initialised just above.
    let mut pic = unsafe { pic.assume_init() };
    pic.use_argb = 1;
    pic.width = w;
    pic.height = h;
    // SAFETY: `data` holds h rows of w RGBA pixels (checked above and by
    // the caller's same-size check); the import copies them.
    let imported = unsafe { sys::WebPPictureImportRGBA(&mut pic, px.data.as_ptr(), w * 4) };
    let added = imported != 0
        // SAFETY: live encoder, imported picture, valid config.
        && unsafe { sys::WebPAnimEncoderAdd(encoder.0, &mut pic, timestamp, config) } != 0;
    // SAFETY: frees what the import allocated (a no-op if it failed).
    unsafe { sys::WebPPictureFree(&mut pic) };
    if !added {
        return Err(if imported == 0 {
            encode_error("out of memory importing a frame")
        } else {
            encoder.error()
        });
    }
    Ok(())
}
