//! Face tracking across consecutive frames of one camera, so one person
//! walking past yields one candidate with its best view, not one per frame.
//!
//! A greedy IoU tracker: each detection joins the live track it overlaps most
//! (IoU ≥ `min_iou`), otherwise starts a new track; a track unseen for
//! `max_gap_ms` ends. A track that matched a watchlist entry emits exactly one
//! candidate, holding its closest match and that frame's face crop, either when
//! it ends or `decide_after_ms` after its first match (so an alert does not
//! wait for the person to leave the scene).
//!
//! A face that matches a different entry from the one its overlapping track
//! has matched is another person in the same place (one after the other at a
//! door or a turnstile): it starts a track of its own, so the second person
//! is not lost behind the first one's decision.
//!
//! Tracks hold no templates: only boxes, match outcomes and, for faces that
//! matched, the crop a reviewer will need.

use civitas_base::Timestamp;
use civitas_model::{BBox, EntryId, RgbImage, TrackId};

/// Tracker settings.
#[derive(Debug, Clone, Copy)]
pub struct TrackerConfig {
    pub min_iou: f32,
    /// A track unseen for this long (stream time) has ended.
    pub max_gap_ms: i64,
    /// Emit the candidate this long after the first match even if the track goes on.
    pub decide_after_ms: i64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            min_iou: 0.3,
            max_gap_ms: 1500,
            decide_after_ms: 2000,
        }
    }
}

/// The best view of a matched face so far.
#[derive(Debug, Clone)]
pub struct BestView {
    pub entry: EntryId,
    pub distance: f32,
    pub detector_score: f32,
    pub bbox: BBox,
    pub frame_time: Timestamp,
    pub offset_ms: i64,
    pub crop: RgbImage,
}

#[derive(Debug)]
struct Track {
    id: TrackId,
    bbox: BBox,
    last_seen_ms: i64,
    first_match_ms: Option<i64>,
    best: Option<BestView>,
    emitted: bool,
    /// The entry this track's matches point to (kept after it decided).
    entry: Option<EntryId>,
}

/// One face observed in a frame, as the tracker sees it.
#[derive(Debug)]
pub struct Observation {
    pub bbox: BBox,
    /// The match for this face in this frame, with its crop; `None` for unknown faces.
    pub matched: Option<BestView>,
}

/// A decision: this track's best view becomes a candidate.
#[derive(Debug)]
pub struct Decision {
    pub track: TrackId,
    pub view: BestView,
}

