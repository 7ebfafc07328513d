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
//! (Over 600 lines with the tests of its login limiter and session rules,
//! kept beside the rules.)

use crate::{ApiError, ApiState, CommandCentre};
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

impl Session {
    /// Within its idle and total limits at `now`.
    fn live(&self, now: Timestamp, s: &Settings) -> bool {
        now.0.saturating_sub(self.last_seen.0) <= s.session_idle_ms
            && now.0.saturating_sub(self.created.0) <= s.session_max_ms
    }
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
        map.retain(|_, x| x.live(now, s));
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

    /// Whether the session with this key (SHA-256 of the cookie) is held
    /// and within its limits, without refreshing it (a stream kept open is
    /// not activity).
    /// When the session began, if it is alive.
    fn alive(&self, key: &[u8; 32], now: Timestamp, s: &Settings) -> Option<Timestamp> {
        self.lock()
            .get(key)
            .filter(|x| x.live(now, s))
            .map(|x| x.created)
    }

    fn end(&self, id: &str) {
        self.lock().remove(&civitas_auth::token_sha256(id));
    }

    /// The session's actor and CSRF token, refreshing its idle timer; an
    /// expired session is removed and refused in words.
    fn touch(&self, id: &str, now: Timestamp, s: &Settings) -> Result<(Actor, String, Timestamp)> {
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
        Ok((sess.actor.clone(), sess.csrf.clone(), sess.created))
    }

    /// The live sessions: (id, user, began, last used). The id is the hex
    /// of the cookie's SHA-256, so listing them hands out no cookie.
    pub(crate) fn list(&self, now: Timestamp, s: &Settings) -> Vec<(String, String, i64, i64)> {
        let mut out: Vec<_> = self
            .lock()
            .iter()
            .filter(|(_, x)| x.live(now, s))
            .map(|(k, x)| {
                let id = civitas_audit::key::hex(k);
                (id, x.actor.username.clone(), x.created.0, x.last_seen.0)
            })
            .collect();
        out.sort_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
        out
    }

    /// Ends the session listed as `id`; returns whose it was.
    pub(crate) fn end_listed(&self, id: &str) -> Option<String> {
        let key = civitas_audit::key::unhex::<32>(id)?;
        self.lock().remove(&key).map(|s| s.actor.username)
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
    /// Login attempts per user name from one address checked at once within
    /// the window (20 times as many per name from anywhere, 4 times as many
    /// per address); each attempt past them waits twice as long as the one
    /// before, from one second.
    pub login_max_failures: u32,
    /// Attempts older than this are forgotten (ms).
    pub login_window_ms: i64,
    /// The longest an attempt is made to wait; one that would wait longer is
    /// refused (429) without its password being checked (ms).
    pub login_max_delay_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_idle_ms: 30 * 60_000,
            session_max_ms: 12 * 3_600_000,
            secure_cookie: false,
            login_max_failures: 5,
            login_window_ms: 15 * 60_000,
            login_max_delay_ms: 30_000,
        }
    }
}

/// The most bytes a login body may have, and its fields.
pub const LOGIN_BODY_MAX: usize = 4_096;
pub const USERNAME_MAX: usize = 64;
pub const PASSWORD_MAX: usize = 1_024;

/// Throttles login attempts by delay, not lockout, on three keys: a user
/// name *from one address* (5 attempts free by default), a user name from
/// anywhere (20 times that), and an address whatever the name (4 times
/// that). Past a key's free attempts, each attempt is checked only after a
/// wait that doubles (1 s, 2 s, 4 s… up to `login_max_delay_ms`); one that
/// would wait longer is refused unchecked. Someone guessing at a name from
/// their address slows themselves to a crawl but not the name's owner at
/// another address (a lockout anyone could trigger once); only a guesser
/// spread over many addresses reaches the name's own, much larger, budget.
/// The slot is reserved atomically under one lock before any password is
/// checked, so concurrent attempts cannot all pass between a check and a
/// record.
#[derive(Debug, Default)]
pub struct LoginLimiter(Mutex<HashMap<String, Throttle>>);

