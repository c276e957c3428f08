//! Text-box geometry: turning the detector's probability map into text-line quadrilaterals
//! (DB post-processing: threshold, dilate, connected regions, minimum-area rectangle, box score,
//! unclip), ordering them for reading, and the homography used to crop each line upright.

/// Four corners: top-left, top-right, bottom-right, bottom-left.
pub type Quad = [[f32; 2]; 4];

#[derive(Debug, Clone, Copy)]
pub struct DbParams {
    /// A pixel is text when its probability exceeds this.
    pub thresh: f32,
    /// A region is kept when its mean probability reaches this.
    pub box_thresh: f32,
    pub unclip_ratio: f32,
    pub max_candidates: usize,
    /// Regions whose shorter side is below this are noise.
    pub min_size: f32,
}

impl Default for DbParams {
    fn default() -> Self {
        DbParams { thresh: 0.3, box_thresh: 0.5, unclip_ratio: 1.6, max_candidates: 1000, min_size: 3.0 }
    }
}

/// A rotated rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    pub center: [f32; 2],
    /// Unit vector along the first side.
    pub axis: [f32; 2],
    /// Side lengths along `axis` and along its normal.
    pub size: [f32; 2],
}

impl RotatedRect {
    pub fn corners(&self) -> [[f32; 2]; 4] {
        let [ux, uy] = self.axis;
        let (vx, vy) = (-uy, ux);
        let (hw, hh) = (self.size[0] / 2.0, self.size[1] / 2.0);
        let [cx, cy] = self.center;
        [
            [cx - ux * hw - vx * hh, cy - uy * hw - vy * hh],
            [cx + ux * hw - vx * hh, cy + uy * hw - vy * hh],
            [cx + ux * hw + vx * hh, cy + uy * hw + vy * hh],
            [cx - ux * hw + vx * hh, cy - uy * hw + vy * hh],
        ]
    }

    pub fn short_side(&self) -> f32 {
        self.size[0].min(self.size[1])
    }

    /// The rectangle grown by `d` on every side.
    pub fn grown(&self, d: f32) -> RotatedRect {
        RotatedRect { size: [self.size[0] + 2.0 * d, self.size[1] + 2.0 * d], ..*self }
    }
}

/// Order four corners as top-left, top-right, bottom-right, bottom-left: the two leftmost points
/// are the left side (upper one first), the two rightmost the right side.
pub fn order_corners(points: [[f32; 2]; 4]) -> Quad {
    let mut p = points;
    p.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (tl, bl) = if p[1][1] > p[0][1] { (p[0], p[1]) } else { (p[1], p[0]) };
    let (tr, br) = if p[3][1] > p[2][1] { (p[2], p[3]) } else { (p[3], p[2]) };
    [tl, tr, br, bl]
}

/// Convex hull (counter-clockwise, no collinear points) by the monotone chain.
pub fn convex_hull(mut points: Vec<[f32; 2]>) -> Vec<[f32; 2]> {
    points.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    points.dedup();
    if points.len() < 3 {
        return points;
    }
    let cross = |o: [f32; 2], a: [f32; 2], b: [f32; 2]| (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    let mut hull: Vec<[f32; 2]> = Vec::with_capacity(points.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f32; 2]>> = if pass == 0 { Box::new(points.iter()) } else { Box::new(points.iter().rev()) };
        for &p in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// The minimum-area enclosing rectangle of a point set (rotating calipers over the hull edges).
pub fn min_area_rect(points: Vec<[f32; 2]>) -> Option<RotatedRect> {
    let hull = convex_hull(points);
    match hull.len() {
        0 => return None,
        1 => return Some(RotatedRect { center: hull[0], axis: [1.0, 0.0], size: [0.0, 0.0] }),
        _ => {}
    }
    let mut best: Option<(f32, RotatedRect)> = None;
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len = (dx * dx + dy * dy).sqrt();
        if len == 0.0 {
            continue;
        }
        let u = [dx / len, dy / len];
        let v = [-u[1], u[0]];
        let (mut umin, mut umax, mut vmin, mut vmax) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in &hull {
            let pu = p[0] * u[0] + p[1] * u[1];
            let pv = p[0] * v[0] + p[1] * v[1];
            umin = umin.min(pu);
            umax = umax.max(pu);
            vmin = vmin.min(pv);
            vmax = vmax.max(pv);
        }
        let area = (umax - umin) * (vmax - vmin);
        if best.as_ref().is_none_or(|(a, _)| area < *a) {
            let (cu, cv) = ((umin + umax) / 2.0, (vmin + vmax) / 2.0);
            let center = [u[0] * cu + v[0] * cv, u[1] * cu + v[1] * cv];
            // Keep the axis pointing rightwards so the first side is the reading direction for lines.
            let (axis, size) = if u[0].abs() >= u[1].abs() {
                (if u[0] < 0.0 { [-u[0], -u[1]] } else { u }, [umax - umin, vmax - vmin])
            } else {
                (if v[0] < 0.0 { [-v[0], -v[1]] } else { v }, [vmax - vmin, umax - umin])
            };
            best = Some((area, RotatedRect { center, axis, size }));
        }
    }
    best.map(|(_, r)| r)
}

/// 8-connected regions of `mask` (`width`×`height`), each as the list of its pixels' (x, y).
/// Regions come in raster order of their first pixel.
pub fn connected_regions(mask: &[bool], width: usize, height: usize) -> Vec<Vec<(u32, u32)>> {
    let mut seen = vec![false; mask.len()];
    let mut regions = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut region = Vec::new();
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            region.push((x as u32, y as u32));
            for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let j = ny * width + nx;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        regions.push(region);
    }
    regions
}

