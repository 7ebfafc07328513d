//! `[review]`: how many people confirm a candidate, and for how long it waits.

use crate::bad;
use civitas_base::Result;
use serde::{Deserialize, Serialize};

/// Human review of candidates.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// Different people who must confirm a face candidate. Default 2; cannot be less than 2.
    pub face_confirmations: usize,
    /// People who must confirm a plate candidate. Default 1.
    pub plate_confirmations: usize,
    /// Hours after which an unreviewed candidate expires. Default 24.
    pub candidate_expiry_hours: f64,
    /// Minutes during which a rejected entry is not re-alerted on the same camera. Default 60.
    pub suppress_after_reject_minutes: f64,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            face_confirmations: 2,
            plate_confirmations: 1,
            candidate_expiry_hours: 24.0,
            suppress_after_reject_minutes: 60.0,
        }
    }
}

impl ReviewConfig {
    pub fn validate(&self) -> Result<()> {
        if self.face_confirmations < 2 {
            return bad(
                "review.face_confirmations",
                format!(
                    "{} is below 2: a face match needs two different people to confirm it",
                    self.face_confirmations
                ),
            );
        }
        if self.plate_confirmations < 1 {
            return bad("review.plate_confirmations", "must be at least 1".into());
        }
        if self.candidate_expiry_hours.is_nan() || self.candidate_expiry_hours <= 0.0 {
            return bad("review.candidate_expiry_hours", "must be > 0".into());
        }
        Ok(())
    }
}
