//! Emergency incidents over HTTP: open (from a call, a telephony system, a
//! confirmed candidate or a camera), move along the lifecycle, dispatch and
//! release units, tick the procedure, add notes and links, find and view the
//! cameras near an incident, and see how webhooks are keeping up.
//!
//! Every route needs the `dispatch` permission; every read is audited like
//! every change. Each change is pushed live (`incident` and `unit` events)
//! to consoles and MQTT, and wakes the webhooks, which deliver it from the
//! store's outbox. (Over 600 lines: thirteen routes of one lifecycle, each
//! with its OpenAPI declaration, which is half the file.)

use crate::auth::{Caller, console};
use crate::live::{CameraInfo, IncidentChange, IncidentNotice, LiveEvent, LivePayload};
use crate::views;
use crate::views::{DeliveryStatus, IncidentView, UnitView};
use crate::{ApiError, ApiState, CommandCentre, JsonBody, PathArg, QueryArgs};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use civitas_base::Error;
use civitas_model::incident::{
    CloseReason, GeoPoint, IncidentSource, IncidentStatus, IncidentType, UnitStatus,
    check_priority, find_type,
};
use civitas_store::{AuditRecord, NewIncident};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// How the command centre runs incidents (from the config).
#[derive(Debug, Clone)]
pub struct IncidentSettings {
    pub types: Vec<IncidentType>,
    /// The region served, `[south, west, north, east]`; locations outside are refused.
    pub area: Option<[f64; 4]>,
    /// Cameras within this distance of an incident are "near" it (metres).
    pub nearby_radius_m: f64,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        IncidentSettings {
            types: Vec::new(),
            area: None,
            nearby_radius_m: 1_500.0,
        }
    }
}

/// After a change: push it to consoles (and so MQTT) and wake the webhooks.
fn announce(c: &CommandCentre, v: &civitas_store::IncidentView, change: IncidentChange) {
    c.live.publish(LiveEvent::new(
        v.camera.clone(),
        LivePayload::Incident(IncidentNotice {
            id: v.id,
            change,
            status: v.status,
            priority: v.priority,
            type_id: v.type_id.clone(),
            type_label: v.type_label.clone(),
            latitude: v.latitude,
            longitude: v.longitude,
            units: v.units.clone(),
            updated_at_ms: v.updated_at_ms,
            close_reason: v.close_reason,
        }),
    ));
    c.outbox_wake.notify_waiters();
}

fn announce_unit(c: &CommandCentre, u: &civitas_store::UnitView) {
    c.live
        .publish(LiveEvent::new(None, LivePayload::Unit(u.clone().into())));
    c.outbox_wake.notify_waiters();
}

/// An incident type as operators choose it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentTypeView {
    pub id: String,
    pub label: String,
    /// Default priority, 1 (most urgent) to 5.
    pub priority: u8,
    /// The standard operating procedure: the checklist, in order.
    pub sop: Vec<String>,
}

/// Pushes unit `id`'s current state (after a dispatch or a release).
async fn announce_unit_id(
    c: &CommandCentre,
    actor: &civitas_auth::Actor,
    id: &str,
) -> Result<(), Error> {
    if let Some(u) = c.store.units(actor).await?.into_iter().find(|u| u.id == id) {
        announce_unit(c, &u);
    }
    Ok(())
}

/// The incident types operators can choose, with their procedures.
#[utoipa::path(get, path = "/api/v1/incident-types", tag = "incidents",
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = Vec<IncidentTypeView>),
    ))]
pub async fn incident_types(
    State(st): State<ApiState>,
) -> Result<axum::Json<Vec<IncidentTypeView>>, ApiError> {
    let c = console(&st)?;
    Ok(axum::Json(
        c.incidents
            .types
            .iter()
            .map(|t| IncidentTypeView {
                id: t.id.clone(),
                label: t.label.clone(),
                priority: t.priority,
                sop: t.sop.clone(),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// Include closed incidents (default false).
    pub closed: Option<bool>,
    /// At most this many (1..500, default 100).
    pub limit: Option<i64>,
}

/// Incidents: open ones by priority then age, then (if asked) closed ones,
/// newest first. Audited.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents",
    params(IncidentQuery),
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = Vec<IncidentView>),
    ))]
