//! The face-detector seam: SCRFD and BlazeFace implement [`FaceDetector`], and
//! tests or benchmarks can put any other implementation behind it.

use civitas_base::Result;
use civitas_model::{BBox, FaceDetection, RgbImage};

/// Detector thresholds.
#[derive(Debug, Clone, Copy)]
pub struct DetectorConfig {
    /// Minimum detector confidence, 0..1 (SCRFD's package default 0.4).
    pub min_score: f32,
    /// Boxes overlapping a stronger one by more than this IoU are dropped.
    pub nms_iou: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_score: 0.4,
            nms_iou: 0.4,
        }
    }
}

/// Finds faces in a frame.
pub trait FaceDetector: Send + std::fmt::Debug {
    /// The faces in a camera frame: one pass of the network.
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<FaceDetection>>;

    /// The faces in a still (an enrolment photo, an evaluation image), where
    /// a face may fill the picture or be cut by its edge: the picture as it
    /// is, and again inside a mid-gray border of [`STILL_BORDER`] of its
    /// size on each side, which shows such a face at a scale and with the
    /// surroundings the network was trained on. The two passes' faces are
    /// merged by non-maximum suppression. Twice a frame's cost: for stills,
    /// not for camera frames.
    fn detect_still(&mut self, frame: &RgbImage) -> Result<Vec<FaceDetection>> {
        let mut found = self.detect(frame)?;
        let (padded, dx, dy) = bordered(frame, STILL_BORDER);
        found.extend(self.detect(&padded)?.into_iter().map(|mut d| {
            d.bbox = BBox::new(
                d.bbox.x0 - dx,
                d.bbox.y0 - dy,
                d.bbox.x1 - dx,
                d.bbox.y1 - dy,
            );
            for p in d.landmarks.0.iter_mut() {
                *p = [p[0] - dx, p[1] - dy];
            }
            d
        }));
        Ok(nms(found, DetectorConfig::default().nms_iou))
    }
}

/// The border [`FaceDetector::detect_still`] adds on each side, as a fraction of the picture's size.
pub const STILL_BORDER: f32 = 0.25;

/// `img` in the middle of a mid-gray canvas `frac` of its size larger on
/// each side, and the offset of its top-left corner.
pub fn bordered(img: &RgbImage, frac: f32) -> (RgbImage, f32, f32) {
    let (w, h) = (img.width_px as usize, img.height_px as usize);
    let (bx, by) = (
        (w as f32 * frac).round() as usize,
        (h as f32 * frac).round() as usize,
    );
    let cw = w + 2 * bx;
    let mut out = RgbImage {
        width_px: cw as u32,
        height_px: (h + 2 * by) as u32,
        data: vec![127; cw * (h + 2 * by) * 3],
    };
    for y in 0..h {
        let dst = ((y + by) * cw + bx) * 3;
        out.data[dst..dst + w * 3].copy_from_slice(&img.data[y * w * 3..(y + 1) * w * 3]);
    }
    (out, bx as f32, by as f32)
}

/// Greedy non-maximum suppression, strongest first.
pub fn nms(mut dets: Vec<FaceDetection>, iou: f32) -> Vec<FaceDetection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<FaceDetection> = Vec::new();
    for d in dets {
        if keep.iter().all(|k| k.bbox.iou(&d.bbox) <= iou) {
            keep.push(d);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bordered_picture_keeps_its_pixels_at_the_offset() {
        let img = RgbImage::new(4, 2, (0..24).collect()).unwrap();
        let (b, dx, dy) = bordered(&img, 0.25);
        assert_eq!((b.width_px, b.height_px, dx, dy), (6, 4, 1.0, 1.0));
        assert_eq!(b.pixel(1, 1), img.pixel(0, 0));
        assert_eq!(b.pixel(4, 2), img.pixel(3, 1));
        assert_eq!(b.pixel(0, 0), [127; 3]);
        assert_eq!(b.pixel(5, 3), [127; 3]);
    }
}
