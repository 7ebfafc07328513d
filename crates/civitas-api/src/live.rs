//! What is happening now: the cameras with their health, and live events
//! (new candidates, review decisions, camera health) pushed to browsers over
//! Server-Sent Events. The main job feeds both from its bus; the API only
//! relays, filtered by each subscriber's permissions and camera scope.

use crate::auth::{Caller, console};
use crate::{ApiError, ApiState};
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use civitas_auth::Permission;
use civitas_model::RgbImage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::ToSchema;

/// A camera as the console shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CameraInfo {
    pub id: String,
    pub name: String,
    /// Source with any password masked.
    pub source: String,
    pub purpose: String,
    pub owner: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub state: civitas_model::CameraState,
    pub last_error: Option<String>,
    pub reconnects: u64,
    pub frames: u64,
    pub candidates: u64,
    /// When the last frame was analysed (Unix ms).
    pub last_frame_ms: Option<i64>,
}

/// A live event. `camera` is set when the event concerns one camera (used
/// to filter by the subscriber's scope).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveEvent {
    pub kind: LiveKind,
    pub camera: Option<String>,
    pub data: serde_json::Value,
}

/// What a live event is about (its SSE event name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LiveKind {
    /// A new candidate for review.
    Candidate,
    /// A candidate's review changed.
    Review,
    /// A camera's state or counts changed.
    Camera,
    /// An incident was opened or changed.
    Incident,
    /// A response unit's status changed.
    Unit,
}

impl LiveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveKind::Candidate => "candidate",
            LiveKind::Review => "review",
            LiveKind::Camera => "camera",
            LiveKind::Incident => "incident",
            LiveKind::Unit => "unit",
        }
    }
}

/// The live state the main job keeps up to date.
#[derive(Debug)]
pub struct Live {
    tx: broadcast::Sender<LiveEvent>,
    cameras: RwLock<BTreeMap<String, CameraInfo>>,
    /// Each camera's latest picture (shared, not copied), for viewing the
    /// cameras near an incident.
    frames: RwLock<BTreeMap<String, Arc<RgbImage>>>,
    /// Cameras someone is viewing, until when: their pictures are kept at
    /// every analysed frame rather than every few seconds.
    viewed: RwLock<BTreeMap<String, std::time::Instant>>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            tx: broadcast::channel(1024).0,
            cameras: RwLock::default(),
            frames: RwLock::default(),
            viewed: RwLock::default(),
        }
    }
}

impl Live {
    /// Sends an event to every connected browser (dropped when none is).
    pub fn publish(&self, ev: LiveEvent) {
        let _ = self.tx.send(ev);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.tx.subscribe()
    }

    /// Registers or replaces a camera.
    pub fn set_camera(&self, cam: CameraInfo) {
        self.cameras
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cam.id.clone(), cam);
    }

    /// Changes a camera in place (no-op for an unknown id).
    pub fn update_camera(&self, id: &str, f: impl FnOnce(&mut CameraInfo)) {
        if let Some(c) = self
            .cameras
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
        {
            f(c);
        }
    }

    /// Keeps `frame` as the camera's latest picture.
    pub fn set_frame(&self, camera: &str, frame: Arc<RgbImage>) {
        self.frames
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(camera.to_owned(), frame);
    }

    /// Whether someone viewed the camera in the last 30 s (so its source
    /// should hand over every frame, not one every few seconds).
    pub fn is_viewed(&self, camera: &str) -> bool {
        self.viewed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(camera)
            .is_some_and(|until| *until > std::time::Instant::now())
    }

    /// The camera's latest picture, if it delivered one; marks it viewed.
    pub fn frame(&self, camera: &str) -> Option<Arc<RgbImage>> {
        self.viewed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                camera.to_owned(),
                std::time::Instant::now() + std::time::Duration::from_secs(30),
            );
        self.frames
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(camera)
            .cloned()
    }

    pub fn cameras(&self) -> Vec<CameraInfo> {
        self.cameras
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// The cameras: health, last error, purpose, owner and position.
#[utoipa::path(get, path = "/api/v1/cameras", tag = "cameras",
    security(("session" = ["view_cameras"]), ("bearer" = ["view_cameras"])),
    responses(
        (status = 200, body = Vec<CameraInfo>),
    ))]
