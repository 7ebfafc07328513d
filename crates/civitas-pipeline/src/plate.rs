//! The plate stage: read plates in each analysed frame, follow each plate
//! across the frames of one vehicle pass, vote per character, and emit one
//! read per pass (with the best crop) when the plate has not been seen for
//! `pass_gap_ms`. The voted read is then matched against the hotlist entries
//! whose legal basis covers this camera and has not expired at match time.

use civitas_base::{Result, Timestamp};
use civitas_model::plate_text::{HotPlate, best_hit, distance};
use civitas_model::{BBox, CameraId, EntryId, PlateHit, PlatePass, RgbImage};
use civitas_vision::anpr::{PlateRead, PlateRecogniser};
use std::collections::HashMap;
use std::sync::Arc;

/// One hotlist entry as matched on one camera.
#[derive(Debug, Clone)]
pub struct HotEntry {
    pub plate: HotPlate,
    pub hotlist: String,
    /// The entry's legal basis expires here; after it, the entry never matches.
    pub expires: Timestamp,
}

/// The hotlist entries that apply to one camera.
#[derive(Debug, Clone, Default)]
pub struct CameraHotlist {
    pub entries: Vec<HotEntry>,
}

impl CameraHotlist {
    /// The closest entry within its list's threshold among those not expired at `now`.
    pub fn best_hit(&self, read: &str, now: Timestamp) -> Option<PlateHit> {
        let live: Vec<&HotEntry> = self.entries.iter().filter(|e| now < e.expires).collect();
        let plates: Vec<HotPlate> = live.iter().map(|e| e.plate.clone()).collect();
        let (id, d) = best_hit(read, &plates)?;
        let e = live.iter().find(|e| e.plate.id == id)?;
        Some(PlateHit {
            entry: EntryId(id),
            plate: e.plate.plate.clone(),
            hotlist: e.hotlist.clone(),
            distance: d,
        })
    }
}

/// Plate-stage settings.
#[derive(Debug, Clone, Copy)]
pub struct PlateStageConfig {
    /// A pass ends when its plate has not been seen for this long (ms).
    pub pass_gap_ms: i64,
    /// A pass of the same plate at the same place that starts within this
    /// long after the last one ended is the same vehicle still standing
    /// there (a parked car is seen again at every motion-gate keep-alive
    /// frame): it is not read out again (ms).
    pub parked_window_ms: i64,
}

impl Default for PlateStageConfig {
    fn default() -> Self {
        PlateStageConfig {
            pass_gap_ms: 1500,
            parked_window_ms: 300_000,
        }
    }
}

/// A plate read out recently, remembered to recognise a vehicle standing still.
#[derive(Debug, Clone)]
pub struct RecentPlate {
    pub plate: String,
    pub bbox: BBox,
    pub last_seen_ms: i64,
}

/// Whether a pass (`plate` at `bbox`, seen from `first_ms` to `last_ms`) is a
/// vehicle still standing where a recent pass of the same plate was; if so
/// that memory is extended, else the pass is remembered. Memories older than
/// `window_ms` are forgotten.
pub fn still_standing(
    recent: &mut Vec<RecentPlate>,
    plate: &str,
    bbox: &BBox,
    first_ms: i64,
    last_ms: i64,
    window_ms: i64,
) -> bool {
    recent.retain(|r| first_ms - r.last_seen_ms <= window_ms);
    if let Some(r) = recent
        .iter_mut()
        .find(|r| r.plate == plate && r.bbox.iou(bbox) >= 0.5)
    {
        r.last_seen_ms = r.last_seen_ms.max(last_ms);
        return true;
    }
    recent.push(RecentPlate {
        plate: plate.to_owned(),
        bbox: *bbox,
        last_seen_ms: last_ms,
    });
    false
}

/// One frame's read, kept for the vote.
#[derive(Debug, Clone)]
struct Vote {
    text: String,
    format: Option<String>,
    confidence: f32,
}

#[derive(Debug)]
struct OpenPass {
    id: u64,
    votes: Vec<Vote>,
    /// The last box and text height seen, for following the plate.
    last_box: BBox,
    last_height: f32,
    last_seen_ms: i64,
    first_seen_ms: i64,
    first_seen: Timestamp,
    last_seen: Timestamp,
    best_confidence: f32,
    best_crop: RgbImage,
    best_box: BBox,
    best_offset_ms: i64,
}

