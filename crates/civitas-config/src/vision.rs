//! `[vision]`: the models and how faces are matched.

use crate::bad;
use civitas_base::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which face detector to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// SCRFD (InsightFace weights: non-commercial research terms). Finds small faces well.
    Scrfd,
    /// MediaPipe BlazeFace (Apache-2.0): the clean-licence choice; misses small faces.
    Blazeface,
}

/// Models and matching.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VisionConfig {
    /// Folder holding the installed models. Default `var/models`.
    #[serde(default = "default_models")]
    pub models_dir: PathBuf,
    /// ONNX Runtime shared library. Default `var/lib/libonnxruntime.so.1.31.1`.
    #[serde(default = "default_ort")]
    pub ort_library: PathBuf,
    /// Face detector. Default `scrfd`.
    #[serde(default = "default_detector")]
    pub detector: DetectorKind,
    /// BlazeFace only: square tiles per side run besides the whole frame, so
    /// small faces are found (0 = whole frame only). Default 2; 4 for crowds.
    #[serde(default = "default_tiles")]
    pub blazeface_tiles: usize,
    /// Minimum detector confidence, 0..1. Default 0.5.
    #[serde(default = "default_min_score")]
    pub min_detector_score: f32,
    /// Match threshold (Euclidean distance between normalised templates), 0..2. Default 0.40.
    #[serde(default = "default_threshold")]
    pub match_threshold: f32,
    /// Match threshold for faces in gray pictures (night and infrared
    /// cameras, frames without colour). Default: `match_threshold` (on real
    /// photographs gray faces raise no more false matches than colour ones,
    /// BENCHMARKS.md); set it to judge them differently.
    #[serde(default)]
    pub grayscale_match_threshold: Option<f32>,
    /// The share of searched faces of strangers allowed to match (FPIR per search), 0..1:
    /// the thresholds tighten as the watchlist grows, from the false-match
    /// rates measured with `civitas eval identify`; the two thresholds above
    /// are then the most lenient ever used. 0 = fixed thresholds. Default 0.001.
    #[serde(default = "default_target_fpir")]
    pub target_fpir: f64,
    /// Faces with eyes closer than this many pixels are counted, not matched.
    /// Default 24 (calibrated with `civitas eval identify`, BENCHMARKS.md).
    #[serde(default = "default_min_eye")]
    pub min_eye_distance_px: f32,
    /// CPU threads per model session. Default 1.
    #[serde(default = "default_threads")]
    pub threads: usize,
}

fn default_models() -> PathBuf {
    PathBuf::from("var/models")
}

fn default_ort() -> PathBuf {
    PathBuf::from("var/lib/libonnxruntime.so.1.31.1")
}

fn default_detector() -> DetectorKind {
    DetectorKind::Scrfd
}

fn default_tiles() -> usize {
    2
}

fn default_min_score() -> f32 {
    0.5
}

fn default_threshold() -> f32 {
    civitas_pipeline::face::DEFAULT_MATCH_THRESHOLD
}

fn default_target_fpir() -> f64 {
    0.001
}

fn default_min_eye() -> f32 {
    civitas_pipeline::face::DEFAULT_MIN_EYE_DISTANCE_PX
}

fn default_threads() -> usize {
    1
}

impl Default for VisionConfig {
    fn default() -> Self {
        VisionConfig {
            models_dir: default_models(),
            ort_library: default_ort(),
            detector: default_detector(),
            blazeface_tiles: default_tiles(),
            min_detector_score: default_min_score(),
            match_threshold: default_threshold(),
            grayscale_match_threshold: None,
            target_fpir: default_target_fpir(),
            min_eye_distance_px: default_min_eye(),
            threads: default_threads(),
        }
    }
}

impl VisionConfig {
    /// Checks each field's range; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let v = self;
        if !(0.0..=2.0).contains(&v.match_threshold) {
            return bad(
                "vision.match_threshold",
                format!("{} is outside 0..2", v.match_threshold),
            );
        }
        if let Some(g) = v.grayscale_match_threshold
            && !(0.0..=2.0).contains(&g)
        {
            return bad(
                "vision.grayscale_match_threshold",
                format!("{g} is outside 0..2"),
            );
        }
        if !(0.0..1.0).contains(&v.target_fpir) {
            return bad(
                "vision.target_fpir",
                format!("{} is outside 0..1 (0 = fixed thresholds)", v.target_fpir),
            );
        }
        if !(0.0..=1.0).contains(&v.min_detector_score) {
            return bad(
                "vision.min_detector_score",
                format!("{} is outside 0..1", v.min_detector_score),
            );
        }
        if v.min_eye_distance_px.is_nan() || v.min_eye_distance_px < 0.0 {
            return bad("vision.min_eye_distance_px", "must be >= 0".into());
        }
        if v.blazeface_tiles > 8 {
            return bad(
                "vision.blazeface_tiles",
                format!("{} is more than 8", v.blazeface_tiles),
            );
        }
        if !(1..=64).contains(&v.threads) {
            return bad("vision.threads", format!("{} is outside 1..64", v.threads));
        }
        Ok(())
    }
}
