//! An 8-bit RGB raster and the resampling the OCR pipeline needs.

use rayon::prelude::*;

/// Interleaved 8-bit RGB, row-major, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbImage({}x{})", self.width, self.height)
    }
}

impl RgbImage {
    /// `None` unless `data` holds exactly `width * height` RGB pixels.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Option<Self> {
        (width.checked_mul(height)?.checked_mul(3)? == data.len()).then_some(RgbImage { width, height, data })
    }

    pub fn filled(width: usize, height: usize, rgb: [u8; 3]) -> Self {
        RgbImage { width, height, data: rgb.iter().copied().cycle().take(width * height * 3).collect() }
    }

    #[inline]
    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Bilinear resize with pixel centres aligned (the convention of OpenCV's `INTER_LINEAR`,
    /// which the reference pipeline uses).
    pub fn resize(&self, width: usize, height: usize) -> RgbImage {
        let width = width.max(1);
        let height = height.max(1);
        if self.width == 0 || self.height == 0 {
            return RgbImage::filled(width, height, [0, 0, 0]);
        }
        let axis = |dst: usize, src: usize| -> Vec<(usize, usize, f32)> {
            let scale = src as f32 / dst as f32;
            (0..dst)
                .map(|d| {
                    let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
                    let i0 = (s.floor() as usize).min(src - 1);
                    let i1 = (i0 + 1).min(src - 1);
                    (i0, i1, if i0 == i1 { 0.0 } else { s - i0 as f32 })
                })
                .collect()
        };
        let xs = axis(width, self.width);
        let ys = axis(height, self.height);
        // Rows in parallel: a photo's page is millions of pixels, and the detector waits for it.
        let mut data = vec![0u8; width * height * 3];
        data.par_chunks_mut(width * 3).zip(&ys).for_each(|(row, &(y0, y1, fy))| {
            for (out, &(x0, x1, fx)) in row.chunks_exact_mut(3).zip(&xs) {
                let (a, b, c, d) = (self.pixel(x0, y0), self.pixel(x1, y0), self.pixel(x0, y1), self.pixel(x1, y1));
                for ch in 0..3 {
                    let top = a[ch] as f32 + (b[ch] as f32 - a[ch] as f32) * fx;
                    let bottom = c[ch] as f32 + (d[ch] as f32 - c[ch] as f32) * fx;
                    out[ch] = (top + (bottom - top) * fy).round().clamp(0.0, 255.0) as u8;
                }
            }
        });
        RgbImage { width, height, data }
    }

    pub fn rotate180(&self) -> RgbImage {
        let mut data = Vec::with_capacity(self.data.len());
        for px in self.data.chunks_exact(3).rev() {
            data.extend_from_slice(px);
        }
        RgbImage { width: self.width, height: self.height, data }
    }

    /// A quarter turn counter-clockwise (the top row becomes the left column, read bottom-up).
    pub fn rotate90_ccw(&self) -> RgbImage {
        let (w, h) = (self.height, self.width);
        let mut data = Vec::with_capacity(self.data.len());
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&self.pixel(self.width - 1 - y, x));
            }
        }
        RgbImage { width: w, height: h, data }
    }

    /// A quarter turn clockwise (the left column becomes the top row).
    pub fn rotate90_cw(&self) -> RgbImage {
        let (w, h) = (self.height, self.width);
        let mut data = Vec::with_capacity(self.data.len());
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&self.pixel(y, self.height - 1 - x));
            }
        }
        RgbImage { width: w, height: h, data }
    }

    /// Bilinear sample with the border replicated.
    #[inline]
    fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let x = x.clamp(0.0, (self.width - 1) as f32);
        let y = y.clamp(0.0, (self.height - 1) as f32);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let (a, b, c, d) = (self.pixel(x0, y0), self.pixel(x1, y0), self.pixel(x0, y1), self.pixel(x1, y1));
        let mut out = [0.0; 3];
        for ch in 0..3 {
            let top = a[ch] as f32 + (b[ch] as f32 - a[ch] as f32) * fx;
            let bottom = c[ch] as f32 + (d[ch] as f32 - c[ch] as f32) * fx;
            out[ch] = top + (bottom - top) * fy;
        }
        out
    }

    /// Map the quadrilateral `quad` (top-left, top-right, bottom-right, bottom-left) onto an upright
    /// `width`×`height` image by a perspective transform: the crop and deskew of one text line.
    pub fn warp_quad(&self, quad: &[[f32; 2]; 4], width: usize, height: usize) -> Option<RgbImage> {
        if self.width == 0 || self.height == 0 || width == 0 || height == 0 {
            return None;
        }
        // Homography from the output rectangle to the quadrilateral (inverse mapping).
        let (w, h) = (width as f32, height as f32);
        let h_mat = crate::geometry::homography(&[[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]], quad)?;
        let mut data = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                let (u, v) = (x as f32, y as f32);
                let den = h_mat[6] * u + h_mat[7] * v + 1.0;
                let sx = (h_mat[0] * u + h_mat[1] * v + h_mat[2]) / den;
                let sy = (h_mat[3] * u + h_mat[4] * v + h_mat[5]) / den;
                let px = self.sample(sx, sy);
                data.extend(px.iter().map(|c| c.round().clamp(0.0, 255.0) as u8));
            }
        }
        Some(RgbImage { width, height, data })
    }
    /// The `width`×`height` rectangle whose top left corner is (`x`, `y`), or `None` when it does
    /// not lie inside the image.
    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Option<RgbImage> {
        if x.checked_add(width)? > self.width || y.checked_add(height)? > self.height {
            return None;
        }
        let mut data = Vec::with_capacity(width * height * 3);
        for row in y..y + height {
            let start = (row * self.width + x) * 3;
            data.extend_from_slice(&self.data[start..start + width * 3]);
        }
        Some(RgbImage { width, height, data })
    }

    /// The smallest rectangle (`x0`, `y0`, `x1`, `y1`, inclusive) holding every row and column
    /// with at least two edges, an edge being a pixel whose brightness differs from its right and
    /// lower neighbours by more than `threshold` together; `None` for an image without any.
    /// Sensor noise and JPEG ringing stay far below a threshold of a few tens; the strokes of
    /// text, lines and paper borders do not.
    pub fn content_bounds(&self, threshold: u32) -> Option<(usize, usize, usize, usize)> {
        if self.width < 2 || self.height < 2 {
            return None;
        }
        let w = self.width;
        let gray: Vec<u32> =
            self.data.par_chunks(3 * w).flat_map_iter(|row| row.chunks_exact(3).map(|p| p[0] as u32 + p[1] as u32 + p[2] as u32)).collect();
        // Edges counted per row and per column; bands of rows in parallel, each with its own column counts.
        let mut rows = vec![0u32; self.height];
        let cols = rows[..self.height - 1]
            .par_iter_mut()
            .enumerate()
            .fold(
                || vec![0u32; w],
                |mut cols, (y, count)| {
                    let (row, below) = (&gray[y * w..][..w], &gray[(y + 1) * w..][..w]);
                    for x in 0..w - 1 {
                        if row[x].abs_diff(row[x + 1]) + row[x].abs_diff(below[x]) > 3 * threshold {
                            *count += 1;
                            cols[x] += 1;
                        }
                    }
                    cols
                },
            )
            .reduce(
                || vec![0u32; w],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                    a
                },
            );
        let span = |counts: &[u32]| Some((counts.iter().position(|c| *c >= 2)?, counts.iter().rposition(|c| *c >= 2)?));
        let ((x0, x1), (y0, y1)) = (span(&cols)?, span(&rows)?);
        Some((x0, y0, x1, y1))
    }

    /// Planar `[3, height, pad_width]` floats in the networks' channel order (blue, green, red: the
    /// reference pipeline feeds OpenCV's BGR), each `(v/255 - mean[c]) / std[c]`, zero beyond `width`.
    pub fn to_planes_bgr(&self, mean: [f32; 3], std: [f32; 3], pad_width: usize) -> Vec<f32> {
        let pad_width = pad_width.max(self.width);
        let plane = self.height * pad_width;
        let mut out = vec![0.0f32; 3 * plane];
        if plane == 0 {
            return out;
        }
        // Bands of rows of each plane in parallel (plane c holds source channel 2 - c).
        out.par_chunks_mut(pad_width).enumerate().with_min_len(16).for_each(|(row_index, out)| {
            let (c, y) = (row_index / self.height, row_index % self.height);
            let source = &self.data[y * self.width * 3..][..self.width * 3];
            for (o, px) in out.iter_mut().zip(source.chunks_exact(3)) {
                *o = (px[2 - c] as f32 / 255.0 - mean[c]) / std[c];
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_image_has_empty_planes() {
        assert!(RgbImage::new(0, 0, vec![]).unwrap().to_planes_bgr([0.5; 3], [0.5; 3], 0).is_empty());
        assert_eq!(RgbImage::new(0, 2, vec![]).unwrap().to_planes_bgr([0.5; 3], [0.5; 3], 3), vec![0.0; 18]);
    }

    fn gradient(w: usize, h: usize) -> RgbImage {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[(x * 10) as u8, (y * 10) as u8, 7]);
            }
        }
        RgbImage::new(w, h, data).unwrap()
    }

    #[test]
    fn new_rejects_a_buffer_of_the_wrong_size() {
        assert!(RgbImage::new(2, 2, vec![0; 11]).is_none());
        assert!(RgbImage::new(usize::MAX, 2, vec![]).is_none());
    }

    #[test]
    fn resize_to_the_same_size_is_the_identity_and_halving_averages_pairs() {
        let img = gradient(8, 6);
        assert_eq!(img.resize(8, 6), img);
        let half = img.resize(4, 3);
        // Output pixel 0 sits at source x = 0.5: halfway between 0 and 10.
        assert_eq!(half.pixel(0, 0), [5, 5, 7]);
        assert_eq!(half.pixel(3, 2), [65, 45, 7]);
    }

    #[test]
    fn quarter_turns_and_half_turns_compose() {
        let img = gradient(5, 3);
        let r = img.rotate90_ccw();
        assert_eq!((r.width, r.height), (3, 5));
        // The top-right pixel comes to the top-left.
        assert_eq!(r.pixel(0, 0), img.pixel(4, 0));
        assert_eq!(r.rotate90_ccw().rotate90_ccw().rotate90_ccw().rotate90_ccw(), r);
        assert_eq!(img.rotate90_cw().rotate90_ccw(), img);
        // The bottom-left pixel comes to the top-left.
        assert_eq!(img.rotate90_cw().pixel(0, 0), img.pixel(0, 2));
        assert_eq!(img.rotate180().rotate180(), img);
        assert_eq!(img.rotate180().pixel(0, 0), img.pixel(4, 2));
    }

    #[test]
    fn warping_an_axis_aligned_quad_is_a_crop() {
        let img = gradient(10, 8);
        let crop = img.warp_quad(&[[2.0, 1.0], [6.0, 1.0], [6.0, 4.0], [2.0, 4.0]], 4, 3).unwrap();
        for y in 0..3 {
            for x in 0..4 {
                assert_eq!(crop.pixel(x, y), img.pixel(x + 2, y + 1));
            }
        }
    }

    #[test]
    fn content_bounds_hold_every_stroke_and_ignore_faint_noise() {
        let mut img = RgbImage::filled(200, 100, [240, 240, 240]);
        // Faint noise everywhere: a few levels, as a scanner's.
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = (*v as usize - (i * 7919 % 5)) as u8;
        }
        assert_eq!(img.content_bounds(32), None);
        // Two dark strokes: a short word and a dot far from it.
        for y in 30..40 {
            for x in 50..90 {
                let i = (y * 200 + x) * 3;
                img.data[i..i + 3].copy_from_slice(&[20, 20, 20]);
            }
        }
        for y in 70..73 {
            for x in 150..153 {
                let i = (y * 200 + x) * 3;
                img.data[i..i + 3].copy_from_slice(&[60, 60, 60]);
            }
        }
        let (x0, y0, x1, y1) = img.content_bounds(32).unwrap();
        assert!(x0 <= 50 && y0 <= 30 && x1 >= 152 && y1 >= 72, "{:?}", (x0, y0, x1, y1));
        assert!(x0 >= 48 && y0 >= 28 && x1 <= 153 && y1 <= 73, "{:?}", (x0, y0, x1, y1));
        let crop = img.crop(x0, y0, x1 - x0 + 1, y1 - y0 + 1).unwrap();
        assert_eq!(crop.pixel(50 - x0, 30 - y0), [20, 20, 20]);
        assert_eq!(img.crop(150, 0, 51, 10), None);
    }

    #[test]
    fn planes_are_blue_green_red_and_padded_with_zero() {
        let img = RgbImage::new(1, 1, vec![255, 0, 51]).unwrap();
        let planes = img.to_planes_bgr([0.0; 3], [1.0; 3], 2);
        assert_eq!(planes, vec![0.2, 0.0, 0.0, 0.0, 1.0, 0.0]);
    }
}
