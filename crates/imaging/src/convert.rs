//! The converter: one item's bytes through decode → colour → orient →
//! resize/fit → flatten → encode, choosing the fast path each input allows
//! (shrink-on-load, streamed PNG, libjpeg-turbo) and saying in its warnings
//! whatever the output lost.

use crate::pixels::{check_pixels, decode_error, Decoded, Frame, Layout, Pixels, Plays, Samples};
use crate::smartcrop::{self, CropWindow};
use crate::*;
use image::metadata::Orientation;
use pixmill_base::error::{ErrorClass, ItemError};

/// An encoded output and what the report says about it.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The encoded output.
    pub data: Vec<u8>,
    /// The output's format.
    pub format: Format,
    /// The input's width, as displayed (after orientation).
    pub width_in: u32,
    /// The input's height, as displayed (after orientation).
    pub height_in: u32,
    /// The output's width.
    pub width_out: u32,
    /// The output's height.
    pub height_out: u32,
    /// The part of the input a `cover` fit kept, when it cut some off.
    pub crop: Option<CropWindow>,
    /// What the output lost or changed against the input that the user must
    /// be told (dropped frames, an unusable colour profile, ...): an item is
    /// never a silent partial success. Empty when the output is faithful.
    pub warnings: Vec<String>,
}

/// One CPU worker's converter: holds the settings and any buffers worth
/// reusing from one item to the next.
pub struct Converter {
    settings: Settings,
    /// Keeps its scratch buffers between items.
    resizer: fast_image_resize::Resizer,
    /// The fast paths (JPEG DCT scaling, libwebp with scaling, PNG and box
    /// pre-reduction); off only to measure against.
    shrink_on_load: bool,
    /// Colour transforms built for earlier items.
    colours: colour::ColourCache,
    /// Where colours go when not to sRGB (`--colour p3`,
    /// `--export-profile`); an unusable export profile fails every item.
    destination: Result<Option<colour::Destination>, String>,
    /// libjpeg-turbo's decompressor (`None` if it could not be made:
    /// jpeg-decoder and zune-jpeg then decode).
    turbo: Option<turbojpeg::Decompressor>,
    /// The current item's regions to blur (`--bbox-col`), in fractions of
    /// the image as displayed.
    boxes: Vec<BlurBox>,
}

impl Converter {
    /// A converter for `settings`.
    pub fn new(settings: Settings) -> Self {
        let destination =
            colour::Destination::of(settings.colour, settings.export_profile.as_deref());
        Converter {
            destination,
            settings,
            resizer: fast_image_resize::Resizer::new(),
            shrink_on_load: true,
            colours: colour::ColourCache::default(),
            turbo: turbojpeg::Decompressor::new().ok(),
            boxes: Vec::new(),
        }
    }

    /// The same converter without the fast decode paths: the reference the
    /// fast path is measured against.
    #[cfg(test)]
    pub(crate) fn full_decode_only(mut self) -> Self {
        self.shrink_on_load = false;
        self
    }

    /// The settings it converts with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Converts one encoded image to `format`.
    pub fn convert_to(&mut self, input: &[u8], format: Format) -> Result<Converted, ItemError> {
        self.settings.format = Some(format);
        self.convert(input)
    }

    /// Converts one encoded image to `format`, blurring `boxes` (fractions
    /// of the image as displayed) strongly before it is resized.
    pub fn convert_blurred(
        &mut self,
        input: &[u8],
        format: Format,
        boxes: &[BlurBox],
    ) -> Result<Converted, ItemError> {
        self.boxes = boxes.to_vec();
        let converted = self.convert_to(input, format);
        self.boxes.clear();
        converted
    }

    /// Converts one encoded image.
    ///
    /// Third-party decoders and encoders may panic on hostile input; that is
    /// caught here and reported as this item's failure, never the worker's.
    pub fn convert(&mut self, input: &[u8]) -> Result<Converted, ItemError> {
        // A PNG profile that would inflate past a few MB is cut out first.
        let dropped = crate::profile_guard::guard_png(input);
        let input = dropped.as_ref().map_or(input, |d| d.input.as_slice());
        let mut converted = self.guarded(|me| me.run(input))?;
        if let Some(d) = dropped {
            converted.warnings.insert(0, d.warning);
        }
        Ok(converted)
    }

