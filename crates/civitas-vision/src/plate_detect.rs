//! Finding plate text: the PP-OCRv4 text detector (Apache-2.0, from the PyPI
//! wheel `rapidocr-onnxruntime==1.4.4`), a DB (differentiable binarisation)
//! network. Input `x` is [1, 3, H, W] in BGR order, (x/255 − 0.5)/0.5, both
//! sides multiples of 32; output [1, 1, H, W] is the probability that each
//! pixel is text. As PaddleOCR does, the map is thresholded, dilated by a
//! 2 × 2 square, split into connected regions, and each region becomes the
//! smallest rotated rectangle around it, scored by the mean probability inside
//! and grown by `area × unclip / perimeter` on every side (DB shrinks text
//! regions during training). A plate's rotated rectangle is then sampled
//! upright ([`rectify`]) for the recogniser.

use crate::runtime::{SessionOptions, open_session, run_err};
use civitas_base::{Error, ErrorKind, Result};
use civitas_model::{BBox, RgbImage};
use ndarray::Array4;
use ort::value::TensorRef;
use std::path::Path;

/// Detector settings (PaddleOCR's defaults, with a cap on large frames).
#[derive(Debug, Clone, Copy)]
pub struct TextDetectorConfig {
    /// Frames whose shorter side is below this are scaled up to it (small text needs it).
    pub min_side_px: usize,
    /// …and no side ends up longer than this (a 1080p frame is scaled down).
    pub max_side_px: usize,
    /// Probability above which a pixel is text.
    pub bin_threshold: f32,
    /// Mean probability a region needs to count.
    pub box_threshold: f32,
    /// How much a region is grown back (DB's unclip ratio).
    pub unclip_ratio: f32,
}

impl Default for TextDetectorConfig {
    fn default() -> Self {
        TextDetectorConfig {
            min_side_px: 480,
            max_side_px: 1280,
            bin_threshold: 0.3,
            box_threshold: 0.5,
            unclip_ratio: 1.6,
        }
    }
}

/// A line of text: a rotated rectangle in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    pub cx: f32,
    pub cy: f32,
    /// Along the text (the longer side).
    pub length: f32,
    /// Across the text.
    pub thickness: f32,
    /// Angle of the text direction, radians, in (−π/2, π/2].
    pub angle: f32,
    /// Mean text probability inside.
    pub score: f32,
}

impl TextBox {
    /// Corners: top-left, top-right, bottom-right, bottom-left (as read).
    pub fn corners(&self) -> [[f32; 2]; 4] {
        let (c, s) = (self.angle.cos(), self.angle.sin());
        let (hx, hy) = (self.length / 2.0, self.thickness / 2.0);
        [(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)]
            .map(|(x, y)| [self.cx + x * c - y * s, self.cy + x * s + y * c])
    }

    /// The axis-aligned box around it.
    pub fn bbox(&self) -> BBox {
        let k = self.corners();
        let (mut b, mut first) = (BBox::new(0.0, 0.0, 0.0, 0.0), true);
        for [x, y] in k {
            if first {
                b = BBox::new(x, y, x, y);
                first = false;
            }
            b.x0 = b.x0.min(x);
            b.y0 = b.y0.min(y);
            b.x1 = b.x1.max(x);
            b.y1 = b.y1.max(y);
        }
        b
    }
}

/// The PP-OCRv4 text detector.
#[derive(Debug)]
pub struct TextDetector {
    session: ort::session::Session,
    cfg: TextDetectorConfig,
}

/// Network input size for a frame: both sides multiples of 32.
pub fn input_size(w: u32, h: u32, cfg: &TextDetectorConfig) -> (usize, usize) {
    let (w, h) = (w as f32, h as f32);
    let mut scale = (cfg.min_side_px as f32 / w.min(h)).max(1.0);
    if w.max(h) * scale > cfg.max_side_px as f32 {
        scale = cfg.max_side_px as f32 / w.max(h);
    }
    let r = |v: f32| (((v * scale) / 32.0).round() as usize).max(1) * 32;
    (r(w), r(h))
}

impl TextDetector {
    pub fn open(model: &Path, cfg: TextDetectorConfig, opts: SessionOptions) -> Result<Self> {
        let session = open_session(model, opts)?;
        Ok(TextDetector { session, cfg })
    }

