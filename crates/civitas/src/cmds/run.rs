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
    /// Keep the command centre up after every camera has stopped (until Ctrl-C).
    #[arg(long)]
    keep_serving: bool,
}

/// Sets a flag when dropped (stops a camera's health watcher with its thread).
pub(crate) struct StopOnDrop(pub(crate) Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Stops a source after a deadline (for bounded runs of live cameras), and
/// hands the command centre the camera's latest picture for viewing the
/// cameras near an incident: one copy every 5 s, or every 500 ms while
/// someone is viewing it (a 720p copy is 2.7 MB; at 5 s that is 0.5 MB/s a
/// camera).
struct Deadline {
    inner: Box<dyn civitas_ingest::FrameSource>,
    until: Option<std::time::Instant>,
    camera: String,
    console: Arc<civitas_api::Console>,
    last_tap: Option<std::time::Instant>,
}

impl civitas_ingest::FrameSource for Deadline {
    fn next_frame(&mut self) -> civitas_base::Result<Option<civitas_ingest::SourcedFrame>> {
        if self.until.is_some_and(|u| std::time::Instant::now() >= u) {
            return Ok(None);
        }
        let f = self.inner.next_frame()?;
        let every = if self.console.live.is_viewed(&self.camera) {
            std::time::Duration::from_millis(500)
        } else {
            std::time::Duration::from_secs(5)
        };
        if let Some(f) = &f
            && self.last_tap.is_none_or(|t| t.elapsed() >= every)
        {
            self.last_tap = Some(std::time::Instant::now());
            self.console
                .live
                .set_frame(&self.camera, Arc::new(f.image.clone()));
        }
        Ok(f)
    }

    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }

    fn health(&self) -> Option<civitas_ingest::rtsp::HealthHandle> {
        self.inner.health()
    }
}

/// Publishes a camera's health on the bus whenever its state changes, until `done`.
pub(crate) fn watch_health<B: Bus + 'static>(
    camera: CameraId,
    h: civitas_ingest::rtsp::HealthHandle,
    bus: Arc<B>,
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

/// What `start_api` started.
pub(crate) struct Api {
    pub push_sources: PushSources,
    pub console: Arc<civitas_api::Console>,
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// Stops the webhook deliverers.
    pub hooks_stop: tokio::sync::watch::Sender<bool>,
}

