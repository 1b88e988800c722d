//! Colour management: turns decoded samples into the pipeline's 8-bit
//! pixels, through the input's embedded profile, into sRGB (the default),
//! Display P3 (`--colour p3`) or an `--export-profile`, or keeping the
//! source profile's numbers (`--colour keep`).
//!
//! Every decoder hands its samples and raw ICC profile here, once, right
//! after decoding, so a new decoder gets colour management by filling
//! [`Decoded::icc`](super::pixels::Decoded). Sources with more than 8 bits
//! are transformed at 16 bits before the reduction, so wide gamuts do not
//! band. Profiles equivalent to sRGB are recognised (by what they do to a
//! grid of colours, not by name) and skipped, so the common case costs a
//! cache lookup.

use super::pixels::Cicp;
use super::pixels::{Layout, Pixels, Samples};
use image::DynamicImage;
use moxcms::{
    CmsError, ColorProfile, DataColorSpace, Layout as CmsLayout, RenderingIntent,
    Transform16BitExecutor, Transform8BitExecutor, TransformOptions,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What happens to the input's colour profile (`--colour`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourMode {
    /// Convert to sRGB through the input's profile (outputs carry no profile).
    #[default]
    Srgb,
    /// Keep the source profile's numbers and embed the profile in outputs
    /// that can carry one.
    Keep,
    /// Convert to Display P3 through the input's profile and embed Display
    /// P3's profile (outputs that cannot carry one get sRGB, and say so).
    P3,
}

/// An RGB colour space outputs are converted to and carry, in place of
/// sRGB: Display P3 (`--colour p3`) or an `--export-profile`.
#[derive(Clone)]
pub(crate) struct Destination {
    /// The profile outputs embed: the user's file as given, or Display
    /// P3's as moxcms writes it.
    pub icc: Arc<Vec<u8>>,
    profile: Arc<ColorProfile>,
    /// What messages call it.
    pub name: String,
}

impl Destination {
    /// Where `mode` and an export profile send colours; `None` for sRGB.
    pub(crate) fn of(
        mode: ColourMode,
        export_profile: Option<&[u8]>,
    ) -> Result<Option<Destination>, String> {
        if let Some(bytes) = export_profile {
            let profile = parse_export_profile(bytes)?;
            let name = profile_name(&profile).unwrap_or_else(|| "the export profile".into());
            return Ok(Some(Destination {
                icc: Arc::new(bytes.to_vec()),
                profile: Arc::new(profile),
                name,
            }));
        }
        if mode != ColourMode::P3 {
            return Ok(None);
        }
        let profile = ColorProfile::new_display_p3();
        let icc = encode_stable(profile.clone())
            .map_err(|e| format!("cannot write the Display P3 profile: {e}"))?;
        Ok(Some(Destination {
            icc: Arc::new(icc),
            profile: Arc::new(profile),
            name: "Display P3".into(),
        }))
    }
}

/// Checks that `bytes` are an ICC profile colours can be converted to: an
/// RGB profile a transform can be built to (matrix/TRC or LUT based). The
/// error says why not, for a usage message.
pub fn check_export_profile(bytes: &[u8]) -> Result<(), String> {
    parse_export_profile(bytes).map(drop)
}

fn parse_export_profile(bytes: &[u8]) -> Result<ColorProfile, String> {
    let profile = ColorProfile::new_from_slice(bytes)
        .map_err(|e| format!("not a usable ICC profile: {e}"))?;
    if profile.color_space != DataColorSpace::Rgb {
        return Err(format!(
            "it is a {} profile; outputs need an RGB one",
            space_name(profile.color_space)
        ));
    }
    ColorProfile::new_srgb()
        .create_transform_8bit(CmsLayout::Rgb, &profile, CmsLayout::Rgb, options())
        .map_err(|e| format!("colours cannot be converted to it: {e}"))?;
    Ok(profile)
}

/// A profile's description, when it has one in English (or any language).
fn profile_name(profile: &ColorProfile) -> Option<String> {
    let text = match profile.description.as_ref()? {
        moxcms::ProfileText::PlainString(s) => s.clone(),
        moxcms::ProfileText::Localizable(list) => list.first()?.value.clone(),
        moxcms::ProfileText::Description(d) => d.ascii_string.clone(),
    };
    let text = text.trim_matches(char::from(0)).trim().to_string();
    (!text.is_empty() && text.len() <= 80 && !text.chars().any(char::is_control)).then_some(text)
}

