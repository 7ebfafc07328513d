//! The one permission layer. Handlers do not check permissions: this layer
//! does, before any handler runs, from what each route declares in its
//! `#[utoipa::path(security(...))]` (the same declaration that registers it
//! in the router and documents it in the OpenAPI document):
//! - `("session" = ["p"]), ("bearer" = ["p"])`: a person logged in by
//!   session or token whose role (and token, if narrowed) has permission `p`;
//!   an empty scope list: any logged-in person;
//! - `("bearer" = ["camera"])`: a push camera's own token, which the
//!   snapshot route checks against the camera it names;
//! - no security: public, but only if listed in [`PUBLIC`].
//!
//! Deny by default: a route with no rule (a plain `.route(...)`, or a route
//! declared without security and not listed as public) is refused to
//! everyone, administrators included. Camera scope is the store's: every
//! read and change of an object on a camera takes the caller's [`Actor`]
//! and answers an object outside its scope as absent.
//!
//! [`Actor`]: civitas_auth::Actor

use crate::auth::Caller;
use crate::{ApiError, ApiState};
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use civitas_auth::Permission;
use civitas_base::{Error, ErrorKind};
use std::collections::HashMap;
use std::sync::Arc;

/// Routes public on purpose: logging in, and the console's page and files
/// (which hold no data; everything they show comes through the API).
pub const PUBLIC: &[(&str, &str)] = &[
    ("POST", "/api/v1/session"),
    ("GET", "/"),
    ("GET", "/assets/{*path}"),
];

/// What one route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Public,
    /// A push camera's token, checked by its route against the camera named.
    CameraToken,
    /// A person: by session cookie, bearer token or either; with `need`.
    Person {
        session: bool,
        bearer: bool,
        need: Option<Permission>,
    },
}

/// Every route's rule, by method and path as the router matches it.
#[derive(Debug, Default)]
pub struct Rules(HashMap<(Method, String), Rule>);

impl Rules {
    /// The rules the document's routes declare, and the public ones. A route
    /// whose declaration cannot be read (an unknown scope, several
    /// permissions, no security without being public) gets none, so it is
    /// refused; `problems` names each.
    pub fn from_doc(doc: &utoipa::openapi::OpenApi) -> (Rules, Vec<String>) {
        let mut rules = HashMap::new();
        let mut problems = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
            ] {
                let Some(op) = op else { continue };
                let named = format!("{method} {path}");
                match rule_of(op, &method, path) {
                    Ok(rule) => {
                        rules.insert((method, path.clone()), rule);
                    }
                    Err(why) => problems.push(format!("{named}: {why}")),
                }
            }
        }
        for (method, path) in PUBLIC {
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            rules.insert((method, (*path).to_owned()), Rule::Public);
        }
        (Rules(rules), problems)
    }

    /// The rule of `method` on the matched `path`: `None` for a path no
    /// rule names (refused); `Some(None)` for a path with rules for other
    /// methods only (the router answers 405).
    fn get(&self, method: &Method, path: &str) -> Option<Option<Rule>> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        match self.0.get(&(method.clone(), path.to_owned())) {
            Some(rule) => Some(Some(*rule)),
            None => self.0.keys().any(|(_, p)| p == path).then_some(None),
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn rule_of(
    op: &utoipa::openapi::path::Operation,
    method: &Method,
    path: &str,
) -> Result<Rule, String> {
    let security = serde_json::to_value(&op.security).unwrap_or_default();
    let schemes: Vec<(String, Vec<String>)> = security
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_object())
        .flatten()
        .map(|(name, scopes)| {
            let scopes = scopes.as_array().into_iter().flatten();
            let scopes = scopes.filter_map(|s| s.as_str().map(str::to_owned));
            (name.clone(), scopes.collect())
        })
        .collect();
    if schemes.is_empty() {
        let public = PUBLIC.iter().any(|(m, p)| m == method && *p == path);
        return if public {
            Ok(Rule::Public)
        } else {
            Err("declares no security and is not listed in guard::PUBLIC".into())
        };
    }
    let scopes: Vec<&String> = schemes.iter().flat_map(|(_, s)| s).collect();
    if scopes.iter().any(|s| *s == "camera") {
        return match schemes.as_slice() {
            [(scheme, s)] if scheme == "bearer" && s.len() == 1 => Ok(Rule::CameraToken),
            _ => Err("a camera token route takes that token alone".into()),
        };
    }
    let need = match scopes.first() {
        None => None,
        Some(first) if scopes.iter().all(|s| s == first) => {
            Some(Permission::parse(first).map_err(|e| e.to_string())?)
        }
        Some(_) => return Err("names different permissions for its schemes".into()),
    };
    let mut session = false;
    let mut bearer = false;
    for (scheme, _) in &schemes {
        match scheme.as_str() {
            "session" => session = true,
            "bearer" => bearer = true,
            other => return Err(format!("unknown security scheme {other:?}")),
        }
    }
    Ok(Rule::Person {
        session,
        bearer,
        need,
    })
}

/// Applies `rules` to every route of `app` added before this call.
pub fn guarded(
    app: axum::Router<ApiState>,
    rules: Rules,
    state: ApiState,
) -> axum::Router<ApiState> {
    let rules = Arc::new(rules);
    app.layer(axum::middleware::from_fn_with_state((state, rules), guard))
}

