//! Emergency incidents through the real router over a real SQLite store:
//! the lifecycle with every allowed and forbidden transition, units, the
//! procedure, cameras near an incident, the two-person rule, duplicate
//! calls, bad input, the audit log and report counts, and webhooks to a
//! real HTTP receiver on loopback (down, hanging, answering 500).

mod common;

use axum::http::StatusCode;
use civitas_api::incidents::IncidentSettings;
use civitas_api::webhooks::{Webhook, WebhookStats, deliver};
use civitas_api::{CameraInfo, CommandCentre};
use civitas_base::Timestamp;
use civitas_model::{GeoPoint, IncidentType, RgbImage};
use civitas_store::UnitSpec;
use common::*;
use serde_json::json;
use std::sync::{Arc, Mutex};

fn cam(id: &str, lat: f64, lon: f64) -> CameraInfo {
    CameraInfo {
        id: id.into(),
        name: format!("Camera {id}"),
        source: "test".into(),
        purpose: "tests".into(),
        owner: "tests".into(),
        latitude: Some(lat),
        longitude: Some(lon),
        state: civitas_model::CameraState::Online,
        last_error: None,
        reconnects: 0,
        frames: 0,
        candidates: 0,
        last_frame_ms: None,
    }
}

fn setup(c: &mut CommandCentre) {
    c.incidents = IncidentSettings {
        types: vec![
            IncidentType {
                id: "robbery".into(),
                label: "Robbery in progress".into(),
                priority: 1,
                sop: vec![
                    "Confirm the location".into(),
                    "Ask about weapons".into(),
                    "Pull up nearby cameras".into(),
                ],
            },
            IncidentType {
                id: "stolen-vehicle".into(),
                label: "Stolen vehicle sighted".into(),
                priority: 2,
                sop: vec!["Check the plate".into()],
            },
        ],
        area: Some([-0.40, -78.65, 0.05, -78.30]),
        nearby_radius_m: 1500.0,
    };
    // `gate` (where the fixture's candidates are) and a camera 6.6 km away.
    c.live.set_camera(cam("gate", -0.2202, -78.5123));
    c.live.set_camera(cam("far", -0.1807, -78.4678));
}

async fn incident_fixture(candidates: usize) -> Fixture {
    let f = fixture_with(candidates, setup).await;
    let units =
        [("P-1", "police"), ("P-9", "police"), ("A-1", "ambulance")].map(|(id, kind)| UnitSpec {
            id: id.into(),
            kind: kind.into(),
            name: format!("Unit {id}"),
            position: Some(GeoPoint {
                latitude: -0.21,
                longitude: -78.50,
            }),
        });
    f.store.sync_units(&units, Timestamp(T0)).await.unwrap();
    f
}

fn call_from_robbery() -> Option<Vec<u8>> {
    json(json!({
        "type": "robbery", "latitude": -0.2210, "longitude": -78.5110,
        "address": "Plaza Grande, north side", "caller_name": "María", "caller_phone": "+593 99 000 0000",
        "notes": "two men, one with a knife"
    }))
}