/// Pixels ready for the pipeline, and what the colour step has to say.
pub(crate) struct Coloured {
    pub pixels: Pixels,
    /// The profile the pixels' numbers are in when it is not sRGB (only
    /// with [`ColourMode::Keep`]): outputs that can carry it embed it.
    pub profile: Option<Vec<u8>>,
    /// Set when the profile could not be used and sRGB was assumed.
    pub warning: Option<String>,
}

/// An sRGB ICC profile, for outputs that keep metadata and whose input
/// had a profile.
pub(crate) fn srgb_profile() -> Option<Vec<u8>> {
    static SRGB: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    SRGB.get_or_init(|| encode_stable(ColorProfile::new_srgb()).ok())
        .clone()
}

/// A built-in profile's bytes, the same in every run: moxcms stamps the
/// header with the time of encoding, which would make outputs (and their
/// digests) differ from one run to the next, so the date is set to a fixed
/// one (the header has no checksum: its profile ID is left zero).
fn encode_stable(profile: ColorProfile) -> Result<Vec<u8>, CmsError> {
    let mut icc = profile.encode()?;
    if let Some(date) = icc.get_mut(24..36) {
        let fixed: [u16; 6] = [2024, 1, 1, 0, 0, 0];
        for (slot, v) in date.chunks_exact_mut(2).zip(fixed) {
            slot.copy_from_slice(&v.to_be_bytes());
        }
    }
    Ok(icc)
}

/// What to do with one profile for one kind of samples.
#[derive(Clone)]
enum Plan {
    /// The profile is sRGB in all but name: nothing to do.
    Identity,
    Eight(Arc<Transform8BitExecutor>),
    Sixteen(Arc<Transform16BitExecutor>),
    /// The profile cannot be used; the reason goes into the warning.
    Unusable(String),
}

/// The kinds of samples a transform is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gray,
    GrayAlpha,
    Rgb,
    Rgba,
    Cmyk,
}

impl Kind {
    fn cms_layouts(self) -> (CmsLayout, CmsLayout) {
        match self {
            Kind::Gray => (CmsLayout::Gray, CmsLayout::Gray),
            Kind::GrayAlpha => (CmsLayout::GrayAlpha, CmsLayout::GrayAlpha),
            Kind::Rgb => (CmsLayout::Rgb, CmsLayout::Rgb),
            Kind::Rgba => (CmsLayout::Rgba, CmsLayout::Rgba),
            // moxcms reads four inks as a four-channel layout.
            Kind::Cmyk => (CmsLayout::Rgba, CmsLayout::Rgb),
        }
    }

    fn colour_space(self) -> DataColorSpace {
        match self {
            Kind::Gray | Kind::GrayAlpha => DataColorSpace::Gray,
            Kind::Rgb | Kind::Rgba => DataColorSpace::Rgb,
            Kind::Cmyk => DataColorSpace::Cmyk,
        }
    }

    fn of_layout(layout: Layout) -> Kind {
        match layout {
            Layout::L8 => Kind::Gray,
            Layout::La8 => Kind::GrayAlpha,
            Layout::Rgb8 => Kind::Rgb,
            Layout::Rgba8 => Kind::Rgba,
        }
    }
}

/// How many distinct profiles a worker remembers; photo folders use a
/// handful (sRGB, Display P3, Adobe RGB), so a small list is enough.
const CACHE_SIZE: usize = 8;

/// One worker's built transforms, keyed by profile bytes, sample kind and
/// depth: building a transform costs far more than applying it to a
/// thumbnail, and a folder of iPhone photos shares one profile.
#[derive(Default)]
pub(crate) struct ColourCache {
    /// Source profile bytes (empty: sRGB implied), kind, depth, whether
    /// the destination is the converter's [`Destination`] (or sRGB).
    entries: Vec<(Vec<u8>, Kind, bool, bool, Plan)>,
}

impl ColourCache {
    fn plan(&mut self, icc: &[u8], kind: Kind, deep: bool, dest: Option<&Destination>) -> Plan {
        let wide = dest.is_some();
        let hit = self
            .entries
            .iter()
            .position(|(p, k, d, w, _)| *k == kind && *d == deep && *w == wide && p == icc);
        if let Some(i) = hit {
            let entry = self.entries.remove(i);
            let plan = entry.4.clone();
            self.entries.push(entry);
            return plan;
        }
        let plan = build_plan(icc, kind, deep, dest.map(|d| &*d.profile));
        if self.entries.len() == CACHE_SIZE {
            self.entries.remove(0);
        }
        self.entries
            .push((icc.to_vec(), kind, deep, wide, plan.clone()));
        plan
    }
}

