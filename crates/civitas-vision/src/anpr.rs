//! Number-plate recognition on one frame: find lines of text
//! ([`crate::plate_detect`]), sample each upright,
//! read it ([`crate::plate_reader`]), normalise it and fit it to the
//! configured plate formats ([`crate::plate_text`]). Text that does not fit a
//! format (a shop sign, the country band of a plate) is counted, not read out.

use crate::plate_detect::{TextBox, TextDetector, TextDetectorConfig, rectify};
use crate::plate_reader::PlateReader;
use crate::plate_text::{PlateFormat, best_format, clean_read};
use crate::runtime::SessionOptions;
use civitas_base::Result;
use civitas_model::{BBox, RgbImage};
use std::path::Path;

/// Recognition settings.
#[derive(Debug, Clone)]
pub struct AnprConfig {
    pub detector: TextDetectorConfig,
    /// Accepted formats; empty accepts any 4–10 characters with a digit.
    pub formats: Vec<PlateFormat>,
    /// Reads below this mean character probability are dropped.
    pub min_confidence: f32,
    /// Text lines thinner than this (frame pixels) are too small to read reliably.
    pub min_text_height_px: f32,
}

impl Default for AnprConfig {
    fn default() -> Self {
        AnprConfig {
            detector: TextDetectorConfig::default(),
            formats: Vec::new(),
            min_confidence: 0.6,
            min_text_height_px: 10.0,
        }
    }
}

/// One plate read in one frame.
#[derive(Debug, Clone)]
pub struct PlateRead {
    /// Normalised and fitted to its format (upper case, no separators).
    pub text: String,
    /// The format it fitted, if formats are configured.
    pub format: Option<String>,
    /// Mean character probability (0–1).
    pub confidence: f32,
    /// The text line in frame pixels.
    pub text_box: TextBox,
    pub bbox: BBox,
    /// The line sampled upright, as read.
    pub crop: RgbImage,
}

/// What one frame held.
#[derive(Debug, Default)]
pub struct AnprScan {
    pub reads: Vec<PlateRead>,
    /// Lines of text found (plates or not).
    pub lines: Vec<TextBox>,
    /// Lines too thin to read.
    pub too_small: usize,
    /// Lines read as characters other than Latin letters and digits.
    pub non_latin: usize,
    /// Lines not shaped like a plate's (skipped unread), or read but not as a
    /// plate of the configured formats or confidently enough.
    pub not_plates: usize,
    /// Time spent finding text, and reading it.
    pub detect: std::time::Duration,
    pub read: std::time::Duration,
}

/// Length-to-thickness ratios of a plate's line of text: 4 to 10 characters
/// with separators, in the fonts plates use, seen up to ~45° off axis.
pub const PLATE_LINE_ASPECT: std::ops::RangeInclusive<f32> = 1.5..=12.0;

/// What one line of OCR text is.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A plate: normalised, fitted to its format.
    Plate {
        text: String,
        format: Option<String>,
    },
    /// Letters of another script (refused, never bent into Latin).
    NonLatin,
    /// Not a plate of the configured formats, or not read confidently enough.
    NotPlate,
}

/// Decides what a line of OCR text is: the same rule for Civitas's reads
/// and, in `civitas eval plates --reads`, for a peer's.
pub fn accept(cfg: &AnprConfig, text: &str, confidence: f32) -> Verdict {
    let norm = match clean_read(text) {
        Ok(n) => n,
        Err(_) if text.chars().any(|c| c.is_alphabetic() && !c.is_ascii()) => {
            return Verdict::NonLatin;
        }
        Err(_) => return Verdict::NotPlate,
    };
    match best_format(&norm, &cfg.formats) {
        Some((text, format)) if confidence >= cfg.min_confidence => Verdict::Plate { text, format },
        _ => Verdict::NotPlate,
    }
}