    /// Runs `work`, turning a panic into an item error of its own class
    /// (`panic`), so callers (and the fuzzer) can tell a caught panic from
    /// a clean refusal.
    pub(crate) fn guarded(
        &mut self,
        work: impl FnOnce(&mut Self) -> Result<Converted, ItemError>,
    ) -> Result<Converted, ItemError> {
        let run = pixmill_base::panics::catch(|| work(self));
        run.unwrap_or_else(|panic| {
            // The resizer may hold half-written scratch state; start afresh.
            self.resizer = fast_image_resize::Resizer::new();
            Err(ItemError::new(
                ErrorClass::Panic,
                format!(
                    "not a decodable image: codec panicked: {}",
                    pixmill_base::panics::message(&*panic)
                ),
            ))
        })
    }

    fn run(&mut self, input: &[u8]) -> Result<Converted, ItemError> {
        let in_format = readable_format(input)?;
        if self.settings.reencode == Reencode::Never {
            return self.keep_source(input, in_format);
        }
        let out_format = self
            .settings
            .format
            .unwrap_or_else(|| in_format.writable_or_jpeg());
        if !out_format.can_write() {
            let msg = format!(
                "cannot encode {}: this build cannot write it",
                out_format.name()
            );
            return Err(ItemError::new(ErrorClass::Encode, msg));
        }
        let mut warnings = self.precheck(input, in_format)?;
        match anim::sequence(input, in_format) {
            Some(anim::Sequence::Animation {
                frames,
                width,
                height,
                plays,
            }) if out_format.can_animate() => {
                let canvas = (width, height);
                return self.run_animation(input, in_format, out_format, canvas, frames, plays);
            }
            Some(anim::Sequence::Animation { frames, .. }) => warnings.push(format!(
                "animation: kept the first of {frames} frames ({} cannot hold an animation)",
                out_format.name().to_uppercase()
            )),
            Some(anim::Sequence::Pages(pages)) => warnings.push(format!(
                "multi-page {}: kept the first of {pages} pages",
                in_format.name().to_uppercase()
            )),
            None => {}
        }
        let decoded = self.decode(input, in_format, &mut warnings)?;
        let (orientation, plan, stored) = self.geometry(&decoded);
        self.check_output_size(plan)?;
        let (full_w, full_h) = decoded.full;
        if self.settings.reencode == Reencode::IfNeeded
            && out_format == in_format
            && warnings.is_empty()
            && self.shows_the_same(&decoded, orientation, plan)
        {
            let (w, h) = oriented(full_w, full_h, orientation);
            return Ok(source_kept(input, in_format, (w, h), warnings));
        }
        let had_profile = decoded.icc.is_some();
        let dest = self.destination_for(out_format, "", &mut warnings)?;
        let coloured = colour::apply(
            decoded.samples,
            decoded.icc.as_deref(),
            self.settings.colour,
            dest.as_ref(),
            &mut self.colours,
        );
        warnings.extend(coloured.warning);
        if let Some(cicp) = decoded.cicp.filter(|c| !had_profile && !c.is_srgb_like()) {
            warnings.push(format!(
                "colour description ({cicp}) not applied; colours taken as sRGB"
            ));
        }
        let mut embedded = metadata::Embedded {
            icc: coloured.profile,
            ..metadata::Embedded::default()
        };
        if self.settings.keep_metadata {
            embedded = metadata::Embedded {
                // Converted pixels are sRGB: say so where the input said
                // what it was.
                icc: embedded
                    .icc
                    .or_else(|| had_profile.then(colour::srgb_profile).flatten()),
                ..metadata::read(input)
            };
        }
        if out_format == Format::Tiff {
            let left = embedded
                .exif
                .as_deref()
                .map(exif::sub_directories)
                .unwrap_or_default();
            if !left.is_empty() {
                warnings.push(format!(
                    "TIFF outputs carry the EXIF camera, date and copyright text only: its {} data not kept",
                    left.join(", ")
                ));
            }
        }
        if matches!(out_format, Format::Webp | Format::Avif) {
            // Their only place for a density is EXIF: a density the input
            // kept outside it (JFIF, PNG `pHYs`) gets an EXIF block of its
            // own; one whose EXIF lacks it is said to be lost.
            match (&embedded.exif, embedded.dpi) {
                (None, Some((x, y))) => embedded.exif = Some(exif::density_only(x, y)),
                (Some(e), Some(_)) if exif::dpi(e).is_none() => warnings.push(format!(
                    "{} outputs carry the pixel density only in EXIF, and the input's EXIF \
                     has none: not kept",
                    out_format.name().to_uppercase()
                )),
                _ => {}
            }
        }
        if !embedded.is_empty() && !out_format.carries_metadata() {
            warnings.push(format!(
                "{} outputs cannot carry the colour profile or metadata: not kept",
                out_format.name().to_uppercase()
            ));
        }
        let geometry = Geometry {
            full: decoded.full,
            orientation,
            plan,
            stored,
        };
        let mut placed = None;
        let px = self.transform(
            coloured.pixels,
            geometry,
            out_format,
            &mut warnings,
            &mut placed,
        )?;
        // With an explicit --format this is a usage error; here the format
        // came from the input, so only this item is affected.
        if self.settings.lossless && matches!(out_format, Format::Jpeg | Format::Gif | Format::Avif)
        {
            warnings.push(format!(
                "--lossless not honoured: {} output is always lossy",
                out_format.name().to_uppercase()
            ));
        }
        let (width_out, height_out) = (px.width, px.height);
        if let Some(exif) = &mut embedded.exif {
            exif::patch(exif, self.settings.auto_orient, width_out, height_out);
        }
        let data = encode::encode(px, out_format, &self.settings, &embedded)?;
        let (width_in, height_in) = oriented(full_w, full_h, orientation);
        Ok(Converted {
            data,
            format: out_format,
            width_in,
            height_in,
            width_out,
            height_out,
            crop: kept_window(plan, placed, (width_in, height_in)),
            warnings,
        })
    }