/// Brings `samples` to 8-bit pixels in the colour space `mode` asks for:
/// sRGB, the input's own (`keep`), or `dest` when there is one. Greyscale
/// stays greyscale in sRGB's curve whatever `dest` is (its grey numbers
/// are the same in Display P3, and an RGB profile cannot describe it).
pub(crate) fn apply(
    samples: Samples,
    icc: Option<&[u8]>,
    mode: ColourMode,
    dest: Option<&Destination>,
    cache: &mut ColourCache,
) -> Coloured {
    let (kind, deep) = kind_of(&samples);
    // Outputs are never CMYK, so CMYK is converted in either mode.
    if mode == ColourMode::Keep && kind != Kind::Cmyk {
        return plain(samples, icc.map(<[u8]>::to_vec));
    }
    let dest = dest.filter(|_| !matches!(kind, Kind::Gray | Kind::GrayAlpha));
    // An empty source stands for sRGB, implied by an input without a
    // profile: only worth a transform when the destination is not sRGB.
    let source = icc.unwrap_or_default();
    if source.is_empty() && dest.is_none() {
        return plain(samples, None);
    }
    let profile = dest.map(|d| d.icc.to_vec());
    let unusable = |samples: Samples, reason: &dyn std::fmt::Display, cache: &mut ColourCache| {
        let mut out = plain(samples, None);
        if let Some(dest) = dest {
            out = to_destination(out.pixels, dest, cache);
        }
        out.warning = Some(format!(
            "colour profile not applied ({reason}); colours taken as sRGB"
        ));
        out
    };
    match cache.plan(source, kind, deep, dest) {
        Plan::Identity => plain(samples, profile),
        Plan::Unusable(reason) => unusable(samples, &reason, cache),
        plan => match transform(samples, &plan) {
            Ok(pixels) => Coloured {
                pixels,
                profile,
                warning: None,
            },
            Err((samples, e)) => unusable(samples, &e, cache),
        },
    }
}

/// 8-bit sRGB pixels converted to `dest`, carrying its profile (left as
/// they are, without one, if even that transform fails).
fn to_destination(px: Pixels, dest: &Destination, cache: &mut ColourCache) -> Coloured {
    let kind = Kind::of_layout(px.layout);
    let plan = cache.plan(&[], kind, false, Some(dest));
    let result = match plan {
        Plan::Identity => Ok(px),
        plan => transform(Samples::Eight(px), &plan),
    };
    match result {
        Ok(pixels) => Coloured {
            pixels,
            profile: Some(dest.icc.to_vec()),
            warning: None,
        },
        Err((samples, _)) => plain(samples, None),
    }
}

fn kind_of(samples: &Samples) -> (Kind, bool) {
    match samples {
        Samples::Eight(px) => (Kind::of_layout(px.layout), false),
        Samples::Deep(img) => (Kind::of_layout(deep_layout(img)), true),
        Samples::Cmyk { .. } => (Kind::Cmyk, false),
    }
}

/// The 8-bit layout a deep image reduces to.
fn deep_layout(img: &DynamicImage) -> Layout {
    match (img.color().has_color(), img.color().has_alpha()) {
        (false, false) => Layout::L8,
        (false, true) => Layout::La8,
        (true, false) => Layout::Rgb8,
        (true, true) => Layout::Rgba8,
    }
}

/// The samples as they are, reduced to 8 bits (CMYK by the naive formula,
/// the best there is without a profile).
fn plain(samples: Samples, profile: Option<Vec<u8>>) -> Coloured {
    let pixels = match samples {
        Samples::Eight(px) => px,
        Samples::Deep(img) => Pixels::from_dynamic(img),
        Samples::Cmyk {
            width,
            height,
            data,
        } => Pixels {
            width,
            height,
            layout: Layout::Rgb8,
            data: cmyk_to_rgb(&data),
        },
    };
    Coloured {
        pixels,
        profile,
        warning: None,
    }
}

