//! A cheap motion gate before the detectors: a frame whose small grayscale
//! thumbnail barely differs from the last analysed frame's is skipped and
//! counted. A frame is analysed at least every `max_skip_ms` anyway, so a
//! person standing still is not missed forever.

use civitas_model::RgbImage;

/// Gate settings.
#[derive(Debug, Clone, Copy)]
pub struct MotionConfig {
    /// Thumbnail pixels whose gray level changed by more than this (0..255) count as changed.
    pub pixel_delta: u8,
    /// A frame has motion when at least this fraction of thumbnail pixels changed.
    pub min_changed_fraction: f32,
    /// Analyse at least one frame this often (stream time, ms), motion or not.
    pub max_skip_ms: i64,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            pixel_delta: 12,
            min_changed_fraction: 0.003,
            max_skip_ms: 10_000,
        }
    }
}

const THUMB_W: usize = 96;
const THUMB_H: usize = 54;

/// The gate for one camera.
#[derive(Debug)]
pub struct MotionGate {
    cfg: MotionConfig,
    last: Option<(Vec<u8>, i64)>,
    pub skipped: u64,
}

impl MotionGate {
    pub fn new(cfg: MotionConfig) -> Self {
        MotionGate {
            cfg,
            last: None,
            skipped: 0,
        }
    }

    /// Whether this frame (at stream time `offset_ms`) should be analysed.
    pub fn admit(&mut self, frame: &RgbImage, offset_ms: i64) -> bool {
        let thumb = thumbnail(frame);
        let admit = match &self.last {
            None => true,
            Some((prev, at)) => {
                let changed = prev
                    .iter()
                    .zip(&thumb)
                    .filter(|(a, b)| a.abs_diff(**b) > self.cfg.pixel_delta)
                    .count();
                changed as f32 >= self.cfg.min_changed_fraction * thumb.len() as f32
                    || offset_ms - at >= self.cfg.max_skip_ms
            }
        };
        if admit {
            self.last = Some((thumb, offset_ms));
        } else {
            self.skipped += 1;
        }
        admit
    }
}

/// Box-averaged grayscale thumbnail.
fn thumbnail(f: &RgbImage) -> Vec<u8> {
    let (w, h) = (f.width_px as usize, f.height_px as usize);
    let mut out = vec![0u8; THUMB_W * THUMB_H];
    for ty in 0..THUMB_H {
        let (y0, y1) = (
            ty * h / THUMB_H,
            ((ty + 1) * h / THUMB_H).max(ty * h / THUMB_H + 1).min(h),
        );
        for tx in 0..THUMB_W {
            let (x0, x1) = (
                tx * w / THUMB_W,
                ((tx + 1) * w / THUMB_W).max(tx * w / THUMB_W + 1).min(w),
            );
            let (mut sum, mut n) = (0u32, 0u32);
            // Every other row and column: plenty for a motion estimate, a quarter of the reads.
            for y in (y0..y1).step_by(2) {
                let row = &f.data[(y * w + x0) * 3..(y * w + x1) * 3];
                for px in row.chunks_exact(3).step_by(2) {
                    sum += (px[0] as u32 * 77 + px[1] as u32 * 150 + px[2] as u32 * 29) >> 8;
                    n += 1;
                }
            }
            out[ty * THUMB_W + tx] = (sum / n.max(1)) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(square_at: Option<(usize, usize)>) -> RgbImage {
        let mut f = RgbImage::zeros(640, 360);
        f.data.iter_mut().for_each(|v| *v = 90);
        if let Some((x0, y0)) = square_at {
            for y in y0..y0 + 40 {
                for x in x0..x0 + 40 {
                    let i = (y * 640 + x) * 3;
                    f.data[i..i + 3].copy_from_slice(&[230, 200, 180]);
                }
            }
        }
        f
    }

    #[test]
    fn a_still_scene_is_skipped_and_motion_is_admitted() {
        let mut g = MotionGate::new(MotionConfig::default());
        assert!(
            g.admit(&frame(None), 0),
            "the first frame is always analysed"
        );
        assert!(!g.admit(&frame(None), 500));
        assert!(!g.admit(&frame(None), 1000));
        assert!(
            g.admit(&frame(Some((300, 150))), 1500),
            "a 40 px object appearing is motion"
        );
        assert!(!g.admit(&frame(Some((300, 150))), 2000));
        assert!(
            g.admit(&frame(Some((340, 150))), 2500),
            "the object moving is motion"
        );
        assert_eq!(g.skipped, 3);
        // Keep-alive: a still scene is analysed again after max_skip_ms.
        assert!(g.admit(&frame(Some((340, 150))), 12_600));
    }
}
