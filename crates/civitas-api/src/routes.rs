//! The command centre's data routes: candidates and their images, review,
//! watchlist, audit log and transparency report. Each checks its permission
//! first, and every read of a candidate, an image, a list or a search is
//! audited with who read it.

use crate::auth::{Caller, console};
use crate::live::LiveEvent;
use crate::{ApiError, ApiState, JsonBody, PathArg, QueryArgs};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use civitas_auth::Permission;
use civitas_base::{Error, Timestamp};
use civitas_store::{AuditRecord, CandidateView, Decision, EntryView, ReviewOutcome};
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
        (status = 400, body = crate::ErrorBody),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
    ))]
pub async fn candidates(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<CandidateQuery>,
) -> Result<axum::Json<Vec<CandidateView>>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::ViewCandidates)?;
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
    Ok(axum::Json(list))
}

/// One candidate with its legal basis and reviews.
#[utoipa::path(get, path = "/api/v1/candidates/{id}", tag = "review",
    params(("id" = i64, Path, description = "candidate id")),
    security(("session" = ["view_candidates"]), ("bearer" = ["view_candidates"])),
    responses(
        (status = 200, body = CandidateView),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
        (status = 404, body = crate::ErrorBody),
    ))]
pub async fn candidate(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
) -> Result<axum::Json<CandidateView>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::ViewCandidates)?;
    let v = c.store.candidate_view(&caller.actor, id).await?;
    c.audit(AuditRecord::new(
        &caller.actor.username,
        "candidate.view",
        format!("candidate:{id}"),
    ))
    .await?;
    Ok(axum::Json(v))
}

fn jpeg(bytes: Vec<u8>) -> Response {
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
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
        (status = 404, body = crate::ErrorBody),
    ))]
pub async fn candidate_crop(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
) -> Result<Response, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::ViewCandidates)?;
    let bytes = c.store.candidate_crop(&caller.actor, id).await?;
    audited_jpeg(c, &caller, "candidate.image.view", id, bytes).await
}

/// Audits that `caller` saw an image of candidate `id`, then serves it.
async fn audited_jpeg(
    c: &crate::Console,
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
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
        (status = 404, body = crate::ErrorBody),
    ))]
pub async fn candidate_entry_photo(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
) -> Result<Response, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::ViewCandidates)?;
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
        (status = 400, body = crate::ErrorBody),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
        (status = 404, body = crate::ErrorBody),
        (status = 412, description = "Already decided, expired, or this user already reviewed it", body = crate::ErrorBody),
    ))]
pub async fn review(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
    body: JsonBody<ReviewRequest>,
) -> Result<axum::Json<ReviewOutcome>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::Confirm)?;
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
        &[("decision", req.decision.as_str())],
        1.0,
    );
    c.live.publish(LiveEvent {
        kind: crate::LiveKind::Review,
        camera: Some(view.camera),
        data: serde_json::json!({
            "id": id, "status": out.status, "confirmations": out.confirmations,
            "required": out.required, "by": caller.actor.username, "decision": req.decision,
        }),
    });
    Ok(axum::Json(out))
}

/// Watchlist entries with their legal basis and expiry (no templates).
#[utoipa::path(get, path = "/api/v1/watchlist", tag = "watchlist",
    security(("session" = ["enroll"]), ("bearer" = ["enroll"])),
    responses(
        (status = 200, body = Vec<EntryView>),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
    ))]
pub async fn watchlist(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Vec<EntryView>>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::Enroll)?;
    let list = c.store.entry_views(&caller.actor).await?;
    c.audit(
        AuditRecord::new(&caller.actor.username, "watchlist.list", "watchlist")
            .details(serde_json::json!({"returned": list.len()})),
    )
    .await?;
    Ok(axum::Json(list))
}

/// Turns an enrolment photo into a template: the face models live outside
/// this crate (the binary provides them), so the API never knows vision.
pub trait Enroller: Send + Sync + std::fmt::Debug {
    /// From a JPEG or PNG with exactly one face: the template's bytes (made
    /// under `basis`, the only way a template becomes bytes) and a JPEG crop
    /// of the face for reviewers. Blocking (runs the models).
    fn enrol_photo(
        &self,
        photo: &[u8],
        basis: &civitas_model::LegalBasis,
    ) -> civitas_base::Result<(Vec<u8>, Vec<u8>)>;
}

