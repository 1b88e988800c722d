//! Box pre-reduction: averages `factor`×`factor` blocks of rows as they
//! arrive, so an image reduced a lot never needs its full-size buffer, and
//! the final convolution runs on a few pixels instead of millions.
//!
//! Alpha is premultiplied while averaging (as the resizer does), so fully
//! transparent pixels do not lend their colour to the block.

/// Accumulates rows of 8- or 16-bit samples into a reduced image.
pub(crate) struct BoxShrink {
    factor: usize,
    width: usize,
    channels: usize,
    alpha: bool,
    out_width: usize,
    /// Per output column: a sum per channel (colour sums weighted by alpha
    /// when there is alpha).
    sums: Vec<u64>,
    /// Pixels summed per output column in the current band.
    counts: Vec<u64>,
    rows_in_band: usize,
    /// Finished output rows, one sample per `u16` (8-bit values stay < 256).
    out: Vec<u16>,
    out_height: usize,
}

impl BoxShrink {
    /// A reducer of `width`-pixel rows of `channels` samples (the last one
    /// alpha when `alpha`) by `factor` on each axis.
    pub(crate) fn new(width: u32, factor: u32, channels: usize, alpha: bool) -> BoxShrink {
        let factor = factor.max(1) as usize;
        let width = width as usize;
        let out_width = width.div_ceil(factor);
        BoxShrink {
            factor,
            width,
            channels,
            alpha,
            out_width,
            sums: vec![0; out_width * channels],
            counts: vec![0; out_width],
            rows_in_band: 0,
            out: Vec::new(),
            out_height: 0,
        }
    }

    /// Adds one row of 8-bit samples.
    pub(crate) fn push_row_u8(&mut self, row: &[u8]) {
        match (self.alpha, self.channels) {
            // Opaque grey and RGB (most photos): each block summed in
            // registers, without the per-sample closure and bounds checks.
            (false, 1) => self.sum_opaque_u8::<1>(row),
            (false, 3) => self.sum_opaque_u8::<3>(row),
            _ => return self.push_row(row, |r, i| u64::from(r[i]), 255),
        }
        self.end_row(255);
    }

    fn sum_opaque_u8<const CH: usize>(&mut self, row: &[u8]) {
        let row = &row[..self.width * CH];
        let blocks = row.chunks(self.factor * CH);
        let columns = self.sums.chunks_exact_mut(CH).zip(self.counts.iter_mut());
        for ((sums, count), block) in columns.zip(blocks) {
            // At most `factor` samples of 255 per channel: no overflow.
            let mut acc = [0u32; CH];
            for px in block.chunks_exact(CH) {
                for (a, &v) in acc.iter_mut().zip(px) {
                    *a += u32::from(v);
                }
            }
            for (sum, a) in sums.iter_mut().zip(acc) {
                *sum += u64::from(a);
            }
            *count += (block.len() / CH) as u64;
        }
    }

    /// Adds one row of 16-bit big-endian samples (as PNG stores them).
    pub(crate) fn push_row_u16_be(&mut self, row: &[u8]) {
        self.push_row(
            row,
            |r, i| u64::from(u16::from_be_bytes([r[2 * i], r[2 * i + 1]])),
            65535,
        );
    }

    fn push_row(&mut self, row: &[u8], sample: impl Fn(&[u8], usize) -> u64, max: u64) {
        let ch = self.channels;
        for (col, (sums, count)) in self
            .sums
            .chunks_exact_mut(ch)
            .zip(self.counts.iter_mut())
            .enumerate()
        {
            let start = col * self.factor;
            let end = (start + self.factor).min(self.width);
            for x in start..end {
                let base = x * ch;
                if self.alpha {
                    let a = sample(row, base + ch - 1);
                    for (c, sum) in sums[..ch - 1].iter_mut().enumerate() {
                        *sum += sample(row, base + c) * a;
                    }
                    sums[ch - 1] += a;
                } else {
                    for (c, sum) in sums.iter_mut().enumerate() {
                        *sum += sample(row, base + c);
                    }
                }
            }
            *count += (end - start) as u64;
        }
        self.end_row(max);
    }

    fn end_row(&mut self, max: u64) {
        self.rows_in_band += 1;
        if self.rows_in_band == self.factor {
            self.emit_band(max);
        }
    }

    /// Turns the sums of the current band into one output row.
    fn emit_band(&mut self, max: u64) {
        let ch = self.channels;
        self.out.reserve(self.out_width * ch);
        for (sums, count) in self.sums.chunks_exact_mut(ch).zip(self.counts.iter_mut()) {
            let n = (*count).max(1);
            if self.alpha {
                let alpha_sum = sums[ch - 1];
                for sum in &sums[..ch - 1] {
                    // Un-premultiply: the alpha-weighted mean colour.
                    let v = (sum + alpha_sum / 2).checked_div(alpha_sum).unwrap_or(0);
                    self.out.push(v.min(max) as u16);
                }
                self.out.push(((alpha_sum + n / 2) / n).min(max) as u16);
            } else {
                for sum in sums.iter() {
                    self.out.push(((sum + n / 2) / n).min(max) as u16);
                }
            }
            sums.iter_mut().for_each(|s| *s = 0);
            *count = 0;
        }
        self.rows_in_band = 0;
        self.out_height += 1;
    }

