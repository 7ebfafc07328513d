//! Civitas HTTP API and command centre. The only crate that knows HTTP: it
//! maps requests to the ingest and store crates' calls, and their errors to
//! statuses in one place ([`status_for`]).
//!
//! Every route is registered through [`utoipa_axum`], so the OpenAPI
//! document ([`router`] returns it beside the router) lists exactly the
//! routes served, each with the permission it needs in its `security`
//! scopes. The permission layer ([`guard`]) enforces those scopes before any
//! handler runs, and refuses a route that declares none; a test walks every
//! route as every role. `docs/openapi.json` is that document, committed and diffed.
//! (Just over 600 lines: the router's one list of routes, the error map and
//! the shared request extractors are kept together.)

pub mod audit;
pub mod auth;
pub mod candidates;
pub mod evidence;
pub mod guard;
pub mod incidents;
pub mod live;
pub mod metrics;
pub mod push;
pub mod recordings;
pub mod search;
pub mod tls;
pub mod users;
pub mod views;
pub mod watchlist;
pub mod web;
pub mod webhooks;
pub mod witness;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use civitas_base::{Clock, Error, ErrorKind};
use civitas_store::{ReviewPolicy, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{Caller, Settings};
pub use live::{
    CameraInfo, CandidateNotice, IncidentChange, IncidentNotice, Live, LiveEvent, LiveKind,
    LivePayload, ReviewNotice,
};
pub use metrics::Metrics;
pub use push::{PushCamera, parse_sha256_hex};

/// The one mapping from an error kind to an HTTP status.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Gone => StatusCode::GONE,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
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

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error kind: `invalid argument`, `unauthenticated`, `permission denied`, ...
    pub error: String,
    /// What was wrong, in words.
    pub message: String,
}

/// A binary body (an image, a video, a tar archive): in the OpenAPI
/// document a string of bytes, which generated clients hand over as a file.
#[derive(Debug)]
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}

/// A JSON body, read (size and content type checked) by the extractor but
/// parsed only by [`JsonBody::parse`], which handlers call after checking the
/// caller's permission: a caller without it learns nothing from the body's
/// faults. Malformed JSON, a wrong type or a missing field is a 400 naming
/// the fault.
#[derive(Debug)]
pub struct JsonBody<T> {
    bytes: axum::body::Bytes,
    _t: std::marker::PhantomData<T>,
}

impl<T> JsonBody<T> {
    /// The body's size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// The longest text any JSON field may hold (a note, a justification, a
/// name), in characters; `photo_base64` alone may be longer (the body limit
/// bounds it). The store and the audit log never see more.
pub const FIELD_MAX_CHARS: usize = 4_000;
/// The most items in any JSON list (camera scopes, ids).
pub const LIST_MAX_ITEMS: usize = 1_000;
/// The longest query-string value, in bytes once decoded.
pub const QUERY_VALUE_MAX_CHARS: usize = 1_000;

/// Refuses a JSON value with a string or list over its limit, naming it.
fn check_bounds(v: &serde_json::Value, path: &str) -> Result<(), Error> {
    use serde_json::Value;
    match v {
        Value::String(t)
            if !path.ends_with("photo_base64") && t.chars().count() > FIELD_MAX_CHARS =>
        {
            Err(Error::invalid(format!(
                "request body: field `{}`: at most {FIELD_MAX_CHARS} characters",
                path.trim_start_matches('.')
            )))
        }
        Value::Array(a) => {
            if a.len() > LIST_MAX_ITEMS {
                return Err(Error::invalid(format!(
                    "request body: field `{}`: at most {LIST_MAX_ITEMS} items",
                    path.trim_start_matches('.')
                )));
            }
            a.iter()
                .enumerate()
                .try_for_each(|(i, x)| check_bounds(x, &format!("{path}[{i}]")))
        }
        Value::Object(m) => m.iter().try_for_each(|(k, x)| {
            if k.chars().count() > 100 {
                return Err(Error::invalid(
                    "request body: a field name is longer than 100 characters",
                ));
            }
            check_bounds(x, &format!("{path}.{k}"))
        }),
        _ => Ok(()),
    }
}

impl<T: DeserializeOwned> JsonBody<T> {
    pub fn parse(&self) -> Result<T, Error> {
        // Bounds first, on every field of every body, so no route can let a
        // megabyte-long value through to the store or the audit log.
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.bytes) {
            check_bounds(&v, "")?;
        }
        let de = &mut serde_json::Deserializer::from_slice(&self.bytes);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() || path == "." {
                Error::invalid(format!("request body: {inner}"))
            } else {
                Error::invalid(format!("request body: field `{path}`: {inner}"))
            }
        })
    }
}

