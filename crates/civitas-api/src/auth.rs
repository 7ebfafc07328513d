//! Who is calling. People log in with a user name and password (Argon2, in
//! the store) and get a session cookie; because a browser sends cookies on
//! its own, every request that changes something with a session must also
//! carry the session's CSRF token in `X-CSRF-Token`. Machines send
//! `Authorization: Bearer TOKEN` (tokens made by `civitas token create`,
//! stored as SHA-256, optionally narrowed to some permissions) and need no
//! CSRF token because browsers never attach one by themselves.
//!
//! Sessions live in memory: a restart logs everyone out, which is the safe
//! failure. Failed logins are limited per user name and per client address.

use crate::{ApiError, ApiState, Console};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use civitas_auth::{Actor, Permission};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use utoipa::ToSchema;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "civitas_session";
/// Header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone)]
struct Session {
    actor: Actor,
    csrf: String,
    created: Timestamp,
    last_seen: Timestamp,
}

/// Live sessions, keyed by the SHA-256 of the cookie value (a memory dump
/// does not hand out usable cookies).
#[derive(Debug, Default)]
pub struct Sessions(Mutex<HashMap<[u8; 32], Session>>);

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session; returns (cookie value, CSRF token). Sessions that
    /// expired without being used again are dropped here, so abandoned ones
    /// do not accumulate.
    fn start(&self, actor: Actor, now: Timestamp, s: &Settings) -> (String, String) {
        let id = civitas_auth::generate_token();
        let csrf = civitas_auth::generate_token();
        let mut map = self.lock();
        map.retain(|_, x| {
            now.0 - x.last_seen.0 <= s.session_idle_ms && now.0 - x.created.0 <= s.session_max_ms
        });
        map.insert(
            civitas_auth::token_sha256(&id),
            Session {
                actor,
                csrf: csrf.clone(),
                created: now,
                last_seen: now,
            },
        );
        (id, csrf)
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn end(&self, id: &str) {
        self.lock().remove(&civitas_auth::token_sha256(id));
    }

    /// The session's actor and CSRF token, refreshing its idle timer; an
    /// expired session is removed and refused in words.
    fn touch(&self, id: &str, now: Timestamp, s: &Settings) -> Result<(Actor, String)> {
        let key = civitas_auth::token_sha256(id);
        let mut map = self.lock();
        let Some(sess) = map.get_mut(&key) else {
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                "the session is unknown (logged out, or the service restarted); log in again",
            ));
        };
        let idle = now.0 - sess.last_seen.0;
        let age = now.0 - sess.created.0;
        if idle > s.session_idle_ms || age > s.session_max_ms {
            map.remove(&key);
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                if idle > s.session_idle_ms {
                    format!(
                        "the session expired after {} minutes without activity; log in again",
                        s.session_idle_ms / 60_000
                    )
                } else {
                    format!(
                        "the session reached its {}-hour limit; log in again",
                        s.session_max_ms / 3_600_000
                    )
                },
            ));
        }
        sess.last_seen = now;
        Ok((sess.actor.clone(), sess.csrf.clone()))
    }

    /// Ends every session of `username` (after it is disabled).
    pub fn end_user(&self, username: &str) {
        self.lock().retain(|_, s| s.actor.username != username);
    }
}

/// Session and login-limit settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// A session unused this long ends (ms).
    pub session_idle_ms: i64,
    /// A session ends this long after login whatever its use (ms).
    pub session_max_ms: i64,
    /// Mark the cookie `Secure` (set when served over HTTPS, e.g. behind a proxy).
    pub secure_cookie: bool,
    /// Failed logins allowed per user name, and per client address, within the window.
    pub login_max_failures: u32,
    pub login_window_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_idle_ms: 30 * 60_000,
            session_max_ms: 12 * 3_600_000,
            secure_cookie: false,
            login_max_failures: 5,
            login_window_ms: 15 * 60_000,
        }
    }
}

/// Counts failed logins per user name and per address in a sliding window.
/// Per user name: 5 by default. Per address: four times that, so one office
/// behind one address is not locked out by a single mistyping colleague.
#[derive(Debug, Default)]
pub struct LoginLimiter(Mutex<HashMap<String, Vec<Timestamp>>>);

impl LoginLimiter {
    fn keys(user: &str, ip: Option<IpAddr>) -> Vec<String> {
        let mut k = vec![format!("user:{}", user.trim().to_lowercase())];
        if let Some(ip) = ip {
            k.push(format!("ip:{ip}"));
        }
        k
    }

