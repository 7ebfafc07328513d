//! Who can get in, for administrators: every user with their live console
//! sessions, and machines' bearer tokens; ending a session or revoking a
//! token. `manage_users` only, and every list and change is audited. A
//! session ended here ends its live-event streams within a second, like a
//! logout (the streams re-check their credential).

use crate::auth::{Caller, console};
use crate::views::{self, TokenView};
use crate::{ApiError, ApiState, PathArg};
use axum::extract::State;
use axum::http::StatusCode;
use civitas_base::Error;
use civitas_store::AuditRecord;
use serde::Serialize;
use utoipa::ToSchema;

/// A console session that is alive now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    /// Names the session for ending it (not its cookie: a hash of it).
    pub id: String,
    /// When it began (Unix ms).
    pub started_at_ms: i64,
    /// When it was last used (Unix ms).
    pub last_used_ms: i64,
}

/// A user and their live sessions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    /// `operator`, `supervisor`, `auditor` or `administrator`.
    pub role: String,
    /// The cameras the user may see (`*`: all).
    pub scope: Vec<String>,
    pub disabled: bool,
    pub sessions: Vec<SessionView>,
}

/// Everyone and everything that can get in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessView {
    pub users: Vec<UserView>,
    pub tokens: Vec<TokenView>,
}

/// Users with their live sessions, and every bearer token. Audited.
#[utoipa::path(get, path = "/api/v1/users", tag = "session", responses((status = 200, body = AccessView)),
    security(("session" = ["manage_users"]), ("bearer" = ["manage_users"])))]
pub async fn users(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<AccessView>, ApiError> {
    let c = console(&st)?;
    let sessions = c.sessions.list(c.clock.now(), &c.settings);
    let users = c
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| UserView {
            sessions: sessions
                .iter()
                .filter(|s| s.1 == u.username)
                .map(|(id, _, started, used)| SessionView {
                    id: id.clone(),
                    started_at_ms: *started,
                    last_used_ms: *used,
                })
                .collect(),
            username: u.username,
            role: u.role.name().to_owned(),
            scope: u.scope,
            disabled: u.disabled,
        })
        .collect();
    let tokens = views::list(c.store.tokens(&caller.actor).await?);
    c.audit(AuditRecord::new(
        &caller.actor.username,
        "user.list",
        "users",
    ))
    .await?;
    Ok(axum::Json(AccessView { users, tokens }))
}

/// Ends a user's console session at once (their open pages must log in
/// again; their live streams end). Audited.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "session",
    params(("id" = String, Path, description = "session id from GET /api/v1/users")),
    responses((status = 204, description = "The session ended")),
    security(("session" = ["manage_users"]), ("bearer" = ["manage_users"])))]
pub async fn end_session(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<String>,
) -> Result<StatusCode, ApiError> {
    let c = console(&st)?;
    let Some(user) = c.sessions.end_listed(&id) else {
        return Err(Error::not_found("no such session (it ended or expired)").into());
    };
    c.audit(AuditRecord::new(
        &caller.actor.username,
        "session.end",
        format!("user:{user}"),
    ))
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a machine's bearer token at once (its live streams end). Audited.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "session",
    params(("id" = i64, Path, description = "token id from GET /api/v1/users")),
    responses((status = 204, description = "The token is revoked")),
    security(("session" = ["manage_users"]), ("bearer" = ["manage_users"])))]
pub async fn revoke_token(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
) -> Result<StatusCode, ApiError> {
    let c = console(&st)?;
    c.store
        .revoke_token(&caller.actor, id, c.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
