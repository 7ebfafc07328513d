//! `[anpr]`: reading number plates.

use crate::bad;
use civitas_base::Result;
use serde::{Deserialize, Serialize};

/// Number-plate recognition (for cameras with `anpr = true`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnprConfig {
    /// Plate format presets to accept (`EC`, `BO`, `CO`, `PE`, `AR`, `BR`, `CL`,
    /// `DO`, or `ANY`). Reads are corrected to them by position (a `0` where a
    /// letter belongs becomes `O`). Default `["ANY"]`: any 4–10 characters with a digit.
    pub formats: Vec<String>,
    /// Reads below this mean character probability are dropped, 0..1. Default 0.6.
    pub min_confidence: f32,
    /// Plate text lines thinner than this (pixels) are counted, not read. Default 10.
    pub min_text_height_px: f32,
    /// A vehicle pass ends when its plate has not been seen for this long (ms). Default 1500.
    pub pass_gap_ms: i64,
    /// The same plate at the same place within this long after its last pass
    /// is a vehicle still standing there, not read out again (ms). Default 300000.
    pub parked_window_ms: i64,
    /// The text detector's input: frames whose shorter side is below this are
    /// scaled up to it (small plates need it; the cost grows with its
    /// square). Default 480: on our set as accurate as 736, and 2.3× faster to search.
    pub detect_min_side_px: usize,
    /// …and no side of the detector's input is longer than this. Default 1280.
    pub detect_max_side_px: usize,
    /// Hours a read with no hotlist hit is kept. Default 24.
    pub retain_no_hit_hours: f64,
    /// Days a read that hit a hotlist entry is kept. Default 90.
    pub retain_hit_days: f64,
}

impl Default for AnprConfig {
    fn default() -> Self {
        AnprConfig {
            formats: vec!["ANY".into()],
            min_confidence: 0.6,
            min_text_height_px: 10.0,
            pass_gap_ms: 1500,
            parked_window_ms: 300_000,
            detect_min_side_px: 480,
            detect_max_side_px: 1280,
            retain_no_hit_hours: 24.0,
            retain_hit_days: 90.0,
        }
    }
}

impl AnprConfig {
    pub fn validate(&self) -> Result<()> {
        let a = self;
        if let Err(e) = civitas_vision::plate_text::formats_for(&a.formats) {
            return bad("anpr.formats", e);
        }
        if !(0.0..=1.0).contains(&a.min_confidence) {
            return bad(
                "anpr.min_confidence",
                format!("{} is outside 0..1", a.min_confidence),
            );
        }
        if a.min_text_height_px.is_nan() || a.min_text_height_px < 4.0 {
            return bad("anpr.min_text_height_px", "must be >= 4".into());
        }
        if !(0..=86_400_000).contains(&a.parked_window_ms) {
            return bad(
                "anpr.parked_window_ms",
                format!("{} is outside 0..86400000", a.parked_window_ms),
            );
        }
        if !(128..=2048).contains(&a.detect_min_side_px) {
            return bad(
                "anpr.detect_min_side_px",
                format!("{} is outside 128..2048", a.detect_min_side_px),
            );
        }
        if !(a.detect_min_side_px..=4096).contains(&a.detect_max_side_px) {
            return bad(
                "anpr.detect_max_side_px",
                format!(
                    "{} is outside detect_min_side_px..4096",
                    a.detect_max_side_px
                ),
            );
        }
        if !(100..=60_000).contains(&a.pass_gap_ms) {
            return bad(
                "anpr.pass_gap_ms",
                format!("{} is outside 100..60000", a.pass_gap_ms),
            );
        }
        if a.retain_no_hit_hours.is_nan() || a.retain_no_hit_hours <= 0.0 {
            return bad("anpr.retain_no_hit_hours", "must be > 0".into());
        }
        if a.retain_hit_days.is_nan() || a.retain_hit_days <= 0.0 {
            return bad("anpr.retain_hit_days", "must be > 0".into());
        }
        Ok(())
    }
}