    /// Refuses while any key has reached its limit inside the window.
    fn check(&self, user: &str, ip: Option<IpAddr>, now: Timestamp, s: &Settings) -> Result<()> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for k in Self::keys(user, ip) {
            let max = if k.starts_with("ip:") {
                s.login_max_failures as usize * 4
            } else {
                s.login_max_failures as usize
            };
            if let Some(v) = map.get_mut(&k) {
                v.retain(|t| now.0 - t.0 < s.login_window_ms);
                if v.len() >= max {
                    let wait_s = (v[0].0 + s.login_window_ms - now.0).max(0) / 1000 + 1;
                    return Err(Error::new(
                        ErrorKind::ResourceExhausted,
                        format!(
                            "too many failed logins for {}; try again in {wait_s} s",
                            if k.starts_with("ip:") {
                                "this address"
                            } else {
                                "this user name"
                            }
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn failed(&self, user: &str, ip: Option<IpAddr>, now: Timestamp, s: &Settings) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Made-up user names must not grow the table without bound.
        if map.len() > 10_000 {
            map.retain(|_, v| v.iter().any(|t| now.0 - t.0 < s.login_window_ms));
        }
        for k in Self::keys(user, ip) {
            map.entry(k).or_default().push(now);
        }
    }

    fn succeeded(&self, user: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("user:{}", user.trim().to_lowercase()));
    }
}

/// How the caller proved who it is.
#[derive(Debug, Clone)]
pub enum Via {
    Session,
    Token {
        id: i64,
        only: Option<Vec<Permission>>,
    },
}

/// An authenticated caller. Extracting it authenticates the request (and,
/// for a session request that changes something, checks the CSRF token).
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub via: Via,
}

impl Caller {
    /// Fails unless the user's role, and the token if narrowed, allow `p`.
    pub fn require(&self, p: Permission) -> Result<()> {
        self.actor.require(p)?;
        if let Via::Token {
            id,
            only: Some(only),
        } = &self.via
            && !only.contains(&p)
        {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "bearer token {id} of user {:?} is limited to {}; it lacks {}",
                    self.actor.username,
                    only.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
                    p.name()
                ),
            ));
        }
        Ok(())
    }
}

pub(crate) fn console(st: &ApiState) -> Result<&Console> {
    st.console.as_deref().ok_or_else(|| {
        Error::new(
            ErrorKind::Unavailable,
            "the command centre is not enabled in this process",
        )
    })
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &ApiState,
    ) -> std::result::Result<Self, Self::Rejection> {
        let c = console(st)?;
        let now = c.clock.now();
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Unauthenticated,
                        "the Authorization header must be `Bearer TOKEN`",
                    )
                })?;
            let t = c
                .store
                .authenticate_token(&civitas_auth::token_sha256(token), now)
                .await?;
            return Ok(Caller {
                actor: t.actor,
                via: Via::Token {
                    id: t.token_id,
                    only: t.only,
                },
            });
        }
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                "not logged in: log in at POST /api/v1/session, or send a bearer token",
            )
            .into());
        };
        let (actor, csrf) = c.sessions.touch(&id, now, &c.settings)?;
        if !c.store.user_enabled(&actor.username).await? {
            c.sessions.end_user(&actor.username);
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                format!("user {:?} is disabled; the session ended", actor.username),
            )
            .into());
        }
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::PermissionDenied,
                        "CSRF token missing: send the session's token in X-CSRF-Token",
                    )
                })?;
            if !civitas_auth::same_digest(
                &civitas_auth::token_sha256(sent),
                &civitas_auth::token_sha256(&csrf),
            ) {
                tracing::warn!(user = %actor.username, "request with a wrong CSRF token");
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    "CSRF token does not match this session; nothing was changed",
                )
                .into());
            }
        }
        Ok(Caller {
            actor,
            via: Via::Session,
        })
    }
}

/// The client's address, when the server was started with connect info.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Login request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Who is logged in, what they may do, and the CSRF token for changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    pub username: String,
    pub role: String,
    pub permissions: Vec<String>,
    /// Camera ids the user may act on (`*` for all).
    pub scope: Vec<String>,
    /// Send in `X-CSRF-Token` with every request that changes something.
    pub csrf_token: Option<String>,
}

fn info(actor: &Actor, csrf: Option<String>) -> SessionInfo {
    SessionInfo {
        username: actor.username.clone(),
        role: actor.role.name().to_owned(),
        permissions: actor
            .role
            .permissions()
            .iter()
            .map(|p| p.name().to_owned())
            .collect(),
        scope: actor.scope.clone(),
        csrf_token: csrf,
    }
}

