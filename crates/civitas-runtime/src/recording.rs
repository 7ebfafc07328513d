//! Recording in `civitas run`: one recorder per recorded RTSP camera
//! (`civitas_ingest::recorder`), the recordings index in the store, crash
//! repair at start, clips triggered by candidates and plate reads, and
//! retention (age and each camera's byte budget, legal holds respected).

use anyhow::Result;
use civitas_base::{Clock, SystemClock};
use civitas_config::Config;
use civitas_ingest::recorder::{
    self, Mode, Notice, RealFs, RecorderConfig, RecorderHandle, RecorderInput,
};
use civitas_store::Store;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The running recorders.
pub struct Recordings {
    handles: HashMap<String, RecorderHandle>,
    threads: Vec<std::thread::JoinHandle<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Recordings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recordings")
            .field("cameras", &self.handles.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Whether a camera is recorded: an RTSP camera whose `record` is not `off`.
pub fn records(cam: &civitas_config::CameraConfig) -> bool {
    cam.record_mode() != Mode::Off
}

fn relative(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).display().to_string()
}

fn kind_of(path: &str) -> &'static str {
    if path.contains("-continuous.") {
        "continuous"
    } else {
        "event"
    }
}

/// Repairs what a crash left, starts a recorder per recorded camera, and the
/// task that indexes their files and applies retention. Returns each
/// camera's input end, for its RTSP session.
pub fn start(
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
    store: &Store,
    console: Arc<civitas_api::CommandCentre>,
) -> Result<(Recordings, HashMap<String, RecorderInput>)> {
    let dir = cfg.recording.dir.clone();
    let mut out = Recordings {
        handles: HashMap::new(),
        threads: Vec::new(),
        task: None,
    };
    let mut inputs = HashMap::new();
    if !cfg.cameras.iter().any(records) {
        return Ok((out, inputs));
    }
    std::fs::create_dir_all(&dir).map_err(|e| {
        anyhow::anyhow!(
            "[recording] dir {}: cannot create it: {e} (set [recording] dir to a writable folder)",
            dir.display()
        )
    })?;
    rt.block_on(repair(&dir, store))?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(String, Notice)>();
    for cam in cfg.cameras.iter().filter(|c| records(c)) {
        let r = &cfg.recording;
        let camera = cam.id.clone();
        let tx = tx.clone();
        let (input, handle, thread) = recorder::start(
            RecorderConfig {
                camera: cam.id.clone(),
                dir: dir.clone(),
                mode: cam.record_mode(),
                pre_roll: Duration::from_secs_f64(r.pre_roll_s),
                post_roll: Duration::from_secs_f64(r.post_roll_s),
                // Face tracks decide 2 s after their first match; plate passes end
                // when the vehicle has gone.
                event_delay: Duration::from_secs(8),
                segment: Duration::from_secs_f64(r.segment_minutes * 60.0),
            },
            RealFs,
            Box::new(move |n| {
                let _ = tx.send((camera.clone(), n));
            }),
        )?;
        tracing::info!(
            "camera {}: recording {} to {} (pre-roll {} s, post-roll {} s)",
            cam.id,
            match cam.record_mode() {
                Mode::Continuous => "continuously",
                _ => "event clips",
            },
            dir.join(&cam.id).display(),
            r.pre_roll_s,
            r.post_roll_s
        );
        inputs.insert(cam.id.clone(), input);
        out.handles.insert(cam.id.clone(), handle);
        out.threads.push(thread);
    }
    drop(tx);
    let budget = (cfg.recording.max_gb_per_camera * 1e9) as i64;
    let max_age = (cfg.retention.recordings_days >= 0.0)
        .then_some((cfg.retention.recordings_days * 86_400_000.0) as i64);
    out.task = Some(rt.spawn(index(rx, store.clone(), console, dir, budget, max_age)));
    Ok((out, inputs))
}

