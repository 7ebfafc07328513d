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

/// The face embedder's false-match rate per comparison (a stranger's face
/// against one enrolled entry) at distances from 0.20 to 0.70 in steps of
/// 0.01, measured by `civitas eval identify` on real photographs (see
/// BENCHMARKS.md, "Open-set identification", for the command and the data).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FmrTable {
    pub rates: [f64; 51],
    /// One over the number of stranger × entry comparisons measured: a
    /// distance at which no stranger was seen has at most this rate.
    pub resolution: f64,
}

/// Colour probes against colour enrolment photos: `civitas eval identify
/// --root faces-lfw-dev/images` (744 people enrolled from one photo each,
/// 2,891 photos of people not enrolled; LFW dev folds, real news photographs).
pub const COLOUR_FMR: FmrTable = FmrTable {
    rates: [
        0.0, 0.0, 4.649e-07, 9.298e-07, 9.298e-07, 9.298e-07, 1.395e-06, 2.325e-06, 3.719e-06,
        4.649e-06, 8.369e-06, 1.860e-05, 3.533e-05, 6.788e-05, 1.190e-04, 2.194e-04, 3.803e-04,
        6.723e-04, 1.146e-03, 1.944e-03, 3.226e-03, 5.234e-03, 8.297e-03, 1.284e-02, 1.962e-02,
        2.921e-02, 4.197e-02, 5.914e-02, 8.126e-02, 1.087e-01, 1.421e-01, 1.816e-01, 2.269e-01,
        2.778e-01, 3.339e-01, 3.940e-01, 4.565e-01, 5.203e-01, 5.845e-01, 6.465e-01, 7.056e-01,
        7.599e-01, 8.089e-01, 8.513e-01, 8.874e-01, 9.168e-01, 9.403e-01, 9.585e-01, 9.720e-01,
        9.819e-01, 9.886e-01,
    ],
    resolution: 1.0 / 2150904.0,
};

/// Gray probes (infrared cameras) against colour enrolment photos: the same
/// run with `--degrade gray`.
pub const GRAY_FMR: FmrTable = FmrTable {
    rates: [
        0.0, 0.0, 4.652e-07, 9.305e-07, 9.305e-07, 9.305e-07, 9.305e-07, 1.861e-06, 3.257e-06,
        5.583e-06, 8.374e-06, 1.489e-05, 3.117e-05, 6.234e-05, 1.084e-04, 1.973e-04, 3.378e-04,
        6.034e-04, 1.031e-03, 1.795e-03, 3.031e-03, 5.000e-03, 8.040e-03, 1.260e-02, 1.936e-02,
        2.911e-02, 4.247e-02, 6.023e-02, 8.290e-02, 1.110e-01, 1.454e-01, 1.861e-01, 2.331e-01,
        2.855e-01, 3.428e-01, 4.044e-01, 4.680e-01, 5.329e-01, 5.970e-01, 6.590e-01, 7.174e-01,
        7.710e-01, 8.189e-01, 8.599e-01, 8.944e-01, 9.223e-01, 9.445e-01, 9.615e-01, 9.742e-01,
        9.833e-01, 9.896e-01,
    ],
    resolution: 1.0 / 2149416.0,
};

impl FmrTable {
    /// How rarely a stranger scores `distance` or closer against one entry:
    /// the rate interpolated on a log scale between the measured points,
    /// and whether it is only an upper bound (no stranger measured that close).
    pub fn at(&self, distance: f32) -> (f64, bool) {
        // In f64 and nudged, so a distance on a grid point lands on it.
        let x = ((distance as f64 - 0.20) / 0.01 + 1e-6).clamp(0.0, 50.0);
        let (i, frac) = (x.floor() as usize, x - x.floor());
        let (a, b) = (self.rates[i.min(50)], self.rates[(i + 1).min(50)]);
        if a <= 0.0 {
            // No stranger measured at the lower point: at most the upper one.
            return (b.max(self.resolution), true);
        }
        ((a.ln() + (b.ln() - a.ln()) * frac).exp(), false)
    }