impl<S: Send + Sync, T> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(
                Error::invalid("request body: expected `Content-Type: application/json`").into(),
            );
        }
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(JsonBody {
                bytes,
                _t: std::marker::PhantomData,
            }),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Error::new(
                ErrorKind::TooLarge,
                "request body: larger than the limit for this route",
            )
            .into()),
            Err(e) => Err(Error::invalid(format!("request body: {}", e.body_text())).into()),
        }
    }
}

/// Query parameters whose rejection is a 400 naming the fault.
#[derive(Debug)]
pub struct QueryArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Measured decoded (each `%XX` is one byte), so the limit is the one
        // the message names, however the value was encoded.
        let decoded_len = |v: &str| v.len() - 2 * v.matches('%').count().min(v.len() / 3);
        if let Some(q) = parts.uri.query()
            && let Some(long) = q.split('&').find(|kv| {
                kv.split_once('=')
                    .is_some_and(|(_, v)| decoded_len(v) > QUERY_VALUE_MAX_CHARS)
            })
        {
            let name: String = long
                .split('=')
                .next()
                .unwrap_or("")
                .chars()
                .take(40)
                .collect();
            return Err(Error::invalid(format!(
                "query: parameter `{name}`: at most {QUERY_VALUE_MAX_CHARS} bytes"
            ))
            .into());
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryArgs(q.0))
            .map_err(|e| Error::invalid(format!("query: {}", e.body_text())).into())
    }
}

/// A path parameter whose rejection is a 400 naming the fault.
#[derive(Debug)]
pub struct PathArg<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathArg<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathArg(p.0))
            .map_err(|e| Error::invalid(format!("path: {}", e.body_text())).into())
    }
}

/// The command centre's shared state.
#[derive(Debug)]
pub struct CommandCentre {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub policy: ReviewPolicy,
    /// The audit key's public half (to verify the log and show with the head).
    pub audit_public: [u8; 32],
    pub settings: Settings,
    pub sessions: auth::Sessions,
    pub limiter: auth::LoginLimiter,
    pub live: Live,
    pub metrics: Metrics,
    /// Face models for enrolment through the console (absent: enrolment answers 503).
    pub enroller: Option<Arc<dyn watchlist::Enroller>>,
    /// Incident types, the area served, what "near" means.
    pub incidents: incidents::IncidentSettings,
    /// Woken after each write to the outbox, so webhooks send at once.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// Where recordings are (`[recording] dir`); absent: playback answers 503.
    pub recordings_dir: Option<std::path::PathBuf>,
    /// Evidence export with the models (absent: export answers 503).
    pub exporter: Option<Arc<dyn evidence::Exporter>>,
    /// When each user's play of each recording was last audited.
    pub plays: recordings::PlayLog,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`[api]
    /// trusted_proxies`); from anyone else the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// When each user last had a consistency proof (each rehashes the log).
    pub proofs: audit::ProofPace,
}

impl CommandCentre {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        policy: ReviewPolicy,
        audit_public: [u8; 32],
        settings: Settings,
    ) -> CommandCentre {
        CommandCentre {
            store,
            clock,
            policy,
            audit_public,
            settings,
            sessions: Default::default(),
            limiter: Default::default(),
            live: Default::default(),
            metrics: Default::default(),
            enroller: None,
            incidents: Default::default(),
            outbox_wake: Default::default(),
            recordings_dir: None,
            exporter: None,
            plays: Default::default(),
            trusted_proxies: Vec::new(),
            proofs: Default::default(),
        }
    }

    /// Appends an audit entry stamped with the console's clock.
    pub async fn audit(&self, r: civitas_store::AuditRecord) -> civitas_base::Result<u64> {
        self.store.audit(self.clock.now(), r).await
    }
}

