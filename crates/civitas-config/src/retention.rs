//! `[retention]`: how long each class of data is kept.

use serde::{Deserialize, Serialize};

/// How long each data class is kept, in days (absent or negative: kept until deleted by hand).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Candidates nobody reviewed. Default 7.
    pub unreviewed_candidates_days: f64,
    /// Rejected candidates (false positives, kept a while as feedback). Default 30.
    pub rejected_candidates_days: f64,
    /// Candidates that expired unreviewed. Default 7.
    pub expired_candidates_days: f64,
    /// Confirmed matches. Default 365.
    pub confirmed_candidates_days: f64,
    /// Watchlist entries, counted from their legal basis's expiry. Default 30.
    pub expired_entries_days: f64,
    /// Incidents, counted from their closing (caller, notes, timeline). Default 365.
    pub closed_incidents_days: f64,
    /// Camera events (health changes, stops). Default 90.
    pub camera_events_days: f64,
    /// Recordings (event clips and continuous segments). Default 30.
    pub recordings_days: f64,
    /// Evidence bundles, counted from their export; a legal hold on their
    /// candidate keeps them. Default 365.
    pub evidence_bundles_days: f64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            unreviewed_candidates_days: 7.0,
            rejected_candidates_days: 30.0,
            expired_candidates_days: 7.0,
            confirmed_candidates_days: 365.0,
            expired_entries_days: 30.0,
            closed_incidents_days: 365.0,
            camera_events_days: 90.0,
            recordings_days: 30.0,
            evidence_bundles_days: 365.0,
        }
    }
}
