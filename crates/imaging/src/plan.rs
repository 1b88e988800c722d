//! Geometry: where the `--resize` box and `--fit` put the output, worked out
//! from header dimensions alone so the decoder can be told how small it may go.

use super::{Fit, Settings};

/// What to do to an image of known size, in one orientation.
///
/// A centred crop stays centred under every EXIF rotation/flip, so its size
/// alone is enough and the resampler cuts it on the way. Any other `--crop`
/// resamples the whole image to cover the box and cuts a `window` from the
/// result once it is upright, where [`crate::smartcrop`] places it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    /// The source region to use, in source pixels (`Cover` only).
    pub crop: Option<(f64, f64)>,
    /// The size the (cropped) source is resampled to.
    pub width: u32,
    pub height: u32,
    /// `Contain` pads the resampled image centred onto a canvas this size.
    pub canvas: Option<(u32, u32)>,
    /// `Cover` with a crop other than the centre: the size of the window
    /// cut from the resampled, oriented image (as displayed).
    pub window: Option<(u32, u32)>,
}

impl Plan {
    /// The same plan for the image stored transposed (EXIF 5–8).
    pub(crate) fn transposed(self) -> Plan {
        Plan {
            crop: self.crop.map(|(w, h)| (h, w)),
            width: self.height,
            height: self.width,
            canvas: self.canvas.map(|(w, h)| (h, w)),
            window: self.window.map(|(w, h)| (h, w)),
        }
    }

    /// The scale from source pixels to output pixels, per axis; what a
    /// shrink-on-load decoder must not undercut.
    pub(crate) fn scale(self, src_w: u32, src_h: u32) -> (f64, f64) {
        let (cw, ch) = self.crop.unwrap_or((f64::from(src_w), f64::from(src_h)));
        (f64::from(self.width) / cw, f64::from(self.height) / ch)
    }
}

/// Plans the geometry for an image `w`x`h` as displayed.
pub(crate) fn plan(w: u32, h: u32, settings: &Settings) -> Plan {
    let keep = Plan {
        crop: None,
        width: w,
        height: h,
        canvas: None,
        window: None,
    };
    let Some(spec) = settings.resize else {
        return keep;
    };
    if w == 0 || h == 0 {
        return keep;
    }
    if let Some(percent) = spec.percent {
        // A percentage has no box, so every fit is the same scale.
        let (ow, oh) = scaled(w, h, percent / 100.0);
        return Plan {
            width: ow,
            height: oh,
            ..keep
        };
    }
    let (wf, hf) = (f64::from(w), f64::from(h));
    let cap = |s: f64| if settings.enlarge { s } else { s.min(1.0) };
    match settings.fit {
        Fit::Inside | Fit::Outside => {
            // Inside: the tighter side binds; outside: the looser one. A
            // missing side never binds: the given one alone decides.
            let outside = settings.fit == Fit::Outside;
            let unbound = if outside {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
            let sx = spec.width.map_or(unbound, |bw| f64::from(bw) / wf);
            let sy = spec.height.map_or(unbound, |bh| f64::from(bh) / hf);
            let s = cap(if outside { sx.max(sy) } else { sx.min(sy) });
            let (ow, oh) = scaled(w, h, s);
            Plan {
                width: ow,
                height: oh,
                ..keep
            }
        }
        Fit::Fill => {
            // Each side on its own, as libvips's `--size down` does: a side
            // already smaller than the box keeps its length unless
            // `--enlarge`.
            let (bw, bh) = both_sides(spec.width, spec.height, w, h);
            let side = |b: u32, own: u32| if settings.enlarge { b } else { b.min(own) };
            Plan {
                width: side(bw, w),
                height: side(bh, h),
                ..keep
            }
        }
        Fit::Cover => {
            let (bw, bh) = both_sides(spec.width, spec.height, w, h);
            let s = cap((f64::from(bw) / wf).max(f64::from(bh) / hf));
            let (sw, sh) = scaled(w, h, s);
            let (ow, oh) = (bw.min(sw), bh.min(sh));
            if !settings.crop.is_centre() {
                return Plan {
                    width: sw,
                    height: sh,
                    window: ((ow, oh) != (sw, sh)).then_some((ow, oh)),
                    ..keep
                };
            }
            // The source region that maps onto the output at scale `s`.
            let crop = ((f64::from(ow) / s).min(wf), (f64::from(oh) / s).min(hf));
            Plan {
                crop: Some(crop),
                width: ow,
                height: oh,
                ..keep
            }
        }
        Fit::Contain => {
            let (bw, bh) = both_sides(spec.width, spec.height, w, h);
            let s = cap((f64::from(bw) / wf).min(f64::from(bh) / hf));
            let (ow, oh) = scaled(w, h, s);
            Plan {
                width: ow.min(bw),
                height: oh.min(bh),
                canvas: Some((bw, bh)),
                ..keep
            }
        }
    }
}

/// Cover/Fill/Contain need a full box; a missing side means "as the image".
fn both_sides(bw: Option<u32>, bh: Option<u32>, w: u32, h: u32) -> (u32, u32) {
    (bw.unwrap_or(w).max(1), bh.unwrap_or(h).max(1))
}

fn scaled(w: u32, h: u32, s: f64) -> (u32, u32) {
    (round_side(w, s), round_side(h, s))
}

/// Rounds to nearest, at least 1 px; `as` saturates, so huge scales are safe.
fn round_side(side: u32, s: f64) -> u32 {
    let v = (f64::from(side) * s).round();
    if v.is_finite() {
        (v as u32).max(1)
    } else {
        side.max(1)
    }
}