    /// Lines of text in a frame, best first.
    pub fn detect(&mut self, frame: &RgbImage) -> Result<Vec<TextBox>> {
        if frame.width_px < 8 || frame.height_px < 8 {
            return Err(Error::invalid(format!(
                "frame of {}x{} px is too small to search for plates",
                frame.width_px, frame.height_px
            )));
        }
        let (w, h) = input_size(frame.width_px, frame.height_px, &self.cfg);
        let input = bgr_input(frame, w, h);
        let tensor =
            TensorRef::from_array_view(&input).map_err(|e| run_err("plate text detector", e))?;
        let out = self
            .session
            .run(ort::inputs!["x" => tensor])
            .map_err(|e| run_err("plate text detector", e))?;
        let prob = out[0]
            .try_extract_array::<f32>()
            .map_err(|e| run_err("plate text detector", e))?;
        if prob.shape() != [1, 1, h, w] {
            return Err(Error::new(
                ErrorKind::DataLoss,
                format!(
                    "plate text detector answered {:?} for a {w}x{h} input",
                    prob.shape()
                ),
            ));
        }
        let map: Vec<f32> = prob.iter().copied().collect();
        let mut boxes = boxes_from_map(&map, w, h, &self.cfg);
        let (sx, sy) = (
            frame.width_px as f32 / w as f32,
            frame.height_px as f32 / h as f32,
        );
        for b in &mut boxes {
            // Rescale the rectangle's geometry to frame pixels (non-uniform
            // scale is tiny: both factors differ only by the rounding to 32).
            let (c, s) = (b.angle.cos(), b.angle.sin());
            let along = ((c * sx).powi(2) + (s * sy).powi(2)).sqrt();
            let across = ((s * sx).powi(2) + (c * sy).powi(2)).sqrt();
            b.cx *= sx;
            b.cy *= sy;
            b.length *= along;
            b.thickness *= across;
        }
        boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(boxes)
    }
}

/// Bilinear sample of `img` at (x, y) in pixel-index coordinates, clamped to the image.
pub(crate) fn bilinear(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let x = x.clamp(0.0, (img.width_px - 1) as f32);
    let y = y.clamp(0.0, (img.height_px - 1) as f32);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = (
        (x0 + 1).min(img.width_px - 1),
        (y0 + 1).min(img.height_px - 1),
    );
    let (tx, ty) = (x.fract(), y.fract());
    let (a, b, c, d) = (
        img.pixel(x0, y0),
        img.pixel(x1, y0),
        img.pixel(x0, y1),
        img.pixel(x1, y1),
    );
    std::array::from_fn(|ch| {
        (a[ch] as f32 * (1.0 - tx) + b[ch] as f32 * tx) * (1.0 - ty)
            + (c[ch] as f32 * (1.0 - tx) + d[ch] as f32 * tx) * ty
    })
}

/// `img` resized to `w × h` (sampling at pixel centres) as a BGR tensor
/// scaled to (x/255 − 0.5)/0.5: the input both PP-OCRv4 networks take.
pub(crate) fn bgr_input(img: &RgbImage, w: usize, h: usize) -> Array4<f32> {
    let mut input = Array4::<f32>::zeros((1, 3, h, w));
    let (sw, sh) = (
        img.width_px as f32 / w as f32,
        img.height_px as f32 / h as f32,
    );
    for y in 0..h {
        let fy = (y as f32 + 0.5) * sh - 0.5;
        for x in 0..w {
            let v = bilinear(img, (x as f32 + 0.5) * sw - 0.5, fy);
            for ch in 0..3 {
                input[[0, 2 - ch, y, x]] = (v[ch] / 255.0 - 0.5) / 0.5;
            }
        }
    }
    input
}

