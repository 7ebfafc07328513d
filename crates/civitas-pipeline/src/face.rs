//! The face stage: detect → quality gate → align → embed → 1:N search → track.
//!
//! Probe templates exist only inside [`FacePipeline::process`]: they are
//! computed, searched and dropped before it returns. What leaves is counts,
//! and for faces that matched an entry the crop and the distance.

use crate::stats::StageStats;
use crate::track::{BestView, Decision, Observation, Tracker, TrackerConfig};
use civitas_base::{Result, Timestamp};
use civitas_model::{
    BBox, CameraId, Candidate, EntryId, FaceDetection, FaceTemplate, MatchOutcome, RgbImage,
};
use civitas_vision::align::align_chip;
use civitas_vision::{FaceDetector, FaceEmbedder, WatchlistIndex};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Face-stage settings.
#[derive(Debug, Clone, Copy)]
pub struct FaceStageConfig {
    /// Euclidean distance at or below which a probe matches an entry (normalised templates).
    pub match_threshold: f32,
    /// Faces whose eyes are closer than this (pixels) are counted but not matched: too small to be reliable.
    pub min_eye_distance_px: f32,
    /// Faces below this detector confidence are counted but not matched.
    pub min_detector_score: f32,
    pub tracker: TrackerConfig,
}

impl Default for FaceStageConfig {
    fn default() -> Self {
        FaceStageConfig {
            match_threshold: DEFAULT_MATCH_THRESHOLD,
            min_eye_distance_px: 20.0,
            min_detector_score: 0.5,
            tracker: TrackerConfig::default(),
        }
    }
}

/// Default match threshold on L2-normalised, mirror-averaged dlib templates.
/// dlib's own 0.6 is for raw descriptors. Chosen with `civitas eval faces`
/// (BENCHMARKS.md): on colour faces no different-person pair fell under 0.41;
/// grayscale faces (old photos, infrared cameras) are closer together, so a
/// deployment with such cameras should lower it.
pub const DEFAULT_MATCH_THRESHOLD: f32 = 0.40;

/// The in-memory watchlist: the search index plus names for messages.
#[derive(Debug, Clone, Default)]
pub struct Watchlist {
    pub index: WatchlistIndex,
    pub names: HashMap<EntryId, String>,
}

impl Watchlist {
    pub fn new(dim: usize) -> Self {
        Watchlist {
            index: WatchlistIndex::new(dim),
            names: HashMap::new(),
        }
    }

    pub fn add(
        &mut self,
        id: EntryId,
        name: &str,
        t: &FaceTemplate,
        expires: Timestamp,
    ) -> Result<()> {
        self.index.add(id, t, expires)?;
        self.names.insert(id, name.to_owned());
        Ok(())
    }
}

/// What one frame produced.
#[derive(Debug, Default)]
pub struct FrameOutcome {
    pub faces: usize,
    /// Faces below the size or confidence gate (counted, not matched).
    pub too_small: usize,
    pub unknown: usize,
    pub matched: usize,
    /// Candidates decided at this frame (one per track).
    pub candidates: Vec<Candidate>,
}

/// One camera's face pipeline: the models ([`FaceDetector`],
/// [`FaceEmbedder`]) and what follows them ([`FaceMatcher`]).
#[derive(Debug)]
pub struct FacePipeline {
    detector: Box<dyn FaceDetector>,
    embedder: FaceEmbedder,
    pub matcher: FaceMatcher,
}

/// What follows the models for one camera: watchlist search and tracking.
/// Holds no model, so a load simulation can run thousands of them behind a
/// stand-in detector.
#[derive(Debug)]
pub struct FaceMatcher {
    camera: CameraId,
    watchlist: Arc<Watchlist>,
    tracker: Tracker,
    cfg: FaceStageConfig,
    pub stats: StageStats,
}

impl FaceMatcher {
    pub fn new(camera: CameraId, watchlist: Arc<Watchlist>, cfg: FaceStageConfig) -> Self {
        FaceMatcher {
            camera,
            watchlist,
            tracker: Tracker::new(cfg.tracker),
            cfg,
            stats: StageStats::default(),
        }
    }

    /// Replaces the watchlist (after an enrolment or expiry) without touching tracks.
    pub fn set_watchlist(&mut self, w: Arc<Watchlist>) {
        self.watchlist = w;
    }