/// Enrolment: the person, the legal basis (every field required) and a photo.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The person's name as the authorising document gives it.
    pub name: String,
    /// judicial-warrant, court-order, missing-person-report, stolen-vehicle-report, arrest-warrant or child-abduction-alert.
    pub basis_kind: String,
    /// The authorising body.
    pub authority: String,
    /// The authority's reference (warrant or case number).
    pub reference: String,
    /// Purpose of the entry, in words.
    pub purpose: String,
    /// Expiry, `YYYY-MM-DD` or RFC 3339 UTC; after it the entry stops matching.
    pub expires: String,
    /// Camera ids the basis covers; `["*"]` for all.
    pub scope: Vec<String>,
    /// The photo (JPEG or PNG, one face), base64.
    pub photo_base64: String,
}

/// Puts a person on the watchlist under a legal basis. Nothing is stored
/// unless every field is present and the photo shows exactly one face.
#[utoipa::path(post, path = "/api/v1/watchlist", tag = "watchlist",
    request_body = EnrolRequest,
    security(("session" = ["enroll"]), ("bearer" = ["enroll"])),
    responses(
        (status = 201, description = "{id}", body = serde_json::Value),
        (status = 400, description = "A missing or malformed field, or a photo without exactly one usable face", body = crate::ErrorBody),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
        (status = 413, body = crate::ErrorBody),
    ))]
pub async fn enrol(
    State(st): State<ApiState>,
    caller: Caller,
    body: JsonBody<EnrolRequest>,
) -> Result<(axum::http::StatusCode, axum::Json<serde_json::Value>), ApiError> {
    use base64::Engine;
    let c = console(&st)?;
    caller.require(Permission::Enroll)?;
    let req = body.parse()?;
    let now = c.clock.now();
    // Before the models run: a scoped user grants only their own cameras
    // (the store checks again where every basis is made).
    if !caller.actor.covers_scope(&req.scope) {
        return Err(Error::new(
            civitas_base::ErrorKind::PermissionDenied,
            format!(
                "user {:?} may enrol only on cameras in their own scope ({})",
                caller.actor.username,
                caller.actor.scope.join(", ")
            ),
        )
        .into());
    }
    if req.name.trim().is_empty() {
        return Err(Error::invalid("field `name` is required and was empty").into());
    }
    let basis = civitas_model::LegalBasisInput {
        kind: req.basis_kind.clone(),
        authority: req.authority.clone(),
        reference: req.reference.clone(),
        purpose: req.purpose.clone(),
        expires: req.expires.clone(),
    }
    .validate(now)?;
    let photo = base64::engine::general_purpose::STANDARD
        .decode(req.photo_base64.trim())
        .map_err(|e| Error::invalid(format!("field `photo_base64`: not base64 ({e})")))?;
    let enroller = c.enroller.clone().ok_or_else(|| {
        Error::new(
            civitas_base::ErrorKind::Unavailable,
            "enrolment needs the face models, which this process did not load",
        )
    })?;
    let b = basis.clone();
    let (template, crop) = tokio::task::spawn_blocking(move || enroller.enrol_photo(&photo, &b))
        .await
        .map_err(|e| Error::internal(format!("enrolment task: {e}")))??;
    let id = c
        .store
        .enroll(
            &caller.actor,
            req.name.trim(),
            &basis,
            &req.scope,
            vec![("upload".to_owned(), template)],
            Some(crop),
            now,
        )
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(serde_json::json!({"id": id.0})),
    ))
}

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
        (status = 200, body = Vec<civitas_store::PlateReadView>),
        (status = 400, body = crate::ErrorBody),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
    ))]
pub async fn plate_search(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<PlateSearchQuery>,
) -> Result<axum::Json<Vec<civitas_store::PlateReadView>>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::Search)?;
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
            .await?,
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
        (status = 400, body = crate::ErrorBody),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
    ))]
