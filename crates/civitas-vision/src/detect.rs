//! The face-detector seam: SCRFD and BlazeFace implement [`FaceDetector`], and
//! tests or benchmarks can put any other implementation behind it.

use civitas_base::Result;
use civitas_model::{FaceDetection, RgbImage};

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
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<FaceDetection>>;
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