async fn guard(
    State((st, rules)): State<(ApiState, Arc<Rules>)>,
    req: Request,
    next: Next,
) -> Response {
    // Fail closed: nothing reaches a handler without a rule of its own.
    // No matched path (the fallback is added after this layer, so this is
    // never a route): 404 here.
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        let none = Error::not_found("no such route; see docs/API.md");
        return ApiError(none).into_response();
    };
    let rule = match rules.get(req.method(), &path) {
        Some(Some(rule)) => rule,
        // A path with rules for other methods only: 405 here, so a method
        // added later to a routed path without a rule reaches no handler.
        Some(None) => {
            let body = serde_json::json!({
                "error": "method not allowed",
                "message": format!("{path} does not take {}", req.method()),
            });
            let status = axum::http::StatusCode::METHOD_NOT_ALLOWED;
            return (status, axum::Json(body)).into_response();
        }
        None => {
            tracing::error!(route = %path, "a route without a declared permission was refused");
            let why = format!("{path}: this route declares no permission, so it is refused");
            return ApiError(Error::new(ErrorKind::PermissionDenied, why)).into_response();
        }
    };
    let Rule::Person {
        session,
        bearer,
        need,
    } = rule
    else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    match admit(&mut parts, &st, session, bearer, need).await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) => e.into_response(),
    }
}

/// The caller, if the credential is one the route takes and it has `need`.
async fn admit(
    parts: &mut axum::http::request::Parts,
    st: &ApiState,
    session: bool,
    bearer: bool,
    need: Option<Permission>,
) -> Result<Caller, ApiError> {
    let by_bearer = parts.headers.contains_key(header::AUTHORIZATION);
    // The credential first (none, or an invalid one: 401), then whether
    // this route takes its kind (403: a valid token where a person must
    // be present, say to change a password).
    let caller = Caller::from_request_parts(parts, st).await?;
    let refuse = |what: &str| {
        let why = format!("this route takes {what}");
        Err(Error::new(ErrorKind::PermissionDenied, why).into())
    };
    if by_bearer && !bearer {
        return refuse("a session (log in at POST /api/v1/session), not a bearer token");
    }
    if !by_bearer && !session {
        return refuse("a bearer token (Authorization: Bearer TOKEN), not a session");
    }
    if let Some(p) = need {
        caller.require(p)?;
    }
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_route_has_a_rule_and_login_alone_is_public_in_the_api() {
        let (_, doc) = crate::router(ApiState::default());
        let (rules, problems) = Rules::from_doc(&doc);
        assert!(problems.is_empty(), "{problems:#?}");
        let public: Vec<_> = rules
            .0
            .iter()
            .filter(|(_, r)| **r == Rule::Public)
            .map(|((m, p), _)| format!("{m} {p}"))
            .filter(|r| r.contains("/api/"))
            .collect();
        assert_eq!(public, ["POST /api/v1/session"]);
        assert!(rules.len() > 40, "{}", rules.len());
    }

    /// A route added without a declaration is refused to everyone, even
    /// an administrator with every permission.
    #[tokio::test]
    async fn a_route_without_a_rule_is_refused_to_everyone() {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route("/api/v1/secret", axum::routing::get(|| async { "secret" }))
            .route("/open", axum::routing::get(|| async { "open" }))
            .route("/open", axum::routing::post(|| async { "changed" }));
        let mut rules = HashMap::new();
        rules.insert((Method::GET, "/open".to_owned()), Rule::Public);
        let app = guarded(app, Rules(rules), ApiState::default()).with_state(ApiState::default());
        let get = |uri: &str| {
            let req = axum::http::Request::get(uri).header(header::AUTHORIZATION, "Bearer admin");
            app.clone()
                .oneshot(req.body(axum::body::Body::empty()).unwrap())
        };
        let secret = get("/api/v1/secret").await.unwrap();
        assert_eq!(secret.status(), axum::http::StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(secret.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.contains("declares no permission") && body != "secret",
            "{body}"
        );
        assert_eq!(
            get("/open").await.unwrap().status(),
            axum::http::StatusCode::OK
        );
        // A method added to a routed path without a rule of its own.
        let post = axum::http::Request::post("/open").body(axum::body::Body::empty());
        let post = app.clone().oneshot(post.unwrap()).await.unwrap();
        assert_eq!(post.status(), axum::http::StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn a_route_naming_an_unknown_permission_or_none_gets_no_rule() {
        let op = |security: serde_json::Value| -> utoipa::openapi::path::Operation {
            serde_json::from_value(serde_json::json!({"responses": {}, "security": security}))
                .unwrap()
        };
        let unknown = op(serde_json::json!([{"session": ["see_everything"]}]));
        assert!(rule_of(&unknown, &Method::GET, "/api/v1/x").is_err());
        let mixed = op(serde_json::json!([{"session": ["search"]}, {"bearer": ["export"]}]));
        assert!(rule_of(&mixed, &Method::GET, "/api/v1/x").is_err());
        let open: utoipa::openapi::path::Operation =
            serde_json::from_value(serde_json::json!({"responses": {}})).unwrap();
        assert!(rule_of(&open, &Method::GET, "/api/v1/x").is_err());
        assert_eq!(
            rule_of(&open, &Method::POST, "/api/v1/session"),
            Ok(Rule::Public)
        );
        let search = op(serde_json::json!([{"session": ["search"]}, {"bearer": ["search"]}]));
        assert_eq!(
            rule_of(&search, &Method::GET, "/api/v1/x"),
            Ok(Rule::Person {
                session: true,
                bearer: true,
                need: Some(Permission::Search)
            })
        );
    }
}