/// DB post-processing on a probability map of `w × h` (in map pixels).
pub fn boxes_from_map(map: &[f32], w: usize, h: usize, cfg: &TextDetectorConfig) -> Vec<TextBox> {
    // Threshold, then dilate by a 2 × 2 square (a pixel is set if it or its
    // left, upper or upper-left neighbour is above the threshold).
    let on = |x: usize, y: usize| map[y * w + x] > cfg.bin_threshold;
    let mut mask = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            mask[y * w + x] = on(x, y)
                || (x > 0 && on(x - 1, y))
                || (y > 0 && on(x, y - 1))
                || (x > 0 && y > 0 && on(x - 1, y - 1));
        }
    }
    let mut seen = vec![false; w * h];
    let mut boxes = Vec::new();
    let mut stack = Vec::new();
    let mut points: Vec<[f32; 2]> = Vec::new();
    for start in 0..w * h {
        if !mask[start] || seen[start] {
            continue;
        }
        // One 8-connected region; its pixel squares' corners feed the hull.
        points.clear();
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            let (fx, fy) = (x as f32, y as f32);
            points.extend([
                [fx, fy],
                [fx + 1.0, fy],
                [fx, fy + 1.0],
                [fx + 1.0, fy + 1.0],
            ]);
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if points.len() < 4 * 4 {
            continue;
        }
        let Some(mut b) = min_area_rect(&points) else {
            continue;
        };
        if b.thickness < 3.0 {
            continue;
        }
        b.score = mean_inside(map, w, h, &b);
        if b.score < cfg.box_threshold {
            continue;
        }
        let d = b.length * b.thickness * cfg.unclip_ratio / (2.0 * (b.length + b.thickness));
        b.length += 2.0 * d;
        b.thickness += 2.0 * d;
        if b.thickness < 5.0 {
            continue;
        }
        boxes.push(b);
        if boxes.len() >= 1000 {
            break;
        }
    }
    boxes
}

/// Mean of the map over the pixels whose centres fall inside the rectangle.
fn mean_inside(map: &[f32], w: usize, h: usize, b: &TextBox) -> f32 {
    let bb = b.bbox();
    let (c, s) = (b.angle.cos(), b.angle.sin());
    let (mut sum, mut n) = (0.0f64, 0u32);
    let (x0, x1) = (
        bb.x0.floor().max(0.0) as usize,
        (bb.x1.ceil() as usize).min(w),
    );
    let (y0, y1) = (
        bb.y0.floor().max(0.0) as usize,
        (bb.y1.ceil() as usize).min(h),
    );
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f32 + 0.5 - b.cx, y as f32 + 0.5 - b.cy);
            let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
            if u.abs() <= b.length / 2.0 && v.abs() <= b.thickness / 2.0 {
                sum += map[y * w + x] as f64;
                n += 1;
            }
        }
    }
    if n == 0 { 0.0 } else { (sum / n as f64) as f32 }
}

/// The smallest-area rectangle around a set of points (rotating calipers over
/// the convex hull); its long side is the text direction.
pub fn min_area_rect(points: &[[f32; 2]]) -> Option<TextBox> {
    let hull = convex_hull(points);
    if hull.len() < 3 {
        return None;
    }
    let mut best: Option<(f32, TextBox)> = None;
    for i in 0..hull.len() {
        let (p, q) = (hull[i], hull[(i + 1) % hull.len()]);
        let (ex, ey) = (q[0] - p[0], q[1] - p[1]);
        let len = (ex * ex + ey * ey).sqrt();
        if len < 1e-6 {
            continue;
        }
        let (ux, uy) = (ex / len, ey / len);
        let (mut umin, mut umax, mut vmin, mut vmax) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for r in &hull {
            let u = r[0] * ux + r[1] * uy;
            let v = -r[0] * uy + r[1] * ux;
            umin = umin.min(u);
            umax = umax.max(u);
            vmin = vmin.min(v);
            vmax = vmax.max(v);
        }
        let area = (umax - umin) * (vmax - vmin);
        if best.as_ref().is_some_and(|(a, _)| *a <= area) {
            continue;
        }
        let (uc, vc) = ((umin + umax) / 2.0, (vmin + vmax) / 2.0);
        let (cx, cy) = (uc * ux - vc * uy, uc * uy + vc * ux);
        let (du, dv) = (umax - umin, vmax - vmin);
        // The long side is the text direction; keep the angle in (−π/2, π/2].
        let (length, thickness, mut angle) = if du >= dv {
            (du, dv, uy.atan2(ux))
        } else {
            (dv, du, ux.atan2(-uy))
        };
        if angle > std::f32::consts::FRAC_PI_2 {
            angle -= std::f32::consts::PI;
        } else if angle <= -std::f32::consts::FRAC_PI_2 {
            angle += std::f32::consts::PI;
        }
        best = Some((
            area,
            TextBox {
                cx,
                cy,
                length,
                thickness,
                angle,
                score: 0.0,
            },
        ));
    }
    best.map(|(_, b)| b)
}