pub async fn incidents(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<IncidentQuery>,
) -> Result<axum::Json<Vec<IncidentView>>, ApiError> {
    let c = console(&st)?;
    let list = c
        .store
        .incident_views(
            &caller.actor,
            q.closed.unwrap_or(false),
            q.limit.unwrap_or(100),
        )
        .await?;
    c.audit(
        AuditRecord::new(&caller.actor.username, "incident.list", "incidents").details(
            serde_json::json!({"closed": q.closed, "returned": list.iter().map(|v| v.id).collect::<Vec<_>>()}),
        ),
    )
    .await?;
    Ok(axum::Json(views::list(list)))
}

/// Opening an incident. From a call: `type` and the location (`latitude`,
/// `longitude`) are required. From a confirmed candidate (`candidate`) or a
/// camera (`camera`) the location defaults to the camera's. A telephony
/// system sends its `call_id`: the same call twice opens one incident.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenIncident {
    /// An incident type id (`GET /api/v1/incident-types`).
    #[serde(rename = "type")]
    pub type_id: String,
    /// 1 (most urgent) to 5; the type's default when absent.
    pub priority: Option<i64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub caller_name: String,
    #[serde(default)]
    pub caller_phone: String,
    #[serde(default)]
    pub notes: String,
    /// The camera whose picture prompted it.
    pub camera: Option<String>,
    /// A **confirmed** candidate (face match or plate hit) it is opened from.
    pub candidate: Option<i64>,
    /// A telephony system's id for the call (idempotency key).
    pub call_id: Option<String>,
}

/// Opens an incident. 201 with the incident; 200 with the existing one when
/// `call_id` was seen before. An unconfirmed candidate is refused (412).
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents",
    request_body = OpenIncident,
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 201, body = IncidentView),
        (status = 404, body = crate::ErrorBody),
        (status = 200, description = "This call_id already opened an incident; it is returned unchanged", body = IncidentView),
        (status = 412, description = "The candidate is not confirmed", body = crate::ErrorBody),
    ))]
pub async fn open_incident(
    State(st): State<ApiState>,
    caller: Caller,
    body: JsonBody<OpenIncident>,
) -> Result<(StatusCode, axum::Json<IncidentView>), ApiError> {
    let c = console(&st)?;
    let req = body.parse()?;
    let kind = find_type(&c.incidents.types, &req.type_id)?.clone();
    let priority = check_priority(req.priority.unwrap_or(kind.priority as i64))?;
    // A candidate's camera is looked up by the store; the location then
    // defaults to that camera's.
    let candidate_camera = match req.candidate {
        Some(id) => Some(c.store.candidate_view(&caller.actor, id).await?.camera),
        None => None,
    };
    let camera = candidate_camera.or(req.camera.clone());
    let cam_info = match &camera {
        Some(id) => Some(
            c.live
                .cameras()
                .into_iter()
                .find(|x| &x.id == id && caller.actor.covers_camera(&x.id))
                .ok_or_else(|| Error::not_found(format!("camera {id:?} does not exist")))?,
        ),
        None => None,
    };
    let (lat, lon) = match (req.latitude, req.longitude, &cam_info) {
        (Some(la), Some(lo), _) => (la, lo),
        (None, None, Some(cam)) => match (cam.latitude, cam.longitude) {
            (Some(la), Some(lo)) => (la, lo),
            _ => {
                return Err(Error::invalid(format!(
                    "camera {} has no configured position; give `latitude` and `longitude`",
                    cam.id
                ))
                .into());
            }
        },
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err(Error::invalid("give both `latitude` and `longitude`, or neither").into());
        }
        (None, None, None) => {
            return Err(Error::invalid(
                "fields `latitude` and `longitude` are required for an incident from a call",
            )
            .into());
        }
    };
    let location = GeoPoint::checked(lat, lon, c.incidents.area)?;
    let source = if req.candidate.is_some() {
        IncidentSource::Candidate
    } else if req.camera.is_some() {
        IncidentSource::Camera
    } else if req.call_id.is_some() {
        IncidentSource::Inbound
    } else {
        IncidentSource::Call
    };
    let (view, created) = c
        .store
        .open_incident(
            &caller.actor,
            NewIncident {
                kind,
                priority,
                source,
                location,
                address: req.address,
                caller_name: req.caller_name,
                caller_phone: req.caller_phone,
                notes: req.notes,
                camera,
                candidate_id: req.candidate,
                call_id: req.call_id,
            },
            &c.policy,
            c.clock.now(),
        )
        .await?;
    if created {
        announce(c, &view, IncidentChange::Opened);
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view.into())))
}