    /// The largest distance at which the measured false-match rate is at
    /// most `fmr` (log-interpolated between grid points); 0.20 when even the
    /// smallest measured distance exceeds it. The inverse of [`FmrTable::at`].
    pub fn distance_for(&self, fmr: f64) -> f32 {
        let last = self.rates.iter().take_while(|r| **r <= fmr).count();
        match last {
            0 => 0.20,
            51 => 0.70,
            k => {
                let i = k - 1;
                let (a, b) = (self.rates[i], self.rates[i + 1]);
                let frac = if a <= 0.0 {
                    0.0
                } else {
                    ((fmr.ln() - a.ln()) / (b.ln() - a.ln())).clamp(0.0, 1.0)
                };
                (0.20 + 0.01 * (i as f64 + frac)) as f32
            }
        }
    }
}

/// The share of strangers who would raise a candidate against a watchlist
/// of `entries` people at a threshold with per-comparison false-match rate
/// `fmr` (FPIR, if comparisons were independent): `1 − (1 − fmr)^entries`.
pub fn expected_fpir(fmr: f64, entries: usize) -> f64 {
    1.0 - (1.0 - fmr).powi(entries.min(i32::MAX as usize) as i32)
}

#[cfg(test)]
mod fmr_tests {
    use super::*;

    #[test]
    fn stranger_rates_interpolate_and_say_when_they_are_bounds() {
        let mut rates = [0.0; 51];
        // 0.20..0.39: none seen; 0.40: 1e-4; 0.41: 1e-3; and up.
        for (k, r) in rates.iter_mut().enumerate().skip(20) {
            *r = 10f64.powi(k as i32 - 24).min(1.0);
        }
        let t = FmrTable {
            rates,
            resolution: 1e-6,
        };
        let near = |(r, b): (f64, bool), want: f64| (r / want - 1.0).abs() < 1e-4 && !b;
        assert!(near(t.at(0.40), 1e-4), "{:?}", t.at(0.40));
        let (mid, bound) = t.at(0.405);
        assert!(
            !bound && (mid / 10f64.powf(-3.5) - 1.0).abs() < 1e-4,
            "{mid}"
        );
        // Under the first measured point: at most that point.
        assert_eq!(t.at(0.395), (1e-4, true));
        // Far under: at most the measurement's resolution... or the next point.
        assert_eq!(t.at(0.10), (1e-6, true));
        assert!(near(t.at(0.95), 1.0), "{:?}", t.at(0.95));
        // The compiled tables are measured, increasing with distance.
        for table in [COLOUR_FMR, GRAY_FMR] {
            assert!(table.rates.windows(2).all(|w| w[0] <= w[1]));
            assert!(
                table.rates[50] > 0.5 && table.resolution < 1e-5,
                "{table:?}"
            );
        }
    }

    #[test]
    fn the_distance_for_a_rate_inverts_the_rate_at_a_distance() {
        for fmr in [1e-6, 1e-5, 1e-4, 1e-3, 1e-2] {
            let d = COLOUR_FMR.distance_for(fmr);
            let (back, _) = COLOUR_FMR.at(d);
            assert!(back <= fmr * 1.001, "{fmr}: {d} gives {back}");
            assert!(
                COLOUR_FMR.at(d + 0.011).0 > fmr,
                "{fmr}: {d} is the largest"
            );
        }
        assert_eq!(
            COLOUR_FMR.distance_for(0.0),
            0.21,
            "no stranger measured at 0.21"
        );
        assert_eq!(COLOUR_FMR.distance_for(1.0), 0.70);
    }

    #[test]
    fn expected_fpir_grows_with_the_list() {
        assert_eq!(expected_fpir(0.0, 1000), 0.0);
        let one = expected_fpir(1e-5, 1);
        let thousand = expected_fpir(1e-5, 1000);
        assert!((one - 1e-5).abs() < 1e-12);
        assert!(thousand > 0.0099 && thousand < 0.01, "{thousand}");
    }
}
