//! Shared by the store's suites: a candidate to store, and the rows written
//! in an old schema before an upgrade (SQLite and PostgreSQL).
#![allow(dead_code)]

use civitas_base::Timestamp;
use civitas_model::{BBox, CameraId, Candidate, EntryId, TrackId};

/// A candidate for `entry` seen on `camera` at `t` (a later sighting is a
/// different result).
pub fn cand_at(entry: EntryId, camera: &str, t: Timestamp) -> Candidate {
    Candidate {
        id: None,
        camera: CameraId::from(camera),
        track: TrackId(3),
        entry,
        entry_name: "Alice".into(),
        distance: 0.31,
        detector_score: 0.9,
        bbox: BBox::new(1.0, 2.0, 3.0, 4.0),
        frame_time: t,
        offset_ms: 500,
        crop_jpeg: vec![1, 2, 3],
    }
}

/// Rows valid in schema v2 (and later): a basis, an entry with a template,
/// a candidate with a review, a user, a hold.
pub const SEED_V2: &str = "
INSERT INTO legal_basis (id, kind, authority, reference, purpose, granted_at_ms, expires_at_ms, entered_by)
  VALUES (1, 'court-order', 'Court 1', 'CO-1', 'test', 1000, 9000000000000, 'sam');
INSERT INTO watchlist_entry (id, name, legal_basis_id, created_at_ms) VALUES (1, 'Alice', 1, 1000);
INSERT INTO entry_template (entry_id, source_photo, template) VALUES (1, 'a.jpg', x'00010203');
INSERT INTO candidate (id, camera_id, track_id, entry_id, distance, detector_score, bbox_json, frame_time_ms, offset_ms, created_at_ms)
  VALUES (1, 'gate', 1, 1, 0.3, 0.9, '{\"x0\":0,\"y0\":0,\"x1\":1,\"y1\":1}', 2000, 0, 2000);
INSERT INTO app_user (username, password_hash, role, created_at_ms) VALUES ('sam', 'x', 'supervisor', 1000);
INSERT INTO candidate_review (candidate_id, username, decision, at_ms) VALUES (1, 'sam', 'confirm', 3000);
INSERT INTO legal_hold (target, reason, placed_by, placed_at_ms) VALUES ('candidate:1', 'case 7', 'sam', 4000);
";

/// The same rows in PostgreSQL's syntax (its bytea literal).
pub fn seed_v2_postgres() -> &'static str {
    static SEED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SEED.get_or_init(|| SEED_V2.replace("x'00010203'", "'\\x00010203'"))
}
