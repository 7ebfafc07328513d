//! The candidate routes: the review queue, one candidate, its images and
//! the review itself. The permission layer (`guard`) admits the caller first; every read of a
//! candidate or an image is audited with who read it. (Watchlist, search
//! and audit routes have their own modules.)

use crate::auth::{Caller, console};
use crate::live::{LiveEvent, LivePayload, ReviewNotice};
use crate::views::{self, CandidateView, ReviewOutcome};
use crate::{ApiError, ApiState, JsonBody, PathArg, QueryArgs};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use civitas_model::Decision;
use civitas_store::AuditRecord;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CandidateQuery {
    /// `candidate` (awaiting review), `confirmed`, `rejected` or `expired`; all when absent.
    pub status: Option<String>,
    /// At most this many, newest first (1..1000, default 100).
    pub limit: Option<i64>,
}

/// The review queue: candidates, newest first, in the caller's camera scope.
#[utoipa::path(get, path = "/api/v1/candidates", tag = "review",
    params(CandidateQuery),
    security(("session" = ["view_candidates"]), ("bearer" = ["view_candidates"])),
    responses(
        (status = 200, body = Vec<CandidateView>),
    ))]
pub async fn candidates(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<CandidateQuery>,
) -> Result<axum::Json<Vec<CandidateView>>, ApiError> {
    let c = console(&st)?;
    let list = c
        .store
        .candidate_views(&caller.actor, q.status.as_deref(), q.limit.unwrap_or(100))
        .await?;
    c.audit(
            AuditRecord::new(&caller.actor.username, "candidate.list", "candidates").details(
                serde_json::json!({"status": q.status, "returned": list.iter().map(|v| v.id).collect::<Vec<_>>()}),
            ),
        )
        .await?;
    Ok(axum::Json(views::list(list)))
}

/// One candidate with its legal basis and reviews.
#[utoipa::path(get, path = "/api/v1/candidates/{id}", tag = "review",
    params(("id" = i64, Path, description = "candidate id")),
    security(("session" = ["view_candidates"]), ("bearer" = ["view_candidates"])),
    responses(
        (status = 200, body = CandidateView),
    ))]
pub async fn candidate(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
) -> Result<axum::Json<CandidateView>, ApiError> {
    let c = console(&st)?;
    let v = c.store.candidate_view(&caller.actor, id).await?;
    c.audit(AuditRecord::new(
        &caller.actor.username,
        "candidate.view",
        format!("candidate:{id}"),
    ))
    .await?;
    Ok(axum::Json(v.into()))
}

pub(crate) fn jpeg(bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            // Evidence images are never kept by the browser or a proxy.
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response()
}

/// The probe's face crop (JPEG). Audited.
#[utoipa::path(get, path = "/api/v1/candidates/{id}/crop", tag = "review",
    params(("id" = i64, Path, description = "candidate id")),
    security(("session" = ["view_candidates"]), ("bearer" = ["view_candidates"])),
    responses(
        (status = 200, content_type = "image/jpeg", body = crate::Binary),
    ))]
pub async fn candidate_crop(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
) -> Result<Response, ApiError> {
    let c = console(&st)?;
    let bytes = c.store.candidate_crop(&caller.actor, id).await?;
    audited_jpeg(c, &caller, "candidate.image.view", id, bytes).await
}

/// Audits that `caller` saw an image of candidate `id`, then serves it.
async fn audited_jpeg(
    c: &crate::CommandCentre,
    caller: &Caller,
    action: &str,
    id: i64,
    bytes: Vec<u8>,
) -> Result<Response, ApiError> {
    c.audit(AuditRecord::new(
        &caller.actor.username,
        action,
        format!("candidate:{id}"),
    ))
    .await?;
    Ok(jpeg(bytes))
}

/// The enrolled photo of the entry the candidate resembles (JPEG). Audited.
#[utoipa::path(get, path = "/api/v1/candidates/{id}/entry-photo", tag = "review",
    params(("id" = i64, Path, description = "candidate id")),
    security(("session" = ["view_candidates"]), ("bearer" = ["view_candidates"])),
    responses(
        (status = 200, content_type = "image/jpeg", body = crate::Binary),
    ))]
pub async fn candidate_entry_photo(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
) -> Result<Response, ApiError> {
    let c = console(&st)?;
    let bytes = c.store.candidate_entry_photo(&caller.actor, id).await?;
    audited_jpeg(c, &caller, "entry.photo.view", id, bytes).await
}

/// A reviewer's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub decision: Decision,
    /// Why; required to reject (e.g. "not this person").
    #[serde(default)]
    pub reason: String,
}

/// Confirm or reject a candidate. A face match becomes confirmed only when
/// two different people confirm it; one rejection rejects it.
#[utoipa::path(post, path = "/api/v1/candidates/{id}/review", tag = "review",
    params(("id" = i64, Path, description = "candidate id")),
    request_body = ReviewRequest,
    security(("session" = ["confirm"]), ("bearer" = ["confirm"])),
    responses(
        (status = 200, body = ReviewOutcome),
        (status = 412, description = "Already decided, expired, or this user already reviewed it", body = crate::ErrorBody),
    ))]
pub async fn review(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
    body: JsonBody<ReviewRequest>,
) -> Result<axum::Json<ReviewOutcome>, ApiError> {
    let c = console(&st)?;
    let req = body.parse()?;
    let decision = req.decision;
    // Scope is checked by the store; a candidate out of scope reads as absent.
    let view = c.store.candidate_view(&caller.actor, id).await?;
    let out = c
        .store
        .review(
            &caller.actor,
            id,
            decision,
            &req.reason,
            c.clock.now(),
            &c.policy,
        )
        .await?;
    c.metrics.inc(
        "civitas_reviews_total",
        &[("decision", req.decision.name())],
        1.0,
    );
    c.live.publish(LiveEvent::new(
        Some(view.camera),
        LivePayload::Review(ReviewNotice {
            id,
            status: out.status,
            confirmations: out.confirmations,
            required: out.required,
            by: caller.actor.username.clone(),
            decision,
        }),
    ));
    Ok(axum::Json(out.into()))
}
