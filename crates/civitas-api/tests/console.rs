//! The command centre's API through the real router over a real SQLite
//! store: every route refuses anonymous callers and callers without its
//! permission (routes enumerated from the router's own OpenAPI document),
//! sessions, CSRF, bearer tokens, login limits, two-person review, audited
//! reads, bad input, live events, metrics, and the committed OpenAPI file.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civitas_auth::{Actor, Permission, Role};
use civitas_base::Timestamp;
use civitas_model::{BBox, CameraId, LegalBasis};
use civitas_store::ReviewPolicy;
use common::*;
use tower::ServiceExt;

fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{unit}", "P-1")
        .replace("{step}", "1")
        .replace("{camera}", "gate")
}

fn body_for(path: &str) -> Option<Vec<u8>> {
    if path.ends_with("/review") {
        json(serde_json::json!({"decision": "reject", "reason": "probe"}))
    } else if path == "/api/v1/session" {
        None
    } else {
        json(serde_json::json!({}))
    }
}

#[tokio::test]
async fn every_route_refuses_anonymous_callers_and_roles_without_its_permission() {
    let f = fixture(1).await;
    let mut checked = 0;
    let mut denied = 0;
    let mut public = Vec::new();
    // Token 1 is the one `DELETE /api/v1/tokens/1` revokes: not a caller's.
    f.store
        .create_token(
            &admin(),
            "aude",
            "revoked by the matrix",
            None,
            Timestamp(T0),
        )
        .await
        .unwrap();
    // One session and one bearer token for each role.
    let mut sessions = std::collections::HashMap::new();
    let mut tokens = std::collections::HashMap::new();
    for role in Role::ALL {
        sessions.insert(role, login(&f.app, user_of(role)).await);
        let token = f
            .store
            .create_token(&admin(), user_of(role), "matrix", None, Timestamp(T0))
            .await
            .unwrap();
        tokens.insert(
            role,
            Who {
                bearer: Some(token),
                ..Default::default()
            },
        );
    }
    for (path, item) in &f.doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
        ] {
            let Some(op) = op else { continue };
            let uri = concrete(path);
            let send_body = if method == "GET" {
                None
            } else {
                body_for(path)
            };
            // Anonymous: refused before anything happens.
            let r = call(&f.app, method, &uri, &Who::default(), send_body.clone()).await;
            let Some(security) = &op.security else {
                public.push(format!("{method} {path}"));
                continue;
            };
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} answered an anonymous caller with {}: {}",
                r.status,
                r.message()
            );
            assert!(!r.message().is_empty(), "{method} {path}: no message");
            // The permission the document declares for the route.
            let scopes: Vec<String> = security
                .iter()
                .flat_map(|s| {
                    serde_json::to_value(s)
                        .unwrap()
                        .as_object()
                        .unwrap()
                        .values()
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            if scopes.iter().any(|s| s == "camera") {
                checked += 1;
                continue; // the snapshot route takes a camera's token, not a user
            }
            let Some(need) = scopes.first() else {
                checked += 1;
                continue; // any logged-in user (the session itself)
            };
            let need = Permission::parse(need).unwrap();
            // The whole matrix: every role, by session and by bearer token.
            for role in Role::ALL {
                for who in [&sessions[&role], &tokens[&role]] {
                    let r = call(&f.app, method, &uri, who, send_body.clone()).await;
                    let how = if who.bearer.is_some() {
                        "token"
                    } else {
                        "session"
                    };
                    if role.can(need) {
                        assert!(
                            r.status != StatusCode::FORBIDDEN
                                && r.status != StatusCode::UNAUTHORIZED,
                            "{method} {path} refused {} ({how}) who has {}: {}",
                            role.name(),
                            need.name(),
                            r.message()
                        );
                        continue;
                    }
                    assert_eq!(
                        r.status,
                        StatusCode::FORBIDDEN,
                        "{method} {path} as {} ({how}) lacking {}: {} {}",
                        role.name(),
                        need.name(),
                        r.status,
                        r.message()
                    );
                    assert!(
                        r.message()
                            .contains(&format!("lacks the {} permission", need.name()))
                            || r.message().contains(&format!("lacks {}", need.name())),
                        "{method} {path}: the refusal should name the permission: {}",
                        r.message()
                    );
                    denied += 1;
                }
            }
            checked += 1;
        }
    }
    assert_eq!(
        public,
        vec!["POST /api/v1/session".to_string()],
        "only login is public"
    );
    assert!(checked >= 16, "only {checked} routes were checked");
    assert!(denied >= 60, "only {denied} refusals were checked");
    // Nothing was confirmed or rejected by a refused caller.
    let c = f.store.candidate_view(&admin_viewer(), 1).await.unwrap();
    assert!(
        c.reviews
            .iter()
            .all(|r| r.username == "olga" || r.username == "sam"),
        "{:?}",
        c.reviews
    );
}

