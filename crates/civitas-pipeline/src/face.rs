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
    /// The threshold for gray pictures (night and infrared cameras), so they
    /// can be judged apart: on real photographs gray probes raise no more
    /// false matches than colour ones but are missed more (BENCHMARKS.md).
    pub grayscale_match_threshold: f32,
    /// The camera delivers infrared pictures: use the gray threshold on
    /// every frame, without testing each frame for colour.
    pub infrared: bool,
    /// The share of searched faces of strangers allowed to match (FPIR per
    /// search): with it, the thresholds tighten as the watchlist grows, from
    /// the measured false-match rates (the stricter of
    /// [`civitas_model::face::COLOUR_FMR`] and `GRAY_FMR` at each distance);
    /// the two thresholds above are then the most lenient ever used.
    pub target_fpir: Option<f64>,
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
            grayscale_match_threshold: DEFAULT_MATCH_THRESHOLD,
            infrared: false,
            target_fpir: None,
            min_eye_distance_px: DEFAULT_MIN_EYE_DISTANCE_PX,
            min_detector_score: 0.5,
            tracker: TrackerConfig::default(),
        }
    }
}

/// Default (most lenient) match threshold on L2-normalised, mirror-averaged
/// dlib templates; dlib's own 0.6 is for raw descriptors. On real
/// photographs one stranger in 300 scores under it against a given entry
/// (`civitas eval identify`, BENCHMARKS.md), so `target_fpir` tightens it as
/// the list grows.
pub const DEFAULT_MATCH_THRESHOLD: f32 = 0.40;

/// Default quality gate: faces with eyes closer than this many pixels are
/// counted, not matched. Calibrated with `civitas eval identify --degrade
/// eye=PX,blur=0.8,jpeg=60` (BENCHMARKS.md): the smallest measured eye
/// distance at which a face raises at most twice the false matches and is
/// missed at most twice as often as a full-resolution face (20 px misses
/// 2.4 times as often).
pub const DEFAULT_MIN_EYE_DISTANCE_PX: f32 = 24.0;

impl FaceStageConfig {
    /// Whether a face is good enough to search (the quality gate): faces
    /// below it are counted and tracked, never matched.
    pub fn searchable(&self, d: &FaceDetection) -> bool {
        d.score >= self.min_detector_score && d.eye_distance_px() >= self.min_eye_distance_px
    }

    /// The settings for a watchlist of `templates` enrolled templates (an
    /// entry with several photos is compared through each): with a target
    /// FPIR, the threshold is the largest distance at which both measured
    /// false-match rates per comparison `f` keep `1 − (1 − f)^templates` at
    /// or under it, and each threshold stays at or under its configured one.
    pub fn for_watchlist(&self, templates: usize) -> FaceStageConfig {
        let Some(t) = self.target_threshold(templates) else {
            return *self;
        };
        FaceStageConfig {
            match_threshold: self.match_threshold.min(t),
            grayscale_match_threshold: self.grayscale_match_threshold.min(t),
            ..*self
        }
    }

    /// The distance a target FPIR allows for `templates` templates (`None`
    /// without a target), and whether the measurement can vouch for it: a
    /// list too long for the calibration's resolution stops at its floor.
    pub fn target_threshold(&self, templates: usize) -> Option<f32> {
        use civitas_model::face::{COLOUR_FMR, GRAY_FMR};
        let p = self.target_fpir?;
        let fmr = 1.0 - (1.0 - p).powf(1.0 / templates.max(1) as f64);
        Some(COLOUR_FMR.distance_for(fmr).min(GRAY_FMR.distance_for(fmr)))
    }

    /// For settings already in force for `templates` templates
    /// ([`FaceStageConfig::for_watchlist`]): whether their expected FPIR is
    /// within the target (false when the list is longer than the
    /// calibration resolves).
    pub fn target_met(&self, templates: usize) -> bool {
        use civitas_model::face::{COLOUR_FMR, expected_fpir};
        let Some(p) = self.target_fpir else {
            return true;
        };
        expected_fpir(COLOUR_FMR.at(self.match_threshold).0, templates) <= p * 1.001
    }

    /// The match threshold for faces in `frame`: the gray one for an
    /// infrared camera or a picture without colour.
    pub fn threshold_for(&self, frame: &RgbImage) -> f32 {
        self.threshold(self.infrared || frame.is_grayscale())
    }

    /// The gray or the colour threshold.
    pub fn threshold(&self, gray: bool) -> f32 {
        if gray {
            self.grayscale_match_threshold
        } else {
            self.match_threshold
        }
    }
}

