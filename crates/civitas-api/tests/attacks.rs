//! The attacks of issue 20, each performed as an insider or a hostile client
//! would, through the real router over a real store (SQLite, or PostgreSQL
//! with `CIVITAS_TEST_STORE=postgres`). Each test fails if its attack works
//! again.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civitas_auth::{Actor, Role};
use civitas_base::Timestamp;
use common::*;
use http_body_util::BodyExt;
use serde_json::json;
use std::time::Duration;
use tower::ServiceExt;

async fn add_scoped(f: &Fixture, name: &str, role: Role, scope: &[&str]) {
    let scope: Vec<String> = scope.iter().map(|s| s.to_string()).collect();
    let h = civitas_auth::hash_password(PW).unwrap();
    f.store
        .add_user(Some(&admin()), name, role, &scope, &h, Timestamp(T0))
        .await
        .unwrap();
}

fn row_bytes(e: &civitas_audit::AuditEntry) -> usize {
    e.actor.len() + e.action.len() + e.target.len() + e.justification.len() + e.details.len()
}

async fn largest_audit_row(f: &Fixture) -> usize {
    f.store
        .audit_entries(0, 100_000, "")
        .await
        .unwrap()
        .iter()
        .map(row_bytes)
        .max()
        .unwrap_or(0)
}

