//! SCRFD face detector (boxes + five landmarks), from the `scrfd==0.3.0`
//! source distribution. Input `input.1` `[1,3,640,640]` RGB, `(x − 127.5) / 128`,
//! letterboxed at the top-left; outputs `score_*`, `bbox_*`, `kps_*` for strides
//! 8, 16 and 32 with two anchors per cell, decoded as distances from the anchor
//! centre in units of the stride.

use crate::detect::{DetectorConfig, FaceDetector, nms};
use crate::runtime::{SessionOptions, open_session, run_err};
use civitas_base::Result;
use civitas_model::{BBox, FaceDetection, Landmarks5, RgbImage};
use ndarray::Array4;
use ort::value::TensorRef;
use std::path::Path;

const SIDE_PX: usize = 640;
const STRIDES: [usize; 3] = [8, 16, 32];
const ANCHORS_PER_CELL: usize = 2;

/// The SCRFD network through ONNX Runtime.
#[derive(Debug)]
pub struct Scrfd {
    session: ort::session::Session,
    cfg: DetectorConfig,
    input: Array4<f32>,
}

impl Scrfd {
    pub fn open(model: &Path, cfg: DetectorConfig, session: SessionOptions) -> Result<Self> {
        Ok(Scrfd {
            session: open_session(model, session)?,
            cfg,
            input: Array4::zeros((1, 3, SIDE_PX, SIDE_PX)),
        })
    }
}

/// Resizes `img` (keeping its aspect) into the top-left of the `side`² NCHW
/// tensor with bilinear sampling, normalising as `(x − mean) · scale`; the rest
/// is the normalised value of black. Returns the source pixels per tensor pixel.
pub(crate) fn letterbox_into(
    img: &RgbImage,
    dst: &mut [f32],
    side: usize,
    mean: f32,
    scale: f32,
) -> f32 {
    let (w, h) = (img.width_px as usize, img.height_px as usize);
    let ratio = (w.max(h) as f32) / side as f32;
    let (nw, nh) = (
        ((w as f32 / ratio).round() as usize).clamp(1, side),
        ((h as f32 / ratio).round() as usize).clamp(1, side),
    );
    let plane = side * side;
    dst.fill((0.0 - mean) * scale);
    // When shrinking by more than 2×, average a small grid of samples to avoid aliasing small faces away.
    let sub = (ratio.ceil() as usize).clamp(1, 3);
    let inv_n = 1.0 / (sub * sub) as f32;
    for y in 0..nh {
        for x in 0..nw {
            let mut acc = [0.0f32; 3];
            for sy in 0..sub {
                for sx in 0..sub {
                    let fx = (x as f32 + (sx as f32 + 0.5) / sub as f32) * ratio - 0.5;
                    let fy = (y as f32 + (sy as f32 + 0.5) / sub as f32) * ratio - 0.5;
                    let s = crate::align::bilinear(
                        &img.data,
                        w,
                        h,
                        fx.clamp(0.0, (w - 1) as f32),
                        fy.clamp(0.0, (h - 1) as f32),
                    );
                    acc[0] += s[0];
                    acc[1] += s[1];
                    acc[2] += s[2];
                }
            }
            let i = y * side + x;
            for c in 0..3 {
                dst[c * plane + i] = (acc[c] * inv_n - mean) * scale;
            }
        }
    }
    ratio
}

impl FaceDetector for Scrfd {
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<FaceDetection>> {
        let ratio = letterbox_into(
            frame,
            self.input.as_slice_mut().expect("contiguous"),
            SIDE_PX,
            127.5,
            1.0 / 128.0,
        );
        let tensor = TensorRef::from_array_view(&self.input).map_err(|e| run_err("scrfd", e))?;
        let out = self
            .session
            .run(ort::inputs!["input.1" => tensor])
            .map_err(|e| run_err("scrfd", e))?;
        let mut found = Vec::new();
        for stride in STRIDES {
            let get = |name: String| -> Result<Vec<f32>> {
                let v = out
                    .get(name.as_str())
                    .ok_or_else(|| run_err("scrfd", format!("output {name} missing")))?;
                let a = v
                    .try_extract_array::<f32>()
                    .map_err(|e| run_err("scrfd", e))?;
                Ok(a.iter().copied().collect())
            };
            let scores = get(format!("score_{stride}"))?;
            let boxes = get(format!("bbox_{stride}"))?;
            let kps = get(format!("kps_{stride}"))?;
            let cells = SIDE_PX / stride;
            let s = stride as f32;
            for (idx, &score) in scores.iter().enumerate() {
                if score < self.cfg.min_score {
                    continue;
                }
                let cell = idx / ANCHORS_PER_CELL;
                let (cx, cy) = (
                    ((cell % cells) * stride) as f32,
                    ((cell / cells) * stride) as f32,
                );
                let d = &boxes[idx * 4..idx * 4 + 4];
                let bbox = BBox {
                    x0: (cx - d[0] * s) * ratio,
                    y0: (cy - d[1] * s) * ratio,
                    x1: (cx + d[2] * s) * ratio,
                    y1: (cy + d[3] * s) * ratio,
                };
                let k = &kps[idx * 10..idx * 10 + 10];
                let mut lm = [[0.0f32; 2]; 5];
                for (j, p) in lm.iter_mut().enumerate() {
                    *p = [(cx + k[2 * j] * s) * ratio, (cy + k[2 * j + 1] * s) * ratio];
                }
                found.push(FaceDetection {
                    bbox,
                    landmarks: Landmarks5(lm),
                    score,
                });
            }
        }
        Ok(nms(found, self.cfg.nms_iou))
    }
}
