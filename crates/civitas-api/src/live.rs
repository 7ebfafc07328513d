//! What is happening now: the cameras with their health, and live events
//! (new candidates, review decisions, camera health) pushed to browsers over
//! Server-Sent Events. The main job feeds both from its bus; the API only
//! relays, filtered by each subscriber's permissions and camera scope.

use crate::auth::{Caller, console};
use crate::views::UnitView;
use crate::{ApiError, ApiState};
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use civitas_auth::Permission;
use civitas_model::incident::{CloseReason, IncidentStatus};
use civitas_model::{CandidateStatus, Decision, RgbImage};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::ToSchema;

/// A camera as the console shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CameraInfo {
    /// The camera's id in the config.
    pub id: String,
    /// Its name for people.
    pub name: String,
    /// Source with any password masked.
    pub source: String,
    /// Why it is there (shown in the transparency report).
    pub purpose: String,
    /// Who answers for it.
    pub owner: String,
    /// Where it is (WGS 84 degrees).
    pub latitude: Option<f64>,
    /// Where it is (WGS 84 degrees).
    pub longitude: Option<f64>,
    /// Its health now.
    pub state: civitas_model::CameraState,
    /// Why it is offline or degraded, in words.
    pub last_error: Option<String>,
    /// Reconnections since start.
    pub reconnects: u64,
    /// Frames analysed since start.
    pub frames: u64,
    /// Candidates raised since start.
    pub candidates: u64,
    /// When the last frame was analysed (Unix ms).
    pub last_frame_ms: Option<i64>,
}

/// A live event. `camera` is set when the event concerns one camera (used
/// to filter by the subscriber's scope); `payload` is what subscribers get.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub camera: Option<String>,
    pub payload: LivePayload,
}

impl LiveEvent {
    pub fn new(camera: Option<String>, payload: LivePayload) -> LiveEvent {
        LiveEvent { camera, payload }
    }

    pub fn kind(&self) -> LiveKind {
        match self.payload {
            LivePayload::Candidate(_) => LiveKind::Candidate,
            LivePayload::Review(_) => LiveKind::Review,
            LivePayload::Camera(_) => LiveKind::Camera,
            LivePayload::Incident(_) => LiveKind::Incident,
            LivePayload::Unit(_) => LiveKind::Unit,
        }
    }
}

/// The data of a live event; its SSE event name is its kind.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LivePayload {
    Candidate(CandidateNotice),
    Review(ReviewNotice),
    Camera(CameraInfo),
    Incident(IncidentNotice),
    Unit(UnitView),
}

civitas_base::wire_enum! {
    /// What a live event is about (its SSE event name): a new `candidate` for
    /// review, a candidate's `review` changed, a `camera`'s state or counts
    /// changed, an `incident` was opened or changed, a response `unit`'s
    /// status changed.
    #[derive(ToSchema)]
    pub enum LiveKind ("live event kind") {
        Candidate = "candidate", Review = "review", Camera = "camera",
        Incident = "incident", Unit = "unit",
    }

    /// What changed on an incident.
    #[derive(ToSchema)]
    pub enum IncidentChange ("incident change") {
        Opened = "opened", Status = "status", UnitAssigned = "unit.assigned",
        UnitReleased = "unit.released", UnitStatus = "unit.status", SopTick = "sop.tick",
        Note = "note", Link = "link",
    }
}

/// A new candidate was stored: who it may concern is only for those who
/// may view candidates (MQTT never carries the name or distance).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CandidateNotice {
    /// The candidate's id (absent when it was not stored).
    pub id: Option<i64>,
    /// The camera that saw it.
    pub camera: String,
    /// The listed entry it resembles.
    pub entry_name: String,
    /// Distance to the entry (smaller is closer).
    pub distance: f32,
    /// When the frame was taken (Unix ms).
    pub frame_time_ms: i64,
    /// When it was stored (Unix ms).
    pub stored_at_ms: i64,
}

/// A review was recorded on a candidate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewNotice {
    /// The candidate.
    pub id: i64,
    /// Where it stands now.
    pub status: CandidateStatus,
    /// Different people who confirmed it so far.
    pub confirmations: usize,
    /// How many must confirm it.
    pub required: usize,
    /// Who reviewed.
    pub by: String,
    /// What they decided.
    pub decision: Decision,
}

/// An incident changed: what and where (for the map and radio dispatch),
/// never the caller or the notes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentNotice {
    /// The incident.
    pub id: i64,
    /// What changed.
    pub change: IncidentChange,
    /// Its status now.
    pub status: IncidentStatus,
    /// 1 (most urgent) to 5.
    pub priority: i64,
    /// Its type's id.
    #[serde(rename = "type")]
    pub type_id: String,
    /// Its type for people.
    pub type_label: String,
    /// Where it is (WGS 84 degrees).
    pub latitude: f64,
    /// Where it is (WGS 84 degrees).
    pub longitude: f64,
    /// The units assigned now.
    pub units: Vec<String>,
    /// When it last changed (Unix ms).
    pub updated_at_ms: i64,
    /// Why it was closed, once it is.
    pub close_reason: Option<CloseReason>,
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
        (status = 200, description = "text/event-stream of LiveEvent", content_type = "text/event-stream", body = LivePayload),
    ))]
pub async fn events(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<
    Sse<impl tokio_stream::Stream<Item = Result<SseEvent, std::convert::Infallible>>>,
    ApiError,
> {
    let c = console(&st)?;
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
        let allowed = match ev.kind() {
            LiveKind::Camera => true,
            LiveKind::Incident | LiveKind::Unit => dispatches,
            LiveKind::Candidate | LiveKind::Review => sees_candidates,
        };
        if !allowed {
            return None;
        }
        let data = serde_json::to_string(&ev.payload).unwrap_or_default();
        Some(Ok(SseEvent::default().event(ev.kind().name()).data(data)))
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