    /// What every item passes before it is decoded, converted or kept:
    /// the size filters, a JPEG's own checks and truncation; the warnings
    /// so far.
    fn precheck(&self, input: &[u8], in_format: Format) -> Result<Vec<String>, ItemError> {
        self.check_filters(input, in_format)?;
        let mut warnings = Vec::new();
        if in_format == Format::Jpeg {
            warnings.extend(self.check_jpeg(input)?);
        }
        if let Some(reason) = anim::truncation(input, in_format) {
            return Err(ItemError::new(ErrorClass::Decode, reason));
        }
        Ok(warnings)
    }

    /// `--reencode never`: the input's own bytes, once they pass the same
    /// checks and decode as a conversion would (filters, truncation, the
    /// pixel limit).
    fn keep_source(&mut self, input: &[u8], in_format: Format) -> Result<Converted, ItemError> {
        let mut warnings = self.precheck(input, in_format)?;
        // Every byte of the stream is decoded, at the smallest scale the
        // decoder offers (JPEG's 1/8 DCT, libwebp's scaling, PNG's row
        // reduction): corruption and truncation are found without paying
        // for full-size pixels that are thrown away.
        let tiny = ResizeSpec {
            width: Some(1),
            height: Some(1),
            percent: None,
        };
        let asked = (self.settings.resize.replace(tiny), self.settings.fit);
        self.settings.fit = Fit::Inside;
        let decoded = self.decode(input, in_format, &mut warnings);
        (self.settings.resize, self.settings.fit) = asked;
        let decoded = decoded?;
        let orientation = self.orientation(decoded.orientation);
        let (w, h) = oriented(decoded.full.0, decoded.full.1, orientation);
        Ok(source_kept(input, in_format, (w, h), warnings))
    }

    /// `--reencode if-needed`: whether an output encoded afresh would show
    /// what the input shows, at its size: no resize, crop, padding or
    /// rotation, no colour conversion, no blur.
    fn shows_the_same(&self, d: &Decoded, orientation: Orientation, plan: plan::Plan) -> bool {
        let (w, h) = oriented(d.full.0, d.full.1, orientation);
        let no_colour_change = match self.settings.colour {
            ColourMode::Keep => true,
            _ => d.icc.is_none() && d.cicp.is_none_or(|c| c.is_srgb_like()),
        };
        orientation == Orientation::NoTransforms
            && (plan.width, plan.height) == (w, h)
            && plan.crop.is_none()
            && plan.canvas.is_none()
            && plan.window.is_none()
            && no_colour_change
            && matches!(self.destination, Ok(None))
            && self.boxes.is_empty()
    }