/// Item 2: `POST /api/v1/session` with a 2,000,000-character user name once
/// stored a 4 MB audit row, and repeating it filled the disk.
#[tokio::test]
async fn an_anonymous_request_cannot_write_megabytes_into_the_audit_log() {
    let f = fixture(0).await;
    let before = f.store.audit_entries(0, 100_000, "").await.unwrap().len();
    let huge = "x".repeat(2_000_000);
    let r = call(
        &f.app,
        "POST",
        "/api/v1/session",
        &Who::default(),
        json(json!({"username": huge, "password": "whatever"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.message());
    // Within the body limit, a name past its own limit is refused too.
    let r = call(
        &f.app,
        "POST",
        "/api/v1/session",
        &Who::default(),
        json(json!({"username": "y".repeat(3_000), "password": "whatever"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.message());
    assert!(r.message().contains("username"), "{}", r.message());
    assert_eq!(
        f.store.audit_entries(0, 100_000, "").await.unwrap().len(),
        before,
        "refused before anything was audited"
    );
    // Whatever reaches the store is bounded there as well (a caller in
    // this process, or a route that forgot).
    f.store
        .audit(
            Timestamp(T0 + 5_000),
            civitas_store::AuditRecord::new(&huge, "login.failed", format!("user:{huge}"))
                .why(&huge)
                .details(json!({ "note": huge })),
        )
        .await
        .unwrap();
    assert!(largest_audit_row(&f).await <= civitas_store::AUDIT_ROW_MAX_BYTES);
    // Query values: at most 1,000 bytes decoded, however encoded; within
    // it a search is answered and its audit row stays within its limit.
    let sam = login(&f.app, "sam").await;
    for (value, ok) in [
        ("j".repeat(1_000), true),
        ("j".repeat(1_001), false),
        ("%6A".repeat(1_001), false),
        ("%6A".repeat(1_000), true),
    ] {
        let r = call(
            &f.app,
            "GET",
            &format!("/api/v1/plates?pattern=AB1234&justification={value}"),
            &sam,
            None,
        )
        .await;
        assert_eq!(r.status.is_success(), ok, "{} {}", r.status, r.message());
        if !ok {
            assert!(r.message().contains("`justification`"), "{}", r.message());
        }
    }
    assert!(largest_audit_row(&f).await <= civitas_store::AUDIT_ROW_MAX_BYTES);
    // Every JSON field is bounded, on every route.
    let r = call(
        &f.app,
        "POST",
        "/api/v1/candidates/1/review",
        &sam,
        json(json!({"decision": "reject", "reason": "r".repeat(10_000)})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.message());
    assert!(r.message().contains("`reason`"), "{}", r.message());
}

/// Item 3: bounds near i64's ends wrapped the window check in a release
/// build (and panicked a debug one), searching all of time.
#[tokio::test]
async fn the_search_window_cannot_be_widened_by_overflow() {
    let f = fixture(0).await;
    let sam = login(&f.app, "sam").await;
    let wide = "justification=case%2042&from_ms=-9000000000000000000&to_ms=9000000000000000000";
    let edge = "justification=case%2042&from_ms=-9223372036854775808&to_ms=9223372036854775807";
    let only_to = "justification=case%2042&to_ms=-9223372036854775808";
    for route in [
        "/api/v1/plates?pattern=AB1234&",
        "/api/v1/matches?name=Ana&",
        "/api/v1/camera-events?",
        "/api/v1/recordings?camera=gate&",
    ] {
        for q in [wide, edge] {
            let r = call(&f.app, "GET", &format!("{route}{q}"), &sam, None).await;
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{route}{q}: {}",
                r.message()
            );
            assert!(r.message().contains("92 days"), "{}", r.message());
        }
        let r = call(&f.app, "GET", &format!("{route}{only_to}"), &sam, None).await;
        assert!(
            r.status.is_client_error() || r.status.is_success(),
            "{route}{only_to}: {}",
            r.status
        );
    }
}

/// Item 4: a supervisor scoped to one camera listed entries scoped
/// elsewhere and enrolled a person on every camera.
#[tokio::test]
async fn camera_scope_holds_for_watchlists_recordings_and_evidence() {
    let f = fixture(1).await;
    add_scoped(&f, "gil", Role::Supervisor, &["gate"]).await;
    let sam = Actor {
        username: "sam".into(),
        role: Role::Supervisor,
        scope: vec!["*".into()],
    };
    let basis = civitas_model::LegalBasisInput {
        kind: "court-order".into(),
        authority: "Juzgado 3".into(),
        reference: "CASE-77".into(),
        purpose: "find a witness".into(),
        expires: "2099-01-01".into(),
    }
    .validate(Timestamp(T0))
    .unwrap();
    let template: Vec<u8> = (0..128).flat_map(|i| (i as f32).to_le_bytes()).collect();
    f.store
        .enroll(
            &sam,
            civitas_store::Enrolment::new(
                "Elsewhere Person",
                &basis,
                &["demo".to_string()],
                vec![("a.jpg".into(), template.clone())],
            ),
            Timestamp(T0),
        )
        .await
        .unwrap();
    let gil = login(&f.app, "gil").await;
    let r = call(&f.app, "GET", "/api/v1/watchlist", &gil, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"Ana Example".to_owned()), "{names:?}");
    assert!(
        !names.contains(&"Elsewhere Person".to_owned()),
        "a gate supervisor read an entry scoped to demo: {names:?}"
    );
    // Enrolling beyond one's own scope, through the API and the store.
    for scope in [json!(["*"]), json!(["demo"]), json!(["gate", "demo"])] {
        let r = call(
            &f.app,
            "POST",
            "/api/v1/watchlist",
            &gil,
            json(json!({
                "name": "Someone", "basis_kind": "court-order", "authority": "Juzgado 3",
                "reference": "CASE-9", "purpose": "test", "expires": "2099-01-01",
                "scope": scope, "photo_base64": "AAAA"
            })),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{scope}: {}", r.message());
    }
    let gil_actor = Actor {
        username: "gil".into(),
        role: Role::Supervisor,
        scope: vec!["gate".into()],
    };
    let e = f
        .store
        .enroll(
            &gil_actor,
            civitas_store::Enrolment::new(
                "Someone",
                &basis,
                &["*".into()],
                vec![("a.jpg".into(), template)],
            ),
            Timestamp(T0),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), civitas_base::ErrorKind::PermissionDenied, "{e}");
    // A recording out of scope reads exactly as one that does not exist.
    let id = f
        .store
        .recording_finished(
            "demo",
            "demo/1-event.mp4",
            "event",
            T0 - 5_000,
            T0 - 2_000,
            10,
            "complete",
            None,
        )
        .await
        .unwrap();
    let out = call(
        &f.app,
        "GET",
        &format!("/api/v1/recordings/{id}/media"),
        &gil,
        None,
    )
    .await;
    let absent = call(&f.app, "GET", "/api/v1/recordings/99999/media", &gil, None).await;
    assert_eq!(out.status, StatusCode::NOT_FOUND, "{}", out.message());
    assert_eq!(
        out.message().replace(&id.to_string(), "N"),
        absent.message().replace("99999", "N")
    );
}

/// Evidence jobs are looked up by sequential id; one about a candidate out
/// of the caller's scope reads as absent.
#[tokio::test]
async fn evidence_jobs_out_of_scope_read_as_absent() {
    #[derive(Debug)]
    struct OneJob(i64);
    impl civitas_api::evidence::Exporter for OneJob {
        fn start(
            &self,
            _: Actor,
            _: civitas_api::evidence::ExportJobRequest,
        ) -> civitas_base::Result<civitas_api::evidence::ExportJob> {
            Err(civitas_base::Error::internal("not in this test"))
        }
        fn job(&self, id: u64) -> Option<civitas_api::evidence::ExportJob> {
            (id == 1).then(|| civitas_api::evidence::ExportJob {
                id,
                candidate: self.0,
                started_by: "sam".into(),
                state: civitas_api::evidence::ExportState::Running,
                frames_done: 0,
                frames_total: 1,
                error: None,
                bundle: None,
                summary: None,
            })
        }
        fn bundle_dir(&self, _: u64) -> Option<std::path::PathBuf> {
            None
        }
    }
    let f = fixture_with(1, |c| c.exporter = Some(std::sync::Arc::new(OneJob(1)))).await;
    add_scoped(&f, "gil", Role::Supervisor, &["gate"]).await;
    add_scoped(&f, "dee", Role::Supervisor, &["demo"]).await;
    let gil = login(&f.app, "gil").await;
    let dee = login(&f.app, "dee").await;
    let r = call(&f.app, "GET", "/api/v1/evidence/1", &gil, None).await;
    assert_eq!(r.status, StatusCode::OK, "in scope: {}", r.message());
    for path in ["/api/v1/evidence/1", "/api/v1/evidence/1/bundle"] {
        let out = call(&f.app, "GET", path, &dee, None).await;
        let absent = call(&f.app, "GET", &path.replace("/1", "/2"), &dee, None).await;
        assert_eq!(
            out.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            out.message()
        );
        assert_eq!(
            out.message().replace(" 1 ", " N "),
            absent.message().replace(" 2 ", " N ")
        );
    }
}

/// Opens the live event stream and returns its body.
async fn open_events(f: &Fixture, who: &Who) -> Body {
    let mut req = Request::builder().method("GET").uri("/api/v1/events");
    if let Some(c) = &who.cookie {
        req = req.header(header::COOKIE, c);
    }
    if let Some(b) = &who.bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
    }
    let resp = f
        .app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.into_body()
}

/// Whether the stream ends within `within`.
async fn ends_within(body: &mut Body, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await
    .is_ok()
}

/// Item 6: a stream opened before access ended kept delivering candidates
/// with names. Logout, disabling the user and revoking the token each end it
/// within a second; until then it stays open.
#[tokio::test]
async fn live_events_end_within_a_second_of_access_ending() {
    let f = fixture(0).await;
    // Logout.
    let olga = login(&f.app, "olga").await;
    let mut body = open_events(&f, &olga).await;
    assert!(
        !ends_within(&mut body, Duration::from_millis(1200)).await,
        "open while logged in"
    );
    let r = call(&f.app, "DELETE", "/api/v1/session", &olga, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        ends_within(&mut body, Duration::from_millis(1500)).await,
        "still streaming after logout"
    );
    // The user disabled.
    let omar = login(&f.app, "omar").await;
    let mut body = open_events(&f, &omar).await;
    assert!(!ends_within(&mut body, Duration::from_millis(700)).await);
    f.store
        .disable_user(&admin(), "omar", "left the service", Timestamp(T0 + 3_000))
        .await
        .unwrap();
    assert!(
        ends_within(&mut body, Duration::from_millis(1500)).await,
        "still streaming after disable"
    );
    // A revoked token.
    let token = f
        .store
        .create_token(
            &admin(),
            "dora",
            "wall display",
            None,
            Timestamp(T0 + 3_000),
        )
        .await
        .unwrap();
    let who = Who {
        bearer: Some(token),
        ..Default::default()
    };
    let mut body = open_events(&f, &who).await;
    assert!(!ends_within(&mut body, Duration::from_millis(700)).await);
    let id = f.store.tokens(&admin()).await.unwrap()[0].id;
    f.store
        .revoke_token(&admin(), id, Timestamp(T0 + 4_000))
        .await
        .unwrap();
    assert!(
        ends_within(&mut body, Duration::from_millis(1500)).await,
        "still streaming after revocation"
    );
    // Expiry: the session's idle limit passes with only the stream open.
    let dora = login(&f.app, "dora").await;
    let mut body = open_events(&f, &dora).await;
    f.clock.advance_ms(31 * 60_000);
    assert!(
        ends_within(&mut body, Duration::from_millis(1500)).await,
        "still streaming after expiry"
    );
}

/// An administrator sees every live session and token and ends one at
/// once: the user's next request is refused, their live stream ends within
/// a second, and the list, the ending and the revocation are audited. No
/// one else may list or end sessions, and a listing hands out no cookie.
#[tokio::test]
async fn an_administrator_ends_a_session_or_a_token_and_its_stream_stops() {
    let f = fixture(0).await;
    let admin_s = login(&f.app, "admin").await;
    let olga = login(&f.app, "olga").await;
    let mut body = open_events(&f, &olga).await;
    let token = f
        .store
        .create_token(&admin(), "dora", "wall", None, Timestamp(T0))
        .await
        .unwrap();
    let r = call(&f.app, "GET", "/api/v1/users", &admin_s, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let list = r.json();
    let user = |name: &str| {
        list["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .cloned()
            .unwrap()
    };
    let sessions = user("olga")["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 1, "{list}");
    assert_eq!(user("omar")["sessions"].as_array().unwrap().len(), 0);
    let cookie = olga.cookie.clone().unwrap();
    assert!(
        !list.to_string().contains(cookie.split('=').nth(1).unwrap()),
        "the listing hands out a cookie"
    );
    let token_id = list["tokens"][0]["id"].as_i64().unwrap();
    // Only an administrator.
    let sam = login(&f.app, "sam").await;
    let sid = sessions[0]["id"].as_str().unwrap();
    let path = format!("/api/v1/sessions/{sid}");
    let r = call(&f.app, "DELETE", &path, &sam, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        call(&f.app, "GET", "/api/v1/candidates", &olga, None)
            .await
            .status,
        StatusCode::OK
    );
    // The administrator ends it.
    let r = call(&f.app, "DELETE", &path, &admin_s, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.message());
    let r = call(&f.app, "GET", "/api/v1/candidates", &olga, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        ends_within(&mut body, Duration::from_millis(1500)).await,
        "still streaming after the session was ended"
    );
    let r = call(&f.app, "DELETE", &path, &admin_s, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // And a token.
    let dora = Who {
        bearer: Some(token),
        ..Default::default()
    };
    let r = call(&f.app, "GET", "/api/v1/candidates", &dora, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let path = format!("/api/v1/tokens/{token_id}");
    let r = call(&f.app, "DELETE", &path, &admin_s, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.message());
    let r = call(&f.app, "GET", "/api/v1/candidates", &dora, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for action in ["user.list", "session.end", "token.revoke"] {
        let rows = f.store.audit_entries(0, 1000, action).await.unwrap();
        assert_eq!(rows.len(), 1, "{action}");
        assert_eq!(rows[0].actor, "admin", "{action}");
    }
    let ended = f.store.audit_entries(0, 1000, "session.end").await.unwrap();
    assert_eq!(ended[0].target, "user:olga");
}

/// Item 7: fifty concurrent wrong passwords all passed a check made before
/// any was recorded; the check-and-record is one step now, and throttling
/// is by delay, so the right password still gets in.
#[tokio::test]
async fn concurrent_guesses_are_throttled_and_no_one_is_locked_out() {
    let f = fixture_with(0, |c| c.settings.login_max_delay_ms = 2_000).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let app = f.app.clone();
        tasks.push(tokio::spawn(async move {
            call(
                &app,
                "POST",
                "/api/v1/session",
                &Who::default(),
                json(json!({"username": "olga", "password": format!("guess number {i}")})),
            )
            .await
            .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::FORBIDDEN)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, 50, "{statuses:?}");
    // Five free attempts, then one that waited a second; the rest would
    // have waited past the limit and were refused unchecked.
    assert!(checked <= 6, "{checked} passwords were checked");
    let failed = f
        .store
        .audit_entries(0, 1000, "login.failed")
        .await
        .unwrap();
    assert_eq!(failed.len(), checked);
    // Not a lockout: once the waits pass, the right password gets in.
    f.clock.advance_ms(3_000);
    let r = call(
        &f.app,
        "POST",
        "/api/v1/session",
        &Who::default(),
        json(json!({"username": "olga", "password": PW})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
}

/// Percent-encodes every byte but ASCII letters and digits.
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A small deterministic generator (xorshift64*), so a failing request can
/// be replayed from its seed and step; no fuzzing crate is needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn number(&mut self) -> String {
        let edges = [
            "0",
            "-1",
            "1",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
            "99999999999999999999",
            "1e30",
            "NaN",
            "-0",
            "1780000000000",
            "3.5",
            "",
        ];
        if self.below(2) == 0 {
            self.pick(&edges).to_string()
        } else {
            (self.next() as i64).to_string()
        }
    }
    fn text(&mut self) -> String {
        let pieces = [
            "gate",
            "demo",
            "*",
            "AB1234",
            "PB?12?4",
            "????",
            "case 42",
            "'; DROP TABLE audit_log;--",
            "%",
            "_",
            "..",
            "../../etc/passwd",
            "\u{0}",
            "é",
            "Жук",
            "<script>",
            "null",
            "confirm",
            "reject",
            "open",
            "closed",
            "court-order",
            "2099-01-01",
            "1970-01-01",
        ];
        let mut s = String::new();
        for _ in 0..self.below(4) + 1 {
            s.push_str(pieces[self.below(pieces.len())]);
        }
        if self.below(20) == 0 {
            s.push_str(&"z".repeat(self.below(6_000)));
        }
        s
    }
    fn value(&mut self, depth: u32) -> serde_json::Value {
        match self.below(if depth > 2 { 5 } else { 7 }) {
            0 => serde_json::Value::Null,
            1 => json!(self.below(2) == 0),
            2 => serde_json::from_str(&self.number()).unwrap_or(json!(self.next() as i64)),
            3 | 4 => json!(self.text()),
            5 => json!(
                (0..self.below(4))
                    .map(|_| self.value(depth + 1))
                    .collect::<Vec<_>>()
            ),
            _ => self.object(depth + 1),
        }
    }
    fn object(&mut self, depth: u32) -> serde_json::Value {
        const FIELDS: &[&str] = &[
            "username",
            "password",
            "decision",
            "reason",
            "name",
            "basis_kind",
            "authority",
            "reference",
            "purpose",
            "expires",
            "scope",
            "photo_base64",
            "candidate",
            "justification",
            "blur_plates",
            "type_id",
            "lat",
            "lon",
            "address",
            "caller_name",
            "caller_phone",
            "notes",
            "camera",
            "call_id",
            "priority",
            "status",
            "note",
            "unit",
            "text",
            "kind",
            "target",
            "incident",
        ];
        let mut m = serde_json::Map::new();
        for _ in 0..self.below(8) {
            let k = self.pick(FIELDS).to_string();
            let v = self.value(depth);
            m.insert(k, v);
        }
        serde_json::Value::Object(m)
    }
}

/// The API fuzzer: arbitrary methods, routes (every one the router serves,
/// with made-up ids, and made-up paths), query strings, headers and bodies,
/// as each role, anonymous and with a bearer token. Nothing may answer 5xx
/// but 503 (a part this process runs without), nothing may panic, no audit
/// row may pass its limit, and the audit log must still verify. Bounded:
/// `CIVITAS_API_FUZZ_ITERS` requests (default 1,500; `scripts/fuzz` runs
/// more) from seed `CIVITAS_API_FUZZ_SEED`.
#[tokio::test]
async fn api_fuzz_no_5xx_no_panic_no_oversized_audit_row() {
    let iters: usize = std::env::var("CIVITAS_API_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500);
    let seed: u64 = std::env::var("CIVITAS_API_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_c171_07a5);
    // No waits in the fuzzer: an attempt that would wait is refused.
    let f = fixture_with(3, |c| c.settings.login_max_delay_ms = 0).await;
    add_scoped(&f, "gil", Role::Supervisor, &["gate"]).await;
    const USERS: [&str; 5] = ["admin", "sam", "olga", "aude", "gil"];
    let mut whos = vec![Who::default()];
    for u in USERS {
        whos.push(login(&f.app, u).await);
    }
    let token = f
        .store
        .create_token(&admin(), "sam", "fuzz", None, Timestamp(T0 + 2_000))
        .await
        .unwrap();
    whos.push(Who {
        bearer: Some(token),
        ..Default::default()
    });
    whos.push(Who {
        bearer: Some("civ_forged".into()),
        cookie: Some("civitas_session=forged".into()),
        csrf: Some("forged".into()),
    });
    // Every (path, method) the router documents, so most requests reach a
    // handler rather than a 405.
    let mut routes: Vec<(String, &str)> = Vec::new();
    for (p, item) in &f.doc.paths.paths {
        for (m, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
        ] {
            if op.is_some() {
                routes.push((p.clone(), m));
            }
        }
    }
    assert!(
        routes.len() > 35,
        "the fuzzer reaches every route: {}",
        routes.len()
    );
    const METHODS: &[&str] = &["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"];
    const KEYS: &[&str] = &[
        "from_ms",
        "to_ms",
        "limit",
        "pattern",
        "justification",
        "camera",
        "before",
        "q",
        "status",
        "from",
        "to",
        "name",
        "entry",
        "kind",
        "near",
        "radius_m",
    ];
    // Odd, as xorshift needs a non-zero state; distinct for distinct seeds.
    let mut rng = Rng(seed.wrapping_mul(2).wrapping_add(1));
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for step in 0..iters {
        let (mut path, mut method) = rng.pick(&routes).clone();
        if rng.below(12) == 0 {
            path = format!("/api/v1/{}", pct(&rng.text()));
        }
        if rng.below(8) == 0 {
            method = METHODS[rng.below(METHODS.len())];
        }
        while let (Some(a), Some(b)) = (path.find('{'), path.find('}')) {
            let v = if rng.below(3) == 0 {
                rng.text()
            } else {
                rng.number()
            };
            let v: String = v
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            path.replace_range(a..=b, if v.is_empty() { "0" } else { &v });
        }
        let mut query = Vec::new();
        for _ in 0..rng.below(5) {
            let k = *rng.pick(KEYS);
            let v = if rng.below(2) == 0 {
                rng.number()
            } else {
                rng.text()
            };
            query.push(format!("{k}={}", pct(&v)));
        }
        let uri = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{}", query.join("&"))
        };
        let wi = rng.below(whos.len());
        let who = whos[wi].clone();
        let body = match rng.below(4) {
            0 => None,
            1 => Some((0..rng.below(200)).map(|_| rng.next() as u8).collect()),
            _ => Some(rng.object(0).to_string().into_bytes()),
        };
        let mut headers: Vec<(&str, String)> = Vec::new();
        if rng.below(4) == 0 {
            headers.push(("range", format!("bytes={}-{}", rng.number(), rng.number())));
        }
        if rng.below(6) == 0 {
            let v: String = rng
                .text()
                .chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .collect();
            headers.push(("x-forwarded-for", v));
        }
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = call_with(&f.app, method, &uri, &who, body, &h).await;
        *statuses.entry(r.status.as_u16()).or_default() += 1;
        // A logout ended that session: log in again, so the rest of the run
        // is not anonymous.
        if path == "/api/v1/session"
            && method == "DELETE"
            && r.status == StatusCode::NO_CONTENT
            && (1..=USERS.len()).contains(&wi)
        {
            whos[wi] = login(&f.app, USERS[wi - 1]).await;
        }
        assert!(
            !r.status.is_server_error() || r.status == StatusCode::SERVICE_UNAVAILABLE,
            "step {step} (seed {seed}): {method} {uri} as {who:?} answered {}: {}",
            r.status,
            r.message()
        );
    }
    assert!(largest_audit_row(&f).await <= civitas_store::AUDIT_ROW_MAX_BYTES);
    f.store.audit_verify(&f.console.audit_public).await.unwrap();
    eprintln!("api fuzz: {iters} requests from seed {seed}: statuses {statuses:?}");
}

/// `civitas audit witness` against a real server on loopback: it keeps
/// heads as the log grows (each proved to extend the last), and raises the
/// alarm, keeping nothing, when the log is cut back below what it holds or
/// emptied — what an insider with the database alone can do undetected
/// inside it.
#[tokio::test]
async fn a_remote_witness_keeps_heads_and_alarms_on_a_cut_or_emptied_log() {
    use civitas_audit::witness::{Seen, Witness, read_heads};
    let f = fixture(0).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = f.app.clone();
    let server = tokio::spawn(civitas_api::serve(listener, app, async {
        let _ = stopped.await;
    }));
    let token = f
        .store
        .create_token(
            &admin(),
            "aude",
            "witness",
            Some(&[civitas_auth::Permission::ReadAudit]),
            Timestamp(T0),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("heads.jsonl");
    let public = f.console.audit_public;
    let mut w = Witness::open(&out, public).unwrap();
    assert_eq!(
        civitas_api::witness::poll_remote(&base, &token, None, &mut w)
            .await
            .unwrap(),
        Seen::Kept
    );
    assert_eq!(
        civitas_api::witness::poll_remote(&base, &token, None, &mut w)
            .await
            .unwrap(),
        Seen::Unchanged
    );
    for i in 0..5 {
        f.store
            .audit(
                Timestamp(T0 + 10 + i),
                civitas_store::AuditRecord::new("sam", "candidate.view", format!("candidate:{i}")),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        civitas_api::witness::poll_remote(&base, &token, None, &mut w)
            .await
            .unwrap(),
        Seen::Kept
    );
    let held = read_heads(&out, &public).unwrap();
    assert_eq!(held.len(), 2);
    let size = held[1].tree_size as i64;
    // Cut back: the last three entries and their heads deleted.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&f._db.url).await.unwrap();
    for sql in [
        "DELETE FROM audit_log WHERE seq >= $1",
        "DELETE FROM audit_tree_head WHERE tree_size > $1",
    ] {
        sqlx::query(sql)
            .bind(size - 3)
            .execute(&pool)
            .await
            .unwrap();
    }
    let e = civitas_api::witness::poll_remote(&base, &token, None, &mut w)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), civitas_base::ErrorKind::DataLoss, "{e}");
    assert!(e.message().contains("cut back"), "{e}");
    // Emptied.
    for sql in ["DELETE FROM audit_log", "DELETE FROM audit_tree_head"] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let e = civitas_api::witness::poll_remote(&base, &token, None, &mut w)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), civitas_base::ErrorKind::DataLoss, "{e}");
    assert!(e.message().contains("emptied"), "{e}");
    assert_eq!(
        read_heads(&out, &public).unwrap(),
        held,
        "nothing kept after the alarms"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// A consistency proof rehashes every row: a `read_audit` caller asking
/// for one in a loop is paced (429, in words) rather than keeping a core
/// busy, and each proof given is in the audit log.
#[tokio::test]
async fn consistency_proofs_are_audited_and_paced() {
    let f = fixture(1).await;
    let aude = login(&f.app, "aude").await;
    let r = call(
        &f.app,
        "GET",
        "/api/v1/audit/consistency?from=1",
        &aude,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    assert!(r.json()["proof"].is_array());
    let r = call(
        &f.app,
        "GET",
        "/api/v1/audit/consistency?from=2",
        &aude,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.message().contains("one every 5 s"), "{}", r.message());
    let given = f
        .store
        .audit_entries(0, 1000, "audit.consistency")
        .await
        .unwrap();
    assert_eq!(given.len(), 1);
    assert_eq!(
        (given[0].actor.as_str(), given[0].target.as_str()),
        ("aude", "size:1")
    );
    // A full verification rehashes the log too: it shares the pace.
    let verify = "/api/v1/audit/verify";
    let r = call(&f.app, "POST", verify, &aude, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Five seconds on, the next is given.
    f.clock.advance_ms(5_000);
    let proof = "/api/v1/audit/consistency?from=2";
    let r = call(&f.app, "GET", proof, &aude, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    f.clock.advance_ms(5_000);
    let r = call(&f.app, "POST", verify, &aude, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    assert_eq!(r.json()["ok"], true);
}

/// The witness on another machine reaches the centre over HTTPS and
/// checks who it talks to: the operator's CA file lets it keep heads; a
/// certificate it has no reason to trust (a machine in the middle) is
/// refused before any token is sent.
#[tokio::test]
async fn a_remote_witness_over_https_trusts_only_the_operators_certificate() {
    use civitas_audit::witness::{Seen, Witness};
    let f = fixture(0).await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "centre");
    let (other, _) = certificate(dir.path(), "impostor");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", tcp.local_addr().unwrap());
    let tls = civitas_api::tls::server_config(&cert, &key).unwrap();
    let listener = civitas_api::tls::Listener::tls(tcp, tls).unwrap();
    tokio::spawn(civitas_api::serve(
        listener,
        f.app.clone(),
        std::future::pending(),
    ));
    let token = f
        .store
        .create_token(&admin(), "aude", "witness", None, Timestamp(T0))
        .await
        .unwrap();
    let mut w = Witness::open(&dir.path().join("heads.jsonl"), f.console.audit_public).unwrap();
    let poll = civitas_api::witness::poll_remote(&base, &token, Some(&other), &mut w).await;
    let e = poll.unwrap_err();
    assert!(e.message().contains("certificate"), "{e}");
    assert!(w.last().is_none());
    let seen = civitas_api::witness::poll_remote(&base, &token, Some(&cert), &mut w).await;
    assert_eq!(seen.unwrap(), Seen::Kept);
}

/// No bearer token is valid forever: one past its days is refused (401,
/// in words), the refusal is audited, and a token cannot be made for longer
/// than the limit or for no time at all.
#[tokio::test]
async fn an_expired_token_is_refused_and_no_token_is_valid_forever() {
    let f = fixture(1).await;
    let token = f
        .store
        .create_token_for_days(&admin(), "olga", "cad-link", None, 1, Timestamp(T0))
        .await
        .unwrap();
    let who = Who {
        bearer: Some(token),
        ..Default::default()
    };
    let r = call(&f.app, "GET", "/api/v1/candidates", &who, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    // A day later (the fixture's clock starts 1 s after T0).
    f.clock.advance_ms(86_400_000);
    let r = call(&f.app, "GET", "/api/v1/candidates", &who, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.message());
    assert!(r.message().contains("expired"), "{}", r.message());
    let refused = f
        .store
        .audit_entries(0, 1_000_000, "token.refused")
        .await
        .unwrap();
    assert!(
        refused.iter().any(|e| e.details.contains("expired")),
        "the refusal is audited: {refused:?}"
    );
    for days in [0, -1, civitas_store::TOKEN_MAX_DAYS + 1] {
        let e = f
            .store
            .create_token_for_days(&admin(), "olga", "forever", None, days, Timestamp(T0))
            .await
            .unwrap_err();
        assert!(e.message().contains("field `days`"), "{}", e.message());
    }
    // The list says when each token expires.
    let listed = f.store.tokens(&admin()).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|t| t.label == "cad-link" && t.expires_at_ms == T0 + 86_400_000)
    );
}

/// A password known to someone else can be changed by its owner or reset by
/// an administrator, and every session begun before ends with it: a stolen
/// session does not outlive the password. The current password is checked,
/// guesses at it are audited, and a machine's token cannot change it.
#[tokio::test]
async fn a_changed_or_reset_password_ends_the_sessions_begun_before_it() {
    let f = fixture(1).await;
    let mine = login(&f.app, "olga").await;
    let stolen = login(&f.app, "olga").await;
    let change = |current: &str, new: &str| {
        json(serde_json::json!({"current_password": current, "new_password": new}))
    };
    let path = "/api/v1/session/password";
    // A wrong current password changes nothing and is audited.
    let r = call(
        &f.app,
        "POST",
        path,
        &stolen,
        change("guess-guess-1", "mine-now-mine-now"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.message());
    assert!(r.message().contains("current_password"), "{}", r.message());
    let tries = f
        .store
        .audit_entries(0, 1_000_000, "user.password.change")
        .await
        .unwrap();
    assert!(
        tries
            .iter()
            .any(|e| e.actor == "olga" && e.details.contains("bad credentials"))
    );
    // Too short, and the same as before: refused.
    let r = call(&f.app, "POST", path, &mine, change(PW, "short")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.message());
    let r = call(&f.app, "POST", path, &mine, change(PW, PW)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.message());
    // A bearer token cannot change its user's password.
    let token = f
        .store
        .create_token(&admin(), "olga", "cad", None, Timestamp(T0))
        .await
        .unwrap();
    let machine = Who {
        bearer: Some(token),
        ..Default::default()
    };
    let r = call(
        &f.app,
        "POST",
        path,
        &machine,
        change(PW, "a-new-long-password"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.message());
    // The owner changes it: both sessions end, the old password is refused.
    f.clock.advance_ms(1);
    let new = "a-new-long-password";
    let r = call(&f.app, "POST", path, &mine, change(PW, new)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.message());
    for who in [&mine, &stolen] {
        let r = call(&f.app, "GET", "/api/v1/candidates", who, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.message());
    }
    let relogin = |pw: &str| json(serde_json::json!({"username": "olga", "password": pw}));
    let r = call(
        &f.app,
        "POST",
        "/api/v1/session",
        &Who::default(),
        relogin(PW),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.message());
    let r = call(
        &f.app,
        "POST",
        "/api/v1/session",
        &Who::default(),
        relogin(new),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let set = r.headers[axum::http::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    let again = Who {
        cookie: Some(set.split(';').next().unwrap().to_owned()),
        csrf: r.json()["csrf_token"].as_str().map(str::to_owned),
        bearer: None,
    };
    let r = call(&f.app, "GET", "/api/v1/candidates", &again, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    // An administrator resets it (from the command line, another process):
    // the session begun before ends on its next request, in words.
    f.clock.advance_ms(1);
    let hash = civitas_auth::hash_password("reset-by-the-administrator").unwrap();
    f.store
        .reset_password(&admin(), "olga", &hash, civitas_base::Clock::now(&f.clock))
        .await
        .unwrap();
    let r = call(&f.app, "GET", "/api/v1/candidates", &again, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.message());
    assert!(r.message().contains("changed password"), "{}", r.message());
    let resets = f
        .store
        .audit_entries(0, 1_000_000, "user.password.reset")
        .await
        .unwrap();
    assert!(
        resets
            .iter()
            .any(|e| e.actor == "admin" && e.target == "user:olga")
    );
    // Only an administrator resets passwords.
    let olga = civitas_auth::Actor {
        username: "olga".into(),
        role: civitas_auth::Role::Operator,
        scope: vec!["*".into()],
    };
    assert!(
        f.store
            .reset_password(&olga, "sam", &hash, civitas_base::Clock::now(&f.clock))
            .await
            .is_err()
    );
}

/// Camera scope across the whole router, generated from it: for every route
/// with an object id in its path, a supervisor whose cameras exclude the
/// object's gets exactly what an absent id gets (status and words), never
/// a 403 naming the camera; an object on no camera (an incident) answers
/// the same whatever the caller's cameras.
#[tokio::test]
async fn every_route_with_an_id_reads_out_of_scope_objects_as_absent() {
    let f = fixture(1).await;
    add_scoped(&f, "sol", Role::Supervisor, &["elsewhere"]).await;
    let sol = login(&f.app, "sol").await;
    let sam = login(&f.app, "sam").await;
    let (mut hidden, mut checked) = (Vec::new(), 0);
    let mut paths: Vec<_> = f.doc.paths.paths.iter().collect();
    // Reads first: the review below changes candidate 1.
    paths.sort_by_key(|(p, _)| p.ends_with("/review"));
    for (path, item) in paths {
        // A camera's own upload route, and an administrator's sessions and
        // tokens, name no object on a camera.
        let other = ["/snapshot", "/sessions/", "/tokens/"];
        if !path.contains("{id}") || other.iter().any(|o| path.contains(o)) {
            continue;
        }
        let ops = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("DELETE", &item.delete),
        ];
        for (method, _) in ops.into_iter().filter(|(_, op)| op.is_some()) {
            let at = |id: &str| {
                let p = path.replace("{id}", id).replace("{unit}", "P-1");
                p.replace("{step}", "1").replace("{camera}", "gate")
            };
            let body = match method {
                "GET" => None,
                _ if path.ends_with("/review") => {
                    json(serde_json::json!({"decision": "reject", "reason": "probe"}))
                }
                _ => json(serde_json::json!({})),
            };
            let out = call(&f.app, method, &at("1"), &sol, body.clone()).await;
            let absent = call(&f.app, method, &at("999999"), &sol, body.clone()).await;
            let named = format!("{method} {path}");
            assert_ne!(
                out.status,
                StatusCode::FORBIDDEN,
                "{named}: {}",
                out.message()
            );
            let same = out.status == absent.status
                && out.message() == absent.message().replace("999999", "1");
            checked += 1;
            if same {
                // Was it there for a supervisor of every camera?
                if method == "GET"
                    && call(&f.app, method, &at("1"), &sam, None).await.status == StatusCode::OK
                {
                    hidden.push(named);
                }
                continue;
            }
            let full = call(&f.app, method, &at("1"), &sam, body).await;
            assert_eq!(
                (out.status, method),
                (full.status, "GET"),
                "{named}: out of scope answered {} ({}), an absent id {} ({})",
                out.status,
                out.message(),
                absent.status,
                absent.message()
            );
        }
    }
    for route in [
        "GET /api/v1/candidates/{id}",
        "GET /api/v1/candidates/{id}/crop",
        "GET /api/v1/candidates/{id}/entry-photo",
    ] {
        assert!(
            hidden.iter().any(|h| h == route),
            "{route} not hidden: {hidden:?}"
        );
    }
    assert!(checked >= 15, "only {checked} routes checked");
}
