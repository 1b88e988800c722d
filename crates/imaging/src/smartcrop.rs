//! Where `--fit cover` cuts its window out of an image already shrunk to
//! cover the box: a fixed gravity, the busiest region (`entropy`) or the
//! region a viewer looks at first (`attention`), after libvips's
//! definitions of the same names.
//!
//! The image handed in is the shrunk one (a few hundred pixels a side for a
//! thumbnail), so the search costs little next to decoding.

use crate::pixels::{Layout, Pixels};
use serde::{Deserialize, Serialize};

/// Which part of the image `--fit cover` keeps (`--crop`, `--gravity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crop {
    /// The middle (the default).
    #[default]
    Centre,
    /// The top edge, centred across.
    North,
    /// The bottom edge, centred across.
    South,
    /// The right edge, centred down.
    East,
    /// The left edge, centred down.
    West,
    /// The top right corner.
    Northeast,
    /// The top left corner.
    Northwest,
    /// The bottom right corner.
    Southeast,
    /// The bottom left corner.
    Southwest,
    /// The busiest region: edges are trimmed, a slice at a time, from
    /// whichever side has the lower entropy.
    Entropy,
    /// The region with the most skin tones, saturated colour and edges.
    Attention,
}

impl Crop {
    /// Whether this is the default (centre) crop.
    pub fn is_centre(&self) -> bool {
        *self == Crop::Centre
    }

    /// The name the command line and records use.
    pub fn name(self) -> &'static str {
        match self {
            Crop::Centre => "centre",
            Crop::North => "north",
            Crop::South => "south",
            Crop::East => "east",
            Crop::West => "west",
            Crop::Northeast => "northeast",
            Crop::Northwest => "northwest",
            Crop::Southeast => "southeast",
            Crop::Southwest => "southwest",
            Crop::Entropy => "entropy",
            Crop::Attention => "attention",
        }
    }
}

/// The part of an input a `cover` fit kept, in the input's pixels as
/// displayed (after its EXIF orientation): what records report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropWindow {
    /// The left edge.
    pub x: u32,
    /// The top edge.
    pub y: u32,
    /// The width.
    pub width: u32,
    /// The height.
    pub height: u32,
}

/// The top left corner of the `w`x`h` window `crop` keeps in `px`.
pub(crate) fn place(px: &Pixels, (w, h): (u32, u32), crop: Crop) -> (u32, u32) {
    let (w, h) = (w.min(px.width), h.min(px.height));
    let (free_x, free_y) = (px.width - w, px.height - h);
    let (cx, cy) = (free_x / 2, free_y / 2);
    match crop {
        Crop::Centre => (cx, cy),
        Crop::North => (cx, 0),
        Crop::South => (cx, free_y),
        Crop::East => (free_x, cy),
        Crop::West => (0, cy),
        Crop::Northeast => (free_x, 0),
        Crop::Northwest => (0, 0),
        Crop::Southeast => (free_x, free_y),
        Crop::Southwest => (0, free_y),
        Crop::Entropy => entropy(&Analysed::new(px), (w, h)),
        Crop::Attention => attention(&Analysed::new(px), (w, h)),
    }
}

/// The image as the searches read it: RGB with alpha premultiplied (what
/// is transparent holds nothing of interest), or one grey channel.
struct Analysed {
    width: usize,
    height: usize,
    /// 1 (grey) or 3 (RGB).
    bands: usize,
    data: Vec<u8>,
}

impl Analysed {
    fn new(px: &Pixels) -> Analysed {
        let channels = px.layout.channels();
        let bands = if matches!(px.layout, Layout::L8 | Layout::La8) {
            1
        } else {
            3
        };
        let data = if px.layout.has_alpha() {
            let mut out = Vec::with_capacity(px.data.len() / channels * bands);
            for p in px.data.chunks_exact(channels) {
                let a = u32::from(p[channels - 1]);
                out.extend(
                    p[..bands]
                        .iter()
                        .map(|&v| ((u32::from(v) * a + 127) / 255) as u8),
                );
            }
            out
        } else {
            px.data.clone()
        };
        Analysed {
            width: px.width as usize,
            height: px.height as usize,
            bands,
            data,
        }
    }

