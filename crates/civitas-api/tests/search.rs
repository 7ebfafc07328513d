//! Forensic search of confirmed matches through the real router over a real
//! SQLite store: permission, justification, window, scope, audit.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn confirmed_matches_are_searched_with_a_justification_and_audited() {
    let f = fixture(2).await;
    let olga = login(&f.app, "olga").await;
    let omar = login(&f.app, "omar").await;
    let sam = login(&f.app, "sam").await;
    // Candidate 1 confirmed by two people; candidate 2 left unreviewed.
    for who in [&olga, &omar] {
        let r = call(
            &f.app,
            "POST",
            "/api/v1/candidates/1/review",
            who,
            json(json!({"decision": "confirm"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    }
    let window = format!("from_ms={}&to_ms={}", T0 - 86_400_000, T0 + 86_400_000);
    let r = call(
        &f.app,
        "GET",
        &format!("/api/v1/matches?name=ana&justification=case%20CASE-42&{window}"),
        &sam,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let found = r.json();
    let ids: Vec<i64> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [1],
        "only the confirmed match, found by part of the name, case-insensitively"
    );
    assert_eq!(found[0]["status"], "confirmed");
    // Refusals: no justification, a window of years, no name, an operator, a camera out of scope.
    for (q, code, want) in [
        (
            format!("name=ana&{window}"),
            StatusCode::BAD_REQUEST,
            "justification",
        ),
        (
            format!("name=ana&justification=case%2042&from_ms=0&to_ms={T0}"),
            StatusCode::BAD_REQUEST,
            "at most 92 days",
        ),
        (
            format!("justification=case%2042&{window}"),
            StatusCode::BAD_REQUEST,
            "give a `name`",
        ),
        (
            format!("name=a%25&justification=case%2042&{window}"),
            StatusCode::OK,
            "",
        ),
    ] {
        let r = call(&f.app, "GET", &format!("/api/v1/matches?{q}"), &sam, None).await;
        assert_eq!(r.status, code, "{q}: {}", r.message());
        assert!(r.message().contains(want), "{q}: {}", r.message());
        if code == StatusCode::OK {
            assert_eq!(
                r.json(),
                json!([]),
                "a % in the name is matched literally, not as a wildcard"
            );
        }
    }
    let r = call(
        &f.app,
        "GET",
        &format!("/api/v1/matches?name=ana&justification=case%2042&{window}"),
        &olga,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.message().contains("lacks the search permission"),
        "{}",
        r.message()
    );
    // The search is in the audit log with who, why and what it returned.
    let log = f
        .store
        .audit_entries(0, 1000, "match.search")
        .await
        .unwrap();
    assert_eq!(log.len(), 2, "the two searches that ran");
    assert_eq!(log[0].actor, "sam");
    assert_eq!(log[0].justification, "case CASE-42");
    assert!(
        log[0].details.contains("\"results\":[1]"),
        "{}",
        log[0].details
    );
}

#[tokio::test]
async fn camera_events_are_searched_by_kind_with_a_justification() {
    let f = fixture(0).await;
    for (cam, kind, detail, dt) in [
        ("gate", "online", "", 0),
        ("gate", "offline", "camera gate: connection refused", 60_000),
        ("gate", "online", "", 120_000),
        (
            "plaza",
            "offline",
            "camera plaza: no packets for 10 s",
            180_000,
        ),
    ] {
        f.store
            .record_camera_event(cam, kind, detail, civitas_base::Timestamp(T0 + dt))
            .await
            .unwrap();
    }
    let e = f
        .store
        .record_camera_event("gate", "on fire", "", civitas_base::Timestamp(T0))
        .await
        .unwrap_err();
    assert!(e.message().contains("not one of"), "{e}");
    let sam = login(&f.app, "sam").await;
    let window = format!("from_ms={}&to_ms={}", T0 - 1, T0 + 86_400_000);
    let r = call(
        &f.app,
        "GET",
        &format!("/api/v1/camera-events?kind=offline&justification=outage%20report%2012&{window}"),
        &sam,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let found = r.json();
    let cams: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["camera"].as_str().unwrap())
        .collect();
    assert_eq!(cams, ["plaza", "gate"], "newest first, only offline");
    let r = call(&f.app, "GET", &format!("/api/v1/camera-events?kind=offline&camera=gate&justification=outage%20report%2012&{window}"), &sam, None).await;
    assert_eq!(r.json()[0]["detail"], "camera gate: connection refused");
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    for (q, want) in [
        (format!("kind=offline&{window}"), "justification"),
        (
            format!("kind=exploded&justification=outage%20report%2012&{window}"),
            "not one of",
        ),
    ] {
        let r = call(
            &f.app,
            "GET",
            &format!("/api/v1/camera-events?{q}"),
            &sam,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(r.message().contains(want), "{q}: {}", r.message());
    }
    assert_eq!(
        f.store
            .audit_entries(0, 100, "camera_event.search")
            .await
            .unwrap()
            .len(),
        2
    );
    // Retention: 90 days later they are gone.
    let r = f
        .store
        .sweep(
            &civitas_store::RetentionPolicy::default(),
            &civitas_store::ReviewPolicy::default(),
            civitas_base::Timestamp(T0 + 91 * 86_400_000),
        )
        .await
        .unwrap();
    assert_eq!(r.camera_events_deleted, 4);
}
