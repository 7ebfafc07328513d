//! `civitas run`: the main job. Every configured camera runs on its own thread
//! (one stuck camera never stalls another) through its own face pipeline;
//! events go over the in-process bus to the store writer and the console.

use crate::cmds::analyze::describe;
use crate::engine;
use anyhow::Result;
use civitas_base::{Clock, SystemClock};
use civitas_model::CameraId;
use civitas_pipeline::runner::analyse_source;
use civitas_pipeline::{Bus, Event, InProcessBus};
use std::path::Path;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Analyse files as fast as possible instead of at their own speed.
    #[arg(long)]
    fast: bool,
    /// Stop after this many seconds (live cameras otherwise run until interrupted).
    #[arg(long)]
    for_seconds: Option<f64>,
}

/// Sets a flag when dropped (stops a camera's health watcher with its thread).
struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Stops a source after a deadline (for bounded runs of live cameras).
struct Deadline {
    inner: Box<dyn civitas_ingest::FrameSource>,
    until: Option<std::time::Instant>,
}

impl civitas_ingest::FrameSource for Deadline {
    fn next_frame(&mut self) -> civitas_base::Result<Option<civitas_ingest::SourcedFrame>> {
        if self.until.is_some_and(|u| std::time::Instant::now() >= u) {
            return Ok(None);
        }
        self.inner.next_frame()
    }

    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }

    fn health(&self) -> Option<civitas_ingest::rtsp::HealthHandle> {
        self.inner.health()
    }
}

