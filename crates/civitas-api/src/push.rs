//! Snapshot-push cameras: `POST /api/v1/cameras/{id}/snapshot` with the
//! camera's own bearer token (only its SHA-256 is configured) and a JPEG or
//! PNG body, queued for the camera's pipeline.

use crate::{ApiError, ApiState, PathArg};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use civitas_base::{Error, ErrorKind};
use civitas_ingest::push::PushHandle;

/// A push camera as the API knows it: where snapshots go, and the SHA-256 of
/// its bearer token.
#[derive(Debug, Clone)]
pub struct PushCamera {
    pub handle: PushHandle,
    pub token_sha256: [u8; 32],
}

/// Parses a hex SHA-256 (64 digits).
pub fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Upload a snapshot from a push camera (JPEG or PNG body) with the camera's
/// token. 202 with `{"camera", "index"}` when queued for analysis.
#[utoipa::path(post, path = "/api/v1/cameras/{id}/snapshot", tag = "cameras",
    params(("id" = String, Path, description = "camera id (a camera configured with url = \"push\")")),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "JPEG or PNG"),
    security(("bearer" = ["camera"])),
    responses(
        (status = 202, description = "Queued for analysis: {camera, index}", body = serde_json::Value),
        (status = 400, description = "Not a JPEG or PNG, or cut off", body = crate::ErrorBody),
        (status = 401, description = "No or wrong camera token", body = crate::ErrorBody),
        (status = 404, description = "No such push camera", body = crate::ErrorBody),
        (status = 413, description = "Larger than the byte or pixel limit", body = crate::ErrorBody),
        (status = 503, description = "The camera's queue is full", body = crate::ErrorBody),
    ))]
pub async fn snapshot(
    State(st): State<ApiState>,
    PathArg(id): PathArg<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let Some(cam) = st.push.get(&id) else {
        // Anonymous callers learn nothing about which cameras exist.
        if headers.get(header::AUTHORIZATION).is_none() {
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                format!("camera {id}: no bearer token (send Authorization: Bearer TOKEN)"),
            )
            .into());
        }
        return Err(Error::not_found(format!("no push camera {id:?} is configured")).into());
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Unauthenticated,
                format!("camera {id}: no bearer token (send Authorization: Bearer TOKEN)"),
            )
        })?;
    if !civitas_auth::same_digest(&civitas_auth::token_sha256(token), &cam.token_sha256) {
        tracing::warn!(camera = %id, "snapshot upload with a wrong token");
        return Err(Error::new(
            ErrorKind::Unauthenticated,
            format!("camera {id}: wrong token"),
        )
        .into());
    }
    // Read no further than this camera's own limit.
    let max = cam.handle.limits().max_bytes;
    let body = axum::body::to_bytes(body, max).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large {
            Error::new(
                ErrorKind::TooLarge,
                format!(
                    "camera {id}: the snapshot is larger than the {}-byte limit",
                    cam.handle.limits().max_bytes
                ),
            )
        } else {
            Error::invalid(format!("camera {id}: the upload could not be read: {e}"))
        }
    })?;
    // Decoding a large JPEG takes milliseconds of CPU: keep it off the I/O threads.
    let handle = cam.handle.clone();
    let index = tokio::task::spawn_blocking(move || handle.submit(&body))
        .await
        .map_err(|e| Error::internal(format!("snapshot task: {e}")))??;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "camera": id, "index": index })),
    )
        .into_response())
}