/// Ink amounts to RGB with no profile: white paper is C=M=Y=K=0.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for p in cmyk.chunks_exact(4) {
        let k = 255 - u32::from(p[3]);
        for &c in &p[..3] {
            out.push(((255 - u32::from(c)) * k / 255) as u8);
        }
    }
    out
}

type Failed = (Samples, CmsError);

fn transform(samples: Samples, plan: &Plan) -> Result<Pixels, Failed> {
    match (samples, plan) {
        (Samples::Eight(px), Plan::Eight(t)) => {
            let mut data = vec![0u8; px.data.len()];
            match t.transform(&px.data, &mut data) {
                Ok(()) => Ok(Pixels { data, ..px }),
                Err(e) => Err((Samples::Eight(px), e)),
            }
        }
        (
            Samples::Cmyk {
                width,
                height,
                data,
            },
            Plan::Eight(t),
        ) => {
            let mut rgb = vec![0u8; data.len() / 4 * 3];
            match t.transform(&data, &mut rgb) {
                Ok(()) => Ok(Pixels {
                    width,
                    height,
                    layout: Layout::Rgb8,
                    data: rgb,
                }),
                Err(e) => Err((
                    Samples::Cmyk {
                        width,
                        height,
                        data,
                    },
                    e,
                )),
            }
        }
        (Samples::Deep(img), Plan::Sixteen(t)) => transform_deep(img, t),
        (samples, _) => Err((samples, CmsError::UnsupportedProfileConnection)),
    }
}

/// Transforms at 16 bits, then rounds to 8.
fn transform_deep(img: DynamicImage, t: &Arc<Transform16BitExecutor>) -> Result<Pixels, Failed> {
    let layout = deep_layout(&img);
    let (width, height) = (img.width(), img.height());
    let src: Vec<u16> = match layout {
        Layout::L8 => img.to_luma16().into_raw(),
        Layout::La8 => img.to_luma_alpha16().into_raw(),
        Layout::Rgb8 => img.to_rgb16().into_raw(),
        Layout::Rgba8 => img.to_rgba16().into_raw(),
    };
    let mut dst = vec![0u16; src.len()];
    if let Err(e) = t.transform(&src, &mut dst) {
        return Err((Samples::Deep(img), e));
    }
    let data = dst
        .iter()
        .map(|&v| ((u32::from(v) * 255 + 32767) / 65535) as u8)
        .collect();
    Ok(Pixels {
        width,
        height,
        layout,
        data,
    })
}

fn options() -> TransformOptions {
    TransformOptions {
        // What libvips, browsers and most viewers use: in-gamut colours
        // land exactly where the profile says.
        rendering_intent: RenderingIntent::RelativeColorimetric,
        ..TransformOptions::default()
    }
}

/// The sRGB destination for `kind`: gray stays gray, with the sRGB curve.
fn srgb_destination(kind: Kind) -> ColorProfile {
    let mut srgb = ColorProfile::new_srgb();
    if matches!(kind, Kind::Gray | Kind::GrayAlpha) {
        srgb.color_space = DataColorSpace::Gray;
        srgb.gray_trc = srgb.red_trc.clone();
    }
    srgb
}

/// The transform from `icc` (empty: sRGB) to `dest` (`None`: sRGB) for
/// samples of `kind`.
fn build_plan(icc: &[u8], kind: Kind, deep: bool, dest: Option<&ColorProfile>) -> Plan {
    let source = if icc.is_empty() {
        ColorProfile::new_srgb()
    } else {
        match ColorProfile::new_from_slice(icc) {
            Ok(p) => p,
            Err(e) => return Plan::Unusable(format!("unreadable ICC profile: {e}")),
        }
    };
    if source.color_space != kind.colour_space() {
        return Plan::Unusable(format!(
            "it is for {} images, this one is {}",
            space_name(source.color_space),
            space_name(kind.colour_space())
        ));
    }
    let dest = dest.cloned().unwrap_or_else(|| srgb_destination(kind));
    let (from, to) = kind.cms_layouts();
    let built = if deep {
        source
            .create_transform_16bit(from, &dest, to, options())
            .map(Plan::Sixteen)
    } else {
        source
            .create_transform_8bit(from, &dest, to, options())
            .map(Plan::Eight)
    };
    match built {
        Ok(plan) if kind != Kind::Cmyk && is_identity(&source, kind, &dest) => {
            drop(plan);
            Plan::Identity
        }
        Ok(plan) => plan,
        Err(e) => Plan::Unusable(format!("cannot convert from it: {e}")),
    }
}