/// Per-character vote over a pass's reads: the length with the most
/// confidence behind it wins, then each position takes the character with
/// the most confidence. Returns the text, its format (from the most confident
/// read of that length), and the confidence: mean per-position vote share
/// times the mean confidence of the reads of that length.
pub fn vote(reads: &[(String, Option<String>, f32)]) -> Option<(String, Option<String>, f32)> {
    let mut by_len: HashMap<usize, f32> = HashMap::new();
    for (t, _, c) in reads {
        *by_len.entry(t.chars().count()).or_default() += c;
    }
    let (len, _) = by_len
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?;
    let same: Vec<&(String, Option<String>, f32)> = reads
        .iter()
        .filter(|(t, _, _)| t.chars().count() == len)
        .collect();
    let mut text = String::with_capacity(len);
    let mut share = 0.0f32;
    for i in 0..len {
        let mut weights: Vec<(char, f32)> = Vec::new();
        for (t, _, c) in &same {
            let ch = t.chars().nth(i).unwrap_or('?');
            match weights.iter_mut().find(|(k, _)| *k == ch) {
                Some((_, w)) => *w += c,
                None => weights.push((ch, *c)),
            }
        }
        let total: f32 = weights.iter().map(|(_, w)| w).sum();
        let (ch, w) = weights
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or(('?', 0.0));
        text.push(ch);
        share += if total > 0.0 { w / total } else { 0.0 };
    }
    let mean_conf = same.iter().map(|(_, _, c)| c).sum::<f32>() / same.len() as f32;
    let format = same
        .iter()
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .and_then(|(_, f, _)| f.clone());
    Some((text, format, share / len.max(1) as f32 * mean_conf))
}

/// What one frame produced.
#[derive(Debug, Default)]
pub struct PlateFrameOutcome {
    /// Plates read in this frame.
    pub reads: usize,
    /// Passes that ended at this frame (one read each).
    pub passes: Vec<PlatePass>,
    /// Passes that ended but were a vehicle still standing where it was read
    /// before (not read out again).
    pub still_standing: usize,
}

/// One camera's plate stage.
#[derive(Debug)]
pub struct PlatePipeline {
    camera: CameraId,
    recogniser: PlateRecogniser,
    hotlist: Arc<CameraHotlist>,
    cfg: PlateStageConfig,
    open: Vec<OpenPass>,
    next_pass: u64,
    recent: Vec<RecentPlate>,
}

impl PlatePipeline {
    pub fn new(
        camera: CameraId,
        recogniser: PlateRecogniser,
        hotlist: Arc<CameraHotlist>,
        cfg: PlateStageConfig,
    ) -> Self {
        PlatePipeline {
            camera,
            recogniser,
            hotlist,
            cfg,
            open: Vec::new(),
            next_pass: 1,
            recent: Vec::new(),
        }
    }

    /// Replaces the hotlist (after an enrolment) without touching open passes.
    pub fn set_hotlist(&mut self, h: Arc<CameraHotlist>) {
        self.hotlist = h;
    }

    /// Reads one frame; returns the passes that ended.
    pub fn process(
        &mut self,
        frame: &RgbImage,
        offset_ms: i64,
        frame_time: Timestamp,
        now: Timestamp,
    ) -> Result<PlateFrameOutcome> {
        let scan = self.recogniser.scan(frame)?;
        let mut out = PlateFrameOutcome {
            reads: scan.reads.len(),
            ..Default::default()
        };
        let mut taken = vec![false; self.open.len()];
        for read in scan.reads {
            match self.follow(&read, &taken) {
                Some(k) => {
                    taken[k] = true;
                    add(&mut self.open[k], read, offset_ms, frame_time, frame);
                }
                None => {
                    let id = self.next_pass;
                    self.next_pass += 1;
                    let mut p = OpenPass {
                        id,
                        votes: Vec::new(),
                        last_box: read.bbox,
                        last_height: read.text_box.thickness,
                        last_seen_ms: offset_ms,
                        first_seen_ms: offset_ms,
                        first_seen: frame_time,
                        last_seen: frame_time,
                        best_confidence: -1.0,
                        best_crop: RgbImage::zeros(1, 1),
                        best_box: read.bbox,
                        best_offset_ms: offset_ms,
                    };
                    add(&mut p, read, offset_ms, frame_time, frame);
                    self.open.push(p);
                    taken.push(true);
                }
            }
        }
        let gap = self.cfg.pass_gap_ms;
        let (ended, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|p| offset_ms - p.last_seen_ms > gap);
        self.open = open;
        for p in ended {
            let (first_ms, last_ms) = (p.first_seen_ms, p.last_seen_ms);
            let Some(pass) = self.close(p, now) else {
                continue;
            };
            if still_standing(
                &mut self.recent,
                &pass.plate,
                &pass.bbox,
                first_ms,
                last_ms,
                self.cfg.parked_window_ms,
            ) {
                out.still_standing += 1;
            } else {
                out.passes.push(pass);
            }
        }
        Ok(out)
    }

    /// End of stream: one read for every pass still open.
    pub fn finish(&mut self, now: Timestamp) -> Vec<PlatePass> {
        std::mem::take(&mut self.open)
            .into_iter()
            .filter_map(|p| self.close(p, now))
            .collect()
    }