    /// What follows the models: each face's template searched in the
    /// watchlist (then dropped), every face fed to the tracker, candidates
    /// for tracks that decided. `good` faces come with their templates,
    /// `small` ones (below the quality gate) join tracks unsearched. The
    /// load simulation calls this with a stand-in detector's faces.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        frame: &RgbImage,
        good: Vec<FaceDetection>,
        templates: Vec<FaceTemplate>,
        small: &[FaceDetection],
        offset_ms: i64,
        frame_time: Timestamp,
        now: Timestamp,
    ) -> FrameOutcome {
        let mut out = FrameOutcome {
            faces: good.len() + small.len(),
            too_small: small.len(),
            ..Default::default()
        };
        self.stats.frames += 1;
        self.stats.faces += out.faces as u64;
        let t0 = Instant::now();
        let mut obs = Vec::with_capacity(good.len() + small.len());
        for (d, tpl) in good.iter().zip(templates) {
            let outcome = self
                .watchlist
                .index
                .search(&tpl, self.cfg.match_threshold, now);
            // The probe template ends here: dropped, never stored, logged or published.
            drop(tpl);
            let matched = match outcome {
                MatchOutcome::Unknown => {
                    out.unknown += 1;
                    None
                }
                MatchOutcome::Match { entry, distance } => {
                    out.matched += 1;
                    Some(BestView {
                        entry,
                        distance,
                        detector_score: d.score,
                        bbox: d.bbox,
                        frame_time,
                        offset_ms,
                        crop: face_crop(frame, &d.bbox),
                    })
                }
            };
            obs.push(Observation {
                bbox: d.bbox,
                matched,
            });
        }
        // Small faces still join tracks (so a face that grows as it approaches keeps its track).
        obs.extend(small.iter().map(|d| Observation {
            bbox: d.bbox,
            matched: None,
        }));
        let t1 = Instant::now();
        let decisions = self.tracker.update(offset_ms, obs);
        out.candidates = self.to_candidates(decisions);
        self.stats.search += t1 - t0;
        self.stats.track += t1.elapsed();
        out
    }

    /// End of stream: candidates for every track still open.
    pub fn finish(&mut self) -> Vec<Candidate> {
        let d = self.tracker.finish();
        self.to_candidates(d)
    }

    fn to_candidates(&self, decisions: Vec<Decision>) -> Vec<Candidate> {
        decisions
            .into_iter()
            .map(|d| Candidate {
                id: None,
                camera: self.camera.clone(),
                track: d.track,
                entry: d.view.entry,
                entry_name: self
                    .watchlist
                    .names
                    .get(&d.view.entry)
                    .cloned()
                    .unwrap_or_default(),
                distance: d.view.distance,
                detector_score: d.view.detector_score,
                bbox: d.view.bbox,
                frame_time: d.view.frame_time,
                offset_ms: d.view.offset_ms,
                crop_jpeg: civitas_ingest::encode_jpeg(&d.view.crop).unwrap_or_default(),
            })
            .collect()
    }
}

impl FacePipeline {
    pub fn new(
        camera: CameraId,
        detector: Box<dyn FaceDetector>,
        embedder: FaceEmbedder,
        watchlist: Arc<Watchlist>,
        cfg: FaceStageConfig,
    ) -> Self {
        FacePipeline {
            detector,
            embedder,
            matcher: FaceMatcher::new(camera, watchlist, cfg),
        }
    }

    /// Replaces the watchlist (after an enrolment or expiry) without touching tracks.
    pub fn set_watchlist(&mut self, w: Arc<Watchlist>) {
        self.matcher.set_watchlist(w);
    }

    pub fn stats(&self) -> &StageStats {
        &self.matcher.stats
    }

    /// End of stream: candidates for every track still open.
    pub fn finish(&mut self) -> Vec<Candidate> {
        self.matcher.finish()
    }

    /// Detects the faces in a frame and returns them with their templates.
    /// For enrolment and evaluation; the live path is [`FacePipeline::process`].
    pub fn faces_with_templates(
        &mut self,
        frame: &RgbImage,
    ) -> Result<Vec<(FaceDetection, FaceTemplate)>> {
        let dets = self.detector.detect(frame)?;
        let chips: Vec<RgbImage> = dets
            .iter()
            .map(|d| align_chip(frame, &d.landmarks, 150))
            .collect();
        let t = self.embedder.embed(&chips)?;
        Ok(dets.into_iter().zip(t).collect())
    }

    /// Runs one frame through the pipeline. `frame_time` is the wall-clock time
    /// of the frame, `now` the clock used for legal-basis expiry.
    pub fn process(
        &mut self,
        frame: &RgbImage,
        offset_ms: i64,
        frame_time: Timestamp,
        now: Timestamp,
    ) -> Result<FrameOutcome> {
        let t0 = Instant::now();
        let dets = self.detector.detect(frame)?;
        let t1 = Instant::now();
        let (good, small): (Vec<_>, Vec<_>) = dets.into_iter().partition(|d| {
            d.score >= self.matcher.cfg.min_detector_score
                && d.eye_distance_px() >= self.matcher.cfg.min_eye_distance_px
        });
        let chips: Vec<RgbImage> = good
            .iter()
            .map(|d| align_chip(frame, &d.landmarks, 150))
            .collect();
        let t2 = Instant::now();
        let templates = self.embedder.embed(&chips)?;
        let t3 = Instant::now();
        let out = self
            .matcher
            .observe(frame, good, templates, &small, offset_ms, frame_time, now);
        let stats = &mut self.matcher.stats;
        stats.detect += t1 - t0;
        stats.align += t2 - t1;
        stats.embed += t3 - t2;
        Ok(out)
    }
}

/// The face box grown by 25% on each side, clamped to the frame.
pub fn face_crop(frame: &RgbImage, b: &BBox) -> RgbImage {
    let (w, h) = (b.width(), b.height());
    frame
        .crop(
            (b.x0 - 0.25 * w) as i64,
            (b.y0 - 0.25 * h) as i64,
            (1.5 * w) as i64,
            (1.5 * h) as i64,
        )
        .unwrap_or_else(|| RgbImage::zeros(1, 1))
}
