//! Per-stage wall-clock accounting for the face pipeline.

use std::time::Duration;

/// Cumulative time per stage and counts, since creation.
#[derive(Debug, Clone, Default)]
pub struct StageStats {
    pub frames: u64,
    pub faces: u64,
    pub detect: Duration,
    pub align: Duration,
    pub embed: Duration,
    pub search: Duration,
    pub track: Duration,
}

impl StageStats {
    pub fn total(&self) -> Duration {
        self.detect + self.align + self.embed + self.search + self.track
    }

    /// Milliseconds per frame for a stage.
    pub fn ms_per_frame(&self, d: Duration) -> f64 {
        if self.frames == 0 {
            0.0
        } else {
            d.as_secs_f64() * 1000.0 / self.frames as f64
        }
    }
}