fn set_cookie(value: &str, max_age_s: i64, secure: bool) -> header::HeaderValue {
    let v = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    );
    header::HeaderValue::from_str(&v).unwrap_or(header::HeaderValue::from_static(""))
}

/// Log in: checks the password (every attempt is audited), starts a session.
#[utoipa::path(post, path = "/api/v1/session", tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = SessionInfo),
        (status = 400, description = "Malformed request", body = crate::ErrorBody),
        (status = 403, description = "Wrong user name or password, or the user is disabled", body = crate::ErrorBody),
        (status = 429, description = "Too many failed logins", body = crate::ErrorBody),
    ))]
pub async fn login(
    State(st): State<ApiState>,
    ClientIp(ip): ClientIp,
    body: crate::JsonBody<LoginRequest>,
) -> std::result::Result<Response, ApiError> {
    let c = console(&st)?;
    let req = body.parse()?;
    let now = c.clock.now();
    c.limiter.check(&req.username, ip, now, &c.settings)?;
    match c
        .store
        .authenticate(&req.username, &req.password, now)
        .await
    {
        Ok(actor) => {
            c.limiter.succeeded(&req.username);
            let (id, csrf) = c.sessions.start(actor.clone(), now, &c.settings);
            let mut r = (StatusCode::OK, axum::Json(info(&actor, Some(csrf)))).into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                set_cookie(
                    &id,
                    c.settings.session_max_ms / 1000,
                    c.settings.secure_cookie,
                ),
            );
            Ok(r)
        }
        Err(e) => {
            if e.kind() == ErrorKind::PermissionDenied {
                c.limiter.failed(&req.username, ip, now, &c.settings);
            }
            Err(e.into())
        }
    }
}

/// The current session: user, role, permissions and CSRF token.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, body = SessionInfo),
        (status = 401, description = "Not logged in, or the session expired", body = crate::ErrorBody),
    ))]
pub async fn me(
    State(st): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> std::result::Result<axum::Json<SessionInfo>, ApiError> {
    let c = console(&st)?;
    let csrf = match caller.via {
        Via::Session => cookie(&headers, SESSION_COOKIE)
            .map(|id| c.sessions.touch(&id, c.clock.now(), &c.settings))
            .transpose()?
            .map(|(_, csrf)| csrf),
        Via::Token { .. } => None,
    };
    Ok(axum::Json(info(&caller.actor, csrf)))
}

/// Log out: ends the session (needs the CSRF token like any change).
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    security(("session" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, body = crate::ErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::ErrorBody),
    ))]
pub async fn logout(
    State(st): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> std::result::Result<Response, ApiError> {
    let c = console(&st)?;
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        c.sessions.end(&id);
    }
    c.audit(civitas_store::AuditRecord::new(
        &caller.actor.username,
        "logout",
        format!("user:{}", caller.actor.username),
    ))
    .await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie("", 0, c.settings.secure_cookie),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(u: &str) -> Actor {
        Actor {
            username: u.into(),
            role: civitas_auth::Role::Operator,
            scope: vec!["*".into()],
        }
    }

    #[test]
    fn abandoned_sessions_are_dropped_and_limits_are_per_name_and_address() {
        let s = Settings::default();
        let sessions = Sessions::default();
        sessions.start(actor("a"), Timestamp(0), &s);
        sessions.start(actor("b"), Timestamp(1000), &s);
        assert_eq!(sessions.len(), 2);
        sessions.start(actor("c"), Timestamp(s.session_idle_ms + 2000), &s);
        assert_eq!(sessions.len(), 1, "the two idle sessions were dropped");

        let l = LoginLimiter::default();
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for i in 0..5 {
            l.failed("ana", ip, Timestamp(i), &s);
        }
        assert!(l.check("ana", ip, Timestamp(10), &s).is_err());
        assert!(
            l.check("bob", ip, Timestamp(10), &s).is_ok(),
            "a colleague at the same address may still log in"
        );
        for i in 0..15 {
            l.failed(&format!("u{i}"), ip, Timestamp(i), &s);
        }
        let e = l.check("bob", ip, Timestamp(20), &s).unwrap_err();
        assert!(e.message().contains("this address"), "{}", e.message());
        assert!(
            l.check("bob", ip, Timestamp(s.login_window_ms + 100), &s)
                .is_ok()
        );
    }
}