/// Drops reads that are a plate's small print: a line much thinner than
/// another read just above or below it and within its width (the country
/// band `BRASIL` over `ABC1D23` fits a Colombian format once corrected, but
/// is not a second plate).
pub fn drop_small_print(reads: Vec<PlateRead>) -> Vec<PlateRead> {
    let small_print = |r: &PlateRead| {
        reads.iter().any(|m| {
            let (t, mt) = (r.text_box.thickness, m.text_box.thickness);
            let cx = (r.bbox.x0 + r.bbox.x1) / 2.0;
            let gap = (r.text_box.cy - m.text_box.cy).abs();
            t < 0.6 * mt && cx > m.bbox.x0 && cx < m.bbox.x1 && gap < 1.5 * mt
        })
    };
    let keep: Vec<bool> = reads.iter().map(|r| !small_print(r)).collect();
    reads
        .into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect()
}

/// Detector + reader + formats.
#[derive(Debug)]
pub struct PlateRecogniser {
    detector: TextDetector,
    reader: PlateReader,
    cfg: AnprConfig,
}

impl PlateRecogniser {
    /// Opens both models from a directory holding `ch_PP-OCRv4_det_infer.onnx`
    /// and `ch_PP-OCRv4_rec_infer.onnx`.
    pub fn open(models_dir: &Path, cfg: AnprConfig, opts: SessionOptions) -> Result<Self> {
        let detector = TextDetector::open(
            &models_dir.join("ch_PP-OCRv4_det_infer.onnx"),
            cfg.detector,
            opts,
        )?;
        let reader = PlateReader::open(&models_dir.join("ch_PP-OCRv4_rec_infer.onnx"), opts)?;
        Ok(PlateRecogniser {
            detector,
            reader,
            cfg,
        })
    }

    pub fn config(&self) -> &AnprConfig {
        &self.cfg
    }

    /// The plates in one frame, most confident first.
    pub fn scan(&mut self, frame: &RgbImage) -> Result<AnprScan> {
        let t0 = std::time::Instant::now();
        let lines = self.detector.detect(frame)?;
        let mut scan = AnprScan {
            lines: lines.clone(),
            detect: t0.elapsed(),
            ..AnprScan::default()
        };
        let t1 = std::time::Instant::now();
        for line in lines {
            if line.thickness < self.cfg.min_text_height_px {
                scan.too_small += 1;
                continue;
            }
            if !PLATE_LINE_ASPECT.contains(&(line.length / line.thickness)) {
                scan.not_plates += 1;
                continue;
            }
            let Some(crop) = rectify(frame, &line) else {
                scan.too_small += 1;
                continue;
            };
            let read = self.reader.read(&crop)?;
            tracing::debug!(text = %read.text, confidence = read.confidence, x = line.cx, y = line.cy, h = line.thickness, "text line read");
            match accept(&self.cfg, &read.text, read.confidence) {
                Verdict::Plate { text, format } => scan.reads.push(PlateRead {
                    text,
                    format,
                    confidence: read.confidence,
                    text_box: line,
                    bbox: line.bbox(),
                    crop,
                }),
                Verdict::NonLatin => scan.non_latin += 1,
                Verdict::NotPlate => scan.not_plates += 1,
            }
        }
        let before = scan.reads.len();
        scan.reads = drop_small_print(scan.reads);
        scan.not_plates += before - scan.reads.len();
        scan.reads
            .sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        scan.read = t1.elapsed();
        Ok(scan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, cx: f32, cy: f32, length: f32, thickness: f32) -> PlateRead {
        let text_box = TextBox {
            cx,
            cy,
            length,
            thickness,
            angle: 0.0,
            score: 0.9,
        };
        PlateRead {
            text: text.into(),
            format: None,
            confidence: 0.9,
            text_box,
            bbox: text_box.bbox(),
            crop: RgbImage::zeros(1, 1),
        }
    }

    #[test]
    fn a_plates_band_is_not_a_second_plate_but_a_second_car_is() {
        let kept = drop_small_print(vec![
            read("ABC1D23", 200.0, 130.0, 180.0, 40.0),
            read("BRA51L", 200.0, 95.0, 90.0, 14.0),
            // Another car's plate, as thick, elsewhere in the frame.
            read("PBX1234", 600.0, 300.0, 180.0, 40.0),
            // A thin line far below the first plate is not its small print.
            read("XYZ987", 200.0, 400.0, 90.0, 14.0),
        ]);
        let texts: Vec<&str> = kept.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["ABC1D23", "PBX1234", "XYZ987"]);
    }
}