fn inside_convex(quad: &Quad, x: f32, y: f32) -> bool {
    let mut sign = 0.0f32;
    for i in 0..4 {
        let (a, b) = (quad[i], quad[(i + 1) % 4]);
        let c = (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]);
        if c.abs() < 1e-3 {
            continue;
        }
        if sign == 0.0 {
            sign = c.signum();
        } else if c.signum() != sign {
            return false;
        }
    }
    true
}

/// Mean probability over the pixels inside `quad` (the "fast" box score).
fn box_score(prob: &[f32], width: usize, height: usize, quad: &Quad) -> f32 {
    let clampf = |v: f32, hi: usize| v.clamp(0.0, (hi - 1) as f32);
    let xmin = clampf(quad.iter().map(|p| p[0]).fold(f32::MAX, f32::min).floor(), width) as usize;
    let xmax = clampf(quad.iter().map(|p| p[0]).fold(f32::MIN, f32::max).ceil(), width) as usize;
    let ymin = clampf(quad.iter().map(|p| p[1]).fold(f32::MAX, f32::min).floor(), height) as usize;
    let ymax = clampf(quad.iter().map(|p| p[1]).fold(f32::MIN, f32::max).ceil(), height) as usize;
    let (mut sum, mut n) = (0.0f64, 0usize);
    for y in ymin..=ymax {
        for x in xmin..=xmax {
            if inside_convex(quad, x as f32, y as f32) {
                sum += prob[y * width + x] as f64;
                n += 1;
            }
        }
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64) as f32
    }
}

/// A detected text region in the coordinates of the probability map, with its score.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub quad: Quad,
    pub score: f32,
}

/// DB post-processing of a `width`×`height` probability map.
pub fn db_boxes(prob: &[f32], width: usize, height: usize, params: &DbParams) -> Vec<Detection> {
    if width == 0 || height == 0 || prob.len() != width * height {
        return Vec::new();
    }
    // Threshold, then dilate with a 2×2 kernel (a pixel is set when it or its left/upper
    // neighbours are), which joins characters split by thin gaps.
    let raw: Vec<bool> = prob.iter().map(|p| *p > params.thresh).collect();
    let mut mask = raw.clone();
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            mask[i] = raw[i] || (x > 0 && raw[i - 1]) || (y > 0 && raw[i - width]) || (x > 0 && y > 0 && raw[i - width - 1]);
        }
    }
    let mut out = Vec::new();
    for region in connected_regions(&mask, width, height).into_iter().take(params.max_candidates) {
        // Only each row's extreme pixels can be on the hull.
        let mut rows: std::collections::BTreeMap<u32, (u32, u32)> = std::collections::BTreeMap::new();
        for (x, y) in region {
            let e = rows.entry(y).or_insert((x, x));
            e.0 = e.0.min(x);
            e.1 = e.1.max(x);
        }
        let points: Vec<[f32; 2]> = rows.iter().flat_map(|(y, (a, b))| [[*a as f32, *y as f32], [*b as f32, *y as f32]]).collect();
        let Some(rect) = min_area_rect(points) else { continue };
        if rect.short_side() < params.min_size {
            continue;
        }
        let quad = order_corners(rect.corners());
        let score = box_score(prob, width, height, &quad);
        if score < params.box_thresh {
            continue;
        }
        // Unclip: the detector predicts shrunk text kernels; grow them back by area·ratio/perimeter.
        let (w, h) = (rect.size[0], rect.size[1]);
        let distance = w * h * params.unclip_ratio / (2.0 * (w + h));
        let grown = rect.grown(distance);
        if grown.short_side() < params.min_size + 2.0 {
            continue;
        }
        out.push(Detection { quad: order_corners(grown.corners()), score });
    }
    out
}