/// `.part` files a crash left are cut back to their last complete fragment
/// (or reported lost) and indexed; rows left `recording` are settled.
async fn repair(dir: &Path, store: &Store) -> Result<()> {
    for r in recorder::recover_dir(dir) {
        match &r.path {
            Some(p) => {
                let rel = relative(dir, p);
                let note = format!(
                    "recovered after an interruption: {} byte(s) of an incomplete fragment cut",
                    r.cut_bytes
                );
                tracing::warn!("recording {}: {note}", p.display());
                store
                    .recording_finished(
                        &r.camera,
                        &rel,
                        kind_of(&rel),
                        r.start_ms,
                        r.end_ms,
                        r.bytes as i64,
                        "recovered",
                        Some(&note),
                    )
                    .await?;
            }
            None => {
                let err = r.error.clone().unwrap_or_default();
                tracing::warn!(
                    "recording of camera {} at {}: lost: {err}",
                    r.camera,
                    r.start_ms
                );
                // The index row, if the file was opened before the crash, says so.
                for kind in ["event", "continuous"] {
                    let rel = format!("{}/{}-{kind}.mp4.part", r.camera, r.start_ms);
                    store.recording_lost(&rel, &err).await?;
                }
            }
        }
    }
    Ok(())
}

async fn index(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(String, Notice)>,
    store: Store,
    console: Arc<civitas_api::CommandCentre>,
    dir: PathBuf,
    budget: i64,
    max_age: Option<i64>,
) {
    let mut sweep = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            n = rx.recv() => {
                let Some((camera, n)) = n else { break };
                // Only a finished file changes a camera's total against its budget.
                let finished = !matches!(n, Notice::Opened { .. });
                if let Err(e) = note(&store, &console, &dir, &camera, n).await {
                    tracing::error!(camera = %camera, error = ?e, "indexing a recording");
                }
                if finished && let Err(e) = retention(&store, &dir, budget, None).await {
                    tracing::error!(error = %e, "recording retention");
                }
            }
            _ = sweep.tick() => {
                if let Err(e) = retention(&store, &dir, budget, max_age).await {
                    tracing::error!(error = %e, "recording retention");
                }
            }
        }
    }
}

async fn note(
    store: &Store,
    console: &civitas_api::CommandCentre,
    dir: &Path,
    camera: &str,
    n: Notice,
) -> civitas_base::Result<()> {
    match n {
        Notice::Opened {
            path,
            start_ms,
            kind,
        } => {
            store
                .recording_opened(camera, &relative(dir, &path), kind, start_ms)
                .await?;
        }
        Notice::Closed {
            path,
            start_ms,
            end_ms,
            bytes,
            kind,
        } => {
            let rel = relative(dir, &path);
            store
                .recording_finished(
                    camera,
                    &rel,
                    kind,
                    start_ms,
                    end_ms,
                    bytes as i64,
                    "complete",
                    None,
                )
                .await?;
        }
        Notice::Failed { path, error, kept } => {
            tracing::warn!("{error}");
            console.live.update_camera(camera, |x| {
                x.last_error = Some(error.clone());
            });
            if let (Some(p), Some((start, end, bytes))) = (path, kept) {
                let rel = relative(dir, &p);
                store
                    .recording_finished(
                        camera,
                        &rel,
                        kind_of(&rel),
                        start,
                        end,
                        bytes as i64,
                        "recovered",
                        Some(&error),
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

/// Deletes what is due (files first, then the index says so).
async fn retention(
    store: &Store,
    dir: &Path,
    budget: i64,
    max_age: Option<i64>,
) -> civitas_base::Result<()> {
    let now = SystemClock.now();
    let due = store.recordings_due(now, max_age, budget).await?;
    let mut done = Vec::new();
    for d in due {
        match std::fs::remove_file(dir.join(&d.path)) {
            Ok(()) => done.push(d),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => done.push(d),
            Err(e) => tracing::error!(path = %d.path, error = %e, "deleting a recording"),
        }
    }
    store.recordings_deleted(&done, now).await
}

impl Recordings {
    /// Something worth a clip happened on `camera` at `wall_ms`.
    pub fn trigger(&self, camera: &str, wall_ms: i64) {
        if let Some(h) = self.handles.get(camera) {
            h.trigger(wall_ms);
        }
    }

    /// Closes the open files and waits until they are indexed.
    pub async fn stop(mut self) {
        for h in self.handles.values() {
            h.stop();
        }
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
        self.handles.clear();
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}
