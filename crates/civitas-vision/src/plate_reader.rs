//! Reading a plate crop: the PP-OCRv4 text recogniser (Apache-2.0, from the
//! PyPI wheel `rapidocr-onnxruntime==1.4.4`). Input `x` is [N, 3, 48, W] in
//! BGR order (PaddleOCR's training order), scaled to (x/255 − 0.5)/0.5, the
//! crop resized to height 48 keeping its aspect ratio and padded with zeros
//! on the right. Output is [N, T, C] class probabilities per time step,
//! decoded greedily with CTC (collapse repeats, drop the blank class 0). The
//! character list is in the model's own metadata (`character`), so it cannot
//! drift from the weights; index 0 is the blank and the last is a space.

use crate::runtime::{SessionOptions, open_session, run_err};
use civitas_base::{Error, ErrorKind, Result};
use civitas_model::RgbImage;
use ort::value::TensorRef;
use std::path::Path;

/// Input height of the recogniser.
pub const HEIGHT_PX: usize = 48;
/// Widest input (wider crops are squeezed to it).
pub const MAX_WIDTH_PX: usize = 320;

/// A read: the text and the mean probability of its characters.
#[derive(Debug, Clone, PartialEq)]
pub struct TextRead {
    pub text: String,
    pub confidence: f32,
}

/// The PP-OCRv4 recogniser.
#[derive(Debug)]
pub struct PlateReader {
    session: ort::session::Session,
    /// Class index → character (0 is the CTC blank, shown as "").
    chars: Vec<String>,
}

impl PlateReader {
    pub fn open(model: &Path, opts: SessionOptions) -> Result<Self> {
        let session = open_session(model, opts)?;
        let listed = session
            .metadata()
            .map_err(|e| run_err("plate reader metadata", e))?
            .custom("character")
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::DataLoss,
                    format!(
                        "{}: no `character` list in the model's metadata (is this PP-OCRv4's recogniser?)",
                        model.display()
                    ),
                )
            })?;
        let mut chars = vec![String::new()];
        chars.extend(listed.lines().map(str::to_owned));
        chars.push(" ".into());
        Ok(PlateReader { session, chars })
    }

    /// Classes the model knows (blank and space included).
    pub fn classes(&self) -> usize {
        self.chars.len()
    }

    /// Reads one crop holding one line of text.
    pub fn read(&mut self, crop: &RgbImage) -> Result<TextRead> {
        if crop.width_px < 4 || crop.height_px < 4 {
            return Err(Error::invalid(format!(
                "plate crop of {}x{} px is too small to read",
                crop.width_px, crop.height_px
            )));
        }
        let ratio = crop.width_px as f32 / crop.height_px as f32;
        let w = ((HEIGHT_PX as f32 * ratio).ceil() as usize).clamp(8, MAX_WIDTH_PX);
        // Resized to height 48 keeping the aspect ratio (the recogniser's
        // input is never padded here: each crop is read on its own).
        let input = crate::plate_detect::bgr_input(crop, w, HEIGHT_PX);
        let tensor = TensorRef::from_array_view(&input).map_err(|e| run_err("plate reader", e))?;
        let out = self
            .session
            .run(ort::inputs!["x" => tensor])
            .map_err(|e| run_err("plate reader", e))?;
        let probs = out[0]
            .try_extract_array::<f32>()
            .map_err(|e| run_err("plate reader", e))?;
        let shape = probs.shape().to_vec();
        if shape.len() != 3 || shape[2] != self.chars.len() {
            return Err(Error::new(
                ErrorKind::DataLoss,
                format!(
                    "plate reader output {shape:?} does not match its {} classes",
                    self.chars.len()
                ),
            ));
        }
        let mut text = String::new();
        let mut confidences = Vec::new();
        let mut prev = 0usize;
        for t in 0..shape[1] {
            let (best, p) = (0..shape[2])
                .map(|k| (k, probs[[0, t, k]]))
                .fold((0, f32::MIN), |a, b| if b.1 > a.1 { b } else { a });
            if best != 0 && best != prev {
                text.push_str(&self.chars[best]);
                confidences.push(p);
            }
            prev = best;
        }
        let confidence = if confidences.is_empty() {
            0.0
        } else {
            confidences.iter().sum::<f32>() / confidences.len() as f32
        };
        Ok(TextRead { text, confidence })
    }
}