/// Sort text boxes for reading: top to bottom, and left to right among boxes whose tops are within
/// `same_line` pixels of each other.
pub fn reading_order(boxes: &mut [Detection], same_line: f32) {
    boxes.sort_by(|a, b| a.quad[0][1].total_cmp(&b.quad[0][1]).then(a.quad[0][0].total_cmp(&b.quad[0][0])));
    for i in 0..boxes.len().saturating_sub(1) {
        for j in (0..=i).rev() {
            if (boxes[j + 1].quad[0][1] - boxes[j].quad[0][1]).abs() < same_line && boxes[j + 1].quad[0][0] < boxes[j].quad[0][0] {
                boxes.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
}

/// The homography (row-major, h33 = 1) mapping each `from[i]` to `to[i]`; `None` when degenerate.
pub fn homography(from: &Quad, to: &Quad) -> Option<[f32; 8]> {
    // Solve the 8×8 linear system in f64 by Gaussian elimination with partial pivoting.
    let mut m = [[0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = (from[i][0] as f64, from[i][1] as f64);
        let (u, v) = (to[i][0] as f64, to[i][1] as f64);
        m[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        m[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    for col in 0..8 {
        let pivot = (col..8).max_by(|a, b| m[*a][col].abs().total_cmp(&m[*b][col].abs()))?;
        if m[pivot][col].abs() < 1e-9 {
            return None;
        }
        m.swap(col, pivot);
        for row in 0..8 {
            if row != col {
                let f = m[row][col] / m[col][col];
                let pivot_row = m[col];
                for (target, source) in m[row][col..].iter_mut().zip(&pivot_row[col..]) {
                    *target -= f * source;
                }
            }
        }
    }
    let mut h = [0f32; 8];
    for i in 0..8 {
        h[i] = (m[i][8] / m[i][i]) as f32;
    }
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approx(a: [f32; 2], b: [f32; 2]) -> bool {
        (a[0] - b[0]).abs() < 1e-3 && (a[1] - b[1]).abs() < 1e-3
    }

    #[test]
    fn min_area_rect_of_a_rotated_rectangle_recovers_its_sides() {
        let (c, s) = (0.3f32.cos(), 0.3f32.sin());
        let mut pts = Vec::new();
        for i in 0..=40 {
            for j in 0..=10 {
                let (u, v) = (i as f32, j as f32);
                pts.push([100.0 + u * c - v * s, 50.0 + u * s + v * c]);
            }
        }
        let r = min_area_rect(pts).unwrap();
        assert!((r.size[0] - 40.0).abs() < 1e-2 && (r.size[1] - 10.0).abs() < 1e-2, "{r:?}");
        assert!((r.axis[0] - c).abs() < 1e-3 && (r.axis[1] - s).abs() < 1e-3, "{r:?}");
    }

    #[test]
    fn corners_are_ordered_clockwise_from_top_left() {
        let q = order_corners([[10.0, 5.0], [0.0, 0.0], [0.0, 5.0], [10.0, 0.0]]);
        assert_eq!(q, [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]]);
    }

    #[test]
    fn db_finds_each_text_block_and_grows_it_by_the_unclip_distance() {
        let (w, h) = (60, 30);
        let mut prob = vec![0.0f32; w * h];
        // Two blocks: 20×6 at (5,5) and 10×4 at (40,20); one faint block scoring below box_thresh.
        for (x0, y0, bw, bh, p) in [(5, 5, 20, 6, 0.9), (40, 20, 10, 4, 0.8), (5, 20, 10, 5, 0.35)] {
            for y in y0..y0 + bh {
                for x in x0..x0 + bw {
                    prob[y * w + x] = p;
                }
            }
        }
        let mut boxes = db_boxes(&prob, w, h, &DbParams::default());
        reading_order(&mut boxes, 10.0);
        assert_eq!(boxes.len(), 2, "{boxes:?}");
        // The dilated first block spans x 5..=25, y 5..=11: 20×6 between pixel centres.
        let d = 20.0 * 6.0 * 1.6 / (2.0 * 26.0);
        assert!(approx(boxes[0].quad[0], [5.0 - d, 5.0 - d]), "{:?}", boxes[0]);
        assert!(approx(boxes[0].quad[2], [25.0 + d, 11.0 + d]), "{:?}", boxes[0]);
        // The score averages over the dilated box: 20×6 pixels at 0.9 inside 21×7.
        assert!((boxes[0].score - 0.9 * 120.0 / 147.0).abs() < 1e-3, "{}", boxes[0].score);
        assert!(boxes[1].quad[0][0] > 35.0);
    }

    #[test]
    fn reading_order_puts_boxes_on_one_line_left_to_right() {
        let det = |x: f32, y: f32| Detection { quad: [[x, y], [x + 5.0, y], [x + 5.0, y + 5.0], [x, y + 5.0]], score: 1.0 };
        let mut boxes = vec![det(50.0, 12.0), det(0.0, 40.0), det(10.0, 14.0)];
        reading_order(&mut boxes, 10.0);
        assert_eq!(boxes.iter().map(|b| b.quad[0][0]).collect::<Vec<_>>(), vec![10.0, 50.0, 0.0]);
    }

    #[test]
    fn homography_maps_corners_onto_corners() {
        let from = [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]];
        let to = [[3.0, 2.0], [14.0, 3.0], [13.0, 9.0], [2.0, 8.0]];
        let h = homography(&from, &to).unwrap();
        for (f, t) in from.iter().zip(&to) {
            let den = h[6] * f[0] + h[7] * f[1] + 1.0;
            let p = [(h[0] * f[0] + h[1] * f[1] + h[2]) / den, (h[3] * f[0] + h[4] * f[1] + h[5]) / den];
            assert!(approx(p, *t), "{p:?} vs {t:?}");
        }
        assert!(homography(&[[1.0, 1.0]; 4], &to).is_none(), "four equal points define no transform");
    }
}