    /// Resize (with a centred crop), orient, cut the window another crop
    /// places, and pad, as `plan` says. `placed` is where the window went:
    /// found on the first call and kept, so an animation's frames all keep
    /// the same window.
    fn transform(
        &mut self,
        px: Pixels,
        geometry: Geometry,
        out_format: Format,
        warnings: &mut Vec<String>,
        placed: &mut Option<(u32, u32)>,
    ) -> Result<Pixels, ItemError> {
        let Geometry {
            full: (mut full_w, mut full_h),
            mut orientation,
            plan,
            mut stored,
        } = geometry;
        let mut px = px;
        if !self.boxes.is_empty() {
            // Boxes are placed on the image as displayed: upright first,
            // blurred at full size, then resized as displayed.
            px = ops::orient(px, orientation)?;
            (full_w, full_h) = oriented(full_w, full_h, orientation);
            (orientation, stored) = (Orientation::NoTransforms, plan);
            px = ops::blur_boxes(px, &self.boxes);
        }
        // The plan is in full-size pixels; shrink-on-load may have decoded
        // fewer, so the crop box scales with it.
        let crop = stored.crop.map(|(cw, ch)| {
            let sx = f64::from(px.width) / f64::from(full_w);
            let sy = f64::from(px.height) / f64::from(full_h);
            (cw * sx, ch * sy)
        });
        let filter = self.settings.filter;
        let px = ops::resize(
            &mut self.resizer,
            px,
            crop,
            (stored.width, stored.height),
            filter,
            self.shrink_on_load,
        )?;
        let px = ops::orient(px, orientation)?;
        let px = match plan.window {
            Some(size) => {
                let crop = self.settings.crop;
                let at = *placed.get_or_insert_with(|| smartcrop::place(&px, size, crop));
                ops::extract(px, at, size)
            }
            None => px,
        };
        Ok(match plan.canvas {
            Some((w, h)) => self.pad(px, w, h, out_format, warnings),
            None => px,
        })
    }

    /// `contain` padding: transparent when asked and the output can carry
    /// alpha, else the background colour (saying so if transparency was
    /// asked for and could not be kept).
    fn pad(
        &self,
        px: Pixels,
        w: u32,
        h: u32,
        out_format: Format,
        warnings: &mut Vec<String>,
    ) -> Pixels {
        let bg = self.settings.background;
        if !self.settings.pad_transparent {
            return ops::pad(px, w, h, bg);
        }
        if encode::layout_for(out_format, Layout::Rgba8, bg).has_alpha() {
            return ops::pad_transparent(px, w, h);
        }
        warnings.push(format!(
            "{} has no transparency: padded with the flattening colour instead",
            out_format.name().to_uppercase()
        ));
        ops::pad(px, w, h, bg)
    }

    /// Converts every frame of an animation with the same geometry plan as
    /// a still of its canvas size, and encodes them as one animation.
    fn run_animation(
        &mut self,
        input: &[u8],
        in_format: Format,
        out_format: Format,
        (w, h): (u32, u32),
        frames: u64,
        plays: Plays,
    ) -> Result<Converted, ItemError> {
        check_pixels(w, h, self.settings.max_pixels)?;
        anim::check_budget(frames, w, h, self.settings.max_pixels)?;
        let orientation = Orientation::NoTransforms;
        let plan = plan::plan(w, h, &self.settings);
        self.check_output_size(plan)?;
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        let icc = anim::icc(input, in_format);
        // Animations are written without a profile: a destination other
        // than sRGB is left for sRGB, with a warning.
        let _ = self.destination_for(out_format, "animated ", &mut warnings)?;
        let mode = match self.settings.colour {
            ColourMode::P3 => ColourMode::Srgb,
            mode => mode,
        };
        if icc.is_some() && mode == ColourMode::Keep {
            warnings.push(format!(
                "animated {} cannot carry the colour profile: not kept",
                out_format.name().to_uppercase()
            ));
        }
        let mut placed = None;
        anim::for_each_frame(input, in_format, |frame| {
            let coloured = colour::apply(
                Samples::Eight(frame.pixels),
                icc.as_deref(),
                mode,
                None,
                &mut self.colours,
            );
            if let Some(w) = coloured.warning.filter(|w| !warnings.contains(w)) {
                warnings.push(w);
            }
            let geometry = Geometry {
                full: (w, h),
                orientation,
                plan,
                stored: plan,
            };
            let px = self.transform(
                coloured.pixels,
                geometry,
                out_format,
                &mut warnings,
                &mut placed,
            )?;
            // Contain pads with an opaque background; frames stay RGBA.
            let px = ops::convert(px, Layout::Rgba8, self.settings.background);
            out.push(Frame {
                pixels: px,
                delay_ms: frame.delay_ms,
            });
            Ok(())
        })?;
        let (width_out, height_out) = out
            .first()
            .map_or((0, 0), |f| (f.pixels.width, f.pixels.height));
        let data = anim::encode(&out, plays, out_format, &self.settings)?;
        warnings.dedup();
        let kept = out.len() as u64;
        if kept < frames {
            warnings.push(format!(
                "animation: only {kept} of the {frames} frames it declares could be decoded"
            ));
        }
        Ok(Converted {
            data,
            format: out_format,
            width_in: w,
            height_in: h,
            width_out,
            height_out,
            crop: kept_window(plan, placed, (w, h)),
            warnings,
        })
    }