/// What the routes share: the push cameras, and the command centre (absent
/// in a process that only takes snapshot uploads).
#[derive(Debug, Clone, Default)]
pub struct ApiState {
    pub push: Arc<HashMap<String, PushCamera>>,
    pub console: Option<Arc<CommandCentre>>,
}

/// What a status means in this API where a route says no more (the body's `error` says more).
pub fn status_meaning(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted for processing",
        "204" => "Done; no content",
        "206" => "Partial content: the requested byte range",
        "304" => "Not modified",
        "400" => "Malformed request: the message names the field or value that is wrong",
        "401" => "Not logged in, the session expired or was ended, or the token is unknown",
        "403" => {
            "Not permitted: the route's permission (its security scope) is missing, or the CSRF header is absent"
        }
        "404" => "Not found, or outside the cameras the caller may see",
        "409" => "Conflict with the current state (the message says which)",
        "410" => "Gone: deleted (the message says when and why)",
        "412" => "A precondition does not hold (the message says which)",
        "413" => "The body, a field or a parameter is larger than allowed",
        "416" => "Range not satisfiable",
        "429" => "Too many requests; retry after the Retry-After header",
        "500" => "Internal error (logged on the server)",
        "503" => {
            "Unavailable: the store is busy or this service lacks the part (models, recordings)"
        }
        _ => "Error",
    }
}

/// Completes every operation's responses from what the route's extractors
/// do, so no route has to repeat them: a route behind a session or token
/// answers 401 without one, and 403 without its permission (or, for a
/// session's change, without the CSRF header); one with path, query or body
/// arguments answers 400 to a malformed one; one with path arguments 404
/// for an absent (or out-of-scope) item. And every response gets a
/// description (OpenAPI 3.1 requires one): the standard meaning of its
/// status here, unless the route says more.
fn complete_responses(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |status: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(status_meaning(status))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for item in api.paths.paths.values_mut() {
        for (changes, op) in [
            (false, &mut item.get),
            (true, &mut item.put),
            (true, &mut item.post),
            (true, &mut item.delete),
            (true, &mut item.patch),
        ] {
            let Some(op) = op else { continue };
            let security = serde_json::to_value(&op.security).unwrap_or_default();
            let schemes: Vec<(&String, bool)> = security
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_object())
                .flatten()
                .map(|(name, scopes)| (name, scopes.as_array().is_some_and(|a| !a.is_empty())))
                .collect();
            let session = schemes.iter().any(|(n, _)| *n == "session");
            let in_path =
                op.parameters.iter().flatten().any(
                    |p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Path)),
                );
            let args = op.parameters.iter().flatten().next().is_some() || op.request_body.is_some();
            let mut add = Vec::new();
            if !schemes.is_empty() {
                add.push("401");
            }
            // A person's permission, or a session's change without the CSRF header.
            if session && (schemes.iter().any(|(_, scoped)| *scoped) || changes) {
                add.push("403");
            }
            if args {
                add.push("400");
            }
            if in_path {
                add.push("404");
            }
            for status in add {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(status));
            }
            for (status, r) in op.responses.responses.iter_mut() {
                if let RefOr::T(r) = r
                    && r.description.is_empty()
                {
                    r.description = status_meaning(status).to_owned();
                }
            }
        }
    }
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                auth::SESSION_COOKIE,
                "Session cookie from POST /api/v1/session. Requests that change something also need the X-CSRF-Token header. Scopes name the permission the route needs.",
            ))),
        );
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A machine's token from `civitas token create` (or, for the snapshot route, a camera's token). Scopes name the permission the route needs.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Civitas",
        description = "Civitas command centre and camera API. Every route but login and snapshot upload needs a session or a bearer token, and the permission named in its security scopes; reads of candidates, images, lists and searches, and every change, are recorded in the audit log.",
        license(name = "AGPL-3.0-or-later")
    ),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The API's routes and the OpenAPI document describing exactly them.
