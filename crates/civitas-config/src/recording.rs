//! `[recording]`: what RTSP cameras record, where, and for how long around an event.

use crate::bad;
use civitas_base::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Recording of RTSP cameras (the encoded stream as received, no re-encoding).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Where recordings are written, one folder per camera. Default `var/recordings`.
    pub dir: PathBuf,
    /// Seconds kept before an event (a candidate, a plate read). Default 10.
    pub pre_roll_s: f64,
    /// Seconds kept after the last event of a clip. Default 10.
    pub post_roll_s: f64,
    /// Continuous recording: length of one file, in minutes. Default 5.
    pub segment_minutes: f64,
    /// Bytes of recordings one camera may keep, in GB; the oldest
    /// recordings no legal hold covers are deleted beyond it. Default 20.
    pub max_gb_per_camera: f64,
    /// Where evidence bundles exported from the console are written. Default `var/evidence`.
    pub evidence_dir: PathBuf,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            dir: PathBuf::from("var/recordings"),
            pre_roll_s: 10.0,
            post_roll_s: 10.0,
            segment_minutes: 5.0,
            max_gb_per_camera: 20.0,
            evidence_dir: PathBuf::from("var/evidence"),
        }
    }
}

impl RecordingConfig {
    pub fn validate(&self) -> Result<()> {
        let r = self;
        for (f, v, max) in [
            ("recording.pre_roll_s", r.pre_roll_s, 120.0),
            ("recording.post_roll_s", r.post_roll_s, 600.0),
            ("recording.segment_minutes", r.segment_minutes, 60.0),
        ] {
            if v.is_nan() || v < 0.0 || v > max {
                return bad(f, format!("{v} is outside 0..{max}"));
            }
        }
        if r.segment_minutes <= 0.0 {
            return bad("recording.segment_minutes", "must be > 0".into());
        }
        if r.max_gb_per_camera.is_nan() || r.max_gb_per_camera <= 0.0 {
            return bad("recording.max_gb_per_camera", "must be > 0".into());
        }
        Ok(())
    }
}