    /// Shannon entropy, in bits, of the rectangle `x, y, w, h`: of one
    /// histogram per band, normalised together (as libvips's
    /// `hist_entropy` of a multi-band `hist_find`).
    fn entropy(&self, (x, y, w, h): (usize, usize, usize, usize)) -> f64 {
        let mut hist = [0u32; 3 * 256];
        for row in y..y + h {
            let start = (row * self.width + x) * self.bands;
            let pixels = self.data[start..start + w * self.bands].chunks_exact(self.bands);
            for px in pixels {
                for (band, &v) in px.iter().enumerate() {
                    hist[band * 256 + usize::from(v)] += 1;
                }
            }
        }
        let total = (w * h * self.bands) as f64;
        if total == 0.0 {
            return 0.0;
        }
        hist.iter()
            .filter(|&&n| n > 0)
            .map(|&n| {
                let p = f64::from(n) / total;
                -p * p.log2()
            })
            .sum()
    }
}

/// Trims the image to `w`x`h` in about eight steps per axis, each step
/// cutting a slice off whichever end (left or right, top or bottom) has
/// the lower entropy.
fn entropy(img: &Analysed, (w, h): (u32, u32)) -> (u32, u32) {
    let (tw, th) = (w as usize, h as usize);
    let (mut left, mut top) = (0usize, 0usize);
    let (mut width, mut height) = (img.width, img.height);
    let step = (img.width - tw)
        .div_ceil(8)
        .max((img.height - th).div_ceil(8));
    while width > tw || height > th {
        let slice_w = (width - tw).min(step);
        if slice_w > 0 {
            let l = img.entropy((left, top, slice_w, height));
            let r = img.entropy((left + width - slice_w, top, slice_w, height));
            width -= slice_w;
            if l < r {
                left += slice_w;
            }
        }
        let slice_h = (height - th).min(step);
        if slice_h > 0 {
            let t = img.entropy((left, top, width, slice_h));
            let b = img.entropy((left, top + height - slice_h, width, slice_h));
            height -= slice_h;
            if t < b {
                top += slice_h;
            }
        }
    }
    (left as u32, top as u32)
}

/// The side of the coarse grid the attention search scores: it sets how
/// finely the window can be placed (libvips uses the same).
const GRID: usize = 32;

/// The unit skin direction in CIE XYZ (smartcrop.js's skin colour).
const SKIN: [f64; 3] = [0.78, 0.57, 0.44];