#[derive(Debug, Default)]
struct Throttle {
    /// Attempts within the window (each counted when its slot is reserved).
    attempts: Vec<Timestamp>,
    /// The earliest the next attempt may be checked (ms).
    next_ms: i64,
}

/// What a throttle key counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// One user name from one address.
    NameAtAddress,
    /// One user name from any address.
    Name,
    /// One address, any user name.
    Address,
}

impl Key {
    fn free(self, s: &Settings) -> usize {
        let m = s.login_max_failures as usize;
        match self {
            Key::NameAtAddress => m,
            Key::Name => m * 20,
            Key::Address => m * 4,
        }
    }
}

impl LoginLimiter {
    fn keys(user: &str, ip: Option<IpAddr>) -> Vec<(String, Key)> {
        let name = user.trim().to_lowercase();
        let at = ip.map_or("-".to_owned(), |ip| ip.to_string());
        let mut k = vec![
            (format!("pair:{name}|{at}"), Key::NameAtAddress),
            (format!("user:{name}"), Key::Name),
        ];
        if let Some(ip) = ip {
            k.push((format!("ip:{ip}"), Key::Address));
        }
        k
    }

    /// Reserves the attempt's slot: the milliseconds it must wait before its
    /// password is checked, or a refusal when that would exceed the limit.
    fn reserve(&self, user: &str, ip: Option<IpAddr>, now: Timestamp, s: &Settings) -> Result<i64> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Made-up user names must not grow the table without bound.
        if map.len() > 10_000 {
            map.retain(|_, t| {
                t.attempts
                    .iter()
                    .any(|a| now.0.saturating_sub(a.0) < s.login_window_ms)
            });
        }
        let keys = Self::keys(user, ip);
        let mut slot = now.0;
        for (k, _) in &keys {
            if let Some(t) = map.get_mut(k) {
                t.attempts
                    .retain(|a| now.0.saturating_sub(a.0) < s.login_window_ms);
                if t.attempts.is_empty() {
                    t.next_ms = 0;
                }
                slot = slot.max(t.next_ms);
            }
        }
        let wait = slot - now.0;
        if wait > s.login_max_delay_ms {
            let by_address = keys.iter().any(|(k, kind)| {
                *kind == Key::Address && map.get(k).is_some_and(|t| t.next_ms == slot)
            });
            return Err(Error::new(
                ErrorKind::ResourceExhausted,
                format!(
                    "too many failed logins for {}; try again in {} s",
                    if by_address {
                        "this address"
                    } else {
                        "this user name"
                    },
                    (wait - s.login_max_delay_ms) / 1000 + 1
                ),
            ));
        }
        for (k, kind) in keys {
            let free = kind.free(s);
            let t = map.entry(k).or_default();
            t.attempts.push(now);
            let n = t.attempts.len();
            let delay = if n < free {
                0
            } else {
                // At least 1 ms, so a limit under a second still throttles.
                (1000i64 << (n - free).min(20)).min(s.login_max_delay_ms.max(1))
            };
            // Only a key's own delay moves it: a colleague's throttled name
            // must not hold up the whole address.
            if delay > 0 {
                t.next_ms = t.next_ms.max(slot + delay);
            }
        }
        Ok(wait)
    }

    /// A login succeeded: the name's attempts at this address are
    /// forgotten, and this one is not held against the name or the address.
    fn succeeded(&self, user: &str, ip: Option<IpAddr>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (k, kind) in Self::keys(user, ip) {
            if kind == Key::NameAtAddress {
                map.remove(&k);
            } else if let Some(t) = map.get_mut(&k) {
                t.attempts.pop();
            }
        }
    }
}

/// The client's address: the peer's, or, when the peer is one of the
/// `trusted` reverse proxies, the nearest address in `X-Forwarded-For` that
/// is not itself a trusted proxy. The header is ignored from anyone else (a
/// client could otherwise pick any address to be throttled under).
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .unwrap_or(peer),
    )
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
    /// The credential the request came with, to check again later.
    credential: Credential,
}

/// A credential, as its SHA-256 (never the secret itself).
#[derive(Debug, Clone)]
enum Credential {
    Session([u8; 32]),
    Token([u8; 32]),
}