    /// The reduced image (width, height, samples); a last band shorter
    /// than `factor` rows is averaged over the rows it has.
    pub(crate) fn finish(mut self, max: u64) -> (u32, u32, Vec<u16>) {
        if self.rows_in_band > 0 {
            self.emit_band(max);
        }
        (self.out_width as u32, self.out_height as u32, self.out)
    }
}

/// How far, in pixels at the `need` resolution, the reduced image's far
/// edge strays when `len` is not a multiple of `factor` (the last block is
/// partial, yet the resize treats it as a whole pixel).
fn edge_error(len: u32, factor: u32, need: u32) -> f64 {
    let covered = len.div_ceil(factor) * factor;
    f64::from(need) * f64::from(covered - len) / f64::from(len)
}

/// Most a reduced image's edge may stray, in pixels at the `need`
/// resolution (a twentieth of an output pixel at the usual 2x margin):
/// more visibly shifts fine detail against the full decode.
const MAX_EDGE_ERROR: f64 = 0.1;

/// The largest whole box factor that still leaves at least `need_w`x`need_h`
/// of a `w`x`h` image and keeps the geometry true (see [`MAX_EDGE_ERROR`]);
/// 1 when no reduction is possible.
pub(crate) fn factor(w: u32, h: u32, need_w: u32, need_h: u32) -> u32 {
    let most = (w / need_w.max(1)).min(h / need_h.max(1));
    (2..=most)
        .rev()
        .find(|&f| {
            edge_error(w, f, need_w) <= MAX_EDGE_ERROR && edge_error(h, f, need_h) <= MAX_EDGE_ERROR
        })
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_blocks_and_keeps_partial_edges() {
        // 5x3 gray, factor 2: blocks of 2x2, 2x2, 1x2, then a last band of
        // one row.
        let rows: [[u8; 5]; 3] = [[0, 2, 10, 20, 7], [4, 6, 30, 40, 9], [100, 100, 50, 50, 1]];
        let mut s = BoxShrink::new(5, 2, 1, false);
        for r in &rows {
            s.push_row_u8(r);
        }
        let (w, h, out) = s.finish(255);
        assert_eq!((w, h), (3, 2));
        assert_eq!(out, vec![3, 25, 8, 100, 50, 1]);
    }

    #[test]
    fn rgb_averages_as_the_same_pixels_fully_opaque() {
        // 7x5 RGB, factor 3: partial blocks on the right and at the bottom.
        let (w, h) = (7usize, 5usize);
        let sample = |x: usize, y: usize, c: usize| ((x * 37 + y * 91 + c * 53) % 256) as u8;
        let mut rgb = BoxShrink::new(w as u32, 3, 3, false);
        let mut rgba = BoxShrink::new(w as u32, 3, 4, true);
        for y in 0..h {
            let row: Vec<u8> = (0..w * 3).map(|i| sample(i / 3, y, i % 3)).collect();
            let opaque: Vec<u8> = (0..w * 4)
                .map(|i| {
                    if i % 4 == 3 {
                        255
                    } else {
                        sample(i / 4, y, i % 4)
                    }
                })
                .collect();
            rgb.push_row_u8(&row);
            rgba.push_row_u8(&opaque);
        }
        let (w3, h3, out3) = rgb.finish(255);
        let (w4, h4, out4) = rgba.finish(255);
        assert_eq!((w3, h3), (3, 2));
        assert_eq!((w4, h4), (3, 2));
        let colours: Vec<u16> = out4.chunks_exact(4).flat_map(|p| p[..3].to_vec()).collect();
        assert_eq!(out3, colours);
        // The corner block is the one pixel (6, 3) and (6, 4): a mean of two.
        let corner = (u16::from(sample(6, 3, 0)) + u16::from(sample(6, 4, 0))).div_ceil(2);
        assert_eq!(out3[3 * 5], corner);
    }

    #[test]
    fn transparent_pixels_lend_no_colour() {
        // One opaque red pixel and three transparent green ones.
        let row1 = [255, 0, 0, 255, 0, 255, 0, 0];
        let row2 = [0, 255, 0, 0, 0, 255, 0, 0];
        let mut s = BoxShrink::new(2, 2, 4, true);
        s.push_row_u8(&row1);
        s.push_row_u8(&row2);
        let (_, _, out) = s.finish(255);
        assert_eq!(out, vec![255, 0, 0, 64]);
    }

    #[test]
    fn sixteen_bit_rows_are_big_endian() {
        let mut s = BoxShrink::new(2, 2, 1, false);
        s.push_row_u16_be(&[0x12, 0x34, 0x12, 0x36]);
        s.push_row_u16_be(&[0x12, 0x34, 0x12, 0x36]);
        let (_, _, out) = s.finish(65535);
        assert_eq!(out, vec![0x1235]);
    }

    #[test]
    fn factor_keeps_the_needed_size() {
        // 17 would fit, but 9000 is not a multiple of it (nor of 16).
        assert_eq!(factor(9000, 9000, 512, 512), 15);
        assert_eq!(factor(9000, 4000, 512, 512), 5);
        // 14 leaves a last block one pixel short: that strays little.
        assert_eq!(factor(9001, 9001, 512, 512), 14);
        assert_eq!(factor(600, 600, 512, 512), 1);
    }
}