fn admin_viewer() -> Actor {
    Actor {
        username: "sam".into(),
        role: Role::Supervisor,
        scope: vec!["*".into()],
    }
}

#[tokio::test]
async fn two_people_confirm_a_face_match_and_every_read_is_audited() {
    let f = fixture(2).await;
    let olga = login(&f.app, "olga").await;
    let omar = login(&f.app, "omar").await;
    let r = call(
        &f.app,
        "GET",
        "/api/v1/candidates?status=candidate",
        &olga,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["basis"]["reference"], "CASE-42");
    let r = call(&f.app, "GET", "/api/v1/candidates/1/crop", &olga, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert!(r.body.starts_with(&[0xFF, 0xD8]));
    let r = call(
        &f.app,
        "GET",
        "/api/v1/candidates/1/entry-photo",
        &olga,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    let confirm = || json(serde_json::json!({"decision": "confirm"}));
    let r = call(
        &f.app,
        "POST",
        "/api/v1/candidates/1/review",
        &olga,
        confirm(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    assert_eq!(r.json()["status"], "candidate");
    assert_eq!(r.json()["confirmations"], 1);
    assert_eq!(r.json()["required"], 2);
    let r = call(
        &f.app,
        "POST",
        "/api/v1/candidates/1/review",
        &olga,
        confirm(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert!(r.message().contains("different person"), "{}", r.message());
    let r = call(
        &f.app,
        "POST",
        "/api/v1/candidates/1/review",
        &omar,
        confirm(),
    )
    .await;
    assert_eq!(r.json()["status"], "confirmed", "{}", r.message());
    let r = call(
        &f.app,
        "POST",
        "/api/v1/candidates/2/review",
        &omar,
        json(serde_json::json!({"decision": "reject"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("reason"), "{}", r.message());
    let r = call(
        &f.app,
        "POST",
        "/api/v1/candidates/2/review",
        &omar,
        json(serde_json::json!({"decision": "reject", "reason": "not this person"})),
    )
    .await;
    assert_eq!(r.json()["status"], "rejected");

    let aude = login(&f.app, "aude").await;
    let r = call(&f.app, "GET", "/api/v1/audit?q=olga&limit=500", &aude, None).await;
    let actions: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for a in [
        "login",
        "candidate.list",
        "candidate.image.view",
        "entry.photo.view",
        "candidate.confirm",
    ] {
        assert!(
            actions.contains(&a.to_string()),
            "{a} missing from {actions:?}"
        );
    }
    let r = call(&f.app, "GET", "/api/v1/audit?q=audit.search", &aude, None).await;
    assert!(
        !r.json().as_array().unwrap().is_empty(),
        "the search itself is audited"
    );
    let r = call(&f.app, "POST", "/api/v1/audit/verify", &aude, None).await;
    assert_eq!(r.json()["ok"], true, "{:?}", r.json());
    let r = call(&f.app, "GET", "/api/v1/report", &aude, None).await;
    assert_eq!(r.json()["counts"]["confirmed"], 1, "{:?}", r.json());
    assert_eq!(r.json()["counts"]["rejected"], 1);
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_a_clear_message_and_changes_nothing() {
    let f = fixture(1).await;
    let olga = login(&f.app, "olga").await;
    let review = "/api/v1/candidates/1/review";
    // Malformed JSON and wrong types.
    let r = call(
        &f.app,
        "POST",
        review,
        &olga,
        Some(b"{\"decision\": ".to_vec()),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().starts_with("request body:"), "{}", r.message());
    let r = call(
        &f.app,
        "POST",
        review,
        &olga,
        json(serde_json::json!({"decision": 7})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("decision"), "{}", r.message());
    let r = call(
        &f.app,
        "POST",
        review,
        &olga,
        json(serde_json::json!({"decision": "maybe"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("\"maybe\""), "{}", r.message());
    let r = call(&f.app, "GET", "/api/v1/candidates/abc", &olga, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().starts_with("path:"), "{}", r.message());
    let r = call(&f.app, "GET", "/api/v1/candidates?limit=lots", &olga, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("limit"), "{}", r.message());
    // Oversize upload.
    let sam = login(&f.app, "sam").await;
    let big = format!(
        "{{\"name\":\"x\",\"photo_base64\":\"{}\"}}",
        "A".repeat(9 << 20)
    );
    let r = call(
        &f.app,
        "POST",
        "/api/v1/watchlist",
        &sam,
        Some(big.into_bytes()),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.message());
    // Enrolment without a legal basis field.
    let r = call(
        &f.app,
        "POST",
        "/api/v1/watchlist",
        &sam,
        json(serde_json::json!({"name": "B", "basis_kind": "court-order", "authority": "", "reference": "R",
            "purpose": "p", "expires": "2099-01-01", "scope": ["*"], "photo_base64": ""})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("`authority`"), "{}", r.message());
    // Path traversal in asset paths reaches nothing.
    for p in [
        "/assets/../../Cargo.toml",
        "/assets/..%2f..%2fCargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/assets//etc/passwd",
    ] {
        let r = call(&f.app, "GET", p, &Who::default(), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{p}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("[package]"),
            "{p}"
        );
    }
    // A forged CSRF token, and none: refused, nothing changed.
    let forged = Who {
        csrf: Some("civ_forged".into()),
        ..olga.clone()
    };
    let confirm = json(serde_json::json!({"decision": "confirm"}));
    let r = call(&f.app, "POST", review, &forged, confirm.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.message().contains("CSRF"), "{}", r.message());
    let none = Who {
        csrf: None,
        ..olga.clone()
    };
    let r = call(&f.app, "POST", review, &none, confirm.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.message().contains("CSRF token missing"),
        "{}",
        r.message()
    );
    let c = f.store.candidate_view(&admin_viewer(), 1).await.unwrap();
    assert!(c.reviews.is_empty(), "a refused request changed nothing");
    // An expired session.
    f.clock.advance_ms(31 * 60_000);
    let r = call(&f.app, "GET", "/api/v1/candidates", &olga, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.message().contains("expired"), "{}", r.message());
    let r = call(&f.app, "GET", "/api/v1/candidates", &olga, None).await;
    assert!(
        r.message().contains("unknown"),
        "the expired session is gone: {}",
        r.message()
    );
    // A bearer token of a user later disabled.
    let token = f
        .store
        .create_token(&admin(), "dora", "integration", None, Timestamp(T0 + 2000))
        .await
        .unwrap();
    let dora = Who {
        bearer: Some(token),
        ..Default::default()
    };
    let r = call(&f.app, "GET", "/api/v1/candidates", &dora, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    f.store
        .disable_user(&admin(), "dora", "left the service", Timestamp(T0 + 3000))
        .await
        .unwrap();
    let r = call(&f.app, "POST", review, &dora, confirm).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.message().contains("disabled"), "{}", r.message());
    let c = f.store.candidate_view(&admin_viewer(), 1).await.unwrap();
    assert!(c.reviews.is_empty(), "nothing was changed");
    let r = call(
        &f.app,
        "GET",
        "/api/v1/candidates",
        &Who {
            bearer: Some("civ_nonsense".into()),
            ..Default::default()
        },
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.message().contains("unknown bearer token"),
        "{}",
        r.message()
    );
}

#[tokio::test]
async fn failed_logins_are_limited_and_audited() {
    let f = fixture(0).await;
    let bad = json(serde_json::json!({"username": "olga", "password": "wrong password!"}));
    for _ in 0..5 {
        let r = call(
            &f.app,
            "POST",
            "/api/v1/session",
            &Who::default(),
            bad.clone(),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            r.message().contains("wrong user name or password"),
            "{}",
            r.message()
        );
    }
    // Throttled by delay, not locked: the right password still gets in,
    // after the wait that the failures before it earned.
    let good = json(serde_json::json!({"username": "olga", "password": PW}));
    let started = std::time::Instant::now();
    let r = call(&f.app, "POST", "/api/v1/session", &Who::default(), good).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "the sixth attempt waited {:?}",
        started.elapsed()
    );
    let failed = f
        .store
        .audit_entries(0, 1000, "login.failed")
        .await
        .unwrap();
    assert_eq!(failed.len(), 5);
    // Missing fields in the login body.
    let r = call(
        &f.app,
        "POST",
        "/api/v1/session",
        &Who::default(),
        json(serde_json::json!({"username": "olga"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("password"), "{}", r.message());
}

#[tokio::test]
async fn tokens_can_be_narrowed_and_metrics_need_their_permission() {
    let f = fixture(0).await;
    f.console
        .metrics
        .inc("civitas_camera_frames_total", &[("camera", "gate")], 4.0);
    let token = f
        .store
        .create_token(
            &admin(),
            "admin",
            "prometheus",
            Some(&[Permission::ReadMetrics]),
            Timestamp(T0),
        )
        .await
        .unwrap();
    let prom = Who {
        bearer: Some(token),
        ..Default::default()
    };
    let r = call(&f.app, "GET", "/metrics", &prom, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8(r.body).unwrap();
    assert!(
        text.contains("civitas_camera_frames_total{camera=\"gate\"} 4"),
        "{text}"
    );
    let r = call(&f.app, "GET", "/api/v1/audit", &prom, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.message().contains("limited to read_metrics"),
        "{}",
        r.message()
    );
    let e = f
        .store
        .create_token(
            &admin(),
            "olga",
            "x",
            Some(&[Permission::Enroll]),
            Timestamp(T0),
        )
        .await
        .unwrap_err();
    assert!(
        e.message().contains("cannot have more than its user"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn live_events_reach_subscribers_in_scope() {
    use http_body_util::BodyExt;
    let f = fixture(0).await;
    let olga = login(&f.app, "olga").await;
    let mut req = Request::get("/api/v1/events");
    req = req.header(header::COOKIE, olga.cookie.clone().unwrap());
    let resp = f
        .app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    // It carries names: no cache may keep it.
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    let mut body = resp.into_body();
    f.console.live.publish(civitas_api::LiveEvent::new(
        Some("gate".into()),
        civitas_api::LivePayload::Candidate(civitas_api::CandidateNotice {
            id: Some(7),
            camera: "gate".into(),
            entry_name: "Ana".into(),
            distance: 0.3,
            frame_time_ms: 1,
            stored_at_ms: 2,
        }),
    ));
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(
        text.contains("event: candidate") && text.contains("\"id\":7"),
        "{text}"
    );
    let subs = f
        .store
        .audit_entries(0, 100, "events.subscribe")
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
}

#[tokio::test]
async fn the_console_is_embedded_and_served_with_a_strict_policy() {
    assert!(
        civitas_api::web::asset_count() >= 3,
        "the web console was not built into this binary: run scripts/setup"
    );
    let f = fixture(0).await;
    let r = call(&f.app, "GET", "/", &Who::default(), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&r.body).contains("/assets/app.js"));
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let r = call(&f.app, "GET", "/assets/app.js", &Who::default(), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    // The console talks to nothing but this server: the only absolute URL in
    // the bundle is the SVG namespace name (an identifier, never fetched).
    let js = String::from_utf8_lossy(&r.body);
    let urls: Vec<&str> = js
        .match_indices("http")
        .map(|(i, _)| js[i..].get(..40).unwrap_or(&js[i..]))
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .filter(|u| !u.starts_with("http://www.w3.org/2000/svg"))
        .collect();
    assert!(
        urls.is_empty(),
        "the console refers to remote addresses: {urls:?}"
    );
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let now = civitas_api::openapi_json();
    if std::env::var_os("CIVITAS_BLESS").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == now,
        "docs/openapi.json differs from the routes in the code; run `CIVITAS_BLESS=1 cargo test -p civitas-api --test console` and commit it"
    );
}

/// A schema generator once read the variant names (`Candidate`) rather than
/// the wire names the server sends (`candidate`): every closed set in the
/// document must list exactly what serde writes.
#[test]
fn the_documents_enums_are_the_wire_names() {
    use civitas_model::incident::{CloseReason, IncidentSource, IncidentStatus, UnitStatus};
    let doc: serde_json::Value = serde_json::from_str(&civitas_api::openapi_json()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let check = |name: &str, wire: Vec<&str>| {
        let listed: Vec<&str> = schemas[name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is not an enum in the document"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(listed, wire, "{name}");
    };
    check(
        "CandidateStatus",
        civitas_model::CandidateStatus::ALL
            .map(|x| x.name())
            .to_vec(),
    );
    check(
        "CandidateKind",
        civitas_model::CandidateKind::ALL.map(|x| x.name()).to_vec(),
    );
    check(
        "RecordingState",
        civitas_model::RecordingState::ALL
            .map(|x| x.name())
            .to_vec(),
    );
    check(
        "CameraState",
        civitas_model::CameraState::ALL.map(|x| x.name()).to_vec(),
    );
    check(
        "CameraEventKind",
        civitas_model::CameraEventKind::ALL
            .map(|x| x.name())
            .to_vec(),
    );
    check(
        "IncidentStatus",
        IncidentStatus::ALL.map(|x| x.name()).to_vec(),
    );
    check(
        "IncidentSource",
        IncidentSource::ALL.map(|x| x.name()).to_vec(),
    );
    check("CloseReason", CloseReason::ALL.map(|x| x.name()).to_vec());
    check("UnitStatus", UnitStatus::ALL.map(|x| x.name()).to_vec());
    check(
        "IncidentChange",
        civitas_api::IncidentChange::ALL.map(|x| x.name()).to_vec(),
    );
    check(
        "ExportState",
        civitas_api::evidence::ExportState::ALL
            .map(|x| x.name())
            .to_vec(),
    );
    check("Decision", vec!["confirm", "reject"]);
}

#[tokio::test]
async fn a_plate_hit_is_reviewed_by_one_person_and_plate_searches_need_a_justification() {
    let f = fixture(0).await;
    let now = Timestamp(T0);
    let sam = Actor {
        username: "sam".into(),
        role: Role::Supervisor,
        scope: vec!["*".into()],
    };
    f.store
        .create_hotlist(&sam, "stolen", 0.5, now)
        .await
        .unwrap();
    let basis = LegalBasis {
        id: None,
        kind: "stolen-vehicle-report".into(),
        authority: "Policía Nacional".into(),
        reference: "DN-7".into(),
        purpose: "recover a stolen car".into(),
        granted_at: now,
        expires_at: Timestamp(T0 + 30 * 86_400_000),
    };
    let entry = f
        .store
        .enroll_plate(
            &sam,
            "stolen",
            "GYE-0O77",
            "grey Skoda",
            &basis,
            &["*".into()],
            now,
        )
        .await
        .unwrap();
    let pass = |plate: &str, hit: bool| civitas_model::PlatePass {
        camera: CameraId("gate".into()),
        // Passes are numbered per camera: two vehicles, two numbers.
        pass: 1 + u64::from(hit),
        plate: plate.into(),
        format: Some("EC".into()),
        confidence: 0.97,
        frames: 5,
        bbox: BBox::new(1.0, 2.0, 90.0, 30.0),
        first_seen: now,
        last_seen: now,
        offset_ms: 0,
        crop_jpeg: jpeg(),
        hit: hit.then(|| civitas_model::PlateHit {
            entry,
            plate: "GYE0O77".into(),
            hotlist: "stolen".into(),
            distance: 0.25,
        }),
    };
    let keep = civitas_store::PlateRetention::default();
    let (_, none) = f
        .store
        .record_plate_pass(
            &pass("PBX1234", false),
            &keep,
            &ReviewPolicy::default(),
            now,
        )
        .await
        .unwrap();
    assert!(none.is_none(), "no hit, no candidate");
    let (_, cand) = f
        .store
        .record_plate_pass(&pass("GYE0077", true), &keep, &ReviewPolicy::default(), now)
        .await
        .unwrap();
    let cand = cand.unwrap().0;

    let olga = login(&f.app, "olga").await;
    let r = call(&f.app, "GET", "/api/v1/candidates", &olga, None).await;
    let list = r.json();
    let c = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == cand)
        .unwrap();
    assert_eq!(c["kind"], "plate");
    assert_eq!(c["read_text"], "GYE0077");
    assert_eq!(c["plate"], "GYE0O77");
    assert_eq!(c["hotlist"], "stolen");
    let r = call(
        &f.app,
        "GET",
        &format!("/api/v1/candidates/{cand}/crop"),
        &olga,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &f.app,
        "POST",
        &format!("/api/v1/candidates/{cand}/review"),
        &olga,
        json(serde_json::json!({"decision": "confirm"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    assert_eq!(
        r.json()["status"],
        "confirmed",
        "one confirmation is enough for a plate"
    );

    // Searches: the operator may not; the supervisor must say why.
    let q = "/api/v1/plates?pattern=GY%3F0%3F77&justification=case%20DN-7&from_ms=1779990000000&to_ms=1780000100000";
    let r = call(&f.app, "GET", q, &olga, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let s = login(&f.app, "sam").await;
    let r = call(&f.app, "GET", "/api/v1/plates?pattern=GYE0077", &s, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("justification"), "{}", r.message());
    let r = call(
        &f.app,
        "GET",
        "/api/v1/plates?pattern=%3F%3F&justification=case%20DN-7",
        &s,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.message().contains("two known characters"),
        "{}",
        r.message()
    );
    let r = call(&f.app, "GET", q, &s, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let found = r.json();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["plate"], "GYE0077");
    let id = found[0]["id"].as_i64().unwrap();
    let r = call(
        &f.app,
        "GET",
        &format!("/api/v1/plates/{id}/crop"),
        &s,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let log = f
        .store
        .audit_search(&admin(), "plate.", None, 50)
        .await
        .unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"plate.search") && actions.contains(&"plate.image.view"),
        "{actions:?}"
    );
    let search = log.iter().find(|e| e.action == "plate.search").unwrap();
    assert_eq!(search.justification, "case DN-7");
}

/// The authorisation matrix above walks the OpenAPI document; a route added
/// to the router without it (a plain `.route(...)`) would escape the matrix
/// (the permission layer refuses such a route to everyone: `guard.rs`).
/// Only the web console's page and its static assets are served that way.
/// Unit tests (after `#[cfg(test)]`) may build routers of their own.
#[test]
fn every_route_but_the_web_console_is_in_the_openapi_document() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut plain = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let lines = code.lines().enumerate();
        for (i, line) in lines.filter(|(_, l)| !l.trim_start().starts_with("//")) {
            for other in [".nest(", ".merge(", ".route_service(", ".nest_service("] {
                assert!(
                    !line.contains(other),
                    "{}:{}: {other} adds routes the matrix cannot see",
                    e.path().display(),
                    i + 1
                );
            }
            for part in line.split(".route(").skip(1) {
                let path = part.split('"').nth(1).unwrap_or(part);
                plain.push((path.to_owned(), format!("{}:{}", e.path().display(), i + 1)));
            }
        }
    }
    let paths: Vec<&str> = plain.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["/", "/assets/{*path}"],
        "routes outside the OpenAPI document (and so outside the authorisation matrix): {plain:?}"
    );
}
