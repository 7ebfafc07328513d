//! Face embedder: the converted dlib ResNet (128-d). Chips in, templates out.
//!
//! Each template is the mean of the descriptors of the chip and its mirror
//! image, L2-normalised; both measured better than the plain descriptor on
//! real faces (see `shared/DLIB-MODEL-NOTES.md`).

use crate::dlib_convert::{CHIP_SIZE_PX, INPUT_NAME, OUTPUT_NAME};
use crate::runtime::{SessionOptions, open_session, run_err};
use civitas_base::{Error, Result};
use civitas_model::{FaceTemplate, RgbImage};
use ndarray::Array4;
use ort::value::TensorRef;
use std::path::Path;

/// Embedder settings.
#[derive(Debug, Clone, Copy)]
pub struct EmbedderConfig {
    /// Average with the mirrored chip (two network passes per face).
    pub mirror: bool,
    pub session: SessionOptions,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        EmbedderConfig {
            mirror: true,
            session: SessionOptions::default(),
        }
    }
}

/// The dlib face-recognition network through ONNX Runtime.
#[derive(Debug)]
pub struct FaceEmbedder {
    session: ort::session::Session,
    cfg: EmbedderConfig,
}

impl FaceEmbedder {
    pub fn open(model: &Path, cfg: EmbedderConfig) -> Result<Self> {
        Ok(FaceEmbedder {
            session: open_session(model, cfg.session)?,
            cfg,
        })
    }

    /// Raw network output for 150 × 150 chips (no mirroring, no normalisation):
    /// what dlib's `compute_face_descriptor(chip)` returns.
    pub fn descriptors(&mut self, chips: &[&RgbImage]) -> Result<Vec<Vec<f32>>> {
        if chips.is_empty() {
            return Ok(Vec::new());
        }
        let s = CHIP_SIZE_PX;
        let mut input = Array4::<f32>::zeros((chips.len(), 3, s, s));
        for (n, chip) in chips.iter().enumerate() {
            if chip.width_px as usize != s || chip.height_px as usize != s {
                return Err(Error::invalid(format!(
                    "embedder needs {s}x{s} chips, got {}x{}",
                    chip.width_px, chip.height_px
                )));
            }
            let plane = s * s;
            let dst = input.as_slice_mut().expect("fresh array is contiguous");
            let base = n * 3 * plane;
            for (i, px) in chip.data.chunks_exact(3).enumerate() {
                dst[base + i] = px[0] as f32;
                dst[base + plane + i] = px[1] as f32;
                dst[base + 2 * plane + i] = px[2] as f32;
            }
        }
        let tensor = TensorRef::from_array_view(&input).map_err(|e| run_err("embedder", e))?;
        let out = self
            .session
            .run(ort::inputs![INPUT_NAME => tensor])
            .map_err(|e| run_err("embedder", e))?;
        let arr = out[OUTPUT_NAME]
            .try_extract_array::<f32>()
            .map_err(|e| run_err("embedder", e))?;
        let dim = arr.shape().get(1).copied().unwrap_or(0);
        let flat: Vec<f32> = arr.iter().copied().collect();
        Ok(flat.chunks_exact(dim.max(1)).map(|c| c.to_vec()).collect())
    }

    /// Templates for aligned chips: mirror-averaged (if configured) and L2-normalised.
    pub fn embed(&mut self, chips: &[RgbImage]) -> Result<Vec<FaceTemplate>> {
        if chips.is_empty() {
            return Ok(Vec::new());
        }
        let mirrored: Vec<RgbImage> = if self.cfg.mirror {
            chips.iter().map(mirror).collect()
        } else {
            Vec::new()
        };
        let mut refs: Vec<&RgbImage> = chips.iter().collect();
        refs.extend(mirrored.iter());
        let d = self.descriptors(&refs)?;
        let n = chips.len();
        Ok((0..n)
            .map(|i| {
                let mut v = d[i].clone();
                if self.cfg.mirror {
                    for (a, b) in v.iter_mut().zip(&d[n + i]) {
                        *a = 0.5 * (*a + *b);
                    }
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|x| *x /= norm);
                FaceTemplate::new(v)
            })
            .collect())
    }
}

/// Horizontal mirror image.
pub fn mirror(img: &RgbImage) -> RgbImage {
    let (w, h) = (img.width_px as usize, img.height_px as usize);
    let mut out = RgbImage::zeros(img.width_px, img.height_px);
    for y in 0..h {
        for x in 0..w {
            let s = (y * w + x) * 3;
            let d = (y * w + (w - 1 - x)) * 3;
            out.data[d..d + 3].copy_from_slice(&img.data[s..s + 3]);
        }
    }
    out
}