pub async fn cameras(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Vec<CameraInfo>>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::ViewCameras)?;
    Ok(axum::Json(
        c.live
            .cameras()
            .into_iter()
            .filter(|cam| caller.actor.covers_camera(&cam.id))
            .collect(),
    ))
}

/// Server-Sent Events: `candidate`, `review`, `camera`, `incident` and `unit`
/// events as JSON, for cameras in the caller's scope. Candidate and review
/// events go only to callers who may view candidates, incident and unit
/// events only to those who may dispatch. Subscribing is audited.
#[utoipa::path(get, path = "/api/v1/events", tag = "live",
    security(("session" = ["view_cameras"]), ("bearer" = ["view_cameras"])),
    responses(
        (status = 200, description = "text/event-stream of LiveEvent", content_type = "text/event-stream", body = LiveEvent),
    ))]
pub async fn events(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<
    Sse<impl tokio_stream::Stream<Item = Result<SseEvent, std::convert::Infallible>>>,
    ApiError,
> {
    let c = console(&st)?;
    caller.require(Permission::ViewCameras)?;
    c.audit(civitas_store::AuditRecord::new(
        &caller.actor.username,
        "events.subscribe",
        "events",
    ))
    .await?;
    let sees_candidates = caller.require(Permission::ViewCandidates).is_ok();
    let dispatches = caller.require(Permission::Dispatch).is_ok();
    let actor = caller.actor.clone();
    let stream = BroadcastStream::new(c.live.subscribe()).filter_map(move |ev| {
        let ev = match ev {
            Ok(ev) => ev,
            // A browser too slow to keep up is told to reload rather than silently miss events.
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                return Some(Ok(SseEvent::default()
                    .event("lagged")
                    .data(format!("{{\"missed\":{n}}}"))));
            }
        };
        if ev
            .camera
            .as_deref()
            .is_some_and(|c| !actor.covers_camera(c))
        {
            return None;
        }
        let allowed = match ev.kind {
            LiveKind::Camera => true,
            LiveKind::Incident | LiveKind::Unit => dispatches,
            LiveKind::Candidate | LiveKind::Review => sees_candidates,
        };
        if !allowed {
            return None;
        }
        Some(Ok(SseEvent::default()
            .event(ev.kind.as_str())
            .data(ev.data.to_string())))
    });
    // The stream is forwarded by a task that checks every half second that
    // the caller's access still holds (logout, expiry, disabled user,
    // revoked token) and ends the stream when it does not: a stream opened
    // before access ended once went on delivering names.
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let state = st.clone();
    tokio::spawn(async move {
        const TICK: std::time::Duration = std::time::Duration::from_millis(500);
        let mut stream = std::pin::pin!(stream);
        let mut tick = tokio::time::interval(TICK);
        let mut checked = std::time::Instant::now();
        loop {
            // `None`: the tick. The tick wins when both are ready.
            let ev = tokio::select! {
                biased;
                _ = tick.tick() => None,
                _ = tx.closed() => break,
                ev = stream.next() => match ev {
                    Some(ev) => Some(ev),
                    None => break,
                },
            };
            // Checked on every tick, and before an event when the last check
            // is older than a tick (its reader was slow, say).
            if ev.is_none() || checked.elapsed() > TICK {
                let valid = match state.console.as_deref() {
                    Some(c) => caller.still_valid(c).await,
                    None => false,
                };
                if !valid {
                    let _ = tx
                        .send(Ok(SseEvent::default().event("ended").data(
                            "{\"reason\":\"access ended: logged out, expired, disabled or revoked\"}",
                        )))
                        .await;
                    break;
                }
                checked = std::time::Instant::now();
            }
            if let Some(ev) = ev
                && tx.send(ev).await.is_err()
            {
                break;
            }
        }
    });
    Ok(Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx)).keep_alive(KeepAlive::default()))
}
