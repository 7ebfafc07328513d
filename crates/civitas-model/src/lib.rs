//! Civitas domain types, shared by every layer: ids, frames, face detections,
//! templates, legal basis, watchlist entries and candidates.
//!
//! There is deliberately no type, field or enum for any sensitive attribute
//! (ethnicity, race, religion, political opinion, health, sexual orientation)
//! and none for geofencing people; `tests/lines.rs` walks these sources and
//! fails if one appears.

pub mod face;
pub mod frame;
pub mod ids;
pub mod incident;
pub mod legal;
pub mod plate;
pub mod plate_text;
pub mod status;

pub use face::{BBox, Candidate, FaceDetection, FaceTemplate, Landmarks5, MatchOutcome};
pub use frame::RgbImage;
pub use ids::{CameraId, CandidateId, EntryId, TrackId};
pub use incident::{
    CloseReason, GeoPoint, IncidentSource, IncidentStatus, IncidentType, UnitStatus,
};
pub use legal::{LegalBasis, LegalBasisInput};
pub use plate::{PlateHit, PlatePass};
pub use status::{
    CameraEventKind, CameraState, CandidateKind, CandidateStatus, Decision, RecordingState,
};