/// One incident with its procedure, timeline, units and links. Audited.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "incident id")),
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = IncidentView),
    ))]
pub async fn incident(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
) -> Result<axum::Json<IncidentView>, ApiError> {
    let c = console(&st)?;
    let v = c.store.incident_view(&caller.actor, id).await?;
    c.audit(AuditRecord::new(
        &caller.actor.username,
        "incident.view",
        format!("incident:{id}"),
    ))
    .await?;
    Ok(axum::Json(v.into()))
}

/// A move along the lifecycle.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `dispatched`, `on_scene` or `closed` (new → dispatched → on_scene → closed).
    pub status: String,
    /// To close: `resolved`, `false_alarm`, `duplicate`, `cancelled` or `referred`.
    pub reason: Option<String>,
    /// Words for the timeline.
    #[serde(default)]
    pub note: String,
}

/// Moves an incident along `new → dispatched → on_scene → closed` (new and
/// dispatched may close). A skipped or backward step, or closing twice, is 412.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/status", tag = "incidents",
    params(("id" = i64, Path, description = "incident id")),
    request_body = StatusRequest,
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = IncidentView),
        (status = 412, description = "Not allowed from the current status", body = crate::ErrorBody),
    ))]
pub async fn set_status(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
    body: JsonBody<StatusRequest>,
) -> Result<axum::Json<IncidentView>, ApiError> {
    let c = console(&st)?;
    let req = body.parse()?;
    let to = IncidentStatus::parse(&req.status)?;
    let reason = req.reason.as_deref().map(CloseReason::parse).transpose()?;
    if reason.is_some() && to != IncidentStatus::Closed {
        return Err(Error::invalid("field `reason` is only for closing").into());
    }
    let v = c
        .store
        .set_incident_status(&caller.actor, id, to, reason, &req.note, c.clock.now())
        .await?;
    announce(c, &v, IncidentChange::Status);
    for u in c.store.units(&caller.actor).await? {
        if v.units.contains(&u.id) || to == IncidentStatus::Closed {
            announce_unit(c, &u);
        }
    }
    Ok(axum::Json(v.into()))
}

/// A unit to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub unit: String,
}

/// Dispatches a unit to the incident. The unit must be available (an
/// out-of-service or busy unit is 412); a new incident becomes dispatched.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/units", tag = "incidents",
    params(("id" = i64, Path, description = "incident id")),
    request_body = AssignRequest,
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = IncidentView),
        (status = 409, description = "Already assigned to this incident", body = crate::ErrorBody),
        (status = 412, description = "The unit is out of service or busy, or the incident is closed", body = crate::ErrorBody),
    ))]
pub async fn assign_unit(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
    body: JsonBody<AssignRequest>,
) -> Result<axum::Json<IncidentView>, ApiError> {
    let c = console(&st)?;
    let req = body.parse()?;
    let v = c
        .store
        .assign_unit(&caller.actor, id, req.unit.trim(), c.clock.now())
        .await?;
    announce(c, &v, IncidentChange::UnitAssigned);
    announce_unit_id(c, &caller.actor, req.unit.trim()).await?;
    Ok(axum::Json(v.into()))
}

/// Releases a unit from the incident; it becomes available.
#[utoipa::path(delete, path = "/api/v1/incidents/{id}/units/{unit}", tag = "incidents",
    params(("id" = i64, Path, description = "incident id"), ("unit" = String, Path, description = "unit id")),
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = IncidentView),
    ))]
pub async fn release_unit(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg((id, unit)): PathArg<(i64, String)>,
) -> Result<axum::Json<IncidentView>, ApiError> {
    let c = console(&st)?;
    let v = c
        .store
        .release_unit(&caller.actor, id, &unit, c.clock.now())
        .await?;
    announce(c, &v, IncidentChange::UnitReleased);
    announce_unit_id(c, &caller.actor, &unit).await?;
    Ok(axum::Json(v.into()))
}

/// Ticks a step of the incident's procedure (steps count from 1). A step
/// ticked before is 409, naming who ticked it.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/sop/{step}", tag = "incidents",
    params(("id" = i64, Path, description = "incident id"), ("step" = i64, Path, description = "step number, from 1")),
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = IncidentView),
        (status = 409, body = crate::ErrorBody),
        (status = 412, body = crate::ErrorBody),
    ))]