pub async fn match_search(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<MatchSearchQuery>,
) -> Result<axum::Json<Vec<CandidateView>>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::Search)?;
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
            .await?,
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
        (status = 200, body = Vec<civitas_store::CameraEventView>),
        (status = 400, body = crate::ErrorBody),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
    ))]
pub async fn camera_event_search(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<CameraEventQuery>,
) -> Result<axum::Json<Vec<civitas_store::CameraEventView>>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::Search)?;
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
            .await?,
    ))
}

/// The best crop of a stored plate read (JPEG). Audited.
#[utoipa::path(get, path = "/api/v1/plates/{id}/crop", tag = "plates",
    params(("id" = i64, Path, description = "plate read id")),
    security(("session" = ["search"]), ("bearer" = ["search"])),
    responses(
        (status = 200, content_type = "image/jpeg", body = crate::Binary),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
        (status = 404, body = crate::ErrorBody),
    ))]
pub async fn plate_crop(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
) -> Result<Response, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::Search)?;
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
        (status = 200, body = Vec<civitas_store::Hotlist>),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
    ))]
pub async fn hotlists(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Vec<civitas_store::Hotlist>>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::Enroll)?;
    let list = c.store.hotlists().await?;
    c.audit(AuditRecord::new(
        &caller.actor.username,
        "hotlist.list",
        "hotlists",
    ))
    .await?;
    Ok(axum::Json(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Text to find in the actor, action, target or justification.
    pub q: Option<String>,
    /// Only entries before this sequence number (for paging back).
    pub before: Option<u64>,
    /// At most this many, newest first (1..1000, default 100).
    pub limit: Option<i64>,
}

/// Search the audit log (the search itself is audited).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    security(("session" = ["read_audit"]), ("bearer" = ["read_audit"])),
    responses(
        (status = 200, description = "Audit entries, newest first", body = Vec<serde_json::Value>),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
        (status = 413, body = crate::ErrorBody),
    ))]
pub async fn audit_search(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<AuditQuery>,
) -> Result<axum::Json<Vec<civitas_audit::AuditEntry>>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::ReadAudit)?;
    let text = q.q.unwrap_or_default();
    let list = c
        .store
        .audit_search(&caller.actor, &text, q.before, q.limit.unwrap_or(100))
        .await?;
    c.audit(
        AuditRecord::new(&caller.actor.username, "audit.search", "audit")
            .details(serde_json::json!({"q": text, "before": q.before, "returned": list.len()})),
    )
    .await?;
    Ok(axum::Json(list))
}

/// A signed tree head of the audit log: the log's first `tree_size`
/// entries hash to `root`, signed (Ed25519) by the audit key.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct HeadView {
    pub tree_size: u64,
    /// When it was signed (Unix ms).
    pub at_ms: i64,
    /// The Merkle root (RFC 9162), hex.
    pub root: String,
    /// The signature over the size, time and root, hex.
    pub signature: String,
}

impl From<&civitas_audit::SignedTreeHead> for HeadView {
    fn from(h: &civitas_audit::SignedTreeHead) -> HeadView {
        let b = civitas_audit::bundle::Head::from(h);
        HeadView {
            tree_size: b.tree_size,
            at_ms: b.at_ms,
            root: b.root,
            signature: b.signature,
        }
    }
}

/// The latest signed head and the key that verifies it.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AuditHeadView {
    /// `null` while the log is empty.
    pub head: Option<HeadView>,
    /// The audit key's public half (Ed25519), hex.
    pub public_key: String,
}

/// The latest signed tree head and the key that verifies it.
#[utoipa::path(get, path = "/api/v1/audit/head", tag = "audit",
    security(("session" = ["read_audit"]), ("bearer" = ["read_audit"])),
    responses(
        (status = 200, description = "The latest signed head", body = AuditHeadView),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
    ))]