/// The settings in force for `camera`'s watchlist, with a warning when a
/// target FPIR cannot be met (the list is longer than the calibration
/// resolves).
fn thresholds_for(camera: &CameraId, cfg: &FaceStageConfig, w: &Watchlist) -> FaceStageConfig {
    let n = w.index.len();
    let in_force = cfg.for_watchlist(n);
    if !in_force.target_met(n) {
        tracing::warn!(
            camera = %camera,
            templates = n,
            target_fpir = cfg.target_fpir,
            "the watchlist is longer than the face calibration resolves: the threshold is at its floor and the expected false-alarm rate is above the target"
        );
    }
    in_force
}

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
    /// Stills get the detector's second, bordered pass (default true; false
    /// only to measure what it adds).
    pub still_pass: bool,
}

/// What follows the models for one camera: watchlist search and tracking.
/// Holds no model, so a load simulation can run thousands of them behind a
/// stand-in detector.
#[derive(Debug)]
pub struct FaceMatcher {
    camera: CameraId,
    watchlist: Arc<Watchlist>,
    tracker: Tracker,
    /// As configured.
    configured: FaceStageConfig,
    /// In force for this watchlist ([`FaceStageConfig::for_watchlist`]).
    cfg: FaceStageConfig,
    pub stats: StageStats,
}

impl FaceMatcher {
    pub fn new(camera: CameraId, watchlist: Arc<Watchlist>, cfg: FaceStageConfig) -> Self {
        FaceMatcher {
            tracker: Tracker::new(cfg.tracker),
            configured: cfg,
            cfg: thresholds_for(&camera, &cfg, &watchlist),
            camera,
            watchlist,
            stats: StageStats::default(),
        }
    }

    /// Replaces the watchlist (after an enrolment or expiry) without
    /// touching tracks; with a target FPIR the thresholds follow its size.
    pub fn set_watchlist(&mut self, w: Arc<Watchlist>) {
        self.cfg = thresholds_for(&self.camera, &self.configured, &w);
        self.watchlist = w;
    }

    /// The settings in force for the current watchlist.
    pub fn settings(&self) -> &FaceStageConfig {
        &self.cfg
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
        let threshold = if good.is_empty() {
            self.cfg.match_threshold
        } else {
            self.cfg.threshold_for(frame)
        };
        let mut obs = Vec::with_capacity(good.len() + small.len());
        for (d, tpl) in good.iter().zip(templates) {
            let outcome = self.watchlist.index.search(&tpl, threshold, now);
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
            still_pass: true,
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

    /// Detects the faces in a still (also one that fills the picture or is
    /// cut by its edge: [`FaceDetector::detect_still`]) and returns them with
    /// their templates. For enrolment and evaluation; the live path is
    /// [`FacePipeline::process`].
    pub fn faces_with_templates(
        &mut self,
        frame: &RgbImage,
    ) -> Result<Vec<(FaceDetection, FaceTemplate)>> {
        let dets = if self.still_pass {
            self.detector.detect_still(frame)?
        } else {
            self.detector.detect(frame)?
        };
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
        let (good, small): (Vec<_>, Vec<_>) = dets
            .into_iter()
            .partition(|d| self.matcher.cfg.searchable(d));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn watchlist(n: usize) -> Arc<Watchlist> {
        let mut w = Watchlist::new(2);
        for i in 0..n {
            let a = i as f32;
            w.add(
                EntryId(i as i64),
                "x",
                &FaceTemplate::new(vec![a.cos(), a.sin()]),
                Timestamp(i64::MAX),
            )
            .unwrap();
        }
        Arc::new(w)
    }

    #[test]
    fn a_target_fpir_tightens_the_thresholds_as_the_list_grows() {
        let fixed = FaceStageConfig::default();
        assert_eq!(fixed.for_watchlist(10_000).match_threshold, 0.40);
        let cfg = FaceStageConfig {
            target_fpir: Some(1e-3),
            ..Default::default()
        };
        let t = |n: usize| cfg.for_watchlist(n).match_threshold;
        let (one, hundred, thousand) = (t(1), t(100), t(1000));
        assert!(one > 0.35 && one < 0.40, "{one}");
        assert!(
            hundred < one && thousand < hundred,
            "{one} {hundred} {thousand}"
        );
        // The expected FPIR at the derived threshold is within the target.
        for n in [1, 100, 1000] {
            let (fmr, _) = civitas_model::face::COLOUR_FMR.at(t(n));
            let fpir = civitas_model::face::expected_fpir(fmr, n);
            assert!(fpir <= 1.001e-3, "{n}: {fpir}");
        }
        // Never more lenient than configured.
        let strict = FaceStageConfig {
            match_threshold: 0.30,
            ..cfg
        };
        assert_eq!(strict.for_watchlist(1).match_threshold, 0.30);
        // A matcher follows its watchlist's size.
        let mut m = FaceMatcher::new("c".into(), watchlist(1), cfg);
        assert_eq!(m.settings().match_threshold, one);
        m.set_watchlist(watchlist(100));
        assert_eq!(m.settings().match_threshold, hundred);
    }
}