pub async fn tick_sop(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg((id, step)): PathArg<(i64, i64)>,
) -> Result<axum::Json<IncidentView>, ApiError> {
    let c = console(&st)?;
    let v = c
        .store
        .tick_sop(&caller.actor, id, step, c.clock.now())
        .await?;
    announce(c, &v, IncidentChange::SopTick);
    Ok(axum::Json(v.into()))
}

/// A note for the timeline.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// Words for the timeline (1..4000 characters).
    pub text: String,
}

/// Adds a note to the incident's timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents",
    params(("id" = i64, Path, description = "incident id")),
    request_body = NoteRequest,
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = IncidentView),
    ))]
pub async fn add_note(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
    body: JsonBody<NoteRequest>,
) -> Result<axum::Json<IncidentView>, ApiError> {
    let c = console(&st)?;
    let req = body.parse()?;
    let v = c
        .store
        .add_incident_note(&caller.actor, id, &req.text, c.clock.now())
        .await?;
    announce(c, &v, IncidentChange::Note);
    Ok(axum::Json(v.into()))
}

/// A confirmed candidate to link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    pub candidate: i64,
}

/// Links a confirmed candidate (and its plate read) to the incident. An
/// unconfirmed one is 412.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/links", tag = "incidents",
    params(("id" = i64, Path, description = "incident id")),
    request_body = LinkRequest,
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = IncidentView),
        (status = 412, body = crate::ErrorBody),
    ))]
pub async fn link(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
    body: JsonBody<LinkRequest>,
) -> Result<axum::Json<IncidentView>, ApiError> {
    let c = console(&st)?;
    let req = body.parse()?;
    let v = c
        .store
        .link_candidate(&caller.actor, id, req.candidate, &c.policy, c.clock.now())
        .await?;
    announce(c, &v, IncidentChange::Link);
    Ok(axum::Json(v.into()))
}

/// A camera near an incident.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NearbyCamera {
    pub camera: CameraInfo,
    pub distance_m: f64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NearbyQuery {
    /// Search radius in metres (10..50000; default `[incidents] nearby_camera_radius_m`).
    pub radius_m: Option<f64>,
}

async fn nearby(
    c: &CommandCentre,
    caller: &Caller,
    id: i64,
    radius_m: f64,
) -> Result<Vec<NearbyCamera>, ApiError> {
    let at = c.store.incident_location(&caller.actor, id).await?;
    let mut near: Vec<NearbyCamera> = c
        .live
        .cameras()
        .into_iter()
        .filter(|cam| caller.actor.covers_camera(&cam.id))
        .filter_map(|cam| {
            let p = GeoPoint {
                latitude: cam.latitude?,
                longitude: cam.longitude?,
            };
            let d = at.distance_m(&p);
            (d <= radius_m).then_some(NearbyCamera {
                camera: cam,
                distance_m: (d * 10.0).round() / 10.0,
            })
        })
        .collect();
    near.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
    Ok(near)
}

fn radius(c: &CommandCentre, r: Option<f64>) -> Result<f64, Error> {
    let r = r.unwrap_or(c.incidents.nearby_radius_m);
    if !(10.0..=50_000.0).contains(&r) {
        return Err(Error::invalid(format!(
            "radius_m {r} is not between 10 and 50000"
        )));
    }
    Ok(r)
}

/// The cameras within the radius of the incident, nearest first (only those
/// in the caller's scope). Audited against the incident.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/cameras", tag = "incidents",
    params(("id" = i64, Path, description = "incident id"), NearbyQuery),
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = Vec<NearbyCamera>),
    ))]
pub async fn nearby_cameras(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
    QueryArgs(q): QueryArgs<NearbyQuery>,
) -> Result<axum::Json<Vec<NearbyCamera>>, ApiError> {
    let c = console(&st)?;
    let r = radius(c, q.radius_m)?;
    let near = nearby(c, &caller, id, r).await?;
    c.audit(
        AuditRecord::new(&caller.actor.username, "incident.cameras.list", format!("incident:{id}"))
            .details(serde_json::json!({"radius_m": r, "cameras": near.iter().map(|n| &n.camera.id).collect::<Vec<_>>()})),
    )
    .await?;
    Ok(axum::Json(near))
}