/// Starts the HTTP service on `[api] listen`: the command centre (API and
/// web console) and the upload endpoint of the `url = "push"` cameras.
pub(crate) fn start_api(
    cfg: &civitas_pipeline::config::Config,
    rt: &tokio::runtime::Runtime,
    store: &civitas_store::Store,
    until: Option<std::time::Instant>,
) -> Result<Api> {
    use civitas_ingest::push::{SnapshotLimits, push_camera};
    let limits = SnapshotLimits {
        max_bytes: cfg.api.max_snapshot_bytes,
        max_side: cfg.api.max_snapshot_side,
    };
    let mut push_sources = PushSources::new();
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
        push_sources.insert(cam.id.clone(), src.until(until));
        routes.insert(
            cam.id.clone(),
            civitas_api::PushCamera {
                handle,
                token_sha256,
            },
        );
    }
    let key = civitas_audit::AuditKey::load_or_create(&cfg.store.audit_key)?;
    let mut console = civitas_api::Console::new(
        store.clone(),
        Arc::new(SystemClock),
        engine::review_policy(cfg),
        key.public(),
        civitas_api::Settings {
            session_idle_ms: cfg.api.session_idle_minutes as i64 * 60_000,
            secure_cookie: cfg.api.secure_cookie,
            ..Default::default()
        },
    );
    console.trusted_proxies = cfg.api.trusted_proxies.clone();
    console.enroller = Some(Arc::new(engine::ModelEnroller::new(&cfg.vision)));
    console.incidents = engine::incident_settings(cfg);
    console.recordings_dir = Some(cfg.recording.dir.clone());
    console.exporter = Some(Arc::new(crate::evidence::ConsoleExporter::new(
        cfg,
        store,
        Arc::new(civitas_audit::AuditKey::load_or_create(
            &cfg.store.audit_key,
        )?),
        rt.handle().clone(),
    )));
    rt.block_on(store.sync_units(&engine::unit_specs(cfg), SystemClock.now()))?;
    for cam in &cfg.cameras {
        console.live.set_camera(civitas_api::CameraInfo {
            id: cam.id.clone(),
            name: cam.name.clone(),
            source: civitas_ingest::rtsp::mask_url(&cam.url),
            purpose: cam.purpose.clone(),
            owner: cam.owner.clone(),
            latitude: Some(cam.latitude),
            longitude: Some(cam.longitude),
            state: "connecting".into(),
            last_error: None,
            reconnects: 0,
            frames: 0,
            candidates: 0,
            last_frame_ms: None,
        });
    }
    let console = Arc::new(console);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(&cfg.api.listen))
        .map_err(|e| {
            anyhow::anyhow!(
                "api.listen {}: cannot listen: {e} (set [api] listen in the config to a free address:port)",
                cfg.api.listen
            )
        })?;
    let addr = listener.local_addr()?;
    if civitas_api::web::asset_count() == 0 {
        eprintln!(
            "civitas: warning: this binary was built without the web console (run scripts/setup)"
        );
    }
    eprintln!("civitas: command centre at http://{addr}/");
    if !routes.is_empty() {
        eprintln!(
            "civitas: snapshot push for {} camera(s) at http://{addr}/api/v1/cameras/{{id}}/snapshot",
            routes.len()
        );
    }
    let (app, _) = civitas_api::router(civitas_api::ApiState {
        push: Arc::new(routes),
        console: Some(console.clone()),
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
    let hooks = engine::webhooks(cfg)?;
    let (hooks_stop, hooks_rx) = tokio::sync::watch::channel(false);
    let stats = Arc::new(civitas_api::webhooks::WebhookStats::default());
    for hook in hooks {
        eprintln!(
            "civitas: webhook {} at {} (incident and unit events, HMAC-signed)",
            hook.name, hook.url
        );
        rt.spawn(civitas_api::webhooks::deliver(
            store.clone(),
            hook,
            Arc::new(SystemClock),
            console.outbox_wake.clone(),
            stats.clone(),
            hooks_rx.clone(),
        ));
    }
    if let Some(path) = cfg.store.audit_witness.clone() {
        eprintln!(
            "civitas: witnessing the audit log's signed heads in {}",
            path.display()
        );
        rt.spawn(civitas_api::witness::keep_local(
            store.clone(),
            path,
            console.audit_public,
            hooks_rx,
        ));
    }
    Ok(Api {
        push_sources,
        console,
        stop: tx,
        hooks_stop,
    })
}

/// Feeds a bus event to the command centre: camera table, metrics, live push.
pub(crate) fn to_console(c: &civitas_api::Console, ev: &Event) {
    use civitas_api::LiveEvent;
    let camera_event = |id: &str| {
        if let Some(cam) = c.live.cameras().into_iter().find(|x| x.id == id) {
            c.live.publish(LiveEvent {
                kind: "camera".into(),
                camera: Some(id.to_owned()),
                data: serde_json::to_value(&cam).unwrap_or_default(),
            });
        }
    };
    match ev {
        Event::FrameAnalysed {
            camera,
            faces,
            analyse_ms,
            since_arrival_ms,
            ..
        } => {
            let l = [("camera", camera.0.as_str())];
            c.metrics.inc("civitas_camera_frames_total", &l, 1.0);
            c.metrics
                .inc("civitas_camera_faces_total", &l, *faces as f64);
            c.metrics.observe(
                "civitas_stage_latency_seconds",
                &[("stage", "analyse")],
                analyse_ms / 1e3,
            );
            c.metrics.observe(
                "civitas_stage_latency_seconds",
                &[("stage", "capture_to_analysed")],
                since_arrival_ms / 1e3,
            );
            let now = SystemClock.now().0;
            let mut first = false;
            c.live.update_camera(&camera.0, |x| {
                x.frames += 1;
                x.last_frame_ms = Some(now);
                if x.state == "connecting" {
                    x.state = "online".into();
                    first = true;
                }
            });
            if first {
                c.metrics.set("civitas_camera_online", &l, 1.0);
                camera_event(&camera.0);
            }
        }
        Event::CameraHealth {
            camera,
            state,
            last_error,
            reconnects,
        } => {
            c.live.update_camera(&camera.0, |x| {
                x.state = state.clone();
                x.last_error = last_error.clone();
                x.reconnects = *reconnects;
            });
            let l = [("camera", camera.0.as_str())];
            c.metrics.set(
                "civitas_camera_online",
                &l,
                if state == "online" { 1.0 } else { 0.0 },
            );
            c.metrics
                .set("civitas_camera_reconnects_total", &l, *reconnects as f64);
            camera_event(&camera.0);
        }
        Event::CameraStopped { camera, error } => {
            c.live.update_camera(&camera.0, |x| {
                x.state = if error.is_some() {
                    "offline"
                } else {
                    "stopped"
                }
                .into();
                if error.is_some() {
                    x.last_error = error.clone();
                }
            });
            c.metrics.set(
                "civitas_camera_online",
                &[("camera", camera.0.as_str())],
                0.0,
            );
            camera_event(&camera.0);
        }
        Event::PlatePass(p) => {
            let l = [("camera", p.camera.0.as_str())];
            c.metrics.inc("civitas_camera_plate_passes_total", &l, 1.0);
            if p.hit.is_some() {
                c.metrics.inc("civitas_camera_plate_hits_total", &l, 1.0);
            }
        }
        Event::Candidate(_) => {}
    }
}

/// Announces a stored candidate to the console.
fn candidate_to_console(c: &civitas_api::Console, cand: &civitas_model::Candidate, store_s: f64) {
    let l = [("camera", cand.camera.0.as_str())];
    c.metrics.inc("civitas_camera_candidates_total", &l, 1.0);
    c.metrics.observe(
        "civitas_stage_latency_seconds",
        &[("stage", "store")],
        store_s,
    );
    c.live.update_camera(&cand.camera.0, |x| x.candidates += 1);
    c.live.publish(civitas_api::LiveEvent {
        kind: "candidate".into(),
        camera: Some(cand.camera.0.clone()),
        data: serde_json::json!({
            "id": cand.id.map(|i| i.0),
            "camera": cand.camera.0,
            "entry_name": cand.entry_name,
            "distance": cand.distance,
            "frame_time_ms": cand.frame_time.0,
            "stored_at_ms": SystemClock.now().0,
        }),
    });
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
        engine::store_label(&cfg)
    );
    let policy = engine::review_policy(&cfg);
    // Read once; each camera gets the entries whose legal basis covers it.
    let entries = rt.block_on(store.watchlist())?;
    let hot_entries = rt.block_on(store.hotlist_entries())?;
    let retention = engine::plate_retention(&cfg);
    let until = a
        .for_seconds
        .map(|s| std::time::Instant::now() + std::time::Duration::from_secs_f64(s));
    let bus = Arc::new(InProcessBus::default());
    let mut rx = bus.subscribe();
    let Api {
        mut push_sources,
        console,
        stop: api_stop,
        hooks_stop,
    } = start_api(&cfg, &rt, &store, until)?;
    let mqtt = cfg.mqtt.enabled.then(|| {
        eprintln!(
            "civitas: publishing events to MQTT at {}:{} under {}/",
            cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.topic_prefix
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = rt.spawn(crate::mqtt::forward(
            cfg.mqtt.clone(),
            console.live.subscribe(),
            rx,
        ));
        (tx, task)
    });
    let (recordings, mut rec_inputs) = crate::recording::start(&cfg, &rt, &store, console.clone())?;
    let mut handles = Vec::new();
    for cam in &cfg.cameras {
        let cam = cam.clone();
        let push_src = push_sources.remove(&cam.id);
        let rec_input = rec_inputs.remove(&cam.id);
        let wl = Arc::new(engine::watchlist_for(&entries, &cam.id)?);
        let hot = Arc::new(engine::hotlist_for(&hot_entries, &cam.id));
        if cam.anpr {
            eprintln!(
                "camera {}: reads plates; {} hotlist entr(ies) whose legal basis covers it",
                cam.id,
                hot.entries.len()
            );
        }
        eprintln!(
            "camera {}: {} enrolled template(s) whose legal basis covers it",
            cam.id,
            wl.index.len()
        );
        let (cfg, bus, console) = (cfg.clone(), bus.clone(), console.clone());
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
                        let mut plates = match cam.anpr {
                            true => Some(
                                engine::plate_pipeline(&cfg, &cam.id, hot)
                                    .map_err(|e| civitas_base::Error::internal(format!("{e:#}")))?,
                            ),
                            false => None,
                        };
                        let inner: Box<dyn civitas_ingest::FrameSource> = match push_src {
                            Some(p) => Box::new(p),
                            None => civitas_ingest::open_camera(
                                &cam.id,
                                &cam.url,
                                cam.fps,
                                realtime,
                                cam.transport,
                                cam.h264_decoder,
                                rec_input,
                            )?,
                        };
                        let mut src = Deadline {
                            inner,
                            until,
                            camera: cam.id.clone(),
                            console: console.clone(),
                            last_tap: None,
                        };
                        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
                        if let Some(h) = civitas_ingest::FrameSource::health(&src) {
                            watch_health(id.clone(), h, bus.clone(), done.clone());
                        }
                        let _stop_watch = StopOnDrop(done);
                        analyse_source(
                            &mut pipe,
                            plates.as_mut(),
                            &mut src,
                            &id,
                            bus.as_ref(),
                            &civitas_base::SystemClock,
                            || {},
                            civitas_pipeline::runner::RunOptions {
                                stills: false,
                                motion: cam.motion_gate.then(Default::default),
                                ..Default::default()
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
        let writer = Writer {
            store: &store,
            console: &console,
            policy: &policy,
            retention: &retention,
            recordings: Some(&recordings),
            quiet: false,
        };
        let (mut stopped, mut stored, mut failed) = (0, 0u64, 0usize);
        while stopped < cameras {
            let Some(ev) = rx.recv().await else { break };
            console.metrics.set(
                "civitas_bus_queue_depth",
                &[("sink", "store")],
                rx.len() as f64,
            );
            match writer.apply(ev).await? {
                Applied::Stored => stored += 1,
                Applied::Stopped { failed: f } => {
                    stopped += 1;
                    failed += usize::from(f);
                }
                Applied::Other | Applied::Repeat => {}
            }
        }
        if a.keep_serving {
            eprintln!(
                "civitas: every camera has stopped; the command centre stays up until interrupted (Ctrl-C)"
            );
            let _ = tokio::signal::ctrl_c().await;
        }
        recordings.stop().await;
        let _ = api_stop.send(());
        let _ = hooks_stop.send(true);
        if let Some((stop, task)) = mqtt {
            let _ = stop.send(());
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
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
        engine::store_label(&cfg)
    );
    if failed > 0 {
        anyhow::bail!("{failed} of {cameras} camera(s) failed (see above)");
    }
    Ok(())
}

/// What applying one event did.
pub(crate) enum Applied {
    /// A new candidate was stored (a face match or a plate hit).
    Stored,
    /// A camera's source ended (`failed`: with an error).
    Stopped {
        failed: bool,
    },
    /// Applied before (a redelivery or a replay): nothing done, nothing announced.
    Repeat,
    Other,
}

/// The single appender: applies the bus's events to the store (each
/// result once, by its stable key, with its audit entry in the same
/// transaction) and announces what it stored to the command centre.
/// `civitas run` feeds it from the in-process bus, `civitas serve` from
/// the NATS consumer.
pub(crate) struct Writer<'a> {
    pub store: &'a civitas_store::Store,
    pub console: &'a civitas_api::Console,
    pub policy: &'a civitas_store::ReviewPolicy,
    pub retention: &'a civitas_store::PlateRetention,
    pub recordings: Option<&'a crate::recording::Recordings>,
    /// Print nothing per result (the load simulation).
    pub quiet: bool,
}

impl Writer<'_> {
    pub(crate) async fn apply(&self, ev: Event) -> civitas_base::Result<Applied> {
        let (store, console, policy, retention) =
            (self.store, self.console, self.policy, self.retention);
        let trigger = |camera: &str, at: i64| {
            if let Some(r) = self.recordings {
                r.trigger(camera, at);
            }
        };
        if let Some(key) = ev.key()
            && store.is_applied(&key).await?
        {
            return Ok(Applied::Repeat);
        }
        to_console(console, &ev);
        Ok(match ev {
            Event::Candidate(mut c) => {
                trigger(&c.camera.0, c.frame_time.0);
                let t0 = std::time::Instant::now();
                let stored_id = store
                    .insert_candidate(&c, SystemClock.now(), policy)
                    .await?;
                let store_s = t0.elapsed().as_secs_f64();
                match stored_id {
                    Some(id) => {
                        c.id = Some(id);
                        if !self.quiet {
                            println!("{}", describe(&c));
                        }
                        candidate_to_console(console, &c, store_s);
                        Applied::Stored
                    }
                    None => {
                        eprintln!(
                            "camera {}: candidate for entry {} suppressed (rejected here recently)",
                            c.camera, c.entry
                        );
                        Applied::Other
                    }
                }
            }
            Event::PlatePass(p) => {
                trigger(&p.camera.0, p.first_seen.0);
                trigger(&p.camera.0, p.last_seen.0);
                let t0 = std::time::Instant::now();
                let (_, cand) = store
                    .record_plate_pass(&p, retention, policy, SystemClock.now())
                    .await?;
                let store_s = t0.elapsed().as_secs_f64();
                if !self.quiet {
                    println!("{}", crate::cmds::analyze::describe_pass(&p));
                }
                match (cand, &p.hit) {
                    (Some(id), Some(hit)) => {
                        candidate_to_console(
                            console,
                            &engine::plate_candidate(&p, hit, id),
                            store_s,
                        );
                        Applied::Stored
                    }
                    _ => Applied::Other,
                }
            }
            Event::CameraStopped { camera, error } => {
                let (kind, detail) = match &error {
                    Some(e) => ("failed", e.as_str()),
                    None => ("stopped", ""),
                };
                if let Err(e) = store
                    .record_camera_event(&camera.0, kind, detail, SystemClock.now())
                    .await
                {
                    tracing::warn!(camera = %camera, error = %e, "recording a camera event");
                }
                match &error {
                    Some(e) => eprintln!("camera {camera} stopped: {e}"),
                    None => eprintln!("camera {camera}: end of stream"),
                }
                Applied::Stopped {
                    failed: error.is_some(),
                }
            }
            Event::CameraHealth {
                camera,
                state,
                last_error,
                reconnects,
            } => {
                let detail = last_error.as_deref().unwrap_or("");
                if let Err(e) = store
                    .record_camera_event(&camera.0, &state, detail, SystemClock.now())
                    .await
                {
                    tracing::warn!(camera = %camera, error = %e, "recording a camera event");
                }
                match last_error {
                    Some(e) if state != "online" => {
                        eprintln!("camera {camera}: {state} ({e}; {reconnects} reconnect(s))")
                    }
                    _ => eprintln!("camera {camera}: {state}"),
                }
                Applied::Other
            }
            Event::FrameAnalysed { .. } => Applied::Other,
        })
    }
}