fn space_name(space: DataColorSpace) -> String {
    match space {
        DataColorSpace::Gray => "greyscale".into(),
        DataColorSpace::Rgb => "RGB".into(),
        DataColorSpace::Cmyk => "CMYK".into(),
        other => format!("{other:?}"),
    }
}

/// Whether the profile maps a grid of colours to within one level of
/// themselves in `dest`: the same space by another name (sRGB v2, v4,
/// vendor copies; Display P3 from Apple or from moxcms).
fn is_identity(source: &ColorProfile, kind: Kind, dest: &ColorProfile) -> bool {
    let gray = matches!(kind, Kind::Gray | Kind::GrayAlpha);
    let (from, to) = if gray {
        (CmsLayout::Gray, CmsLayout::Gray)
    } else {
        (CmsLayout::Rgb, CmsLayout::Rgb)
    };
    let Ok(t) = source.create_transform_8bit(from, dest, to, options()) else {
        return false;
    };
    let steps: Vec<u8> = (0..=255u8).step_by(15).collect();
    let grid: Vec<u8> = if gray {
        (0..=255u8).collect()
    } else {
        let mut g = Vec::with_capacity(steps.len().pow(3) * 3);
        for &r in &steps {
            for &gr in &steps {
                for &b in &steps {
                    g.extend_from_slice(&[r, gr, b]);
                }
            }
        }
        g
    };
    let mut out = vec![0u8; grid.len()];
    if t.transform(&grid, &mut out).is_err() {
        return false;
    }
    grid.iter().zip(&out).all(|(&a, &b)| a.abs_diff(b) <= 1)
}

/// An ICC profile standing for what a PNG says about its colours without
/// one (`cICP`, or `gAMA` with `cHRM`); `None` when that is sRGB or
/// nothing, so those cost nothing downstream. Greyscale PNGs get a grey
/// profile: their samples have one channel, and only the curve matters.
pub(crate) fn png_profile(input: &[u8]) -> Option<Vec<u8>> {
    if !png_describes_colour(input) {
        return None;
    }
    let mut decoder = png::Decoder::new(std::io::Cursor::new(input));
    decoder.ignore_checksums(true);
    let reader = decoder.read_info().ok()?;
    png_info_profile(reader.info())
}

/// [`png_profile`] from a header already read.
pub(crate) fn png_info_profile(info: &png::Info<'_>) -> Option<Vec<u8>> {
    if info.icc_profile.is_some() {
        return None;
    }
    let gray = matches!(
        info.color_type,
        png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha
    );
    if let Some(c) = info.coding_independent_code_points {
        let cicp = Cicp {
            primaries: c.color_primaries,
            transfer: c.transfer_function,
            matrix: c.matrix_coefficients,
            full_range: c.is_video_full_range_image,
        };
        return cicp_profile(cicp, gray);
    }
    if info.srgb.is_some() {
        return None;
    }
    let gamma = info.gama_chunk.map(|g| g.into_value());
    if gray {
        return gray_gamma_profile(gamma);
    }
    gamma_profile(gamma, info.chrm_chunk)
}

/// The transfers [`cicp_profile`] turns into a tone curve: the SDR ones.
/// PQ and HLG are HDR: mapping them to sRGB needs tone mapping, not a
/// profile, so they stay unapplied (and the caller warns).
fn sdr_transfer(transfer: u8) -> bool {
    matches!(transfer, 1 | 2 | 4..=8 | 11..=15)
}

/// An ICC profile for H.273 colour code points (PNG `cICP`, HEIF `nclx`),
/// grey (only the transfer) or RGB; `None` when they describe sRGB (nothing
/// to do) or something no profile can stand for. An unspecified transfer
/// is taken as sRGB's, unspecified primaries as BT.709's: what viewers do.
/// The samples are RGB already (decoders apply the matrix), so the profile
/// says so.
pub(crate) fn cicp_profile(cicp: Cicp, gray: bool) -> Option<Vec<u8>> {
    if cicp.is_srgb_like() || !sdr_transfer(cicp.transfer) {
        return None;
    }
    let or = |v: u8, unspecified: u8| if v == 2 { unspecified } else { v };
    let primaries = moxcms::CicpColorPrimaries::try_from(or(cicp.primaries, 1)).ok()?;
    let transfer = moxcms::TransferCharacteristics::try_from(or(cicp.transfer, 13)).ok()?;
    let curve = moxcms::ToneReprCurve::try_from(transfer).ok()?;
    if gray {
        return gray_profile(curve).encode().ok();
    }
    let mut profile = ColorProfile::new_from_cicp(moxcms::CicpProfile {
        color_primaries: primaries,
        transfer_characteristics: transfer,
        matrix_coefficients: moxcms::MatrixCoefficients::Identity,
        full_range: true,
    });
    // Build the transform from the curves and matrix above, never from
    // the code points again (moxcms may prefer them when it reads a cicp
    // tag back).
    profile.cicp = None;
    // No curve means moxcms could not describe these code points.
    profile.red_trc.as_ref()?;
    profile.encode().ok()
}

