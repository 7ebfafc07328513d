//! SCRFD face detector (boxes + five landmarks), from the `scrfd==0.3.0`
//! source distribution. Input `input.1` `[1,3,640,640]` RGB, `(x − 127.5) / 128`,
//! letterboxed at the top-left; outputs `score_*`, `bbox_*`, `kps_*` for strides
//! 8, 16 and 32 with two anchors per cell, decoded as distances from the anchor
//! centre in units of the stride.

use crate::detect::{DetectorConfig, FaceDetector, nms};
use crate::onnx_proto::Dim;
use crate::runtime::{SessionOptions, open_session, run_err};
use civitas_base::Result;
use civitas_model::{BBox, FaceDetection, Landmarks5, RgbImage};
use ort::value::TensorRef;
use std::path::Path;

/// The network's width (and, for square or portrait frames, height) in pixels.
const SIDE_PX: usize = 640;
const STRIDES: [usize; 3] = [8, 16, 32];
const ANCHORS_PER_CELL: usize = 2;

/// The SCRFD network through ONNX Runtime.
///
/// The packaged graph is fixed at 640 × 640, but only its two FPN `Resize`
/// nodes depend on that (its reshapes use −1). A 16:9 frame letterboxed into
/// 640 × 640 is 44% padding, so for landscape frames we load a copy of the
/// graph patched in memory to 640 wide × H high (H the frame's height scaled
/// to 640 wide, rounded up to a multiple of 32): the same weights and the same
/// answers on the real pixels, ~40% less work. One session per height seen.
#[derive(Debug)]
pub struct Scrfd {
    model: Vec<u8>,
    opts: SessionOptions,
    /// Sessions by input height.
    sessions: Vec<(usize, ort::session::Session)>,
    cfg: DetectorConfig,
    input: Vec<f32>,
}

impl Scrfd {
    pub fn open(model: &Path, cfg: DetectorConfig, session: SessionOptions) -> Result<Self> {
        let full = open_session(model, session)?;
        let bytes = std::fs::read(model).map_err(|e| {
            civitas_base::Error::with_source(
                civitas_base::ErrorKind::Unavailable,
                format!("reading {}", model.display()),
                e,
            )
        })?;
        Ok(Scrfd {
            model: bytes,
            opts: session,
            sessions: vec![(SIDE_PX, full)],
            cfg,
            input: vec![0.0; 3 * SIDE_PX * SIDE_PX],
        })
    }

    fn session_for_height(&mut self, h: usize) -> Result<usize> {
        if let Some(i) = self.sessions.iter().position(|(sh, _)| *sh == h) {
            return Ok(i);
        }
        let patched = patch_height(&self.model, h)?;
        let s = crate::runtime::open_session_from_memory(
            &patched,
            self.opts,
            "scrfd (patched height)",
        )?;
        self.sessions.push((h, s));
        Ok(self.sessions.len() - 1)
    }
}

/// Network input height for a frame: the frame's height at 640 px wide,
/// rounded up to a multiple of 32 (the coarsest stride); 640 for portrait frames.
pub fn input_height(width_px: u32, height_px: u32) -> usize {
    if height_px >= width_px {
        return SIDE_PX;
    }
    let h = (SIDE_PX as f64 * height_px as f64 / width_px as f64).ceil() as usize;
    h.div_ceil(32).max(1) * 32
}