/// The tracker for one camera.
#[derive(Debug)]
pub struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: i64,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Tracker {
            cfg,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// Number of live tracks.
    pub fn live(&self) -> usize {
        self.tracks.len()
    }

    /// Feeds one frame's faces (at stream time `offset_ms`); returns decisions due.
    pub fn update(&mut self, offset_ms: i64, obs: Vec<Observation>) -> Vec<Decision> {
        let mut taken = vec![false; self.tracks.len()];
        for o in obs {
            let best = self
                .tracks
                .iter()
                .enumerate()
                .filter(|(i, _)| !taken[*i])
                // Another entry's match is another person, not this track.
                .filter(|(_, t)| match (&o.matched, t.entry) {
                    (Some(m), Some(e)) => m.entry == e,
                    _ => true,
                })
                .map(|(i, t)| (i, t.bbox.iou(&o.bbox)))
                .filter(|(_, iou)| *iou >= self.cfg.min_iou)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let idx = match best {
                Some((i, _)) => i,
                None => {
                    self.tracks.push(Track {
                        id: TrackId(self.next_id),
                        bbox: o.bbox,
                        last_seen_ms: offset_ms,
                        first_match_ms: None,
                        best: None,
                        emitted: false,
                        entry: None,
                    });
                    self.next_id += 1;
                    taken.push(false);
                    self.tracks.len() - 1
                }
            };
            taken[idx] = true;
            let t = &mut self.tracks[idx];
            t.bbox = o.bbox;
            t.last_seen_ms = offset_ms;
            if let Some(m) = o.matched {
                t.entry = Some(m.entry);
                t.first_match_ms.get_or_insert(offset_ms);
                if t.best.as_ref().is_none_or(|b| m.distance < b.distance) && !t.emitted {
                    t.best = Some(m);
                }
            }
        }
        let mut out = Vec::new();
        let cfg = self.cfg;
        self.tracks.retain_mut(|t| {
            let ended = offset_ms - t.last_seen_ms > cfg.max_gap_ms;
            let due = t
                .first_match_ms
                .is_some_and(|f| offset_ms - f >= cfg.decide_after_ms);
            if (ended || due)
                && !t.emitted
                && let Some(view) = t.best.take()
            {
                t.emitted = true;
                out.push(Decision { track: t.id, view });
            }
            !ended
        });
        out
    }

    /// The stream ended: every remaining matched track decides now.
    pub fn finish(&mut self) -> Vec<Decision> {
        self.tracks
            .drain(..)
            .filter(|t| !t.emitted)
            .filter_map(|t| t.best.map(|view| Decision { track: t.id, view }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(x: f32) -> BBox {
        BBox::new(x, 10.0, x + 50.0, 70.0)
    }

    fn view(d: f32, x: f32) -> BestView {
        BestView {
            entry: EntryId(1),
            distance: d,
            detector_score: 0.9,
            bbox: bx(x),
            frame_time: Timestamp(0),
            offset_ms: 0,
            crop: RgbImage::zeros(1, 1),
        }
    }

    #[test]
    fn one_walk_past_gives_one_decision_with_the_best_view() {
        let mut t = Tracker::new(TrackerConfig {
            decide_after_ms: 10_000,
            ..Default::default()
        });
        let mut decisions = Vec::new();
        for (i, d) in [0.5f32, 0.3, 0.45, 0.4].iter().enumerate() {
            let x = 100.0 + 5.0 * i as f32;
            decisions.extend(t.update(
                i as i64 * 500,
                vec![Observation {
                    bbox: bx(x),
                    matched: Some(view(*d, x)),
                }],
            ));
        }
        assert!(decisions.is_empty());
        // The person leaves; after the gap the track ends and decides once.
        decisions.extend(t.update(5000, vec![]));
        assert_eq!(decisions.len(), 1);
        assert_eq!(decisions[0].view.distance, 0.3);
        assert_eq!(t.live(), 0);
        assert!(t.finish().is_empty());
    }

    #[test]
    fn a_second_person_in_the_same_place_is_not_lost_behind_the_first() {
        let mut t = Tracker::new(TrackerConfig::default());
        let mut decisions = Vec::new();
        for i in 0..20i64 {
            // Entry 1 for two seconds, then entry 2 in the very same box.
            let mut v = view(0.3, 100.0);
            v.entry = EntryId(if i < 10 { 1 } else { 2 });
            decisions.extend(t.update(
                i * 200,
                vec![Observation {
                    bbox: bx(100.0),
                    matched: Some(v),
                }],
            ));
        }
        decisions.extend(t.finish());
        let entries: Vec<i64> = decisions.iter().map(|d| d.view.entry.0).collect();
        assert_eq!(entries, vec![1, 2]);
        assert_ne!(decisions[0].track, decisions[1].track);
    }

    #[test]
    fn two_people_are_two_tracks_and_unknown_faces_decide_nothing() {
        let mut t = Tracker::new(TrackerConfig::default());
        let out = t.update(
            0,
            vec![
                Observation {
                    bbox: bx(0.0),
                    matched: Some(view(0.4, 0.0)),
                },
                Observation {
                    bbox: bx(300.0),
                    matched: None,
                },
            ],
        );
        assert!(out.is_empty());
        assert_eq!(t.live(), 2);
        let d = t.finish();
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn a_long_stay_decides_after_the_delay_and_only_once() {
        let mut t = Tracker::new(TrackerConfig::default());
        let mut n = 0;
        for i in 0..20 {
            n += t
                .update(
                    i * 500,
                    vec![Observation {
                        bbox: bx(100.0),
                        matched: Some(view(0.4, 100.0)),
                    }],
                )
                .len();
        }
        assert_eq!(n, 1);
        assert!(t.finish().is_empty());
    }
}