    /// Fails JPEGs the decoders would misread: cut short (unless
    /// `--accept-truncated`, then a warning) or coded in a way none reads.
    fn check_jpeg(&self, input: &[u8]) -> Result<Option<String>, ItemError> {
        match jpeg_markers::check(input) {
            Ok(()) => Ok(None),
            Err(p @ jpeg_markers::Problem::Truncated(_)) if self.settings.accept_truncated => {
                Ok(Some(format!(
                    "{} (converted anyway: the missing part is grey)",
                    p.message()
                )))
            }
            Err(p) => Err(ItemError::new(ErrorClass::Decode, p.message())),
        }
    }

    /// `--min-size` and `--max-aspect`, from the header alone: an image
    /// left out costs no decoding.
    fn check_filters(&self, input: &[u8], format: Format) -> Result<(), ItemError> {
        let (min_size, max_aspect) = (self.settings.min_size, self.settings.max_aspect);
        if min_size.is_none() && max_aspect.is_none() {
            return Ok(());
        }
        let Some((w, h)) = header_size(input, format) else {
            // Unreadable headers fail in decoding, with its message.
            return Ok(());
        };
        let (short, long) = (w.min(h), w.max(h));
        if let Some(min) = min_size.filter(|&min| short < min) {
            return Err(ItemError::new(
                ErrorClass::Filtered,
                format!("image is {w}x{h}, shorter side under --min-size {min}"),
            ));
        }
        let aspect = f64::from(long) / f64::from(short.max(1));
        if let Some(max) = max_aspect.filter(|&max| aspect > max) {
            return Err(ItemError::new(
                ErrorClass::Filtered,
                format!("image is {w}x{h}, aspect ratio {aspect:.2} over --max-aspect {max}"),
            ));
        }
        Ok(())
    }