fn i64s(v: [i64; 4]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// Replaces the single occurrence of `from` by `to` (same length), or fails.
fn replace_once(b: &mut [u8], from: &[u8], to: &[u8], what: &str) -> Result<()> {
    debug_assert_eq!(from.len(), to.len());
    let hits: Vec<usize> = b
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    if hits.len() != 1 {
        return Err(civitas_base::Error::new(
            civitas_base::ErrorKind::DataLoss,
            format!(
                "scrfd model: expected one {what}, found {}; is this scrfd==0.3.0's scrfd.onnx?",
                hits.len()
            ),
        ));
    }
    b[hits[0]..hits[0] + to.len()].copy_from_slice(to);
    Ok(())
}

/// A copy of the 640 × 640 SCRFD graph that takes 640 wide × `h` high.
/// Same-length byte edits: the input's height dimension and the two FPN
/// `Resize` output sizes. `h` is a multiple of 32 in 128..=640.
pub fn patch_height(model: &[u8], h: usize) -> Result<Vec<u8>> {
    if !h.is_multiple_of(32) || !(128..=SIDE_PX).contains(&h) {
        return Err(civitas_base::Error::invalid(format!(
            "scrfd input height {h} is not a multiple of 32 in 128..=640"
        )));
    }
    // Drop the stored intermediate shapes (graph field 13) and make the outputs'
    // anchor counts symbolic, so ONNX Runtime infers them for the new height.
    let mut b = crate::onnx_proto::rewrite_graph(model, |f| match f.number {
        13 => Some(Vec::new()),
        12 => {
            let name = crate::onnx_proto::value_info_name(f.value)?;
            let last = if name.starts_with("score") {
                1
            } else if name.starts_with("bbox") {
                4
            } else {
                10
            };
            Some(crate::onnx_proto::encode_output(
                &crate::onnx_proto::ValueInfo {
                    name,
                    dims: vec![Dim::Fixed(1), Dim::Named("anchors"), Dim::Fixed(last)],
                },
            ))
        }
        _ => None,
    })
    .ok_or_else(|| {
        civitas_base::Error::new(
            civitas_base::ErrorKind::DataLoss,
            "scrfd model: not a readable ONNX file",
        )
    })?;
    let h = h as i64;
    replace_once(
        &mut b,
        &i64s([1, 24, 40, 40]),
        &i64s([1, 24, h / 16, 40]),
        "stride-16 resize size",
    )?;
    replace_once(
        &mut b,
        &i64s([1, 24, 80, 80]),
        &i64s([1, 24, h / 8, 80]),
        "stride-8 resize size",
    )?;
    // Input dims 1, 3, 640, 640 as TensorShapeProto dimensions; 640 and any
    // multiple of 32 from 128 up encode as 2-byte varints, so lengths match.
    let dim = |v: u64| {
        let e = varint(v);
        let mut d = vec![0x0a, (e.len() + 1) as u8, 0x08];
        d.extend(e);
        d
    };
    let mut from = [dim(1), dim(3), dim(640), dim(640)].concat();
    let to = [dim(1), dim(3), dim(h as u64), dim(640)].concat();
    from.truncate(to.len());
    replace_once(&mut b, &from, &to, "input shape 1×3×640×640")?;
    Ok(b)
}

/// Resizes `img` (keeping its aspect) into the top-left of a `dw` × `dh` NCHW
/// tensor with bilinear sampling, normalising as `(x − mean) · scale`; the rest
/// is the normalised value of black. Returns the source pixels per tensor pixel.
pub(crate) fn letterbox_into(
    img: &RgbImage,
    dst: &mut [f32],
    dw: usize,
    dh: usize,
    mean: f32,
    scale: f32,
) -> f32 {
    let (w, h) = (img.width_px as usize, img.height_px as usize);
    let ratio = (w as f32 / dw as f32).max(h as f32 / dh as f32);
    let (nw, nh) = (
        ((w as f32 / ratio).round() as usize).clamp(1, dw),
        ((h as f32 / ratio).round() as usize).clamp(1, dh),
    );
    let plane = dw * dh;
    let dst = &mut dst[..3 * plane];
    dst.fill((0.0 - mean) * scale);
    // Area filter in two cheap steps, so small faces are not aliased away:
    // average k × k blocks (k = the whole part of the shrink factor), then
    // bilinear-sample the remaining factor (< 2) from that smaller image.
    let k = (ratio.floor() as usize).max(1);
    let (sw, sh) = ((w / k).max(1), (h / k).max(1));
    let small = box_downsample(img, k, sw, sh);
    let r = ratio / k as f32;
    for y in 0..nh {
        let fy = ((y as f32 + 0.5) * r - 0.5).clamp(0.0, (sh - 1) as f32);
        let (y0, ty) = (fy as usize, fy.fract());
        let y1 = (y0 + 1).min(sh - 1);
        for x in 0..nw {
            let fx = ((x as f32 + 0.5) * r - 0.5).clamp(0.0, (sw - 1) as f32);
            let (x0, tx) = (fx as usize, fx.fract());
            let x1 = (x0 + 1).min(sw - 1);
            let i = y * dw + x;
            for c in 0..3 {
                let p = |xx: usize, yy: usize| small[(yy * sw + xx) * 3 + c];
                let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * tx;
                let bot = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * tx;
                dst[c * plane + i] = (top + (bot - top) * ty - mean) * scale;
            }
        }
    }
    ratio
}

/// Averages `k` × `k` pixel blocks into an `sw` × `sh` RGB f32 image.
fn box_downsample(img: &RgbImage, k: usize, sw: usize, sh: usize) -> Vec<f32> {
    let w = img.width_px as usize;
    let mut out = vec![0.0f32; sw * sh * 3];
    let inv = 1.0 / (k * k) as f32;
    let mut row = vec![0u32; sw * 3];
    for oy in 0..sh {
        row.iter_mut().for_each(|v| *v = 0);
        for y in oy * k..oy * k + k {
            let src = &img.data[y * w * 3..y * w * 3 + sw * k * 3];
            for (ox, block) in src.chunks_exact(k * 3).enumerate() {
                for px in block.chunks_exact(3) {
                    row[ox * 3] += px[0] as u32;
                    row[ox * 3 + 1] += px[1] as u32;
                    row[ox * 3 + 2] += px[2] as u32;
                }
            }
        }
        for (o, v) in out[oy * sw * 3..(oy + 1) * sw * 3].iter_mut().zip(&row) {
            *o = *v as f32 * inv;
        }
    }
    out
}

impl FaceDetector for Scrfd {
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<FaceDetection>> {
        let h = input_height(frame.width_px, frame.height_px);
        let ratio = letterbox_into(frame, &mut self.input, SIDE_PX, h, 127.5, 1.0 / 128.0);
        let idx = self.session_for_height(h)?;
        let view =
            ndarray::ArrayView4::from_shape((1, 3, h, SIDE_PX), &self.input[..3 * h * SIDE_PX])
                .map_err(|e| run_err("scrfd", e))?;
        let tensor = TensorRef::from_array_view(view).map_err(|e| run_err("scrfd", e))?;
        let out = self.sessions[idx]
            .1
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
            let cells = SIDE_PX / stride; // cells per row (the width is always 640)
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
                let bbox = BBox::new(
                    (cx - d[0] * s) * ratio,
                    (cy - d[1] * s) * ratio,
                    (cx + d[2] * s) * ratio,
                    (cy + d[3] * s) * ratio,
                );
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
