//! Face alignment: a similarity transform (rotation, uniform scale, shift)
//! from the detector's five landmarks to the embedder's canonical chip, then
//! a bilinear warp. The template reproduces dlib's `get_face_chip(size=150,
//! padding=0.25)` geometry (see `shared/DLIB-MODEL-NOTES.md`).

use civitas_model::{Landmarks5, RgbImage};

/// Where the five landmarks land on a 150 × 150 dlib chip.
pub const DLIB_CHIP_TEMPLATE_150: [[f32; 2]; 5] = [
    [46.24, 45.46],
    [102.96, 45.97],
    [76.28, 78.82],
    [49.06, 103.72],
    [98.41, 104.15],
];

/// `dst = [a -b; b a] · src + [tx, ty]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// Least-squares similarity mapping `src` points onto `dst` points.
    pub fn estimate(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Similarity {
        let n = src.len().min(dst.len()) as f32;
        let mean = |p: &[[f32; 2]]| {
            let (sx, sy) = p.iter().fold((0.0, 0.0), |(x, y), q| (x + q[0], y + q[1]));
            [sx / n, sy / n]
        };
        let (ms, md) = (mean(src), mean(dst));
        let (mut num_a, mut num_b, mut den) = (0.0f32, 0.0f32, 0.0f32);
        for (p, q) in src.iter().zip(dst) {
            let (px, py) = (p[0] - ms[0], p[1] - ms[1]);
            let (qx, qy) = (q[0] - md[0], q[1] - md[1]);
            num_a += px * qx + py * qy;
            num_b += px * qy - py * qx;
            den += px * px + py * py;
        }
        let den = den.max(1e-12);
        let (a, b) = (num_a / den, num_b / den);
        Similarity {
            a,
            b,
            tx: md[0] - (a * ms[0] - b * ms[1]),
            ty: md[1] - (b * ms[0] + a * ms[1]),
        }
    }

    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    pub fn inverse(&self) -> Similarity {
        let d = (self.a * self.a + self.b * self.b).max(1e-12);
        let (a, b) = (self.a / d, -self.b / d);
        Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        }
    }

    /// Scale factor (dst pixels per src pixel).
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

/// Cuts the aligned `size_px` × `size_px` chip for a face out of `frame`.
///
/// When the face is much larger than the chip, plain bilinear sampling would
/// alias; we then average a small grid of bilinear samples per output pixel
/// (a cheap area filter), as dlib does with its image pyramid.
pub fn align_chip(frame: &RgbImage, lm: &Landmarks5, size_px: u32) -> RgbImage {
    let k = size_px as f32 / 150.0;
    let dst: Vec<[f32; 2]> = DLIB_CHIP_TEMPLATE_150
        .iter()
        .map(|p| [p[0] * k, p[1] * k])
        .collect();
    let fwd = Similarity::estimate(&lm.0, &dst);
    let inv = fwd.inverse();
    // Source pixels per chip pixel: how many samples to average per axis.
    let step = 1.0 / fwd.scale().max(1e-6);
    let sub = (step.ceil() as usize).clamp(1, 4);
    let mut out = RgbImage::zeros(size_px, size_px);
    let (w, h) = (frame.width_px as usize, frame.height_px as usize);
    let src = &frame.data;
    let inv_n = 1.0 / (sub * sub) as f32;
    for v in 0..size_px as usize {
        for u in 0..size_px as usize {
            let mut acc = [0.0f32; 3];
            for sy in 0..sub {
                for sx in 0..sub {
                    // Sub-sample offsets centred on the output pixel.
                    let du = (sx as f32 + 0.5) / sub as f32 - 0.5;
                    let dv = (sy as f32 + 0.5) / sub as f32 - 0.5;
                    let p = inv.apply([u as f32 + du, v as f32 + dv]);
                    let s = bilinear(src, w, h, p[0], p[1]);
                    acc[0] += s[0];
                    acc[1] += s[1];
                    acc[2] += s[2];
                }
            }
            let o = (v * size_px as usize + u) * 3;
            for c in 0..3 {
                out.data[o + c] = (acc[c] * inv_n).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Bilinear sample with black outside the image.
#[inline]
pub(crate) fn bilinear(src: &[u8], w: usize, h: usize, x: f32, y: f32) -> [f32; 3] {
    if !(x > -1.0 && y > -1.0 && x < w as f32 && y < h as f32) {
        return [0.0; 3];
    }
    let x0 = x.floor();
    let y0 = y.floor();
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as isize, y0 as isize);
    let get = |xx: isize, yy: isize| -> [f32; 3] {
        if xx < 0 || yy < 0 || xx >= w as isize || yy >= h as isize {
            [0.0; 3]
        } else {
            let i = (yy as usize * w + xx as usize) * 3;
            [src[i] as f32, src[i + 1] as f32, src[i + 2] as f32]
        }
    };
    let (p00, p10, p01, p11) = (
        get(x0, y0),
        get(x0 + 1, y0),
        get(x0, y0 + 1),
        get(x0 + 1, y0 + 1),
    );
    let mut r = [0.0; 3];
    for c in 0..3 {
        let top = p00[c] + (p10[c] - p00[c]) * fx;
        let bot = p01[c] + (p11[c] - p01[c]) * fx;
        r[c] = top + (bot - top) * fy;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_recovers_a_known_transform() {
        let t = Similarity {
            a: 0.8,
            b: 0.3,
            tx: 12.0,
            ty: -4.0,
        };
        let src = [
            [10.0, 20.0],
            [50.0, 22.0],
            [30.0, 40.0],
            [14.0, 60.0],
            [48.0, 61.0],
        ];
        let dst: Vec<[f32; 2]> = src.iter().map(|p| t.apply(*p)).collect();
        let e = Similarity::estimate(&src, &dst);
        assert!((e.a - t.a).abs() < 1e-4 && (e.b - t.b).abs() < 1e-4);
        assert!((e.tx - t.tx).abs() < 1e-3 && (e.ty - t.ty).abs() < 1e-3);
        let back = e.inverse().apply(e.apply([7.0, 9.0]));
        assert!((back[0] - 7.0).abs() < 1e-3 && (back[1] - 9.0).abs() < 1e-3);
    }

    #[test]
    fn chip_puts_landmarks_on_the_template() {
        // Landmarks made from the template by a known similarity (scale 2, rotated, shifted),
        // drawn as bright dots: after alignment the dots sit on the template points.
        let t = Similarity {
            a: 1.9,
            b: 0.35,
            tx: 60.0,
            ty: 40.0,
        };
        let mut lm = [[0.0f32; 2]; 5];
        for (k, p) in DLIB_CHIP_TEMPLATE_150.iter().enumerate() {
            lm[k] = t.apply(*p);
        }
        let mut f = RgbImage::zeros(400, 400);
        for p in lm {
            for dy in -4..=4 {
                for dx in -4..=4 {
                    let i = (((p[1].round() as i32 + dy) * 400 + p[0].round() as i32 + dx) * 3)
                        as usize;
                    f.data[i..i + 3].copy_from_slice(&[255, 255, 255]);
                }
            }
        }
        let chip = align_chip(&f, &Landmarks5(lm), 150);
        for p in DLIB_CHIP_TEMPLATE_150 {
            let v = chip.pixel(p[0].round() as u32, p[1].round() as u32);
            assert!(v[0] > 200, "no dot at template point {p:?}: {v:?}");
        }
        // And nothing bright far from them.
        assert_eq!(chip.pixel(5, 140), [0, 0, 0]);
    }
}