/// Scores a `GRID`x`GRID` reduction of the image for edges (a Laplacian of
/// luminance), skin tones (closeness of the colour's direction in XYZ to
/// [`SKIN`]) and saturation (CIELAB a*, red against green), ignoring dark
/// areas for the last two; blurs the sum over about a tenth of the window
/// and centres the window on the peak.
fn attention(img: &Analysed, (w, h): (u32, u32)) -> (u32, u32) {
    let cells = reduce(img);
    let xyz: Vec<[f64; 3]> = cells.iter().map(|&rgb| to_xyz(rgb)).collect();
    let at = |x: isize, y: isize| -> f64 {
        let x = x.clamp(0, GRID as isize - 1) as usize;
        let y = y.clamp(0, GRID as isize - 1) as usize;
        xyz[y * GRID + x][1]
    };
    let mut score = vec![0.0f64; GRID * GRID];
    for y in 0..GRID {
        for x in 0..GRID {
            let (xi, yi) = (x as isize, y as isize);
            let lap = 4.0 * at(xi, yi)
                - at(xi - 1, yi)
                - at(xi + 1, yi)
                - at(xi, yi - 1)
                - at(xi, yi + 1);
            let edge = (5.0 * lap.round()).abs();
            let c = xyz[y * GRID + x];
            let (skin, saturation) = if c[1] > 5.0 {
                let norm = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt().max(1e-9);
                let d = (0..3)
                    .map(|i| (c[i] / norm - SKIN[i]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                (100.0 - 100.0 * d, lab_a(c))
            } else {
                (0.0, 0.0)
            };
            score[y * GRID + x] = edge + skin + saturation;
        }
    }
    let (sx, sy) = (
        GRID as f64 / img.width as f64,
        GRID as f64 / img.height as f64,
    );
    // Not f64::hypot: glibc versions hypot at 2.35, above the wheel's
    // manylinux_2_34 floor, and these values are far from overflow.
    let (dx, dy) = (f64::from(w) * sx, f64::from(h) * sy);
    let sigma = ((dx * dx + dy * dy).sqrt() / 10.0).max(1.0);
    let blurred = blur(&score, sigma);
    let (mut best, mut at_best) = (f64::NEG_INFINITY, (0usize, 0usize));
    for (i, &v) in blurred.iter().enumerate() {
        if v > best {
            best = v;
            at_best = (i % GRID, i / GRID);
        }
    }
    let ax = (at_best.0 as f64 / sx) as i64;
    let ay = (at_best.1 as f64 / sy) as i64;
    let left = (ax - i64::from(w) / 2).clamp(0, img.width as i64 - i64::from(w));
    let top = (ay - i64::from(h) / 2).clamp(0, img.height as i64 - i64::from(h));
    (left as u32, top as u32)
}

/// The image averaged down to `GRID`x`GRID` cells (each cell the mean of
/// the pixels whose centres fall in it; stretched when the image is
/// smaller), as RGB in 0–255.
fn reduce(img: &Analysed) -> Vec<[f64; 3]> {
    let mut sums = vec![[0.0f64; 4]; GRID * GRID];
    for y in 0..img.height {
        let cy = y * GRID / img.height;
        for x in 0..img.width {
            let cx = x * GRID / img.width;
            let p = (y * img.width + x) * img.bands;
            let cell = &mut sums[cy * GRID + cx];
            for (c, slot) in cell.iter_mut().take(3).enumerate() {
                *slot += f64::from(img.data[p + if img.bands == 1 { 0 } else { c }]);
            }
            cell[3] += 1.0;
        }
    }
    // Cells no pixel landed in (an image under GRID a side) take the
    // nearest pixel's colour.
    (0..GRID * GRID)
        .map(|i| {
            let s = sums[i];
            if s[3] > 0.0 {
                [s[0] / s[3], s[1] / s[3], s[2] / s[3]]
            } else {
                let (x, y) = (i % GRID, i / GRID);
                let px = (x * img.width / GRID).min(img.width - 1);
                let py = (y * img.height / GRID).min(img.height - 1);
                let p = (py * img.width + px) * img.bands;
                let v = |c: usize| f64::from(img.data[p + if img.bands == 1 { 0 } else { c }]);
                [v(0), v(1), v(2)]
            }
        })
        .collect()
}

/// sRGB (0–255) to CIE XYZ under D65, with white at Y = 100.
fn to_xyz([r, g, b]: [f64; 3]) -> [f64; 3] {
    let lin = |v: f64| {
        let v = v / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = (lin(r), lin(g), lin(b));
    [
        100.0 * (0.4124 * r + 0.3576 * g + 0.1805 * b),
        100.0 * (0.2126 * r + 0.7152 * g + 0.0722 * b),
        100.0 * (0.0193 * r + 0.1192 * g + 0.9505 * b),
    ]
}

/// CIELAB a* of an XYZ colour (D65 white).
fn lab_a([x, y, _]: [f64; 3]) -> f64 {
    let f = |t: f64| {
        if t > 216.0 / 24389.0 {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    500.0 * (f(x / 95.047) - f(y / 100.0))
}

/// A Gaussian blur of the grid, edges extended, its kernel cut where it
/// falls below a fifth of its peak (libvips's `gaussblur` default).
fn blur(grid: &[f64], sigma: f64) -> Vec<f64> {
    let radius = (sigma * (2.0 * 5f64.ln()).sqrt()).floor() as isize;
    let kernel: Vec<f64> = (-radius..=radius)
        .map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = kernel.iter().sum();
    let pass = |src: &[f64], horizontal: bool| -> Vec<f64> {
        let mut out = vec![0.0; GRID * GRID];
        for y in 0..GRID {
            for x in 0..GRID {
                let mut acc = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let d = k as isize - radius;
                    let (sx, sy) = if horizontal {
                        ((x as isize + d).clamp(0, GRID as isize - 1) as usize, y)
                    } else {
                        (x, (y as isize + d).clamp(0, GRID as isize - 1) as usize)
                    };
                    acc += weight * src[sy * GRID + sx];
                }
                out[y * GRID + x] = acc / total;
            }
        }
        out
    };
    pass(&pass(grid, true), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey `w`x`h` image with a `size`-pixel square of `colour` at
    /// `(x, y)`.
    fn with_square(w: u32, h: u32, (x, y, size): (u32, u32, u32), colour: [u8; 3]) -> Pixels {
        let mut data = vec![128u8; (w * h * 3) as usize];
        for row in y..y + size {
            for col in x..x + size {
                let p = ((row * w + col) * 3) as usize;
                data[p..p + 3].copy_from_slice(&colour);
            }
        }
        Pixels {
            width: w,
            height: h,
            layout: Layout::Rgb8,
            data,
        }
    }

    /// A grey image with noise (high entropy) in one region.
    fn with_noise(w: u32, h: u32, (x, y, size): (u32, u32, u32)) -> Pixels {
        let mut px = with_square(w, h, (0, 0, 0), [0, 0, 0]);
        let mut state = 0x2545_f491_u32;
        for row in y..y + size {
            for col in x..x + size {
                for c in 0..3 {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    px.data[((row * w + col) * 3 + c) as usize] = state as u8;
                }
            }
        }
        px
    }

    fn contains(left: u32, top: u32, (w, h): (u32, u32), (x, y, size): (u32, u32, u32)) -> bool {
        left <= x && top <= y && left + w >= x + size && top + h >= y + size
    }

    #[test]
    fn gravities_put_the_window_at_their_edge() {
        let px = with_square(300, 200, (0, 0, 0), [0, 0, 0]);
        let win = (100, 100);
        assert_eq!(place(&px, win, Crop::Centre), (100, 50));
        assert_eq!(place(&px, win, Crop::North), (100, 0));
        assert_eq!(place(&px, win, Crop::South), (100, 100));
        assert_eq!(place(&px, win, Crop::East), (200, 50));
        assert_eq!(place(&px, win, Crop::West), (0, 50));
        assert_eq!(place(&px, win, Crop::Northeast), (200, 0));
        assert_eq!(place(&px, win, Crop::Northwest), (0, 0));
        assert_eq!(place(&px, win, Crop::Southeast), (200, 100));
        assert_eq!(place(&px, win, Crop::Southwest), (0, 100));
    }

    #[test]
    fn entropy_keeps_the_busy_region_wherever_it_is() {
        for &(x, y) in &[(10, 10), (300, 20), (150, 120), (330, 130)] {
            let square = (x, y, 60);
            let px = with_noise(400, 200, square);
            let (left, top) = place(&px, (200, 200), Crop::Entropy);
            assert!(
                contains(left, top, (200, 200), square),
                "noise at {x},{y}: window at {left},{top}"
            );
        }
        // Tall images are searched down the other axis.
        let square = (20, 320, 50);
        let px = with_noise(100, 400, square);
        let (left, top) = place(&px, (100, 100), Crop::Entropy);
        assert_eq!(left, 0);
        assert!(contains(left, top, (100, 100), square), "top {top}");
    }

    #[test]
    fn attention_finds_a_skin_toned_or_saturated_subject() {
        // A skin tone and a saturated red, each on a flat grey field, at
        // either end of a wide image.
        for colour in [[224u8, 172, 138], [220, 30, 30]] {
            for &x in &[20u32, 520] {
                let square = (x, 120, 60);
                let px = with_square(600, 300, square, colour);
                let (left, top) = place(&px, (300, 300), Crop::Attention);
                assert_eq!(top, 0);
                assert!(
                    contains(left, top, (300, 300), square),
                    "{colour:?} at {x}: window at {left}"
                );
            }
        }
    }

    #[test]
    fn transparent_regions_hold_nothing_of_interest() {
        // Noise that is fully transparent on the left; a small opaque
        // textured patch on the right.
        let (w, h) = (400u32, 100u32);
        let noisy = with_noise(w, h, (0, 0, 100));
        let mut data = Vec::new();
        for (i, p) in noisy.data.chunks_exact(3).enumerate() {
            let x = i as u32 % w;
            let opaque = x >= 300 && (x / 4) % 2 == 0;
            let (rgb, a) = if x < 100 {
                ([p[0], p[1], p[2]], 0)
            } else if opaque {
                ([250, 250, 250], 255)
            } else {
                ([10, 10, 10], 255)
            };
            data.extend_from_slice(&rgb);
            data.push(a);
        }
        let px = Pixels {
            width: w,
            height: h,
            layout: Layout::Rgba8,
            data,
        };
        let (left, _) = place(&px, (100, 100), Crop::Entropy);
        assert!(left >= 200, "window at {left}");
    }

    #[test]
    fn tiny_and_exact_images_give_valid_windows() {
        let px = with_square(5, 3, (0, 0, 1), [255, 0, 0]);
        for crop in [Crop::Entropy, Crop::Attention, Crop::Southeast] {
            let (l, t) = place(&px, (2, 3), crop);
            assert!(l + 2 <= 5 && t == 0, "{crop:?}: {l},{t}");
            assert_eq!(place(&px, (5, 3), crop), (0, 0));
        }
        let grey = Pixels {
            width: 40,
            height: 10,
            layout: Layout::L8,
            data: (0..400)
                .map(|i| if i % 40 > 30 { (i * 7) as u8 } else { 9 })
                .collect(),
        };
        let (l, _) = place(&grey, (10, 10), Crop::Entropy);
        assert!(l >= 21, "window at {l}");
        let (l, _) = place(&grey, (10, 10), Crop::Attention);
        assert!(l + 10 <= 40);
    }
}