    /// The open pass a read belongs to: the nearest one (in text-heights)
    /// whose plate is close to the read's text, or which is very near.
    fn follow(&self, read: &PlateRead, taken: &[bool]) -> Option<usize> {
        let (rx, ry) = centre(&read.bbox);
        self.open
            .iter()
            .enumerate()
            .filter(|(k, _)| !taken[*k])
            .filter_map(|(k, p)| {
                let (px, py) = centre(&p.last_box);
                let h = p.last_height.max(read.text_box.thickness).max(1.0);
                let d = ((rx - px).powi(2) + (ry - py).powi(2)).sqrt() / h;
                let similar = p.votes.iter().any(|v| distance(&v.text, &read.text) <= 2.0);
                // Similar text within 30 text-heights (a car crossing the
                // frame between two analysed frames), or anything within 2.
                (similar && d <= 30.0 || d <= 2.0).then_some((k, d))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k)
    }

    fn close(&self, p: OpenPass, now: Timestamp) -> Option<PlatePass> {
        let reads: Vec<(String, Option<String>, f32)> = p
            .votes
            .iter()
            .map(|v| (v.text.clone(), v.format.clone(), v.confidence))
            .collect();
        let (plate, format, confidence) = vote(&reads)?;
        let hit = self.hotlist.best_hit(&plate, now);
        Some(PlatePass {
            camera: self.camera.clone(),
            pass: p.id,
            plate,
            format,
            confidence,
            frames: p.votes.len() as u32,
            bbox: p.best_box,
            first_seen: p.first_seen,
            last_seen: p.last_seen,
            offset_ms: p.best_offset_ms,
            crop_jpeg: civitas_ingest::encode_jpeg(&p.best_crop).unwrap_or_default(),
            hit,
        })
    }
}

fn centre(b: &BBox) -> (f32, f32) {
    ((b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0)
}

/// The plate with some of the vehicle around it (the evidence a reviewer
/// compares with the listed plate): the plate's box grown by half its width
/// on each side and twice its height above and below, clamped to the frame.
pub fn context_crop(frame: &RgbImage, b: &BBox) -> RgbImage {
    let (w, h) = (b.width(), b.height());
    frame
        .crop(
            (b.x0 - 0.5 * w) as i64,
            (b.y0 - 2.0 * h) as i64,
            (2.0 * w) as i64,
            (5.0 * h) as i64,
        )
        .unwrap_or_else(|| RgbImage::zeros(1, 1))
}

fn add(p: &mut OpenPass, read: PlateRead, offset_ms: i64, frame_time: Timestamp, frame: &RgbImage) {
    p.last_box = read.bbox;
    p.last_height = read.text_box.thickness;
    p.last_seen_ms = offset_ms;
    p.last_seen = frame_time;
    if read.confidence > p.best_confidence {
        p.best_confidence = read.confidence;
        p.best_crop = context_crop(frame, &read.bbox);
        p.best_box = read.bbox;
        p.best_offset_ms = offset_ms;
    }
    p.votes.push(Vote {
        text: read.text,
        format: read.format,
        confidence: read.confidence,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(t: &str, c: f32) -> (String, Option<String>, f32) {
        (t.into(), None, c)
    }

    #[test]
    fn voting_fixes_a_character_misread_in_one_frame() {
        let (t, _, c) = vote(&[
            r("PBX1234", 0.9),
            r("P8X1234", 0.8),
            r("PBX1234", 0.95),
            r("PBX12", 0.99),
        ])
        .unwrap();
        assert_eq!(t, "PBX1234");
        assert!(c > 0.8 && c < 0.95, "{c}");
        assert!(vote(&[]).is_none());
    }

    #[test]
    fn a_vehicle_standing_still_is_read_once() {
        let b = BBox::new(100.0, 200.0, 180.0, 225.0);
        let moved = BBox { x0: 400.0, ..b };
        let mut recent = Vec::new();
        assert!(!still_standing(
            &mut recent,
            "PBX1234",
            &b,
            0,
            1_000,
            300_000
        ));
        // Seen again by the keep-alive frame 10 s later, same place: the same car.
        assert!(still_standing(
            &mut recent,
            "PBX1234",
            &b,
            11_000,
            11_000,
            300_000
        ));
        // Another plate at that place, or the same plate elsewhere, is a new pass.
        assert!(!still_standing(
            &mut recent,
            "GYE0077",
            &b,
            12_000,
            12_500,
            300_000
        ));
        assert!(!still_standing(
            &mut recent,
            "PBX1234",
            &moved,
            13_000,
            13_500,
            300_000
        ));
        // Long after the window, the same car at the same place is read again.
        assert!(!still_standing(
            &mut recent,
            "PBX1234",
            &b,
            400_000,
            401_000,
            300_000
        ));
    }

    #[test]
    fn expired_entries_never_match() {
        let now = Timestamp(1_000);
        let list = CameraHotlist {
            entries: vec![
                HotEntry {
                    plate: HotPlate {
                        id: 1,
                        plate: "PBX1234".into(),
                        max_distance: 0.5,
                    },
                    hotlist: "stolen".into(),
                    expires: Timestamp(500),
                },
                HotEntry {
                    plate: HotPlate {
                        id: 2,
                        plate: "GYE0077".into(),
                        max_distance: 0.5,
                    },
                    hotlist: "stolen".into(),
                    expires: Timestamp(5_000),
                },
            ],
        };
        assert_eq!(list.best_hit("PBX1234", now), None, "entry 1 expired");
        let h = list.best_hit("GYEO077", now).unwrap();
        assert_eq!((h.entry, h.distance), (EntryId(2), 0.25));
        assert_eq!(list.best_hit("GYE0077", Timestamp(6_000)), None);
    }
}
