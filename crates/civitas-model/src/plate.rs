//! Number plates: one read per vehicle pass, and the hotlist hit it made.

use crate::face::BBox;
use crate::ids::{CameraId, EntryId};
use civitas_base::Timestamp;
use serde::{Deserialize, Serialize};

/// A hotlist hit: the entry whose plate the read resembles, within its list's threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateHit {
    pub entry: EntryId,
    /// The entry's plate (normalised).
    pub plate: String,
    pub hotlist: String,
    /// Weighted edit distance between the read and the entry's plate.
    pub distance: f32,
}

/// One vehicle pass on one camera, read across its frames and voted into one read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlatePass {
    pub camera: CameraId,
    /// Per camera, increasing.
    pub pass: u64,
    /// Normalised plate text (A–Z, 0–9).
    pub plate: String,
    /// The format preset it fitted, if formats are configured.
    pub format: Option<String>,
    /// Mean per-character vote share times read confidence (0–1).
    pub confidence: f32,
    /// Frames whose reads were voted.
    pub frames: u32,
    /// The plate's box in the best frame.
    pub bbox: BBox,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Offset of the best frame from the start of the source.
    pub offset_ms: i64,
    /// JPEG of the best view: the plate with some of the vehicle around it.
    #[serde(skip)]
    pub crop_jpeg: Vec<u8>,
    pub hit: Option<PlateHit>,
}

impl PlatePass {
    /// The pass's stable key (see [`crate::Candidate::key`]).
    pub fn key(&self) -> String {
        format!("plate/{}/{}/{}", self.camera, self.first_seen.0, self.pass)
    }
}