/// Publishes a camera's health on the bus whenever its state changes, until `done`.
fn watch_health(
    camera: CameraId,
    h: civitas_ingest::rtsp::HealthHandle,
    bus: Arc<InProcessBus>,
    done: Arc<std::sync::atomic::AtomicBool>,
) {
    std::thread::spawn(move || {
        let mut last = None;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let now = h.get();
            if last != Some(now.state) {
                last = Some(now.state);
                bus.publish(Event::CameraHealth {
                    camera: camera.clone(),
                    state: serde_json::to_value(now.state)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    last_error: now.last_error.clone(),
                    reconnects: now.reconnects,
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    });
}

type PushSources = std::collections::HashMap<String, civitas_ingest::push::PushSource>;

/// Creates the `url = "push"` cameras and, if there are any, starts the HTTP
/// endpoint they upload to on `[api] listen`. Returns their sources and the
/// server's stop switch.
fn start_push_cameras(
    cfg: &civitas_pipeline::config::Config,
    rt: &tokio::runtime::Runtime,
    until: Option<std::time::Instant>,
) -> Result<(PushSources, Option<tokio::sync::oneshot::Sender<()>>)> {
    use civitas_ingest::push::{SnapshotLimits, push_camera};
    let limits = SnapshotLimits {
        max_bytes: cfg.api.max_snapshot_bytes,
        max_side: cfg.api.max_snapshot_side,
    };
    let mut sources = PushSources::new();
    let mut routes = std::collections::HashMap::new();
    for cam in cfg
        .cameras
        .iter()
        .filter(|c| c.url == civitas_pipeline::config::PUSH_URL)
    {
        let token_sha256 = cam
            .push_token_sha256
            .as_deref()
            .and_then(civitas_api::parse_sha256_hex)
            .ok_or_else(|| {
                anyhow::anyhow!("camera {}: push_token_sha256 is not a SHA-256", cam.id)
            })?;
        let (src, handle) = push_camera(&cam.id, limits, 8);
        sources.insert(cam.id.clone(), src.until(until));
        routes.insert(
            cam.id.clone(),
            civitas_api::PushCamera {
                handle,
                token_sha256,
            },
        );
    }
    if routes.is_empty() {
        return Ok((sources, None));
    }
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(&cfg.api.listen))
        .map_err(|e| anyhow::anyhow!("api.listen {}: cannot listen: {e}", cfg.api.listen))?;
    eprintln!(
        "civitas: snapshot push for {} camera(s) at http://{}/api/v1/cameras/{{id}}/snapshot",
        routes.len(),
        listener.local_addr()?
    );
    let app = civitas_api::router(civitas_api::ApiState {
        push: Arc::new(routes),
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(async move {
        if let Err(e) = civitas_api::serve(listener, app, async {
            let _ = rx.await;
        })
        .await
        {
            tracing::error!(error = %e, "the HTTP service stopped");
        }
    });
    Ok((sources, Some(tx)))
}

pub fn main(config: &Path, a: Args) -> Result<()> {
    let cfg = engine::load_config(config)?;
    if cfg.cameras.is_empty() {
        anyhow::bail!(
            "config {}: no [[camera]] configured; see config/demo.toml",
            config.display()
        );
    }
    let rt = engine::tokio()?;
    let store = rt.block_on(engine::open_store(&cfg))?;
    rt.block_on(engine::audit_config(&store, config))?;
    eprintln!(
        "civitas: {} camera(s), store {}",
        cfg.cameras.len(),
        cfg.store.path.display()
    );
    let policy = engine::review_policy(&cfg);
    // Read once; each camera gets the entries whose legal basis covers it.
    let entries = rt.block_on(store.watchlist())?;
    let until = a
        .for_seconds
        .map(|s| std::time::Instant::now() + std::time::Duration::from_secs_f64(s));
    let bus = Arc::new(InProcessBus::default());
    let mut rx = bus.subscribe();
    let (mut push_sources, api_stop) = start_push_cameras(&cfg, &rt, until)?;
    let mut handles = Vec::new();
    for cam in &cfg.cameras {
        let cam = cam.clone();
        let push_src = push_sources.remove(&cam.id);
        let wl = Arc::new(engine::watchlist_for(&entries, &cam.id)?);
        eprintln!(
            "camera {}: {} enrolled template(s) whose legal basis covers it",
            cam.id,
            wl.index.len()
        );
        let (cfg, bus) = (cfg.clone(), bus.clone());
        let realtime = cam.realtime && !a.fast;
        eprintln!(
            "camera {} ({}): {} — purpose: {}; owner: {}",
            cam.id,
            cam.name,
            civitas_ingest::rtsp::mask_url(&cam.url),
            cam.purpose,
            cam.owner
        );
        handles.push(
            std::thread::Builder::new()
                .name(format!("camera-{}", cam.id))
                .spawn(move || {
                    let id = CameraId(cam.id.clone());
                    let result = (|| -> civitas_base::Result<_> {
                        let mut pipe = engine::pipeline(&cfg, &cam.id, wl)
                            .map_err(|e| civitas_base::Error::internal(format!("{e:#}")))?;
                        let inner: Box<dyn civitas_ingest::FrameSource> = match push_src {
                            Some(p) => Box::new(p),
                            None => civitas_ingest::open_camera(
                                &cam.id,
                                &cam.url,
                                cam.fps,
                                realtime,
                                cam.transport,
                                cam.h264_decoder,
                            )?,
                        };
                        let mut src = Deadline { inner, until };
                        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
                        if let Some(h) = civitas_ingest::FrameSource::health(&src) {
                            watch_health(id.clone(), h, bus.clone(), done.clone());
                        }
                        let _stop_watch = StopOnDrop(done);
                        analyse_source(
                            &mut pipe,
                            &mut src,
                            &id,
                            bus.as_ref(),
                            &civitas_base::SystemClock,
                            || {},
                            civitas_pipeline::runner::RunOptions {
                                stills: false,
                                motion: cam.motion_gate.then(Default::default),
                            },
                        )
                    })();
                    let error = result
                        .as_ref()
                        .err()
                        .map(|e| format!("camera {}: {}", cam.id, e.chain()));
                    bus.publish(Event::CameraStopped { camera: id, error });
                    result.ok()
                })?,
        );
    }
    let cameras = cfg.cameras.len();
    let (stored, failed) = rt.block_on(async {
        let (mut stopped, mut stored, mut failed) = (0, 0u64, 0);
        while stopped < cameras {
            let Some(ev) = rx.recv().await else { break };
            match ev {
                Event::Candidate(mut c) => match store
                    .insert_candidate(&c, SystemClock.now(), &policy)
                    .await?
                {
                    Some(id) => {
                        c.id = Some(id);
                        stored += 1;
                        println!("{}", describe(&c));
                    }
                    None => eprintln!(
                        "camera {}: candidate for entry {} suppressed (rejected here recently)",
                        c.camera, c.entry
                    ),
                },
                Event::CameraStopped { camera, error } => {
                    stopped += 1;
                    match error {
                        Some(e) => {
                            failed += 1;
                            eprintln!("camera {camera} stopped: {e}");
                        }
                        None => eprintln!("camera {camera}: end of stream"),
                    }
                }
                Event::CameraHealth {
                    camera,
                    state,
                    last_error,
                    reconnects,
                } => match last_error {
                    Some(e) if state != "online" => {
                        eprintln!("camera {camera}: {state} ({e}; {reconnects} reconnect(s))")
                    }
                    _ => eprintln!("camera {camera}: {state}"),
                },
                Event::FrameAnalysed { .. } => {}
            }
        }
        if let Some(stop) = api_stop {
            let _ = stop.send(());
        }
        store.close().await;
        anyhow::Ok((stored, failed))
    })?;
    let mut frames = 0;
    let mut faces = 0;
    let mut skipped = 0;
    for h in handles {
        if let Ok(Some(s)) = h.join() {
            frames += s.frames;
            faces += s.faces;
            skipped += s.skipped_no_motion;
        }
    }
    println!(
        "civitas: done — {frames} frame(s) sampled ({skipped} skipped without motion), {faces} face(s) seen, {stored} candidate(s) stored for human review in {}",
        cfg.store.path.display()
    );
    if failed > 0 {
        anyhow::bail!("{failed} of {cameras} camera(s) failed (see above)");
    }
    Ok(())
}
