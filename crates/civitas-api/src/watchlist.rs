//! The watchlist routes: list the entries a caller may see, and enrol a
//! person under a legal basis (the enroller computes the templates).

use crate::auth::{Caller, console};
use crate::views::{self, EntryView};
use crate::{ApiError, ApiState, JsonBody};
use axum::extract::State;
use civitas_base::Error;
use civitas_store::{AuditRecord, Enrolment};
use serde::Deserialize;
use utoipa::ToSchema;

/// Watchlist entries with their legal basis and expiry (no templates).
#[utoipa::path(get, path = "/api/v1/watchlist", tag = "watchlist",
    security(("session" = ["enroll"]), ("bearer" = ["enroll"])),
    responses(
        (status = 200, body = Vec<EntryView>),
    ))]
pub async fn watchlist(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Vec<EntryView>>, ApiError> {
    let c = console(&st)?;
    let list = c.store.entry_views(&caller.actor).await?;
    c.audit(
        AuditRecord::new(&caller.actor.username, "watchlist.list", "watchlist")
            .details(serde_json::json!({"returned": list.len()})),
    )
    .await?;
    Ok(axum::Json(views::list(list)))
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
        (status = 413, body = crate::ErrorBody),
    ))]
pub async fn enrol(
    State(st): State<ApiState>,
    caller: Caller,
    body: JsonBody<EnrolRequest>,
) -> Result<(axum::http::StatusCode, axum::Json<serde_json::Value>), ApiError> {
    use base64::Engine;
    let c = console(&st)?;
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
            Enrolment::new(
                req.name.trim(),
                &basis,
                &req.scope,
                vec![("upload".into(), template)],
            )
            .with_photo(Some(crop)),
            now,
        )
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(serde_json::json!({"id": id.0})),
    ))
}
