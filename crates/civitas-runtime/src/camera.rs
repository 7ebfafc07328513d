//! The camera supervisor: each camera runs on its own thread (one stuck
//! camera never stalls another) through its own face pipeline (and plate
//! stage), publishing on the bus. `civitas run` starts every configured
//! camera; `civitas worker` starts and stops the ones its lease gives it.

use crate::engine;
use civitas_api::CommandCentre;
use civitas_base::{Clock, Timestamp};
use civitas_config::{CameraConfig, Config};
use civitas_ingest::FrameSource;
use civitas_ingest::recorder::RecorderInput;
use civitas_ingest::rtsp::HealthHandle;
use civitas_model::CameraId;
use civitas_pipeline::face::Watchlist;
use civitas_pipeline::runner::{ListUpdates, RunOptions, Summary, analyse_source};
use civitas_pipeline::{Bus, CameraHotlist, Event};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Sets a flag when dropped (stops a camera's health watcher with its thread).
#[derive(Debug)]
pub struct StopOnDrop(pub Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Publishes a camera's health on the bus whenever its state changes, until `done`.
pub fn watch_health<B: Bus + 'static>(
    camera: CameraId,
    h: HealthHandle,
    bus: Arc<B>,
    done: Arc<AtomicBool>,
) {
    std::thread::spawn(move || {
        let mut last = None;
        while !done.load(Ordering::SeqCst) {
            let now = h.get();
            if last != Some(now.state) {
                last = Some(now.state);
                bus.publish(Event::CameraHealth {
                    camera: camera.clone(),
                    state: now.state,
                    last_error: now.last_error.clone(),
                    reconnects: now.reconnects,
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    });
}

/// A camera's source under supervision: it ends when its stop flag is set
/// (the camera moved to another worker) or at a deadline (a bounded run),
/// and hands the command centre the camera's latest picture for viewing the
/// cameras near an incident: one copy every 5 s, or every 500 ms while
/// someone is viewing it (a 720p copy is 2.7 MB; at 5 s that is 0.5 MB/s a
/// camera).
struct Supervised {
    inner: Box<dyn FrameSource>,
    stop: Arc<AtomicBool>,
    until: Option<Instant>,
    camera: String,
    console: Option<Arc<CommandCentre>>,
    last_tap: Option<Instant>,
}

impl FrameSource for Supervised {
    fn next_frame(&mut self) -> civitas_base::Result<Option<civitas_ingest::SourcedFrame>> {
        if self.stop.load(Ordering::SeqCst) || self.until.is_some_and(|u| Instant::now() >= u) {
            return Ok(None);
        }
        let f = self.inner.next_frame()?;
        if let (Some(console), Some(f)) = (&self.console, &f) {
            let every = if console.live.is_viewed(&self.camera) {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(5)
            };
            if self.last_tap.is_none_or(|t| t.elapsed() >= every) {
                self.last_tap = Some(Instant::now());
                console
                    .live
                    .set_frame(&self.camera, Arc::new(f.image.clone()));
            }
        }
        Ok(f)
    }

    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }

    fn health(&self) -> Option<HealthHandle> {
        self.inner.health()
    }
}

/// Everything one camera's thread needs.
pub struct CameraTask {
    pub cfg: Config,
    pub camera: CameraConfig,
    pub watchlist: Arc<Watchlist>,
    pub hotlist: Arc<CameraHotlist>,
    /// A source already made (a snapshot-push camera's); `None` opens `camera.url`.
    pub source: Option<Box<dyn FrameSource>>,
    /// Where the camera's encoded stream is recorded, if it is.
    pub recorder: Option<RecorderInput>,
    /// Play files at their own speed (live cameras always are).
    pub realtime: bool,
    pub until: Option<Instant>,
    /// Set to end the camera's run (its thread returns soon after).
    pub stop: Arc<AtomicBool>,
    /// The command centre, to hand it the camera's latest picture.
    pub console: Option<Arc<CommandCentre>>,
    /// When the source's first frame was (a worker taking over a file camera).
    pub epoch: Option<Timestamp>,
    /// Newer watchlists for this camera, taken between frames.
    pub lists: Option<Arc<ListUpdates>>,
    pub clock: Arc<dyn Clock>,
    /// Publish `CameraStopped` (with the error, if any) when the run ends
    /// (`civitas run`); a worker decides itself, as a camera that moved to
    /// another worker has not stopped.
    pub announce_stop: bool,
}

impl std::fmt::Debug for CameraTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraTask")
            .field("camera", &self.camera.id)
            .finish_non_exhaustive()
    }
}

/// Starts a camera on its own thread. The thread builds the camera's
/// pipelines, opens its source, publishes its health while it runs and
/// returns what it analysed (or why it failed).
pub fn spawn<B: Bus + 'static>(
    t: CameraTask,
    bus: Arc<B>,
) -> std::io::Result<std::thread::JoinHandle<civitas_base::Result<Summary>>> {
    std::thread::Builder::new()
        .name(format!("camera-{}", t.camera.id))
        .spawn(move || {
            let (announce, camera) = (t.announce_stop, CameraId(t.camera.id.clone()));
            let bus2 = bus.clone();
            let result = run(t, bus);
            if announce {
                let error = result
                    .as_ref()
                    .err()
                    .map(|e| format!("camera {camera}: {}", e.chain()));
                bus2.publish(Event::CameraStopped { camera, error });
            }
            result
        })
}

fn run<B: Bus + 'static>(t: CameraTask, bus: Arc<B>) -> civitas_base::Result<Summary> {
    let internal = |e: anyhow::Error| civitas_base::Error::internal(format!("{e:#}"));
    let cam = &t.camera;
    let id = CameraId(cam.id.clone());
    let mut pipe = engine::pipeline(&t.cfg, &cam.id, t.watchlist).map_err(internal)?;
    let mut plates = match cam.anpr {
        true => Some(engine::plate_pipeline(&t.cfg, &cam.id, t.hotlist).map_err(internal)?),
        false => None,
    };
    let inner: Box<dyn FrameSource> = match t.source {
        Some(s) => s,
        None => civitas_ingest::open_camera(
            &cam.id,
            &cam.url,
            cam.fps,
            t.realtime,
            cam.transport,
            cam.h264_decoder,
            t.recorder,
        )?,
    };
    let mut src = Supervised {
        inner,
        stop: t.stop,
        until: t.until,
        camera: cam.id.clone(),
        console: t.console,
        last_tap: None,
    };
    let done = Arc::new(AtomicBool::new(false));
    if let Some(h) = src.health() {
        watch_health(id.clone(), h, bus.clone(), done.clone());
    }
    let _stop_watch = StopOnDrop(done);
    analyse_source(
        &mut pipe,
        plates.as_mut(),
        &mut src,
        &id,
        bus.as_ref(),
        t.clock.as_ref(),
        || {},
        RunOptions {
            stills: false,
            motion: cam.motion_gate.then(Default::default),
            epoch: t.epoch,
            lists: t.lists.as_deref(),
        },
    )
}
