//! Runs a frame source through a face pipeline, publishing every event on the bus.

use crate::bus::{Bus, Event};
use crate::face::FacePipeline;
use crate::motion::{MotionConfig, MotionGate};
use crate::plate::PlatePipeline;
use civitas_base::Clock;
use civitas_ingest::FrameSource;
use civitas_model::CameraId;

/// Totals over a source.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub frames: u64,
    pub faces: u64,
    pub too_small: u64,
    pub unknown: u64,
    pub candidates: u64,
    /// Frames the motion gate skipped (not analysed).
    pub skipped_no_motion: u64,
    /// Plates read, frame by frame.
    pub plate_reads: u64,
    /// Vehicle passes (one voted read each).
    pub plate_passes: u64,
    /// Passes whose read hit a hotlist entry.
    pub plate_hits: u64,
}

/// How to run a source.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions<'a> {
    /// The frames are independent stills: close tracks after each one.
    pub stills: bool,
    /// Skip frames without motion (`None`: analyse every sampled frame).
    pub motion: Option<MotionConfig>,
    /// When the source's first frame was (frame times are this plus the
    /// frame's offset); `None`: now. A worker taking over a file camera
    /// replays it with the epoch its first worker used, so every frame keeps
    /// its time and every result its stable key.
    pub epoch: Option<civitas_base::Timestamp>,
    /// Newer watchlist/hotlist for this camera, taken between frames (a
    /// worker refreshes its lists when they change, without restarting).
    pub lists: Option<&'a ListUpdates>,
}

/// A camera's pending watchlist and hotlist replacement, set by whoever
/// watches the store and taken by the runner before its next frame.
#[derive(Debug, Default)]
pub struct ListUpdates(
    std::sync::Mutex<
        Option<(
            std::sync::Arc<crate::face::Watchlist>,
            std::sync::Arc<crate::plate::CameraHotlist>,
        )>,
    >,
);

impl ListUpdates {
    pub fn set(
        &self,
        w: std::sync::Arc<crate::face::Watchlist>,
        h: std::sync::Arc<crate::plate::CameraHotlist>,
    ) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((w, h));
    }

    fn take(
        &self,
    ) -> Option<(
        std::sync::Arc<crate::face::Watchlist>,
        std::sync::Arc<crate::plate::CameraHotlist>,
    )> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Runs `source` through `pipe` (and `plates`, for ANPR cameras), publishing every event on `bus`.
#[allow(clippy::too_many_arguments)]
pub fn analyse_source(
    pipe: &mut FacePipeline,
    mut plates: Option<&mut PlatePipeline>,
    source: &mut dyn FrameSource,
    camera: &CameraId,
    bus: &dyn Bus,
    clock: &dyn Clock,
    mut on_frame: impl FnMut(),
    opts: RunOptions<'_>,
) -> civitas_base::Result<Summary> {
    let stills = opts.stills;
    let mut gate = opts.motion.map(MotionGate::new);
    let start = opts.epoch.unwrap_or_else(|| clock.now());
    let mut s = Summary::default();
    let publish = |cands: Vec<civitas_model::Candidate>, s: &mut Summary| {
        for c in cands {
            s.candidates += 1;
            bus.publish(Event::Candidate(c));
        }
    };
    let publish_passes = |passes: Vec<civitas_model::PlatePass>, s: &mut Summary| {
        for p in passes {
            s.plate_passes += 1;
            s.plate_hits += u64::from(p.hit.is_some());
            bus.publish(Event::PlatePass(p));
        }
    };
    while let Some(f) = source.next_frame()? {
        if let Some((w, h)) = opts.lists.and_then(ListUpdates::take) {
            pipe.set_watchlist(w);
            if let Some(p) = plates.as_deref_mut() {
                p.set_hotlist(h);
            }
        }
        if let Some(g) = gate.as_mut()
            && !g.admit(&f.image, f.offset_ms)
        {
            s.frames += 1;
            s.skipped_no_motion += 1;
            on_frame();
            continue;
        }
        let frame_time = if stills {
            clock.now()
        } else {
            start.plus_ms(f.offset_ms)
        };
        let t0 = std::time::Instant::now();
        let out = pipe.process(&f.image, f.offset_ms, frame_time, clock.now())?;
        if let Some(p) = plates.as_deref_mut() {
            let po = p.process(&f.image, f.offset_ms, frame_time, clock.now())?;
            s.plate_reads += po.reads as u64;
            publish_passes(po.passes, &mut s);
            if stills {
                publish_passes(p.finish(clock.now()), &mut s);
            }
        }
        let analyse_ms = t0.elapsed().as_secs_f64() * 1e3;
        s.frames += 1;
        s.faces += out.faces as u64;
        s.too_small += out.too_small as u64;
        s.unknown += out.unknown as u64;
        tracing::debug!(camera = %camera, frame = %f.label, offset_ms = f.offset_ms, faces = out.faces, matched = out.matched, "frame analysed");
        bus.publish(Event::FrameAnalysed {
            camera: camera.clone(),
            offset_ms: f.offset_ms,
            faces: out.faces,
            too_small: out.too_small,
            unknown: out.unknown,
            analyse_ms,
            since_arrival_ms: f.arrived.elapsed().as_secs_f64() * 1e3,
        });
        publish(out.candidates, &mut s);
        if stills {
            publish(pipe.finish(), &mut s);
        }
        on_frame();
    }
    publish(pipe.finish(), &mut s);
    if let Some(p) = plates {
        publish_passes(p.finish(clock.now()), &mut s);
    }
    Ok(s)
}