/// Andrew's monotone chain; counter-clockwise, without collinear points.
fn convex_hull(points: &[[f32; 2]]) -> Vec<[f32; 2]> {
    let mut p: Vec<[f32; 2]> = points.to_vec();
    p.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: [f32; 2], a: [f32; 2], b: [f32; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut hull: Vec<[f32; 2]> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f32; 2]>> = if pass == 0 {
            Box::new(p.iter())
        } else {
            Box::new(p.iter().rev())
        };
        for &q in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0.0
            {
                hull.pop();
            }
            hull.push(q);
        }
        hull.pop();
    }
    hull
}

/// The rotated rectangle sampled upright (bilinear), text reading left to right.
pub fn rectify(frame: &RgbImage, b: &TextBox) -> Option<RgbImage> {
    let (w, h) = (b.length.round() as usize, b.thickness.round() as usize);
    if w < 4 || h < 4 || w > 4096 || h > 4096 {
        return None;
    }
    let (c, s) = (b.angle.cos(), b.angle.sin());
    let mut data = Vec::with_capacity(w * h * 3);
    for v in 0..h {
        for u in 0..w {
            let (du, dv) = (
                u as f32 + 0.5 - w as f32 / 2.0,
                v as f32 + 0.5 - h as f32 / 2.0,
            );
            let px = bilinear(
                frame,
                b.cx + du * c - dv * s - 0.5,
                b.cy + du * s + dv * c - 0.5,
            );
            data.extend(px.map(|x| x.round().clamp(0.0, 255.0) as u8));
        }
    }
    RgbImage::new(w as u32, h as u32, data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_area_rect_finds_a_rotated_rectangle() {
        // A 40 × 10 rectangle rotated by 0.3 rad about (50, 50).
        let (a, c, s) = (0.3f32, 0.3f32.cos(), 0.3f32.sin());
        let mut pts = Vec::new();
        for i in 0..=40 {
            for j in 0..=10 {
                let (x, y) = (i as f32 - 20.0, j as f32 - 5.0);
                pts.push([50.0 + x * c - y * s, 50.0 + x * s + y * c]);
            }
        }
        let b = min_area_rect(&pts).unwrap();
        assert!((b.length - 40.0).abs() < 0.01 && (b.thickness - 10.0).abs() < 0.01);
        assert!((b.angle - a).abs() < 1e-3, "{}", b.angle);
        assert!((b.cx - 50.0).abs() < 0.01 && (b.cy - 50.0).abs() < 0.01);
        // Corners read left to right, top first.
        let k = b.corners();
        assert!(k[0][0] < k[1][0] && k[0][1] < k[3][1]);
    }

    #[test]
    fn regions_of_the_map_become_boxes_and_weak_ones_do_not() {
        let (w, h) = (64, 32);
        let mut map = vec![0.0f32; w * h];
        for y in 10..18 {
            for x in 8..40 {
                map[y * w + x] = 0.9;
            }
        }
        for y in 24..28 {
            for x in 50..60 {
                map[y * w + x] = 0.35; // above the pixel threshold, below the box threshold
            }
        }
        let boxes = boxes_from_map(&map, w, h, &TextDetectorConfig::default());
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        let b = boxes[0];
        assert!(
            b.angle.abs() < 1e-3 && b.length > 33.0 && b.thickness > 9.0,
            "{b:?}"
        );
    }

    #[test]
    fn input_sizes_are_multiples_of_32_within_the_limits() {
        let cfg = TextDetectorConfig::default();
        assert_eq!(input_size(640, 480, &cfg), (640, 480));
        assert_eq!(input_size(518, 331, &cfg), (736, 480));
        assert_eq!(input_size(1920, 1080, &cfg), (1280, 736));
        assert_eq!(input_size(100, 40, &cfg), (1216, 480));
    }
}
