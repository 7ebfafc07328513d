//! Faces: detections, templates (embeddings) and the outcome of a watchlist search.
//!
//! [`FaceTemplate`] is the in-memory embedding of a face seen by a camera. It
//! has no `Serialize`, no `Display`, and its `Debug` prints only its length:
//! the brief's third line (a non-matching face's template is never written
//! anywhere) is enforced by the type system as far as it can be. The only way
//! to get bytes out of one is [`FaceTemplate::into_enrolled_bytes`], which the
//! enrolment path calls with the legal basis it enrols under.

use crate::ids::{CameraId, CandidateId, EntryId, TrackId};
use crate::legal::LegalBasis;
use civitas_base::Timestamp;
use serde::{Deserialize, Serialize};

/// An axis-aligned box in pixels of the frame it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct BBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl BBox {
    pub fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> BBox {
        BBox { x0, y0, x1, y1 }
    }

    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union.
    pub fn iou(&self, o: &BBox) -> f32 {
        let iw = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0.0);
        let ih = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + o.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    pub fn contains(&self, p: [f32; 2]) -> bool {
        p[0] >= self.x0 && p[0] <= self.x1 && p[1] >= self.y0 && p[1] <= self.y1
    }
}

/// Five facial landmarks in pixels: left eye, right eye, nose tip, left and
/// right mouth corners ("left" as seen in the image).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Landmarks5(pub [[f32; 2]; 5]);

/// One face found by a detector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceDetection {
    pub bbox: BBox,
    pub landmarks: Landmarks5,
    /// Detector confidence in 0..1.
    pub score: f32,
}

impl FaceDetection {
    /// Inter-ocular distance in pixels: the size measure used for the minimum-size gate.
    pub fn eye_distance_px(&self) -> f32 {
        let [l, r] = [self.landmarks.0[0], self.landmarks.0[1]];
        ((l[0] - r[0]).powi(2) + (l[1] - r[1]).powi(2)).sqrt()
    }
}

/// A face embedding held in memory for one match. Never serialised.
#[derive(Clone, PartialEq)]
pub struct FaceTemplate(Box<[f32]>);

impl std::fmt::Debug for FaceTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaceTemplate(dim={})", self.0.len())
    }
}

impl FaceTemplate {
    pub fn new(v: Vec<f32>) -> Self {
        FaceTemplate(v.into_boxed_slice())
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    pub fn dim(&self) -> usize {
        self.0.len()
    }

    /// Euclidean distance to another template.
    pub fn distance(&self, o: &FaceTemplate) -> f32 {
        self.0
            .iter()
            .zip(o.0.iter())
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    }

    /// The only way out of memory: bytes of a template that is being enrolled
    /// on a watchlist under `basis`. Little-endian f32s.
    pub fn into_enrolled_bytes(self, basis: &LegalBasis) -> Vec<u8> {
        let _ = basis; // The signature is the point: no basis, no bytes.
        self.0.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Reads a stored enrolled template.
    pub fn from_enrolled_bytes(b: &[u8]) -> Option<FaceTemplate> {
        if b.is_empty() || !b.len().is_multiple_of(4) {
            return None;
        }
        Some(FaceTemplate::new(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }
}

/// The result of a 1:N watchlist search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum MatchOutcome {
    /// Nothing on the watchlist is within the threshold: the face is a stranger.
    Unknown,
    /// The nearest entry within the threshold.
    Match { entry: EntryId, distance: f32 },
}

/// A candidate match: a face that resembles a watchlist entry, awaiting human review.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    pub id: Option<CandidateId>,
    pub camera: CameraId,
    pub track: TrackId,
    pub entry: EntryId,
    pub entry_name: String,
    /// Euclidean distance between the probe and the entry's template (lower = closer).
    pub distance: f32,
    pub detector_score: f32,
    pub bbox: BBox,
    /// Time of the frame holding the best view of the face.
    pub frame_time: Timestamp,
    /// Offset of that frame from the start of the source, in milliseconds.
    pub offset_ms: i64,
    /// JPEG of the best face crop (evidence for the reviewer).
    #[serde(skip)]
    pub crop_jpeg: Vec<u8>,
}

impl Candidate {
    /// The candidate's stable key: the same camera, frame, entry and track
    /// give the same key however often the result is delivered (a bus
    /// redelivery, a camera replayed by another worker), so the store
    /// applies it once.
    pub fn key(&self) -> String {
        format!(
            "candidate/{}/{}/{}/{}",
            self.camera, self.frame_time.0, self.entry.0, self.track.0
        )
    }
}