/// The latest picture from a camera near an open incident (JPEG, never
/// cached). Each view is written to the incident's timeline and the audit
/// log; a camera outside the radius, or a closed incident, is refused.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/cameras/{camera}/frame", tag = "incidents",
    params(("id" = i64, Path, description = "incident id"), ("camera" = String, Path, description = "camera id"), NearbyQuery),
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, content_type = "image/jpeg", body = crate::Binary),
        (status = 412, body = crate::ErrorBody),
        (status = 503, description = "The camera has no picture yet", body = crate::ErrorBody),
    ))]
pub async fn camera_frame(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg((id, camera)): PathArg<(i64, String)>,
    QueryArgs(q): QueryArgs<NearbyQuery>,
) -> Result<Response, ApiError> {
    let c = console(&st)?;
    let r = radius(c, q.radius_m)?;
    let near = nearby(c, &caller, id, r).await?;
    let n = near.iter().find(|n| n.camera.id == camera).ok_or_else(|| {
        Error::not_found(format!(
            "camera {camera:?} is not within {r:.0} m of incident {id}"
        ))
    })?;
    let frame = c.live.frame(&camera).ok_or_else(|| {
        Error::new(
            civitas_base::ErrorKind::Unavailable,
            format!("camera {camera} has not delivered a picture yet"),
        )
    })?;
    c.store
        .record_incident_camera_view(&caller.actor, id, &camera, n.distance_m, c.clock.now())
        .await?;
    let jpeg = tokio::task::spawn_blocking(move || encode_jpeg(&frame))
        .await
        .map_err(|e| Error::internal(format!("encoding task: {e}")))??;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/jpeg"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        jpeg,
    )
        .into_response())
}

fn encode_jpeg(f: &civitas_model::RgbImage) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode(
            &f.data,
            f.width_px,
            f.height_px,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| Error::internal(format!("encoding a camera picture: {e}")))?;
    Ok(out)
}

/// Every unit with its status, incident and last position.
#[utoipa::path(get, path = "/api/v1/units", tag = "incidents",
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = Vec<UnitView>),
    ))]
pub async fn units(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Vec<UnitView>>, ApiError> {
    let c = console(&st)?;
    Ok(axum::Json(views::list(c.store.units(&caller.actor).await?)))
}

/// A unit's report: its status, its position, or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitReport {
    /// `available`, `on_scene` or `out_of_service` (`dispatched` comes from assigning it).
    pub status: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A unit reports status and/or position (from the console, or a vehicle
/// tracking system with a token). Available or out of service frees it from
/// its incident.
#[utoipa::path(post, path = "/api/v1/units/{unit}/status", tag = "incidents",
    params(("unit" = String, Path, description = "unit id")),
    request_body = UnitReport,
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = UnitView),
        (status = 412, body = crate::ErrorBody),
    ))]
pub async fn unit_status(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(unit): PathArg<String>,
    body: JsonBody<UnitReport>,
) -> Result<axum::Json<UnitView>, ApiError> {
    let c = console(&st)?;
    let req = body.parse()?;
    let status = req.status.as_deref().map(UnitStatus::parse).transpose()?;
    let position = match (req.latitude, req.longitude) {
        (Some(la), Some(lo)) => Some(GeoPoint::checked(la, lo, None)?),
        (None, None) => None,
        _ => {
            return Err(Error::invalid("give both `latitude` and `longitude`, or neither").into());
        }
    };
    let before = c
        .store
        .units(&caller.actor)
        .await?
        .into_iter()
        .find(|u| u.id == unit)
        .and_then(|u| u.incident_id);
    let u = c
        .store
        .set_unit_status(&caller.actor, &unit, status, position, c.clock.now())
        .await?;
    announce_unit(c, &u);
    if let Some(i) = before
        && let Ok(v) = c.store.incident_view(&caller.actor, i).await
    {
        announce(c, &v, IncidentChange::UnitStatus);
    }
    Ok(axum::Json(u.into()))
}

/// How each webhook is keeping up: pending events, retries, the last error.
#[utoipa::path(get, path = "/api/v1/integrations", tag = "incidents",
    security(("session" = ["dispatch"]), ("bearer" = ["dispatch"])),
    responses(
        (status = 200, body = Vec<DeliveryStatus>),
    ))]
pub async fn integrations(
    State(st): State<ApiState>,
) -> Result<axum::Json<Vec<DeliveryStatus>>, ApiError> {
    let c = console(&st)?;
    Ok(axum::Json(views::list(c.store.outbox_status().await?)))
}