pub fn router(state: ApiState) -> (Router, utoipa::openapi::OpenApi) {
    // Each push camera's own limit is checked on the bytes; this outer cap
    // (the largest of them, at least 8 MiB for an enrolment photo in JSON) stops a body from
    // being read past it at all.
    let cap = state
        .push
        .values()
        .map(|c| c.handle.limits().max_bytes)
        .max()
        .unwrap_or(0)
        .max(8 << 20);
    let (api, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login, auth::me, auth::logout))
        .routes(routes!(auth::change_password))
        .routes(routes!(users::users))
        .routes(routes!(users::end_session))
        .routes(routes!(users::revoke_token))
        .routes(routes!(candidates::candidates))
        .routes(routes!(candidates::candidate))
        .routes(routes!(candidates::candidate_crop))
        .routes(routes!(candidates::candidate_entry_photo))
        .routes(routes!(candidates::review))
        .routes(routes!(watchlist::watchlist, watchlist::enrol))
        .routes(routes!(live::cameras))
        .routes(routes!(live::events))
        .routes(routes!(search::plate_search))
        .routes(routes!(search::plate_crop))
        .routes(routes!(search::match_search))
        .routes(routes!(search::camera_event_search))
        .routes(routes!(search::hotlists))
        .routes(routes!(recordings::recordings))
        .routes(routes!(recordings::media))
        .routes(routes!(evidence::start_export))
        .routes(routes!(evidence::export_job))
        .routes(routes!(evidence::bundle))
        .routes(routes!(incidents::incident_types))
        .routes(routes!(incidents::incidents, incidents::open_incident))
        .routes(routes!(incidents::incident))
        .routes(routes!(incidents::set_status))
        .routes(routes!(incidents::assign_unit))
        .routes(routes!(incidents::release_unit))
        .routes(routes!(incidents::tick_sop))
        .routes(routes!(incidents::add_note))
        .routes(routes!(incidents::link))
        .routes(routes!(incidents::nearby_cameras))
        .routes(routes!(incidents::camera_frame))
        .routes(routes!(incidents::units))
        .routes(routes!(incidents::unit_status))
        .routes(routes!(incidents::integrations))
        .routes(routes!(audit::audit_search))
        .routes(routes!(audit::audit_head))
        .routes(routes!(audit::audit_consistency))
        .routes(routes!(audit::audit_verify))
        .routes(routes!(audit::report))
        .routes(routes!(metrics::metrics))
        .routes(routes!(push::snapshot))
        .split_for_parts();
    complete_responses(&mut doc);
    let (rules, problems) = guard::Rules::from_doc(&doc);
    for problem in problems {
        tracing::error!("refused until its declaration is fixed: {problem}");
    }
    let app = api
        .route("/", axum::routing::get(web::index))
        .route("/assets/{*path}", axum::routing::get(web::assets));
    // Last before the fallback: it covers every route above, and only them.
    let app = guard::guarded(app, rules, state.clone())
        .fallback(|| async {
            ApiError(Error::not_found("no such route; see docs/API.md")).into_response()
        })
        .layer(axum::extract::DefaultBodyLimit::max(cap))
        .layer(axum::middleware::map_response(web::security_headers))
        .with_state(state);
    (app, doc)
}

/// The OpenAPI document as committed in `docs/openapi.json`.
pub fn openapi_json() -> String {
    let (_, doc) = router(ApiState::default());
    let mut s = doc.to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

/// Serves `router` on `listener` (a `TcpListener`, or a [`tls::Listener`]
/// for HTTPS) until `shutdown` resolves. Handlers see the peer's address.
pub async fn serve<L>(
    listener: L,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    use axum::serve::ListenerExt;
    axum::serve(
        listener.tap_io(|_| {}),
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
