//! Civitas HTTP API. The only crate that knows HTTP: it maps requests to the
//! ingest, pipeline and store crates' calls, and their errors to statuses in
//! one place ([`status_for`]). Today it serves snapshot-push cameras; the
//! command centre's routes join it.

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use civitas_base::{Error, ErrorKind};
use civitas_ingest::push::PushHandle;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// The one mapping from an error kind to an HTTP status.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::DataLoss | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error as an HTTP response: the status from [`status_for`] and a JSON
/// body `{"error": kind, "message": words}`. Internal errors keep their
/// details in the log, not the response.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.0.kind();
        let message = if kind.is_user_fault() || kind == ErrorKind::Unavailable {
            self.0.message().to_owned()
        } else {
            tracing::error!(error = %self.0, "request failed");
            "internal error; see the service log".to_owned()
        };
        let body = serde_json::json!({ "error": kind.to_string(), "message": message });
        let mut r = (status_for(kind), axum::Json(body)).into_response();
        if kind == ErrorKind::Unauthenticated {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

/// A push camera as the API knows it: where snapshots go, and the SHA-256 of
/// its bearer token.
#[derive(Debug, Clone)]
pub struct PushCamera {
    pub handle: PushHandle,
    pub token_sha256: [u8; 32],
}

/// What the routes share.
#[derive(Debug, Clone, Default)]
pub struct ApiState {
    pub push: Arc<HashMap<String, PushCamera>>,
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

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    // Each push camera's own limit is checked on the bytes; this outer cap
    // (the largest of them) stops a body from being read past it at all.
    let cap = state
        .push
        .values()
        .map(|c| c.handle.limits().max_bytes)
        .max()
        .unwrap_or(1 << 20);
    Router::new()
        .route("/api/v1/cameras/{id}/snapshot", post(snapshot))
        .layer(DefaultBodyLimit::max(cap))
        .with_state(state)
}

/// `POST /api/v1/cameras/{id}/snapshot` with `Authorization: Bearer TOKEN`
/// and a JPEG or PNG body. 202 with `{"camera", "index"}` when queued for
/// analysis.
async fn snapshot(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let cam = st
        .push
        .get(&id)
        .ok_or_else(|| Error::not_found(format!("no push camera {id:?} is configured")))?;
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
    let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    if !same(&digest, &cam.token_sha256) {
        tracing::warn!(camera = %id, "snapshot upload with a wrong token");
        return Err(Error::new(
            ErrorKind::Unauthenticated,
            format!("camera {id}: wrong token"),
        )
        .into());
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
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

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