impl Caller {
    /// Whether the credential this caller came with still holds now: the
    /// session not logged out or expired, the token not revoked, the user not
    /// disabled. Long answers (the live event stream) ask this every half
    /// second and end when it fails, so access that ended stops at once.
    pub async fn still_valid(&self, c: &CommandCentre) -> bool {
        let now = c.clock.now();
        match &self.credential {
            Credential::Session(key) => match c.sessions.alive(key, now, &c.settings) {
                Some(started) => c
                    .store
                    .session_refusal(&self.actor.username, started)
                    .await
                    .is_ok_and(|why| why.is_none()),
                None => false,
            },
            Credential::Token(hash) => c.store.authenticate_token(hash, now).await.is_ok(),
        }
    }

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

pub(crate) fn console(st: &ApiState) -> Result<&CommandCentre> {
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
        // Admitted already by the permission layer (`guard`), which put it here.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
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
            let hash = civitas_auth::token_sha256(token);
            let t = c.store.authenticate_token(&hash, now).await?;
            return Ok(Caller {
                actor: t.actor,
                via: Via::Token {
                    id: t.token_id,
                    only: t.only,
                },
                credential: Credential::Token(hash),
            });
        }
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                "not logged in: log in at POST /api/v1/session, or send a bearer token",
            )
            .into());
        };
        let (actor, csrf, started) = c.sessions.touch(&id, now, &c.settings)?;
        if let Some(why) = c.store.session_refusal(&actor.username, started).await? {
            c.sessions.end(&id);
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                format!("user {:?} {why}; the session ended", actor.username),
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
            credential: Credential::Session(civitas_auth::token_sha256(&id)),
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
    ClientIp(peer): ClientIp,
    headers: HeaderMap,
    body: crate::JsonBody<LoginRequest>,
) -> std::result::Result<Response, ApiError> {
    let c = console(&st)?;
    // Small bodies only: an anonymous request once wrote a 2 MB user name
    // into the permanent audit log.
    if body.len() > LOGIN_BODY_MAX {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("request body: a login is at most {LOGIN_BODY_MAX} bytes"),
        )
        .into());
    }
    let req = body.parse()?;
    if req.username.chars().count() > USERNAME_MAX {
        return Err(Error::invalid(format!(
            "field `username`: at most {USERNAME_MAX} characters"
        ))
        .into());
    }
    if req.password.chars().count() > PASSWORD_MAX {
        return Err(Error::invalid(format!(
            "field `password`: at most {PASSWORD_MAX} characters"
        ))
        .into());
    }
    let ip = client_address(peer, &headers, &c.trusted_proxies);
    throttle(c, &req.username, ip).await?;
    let now = c.clock.now();
    match c
        .store
        .authenticate(&req.username, &req.password, now)
        .await
    {
        Ok(actor) => {
            c.limiter.succeeded(&req.username, ip);
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
        Err(e) => Err(e.into()),
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
            .map(|(_, csrf, _)| csrf),
        Via::Token { .. } => None,
    };
    Ok(axum::Json(info(&caller.actor, csrf)))
}

/// Log out: ends the session (needs the CSRF token like any change).
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    security(("session" = [])),
    responses(
        (status = 204, description = "Logged out"),
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
    Ok(session_ended(c))
}

/// Reserves a password check for `user` from `ip` under the login limits,
/// waiting as long as they say (a guess is never checked early).
async fn throttle(c: &CommandCentre, user: &str, ip: Option<IpAddr>) -> Result<()> {
    let wait = c.limiter.reserve(user, ip, c.clock.now(), &c.settings)?;
    if wait > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
    }
    Ok(())
}

/// 204 with the session cookie cleared.
fn session_ended(c: &CommandCentre) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie("", 0, c.settings.secure_cookie),
    );
    r
}

