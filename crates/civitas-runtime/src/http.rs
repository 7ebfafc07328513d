//! HTTP start-up: the command centre (API and web console), the snapshot
//! upload endpoint of `url = "push"` cameras, the webhook deliverers and the
//! local audit witness, all on `[api] listen`.

use crate::engine;
use anyhow::Result;
use civitas_base::Clock;
use std::sync::Arc;

type PushSources = std::collections::HashMap<String, civitas_ingest::push::PushSource>;

/// Runs the HTTP service, logging why it stopped if it failed.
async fn serve(service: impl std::future::Future<Output = std::io::Result<()>>) {
    if let Err(e) = service.await {
        tracing::error!(error = %e, "the HTTP service stopped");
    }
}

/// What `start_api` started.
#[derive(Debug)]
pub struct Api {
    pub push_sources: PushSources,
    pub console: Arc<civitas_api::CommandCentre>,
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// Stops the webhook deliverers.
    pub hooks_stop: tokio::sync::watch::Sender<bool>,
}

/// Starts the HTTP service on `[api] listen`: the command centre (API and
/// web console) and the upload endpoint of the `url = "push"` cameras.
pub fn start_api(
    cfg: &civitas_config::Config,
    rt: &tokio::runtime::Runtime,
    store: &civitas_store::Store,
    until: Option<std::time::Instant>,
    clock: Arc<dyn Clock>,
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
        .filter(|c| c.url == civitas_config::PUSH_URL)
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
    let key = Arc::new(civitas_audit::AuditKey::load_or_create(
        &cfg.store.audit_key,
    )?);
    let mut console = civitas_api::CommandCentre::new(
        store.clone(),
        clock.clone(),
        engine::review_policy(cfg),
        key.public(),
        civitas_api::Settings {
            session_idle_ms: cfg.api.session_idle_minutes as i64 * 60_000,
            // Behind a TLS proxy (allow_plaintext) the browser is on HTTPS too.
            secure_cookie: cfg.api.secure_cookie || cfg.api.tls() || cfg.api.plaintext_on_network(),
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
        key,
        rt.handle().clone(),
    )));
    rt.block_on(store.sync_units(&engine::unit_specs(cfg), clock.now()))?;
    for cam in &cfg.cameras {
        console.live.set_camera(civitas_api::CameraInfo {
            id: cam.id.clone(),
            name: cam.name.clone(),
            source: civitas_ingest::rtsp::mask_url(&cam.url),
            purpose: cam.purpose.clone(),
            owner: cam.owner.clone(),
            latitude: Some(cam.latitude),
            longitude: Some(cam.longitude),
            state: civitas_model::CameraState::Connecting,
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
        tracing::warn!(
            "civitas: this binary was built without the web console (run scripts/setup)"
        );
    }
    let scheme = if cfg.api.tls() { "https" } else { "http" };
    if cfg.api.plaintext_on_network() {
        tracing::warn!(
            "civitas: api.listen {addr} serves plain HTTP to other machines (allow_plaintext = true): only behind a TLS-terminating proxy"
        );
    }
    tracing::info!("civitas: command centre at {scheme}://{addr}/");
    if !routes.is_empty() {
        tracing::info!(
            "civitas: snapshot push for {} camera(s) at {scheme}://{addr}/api/v1/cameras/{{id}}/snapshot",
            routes.len()
        );
    }
    let (app, _) = civitas_api::router(civitas_api::ApiState {
        push: Arc::new(routes),
        console: Some(console.clone()),
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = rx.await;
    };
    let _rt = rt.enter();
    let tls = match (&cfg.api.tls_cert, &cfg.api.tls_key) {
        (Some(cert), Some(key)) => Some(civitas_api::tls::server_config(cert, key)?),
        _ => None,
    };
    let proxies = cfg.api.trusted_proxies.clone();
    let listener = civitas_api::tls::Listener::new(listener, tls, civitas_api::tls::IDLE, proxies)?;
    rt.spawn(serve(civitas_api::serve(listener, app, stopped)));
    let hooks = engine::webhooks(cfg)?;
    let (hooks_stop, hooks_rx) = tokio::sync::watch::channel(false);
    let stats = Arc::new(civitas_api::webhooks::WebhookStats::default());
    for hook in hooks {
        tracing::info!(
            "civitas: webhook {} at {} (incident and unit events, HMAC-signed)",
            hook.name,
            hook.url
        );
        rt.spawn(civitas_api::webhooks::deliver(
            store.clone(),
            hook,
            clock.clone(),
            console.outbox_wake.clone(),
            stats.clone(),
            hooks_rx.clone(),
        ));
    }
    if let Some(path) = cfg.store.audit_witness.clone() {
        tracing::info!(
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
