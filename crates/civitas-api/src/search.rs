//! Forensic search routes: plate reads, matches and camera events, each
//! justified, bounded to a window and audited; plate crops; hotlists.

use crate::auth::{Caller, console};
use crate::candidates::jpeg;
use crate::views::{self, CameraEventView, CandidateView, Hotlist, PlateReadView};
use crate::{ApiError, ApiState, PathArg, QueryArgs};
use axum::extract::State;
use axum::response::Response;
use civitas_base::Timestamp;
use civitas_store::AuditRecord;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlateSearchQuery {
    /// Full or partial plate; `?` for an unknown character (e.g. `PB?12?4`).
    /// Characters OCR confuses (0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G) match each other. Required.
    pub pattern: Option<String>,
    /// Why this search is made (case or incident reference). Required; audited.
    pub justification: Option<String>,
    /// Window start, Unix ms (default: 24 hours before `to_ms`).
    pub from_ms: Option<i64>,
    /// Window end, Unix ms (default: now). At most 92 days after `from_ms`.
    pub to_ms: Option<i64>,
    /// Only this camera.
    pub camera: Option<String>,
    /// At most this many, newest first (1..1000, default 100).
    pub limit: Option<i64>,
}

/// Forensic search of stored plate reads (audited with its justification;
/// only cameras in the caller's scope; reads past retention are gone).
#[utoipa::path(get, path = "/api/v1/plates", tag = "plates",
    params(PlateSearchQuery),
    security(("session" = ["search"]), ("bearer" = ["search"])),
    responses(
        (status = 200, body = Vec<PlateReadView>),
    ))]
pub async fn plate_search(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<PlateSearchQuery>,
) -> Result<axum::Json<Vec<PlateReadView>>, ApiError> {
    let c = console(&st)?;
    let now = c.clock.now();
    let to = q.to_ms.unwrap_or(now.0 + 1);
    let query = civitas_store::PlateQuery {
        pattern: q.pattern.unwrap_or_default(),
        from: Timestamp(q.from_ms.unwrap_or(to.saturating_sub(86_400_000))),
        to: Timestamp(to),
        cameras: q.camera.into_iter().collect(),
        justification: q.justification.unwrap_or_default(),
        limit: q.limit.unwrap_or(100),
    };
    Ok(axum::Json(
        c.store
            .search_plate_reads(&caller.actor, &query, now)
            .await
            .map(views::list)?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MatchSearchQuery {
    /// Part of the listed person's name or plate (case-insensitive).
    pub name: Option<String>,
    /// Or the entry id.
    pub entry: Option<i64>,
    /// Why this search is made (case or incident reference). Required; audited.
    pub justification: Option<String>,
    /// Window start, Unix ms (default: 7 days before `to_ms`).
    pub from_ms: Option<i64>,
    /// Window end, Unix ms (default: now). At most 92 days after `from_ms`.
    pub to_ms: Option<i64>,
    /// Only this camera.
    pub camera: Option<String>,
    /// At most this many, newest first (1..1000, default 100).
    pub limit: Option<i64>,
}

/// Forensic search of confirmed matches (faces and plates) by person or
/// plate, time and camera; audited with its justification. There is no
/// search of faces that matched nobody: they are never stored.
#[utoipa::path(get, path = "/api/v1/matches", tag = "plates",
    params(MatchSearchQuery),
    security(("session" = ["search"]), ("bearer" = ["search"])),
    responses(
        (status = 200, body = Vec<CandidateView>),
    ))]
pub async fn match_search(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<MatchSearchQuery>,
) -> Result<axum::Json<Vec<CandidateView>>, ApiError> {
    let c = console(&st)?;
    let now = c.clock.now();
    let to = q.to_ms.unwrap_or(now.0 + 1);
    let cameras: Vec<String> = q.camera.into_iter().collect();
    Ok(axum::Json(
        c.store
            .search_matches(
                &caller.actor,
                q.name.as_deref().unwrap_or(""),
                q.entry,
                Timestamp(q.from_ms.unwrap_or(to.saturating_sub(7 * 86_400_000))),
                Timestamp(to),
                &cameras,
                q.justification.as_deref().unwrap_or(""),
                q.limit.unwrap_or(100),
                now,
            )
            .await
            .map(views::list)?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CameraEventQuery {
    /// `connecting`, `online`, `degraded`, `offline`, `stopped` or `failed`; all when absent.
    pub kind: Option<String>,
    /// Why this search is made. Required; audited.
    pub justification: Option<String>,
    /// Window start, Unix ms (default: 7 days before `to_ms`).
    pub from_ms: Option<i64>,
    /// Window end, Unix ms (default: now). At most 92 days after `from_ms`.
    pub to_ms: Option<i64>,
    /// Only this camera.
    pub camera: Option<String>,
    /// At most this many, newest first (1..1000, default 100).
    pub limit: Option<i64>,
}

/// Forensic search of camera events (health changes, stops) by kind, time
/// and camera; audited with its justification.
#[utoipa::path(get, path = "/api/v1/camera-events", tag = "plates",
    params(CameraEventQuery),
    security(("session" = ["search"]), ("bearer" = ["search"])),
    responses(
        (status = 200, body = Vec<CameraEventView>),
    ))]
pub async fn camera_event_search(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<CameraEventQuery>,
) -> Result<axum::Json<Vec<CameraEventView>>, ApiError> {
    let c = console(&st)?;
    let now = c.clock.now();
    let to = q.to_ms.unwrap_or(now.0 + 1);
    let cameras: Vec<String> = q.camera.into_iter().collect();
    Ok(axum::Json(
        c.store
            .search_camera_events(
                &caller.actor,
                q.kind.as_deref().filter(|k| !k.is_empty()),
                Timestamp(q.from_ms.unwrap_or(to.saturating_sub(7 * 86_400_000))),
                Timestamp(to),
                &cameras,
                q.justification.as_deref().unwrap_or(""),
                q.limit.unwrap_or(100),
                now,
            )
            .await
            .map(views::list)?,
    ))
}

/// The best crop of a stored plate read (JPEG). Audited.
#[utoipa::path(get, path = "/api/v1/plates/{id}/crop", tag = "plates",
    params(("id" = i64, Path, description = "plate read id")),
    security(("session" = ["search"]), ("bearer" = ["search"])),
    responses(
        (status = 200, content_type = "image/jpeg", body = crate::Binary),
    ))]
pub async fn plate_crop(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
) -> Result<Response, ApiError> {
    let c = console(&st)?;
    let bytes = c
        .store
        .plate_read_crop(&caller.actor, id, c.clock.now())
        .await?;
    Ok(jpeg(bytes))
}

/// The hotlists, with their thresholds and number of entries (the entries
/// themselves are in `/api/v1/watchlist`, with their legal basis).
#[utoipa::path(get, path = "/api/v1/hotlists", tag = "watchlist",
    security(("session" = ["enroll"]), ("bearer" = ["enroll"])),
    responses(
        (status = 200, body = Vec<Hotlist>),
    ))]
pub async fn hotlists(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Vec<Hotlist>>, ApiError> {
    let c = console(&st)?;
    let list = c.store.hotlists().await?;
    c.audit(AuditRecord::new(
        &caller.actor.username,
        "hotlist.list",
        "hotlists",
    ))
    .await?;
    Ok(axum::Json(views::list(list)))
}