    /// Decodes, shrinking on load when the input is a JPEG being reduced.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        format: Format,
        warnings: &mut Vec<String>,
    ) -> Result<Decoded, ItemError> {
        let max = self.settings.max_pixels;
        #[cfg(feature = "jxl")]
        if format == Format::Jxl {
            let (decoded, frames) = jxl::decode(input, max)?;
            if frames > 1 {
                warnings.push(format!("animation: kept the first of {frames} frames"));
            }
            return Ok(decoded);
        }
        if format == Format::Jpeg {
            let header = decode::jpeg_header(input);
            if let Some(h) = &header {
                check_pixels(h.width, h.height, max)?;
            }
            // CMYK needs jpeg-decoder's inks. The reference decode
            // (`full_decode_only`) stays with zune-jpeg, so the quality
            // guard compares two decoders.
            if self.shrink_on_load && !header.as_ref().is_some_and(|h| h.cmyk) {
                if let Some(d) = self.decode_turbo(input, header.as_ref(), warnings)? {
                    return Ok(d);
                }
            }
            if let Some(header) = header {
                let k = self.dct_scale(header.width, header.height, header.orientation);
                // CMYK needs jpeg-decoder's inks even at full size.
                if k.is_some() || header.cmyk {
                    if let Some(d) = decode::decode_jpeg_scaled(header, k.unwrap_or(8)) {
                        return Ok(d);
                    }
                }
            }
        }
        if format == Format::Webp && self.shrink_on_load {
            if let Some(d) = self.decode_webp(input)? {
                return Ok(d);
            }
        }
        if format == Format::Png && self.shrink_on_load && self.settings.resize.is_some() {
            if let Some(d) = self.decode_png_shrunk(input)? {
                return Ok(d);
            }
        }
        decode::decode_full(input, format, max)
    }

    /// A PNG reduced at least [`PNG_STREAM_FACTOR`] times (with the usual
    /// margin), decoded row by row into a box-reduced image; `None` leaves
    /// it to the full path.
    fn decode_png_shrunk(&self, input: &[u8]) -> Result<Option<Decoded>, ItemError> {
        let max = self.settings.max_pixels;
        let max_alloc = usize::try_from(decode::max_alloc(max)).unwrap_or(usize::MAX);
        let Some(header) = png_stream::header(input, max_alloc) else {
            return Ok(None);
        };
        check_pixels(header.width, header.height, max)?;
        let (need_w, need_h) = self.needed_size(header.width, header.height, header.orientation);
        let factor = shrink::factor(header.width, header.height, need_w, need_h);
        if factor < PNG_STREAM_FACTOR {
            return Ok(None);
        }
        png_stream::decode_shrunk(header, factor, max)
    }

    /// Still WebP through libwebp, scaled on load when reducing; `None`
    /// leaves the item to the full path (animations, broken files).
    fn decode_webp(&self, input: &[u8]) -> Result<Option<Decoded>, ItemError> {
        let Some(header) = webp_fast::header(input) else {
            return Ok(None);
        };
        check_pixels(header.width, header.height, self.settings.max_pixels)?;
        let (orientation, icc) = webp_fast::metadata(input);
        let (need_w, need_h) = self.needed_size(header.width, header.height, orientation);
        let (w, h) = webp_fast::decode_size(&header, need_w, need_h);
        Ok(
            webp_fast::decode(input, &header, w, h).map(|pixels| Decoded {
                samples: Samples::Eight(pixels),
                orientation,
                full: (header.width, header.height),
                icc,
                cicp: None,
            }),
        )
    }

    /// The DCT scale that still leaves [`Filter::shrink_margin`] times the
    /// output resolution, if any is smaller than full size (and a resize
    /// is asked for, on the fast path).
    fn dct_scale(&self, w: u32, h: u32, stored: Orientation) -> Option<u32> {
        if self.settings.resize.is_none() || !self.shrink_on_load {
            return None;
        }
        let (need_w, need_h) = self.needed_size(w, h, stored);
        decode::dct_scale(w, h, need_w, need_h)
    }

    /// A JPEG through libjpeg-turbo, scaled on load when reducing; `None`
    /// leaves it to jpeg-decoder and zune-jpeg. `header` is jpeg-decoder's,
    /// when it could read one (not for arithmetic coding).
    fn decode_turbo(
        &mut self,
        input: &[u8],
        header: Option<&decode::JpegHeader<'_>>,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Decoded>, ItemError> {
        // Taken out for the call, which also reads the settings.
        let Some(mut tj) = self.turbo.take() else {
            return Ok(None);
        };
        let result = self.decode_turbo_with(&mut tj, input, header);
        self.turbo = Some(tj);
        match result {
            Ok(d) => Ok(Some(d)),
            Err(TurboFailure::Item(e)) => Err(e),
            // A truncation accepted with --accept-truncated already has
            // its warning.
            Err(TurboFailure::Decoder(_))
                if warnings.iter().any(|w| w.starts_with("truncated")) =>
            {
                Ok(None)
            }
            // Before any pixel (a header it does not take): the fallback's
            // own result says all.
            Err(TurboFailure::Header) => Ok(None),
            // libjpeg-turbo's warnings name real damage ("Corrupt JPEG data:
            // ...") that the fallback decoder would pass over without a word.
            Err(TurboFailure::Decoder(e)) => {
                warnings.push(format!("{e} (decoded anyway, by the fallback decoder)"));
                Ok(None)
            }
        }
    }

    fn decode_turbo_with(
        &self,
        tj: &mut turbojpeg::Decompressor,
        input: &[u8],
        header: Option<&decode::JpegHeader<'_>>,
    ) -> Result<Decoded, TurboFailure> {
        let th = decode::turbo_header(tj, input).map_err(|_| TurboFailure::Header)?;
        if let Some(h) = header {
            if (h.width, h.height) != (th.width, th.height) {
                return Err(TurboFailure::Header);
            }
        } else {
            check_pixels(th.width, th.height, self.settings.max_pixels)
                .map_err(TurboFailure::Item)?;
        }
        let meta = header.map_or_else(|| decode::jpeg_segments_meta(input), |h| h.meta());
        let k = self.dct_scale(th.width, th.height, meta.0);
        decode::decode_jpeg_turbo(tj, input, &th, k.unwrap_or(8), meta)
            .map_err(TurboFailure::Decoder)
    }

    /// The smallest decoded size of a `w`x`h` stored image that keeps
    /// the filter's [`Filter::shrink_margin`] times the output resolution on each axis.
    fn needed_size(&self, w: u32, h: u32, stored: Orientation) -> (u32, u32) {
        let o = self.orientation(stored);
        let (dw, dh) = oriented(w, h, o);
        let plan = stored_plan(plan::plan(dw, dh, &self.settings), o);
        let (sx, sy) = plan.scale(w, h);
        let margin = self.settings.filter.shrink_margin();
        let need = |side: u32, s: f64| (f64::from(side) * s * margin).ceil() as u32;
        (need(w, sx), need(h, sy))
    }

    /// The colour space outputs in `format` are converted to, when it is
    /// not sRGB: `None`, with a warning, where the output cannot carry its
    /// profile (GIF, BMP; `what` is "animated " for animations, which are
    /// written without one).
    fn destination_for(
        &self,
        format: Format,
        what: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Option<colour::Destination>, ItemError> {
        let dest = match &self.destination {
            Ok(dest) => dest.clone(),
            Err(e) => {
                let msg = format!("--export-profile: {e}");
                return Err(ItemError::new(ErrorClass::Encode, msg));
            }
        };
        match dest {
            Some(d) if !what.is_empty() || !format.carries_metadata() => {
                warnings.push(format!(
                    "{what}{} cannot carry a colour profile: converted to sRGB instead of {}",
                    format.name().to_uppercase(),
                    d.name
                ));
                Ok(None)
            }
            dest => Ok(dest),
        }
    }

    /// `--resize` with `--enlarge` or a `contain` canvas can ask for more
    /// pixels than any input had; the same budget applies to the output.
    /// A window placed by `--crop` or `--gravity` is cut from the whole
    /// image resampled first, which must fit the budget too.
    fn check_output_size(&self, plan: plan::Plan) -> Result<(), ItemError> {
        let max = self.settings.max_pixels;
        let over = |what: &str, (w, h): (u32, u32)| {
            let n = u64::from(w) * u64::from(h);
            (n > max).then(|| {
                ItemError::new(
                    ErrorClass::TooLarge,
                    format!("{what} would be {w}x{h} ({n} pixels), over --max-pixels {max}"),
                )
            })
        };
        let resampled = (plan.width, plan.height);
        let output = plan.canvas.or(plan.window).unwrap_or(resampled);
        match over("output", output).or_else(|| over("resampled image", resampled)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn orientation(&self, o: Orientation) -> Orientation {
        if self.settings.auto_orient {
            o
        } else {
            Orientation::NoTransforms
        }
    }

    /// The orientation to apply, the plan as displayed, and the plan in
    /// stored orientation (resize before rotating: rotating less is cheaper).
    fn geometry(&self, d: &Decoded) -> (Orientation, plan::Plan, plan::Plan) {
        let o = self.orientation(d.orientation);
        let (dw, dh) = oriented(d.full.0, d.full.1, o);
        let display = plan::plan(dw, dh, &self.settings);
        (o, display, stored_plan(display, o))
    }
}

/// The record of an input kept as it is (`--reencode`).
fn source_kept(
    input: &[u8],
    format: Format,
    (w, h): (u32, u32),
    warnings: Vec<String>,
) -> Converted {
    Converted {
        data: input.to_vec(),
        format,
        width_in: w,
        height_in: h,
        width_out: w,
        height_out: h,
        crop: None,
        warnings,
    }
}

/// Where one image's pixels go: its full decoded size, the orientation to
/// apply, and its plan as displayed and as stored.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    full: (u32, u32),
    orientation: Orientation,
    plan: plan::Plan,
    stored: plan::Plan,
}

/// The window a cover crop kept, in the input's displayed pixels: the
/// centred crop's region, or the placed window scaled back from the
/// resampled image. `None` when nothing was cut off.
fn kept_window(
    plan: plan::Plan,
    placed: Option<(u32, u32)>,
    (w, h): (u32, u32),
) -> Option<CropWindow> {
    let (wf, hf) = (f64::from(w), f64::from(h));
    let (x, y, cw, ch) = if let Some((cw, ch)) = plan.crop {
        if cw >= wf - 0.5 && ch >= hf - 0.5 {
            return None;
        }
        ((wf - cw) / 2.0, (hf - ch) / 2.0, cw, ch)
    } else {
        let (ww, wh) = plan.window?;
        let (x, y) = placed?;
        let sx = wf / f64::from(plan.width.max(1));
        let sy = hf / f64::from(plan.height.max(1));
        (
            f64::from(x) * sx,
            f64::from(y) * sy,
            f64::from(ww) * sx,
            f64::from(wh) * sy,
        )
    };
    let round = |v: f64, limit: u32| (v.round().max(0.0) as u32).min(limit);
    let (x, y) = (round(x, w), round(y, h));
    Some(CropWindow {
        x,
        y,
        width: round(cw, w - x).max(1),
        height: round(ch, h - y).max(1),
    })
}

/// The smallest box factor for which a PNG is streamed: below it the full
/// decode is as cheap and keeps the exact Lanczos result.
const PNG_STREAM_FACTOR: u32 = 2;

/// An image's size from its headers, without decoding its pixels: HEIF,
/// AVIF and JPEG XL through their own parsers (the image crate reads
/// neither), everything else through the image crate's.
fn header_size(input: &[u8], format: Format) -> Option<(u32, u32)> {
    match format {
        #[cfg(feature = "heif")]
        Format::Heif | Format::Avif => heif::primary_size(input),
        #[cfg(feature = "jxl")]
        Format::Jxl => jxl::header_size(input),
        // The image crate's JPEG reader refuses arithmetic coding; libjpeg-turbo,
        // which decodes it, reads its header.
        Format::Jpeg => image_header_size(input).or_else(|| {
            let h = turbojpeg::read_header(input).ok()?;
            Some((u32::try_from(h.width).ok()?, u32::try_from(h.height).ok()?))
        }),
        _ => image_header_size(input),
    }
}

fn image_header_size(input: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(std::io::Cursor::new(input))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// The format of `input` when this build can decode it; otherwise a failure
/// naming what the input is.
fn readable_format(input: &[u8]) -> Result<Format, ItemError> {
    let sniffed =
        sniff(input).ok_or_else(|| decode_error(None, "unknown or unsupported format"))?;
    if let Some(reason) = sniffed.unreadable_reason() {
        return Err(ItemError::new(ErrorClass::Decode, reason));
    }
    match sniffed {
        Sniffed::Image(format) => Ok(format),
        Sniffed::Unsupported(what) => Err(ItemError::new(ErrorClass::Decode, what)),
    }
}

fn stored_plan(display: plan::Plan, o: Orientation) -> plan::Plan {
    if ops::swaps_sides(o) {
        display.transposed()
    } else {
        display
    }
}

/// Stored dimensions as displayed after `o`.
fn oriented(w: u32, h: u32, o: Orientation) -> (u32, u32) {
    if ops::swaps_sides(o) {
        (h, w)
    } else {
        (w, h)
    }
}

/// Why libjpeg-turbo did not decode a JPEG.
enum TurboFailure {
    /// Its header reader refused the file (or it disagrees with
    /// jpeg-decoder's): nothing to tell the user, the fallback decides.
    Header,
    /// It failed or warned while decoding: the damage it names is worth
    /// a warning if the fallback decodes the file anyway.
    Decoder(String),
    /// The item fails outright (over `--max-pixels`).
    Item(ItemError),
}