/// A grey profile with `curve` (sample to linear light) and a D50 white,
/// as ICC grey profiles are.
fn gray_profile(curve: moxcms::ToneReprCurve) -> ColorProfile {
    let mut profile = ColorProfile::new_gray_with_gamma(1.0);
    profile.gray_trc = Some(curve);
    profile
}

/// A PNG file gamma `g` says sample = linear^g, so linear = sample^(1/g):
/// a pure power curve, stored parametric (16 fraction bits: exact enough
/// for 16-bit samples, where a `curv` gamma's 8 bits are not).
fn gamma_curve(g: f32) -> moxcms::ToneReprCurve {
    moxcms::ToneReprCurve::Parametric(vec![1.0 / g])
}

/// A file gamma near 1/2.2 is sRGB as every viewer shows it (and as
/// libvips reads it).
fn near_srgb_gamma(g: f32) -> bool {
    (g - 1.0 / 2.2).abs() < 0.01
}

/// A greyscale PNG's `gAMA` as a grey profile (`cHRM` says nothing about
/// grey: relative colorimetric maps its white to sRGB's).
fn gray_gamma_profile(gamma: Option<f32>) -> Option<Vec<u8>> {
    let g = gamma.filter(|g| *g > 0.0 && !near_srgb_gamma(*g))?;
    gray_profile(gamma_curve(g)).encode().ok()
}

/// An RGB PNG's file gamma near 1/2.2 with no chromaticities, or sRGB's,
/// is sRGB.
fn gamma_profile(gamma: Option<f32>, chroma: Option<png::SourceChromaticities>) -> Option<Vec<u8>> {
    if gamma.is_none_or(near_srgb_gamma) && chroma.as_ref().is_none_or(srgb_primaries) {
        return None;
    }
    let mut profile = ColorProfile::new_srgb();
    profile.cicp = None;
    if let Some(g) = gamma.filter(|g| *g > 0.0) {
        let curve = gamma_curve(g);
        profile.red_trc = Some(curve.clone());
        profile.green_trc = Some(curve.clone());
        profile.blue_trc = Some(curve);
    }
    if let Some(c) = chroma {
        let xy = |p: (png::ScaledFloat, png::ScaledFloat)| {
            moxcms::Chromaticity::new(p.0.into_value(), p.1.into_value())
        };
        let white = xy(c.white).to_xyyb();
        profile.update_rgb_colorimetry(
            white,
            moxcms::ColorPrimaries {
                red: xy(c.red),
                green: xy(c.green),
                blue: xy(c.blue),
            },
        );
    }
    profile.encode().ok()
}

fn srgb_primaries(c: &png::SourceChromaticities) -> bool {
    let near = |p: (png::ScaledFloat, png::ScaledFloat), x: f32, y: f32| {
        (p.0.into_value() - x).abs() < 0.01 && (p.1.into_value() - y).abs() < 0.01
    };
    near(c.white, 0.3127, 0.3290)
        && near(c.red, 0.64, 0.33)
        && near(c.green, 0.30, 0.60)
        && near(c.blue, 0.15, 0.06)
}

/// Whether the chunks before the image data include `gAMA`, `cHRM` or
/// `cICP`: most PNGs have none, and then the header is not parsed twice.
fn png_describes_colour(input: &[u8]) -> bool {
    let mut at = 8;
    while let Some(head) = input.get(at..at + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        match &head[4..8] {
            b"gAMA" | b"cHRM" | b"cICP" => return true,
            b"IDAT" | b"IEND" => return false,
            _ => at = at.saturating_add(12).saturating_add(len),
        }
    }
    false
}