#[tokio::test]
async fn an_incident_runs_from_a_call_to_closure_and_every_step_is_audited() {
    let f = incident_fixture(0).await;
    let olga = login(&f.app, "olga").await;
    let r = call(
        &f.app,
        "POST",
        "/api/v1/incidents",
        &olga,
        call_from_robbery(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.message());
    let inc = r.json();
    let id = inc["id"].as_i64().unwrap();
    assert_eq!(inc["status"], "new");
    assert_eq!(inc["source"], "call");
    assert_eq!(inc["priority"], 1, "the type's default priority");
    assert_eq!(inc["sop"].as_array().unwrap().len(), 3);
    assert_eq!(inc["timeline"][0]["kind"], "opened");

    // Cameras near it: `gate` (about 200 m), not `far` (6.6 km).
    let r = call(
        &f.app,
        "GET",
        &format!("/api/v1/incidents/{id}/cameras"),
        &olga,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let near = r.json();
    let ids: Vec<&str> = near
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["camera"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gate"]);
    let d = near[0]["distance_m"].as_f64().unwrap();
    assert!((100.0..300.0).contains(&d), "{d}");
    // Its picture, viewed against the incident; no picture yet is a clear 503.
    let frame_path = format!("/api/v1/incidents/{id}/cameras/gate/frame");
    let r = call(&f.app, "GET", &frame_path, &olga, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.message().contains("not delivered a picture"),
        "{}",
        r.message()
    );
    f.console
        .live
        .set_frame("gate", Arc::new(RgbImage::zeros(64, 48)));
    let r = call(&f.app, "GET", &frame_path, &olga, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    assert_eq!(&r.body[..2], &[0xFF, 0xD8], "a JPEG");
    assert_eq!(r.headers["cache-control"], "no-store");
    let r = call(
        &f.app,
        "GET",
        &format!("/api/v1/incidents/{id}/cameras/far/frame"),
        &olga,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.message().contains("not within 1500 m"), "{}", r.message());

    // Skipping a state, or dispatching nobody, is refused in words.
    let status = |s: serde_json::Value| json(s);
    let path = format!("/api/v1/incidents/{id}/status");
    let r = call(
        &f.app,
        "POST",
        &path,
        &olga,
        status(json!({"status": "on_scene"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert!(r.message().contains("dispatched first"), "{}", r.message());
    let r = call(
        &f.app,
        "POST",
        &path,
        &olga,
        status(json!({"status": "dispatched"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert!(r.message().contains("assign a unit"), "{}", r.message());

    // Dispatch P-1: the incident becomes dispatched.
    let units = format!("/api/v1/incidents/{id}/units");
    let r = call(&f.app, "POST", &units, &olga, json(json!({"unit": "P-1"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    assert_eq!(r.json()["status"], "dispatched");
    assert_eq!(r.json()["units"], json!(["P-1"]));
    let r = call(&f.app, "POST", &units, &olga, json(json!({"unit": "P-1"}))).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.message());
    // An out-of-service unit cannot be sent.
    let r = call(
        &f.app,
        "POST",
        "/api/v1/units/P-9/status",
        &olga,
        json(json!({"status": "out_of_service"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let r = call(&f.app, "POST", &units, &olga, json(json!({"unit": "P-9"}))).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert!(r.message().contains("out of service"), "{}", r.message());
    let r = call(
        &f.app,
        "POST",
        &units,
        &olga,
        json(json!({"unit": "Z-404"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A second unit, then released again.
    let r = call(&f.app, "POST", &units, &olga, json(json!({"unit": "A-1"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&f.app, "DELETE", &format!("{units}/A-1"), &olga, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    assert_eq!(r.json()["units"], json!(["P-1"]));
    let r = call(&f.app, "DELETE", &format!("{units}/A-1"), &olga, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The procedure: omar ticks step 1; ticking it again names him.
    let omar = login(&f.app, "omar").await;
    let r = call(
        &f.app,
        "POST",
        &format!("/api/v1/incidents/{id}/sop/1"),
        &omar,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    assert_eq!(r.json()["sop"][0]["ticked_by"], "omar");
    let r = call(
        &f.app,
        "POST",
        &format!("/api/v1/incidents/{id}/sop/1"),
        &olga,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.message().contains("already ticked by omar"),
        "{}",
        r.message()
    );
    let r = call(
        &f.app,
        "POST",
        &format!("/api/v1/incidents/{id}/sop/9"),
        &olga,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        &f.app,
        "POST",
        &format!("/api/v1/incidents/{id}/notes"),
        &olga,
        json(json!({"text": "caller says they ran north"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());

    // On scene: its units are on scene. Then closed with a reason.
    let r = call(
        &f.app,
        "POST",
        &path,
        &olga,
        status(json!({"status": "on_scene"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let r = call(&f.app, "GET", "/api/v1/units", &olga, None).await;
    let p1 = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "P-1")
        .cloned()
        .unwrap();
    assert_eq!(p1["status"], "on_scene");
    let r = call(
        &f.app,
        "POST",
        &path,
        &olga,
        status(json!({"status": "closed"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("needs a `reason`"), "{}", r.message());
    let r = call(
        &f.app,
        "POST",
        &path,
        &olga,
        status(json!({"status": "closed", "reason": "resolved", "note": "two arrested"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let closed = r.json();
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["close_reason"], "resolved");
    assert_eq!(closed["units"], json!([]));
    let last = closed["timeline"].as_array().unwrap().last().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        last.contains("units freed: P-1") && last.contains("2 procedure step(s) not ticked"),
        "{last}"
    );
    let r = call(&f.app, "GET", "/api/v1/units", &olga, None).await;
    let p1 = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "P-1")
        .cloned()
        .unwrap();
    assert_eq!(p1["status"], "available");
    // Closing twice, dispatching to or ticking a closed incident: refused.
    let r = call(
        &f.app,
        "POST",
        &path,
        &olga,
        status(json!({"status": "closed", "reason": "resolved"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert!(r.message().contains("already closed"), "{}", r.message());
    let r = call(&f.app, "POST", &units, &olga, json(json!({"unit": "P-1"}))).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = call(
        &f.app,
        "POST",
        &format!("/api/v1/incidents/{id}/sop/2"),
        &olga,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = call(&f.app, "GET", &frame_path, &olga, None).await;
    assert_eq!(
        r.status,
        StatusCode::PRECONDITION_FAILED,
        "a closed incident's cameras are not viewed through it"
    );

    // The timeline holds every step; the audit log too, by whom.
    let r = call(
        &f.app,
        "GET",
        &format!("/api/v1/incidents/{id}"),
        &olga,
        None,
    )
    .await;
    let kinds: Vec<String> = r.json()["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap().to_owned())
        .collect();
    for k in [
        "opened",
        "camera.view",
        "unit.assigned",
        "status",
        "unit.released",
        "sop.tick",
        "note",
    ] {
        assert!(
            kinds.iter().any(|x| x == k),
            "timeline lacks {k}: {kinds:?}"
        );
    }
    let log = f.store.audit_entries(0, 1000, "").await.unwrap();
    let acts = |a: &str| {
        log.iter()
            .filter(|e| e.action == a)
            .map(|e| e.actor.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(acts("incident.open"), ["olga"]);
    assert_eq!(acts("incident.dispatch"), ["olga", "olga"]);
    assert_eq!(acts("incident.release"), ["olga"]);
    assert_eq!(acts("incident.sop.tick"), ["omar"]);
    assert_eq!(acts("incident.camera.view"), ["olga"]);
    assert_eq!(acts("incident.status").len(), 2);
    assert!(!acts("incident.cameras.list").is_empty() && !acts("incident.view").is_empty());
    assert_eq!(acts("unit.status"), ["olga"]);
    // The caller's name and number are not written into the permanent log.
    assert!(
        log.iter()
            .all(|e| !e.details.contains("María") && !e.details.contains("+593"))
    );
    let counts = f
        .store
        .report_counts(Timestamp(0), Timestamp(i64::MAX), Timestamp(T0))
        .await
        .unwrap();
    assert_eq!(counts.incidents_opened_by_source.get("call"), Some(&1));
    assert_eq!(counts.incidents_closed_by_reason.get("resolved"), Some(&1));
    assert_eq!(counts.units_dispatched, 2);
    assert_eq!(counts.incident_camera_views, 1);

    // An auditor runs no incidents.
    let aude = login(&f.app, "aude").await;
    let r = call(&f.app, "GET", "/api/v1/incidents", &aude, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.message().contains("dispatch"), "{}", r.message());
}

#[tokio::test]
async fn bad_input_is_refused_in_words_and_a_repeated_call_opens_one_incident() {
    let f = incident_fixture(0).await;
    let olga = login(&f.app, "olga").await;
    let open = |v: serde_json::Value| json(v);
    let cases = [
        (
            json!({"type": "alien-landing", "latitude": -0.22, "longitude": -78.51}),
            "robbery, stolen-vehicle",
        ),
        (
            json!({"type": "robbery", "latitude": -2.19, "longitude": -79.89}),
            "outside the area",
        ),
        (
            json!({"type": "robbery", "latitude": 95.0, "longitude": -78.51}),
            "between -90 and 90",
        ),
        (
            json!({"type": "robbery", "latitude": -0.22}),
            "both `latitude` and `longitude`",
        ),
        (
            json!({"type": "robbery"}),
            "required for an incident from a call",
        ),
        (
            json!({"type": "robbery", "latitude": -0.22, "longitude": -78.51, "priority": 9}),
            "priority 9",
        ),
        (
            json!({"type": "robbery", "latitude": "north", "longitude": -78.51}),
            "field `latitude`",
        ),
        (
            json!({"type": "robbery", "latitude": -0.22, "longitude": -78.51, "colour": "red"}),
            "unknown field `colour`",
        ),
    ];
    for (body, want) in cases {
        let r = call(
            &f.app,
            "POST",
            "/api/v1/incidents",
            &olga,
            open(body.clone()),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.message());
        assert!(r.message().contains(want), "{body}: {}", r.message());
    }
    let r = call(
        &f.app,
        "POST",
        "/api/v1/incidents",
        &olga,
        open(json!({"type": "robbery", "camera": "nowhere"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.message());
    let r = call(&f.app, "GET", "/api/v1/incidents", &olga, None).await;
    assert_eq!(r.json(), json!([]), "nothing was opened by bad input");

    // A telephony system sends the same call twice: one incident.
    let inbound = json(
        json!({"type": "robbery", "latitude": -0.2210, "longitude": -78.5110, "call_id": "pbx-2026-11-29-0042"}),
    );
    let r1 = call(&f.app, "POST", "/api/v1/incidents", &olga, inbound.clone()).await;
    assert_eq!(r1.status, StatusCode::CREATED, "{}", r1.message());
    assert_eq!(r1.json()["source"], "inbound");
    let r2 = call(&f.app, "POST", "/api/v1/incidents", &olga, inbound).await;
    assert_eq!(r2.status, StatusCode::OK, "{}", r2.message());
    assert_eq!(r1.json()["id"], r2.json()["id"]);
    let r = call(&f.app, "GET", "/api/v1/incidents", &olga, None).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let log = f.store.audit_entries(0, 1000, "").await.unwrap();
    assert_eq!(
        log.iter().filter(|e| e.action == "incident.open").count(),
        1
    );
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "incident.open.repeat")
            .count(),
        1
    );

    // Bad transitions and unit reports.
    let id = r1.json()["id"].as_i64().unwrap();
    let path = format!("/api/v1/incidents/{id}/status");
    for (body, code, want) in [
        (
            json!({"status": "finished"}),
            StatusCode::BAD_REQUEST,
            "unknown incident status",
        ),
        (
            json!({"status": "closed", "reason": "bored"}),
            StatusCode::BAD_REQUEST,
            "unknown closing reason",
        ),
        (
            json!({"status": "on_scene", "reason": "resolved"}),
            StatusCode::BAD_REQUEST,
            "only for closing",
        ),
        (
            json!({"status": "new"}),
            StatusCode::PRECONDITION_FAILED,
            "already new",
        ),
    ] {
        let r = call(&f.app, "POST", &path, &olga, json(body.clone())).await;
        assert_eq!(r.status, code, "{body}: {}", r.message());
        assert!(r.message().contains(want), "{body}: {}", r.message());
    }
    for (body, code, want) in [
        (
            json!({"status": "dispatched"}),
            StatusCode::PRECONDITION_FAILED,
            "by being assigned",
        ),
        (
            json!({"status": "on_scene"}),
            StatusCode::PRECONDITION_FAILED,
            "not assigned",
        ),
        (json!({}), StatusCode::BAD_REQUEST, "give a `status`"),
        (
            json!({"latitude": 1.0}),
            StatusCode::BAD_REQUEST,
            "both `latitude`",
        ),
    ] {
        let r = call(
            &f.app,
            "POST",
            "/api/v1/units/P-1/status",
            &olga,
            json(body.clone()),
        )
        .await;
        assert_eq!(r.status, code, "{body}: {}", r.message());
        assert!(r.message().contains(want), "{body}: {}", r.message());
    }
    let r = call(&f.app, "GET", "/api/v1/incidents/999", &olga, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        &f.app,
        "GET",
        &format!("/api/v1/incidents/{id}/cameras?radius_m=1"),
        &olga,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(
        &f.app,
        "GET",
        &format!("/api/v1/incidents/{id}"),
        &olga,
        None,
    )
    .await;
    assert_eq!(
        r.json()["status"],
        "new",
        "refused transitions changed nothing"
    );
}

#[tokio::test]
async fn only_a_confirmed_match_opens_an_incident() {
    let f = incident_fixture(1).await;
    f.store.outbox_register("probe").await.unwrap();
    let olga = login(&f.app, "olga").await;
    let omar = login(&f.app, "omar").await;
    let from_match = json(json!({"type": "robbery", "candidate": 1}));
    let r = call(
        &f.app,
        "POST",
        "/api/v1/incidents",
        &olga,
        from_match.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert!(
        r.message().contains("0 of 2") && r.message().contains("two-person rule"),
        "{}",
        r.message()
    );
    let review = json(json!({"decision": "confirm"}));
    let r = call(
        &f.app,
        "POST",
        "/api/v1/candidates/1/review",
        &olga,
        review.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let r = call(
        &f.app,
        "POST",
        "/api/v1/incidents",
        &olga,
        from_match.clone(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::PRECONDITION_FAILED,
        "one confirmation is not enough"
    );
    assert!(r.message().contains("1 of 2"), "{}", r.message());
    let r = call(&f.app, "POST", "/api/v1/candidates/1/review", &omar, review).await;
    assert_eq!(r.json()["status"], "confirmed");
    let r = call(&f.app, "POST", "/api/v1/incidents", &olga, from_match).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.message());
    let inc = r.json();
    assert_eq!(inc["source"], "candidate");
    assert_eq!(inc["camera"], "gate");
    assert_eq!(inc["latitude"], -0.2202, "the camera's position");
    assert_eq!(inc["links"][0]["kind"], "candidate");
    assert_eq!(inc["links"][0]["ref_id"], 1);
    // Nothing about the person goes to other systems.
    let ev = f.store.outbox_next("probe", 100).await.unwrap();
    assert_eq!(ev.len(), 1);
    assert!(
        ev.iter().all(|e| !e.payload.to_string().contains("Ana")),
        "{ev:?}"
    );
}

/// A receiver that records what it got, verifying each signature.
#[derive(Default)]
struct Received {
    deliveries: Vec<(i64, String, serde_json::Value)>,
    bad_signatures: usize,
    answered_500: usize,
}

async fn receiver(
    listener: tokio::net::TcpListener,
    got: Arc<Mutex<Received>>,
    fail_every_other: bool,
    secret: &'static [u8],
) {
    use axum::extract::State;
    use axum::http::HeaderMap;
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                move |State(got): State<Arc<Mutex<Received>>>,
                      headers: HeaderMap,
                      body: axum::body::Bytes| async move {
                    let mut g = got.lock().unwrap();
                    if fail_every_other && (g.deliveries.len() + g.answered_500) % 2 == 0 {
                        g.answered_500 += 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let h = |n: &str| civitas_api::webhooks::header(&headers, n).to_owned();
                    if !civitas_api::webhooks::verify_request(secret, &headers, &body) {
                        g.bad_signatures += 1;
                        return StatusCode::UNAUTHORIZED;
                    }
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    g.deliveries.push((
                        h("x-civitas-delivery").parse().unwrap(),
                        h("x-civitas-event"),
                        v,
                    ));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(got);
    axum::serve(listener, app).await.unwrap();
}

const SECRET: &[u8] = b"test-secret-0123456789";

fn hook(name: &str, port: u16, timeout_ms: u64) -> Webhook {
    let mut h = Webhook::new(
        name,
        &format!("http://127.0.0.1:{port}/hook"),
        SECRET.to_vec(),
        timeout_ms,
    )
    .unwrap();
    h.backoff_initial_ms = 50;
    h.backoff_max_ms = 400;
    h
}

/// Registers the webhooks (before any event, as `civitas run` does at
/// start) and starts delivering to them.
async fn start_deliveries(
    f: &Fixture,
    hooks: impl IntoIterator<Item = Webhook>,
    stats: &Arc<WebhookStats>,
    stop: &tokio::sync::watch::Receiver<bool>,
) {
    for h in hooks {
        f.store.outbox_register(&h.name).await.unwrap();
        let clock = Arc::new(f.clock.clone());
        let wake = f.console.outbox_wake.clone();
        tokio::spawn(deliver(
            f.store.clone(),
            h,
            clock,
            wake,
            stats.clone(),
            stop.clone(),
        ));
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn webhooks_deliver_signed_events_in_order_after_the_receiver_was_down() {
    let f = incident_fixture(0).await;
    let olga = login(&f.app, "olga").await;
    // Ports for three receivers; `radio` is not listening yet (down), `hang`
    // accepts connections and never answers, `flaky` answers 500 every other time.
    let radio_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    let _hang_task = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            if let Ok((s, _)) = hang.accept().await {
                held.push(s);
            }
        }
    });
    let flaky = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let flaky_port = flaky.local_addr().unwrap().port();
    let flaky_got = Arc::new(Mutex::new(Received::default()));
    tokio::spawn(receiver(flaky, flaky_got.clone(), true, SECRET));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stats = Arc::new(WebhookStats::default());
    let hooks = [
        hook("radio", radio_port, 2000),
        hook("hang", hang_port, 300),
        hook("flaky", flaky_port, 2000),
    ];
    start_deliveries(&f, hooks, &stats, &stop_rx).await;
    // Three changes while `radio` is down.
    let r = call(
        &f.app,
        "POST",
        "/api/v1/incidents",
        &olga,
        call_from_robbery(),
    )
    .await;
    let id = r.json()["id"].as_i64().unwrap();
    call(
        &f.app,
        "POST",
        &format!("/api/v1/incidents/{id}/units"),
        &olga,
        json(json!({"unit": "P-1"})),
    )
    .await;
    call(
        &f.app,
        "POST",
        &format!("/api/v1/incidents/{id}/status"),
        &olga,
        json(json!({"status": "on_scene"})),
    )
    .await;
    // The failures are visible: attempts and the last error, per webhook.
    let store = f.store.clone();
    let mut status = Vec::new();
    for _ in 0..100 {
        status = store.outbox_status().await.unwrap();
        let by = |n: &str| status.iter().find(|s| s.destination == n).cloned().unwrap();
        if by("radio").attempts >= 2 && by("hang").attempts >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let by = |n: &str| status.iter().find(|s| s.destination == n).cloned().unwrap();
    assert!(by("radio").attempts >= 2, "{status:?}");
    assert!(
        by("radio")
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains(&format!("127.0.0.1:{radio_port}")),
        "{status:?}"
    );
    assert!(
        by("hang")
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("no answer within 300 ms"),
        "{status:?}"
    );
    let olga_sees = call(&f.app, "GET", "/api/v1/integrations", &olga, None).await;
    assert_eq!(olga_sees.status, StatusCode::OK);
    assert!(
        olga_sees
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["destination"] == "radio" && d["pending"].as_i64() > Some(0))
    );

    // `radio` comes back: it gets every event, in order, once each, signed.
    let radio_got = Arc::new(Mutex::new(Received::default()));
    let radio = tokio::net::TcpListener::bind(("127.0.0.1", radio_port))
        .await
        .unwrap();
    tokio::spawn(receiver(radio, radio_got.clone(), false, SECRET));
    wait_for("radio to get 3 events", || {
        radio_got.lock().unwrap().deliveries.len() >= 3
    })
    .await;
    // One more change after it is back arrives at once (woken, not polled).
    call(
        &f.app,
        "POST",
        &format!("/api/v1/incidents/{id}/status"),
        &olga,
        json(json!({"status": "closed", "reason": "resolved"})),
    )
    .await;
    wait_for("radio to get 4 events", || {
        radio_got.lock().unwrap().deliveries.len() >= 4
    })
    .await;
    wait_for("flaky to get 4 events", || {
        flaky_got.lock().unwrap().deliveries.len() >= 4
    })
    .await;
    let _ = stop_tx.send(true);
    for (name, got) in [("radio", &radio_got), ("flaky", &flaky_got)] {
        let g = got.lock().unwrap();
        assert_eq!(g.bad_signatures, 0, "{name}");
        let ids: Vec<i64> = g.deliveries.iter().map(|d| d.0).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "{name}: in order, none twice");
        let topics: Vec<&str> = g.deliveries.iter().map(|d| d.1.as_str()).collect();
        assert_eq!(
            topics,
            [
                "incident.opened",
                "incident.unit.assigned",
                "incident.status",
                "incident.status"
            ],
            "{name}"
        );
        let last = &g.deliveries[3].2;
        assert_eq!(last["data"]["incident"]["status"], "closed");
        assert_eq!(last["data"]["incident"]["close_reason"], "resolved");
        let all =
            serde_json::to_string(&g.deliveries.iter().map(|d| &d.2).collect::<Vec<_>>()).unwrap();
        assert!(
            !all.contains("María") && !all.contains("+593") && !all.contains("knife"),
            "no caller or notes: {all}"
        );
    }
    assert!(
        flaky_got.lock().unwrap().answered_500 >= 4,
        "flaky failed half the time and was retried"
    );
    let status = f.store.outbox_status().await.unwrap();
    let by = |n: &str| status.iter().find(|s| s.destination == n).cloned().unwrap();
    assert_eq!(by("radio").pending, 0);
    assert_eq!(by("radio").delivered_total, 4);
    assert!(by("flaky").retries_total >= 4);
    assert_eq!(
        by("hang").delivered_total,
        0,
        "the hanging receiver held back only its own events"
    );
    assert_eq!(by("hang").pending, 4);
}

#[tokio::test]
async fn closed_incidents_are_deleted_after_their_period_unless_held() {
    let f = incident_fixture(0).await;
    let olga = login(&f.app, "olga").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = call(
            &f.app,
            "POST",
            "/api/v1/incidents",
            &olga,
            call_from_robbery(),
        )
        .await;
        ids.push(r.json()["id"].as_i64().unwrap());
    }
    // Two closed, one still open.
    for id in &ids[..2] {
        let r = call(
            &f.app,
            "POST",
            &format!("/api/v1/incidents/{id}/status"),
            &olga,
            json(json!({"status": "closed", "reason": "resolved"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    }
    let sam = civitas_auth::Actor {
        username: "sam".into(),
        role: civitas_auth::Role::Supervisor,
        scope: vec!["*".into()],
    };
    f.store
        .place_hold(
            &sam,
            &format!("incident:{}", ids[1]),
            "court case 2026-77",
            Timestamp(T0 + 2000),
        )
        .await
        .unwrap();
    let policy = civitas_store::RetentionPolicy::default();
    let review = civitas_store::ReviewPolicy::default();
    // A day later nothing goes; a year and a day later the unheld closed one does.
    let r = f
        .store
        .sweep(&policy, &review, Timestamp(T0 + 86_400_000))
        .await
        .unwrap();
    assert_eq!(r.incidents_deleted, 0);
    let r = f
        .store
        .sweep(&policy, &review, Timestamp(T0 + 366 * 86_400_000))
        .await
        .unwrap();
    assert_eq!(r.incidents_deleted, 1);
    assert!(r.outbox_events_deleted >= 5, "{r:?}");
    let gone = call(
        &f.app,
        "GET",
        &format!("/api/v1/incidents/{}", ids[0]),
        &olga,
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    for id in &ids[1..] {
        let kept = call(
            &f.app,
            "GET",
            &format!("/api/v1/incidents/{id}"),
            &olga,
            None,
        )
        .await;
        assert_eq!(kept.status, StatusCode::OK, "incident {id} is held or open");
    }
    let counts = f
        .store
        .report_counts(Timestamp(0), Timestamp(i64::MAX), Timestamp(T0))
        .await
        .unwrap();
    assert!(counts.retention_deleted >= 1);
}

/// A webhook to another agency goes over HTTPS with the receiver's
/// certificate verified: against the operator's CA file it delivers, signed;
/// against the system's roots a private certificate is refused and nothing
/// is delivered (the refusal is shown in the delivery status).
#[tokio::test]
async fn webhooks_over_https_verify_the_receivers_certificate() {
    let f = incident_fixture(0).await;
    let olga = login(&f.app, "olga").await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "cad");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hook", tcp.local_addr().unwrap());
    let tls = civitas_api::tls::server_config(&cert, &key).unwrap();
    let listener = civitas_api::tls::Listener::tls(tcp, tls).unwrap();
    let (got, _server) = civitas_api::webhooks::Receiver::serve(listener, SECRET.to_vec(), 0.0, 1);
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stats = Arc::new(WebhookStats::default());
    let mut trusted = Webhook::new("cad", &url, SECRET.to_vec(), 2000).unwrap();
    trusted.ca_file = Some(cert.clone());
    let stranger = Webhook::new("stranger", &url, SECRET.to_vec(), 2000).unwrap();
    start_deliveries(&f, [trusted, stranger], &stats, &stop_rx).await;
    let path = "/api/v1/incidents";
    let r = call(&f.app, "POST", path, &olga, call_from_robbery()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.message());
    let log = got.log.clone();
    wait_for("a delivery over HTTPS", || {
        log.lock().unwrap().iter().any(|d| d.signed && d.accepted)
    })
    .await;
    let store = f.store.clone();
    let mut status = Vec::new();
    for _ in 0..100 {
        status = store.outbox_status().await.unwrap();
        if status
            .iter()
            .any(|d| d.destination == "stranger" && d.last_error.is_some())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let of = |name: &str| {
        status
            .iter()
            .find(|d| d.destination == name)
            .unwrap()
            .clone()
    };
    assert_eq!(of("cad").pending, 0, "{status:?}");
    let stranger = of("stranger");
    assert_eq!(stranger.delivered_total, 0, "{status:?}");
    assert!(stranger.pending >= 1, "{status:?}");
    let why = stranger.last_error.unwrap_or_default();
    assert!(
        why.contains("certificate") || why.contains("UnknownIssuer"),
        "{why}"
    );
}