pub async fn audit_head(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<AuditHeadView>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::ReadAudit)?;
    let head = c.store.audit_head().await?;
    Ok(axum::Json(AuditHeadView {
        head: head.as_ref().map(HeadView::from),
        public_key: hex(&c.audit_public),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The tree size a witness holds a head for. Required.
    pub from: Option<u64>,
}

/// An RFC 9162 consistency proof from the tree at `from` entries to the
/// latest signed head, for a witness (`civitas audit witness`) that keeps
/// heads outside this machine: it checks the proof against the root it
/// holds, so a log rewritten or cut back since is caught. Not audited (a
/// witness polls it), like the head.
#[utoipa::path(get, path = "/api/v1/audit/consistency", tag = "audit",
    params(ConsistencyQuery),
    security(("session" = ["read_audit"]), ("bearer" = ["read_audit"])),
    responses(
        (status = 200, description = "{from_size, proof: [hex], head, public_key}", body = serde_json::Value),
        (status = 400, body = crate::ErrorBody),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
        (status = 404, body = crate::ErrorBody),
    ))]
pub async fn audit_consistency(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<ConsistencyQuery>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::ReadAudit)?;
    let from = q
        .from
        .ok_or_else(|| Error::invalid("query: `from` (a tree size) is required"))?;
    let (_, proof, head) = c.store.audit_consistency(from).await?;
    Ok(axum::Json(serde_json::json!({
        "from_size": from,
        "proof": proof.iter().map(|h| hex(h)).collect::<Vec<_>>(),
        "head": head,
        "public_key": hex(&c.audit_public),
    })))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Rebuilds the Merkle tree from every row and checks every stored head and
/// the latest signature. 200 with `{ok: true, ...}` or `{ok: false, error}`.
#[utoipa::path(post, path = "/api/v1/audit/verify", tag = "audit",
    security(("session" = ["read_audit"]), ("bearer" = ["read_audit"])),
    responses(
        (status = 200, description = "{ok, entries, signed_heads, latest_head} or {ok: false, error}", body = serde_json::Value),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
    ))]
pub async fn audit_verify(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::ReadAudit)?;
    let r = c.store.audit_verify(&c.audit_public).await;
    let v = match &r {
        Ok(rep) => {
            serde_json::json!({"ok": true, "entries": rep.entries, "signed_heads": rep.signed_heads, "latest_head": rep.latest_head})
        }
        Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
    };
    c.audit(
        AuditRecord::new(&caller.actor.username, "audit.verify", "audit")
            .details(serde_json::json!({"ok": r.is_ok()})),
    )
    .await?;
    Ok(axum::Json(v))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Start, `YYYY-MM-DD` or RFC 3339 (default: 30 days ago).
    pub from: Option<String>,
    /// End, exclusive (default: now).
    pub to: Option<String>,
}

/// Transparency report counts for a period: nothing that identifies a person.
#[utoipa::path(get, path = "/api/v1/report", tag = "report",
    params(ReportQuery),
    security(("session" = ["report"]), ("bearer" = ["report"])),
    responses(
        (status = 200, description = "{period, generated_at, counts, audit_head}", body = serde_json::Value),
        (status = 400, body = crate::ErrorBody),
        (status = 401, body = crate::ErrorBody),
        (status = 403, body = crate::ErrorBody),
    ))]
pub async fn report(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<ReportQuery>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let c = console(&st)?;
    caller.require(Permission::Report)?;
    let now = c.clock.now();
    let parse = |name: &str, v: Option<&str>, default: Timestamp| -> Result<Timestamp, Error> {
        match v {
            None => Ok(default),
            Some(s) => Timestamp::parse_rfc3339(s).ok_or_else(|| {
                Error::invalid(format!(
                    "{name}: {s:?} is not a date (YYYY-MM-DD or RFC 3339)"
                ))
            }),
        }
    };
    let from = parse("from", q.from.as_deref(), now.plus_ms(-30 * 86_400_000))?;
    let to = parse("to", q.to.as_deref(), now.plus_ms(1))?;
    if from >= to {
        return Err(Error::invalid("from must be before to").into());
    }
    c.store
        .audit(
            now,
            AuditRecord::new(&caller.actor.username, "report.generate", "transparency")
                .details(serde_json::json!({"from": from.0, "to": to.0})),
        )
        .await?;
    let counts = c.store.report_counts(from, to, now).await?;
    let head = c.store.audit_head().await?;
    Ok(axum::Json(serde_json::json!({
        "period": {"from": from.to_rfc3339(), "to": to.to_rfc3339()},
        "generated_at": now.to_rfc3339(),
        "counts": counts,
        "audit_head": head,
    })))
}