/// A password change: the current password and the new one (12 to 1024 characters).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Change your own password (a console session only, not a machine's
/// token). The current password is checked; the change is audited either
/// way; every session of the user ends, this one included (log in again).
#[utoipa::path(post, path = "/api/v1/session/password", tag = "session",
    request_body = PasswordChange,
    security(("session" = [])),
    responses(
        (status = 204, description = "Changed; every session of the user ended"),
        (status = 403, description = "The current password is wrong, or the CSRF token is missing or wrong", body = crate::ErrorBody),
        (status = 429, description = "Too many wrong passwords for this user", body = crate::ErrorBody),
    ))]
pub async fn change_password(
    State(st): State<ApiState>,
    ClientIp(peer): ClientIp,
    headers: HeaderMap,
    caller: Caller,
    body: crate::JsonBody<PasswordChange>,
) -> std::result::Result<Response, ApiError> {
    let c = console(&st)?;
    if !matches!(caller.via, Via::Session) {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            "a password is changed from a console session, not with a bearer token",
        )
        .into());
    }
    if body.len() > LOGIN_BODY_MAX * 2 {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "request body: a password change is at most {} bytes",
                LOGIN_BODY_MAX * 2
            ),
        )
        .into());
    }
    let req = body.parse()?;
    let username = caller.actor.username.clone();
    // Guesses at the current password share the login's limits for the
    // name: a stolen session cannot try passwords faster than a login.
    let ip = client_address(peer, &headers, &c.trusted_proxies);
    throttle(c, &username, ip).await?;
    c.store
        .change_password(
            &username,
            &req.current_password,
            &req.new_password,
            c.clock.now(),
        )
        .await?;
    c.limiter.succeeded(&username, ip);
    c.sessions.end_user(&username);
    Ok(session_ended(c))
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
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.7".parse().unwrap(),
        );
        // From a trusted proxy: the nearest untrusted address it forwards.
        assert_eq!(client_address(Some(proxy), &h, &[proxy]), Some(client));
        // From anyone else the header is ignored: no picking one's address.
        assert_eq!(client_address(Some(client), &h, &[proxy]), Some(client));
        assert_eq!(client_address(Some(proxy), &h, &[]), Some(proxy));
        let mut junk = HeaderMap::new();
        junk.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(client_address(Some(proxy), &junk, &[proxy]), Some(proxy));
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
            assert_eq!(l.reserve("ana", ip, Timestamp(i), &s).unwrap(), 0);
        }
        let wait = l.reserve("ana", ip, Timestamp(10), &s).unwrap();
        assert!(
            (900..=1000).contains(&wait),
            "the sixth waits a second: {wait}"
        );
        assert_eq!(
            l.reserve("bob", ip, Timestamp(10), &s).unwrap(),
            0,
            "a colleague at the same address is not held up"
        );
        // Guessing at one name: the waits double until the limit refuses.
        let mut refused = 0;
        for i in 0..20 {
            if l.reserve("ana", ip, Timestamp(20 + i), &s).is_err() {
                refused += 1;
            }
        }
        assert!(refused >= 15, "{refused}");
        // Many names from one address: the address is throttled.
        for i in 0..30 {
            let _ = l.reserve(&format!("u{i}"), ip, Timestamp(40), &s);
        }
        let e = l.reserve("carl", ip, Timestamp(50), &s).unwrap_err();
        assert!(e.message().contains("this address"), "{}", e.message());
        assert_eq!(
            l.reserve("carl", ip, Timestamp(s.login_window_ms + 100), &s)
                .unwrap(),
            0,
            "forgotten after the window"
        );
        // Someone guessing at "zoe" for minutes from one address does not
        // hold up zoe at hers: no lockout by guessing.
        let (there, home) = (
            Some(IpAddr::from([198, 51, 100, 9])),
            Some(IpAddr::from([203, 0, 113, 4])),
        );
        let t = s.login_window_ms * 3;
        let mut refused = 0;
        for i in 0..600 {
            if l.reserve("zoe", there, Timestamp(t + i * 1_000), &s)
                .is_err()
            {
                refused += 1;
            }
        }
        assert!(
            refused > 550,
            "the guesser is slowed: {refused} of 600 refused"
        );
        assert_eq!(
            l.reserve("zoe", home, Timestamp(t + 600_000), &s).unwrap(),
            0,
            "zoe at home logs in at once"
        );
    }
}
